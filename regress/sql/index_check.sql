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
-- (From here on a ruhnsw index's element count is not exact: a row whose value another row
-- has joins that row's element only if the insert's graph search finds it, and inserted
-- elements take random levels; every row must be covered, and none missing.)
SELECT r.index, r.ok, r.problems, r.warnings, r.entries >= r.rows_checked AS entries_cover_rows,
       r.rows_checked, r.missing
FROM unnest(ARRAY['ic_hnsw', 'ic_hnsw_keys', 'ic_hnsw_sq8', 'ic_ivf', 'ic_ivf_keys',
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

-- ruvector_index_maintenance(index): on healthy indexes it has nothing to repair; the indexes
-- check clean and answer exactly as before afterwards
SELECT m ->> 'index' AS index, m ->> 'neighbor_lists_repaired' AS repaired,
       m ->> 'stranded_elements_deleted' AS stranded, m ->> 'key_directory_entries_removed' AS entries,
       m ->> 'reindex_recommended' AS reindex
FROM unnest(ARRAY['ic_hnsw', 'ic_hnsw_keys', 'ic_hnsw_sq8', 'ic_partial']::regclass[]) i,
     ruvector_index_maintenance(i) m;
SELECT m ->> 'index' AS index, m ->> 'lists' AS lists, m ->> 'tuples' AS tuples,
       m ->> 'reindex_recommended' AS reindex
FROM unnest(ARRAY['ic_ivf', 'ic_ivf_keys', 'ic_expr']::regclass[]) i,
     ruvector_index_maintenance(i) m;
SELECT r.index, r.ok, r.problems, r.warnings, r.entries >= r.rows_checked AS entries_cover_rows,
       r.rows_checked, r.missing
FROM unnest(ARRAY['ic_hnsw', 'ic_hnsw_keys', 'ic_hnsw_sq8', 'ic_ivf', 'ic_ivf_keys',
                  'ic_partial', 'ic_expr']::regclass[]) i, ic_report(i) r;
-- (cosine: ic_hnsw_keys at a large ef_search; L2: ic_ivf probing every list)
SET enable_seqscan = off;
SET ruvector.ef_search = 400;
SET ruvector.probes = 20;
SELECT count(*) AS same_cosine_answers FROM generate_series(1, 20) q
WHERE ARRAY(SELECT id FROM ic ORDER BY v <=> ARRAY[sin(q), cos(q), 0]::ruvector LIMIT 5)
    = ARRAY(SELECT id FROM ic ORDER BY v::real[]::ruvector <=> ARRAY[sin(q), cos(q), 0]::ruvector, id LIMIT 5);
SELECT count(*) AS same_l2_answers FROM generate_series(1, 20) q
WHERE ARRAY(SELECT id FROM ic ORDER BY v <-> ARRAY[sin(q), cos(q), 0]::ruvector LIMIT 5)
    = ARRAY(SELECT id FROM ic ORDER BY v::real[]::ruvector <-> ARRAY[sin(q), cos(q), 0]::ruvector, id LIMIT 5);
RESET ruvector.probes;
RESET ruvector.ef_search;
RESET enable_seqscan;

-- an IVF index whose new rows all went to one list: maintenance recommends REINDEX, measuring
-- the lists' balance against the build's (kept on the meta page)
CREATE TABLE ic_skew (id int, v ruvector(2));
INSERT INTO ic_skew SELECT i, ARRAY[cos(i), sin(i)] FROM generate_series(1, 1000) i;
CREATE INDEX ic_skew_ivf ON ic_skew USING ruivfflat (v ruvector_l2_ops) WITH (lists = 10);
SELECT m ->> 'reindex_recommended' AS before_skew, m ->> 'tuples_at_build' AS built_for,
       m ->> 'imbalance' = m ->> 'imbalance_at_build' AS as_built
FROM ruvector_index_maintenance('ic_skew_ivf') m;
INSERT INTO ic_skew SELECT i, ARRAY[1 + i * 1e-6, 0] FROM generate_series(1001, 3000) i;
SELECT m ->> 'reindex_recommended' AS after_skew, m -> 'advice' ->> 0 AS advice
FROM ruvector_index_maintenance('ic_skew_ivf') m;
DROP TABLE ic_skew;
-- one grown to 5x the rows its lists were built for, evenly: REINDEX for the growth alone
CREATE TABLE ic_grow (id int, v ruvector(2));
INSERT INTO ic_grow SELECT i, ARRAY[cos(i), sin(i)] FROM generate_series(1, 1000) i;
CREATE INDEX ic_grow_ivf ON ic_grow USING ruivfflat (v ruvector_l2_ops) WITH (lists = 40);
INSERT INTO ic_grow SELECT i, ARRAY[cos(i), sin(i)] FROM generate_series(1001, 5000) i;
SELECT m ->> 'reindex_recommended' AS after_growth, m -> 'advice' ->> 0 AS advice
FROM ruvector_index_maintenance('ic_grow_ivf') m;
DROP TABLE ic_grow;

-- maintenance needs what VACUUM needs: owning the table
CREATE ROLE regress_ruvector_maintainer;
GRANT SELECT ON ic TO regress_ruvector_maintainer;
SET ROLE regress_ruvector_maintainer;
SELECT ruvector_index_maintenance('ic_hnsw');
RESET ROLE;
REVOKE SELECT ON ic FROM regress_ruvector_maintainer;
DROP ROLE regress_ruvector_maintainer;
SELECT ruvector_index_maintenance('ic_pkey');

DROP TABLE ic, ic_empty;
DROP FUNCTION ic_report(regclass);
