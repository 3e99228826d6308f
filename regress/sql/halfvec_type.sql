-- halfvec: IEEE half-precision elements, f32 arithmetic (pgvector's `halfvec`).

SELECT '[1,2,3]'::halfvec;
SELECT ' [ -1.5 , 0.1 , 65504 ] '::halfvec;
SELECT '[1e-8,6e-8,-0]'::halfvec;
SELECT '[0.333333333]'::halfvec;
SELECT '[65520]'::halfvec;
SELECT '[-1e5]'::halfvec;
SELECT '[4e38]'::halfvec;
SELECT '[NaN]'::halfvec;
SELECT '[inf]'::halfvec;
SELECT '1,2'::halfvec;
SELECT '[1,2'::halfvec;
SELECT '[1,2]x'::halfvec;
SELECT '[]'::halfvec;
SELECT '[1,2,3]'::halfvec(2);
SELECT '[1,2]'::halfvec(0);
SELECT '[1,2]'::halfvec(16001);
SELECT vector_dims(array_fill(1, ARRAY[16000])::halfvec);
SELECT array_fill(1, ARRAY[16001])::halfvec;

SELECT '[1,2,3]'::halfvec <-> '[3,2,1]';
SELECT l2_distance('[0,0]'::halfvec, '[3,4]');
SELECT '[1,2,3]'::halfvec <#> '[3,2,1]';
SELECT inner_product('[1,2,3]'::halfvec, '[3,2,1]');
SELECT '[1,2]'::halfvec <=> '[2,4]';
SELECT '[1,2]'::halfvec <=> '[-1,-2]';
SELECT '[0,0]'::halfvec <=> '[1,1]';
SELECT '[1,2,3]'::halfvec <+> '[3,2,1]';
SELECT '[1,2]'::halfvec <-> '[3]';
SELECT halfvec_l2_squared_distance('[0,0]', '[3,4]');
SELECT halfvec_negative_inner_product('[1,2]', '[3,4]');

SELECT vector_dims('[1,2,3]'::halfvec), ruvector_dims('[1,2,3]'::halfvec);
SELECT l2_norm('[3,4]'::halfvec), ruvector_norm('[3,4]'::halfvec);
SELECT l2_normalize('[3,4]'::halfvec);
SELECT l2_normalize('[0,0]'::halfvec);
SELECT binary_quantize('[1,0,-1,0.5,2,-2,3,4,-5]'::halfvec);
SELECT subvector('[1,2,3,4,5]'::halfvec, 2, 3);
SELECT subvector('[1,2,3,4,5]'::halfvec, 6, 1);

SELECT '[1,2,3]'::halfvec + '[4,5,6]';
SELECT '[65504]'::halfvec + '[65504]';
SELECT '[1,2,3]'::halfvec - '[4,5,6]';
SELECT '[1,2,3]'::halfvec * '[4,5,6]';
SELECT '[1e-4]'::halfvec * '[1e-4]';
SELECT '[1,2]'::halfvec || '[3]';

SELECT '[1,2,3]'::halfvec < '[1,2,4]', '[1,2]'::halfvec < '[1,2,3]', '[1,2,3]'::halfvec = '[1,2,3]';
SELECT '[1,2,3]'::halfvec >= '[1,2,3]', '[2]'::halfvec > '[1,9]', '[1]'::halfvec <> '[1]';
SELECT halfvec_cmp('[1,2]', '[1,3]'), halfvec_cmp('[1,2]', '[1,2]'), halfvec_cmp('[2]', '[1,2]');
