-- ruhnsw: every operator class against exact answers on small data, NULLs and zero vectors,
-- iterative scans, options and GUCs with pgvector's messages, planner behaviour, VACUUM,
-- UNLOGGED tables, REINDEX and index statistics.
SET enable_seqscan = off;

-- ruvector, each operator: index order equals the exact order (distances shown)
CREATE TABLE t (id int, val ruvector(3));
INSERT INTO t VALUES (1, '[0,0,0]'), (2, '[1,2,3]'), (3, '[1,1,1]'), (4, NULL);
CREATE INDEX t_l2 ON t USING ruhnsw (val ruvector_l2_ops);
INSERT INTO t VALUES (5, '[1,2,4]');
EXPLAIN (COSTS OFF) SELECT id FROM t ORDER BY val <-> '[3,3,3]';
SELECT id, val, round((val <-> '[3,3,3]')::numeric, 4) AS d FROM t ORDER BY val <-> '[3,3,3]';
-- a NULL query vector orders nothing: every indexed row, in no particular order
SELECT count(*) FROM (SELECT * FROM t ORDER BY val <-> (SELECT NULL::ruvector)) s;
DROP INDEX t_l2;

CREATE INDEX t_ip ON t USING ruhnsw (val ruvector_ip_ops);
SELECT id, val <#> '[3,3,3]' AS d FROM t ORDER BY val <#> '[3,3,3]';
DROP INDEX t_ip;

CREATE INDEX t_cos ON t USING ruhnsw (val ruvector_cosine_ops);
-- the zero vector has no direction: it is not indexed for cosine
SELECT id, round((val <=> '[3,3,3]')::numeric, 4) AS d FROM t ORDER BY val <=> '[3,3,3]';
SELECT count(*) FROM (SELECT * FROM t ORDER BY val <=> '[0,0,0]') s;
SELECT t.id, n.id AS nearest FROM t CROSS JOIN LATERAL
    (SELECT id FROM t t2 ORDER BY val <=> t.val LIMIT 1) n
    WHERE t.val <> '[0,0,0]' ORDER BY t.id;
DROP INDEX t_cos;

CREATE INDEX t_l1 ON t USING ruhnsw (val ruvector_l1_ops);
SELECT id, val <+> '[3,3,3]' AS d FROM t ORDER BY val <+> '[3,3,3]';
DROP INDEX t_l1;

-- the query must have the column's dimensions
CREATE INDEX t_l2 ON t USING ruhnsw (val ruvector_l2_ops);
SELECT id FROM t ORDER BY val <-> '[1,2]' LIMIT 1;
TRUNCATE t;
SELECT * FROM t ORDER BY val <-> '[3,3,3]';
DROP TABLE t;

-- halfvec, sparsevec and bit operator classes
CREATE TABLE h (id int, val halfvec(3));
INSERT INTO h VALUES (1, '[0,0,0]'), (2, '[1,2,3]'), (3, '[1,1,1]'), (4, NULL), (5, '[1,2,4]');
CREATE INDEX ON h USING ruhnsw (val halfvec_l2_ops);
SELECT id, round((val <-> '[3,3,3]')::numeric, 4) AS d FROM h ORDER BY val <-> '[3,3,3]';
DROP INDEX h_val_idx;
CREATE INDEX ON h USING ruhnsw (val halfvec_ip_ops);
SELECT id, val <#> '[3,3,3]' AS d FROM h ORDER BY val <#> '[3,3,3]';
DROP INDEX h_val_idx;
CREATE INDEX ON h USING ruhnsw (val halfvec_cosine_ops);
SELECT id, round((val <=> '[3,3,3]')::numeric, 4) AS d FROM h ORDER BY val <=> '[3,3,3]';
DROP INDEX h_val_idx;
CREATE INDEX ON h USING ruhnsw (val halfvec_l1_ops);
SELECT id, val <+> '[3,3,3]' AS d FROM h ORDER BY val <+> '[3,3,3]';
DROP TABLE h;

CREATE TABLE s (id int, val sparsevec(3));
INSERT INTO s VALUES (1, '{}/3'), (2, '{1:1,2:2,3:3}/3'), (3, '{1:1,2:1,3:1}/3'), (4, NULL), (5, '{1:1,2:2,3:4}/3');
CREATE INDEX ON s USING ruhnsw (val sparsevec_l2_ops);
SELECT id, round((val <-> '{1:3,2:3,3:3}/3')::numeric, 4) AS d FROM s ORDER BY val <-> '{1:3,2:3,3:3}/3';
DROP INDEX s_val_idx;
CREATE INDEX ON s USING ruhnsw (val sparsevec_ip_ops);
SELECT id, val <#> '{1:3,2:3,3:3}/3' AS d FROM s ORDER BY val <#> '{1:3,2:3,3:3}/3';
DROP INDEX s_val_idx;
CREATE INDEX ON s USING ruhnsw (val sparsevec_cosine_ops);
SELECT id, round((val <=> '{1:3,2:3,3:3}/3')::numeric, 4) AS d FROM s ORDER BY val <=> '{1:3,2:3,3:3}/3';
DROP INDEX s_val_idx;
CREATE INDEX ON s USING ruhnsw (val sparsevec_l1_ops);
SELECT id, val <+> '{1:3,2:3,3:3}/3' AS d FROM s ORDER BY val <+> '{1:3,2:3,3:3}/3';
-- a sparse vector with more than 1000 non-zero elements cannot be indexed
CREATE TABLE s2 (val sparsevec(1001));
CREATE INDEX ON s2 USING ruhnsw (val sparsevec_l2_ops);
INSERT INTO s2 SELECT array_fill(1, ARRAY[1001])::ruvector::sparsevec;
DROP TABLE s, s2;

CREATE TABLE b (id int, val bit(4));
INSERT INTO b VALUES (1, '0000'), (2, '1100'), (3, '1111'), (4, NULL), (5, '0001');
CREATE INDEX ON b USING ruhnsw (val bit_hamming_ops);
SELECT id, val <~> '1110' AS d FROM b ORDER BY val <~> '1110';
DROP INDEX b_val_idx;
CREATE INDEX ON b USING ruhnsw (val bit_jaccard_ops);
SELECT id, val <%> '1110' AS d FROM b ORDER BY val <%> '1110';
DROP TABLE b;
CREATE TABLE vb (val varbit(4));
CREATE INDEX ON vb USING ruhnsw (val bit_hamming_ops);
DROP TABLE vb;

-- iterative scans return every row even with ef_search 1
CREATE TABLE t (id int, val ruvector(3));
INSERT INTO t VALUES (1, '[0,0,0]'), (2, '[1,2,3]'), (3, '[1,1,1]'), (4, NULL);
CREATE INDEX ON t USING ruhnsw (val ruvector_l2_ops);
SET ruvector.ef_search = 1;
SELECT id FROM t ORDER BY val <-> '[3,3,3]';
SET ruvector.hnsw_iterative_scan = strict_order;
SELECT id FROM t ORDER BY val <-> '[3,3,3]';
SET ruvector.hnsw_iterative_scan = relaxed_order;
SELECT id FROM t ORDER BY val <-> '[3,3,3]';
RESET ruvector.hnsw_iterative_scan;
RESET ruvector.ef_search;

-- the index is used only to order by distance, never for plain filters or counts
RESET enable_seqscan;
INSERT INTO t SELECT i, ARRAY[i % 7, i % 11, i % 13]::ruvector FROM generate_series(5, 2000) i;
ANALYZE t;
EXPLAIN (COSTS OFF) SELECT count(*) FROM t;
EXPLAIN (COSTS OFF) SELECT id FROM t WHERE val = '[1,1,1]';
EXPLAIN (COSTS OFF) SELECT id FROM t ORDER BY val <-> '[3,3,3]' LIMIT 5;
-- a selective btree condition beats walking the graph
CREATE INDEX ON t (id);
EXPLAIN (COSTS OFF) SELECT id FROM t WHERE id < 5 ORDER BY val <-> '[3,3,3]' LIMIT 5;
SET enable_seqscan = off;

-- VACUUM: deleted rows disappear from results, freed slots are reused
DELETE FROM t WHERE id > 4;
VACUUM t;
SELECT id FROM t ORDER BY val <-> '[3,3,3]';
SELECT pg_relation_size('t_val_idx') AS size_before \gset
INSERT INTO t SELECT i, ARRAY[i % 5, i % 3, 1]::ruvector FROM generate_series(5, 500) i;
SELECT pg_relation_size('t_val_idx') <= :size_before AS reused_space;
-- every row is still reachable: an iterative scan walks the whole graph
SET ruvector.hnsw_iterative_scan = relaxed_order;
SELECT count(*) FROM (SELECT id FROM t ORDER BY val <-> '[3,3,3]' LIMIT 1000) s;
RESET ruvector.hnsw_iterative_scan;
DELETE FROM t;
VACUUM t;
SELECT * FROM t ORDER BY val <-> '[3,3,3]';
INSERT INTO t VALUES (1, '[1,1,1]');
SELECT id FROM t ORDER BY val <-> '[3,3,3]';
SELECT (ruvector_index_stats('t_val_idx') ->> 'elements')::int AS elements;

-- REINDEX and CREATE INDEX CONCURRENTLY
REINDEX INDEX t_val_idx;
REINDEX INDEX CONCURRENTLY t_val_idx;
CREATE INDEX CONCURRENTLY t_conc ON t USING ruhnsw (val ruvector_cosine_ops);
SELECT id FROM t ORDER BY val <=> '[3,3,3]';
DROP TABLE t;

-- UNLOGGED tables
CREATE UNLOGGED TABLE u (id int, val ruvector(3));
INSERT INTO u VALUES (1, '[0,0,0]'), (2, '[1,2,3]'), (3, '[1,1,1]'), (4, NULL);
CREATE INDEX ON u USING ruhnsw (val ruvector_l2_ops);
SELECT id FROM u ORDER BY val <-> '[3,3,3]';
DROP TABLE u;

-- duplicates share an element
CREATE TABLE d (id int, val ruvector(2));
INSERT INTO d SELECT i, '[1,2]' FROM generate_series(1, 25) i;
INSERT INTO d VALUES (26, '[2,1]');
CREATE INDEX ON d USING ruhnsw (val ruvector_l2_ops);
INSERT INTO d SELECT i, '[1,2]' FROM generate_series(27, 30) i;
SELECT count(*) FROM (SELECT id FROM d ORDER BY val <-> '[1,2]') s;
SELECT (ruvector_index_stats('d_val_idx') ->> 'elements')::int AS elements;
DROP TABLE d;

-- options, with pgvector's ranges and messages
CREATE TABLE t (val ruvector(3));
CREATE INDEX ON t USING ruhnsw (val ruvector_l2_ops) WITH (m = 1);
CREATE INDEX ON t USING ruhnsw (val ruvector_l2_ops) WITH (m = 101);
CREATE INDEX ON t USING ruhnsw (val ruvector_l2_ops) WITH (ef_construction = 3);
CREATE INDEX ON t USING ruhnsw (val ruvector_l2_ops) WITH (ef_construction = 1001);
CREATE INDEX ON t USING ruhnsw (val ruvector_l2_ops) WITH (m = 16, ef_construction = 31);
CREATE INDEX ON t USING ruhnsw (val ruvector_l2_ops) WITH (lists = 5);
CREATE INDEX t_opts ON t USING ruhnsw (val ruvector_l2_ops) WITH (m = 4, ef_construction = 8);
SELECT s ->> 'm' AS m, s ->> 'ef_construction' AS ef_construction, s ->> 'opclass' AS opclass
    FROM ruvector_index_stats('t_opts') s;
SELECT ruvector_index_stats('t');
DROP TABLE t;
CREATE TABLE t (val ruvector);
CREATE INDEX ON t USING ruhnsw (val ruvector_l2_ops);
DROP TABLE t;
-- past pgvector's 2,000/4,000 dimensions: indexed at full precision, each image split over
-- code pages
CREATE TABLE t (val ruvector(2001));
CREATE INDEX ON t USING ruhnsw (val ruvector_l2_ops);
DROP TABLE t;
CREATE TABLE t (val halfvec(4001));
CREATE INDEX ON t USING ruhnsw (val halfvec_l2_ops);
DROP TABLE t;

-- GUCs
SHOW ruvector.ef_search;
SET ruvector.ef_search = 0;
SET ruvector.ef_search = 1001;
SHOW ruvector.hnsw_iterative_scan;
SET ruvector.hnsw_iterative_scan = on;
SHOW ruvector.hnsw_max_scan_tuples;
SET ruvector.hnsw_max_scan_tuples = 0;
SHOW ruvector.hnsw_scan_mem_multiplier;
SET ruvector.hnsw_scan_mem_multiplier = 0;
SET ruvector.hnsw_scan_mem_multiplier = 1001;

-- ruvector_index_stats() tells what reading the table tells: it needs SELECT on the table, or
-- the privileges of pg_read_all_stats or pg_stat_scan_tables
CREATE TABLE secret (id int, val ruvector(2));
INSERT INTO secret VALUES (1, '[1,2]'), (2, '[2,1]');
CREATE INDEX secret_idx ON secret USING ruhnsw (val ruvector_l2_ops);
CREATE ROLE regress_ruvector_nobody;
CREATE ROLE regress_ruvector_stats IN ROLE pg_read_all_stats;
SET ROLE regress_ruvector_nobody;
SELECT ruvector_index_stats('secret_idx') ->> 'elements' AS elements;
RESET ROLE;
SET ROLE regress_ruvector_stats;
SELECT ruvector_index_stats('secret_idx') ->> 'elements' AS elements;
RESET ROLE;
GRANT SELECT ON secret TO regress_ruvector_nobody;
SET ROLE regress_ruvector_nobody;
SELECT ruvector_index_stats('secret_idx') ->> 'elements' AS elements;
RESET ROLE;
DROP TABLE secret;
DROP ROLE regress_ruvector_nobody, regress_ruvector_stats;
