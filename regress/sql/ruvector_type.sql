-- ruvector: text I/O, type modifier, operators and functions (pgvector's `vector` semantics).

-- text input: whitespace, signs, exponents, hex and special spellings accepted by strtof
SELECT '[1,2,3]'::ruvector;
SELECT ' [ 1 , 2 ,	3 ] '::ruvector;
SELECT '[-1,+2.5,.5,1e3,-1.5E-3,0x10]'::ruvector;
SELECT '[1.23456789,0.1,100000,1000000,0.0001,0.00001]'::ruvector;
SELECT '[1.5e38,-1.5e38,1e-45,-0]'::ruvector;
SELECT '[1e-46]'::ruvector;

-- malformed literals (pgvector's errors, type named ruvector)
SELECT '1,2,3'::ruvector;
SELECT '[1,2,3'::ruvector;
SELECT '[1,2,3]]'::ruvector;
SELECT '[1,2,3] x'::ruvector;
SELECT '[1,,3]'::ruvector;
SELECT '[1,2,]'::ruvector;
SELECT '[hello,1]'::ruvector;
SELECT '[1 2]'::ruvector;
SELECT ''::ruvector;
SELECT '['::ruvector;
SELECT '[]'::ruvector;
SELECT '[NaN]'::ruvector;
SELECT '[Infinity]'::ruvector;
SELECT '[-inf]'::ruvector;
SELECT '[4e38]'::ruvector;
SELECT '[-4e38,1]'::ruvector;

-- dimensions
SELECT vector_dims(array_fill(1, ARRAY[16000])::real[]::ruvector);
SELECT array_fill(1, ARRAY[16001])::real[]::ruvector;
SELECT '[1,2,3]'::ruvector(3);
SELECT '[1,2,3]'::ruvector(2);
SELECT '[1,2]'::ruvector(0);
SELECT '[1,2]'::ruvector(16001);
SELECT '[1,2]'::ruvector(2, 3);
SELECT '[1,2]'::ruvector('a');
CREATE TABLE rv_typmod (v ruvector(3));
INSERT INTO rv_typmod VALUES ('[1,2,3]');
INSERT INTO rv_typmod VALUES ('[1,2]');
SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = 'rv_typmod'::regclass AND attname = 'v';
DROP TABLE rv_typmod;

-- distance operators and functions (float8 results)
SELECT '[1,2,3]'::ruvector <-> '[3,2,1]';
SELECT '[0,0]'::ruvector <-> '[3,4]';
SELECT l2_distance('[0,0]'::ruvector, '[3,4]');
SELECT '[1,2,3]'::ruvector <#> '[3,2,1]';
SELECT inner_product('[1,2,3]'::ruvector, '[3,2,1]');
SELECT '[1,2]'::ruvector <=> '[2,4]';
SELECT '[1,2]'::ruvector <=> '[-1,-2]';
SELECT '[1,0]'::ruvector <=> '[0,2]';
SELECT '[1,1]'::ruvector <=> '[0,0]';
SELECT '[0,0]'::ruvector <=> '[0,0]';
SELECT cosine_distance('[3e38]'::ruvector, '[3e38]');
SELECT '[1,2,3]'::ruvector <+> '[3,2,1]';
SELECT l1_distance('[0,0]'::ruvector, '[3,-4]');
SELECT '[1,2]'::ruvector <-> '[3]';
SELECT '[1,2]'::ruvector <#> '[3]';
SELECT '[1,2]'::ruvector <=> '[3]';
SELECT '[1,2]'::ruvector <+> '[3]';
SELECT ruvector_l2_distance('[0,0]', '[3,4]');
SELECT ruvector_ip_distance('[1,2,3]', '[4,5,6]');
SELECT ruvector_cosine_distance('[1,0]', '[0,1]');
SELECT ruvector_l1_distance('[1,2]', '[4,6]');
SELECT ruvector_l2_squared_distance('[0,0]', '[3,4]');
SELECT ruvector_negative_inner_product('[1,2]', '[3,4]');

-- dims and norms
SELECT vector_dims('[1,2,3]'::ruvector), ruvector_dims('[1,2,3]'::ruvector);
SELECT vector_norm('[3,4]'::ruvector), ruvector_norm('[3,4]'::ruvector);
SELECT vector_norm('[0,1]'::ruvector);
SELECT vector_norm('[3e37,4e37]'::ruvector)::real;

-- l2_normalize, binary_quantize, subvector
SELECT l2_normalize('[3,4]'::ruvector);
SELECT l2_normalize('[3,0]'::ruvector);
SELECT l2_normalize('[0,0.1]'::ruvector);
SELECT l2_normalize('[0,0]'::ruvector);
SELECT l2_normalize('[3e38]'::ruvector);
SELECT binary_quantize('[1,0,-1,0.5,2,-2,3,4,-5]'::ruvector);
SELECT binary_quantize('[0,0,0]'::ruvector);
SELECT subvector('[1,2,3,4,5]'::ruvector, 1, 3);
SELECT subvector('[1,2,3,4,5]'::ruvector, 3, 2);
SELECT subvector('[1,2,3,4,5]'::ruvector, -1, 3);
SELECT subvector('[1,2,3,4,5]'::ruvector, 3, 9);
SELECT subvector('[1,2,3,4,5]'::ruvector, 1, 0);
SELECT subvector('[1,2,3,4,5]'::ruvector, 3, -1);
SELECT subvector('[1,2,3,4,5]'::ruvector, -1, 2);
SELECT subvector('[1,2,3,4,5]'::ruvector, 2147483647, 10);
SELECT subvector('[1,2,3,4,5]'::ruvector, 3, 2147483647);
SELECT subvector('[1,2,3,4,5]'::ruvector, -2147483644, 2147483647);

-- arithmetic
SELECT '[1,2,3]'::ruvector + '[4,5,6]';
SELECT '[3e38]'::ruvector + '[3e38]';
SELECT '[1,2]'::ruvector + '[3]';
SELECT '[1,2,3]'::ruvector - '[4,5,6]';
SELECT '[-3e38]'::ruvector - '[3e38]';
SELECT '[1,2,3]'::ruvector * '[4,5,6]';
SELECT '[1e37]'::ruvector * '[1e37]';
SELECT '[1e-37]'::ruvector * '[1e-37]';
SELECT '[0]'::ruvector * '[1e-37]';
SELECT '[1,2,3]'::ruvector || '[4,5]';
SELECT array_fill(0, ARRAY[16000])::ruvector || '[1]';

-- comparison (element by element, then length)
SELECT '[1,2,3]'::ruvector < '[1,2,4]', '[1,2,3]'::ruvector < '[1,2,3]', '[1,2]'::ruvector < '[1,2,3]';
SELECT '[1,2,3]'::ruvector <= '[1,2,3]', '[2]'::ruvector <= '[1,9]';
SELECT '[1,2,3]'::ruvector = '[1,2,3]', '[1,2,3]'::ruvector = '[1,2]', '[-0]'::ruvector = '[0]';
SELECT '[1,2,3]'::ruvector <> '[1,2,3]', '[1,2,3]'::ruvector <> '[3,2,1]';
SELECT '[1,2,4]'::ruvector >= '[1,2,3]', '[1,2,3]'::ruvector > '[1,2]';
SELECT ruvector_cmp('[1,2,3]', '[1,2,3]'), ruvector_cmp('[1,2,3]', '[0,9,9]'), ruvector_cmp('[1]', '[1,0]');

-- nearest neighbours by sequential scan
CREATE TABLE rv_items (id int, embedding ruvector(3));
INSERT INTO rv_items VALUES (1, '[1,1,1]'), (2, '[2,2,2]'), (3, '[1,1,2]'), (4, NULL), (5, '[0,0,0]');
SELECT id, embedding <-> '[1,1,1]' AS d FROM rv_items ORDER BY embedding <-> '[1,1,1]', id;
SELECT id FROM rv_items ORDER BY embedding <#> '[1,1,1]', id;
SELECT id FROM rv_items ORDER BY embedding <=> '[1,1,1]', id;
SELECT id FROM rv_items ORDER BY embedding <+> '[1,1,1]', id LIMIT 3;
SELECT id FROM rv_items WHERE embedding <-> '[1,1,1]' < 1.5 ORDER BY id;
SELECT id FROM rv_items ORDER BY embedding, id;
DROP TABLE rv_items;
