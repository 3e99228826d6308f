-- ruvector_index_check(index, heapallindexed): every page, tuple and link of a ruhnsw or
-- ruivfflat index checked; with heapallindexed, every row of the table that the index should
-- hold looked up in it. Healthy indexes report ok; a row the index lacks is reported by its
-- TID. (Damaged pages are checked by server-tests/tests/corruption.rs, which writes bytes
-- into index files.)
CREATE TABLE ic (id int PRIMARY KEY, tenant int, label text, v ruvector(3), h halfvec(3));
INSERT INTO ic
SELECT i, i % 7, 'l' || (i % 3),
       ARRAY[sin(i), cos(i), sin(i * 0.3)]::ruvector,
       ARRAY[cos(i), sin(i * 0.7), 1]::halfvec
FROM generate_series(1, 3000) i;
CREATE INDEX ic_hnsw ON ic USING ruhnsw (v ruvector_l2_ops) WITH (m = 8);
CREATE INDEX ic_hnsw_keys ON ic USING ruhnsw (v ruvector_cosine_ops, tenant, label) WITH (m = 8);
CREATE INDEX ic_hnsw_sq8 ON ic USING ruhnsw (h halfvec_l2_ops) WITH (m = 8, quantization = 'sq8');
CREATE INDEX ic_ivf ON ic USING ruivfflat (v ruvector_l2_ops) WITH (lists = 20);
CREATE INDEX ic_ivf_keys ON ic USING ruivfflat (h halfvec_cosine_ops, tenant) WITH (lists = 10, quantization = 'sq8');
CREATE INDEX ic_partial ON ic USING ruhnsw (v ruvector_l2_ops) WHERE tenant = 3;
CREATE INDEX ic_expr ON ic USING ruivfflat ((v::halfvec(3)) halfvec_l2_ops) WITH (lists = 5);

CREATE FUNCTION ic_report(idx regclass) RETURNS TABLE (
    index text, ok bool, problems int, warnings int, entries int, rows_checked int, missing int)
LANGUAGE sql AS $$
    SELECT c ->> 'index', (c ->> 'ok')::bool, (c ->> 'problem_count')::int,
           (c ->> 'warning_count')::int,
           coalesce(c -> 'checked' ->> 'elements', c -> 'checked' ->> 'tuples')::int,
           (c -> 'heapallindexed' ->> 'table_rows')::int,
           (c -> 'heapallindexed' ->> 'missing')::int
    FROM ruvector_index_check(idx, true) c
$$;

-- healthy indexes of every kind: ok, every row found
SELECT r.* FROM unnest(ARRAY['ic_hnsw', 'ic_hnsw_keys', 'ic_hnsw_sq8', 'ic_ivf', 'ic_ivf_keys',
                             'ic_partial', 'ic_expr']::regclass[]) i, ic_report(i) r;
-- what a ruhnsw check reports
SELECT jsonb_object_keys(ruvector_index_check('ic_hnsw_keys') -> 'checked') AS checked;
SELECT c -> 'checked' -> 'key_directory' ->> 'missing_entries' AS missing_entries,
       c -> 'checked' ->> 'unreachable_elements' AS unreachable,
       c -> 'heapallindexed' AS heapallindexed
FROM ruvector_index_check('ic_hnsw_keys') c;

-- after deletes, VACUUM (slots freed), inserts (slots reused), key updates
DELETE FROM ic WHERE id % 3 = 0;
VACUUM ic;
INSERT INTO ic
SELECT i, i % 11, 'l' || (i % 5),
       ARRAY[sin(i), cos(i), sin(i * 0.3)]::ruvector,
       ARRAY[cos(i), sin(i * 0.7), 1]::halfvec
FROM generate_series(3001, 4000) i;
UPDATE ic SET tenant = tenant + 100 WHERE id % 5 = 0;
-- rows no index holds: a NULL vector, and a zero vector under a cosine operator class
INSERT INTO ic VALUES (5001, 3, 'x', NULL, NULL), (5002, 3, 'x', '[0,0,0]', '[0,0,0]');
SELECT r.* FROM unnest(ARRAY['ic_hnsw', 'ic_hnsw_keys', 'ic_hnsw_sq8', 'ic_ivf', 'ic_ivf_keys',
                             'ic_partial', 'ic_expr']::regclass[]) i, ic_report(i) r;
SELECT count(*) AS partial_rows FROM ic WHERE tenant = 3 AND v IS NOT NULL;

-- a row the index lacks (inserted while the index was not ready: a catalog edit a superuser
-- can make): found by heapallindexed, by its TID; the page check alone sees nothing wrong
UPDATE pg_index SET indisready = false WHERE indexrelid IN ('ic_hnsw'::regclass, 'ic_ivf'::regclass);
INSERT INTO ic VALUES (6001, 2, 'y', '[1,2,3]', '[1,2,3]');
UPDATE pg_index SET indisready = true WHERE indexrelid IN ('ic_hnsw'::regclass, 'ic_ivf'::regclass);
SELECT c ->> 'ok' AS ok, c ->> 'problem_count' AS problems,
       c -> 'problems' -> 0 ->> 'problem' = format('table row %s is not in the index',
                                                  (SELECT ctid FROM ic WHERE id = 6001)) AS names_the_row
FROM unnest(ARRAY['ic_hnsw', 'ic_ivf']::regclass[]) i, ruvector_index_check(i, true) c;
SELECT (ruvector_index_check('ic_hnsw') ->> 'ok') AS ok_without_heapallindexed;
REINDEX INDEX ic_hnsw;
REINDEX INDEX ic_ivf;
SELECT r.* FROM unnest(ARRAY['ic_hnsw', 'ic_ivf']::regclass[]) i, ic_report(i) r;

-- an empty table's indexes
CREATE TABLE ic_empty (v ruvector(3));
CREATE INDEX ic_empty_hnsw ON ic_empty USING ruhnsw (v ruvector_l2_ops);
CREATE INDEX ic_empty_ivf ON ic_empty USING ruivfflat (v ruvector_l2_ops) WITH (lists = 1);
SELECT r.* FROM unnest(ARRAY['ic_empty_hnsw', 'ic_empty_ivf']::regclass[]) i, ic_report(i) r;

-- what is not a ruvector index, and NULL
SELECT ruvector_index_check('ic_pkey');
SELECT ruvector_index_check('ic');
SELECT ruvector_index_check(NULL) IS NULL AS is_null;

-- rights: those of ruvector_index_stats (SELECT on the table, or pg_read_all_stats /
-- pg_stat_scan_tables)
CREATE ROLE regress_ruvector_checker;
SET ROLE regress_ruvector_checker;
SELECT ruvector_index_check('ic_hnsw');
RESET ROLE;
GRANT pg_stat_scan_tables TO regress_ruvector_checker;
SET ROLE regress_ruvector_checker;
SELECT ruvector_index_check('ic_hnsw') ->> 'ok' AS ok;
RESET ROLE;
DROP ROLE regress_ruvector_checker;

DROP TABLE ic, ic_empty;
DROP FUNCTION ic_report(regclass);
