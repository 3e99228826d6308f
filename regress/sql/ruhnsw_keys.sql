-- ruhnsw key columns: WHERE clauses on columns after the vector are checked inside the index.
SET client_min_messages = warning;
CREATE TABLE kt (
    id int PRIMARY KEY,
    v ruvector(3),
    tenant int8,
    cat int2,
    n int4,
    label text,
    code varchar(8),
    u uuid
);
INSERT INTO kt
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
CREATE INDEX kt_idx ON kt USING ruhnsw (v ruvector_l2_ops, tenant, cat, n, label, code, u);
SELECT opcname, opcintype::regtype FROM pg_index i, unnest(i.indclass) c, pg_opclass o
WHERE i.indexrelid = 'kt_idx'::regclass AND o.oid = c ORDER BY opcname;
SELECT pg_get_indexdef('kt_idx'::regclass);

-- what cannot be a ruhnsw index
CREATE INDEX ON kt USING ruhnsw (tenant, v ruvector_l2_ops);
CREATE INDEX ON kt USING ruhnsw (v ruvector_l2_ops, v ruvector_cosine_ops);
CREATE INDEX ON kt USING ruhnsw (v ruvector_l2_ops, (n::float8));
CREATE INDEX ON kt USING ruhnsw (v ruvector_l2_ops) INCLUDE (n);

-- Key links: the key columns whose values each hold a middling share of the rows (more than
-- a scan visits directly from the key directory, 438 of these 3,000, at most a third) get a
-- graph per value: cat (5 values), label (3), code (4) and u (6), not tenant (7 values, 420
-- rows each) nor n (unique).
SELECT s -> 'key_link_columns' AS key_link_columns, (s ->> 'avg_key_links')::float8 > 10 AS linked
FROM ruvector_index_stats('kt_idx') s;

-- plans: which clauses are index conditions
SET enable_seqscan = off;
EXPLAIN (COSTS OFF) SELECT id FROM kt WHERE tenant = 3 AND cat >= 2 ORDER BY v <-> '[1,0,0]' LIMIT 5;
EXPLAIN (COSTS OFF) SELECT id FROM kt WHERE n BETWEEN 100 AND 200 ORDER BY v <-> '[1,0,0]' LIMIT 5;
EXPLAIN (COSTS OFF) SELECT id FROM kt WHERE label = 'l1' AND u = md5('2')::uuid ORDER BY v <-> '[1,0,0]' LIMIT 5;
EXPLAIN (COSTS OFF) SELECT id FROM kt WHERE code = 'c1' ORDER BY v <-> '[1,0,0]' LIMIT 5;
-- IN lists / = ANY on key columns are index conditions from PostgreSQL 17 on; 15 and 16 plan
-- them as a filter after the index (their planner keeps index order only without them).
EXPLAIN (COSTS OFF) SELECT id FROM kt WHERE tenant IN (1, 4) ORDER BY v <-> '[1,0,0]' LIMIT 5;
-- a predicate the index cannot evaluate stays a filter on the heap row
EXPLAIN (COSTS OFF) SELECT id FROM kt WHERE tenant IS NULL ORDER BY v <-> '[1,0,0]' LIMIT 5;
EXPLAIN (COSTS OFF) SELECT id FROM kt WHERE label LIKE 'l%' ORDER BY v <-> '[1,0,0]' LIMIT 5;
-- Without ORDER BY the index costs infinite; PostgreSQL 18 still takes it when every other plan
-- is disabled, and it then returns every row that passes, unordered.
EXPLAIN (COSTS OFF) SELECT id FROM kt WHERE tenant = 3;
SELECT count(*), sum(id) FROM kt WHERE tenant = 3;
RESET enable_seqscan;
SELECT count(*), sum(id) FROM kt WHERE tenant = 3;

-- Every supported operator and type: the index's answer equals the exact answer (a
-- sequential scan with the same WHERE clause) at full ef_search. Filters that pass few rows
-- are answered from the key directory, those that pass most (tenant >= 0, cat < 4) by the
-- filtered graph walk.
SET ruvector.ef_search = 1000;
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
        found := found OR line LIKE '%Index Scan using kt_idx%';
    END LOOP;
    RETURN found;
END $$;
CREATE TABLE cases (w text);
INSERT INTO cases VALUES
    ('tenant = 3'), ('tenant = 3::int2'), ('tenant = 3::int4'), ('cat = 4::int8'),
    ('tenant < 2'), ('tenant <= 2'), ('tenant > 5'), ('tenant >= 5'),
    ('tenant >= 0'), ('cat < 4'),
    ('n BETWEEN 1000 AND 1100'), ('n > 2990'), ('n < 12'), ('n >= 2995 AND n <= 3000'),
    ('tenant IN (1, 4)'), ('cat = ANY(ARRAY[0, 3]::int2[])'),
    ('tenant = 3 AND cat = 2'), ('tenant = 3 AND cat IN (1, 2) AND n > 1500'),
    ('label = ''l1'''), ('label IN (''l0'', ''l2'')'), ('code = ''c3'''),
    ('code IN (''c0'', ''c2'')'), ('u = md5(''4'')::uuid'),
    ('u IN (md5(''1'')::uuid, md5(''5'')::uuid)'), ('label = ''l2'' AND u = md5(''2'')::uuid'),
    ('tenant = 3 AND tenant = 4'), ('tenant = NULL::int8'), ('tenant IN (NULL, 2)'),
    ('label = ''none''');
CREATE FUNCTION check_all() RETURNS TABLE (w text, rows int, index_used bool, same bool)
LANGUAGE sql AS $$
    SELECT c.w, coalesce(array_length(knn(q, false), 1), 0), uses_index(q),
           knn(q, true) IS NOT DISTINCT FROM knn(q, false)
    FROM cases c,
         LATERAL (SELECT 'SELECT id FROM kt WHERE ' || c.w ||
                         ' ORDER BY v <-> ''[0.3,-0.5,0.8]'' LIMIT 40' AS q) x
$$;
SELECT * FROM check_all();

-- Clauses the index cannot evaluate are checked on the heap row, after the index: with an
-- iterative scan the rows are those of the exact answer.
SET ruvector.hnsw_iterative_scan = relaxed_order;
SELECT w, coalesce(array_length(knn(q, false), 1), 0) AS rows,
       (SELECT array_agg(x ORDER BY x) FROM unnest(knn(q, true)) x)
       = (SELECT array_agg(x ORDER BY x) FROM unnest(knn(q, false)) x) AS same_rows
FROM (VALUES ('tenant IS NULL'), ('label LIKE ''%1'''), ('tenant + 0 = 3'),
             ('n IN (5, 50, 500, 2999)')) c(w),
     LATERAL (SELECT 'SELECT id FROM kt WHERE ' || w ||
                     ' ORDER BY v <-> ''[0.3,-0.5,0.8]'' LIMIT 40' AS q) x;
RESET ruvector.hnsw_iterative_scan;

-- NULL keys are never returned for a condition on that key
SELECT count(*) FROM (SELECT id FROM kt WHERE tenant >= 0 ORDER BY v <-> '[0,0,0]' LIMIT 3000) s;
SELECT count(*) FROM kt WHERE tenant >= 0;

-- After inserts, updates of key columns only (a new index entry each), deletes and VACUUM
INSERT INTO kt SELECT i, ARRAY[cos(i), sin(i * 1.1), cos(i * 0.3)]::ruvector(3), i % 9,
    (i % 5)::int2, i, 'l' || (i % 4), 'c' || (i % 4), md5((i % 6)::text)::uuid
FROM generate_series(3001, 3600) i;
UPDATE kt SET tenant = 100 + tenant WHERE id % 10 = 1;
UPDATE kt SET label = 'moved' WHERE id % 17 = 0;
DELETE FROM kt WHERE id % 3 = 0;
VACUUM kt;
INSERT INTO cases VALUES ('tenant >= 100'), ('label = ''moved'''), ('tenant = 8');
SELECT * FROM check_all();
-- The inserted elements got key links, VACUUM repaired those to deleted elements, and the
-- index checks clean.
SELECT (s ->> 'avg_key_links')::float8 > 10 AS linked FROM ruvector_index_stats('kt_idx') s;
SELECT c -> 'ok' AS ok, c -> 'problems' AS problems FROM ruvector_index_check('kt_idx', true) c;

-- the iterative scan modes keep their guarantees with a filter in the index
RESET ruvector.ef_search;
SET ruvector.hnsw_iterative_scan = strict_order;
SET enable_seqscan = off;
SELECT count(*) AS rows, bool_and(d >= coalesce(p, d)) AS in_order, bool_and(cat = 2) AS all_pass
FROM (SELECT d, cat, lag(d) OVER (ORDER BY rn) AS p
      FROM (SELECT v <-> '[0.1,0.2,0.3]' AS d, cat, row_number() OVER () AS rn
            FROM (SELECT v, cat FROM kt WHERE cat = 2 ORDER BY v <-> '[0.1,0.2,0.3]' LIMIT 300) a
           ) b) c;
RESET enable_seqscan;
SET ruvector.hnsw_iterative_scan = relaxed_order;
SELECT count(*) FROM (SELECT id FROM kt WHERE cat = 2 AND n % 2 = 0
                      ORDER BY v <-> '[0.1,0.2,0.3]' LIMIT 200) s;
RESET ruvector.hnsw_iterative_scan;

-- a quantized index with key columns
CREATE INDEX kt_sq8 ON kt USING ruhnsw (v ruvector_l2_ops, tenant) WITH (quantization = 'sq8');
DROP INDEX kt_idx;
SET ruvector.ef_search = 1000;
SELECT knn('SELECT id FROM kt WHERE tenant = 2 ORDER BY v <-> ''[0.5,0.5,0.5]'' LIMIT 20', true)
    = knn('SELECT id FROM kt WHERE tenant = 2 ORDER BY v <-> ''[0.5,0.5,0.5]'' LIMIT 20', false)
    AS sq8_same;

-- An index created empty and filled by inserts: the key directory's buckets grow a page at a
-- time (t = 7 fills a chain of four pages); lookups of one value, of several, ranges and text
-- keys equal the exact answers.
CREATE TABLE kt2 (id int PRIMARY KEY, v ruvector(3), t int4, s text);
CREATE INDEX kt2_idx ON kt2 USING ruhnsw (v ruvector_l2_ops, t, s);
INSERT INTO kt2 SELECT i, ARRAY[sin(i * 0.9), cos(i * 0.4), sin(i * 1.7)]::ruvector(3),
    CASE WHEN i % 10 = 0 THEN i ELSE 7 END, 's' || (i % 3)
FROM generate_series(1, 2500) i;
SELECT w, coalesce(array_length(knn(q, false), 1), 0) AS rows,
       knn(q, true) IS NOT DISTINCT FROM knn(q, false) AS same
FROM (VALUES ('t = 7'), ('t = 30'), ('t IN (10, 20, 7)'), ('t BETWEEN 40 AND 50'),
             ('t BETWEEN 100 AND 300'), ('t > 2400'), ('s = ''s1'''), ('t = 7 AND s = ''s2'''),
             ('t = 8')) c(w),
     LATERAL (SELECT 'SELECT id FROM kt2 WHERE ' || w ||
                     ' ORDER BY v <-> ''[0.2,0.1,-0.4]'' LIMIT 30' AS q) x;
-- The directory in ruvector_index_stats: one entry per key that is not NULL (2,500 t, 2,500 s);
-- VACUUM removes the deleted rows' entries (none stale after it), and the answers stay exact.
SELECT s -> 'key_columns' AS keys, s -> 'key_bytes' AS key_bytes, s -> 'key_directory' AS dir
FROM ruvector_index_stats('kt2_idx') s;
DELETE FROM kt2 WHERE id % 5 = 0;
VACUUM kt2;
SELECT s -> 'key_directory' -> 'entries' AS entries, s -> 'key_directory' -> 'stale_entries' AS stale
FROM ruvector_index_stats('kt2_idx') s;
SELECT w, knn(q, true) IS NOT DISTINCT FROM knn(q, false) AS same
FROM (VALUES ('t = 7'), ('t = 30'), ('t = 40'), ('t BETWEEN 100 AND 300'), ('s = ''s1''')) c(w),
     LATERAL (SELECT 'SELECT id FROM kt2 WHERE ' || w ||
                     ' ORDER BY v <-> ''[0.2,0.1,-0.4]'' LIMIT 30' AS q) x;
-- Inserts reuse the freed slots and append new entries.
INSERT INTO kt2 SELECT i, ARRAY[cos(i * 0.9), sin(i * 0.4), cos(i * 1.7)]::ruvector(3), i % 13,
    's' || (i % 3)
FROM generate_series(2501, 2700) i;
SELECT s -> 'key_directory' -> 'entries' AS entries, s -> 'key_directory' -> 'stale_entries' AS stale
FROM ruvector_index_stats('kt2_idx') s;
SELECT w, knn(q, true) IS NOT DISTINCT FROM knn(q, false) AS same
FROM (VALUES ('t = 7'), ('t = 5'), ('t < 3'), ('s = ''s2''')) c(w),
     LATERAL (SELECT 'SELECT id FROM kt2 WHERE ' || w ||
                     ' ORDER BY v <-> ''[0.2,0.1,-0.4]'' LIMIT 30' AS q) x;
DROP TABLE kt, kt2, cases;
DROP FUNCTION knn, uses_index, check_all;
