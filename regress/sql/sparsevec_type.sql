-- sparsevec: '{index:value,...}/dimensions', 1-based in text, sorted, zeros dropped.

SELECT '{1:1.5,3:2}/5'::sparsevec;
SELECT ' { 3 : 2 , 1 : 1.5 } / 5 '::sparsevec;
SELECT '{1:0,2:1,3:0}/3'::sparsevec;
SELECT '{}/10'::sparsevec;
SELECT '{2147483647:1}/2147483647'::sparsevec;
SELECT '{1:1}/1000000000'::sparsevec;
SELECT '{1:1}/1000000001'::sparsevec;
SELECT '{}/0'::sparsevec;
SELECT '{}/-1'::sparsevec;
SELECT '{0:1}/3'::sparsevec;
SELECT '{4:1}/3'::sparsevec;
SELECT '{-2147483649:1}/3'::sparsevec;
SELECT '{2:1,2:2}/3'::sparsevec;
SELECT '{1:NaN}/3'::sparsevec;
SELECT '{1:inf}/3'::sparsevec;
SELECT '{1:4e38}/3'::sparsevec;
SELECT '{1:1e-46}/3'::sparsevec;
SELECT '[1:1]/3'::sparsevec;
SELECT '{1:1}'::sparsevec;
SELECT '{1:1}/'::sparsevec;
SELECT '{1:1}/3 4'::sparsevec;
SELECT '{1:1,}/3'::sparsevec;
SELECT '{1}/3'::sparsevec;
SELECT '{a:1}/3'::sparsevec;
SELECT '{1:a}/3'::sparsevec;
SELECT '{1:1}/a'::sparsevec;
SELECT '{1:1}/3'::sparsevec(3);
SELECT '{1:1}/3'::sparsevec(2);
SELECT '{}/3'::sparsevec(1000000001);

SELECT '{1:1,2:2,3:3}/3'::sparsevec <-> '{1:3,2:2,3:1}/3';
SELECT l2_distance('{}/2'::sparsevec, '{1:3,2:4}/2');
SELECT '{1:1,3:3}/4'::sparsevec <-> '{2:2,4:4}/4';
SELECT '{1:1,2:2,3:3}/3'::sparsevec <#> '{1:3,2:2,3:1}/3';
SELECT inner_product('{1:1,3:3}/4'::sparsevec, '{2:2,4:4}/4');
SELECT '{1:1,2:2}/2'::sparsevec <=> '{1:2,2:4}/2';
SELECT '{1:1}/2'::sparsevec <=> '{2:1}/2';
SELECT '{}/2'::sparsevec <=> '{1:1}/2';
SELECT '{1:1,2:2,3:3}/3'::sparsevec <+> '{1:3,2:2,3:1}/3';
SELECT '{1:1,3:-3}/4'::sparsevec <+> '{2:2,4:4}/4';
SELECT '{1:1}/2'::sparsevec <-> '{1:1}/3';
SELECT sparsevec_l2_squared_distance('{1:3}/2', '{2:4}/2');
SELECT sparsevec_negative_inner_product('{1:3,2:1}/2', '{1:2}/2');

SELECT l2_norm('{1:3,2:4}/2'::sparsevec), ruvector_norm('{1:3,2:4}/2'::sparsevec);
SELECT l2_norm('{}/2'::sparsevec), ruvector_dims('{}/7'::sparsevec);
SELECT l2_normalize('{1:3,2:4}/2'::sparsevec);
SELECT l2_normalize('{}/2'::sparsevec);
SELECT l2_normalize('{1:3e38,2:1e-37}/2'::sparsevec);

SELECT '{1:1}/2'::sparsevec < '{1:2}/2', '{1:1}/2'::sparsevec < '{2:1}/2', '{}/2'::sparsevec < '{1:-1}/2';
SELECT '{1:1}/2'::sparsevec = '{1:1}/2', '{1:1}/2'::sparsevec = '{1:1}/3', '{1:1}/2'::sparsevec <> '{}/2';
SELECT '{1:1}/3'::sparsevec > '{1:1}/2', '{2:1}/3'::sparsevec >= '{1:1}/3', '{1:1}/3'::sparsevec <= '{1:1}/3';
SELECT sparsevec_cmp('{1:1}/3', '{1:1,2:1}/3'), sparsevec_cmp('{1:1,2:-1}/3', '{1:1}/3'), sparsevec_cmp('{}/3', '{}/3');
