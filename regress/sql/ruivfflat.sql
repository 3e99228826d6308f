-- ruivfflat: every operator class against exact answers, index = sequential scan when every
-- list is probed, NULLs and zero vectors, inserts after the build, iterative scans, VACUUM and
-- space reuse, UNLOGGED tables, REINDEX, options and GUCs with pgvector's messages, planner
-- behaviour and index statistics.
SET enable_seqscan = off;

-- ruvector, each operator (little data: a NOTICE says so)
CREATE TABLE t (id int, val ruvector(3));
INSERT INTO t VALUES (1, '[0,0,0]'), (2, '[1,2,3]'), (3, '[1,1,1]'), (4, NULL);
CREATE INDEX t_l2 ON t USING ruivfflat (val ruvector_l2_ops) WITH (lists = 2);
INSERT INTO t VALUES (5, '[1,2,4]');
SET ruvector.probes = 2;
EXPLAIN (COSTS OFF) SELECT id FROM t ORDER BY val <-> '[3,3,3]';
SELECT id, val, round((val <-> '[3,3,3]')::numeric, 4) AS d FROM t ORDER BY val <-> '[3,3,3]';
SELECT count(*) FROM (SELECT * FROM t ORDER BY val <-> (SELECT NULL::ruvector)) s;
DROP INDEX t_l2;
CREATE INDEX t_ip ON t USING ruivfflat (val ruvector_ip_ops) WITH (lists = 2);
SELECT id, val <#> '[3,3,3]' AS d FROM t ORDER BY val <#> '[3,3,3]';
DROP INDEX t_ip;
CREATE INDEX t_cos ON t USING ruivfflat (val ruvector_cosine_ops) WITH (lists = 2);
-- the zero vector has no direction: it is not indexed for cosine
SELECT id, round((val <=> '[3,3,3]')::numeric, 4) AS d FROM t ORDER BY val <=> '[3,3,3]';
DROP INDEX t_cos;
-- the default operator class is L2; there is none for L1
CREATE INDEX t_default ON t USING ruivfflat (val) WITH (lists = 1);
SELECT id FROM t ORDER BY val <-> '[3,3,3]';
CREATE INDEX ON t USING ruivfflat (val ruvector_l1_ops);
-- the query must have the column's dimensions
SELECT id FROM t ORDER BY val <-> '[1,2]' LIMIT 1;
TRUNCATE t;
SELECT * FROM t ORDER BY val <-> '[3,3,3]';
INSERT INTO t VALUES (1, '[1,1,1]');
SELECT id FROM t ORDER BY val <-> '[3,3,3]';
DROP TABLE t;

-- halfvec and bit operator classes
CREATE TABLE h (id int, val halfvec(3));
INSERT INTO h VALUES (1, '[0,0,0]'), (2, '[1,2,3]'), (3, '[1,1,1]'), (4, NULL), (5, '[1,2,4]');
CREATE INDEX ON h USING ruivfflat (val halfvec_l2_ops) WITH (lists = 1);
SELECT id, round((val <-> '[3,3,3]')::numeric, 4) AS d FROM h ORDER BY val <-> '[3,3,3]';
DROP INDEX h_val_idx;
CREATE INDEX ON h USING ruivfflat (val halfvec_ip_ops) WITH (lists = 1);
SELECT id, val <#> '[3,3,3]' AS d FROM h ORDER BY val <#> '[3,3,3]';
DROP INDEX h_val_idx;
CREATE INDEX ON h USING ruivfflat (val halfvec_cosine_ops) WITH (lists = 1);
SELECT id, round((val <=> '[3,3,3]')::numeric, 4) AS d FROM h ORDER BY val <=> '[3,3,3]';
DROP TABLE h;
CREATE TABLE b (id int, val bit(4));
INSERT INTO b VALUES (1, '0000'), (2, '1100'), (3, '1111'), (4, NULL), (5, '0001');
CREATE INDEX ON b USING ruivfflat (val bit_hamming_ops) WITH (lists = 1);
SELECT id, val <~> '1110' AS d FROM b ORDER BY val <~> '1110';
CREATE INDEX ON b USING ruivfflat (val bit_jaccard_ops);
DROP TABLE b;
CREATE TABLE s (val sparsevec(3));
CREATE INDEX ON s USING ruivfflat (val sparsevec_l2_ops);
DROP TABLE s;

-- with every list probed the index returns exactly what a sequential scan returns
CREATE TABLE t (id int, val ruvector(3));
INSERT INTO t SELECT i, ARRAY[sin(i), cos(i * 1.3), sin(i * 0.7)]::ruvector
    FROM generate_series(1, 3000) i;
CREATE INDEX ON t USING ruivfflat (val ruvector_l2_ops) WITH (lists = 20);
-- rows inserted after the build are found too
INSERT INTO t SELECT i, ARRAY[cos(i), sin(i * 1.1), cos(i * 0.3)]::ruvector
    FROM generate_series(3001, 4000) i;
CREATE FUNCTION top(q ruvector, n int, use_index bool) RETURNS int[] LANGUAGE plpgsql AS $$
DECLARE r int[];
BEGIN
    IF use_index THEN
        SET LOCAL enable_seqscan = off; SET LOCAL enable_indexscan = on;
    ELSE
        SET LOCAL enable_seqscan = on; SET LOCAL enable_indexscan = off;
    END IF;
    SELECT array_agg(id) INTO r FROM (SELECT id FROM t ORDER BY val <-> q LIMIT n) s;
    RETURN r;
END $$;
SET ruvector.probes = 20;
SELECT count(*) AS queries, count(*) FILTER (WHERE top(q, 50, true) = top(q, 50, false)) AS equal
    FROM (SELECT ARRAY[sin(j * 0.37), cos(j), sin(j * 2.1)]::ruvector AS q
          FROM generate_series(1, 20) j) qs;
-- one probe reads one list: fewer rows, each of them in exact order
SET ruvector.probes = 1;
SELECT count(*) < 4000 AS fewer FROM (SELECT id FROM t ORDER BY val <-> '[0.1,0.2,0.3]') s;
SELECT array_agg(d ORDER BY n) = array_agg(d ORDER BY d, n) AS ordered FROM
    (SELECT row_number() OVER () AS n, val <-> '[0.1,0.2,0.3]' AS d
     FROM (SELECT val FROM t ORDER BY val <-> '[0.1,0.2,0.3]') s) x;
-- iterative scans keep probing lists until the filter is satisfied
SELECT count(*) FROM (SELECT id FROM t WHERE id % 100 = 0 ORDER BY val <-> '[0.1,0.2,0.3]' LIMIT 30) s;
SET ruvector.ivfflat_iterative_scan = relaxed_order;
SELECT count(*) FROM (SELECT id FROM t WHERE id % 100 = 0 ORDER BY val <-> '[0.1,0.2,0.3]' LIMIT 30) s;
SET ruvector.ivfflat_max_probes = 2;
SELECT count(*) < 30 AS capped FROM (SELECT id FROM t WHERE id % 100 = 0 ORDER BY val <-> '[0.1,0.2,0.3]' LIMIT 30) s;
RESET ruvector.ivfflat_max_probes;
RESET ruvector.ivfflat_iterative_scan;
SELECT s ->> 'lists' AS lists, s ->> 'tuples' AS tuples, s ->> 'opclass' AS opclass,
       (s ->> 'tuples_per_list_min')::int > 0 AS no_empty_list, s -> 'hint' AS hint
    FROM ruvector_index_stats('t_val_idx') s;

-- the index is used only to order by distance, never for plain filters or counts
RESET enable_seqscan;
ANALYZE t;
EXPLAIN (COSTS OFF) SELECT count(*) FROM t;
EXPLAIN (COSTS OFF) SELECT id FROM t WHERE val = '[1,1,1]';
EXPLAIN (COSTS OFF) SELECT id FROM t ORDER BY val <-> '[3,3,3]' LIMIT 5;
SET enable_seqscan = off;

-- VACUUM: deleted rows disappear, the space they leave is reused by inserts
SET ruvector.probes = 20;
DELETE FROM t WHERE id % 4 <> 0;
VACUUM t;
SELECT count(*) AS rows_left FROM (SELECT id FROM t ORDER BY val <-> '[0,0,0]') s;
SELECT count(*) AS queries, count(*) FILTER (WHERE top(q, 50, true) = top(q, 50, false)) AS equal
    FROM (SELECT ARRAY[sin(j * 0.37), cos(j), sin(j * 2.1)]::ruvector AS q
          FROM generate_series(1, 10) j) qs;
SELECT pg_relation_size('t_val_idx') AS size_before \gset
INSERT INTO t SELECT i, ARRAY[sin(i), cos(i * 1.3), sin(i * 0.7)]::ruvector
    FROM generate_series(5001, 7000) i;
SELECT pg_relation_size('t_val_idx') = :size_before AS reused_space;
SELECT (ruvector_index_stats('t_val_idx') ->> 'tuples')::int AS tuples;
DELETE FROM t;
VACUUM t;
SELECT * FROM t ORDER BY val <-> '[3,3,3]';
SELECT (ruvector_index_stats('t_val_idx') ->> 'tuples')::int AS tuples;

-- REINDEX and CREATE INDEX CONCURRENTLY
INSERT INTO t VALUES (1, '[1,1,1]'), (2, '[2,2,2]');
REINDEX INDEX t_val_idx;
REINDEX INDEX CONCURRENTLY t_val_idx;
CREATE INDEX CONCURRENTLY t_conc ON t USING ruivfflat (val ruvector_cosine_ops) WITH (lists = 1);
SELECT id FROM t ORDER BY val <=> '[3,3,3]';
DROP TABLE t;
DROP FUNCTION top;

-- UNLOGGED tables; an index built empty fills through inserts
CREATE UNLOGGED TABLE u (id int, val ruvector(3));
CREATE INDEX ON u USING ruivfflat (val ruvector_l2_ops) WITH (lists = 3);
INSERT INTO u VALUES (1, '[0,0,0]'), (2, '[1,2,3]'), (3, '[1,1,1]'), (4, NULL);
SET ruvector.probes = 3;
SELECT id FROM u ORDER BY val <-> '[3,3,3]';
DROP TABLE u;
RESET ruvector.probes;

-- a build that outgrows maintenance_work_mem inserts the rows one by one, with the same result
CREATE TABLE big (id int, val ruvector(3));
INSERT INTO big SELECT i, ARRAY[sin(i), cos(i * 1.3), sin(i * 0.7)]::ruvector
    FROM generate_series(1, 30000) i;
SET maintenance_work_mem = '1MB';
CREATE INDEX big_idx ON big USING ruivfflat (val ruvector_l2_ops) WITH (lists = 10);
RESET maintenance_work_mem;
SET ruvector.probes = 10;
SELECT (ruvector_index_stats('big_idx') ->> 'tuples')::int AS tuples,
       (ruvector_index_stats('big_idx') ->> 'empty_lists')::int AS empty_lists;
CREATE TEMP TABLE idx AS SELECT id FROM big ORDER BY val <-> '[0.3,0.2,0.1]' LIMIT 100;
SET enable_seqscan = on; SET enable_indexscan = off;
CREATE TEMP TABLE seq AS SELECT id FROM big ORDER BY val <-> '[0.3,0.2,0.1]' LIMIT 100;
SELECT count(*) AS same FROM idx JOIN seq USING (id);
RESET enable_indexscan; SET enable_seqscan = off;
RESET ruvector.probes;
DROP TABLE big, idx, seq;

-- options, with pgvector's ranges and messages
CREATE TABLE t (val ruvector(3));
CREATE INDEX ON t USING ruivfflat (val ruvector_l2_ops) WITH (lists = 0);
CREATE INDEX ON t USING ruivfflat (val ruvector_l2_ops) WITH (lists = 32769);
CREATE INDEX ON t USING ruivfflat (val ruvector_l2_ops) WITH (m = 16);
CREATE INDEX t_opts ON t USING ruivfflat (val ruvector_l2_ops) WITH (lists = 7);
SELECT s ->> 'lists' AS lists, s ->> 'opclass' AS opclass, s ->> 'data_pages' AS data_pages
    FROM ruvector_index_stats('t_opts') s;
SELECT ruvector_index_stats('t');
DROP TABLE t;
CREATE TABLE t (val ruvector);
CREATE INDEX ON t USING ruivfflat (val ruvector_l2_ops);
DROP TABLE t;
-- past pgvector's 2,000 dimensions: up to ~2,030 a row still fits a page (version 1); past
-- that, centres and rows are stored in parts (format version 4), here on an index built
-- empty and filled by inserts
CREATE TABLE t (val ruvector(2001));
CREATE INDEX t_2001 ON t USING ruivfflat (val ruvector_l2_ops) WITH (lists = 2);
SELECT s->>'format_version' AS format_version FROM ruvector_index_stats('t_2001') s;
DROP TABLE t;
CREATE TABLE t (val ruvector(2100));
CREATE INDEX t_2100 ON t USING ruivfflat (val ruvector_l2_ops) WITH (lists = 2);
INSERT INTO t SELECT array_fill(i::real, ARRAY[2100])::ruvector FROM generate_series(1, 20) i;
SET ruvector.probes = 2;
SET enable_seqscan = off;
SELECT string_agg(subvector(val, 1, 1)::text, ' ') FROM (SELECT val FROM t ORDER BY val <-> array_fill(7.2::real, ARRAY[2100])::ruvector LIMIT 3) s;
RESET enable_seqscan;
RESET ruvector.probes;
SELECT s->>'format_version' AS format_version, s->>'tuples' AS tuples,
       s->>'data_tuples_in_parts' AS rows_in_parts, s->>'centres_in_parts' AS centres_in_parts
  FROM ruvector_index_stats('t_2100') s;
SELECT r->>'ok' AS ok, r->'checked'->>'tuples' AS tuples FROM ruvector_index_check('t_2100') r;
DROP TABLE t;

-- memory follows the rows actually sampled: an empty or small table builds with many lists
-- and dimensions (little data: a NOTICE), a table whose sample outgrows maintenance_work_mem
-- errors with pgvector's message
SET maintenance_work_mem = '1MB';
CREATE TABLE t (val ruvector(2000));
CREATE INDEX t_empty ON t USING ruivfflat (val ruvector_l2_ops) WITH (lists = 1000);
INSERT INTO t SELECT array_fill(i::real, ARRAY[2000])::ruvector FROM generate_series(1, 50) i;
CREATE INDEX t_small ON t USING ruivfflat (val ruvector_l2_ops) WITH (lists = 1000);
SET ruvector.probes = 1000;
SELECT string_agg(subvector(val, 1, 1)::text, ' ') FROM (SELECT val FROM t ORDER BY val <-> array_fill(7.2::real, ARRAY[2000])::ruvector LIMIT 3) s;
RESET ruvector.probes;
INSERT INTO t SELECT array_fill(i::real, ARRAY[2000])::ruvector FROM generate_series(51, 200) i;
CREATE INDEX t_large ON t USING ruivfflat (val ruvector_l2_ops) WITH (lists = 1000);
RESET maintenance_work_mem;
DROP TABLE t;

-- GUCs
SHOW ruvector.probes;
SET ruvector.probes = 0;
SET ruvector.probes = 32769;
SHOW ruvector.ivfflat_iterative_scan;
SET ruvector.ivfflat_iterative_scan = strict_order;
SHOW ruvector.ivfflat_max_probes;
SET ruvector.ivfflat_max_probes = 0;
