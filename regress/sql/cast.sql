-- Casts: arrays, text, between the three vector types, and their contexts.

SELECT ARRAY[1,2,3]::ruvector, ARRAY[1.5,2,3]::real[]::ruvector, ARRAY[1,2.5]::float8[]::ruvector, ARRAY[1.5,2]::numeric[]::ruvector;
SELECT '{1,2,3}'::int[]::ruvector(3);
SELECT '{1,2,3}'::int[]::ruvector(2);
SELECT '{{1,2},{3,4}}'::real[]::ruvector;
SELECT '{1,NULL,3}'::real[]::ruvector;
SELECT '{}'::real[]::ruvector;
SELECT '{NaN}'::real[]::ruvector;
SELECT '{Infinity}'::real[]::ruvector;
SELECT '{1e39}'::float8[]::ruvector;
SELECT '{1e39}'::numeric[]::ruvector;
SELECT '{2147483647}'::int[]::ruvector;
SELECT '[1,2,3]'::ruvector::real[];
SELECT '[1,2.5]'::halfvec::real[];

SELECT ARRAY[1,2,3]::halfvec, ARRAY[1.5,2]::numeric[]::halfvec;
SELECT '{65520}'::real[]::halfvec;
SELECT '{1,NULL}'::int[]::halfvec;
SELECT ARRAY[0,1,0,2.5]::sparsevec, ARRAY[0,0]::real[]::sparsevec, '{1,0,3}'::numeric[]::sparsevec(3);
SELECT '{1,0,3}'::int[]::sparsevec(2);
SELECT '{{1}}'::int[]::sparsevec;

-- text
SELECT '[1,2]'::text::ruvector, '[1,2]'::text::halfvec, '{1:2}/3'::text::sparsevec;
SELECT '[1,2]'::ruvector::text, '{1:2}/3'::sparsevec::varchar;

-- between types
SELECT '[1,2,3]'::ruvector::halfvec, '[1.1,2.2]'::ruvector::halfvec;
SELECT '[1e6]'::ruvector::halfvec;
SELECT '[1,2,3]'::halfvec::ruvector, '[0.1]'::halfvec::ruvector;
SELECT '[0,1.5,0,-2]'::ruvector::sparsevec, '[0,1.5]'::halfvec::sparsevec;
SELECT '{2:1.5,4:-2}/4'::sparsevec::ruvector, '{2:1.5}/3'::sparsevec::halfvec;
SELECT '{1:1}/16001'::sparsevec::ruvector;
SELECT '{1:1e6}/2'::sparsevec::halfvec;
SELECT '[1,2,3]'::ruvector::halfvec(2);
SELECT '{1:1}/3'::sparsevec::ruvector(3);

-- cast contexts follow pgvector: implicit ruvector -> halfvec/sparsevec/real[],
-- assignment for the rest
SELECT castsource::regtype, casttarget::regtype, castcontext
FROM pg_cast
WHERE castsource IN ('ruvector'::regtype, 'halfvec'::regtype, 'sparsevec'::regtype)
   OR casttarget IN ('ruvector'::regtype, 'halfvec'::regtype, 'sparsevec'::regtype)
ORDER BY 1::text, 2::text;
CREATE TABLE cast_t (v ruvector(3), h halfvec(3), s sparsevec(3));
INSERT INTO cast_t VALUES (ARRAY[1,2,3], ARRAY[1,2,3], ARRAY[1,0,3]);
INSERT INTO cast_t (h, s) SELECT v, v FROM cast_t;
INSERT INTO cast_t (v) SELECT h FROM cast_t WHERE h IS NOT NULL LIMIT 1;
SELECT * FROM cast_t;
SELECT '[1,2,3]'::halfvec <-> '[1,2,4]'::ruvector;
DROP TABLE cast_t;
