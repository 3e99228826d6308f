-- ruivfflat key columns: WHERE clauses on columns after the vector are checked while the
-- lists are read.
SET client_min_messages = warning;
CREATE TABLE kv (
    id int PRIMARY KEY,
    v ruvector(3),
    tenant int8,
    cat int2,
    n int4,
    label text,
    code varchar(8),
    u uuid
);
INSERT INTO kv
SELECT i,
       ARRAY[sin(i), cos(i * 1.3), sin(i * 0.7)]::ruvector(3),
       CASE WHEN i % 50 = 0 THEN NULL ELSE i % 7 END,
       (i % 5)::int2,
       i,
       CASE WHEN i % 40 = 0 THEN NULL ELSE 'l' || (i % 3) END,
       'c' || (i % 4),
       md5((i % 6)::text)::uuid
FROM generate_series(1, 3000) i;

-- the DDL: key columns after the vector, default operator classes per type
CREATE INDEX kv_idx ON kv USING ruivfflat (v ruvector_l2_ops, tenant, cat, n, label, code, u)
    WITH (lists = 8);
SELECT opcname, opcintype::regtype FROM pg_index i, unnest(i.indclass) c, pg_opclass o
WHERE i.indexrelid = 'kv_idx'::regclass AND o.oid = c ORDER BY opcname;
SELECT pg_get_indexdef('kv_idx'::regclass);

-- what cannot be a ruivfflat index
CREATE INDEX ON kv USING ruivfflat (tenant, v ruvector_l2_ops);
CREATE INDEX ON kv USING ruivfflat (v ruvector_l2_ops, v ruvector_cosine_ops);
CREATE INDEX ON kv USING ruivfflat (v ruvector_l2_ops, (n::float8));
CREATE INDEX ON kv USING ruivfflat (v ruvector_l2_ops) INCLUDE (n);

-- plans: which clauses are index conditions
SET enable_seqscan = off;
EXPLAIN (COSTS OFF) SELECT id FROM kv WHERE tenant = 3 AND cat >= 2 ORDER BY v <-> '[1,0,0]' LIMIT 5;
EXPLAIN (COSTS OFF) SELECT id FROM kv WHERE label = 'l1' AND u = md5('2')::uuid ORDER BY v <-> '[1,0,0]' LIMIT 5;
-- IN lists are index conditions from PostgreSQL 17 on (a filter after the index on 15 and 16)
EXPLAIN (COSTS OFF) SELECT id FROM kv WHERE tenant IN (1, 4) ORDER BY v <-> '[1,0,0]' LIMIT 5;
-- a predicate the index cannot evaluate stays a filter on the heap row
EXPLAIN (COSTS OFF) SELECT id FROM kv WHERE tenant IS NULL ORDER BY v <-> '[1,0,0]' LIMIT 5;
-- Without ORDER BY the index costs infinite; PostgreSQL 18 still takes it when every other plan
-- is disabled, and it then returns every row that passes, unordered.
EXPLAIN (COSTS OFF) SELECT id FROM kv WHERE tenant = 3;
SELECT count(*), sum(id) FROM kv WHERE tenant = 3;
RESET enable_seqscan;
SELECT count(*), sum(id) FROM kv WHERE tenant = 3;

-- Every supported operator and type: with every list probed, the index's answer equals the
-- exact answer (a sequential scan with the same WHERE clause).
SET ruvector.probes = 8;
CREATE FUNCTION knn(q text, use_index bool) RETURNS int[] LANGUAGE plpgsql AS $$
DECLARE r int[];
BEGIN
    PERFORM set_config('enable_seqscan', (NOT use_index)::text, true);
    PERFORM set_config('enable_indexscan', use_index::text, true);
    PERFORM set_config('enable_bitmapscan', 'off', true);
    EXECUTE 'SELECT array_agg(id) FROM (' || q || ') s' INTO r;
    RETURN r;
END $$;
CREATE FUNCTION uses_index(q text) RETURNS bool LANGUAGE plpgsql AS $$
DECLARE line text; found bool := false;
BEGIN
    PERFORM set_config('enable_seqscan', 'off', true);
    PERFORM set_config('enable_indexscan', 'on', true);
    FOR line IN EXECUTE 'EXPLAIN (COSTS OFF) ' || q LOOP
        found := found OR line LIKE '%Index Scan using kv_idx%';
    END LOOP;
    RETURN found;
END $$;
CREATE TABLE cases (w text);
INSERT INTO cases VALUES
    ('tenant = 3'), ('tenant = 3::int2'), ('cat = 4::int8'),
    ('tenant < 2'), ('tenant >= 5'), ('cat < 4'),
    ('n BETWEEN 1000 AND 1100'), ('n > 2990'),
    ('tenant IN (1, 4)'), ('cat = ANY(ARRAY[0, 3]::int2[])'),
    ('tenant = 3 AND cat = 2'), ('tenant = 3 AND cat IN (1, 2) AND n > 1500'),
    ('label = ''l1'''), ('label IN (''l0'', ''l2'')'), ('code = ''c3'''),
    ('u = md5(''4'')::uuid'), ('label = ''l2'' AND u = md5(''2'')::uuid'),
    ('tenant = 3 AND tenant = 4'), ('tenant = NULL::int8'), ('label = ''none''');
CREATE FUNCTION check_all() RETURNS TABLE (w text, rows int, index_used bool, same bool)
LANGUAGE sql AS $$
    SELECT c.w, coalesce(array_length(knn(q, false), 1), 0), uses_index(q),
           knn(q, true) IS NOT DISTINCT FROM knn(q, false)
    FROM cases c,
         LATERAL (SELECT 'SELECT id FROM kv WHERE ' || c.w ||
                         ' ORDER BY v <-> ''[0.3,-0.5,0.8]'' LIMIT 40' AS q) x
$$;
SELECT * FROM check_all();

-- NULL keys are never returned for a condition on that key
SELECT count(*) FROM (SELECT id FROM kv WHERE tenant >= 0 ORDER BY v <-> '[0,0,0]' LIMIT 3000) s;
SELECT count(*) FROM kv WHERE tenant >= 0;

-- After inserts, updates of key columns only (a new index entry each), deletes and VACUUM
INSERT INTO kv SELECT i, ARRAY[cos(i), sin(i * 1.1), cos(i * 0.3)]::ruvector(3), i % 9,
    (i % 5)::int2, i, 'l' || (i % 4), 'c' || (i % 4), md5((i % 6)::text)::uuid
FROM generate_series(3001, 3600) i;
UPDATE kv SET tenant = 100 + tenant WHERE id % 10 = 1;
UPDATE kv SET label = 'moved' WHERE id % 17 = 0;
DELETE FROM kv WHERE id % 3 = 0;
VACUUM kv;
INSERT INTO cases VALUES ('tenant >= 100'), ('label = ''moved'''), ('tenant = 8');
SELECT * FROM check_all();

-- With one list probed, a filter the probed list cannot fill: an iterative scan reads more
-- lists until the LIMIT is filled.
RESET ruvector.probes;
SET enable_seqscan = off;
SET ruvector.ivfflat_iterative_scan = relaxed_order;
SELECT count(*) FROM (SELECT id FROM kv WHERE tenant = 5 ORDER BY v <-> '[0.1,0.2,0.3]' LIMIT 200) s;
RESET ruvector.ivfflat_iterative_scan;
RESET enable_seqscan;

-- a quantized index with key columns
CREATE INDEX kv_sq8 ON kv USING ruivfflat (v ruvector_l2_ops, tenant)
    WITH (lists = 8, quantization = 'sq8');
DROP INDEX kv_idx;
SET ruvector.probes = 8;
SET ruvector.rerank = 1000;
SELECT knn('SELECT id FROM kv WHERE tenant = 2 ORDER BY v <-> ''[0.5,0.5,0.5]'' LIMIT 20', true)
    = knn('SELECT id FROM kv WHERE tenant = 2 ORDER BY v <-> ''[0.5,0.5,0.5]'' LIMIT 20', false)
    AS sq8_same;
SELECT s -> 'format_version' AS version, s -> 'key_columns' AS keys, s -> 'key_bytes' AS key_bytes
FROM ruvector_index_stats('kv_sq8') s;
DROP TABLE kv, cases;
DROP FUNCTION knn, uses_index, check_all;
