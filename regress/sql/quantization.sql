-- Quantized indexes (WITH (quantization = ...)): option validation with clear errors; for every
-- quantization and operator class, scans return rows in exact order with exact distances
-- (re-ranked from the table) — equal to a sequential scan when everything is probed and
-- re-ranked; inserts, DELETE + VACUUM, MVCC visibility, expression indexes, UNLOGGED tables,
-- statistics.
SET client_min_messages = warning;

CREATE TABLE t (id int, val ruvector(8));
INSERT INTO t SELECT i, ARRAY[sin(i), cos(i * 1.3), sin(i * 0.7), cos(i * 0.3) + 0.5,
    sin(i * 2.1) * 2, cos(i * 0.11), sin(i * 0.05) - 1, cos(i * 3.7)]::ruvector
  FROM generate_series(1, 3000) i;
INSERT INTO t VALUES (3001, NULL);

-- k nearest ids of the query rows (every `every`-th id) by a sequential scan and by the index:
-- queries that differ
CREATE FUNCTION mismatches(op text, k int, every int) RETURNS int LANGUAGE plpgsql AS $$
DECLARE
  n int := 0;
  e int[];
  i int[];
  r record;
BEGIN
  FOR r IN SELECT id, val FROM t WHERE id % every = 1 ORDER BY id LOOP
    PERFORM set_config('enable_indexscan', 'off', true);
    PERFORM set_config('enable_seqscan', 'on', true);
    EXECUTE format('SELECT array_agg(id) FROM (SELECT id FROM t ORDER BY val %s $1 LIMIT %s) s', op, k)
      INTO e USING r.val;
    PERFORM set_config('enable_indexscan', 'on', true);
    PERFORM set_config('enable_seqscan', 'off', true);
    EXECUTE format('SELECT array_agg(id) FROM (SELECT id FROM t ORDER BY val %s $1 LIMIT %s) s', op, k)
      INTO i USING r.val;
    IF e IS DISTINCT FROM i THEN
      n := n + 1;
    END IF;
  END LOOP;
  RETURN n;
END $$;

-- option values
CREATE INDEX ON t USING ruivfflat (val) WITH (quantization = 'sq4');
CREATE INDEX ON t USING ruivfflat (val) WITH (quantization = 'pq0');
CREATE INDEX ON t USING ruivfflat (val) WITH (quantization = 'pq3');
CREATE TABLE b (val bit(8));
CREATE INDEX ON b USING ruivfflat (val bit_hamming_ops) WITH (quantization = 'binary');
DROP TABLE b;

-- every quantization and operator class: all lists probed and every candidate re-ranked,
-- the index returns exactly the sequential scan's order
SET ruvector.probes = 10;
SET ruvector.rerank = 100000;
CREATE INDEX t_q ON t USING ruivfflat (val ruvector_l2_ops) WITH (lists = 10, quantization = 'sq8');
SET enable_seqscan = off;
EXPLAIN (COSTS OFF) SELECT id FROM t ORDER BY val <-> '[1,1,1,1,1,1,1,1]' LIMIT 5;
RESET enable_seqscan;
SELECT mismatches('<->', 20, 150);
DROP INDEX t_q;
CREATE INDEX t_q ON t USING ruivfflat (val ruvector_ip_ops) WITH (lists = 10, quantization = 'sq8');
SELECT mismatches('<#>', 20, 150);
DROP INDEX t_q;
CREATE INDEX t_q ON t USING ruivfflat (val ruvector_cosine_ops) WITH (lists = 10, quantization = 'sq8');
SELECT mismatches('<=>', 20, 150);
DROP INDEX t_q;
CREATE INDEX t_q ON t USING ruivfflat (val ruvector_l2_ops) WITH (lists = 10, quantization = 'pq4');
SELECT mismatches('<->', 20, 150);
DROP INDEX t_q;
CREATE INDEX t_q ON t USING ruivfflat (val ruvector_cosine_ops) WITH (lists = 10, quantization = 'pq2');
SELECT mismatches('<=>', 20, 150);
DROP INDEX t_q;
CREATE INDEX t_q ON t USING ruivfflat (val ruvector_ip_ops) WITH (lists = 10, quantization = 'binary');
SELECT mismatches('<#>', 20, 150);
DROP INDEX t_q;
CREATE INDEX t_q ON t USING ruivfflat (val ruvector_l2_ops) WITH (lists = 10, quantization = 'binary');
SELECT mismatches('<->', 20, 150);

-- re-ranking a few candidates at a time loses no row, and each batch is in exact order: the
-- nearest row (the query row itself) comes first
SET ruvector.rerank = 3;
SET enable_seqscan = off;
SELECT count(*) FROM (SELECT id FROM t ORDER BY val <-> '[0,0,0,0,0,0,0,0]') s;
SELECT id FROM t ORDER BY val <-> (SELECT val FROM t WHERE id = 77) LIMIT 1;
RESET enable_seqscan;
SET ruvector.rerank = 100000;

-- inserts after the build are encoded with the same codebook; DELETE + VACUUM
INSERT INTO t SELECT i, ARRAY[cos(i), sin(i * 1.3), cos(i * 0.7), sin(i * 0.3),
    cos(i * 2.1), sin(i * 0.11), cos(i * 0.05), sin(i * 3.7)]::ruvector
  FROM generate_series(3002, 3600) i;
SELECT mismatches('<->', 20, 150);
DELETE FROM t WHERE id % 3 = 0;
VACUUM t;
SELECT mismatches('<->', 20, 150);

-- rows deleted by an uncommitted transaction are still visible to other snapshots; rows it
-- inserted are not: re-ranking reads the table with the scan's snapshot
BEGIN;
DELETE FROM t WHERE id % 3 = 1;
SET LOCAL enable_seqscan = off;
SELECT count(*) FROM (SELECT id FROM t ORDER BY val <-> '[0,0,0,0,0,0,0,0]') s;
SELECT count(*) = 0 AS none_deleted_returned FROM (SELECT id FROM t ORDER BY val <-> '[0,0,0,0,0,0,0,0]') s WHERE id % 3 = 1;
ROLLBACK;
SELECT mismatches('<->', 20, 150);

-- statistics
SELECT s->>'quantization' AS quantization, s->>'code_bytes' AS code_bytes,
       s->>'format_version' AS format_version, (s->>'codebook_bytes')::int > 0 AS has_codebook
  FROM ruvector_index_stats('t_q') s;
DROP INDEX t_q;

-- an expression index re-ranks by the expression's value
CREATE INDEX t_e ON t USING ruivfflat (((val + val)::ruvector(8)) ruvector_l2_ops) WITH (lists = 4, quantization = 'sq8');
SET enable_seqscan = off;
SELECT array_agg(id) = (SELECT array_agg(id) FROM (SELECT id FROM t ORDER BY (val + val)::ruvector(8) <-> '[1,0,1,0,1,0,1,0]', id LIMIT 10) e) AS same
  FROM (SELECT id FROM t ORDER BY (val + val)::ruvector(8) <-> '[1,0,1,0,1,0,1,0]' LIMIT 10) i;
RESET enable_seqscan;
DROP INDEX t_e;

-- halfvec columns
CREATE TABLE h AS SELECT id, val::halfvec(8) AS val FROM t;
CREATE INDEX h_q ON h USING ruivfflat (val halfvec_cosine_ops) WITH (lists = 5, quantization = 'sq8');
SET enable_seqscan = off;
SELECT array_agg(id) AS by_index FROM (SELECT id FROM h ORDER BY val <=> '[1,2,3,4,5,6,7,8]' LIMIT 5) s;
RESET enable_seqscan;
SET enable_indexscan = off;
SELECT array_agg(id) AS exact FROM (SELECT id FROM h ORDER BY val <=> '[1,2,3,4,5,6,7,8]' LIMIT 5) s;
RESET enable_indexscan;
DROP TABLE h;

-- UNLOGGED: the init fork holds a codebook for unit-scale data
CREATE UNLOGGED TABLE u (id int, val ruvector(4));
CREATE INDEX u_q ON u USING ruivfflat (val) WITH (lists = 2, quantization = 'sq8');
INSERT INTO u VALUES (1, '[0.1,0.2,0.3,0.4]'), (2, '[0.4,0.3,0.2,0.1]'), (3, '[0,0,0,1]');
SET enable_seqscan = off;
SET ruvector.probes = 2;
SELECT id FROM u ORDER BY val <-> '[0.4,0.3,0.2,0.2]';
RESET enable_seqscan;
DROP TABLE u;

DROP TABLE t;

-- ruhnsw: the same guarantees (every candidate re-ranked: exact order of the candidates the
-- graph search finds; with ef_search above the table size, the sequential scan's answers)
CREATE TABLE t (id int, val ruvector(8));
INSERT INTO t SELECT i, ARRAY[sin(i), cos(i * 1.3), sin(i * 0.7), cos(i * 0.3) + 0.5,
    sin(i * 2.1) * 2, cos(i * 0.11), sin(i * 0.05) - 1, cos(i * 3.7)]::ruvector
  FROM generate_series(1, 800) i;
SET ruvector.ef_search = 1000;
CREATE INDEX t_h ON t USING ruhnsw (val ruvector_l2_ops) WITH (quantization = 'sq8');
SELECT mismatches('<->', 20, 80);
DROP INDEX t_h;
CREATE INDEX t_h ON t USING ruhnsw (val ruvector_cosine_ops) WITH (quantization = 'pq4');
SELECT mismatches('<=>', 20, 80);
DROP INDEX t_h;
CREATE INDEX t_h ON t USING ruhnsw (val ruvector_ip_ops) WITH (quantization = 'binary');
SELECT mismatches('<#>', 20, 80);
DROP INDEX t_h;
CREATE INDEX t_h ON t USING ruhnsw (val ruvector_l1_ops) WITH (quantization = 'sq8');
SELECT mismatches('<+>', 20, 80);
-- inserts (on-disk insert path: codes, neighbours chosen on decoded vectors), DELETE + VACUUM
INSERT INTO t SELECT i, ARRAY[cos(i), sin(i * 1.3), cos(i * 0.7), sin(i * 0.3),
    cos(i * 2.1), sin(i * 0.11), cos(i * 0.05), sin(i * 3.7)]::ruvector
  FROM generate_series(801, 1000) i;
SELECT mismatches('<+>', 20, 80);
DELETE FROM t WHERE id % 3 = 0;
VACUUM t;
SELECT mismatches('<+>', 20, 80);
SELECT s->>'quantization' AS quantization, s->>'code_bytes' AS code_bytes,
       s->>'format_version' AS format_version
  FROM ruvector_index_stats('t_h') s;
DROP INDEX t_h;
-- dimensions: a quantized element holds a code, which may be split over code pages
CREATE TABLE wide (val ruvector(16000));
CREATE INDEX ON wide USING ruhnsw (val ruvector_l2_ops) WITH (quantization = 'binary');
CREATE INDEX ON wide USING ruhnsw (val ruvector_l2_ops) WITH (quantization = 'pq1000');
CREATE INDEX ON wide USING ruhnsw (val ruvector_l2_ops) WITH (quantization = 'sq8');
-- and unquantized, the image is split over code pages (8 at 16,000 dimensions)
CREATE INDEX ON wide USING ruhnsw (val ruvector_l2_ops);
-- ruivfflat: full-precision centres (and rows) longer than a page are stored in parts
CREATE INDEX wide_ivf ON wide USING ruivfflat (val ruvector_l2_ops) WITH (lists = 3);
CREATE INDEX wide_ivf_sq8 ON wide USING ruivfflat (val ruvector_l2_ops)
  WITH (lists = 3, quantization = 'sq8');
SELECT s->>'format_version' AS format_version, s->>'centres_in_parts' AS centres_in_parts,
       s->>'data_tuples_in_parts' AS rows_in_parts
  FROM ruvector_index_stats('wide_ivf_sq8') s;
DROP TABLE wide;
CREATE TABLE s (val sparsevec(8));
CREATE INDEX ON s USING ruhnsw (val sparsevec_l2_ops) WITH (quantization = 'sq8');
DROP TABLE s;
-- UNLOGGED
CREATE UNLOGGED TABLE u (id int, val ruvector(4));
CREATE INDEX u_h ON u USING ruhnsw (val ruvector_l2_ops) WITH (quantization = 'sq8');
INSERT INTO u VALUES (1, '[0.1,0.2,0.3,0.4]'), (2, '[0.4,0.3,0.2,0.1]'), (3, '[0,0,0,1]');
SET enable_seqscan = off;
SELECT id FROM u ORDER BY val <-> '[0.4,0.3,0.2,0.2]';
RESET enable_seqscan;
DROP TABLE u;
DROP TABLE t;
-- codes longer than a page (sq8 above 8,074 dimensions) are split over code pages: exact
-- answers after the build, after inserts (new code pages) and after inserts into the slots
-- VACUUM freed (the deleted elements' code pages overwritten)
CREATE TABLE t (id int, val ruvector(9000));
CREATE FUNCTION big_rows(first int, last int) RETURNS TABLE (id int, val ruvector)
  LANGUAGE sql AS $$
  SELECT i, (SELECT array_agg(sin(i * 0.37 + j * 0.011) * cos(j * 0.003 * (i % 7)))
               FROM generate_series(1, 9000) j)::ruvector
    FROM generate_series(first, last) i $$;
INSERT INTO t SELECT * FROM big_rows(1, 200);
CREATE INDEX t_h ON t USING ruhnsw (val ruvector_l2_ops) WITH (quantization = 'sq8');
SELECT s->>'code_parts' AS code_parts, s->>'value_bytes_per_vector' AS code_bytes
  FROM ruvector_index_stats('t_h') s;
SELECT mismatches('<->', 10, 10);
INSERT INTO t SELECT * FROM big_rows(201, 260);
SELECT mismatches('<->', 10, 10);
DELETE FROM t WHERE id % 4 = 0;
VACUUM t;
SELECT pg_relation_size('t_h') / 8192 AS pages_before \gset
INSERT INTO t SELECT * FROM big_rows(261, 300);
SELECT mismatches('<->', 10, 10);
-- most of the 40 rows went into freed slots rather than 2 new code pages each
SELECT pg_relation_size('t_h') / 8192 - :pages_before < 40 AS slots_reused;
DROP INDEX t_h;
-- full precision: unquantized, a 9,000-dimension image (36,008 bytes) is split over 5 code
-- pages the same way (format version 4); an insert into a freed slot overwrites its 5 parts
-- over two WAL records (one holds at most 4 pages)
CREATE INDEX t_f ON t USING ruhnsw (val ruvector_l2_ops);
SELECT s->>'format_version' AS format_version, s->>'quantization' AS quantization,
       s->>'code_parts' AS code_parts, s->>'value_bytes_per_vector' AS value_bytes
  FROM ruvector_index_stats('t_f') s;
SELECT mismatches('<->', 10, 10);
DELETE FROM t WHERE id % 5 = 0;
VACUUM t;
SELECT pg_relation_size('t_f') / 8192 AS pages_before \gset
INSERT INTO t SELECT * FROM big_rows(301, 330);
SELECT mismatches('<->', 10, 10);
-- most of the 30 rows went into freed slots rather than 5 new code pages each
SELECT pg_relation_size('t_f') / 8192 - :pages_before < 30 AS slots_reused;
SELECT r->>'ok' AS ok, (r->'checked'->>'code_parts')::int % 5 = 0 AS five_parts_each,
       r->'heapallindexed'->>'missing' AS missing
  FROM ruvector_index_check('t_f', true) r;
DROP INDEX t_f;
-- ruivfflat at full precision: centres (36,008 bytes) and rows (36,016) are stored as part
-- items (format version 4); with every list probed the index is exact after the build and
-- after inserts into the space VACUUM freed
SET ruvector.probes = 4;
CREATE INDEX t_i ON t USING ruivfflat (val ruvector_l2_ops) WITH (lists = 4);
SELECT s->>'format_version' AS format_version, s->>'tuples' AS tuples,
       s->>'data_tuples_in_parts' AS rows_in_parts, s->>'centres_in_parts' AS centres_in_parts
  FROM ruvector_index_stats('t_i') s;
SELECT mismatches('<->', 10, 10);
DELETE FROM t WHERE id % 3 = 0;
VACUUM t;
SELECT pg_relation_size('t_i') / 8192 AS pages_before \gset
INSERT INTO t SELECT * FROM big_rows(331, 360);
SELECT mismatches('<->', 10, 10);
-- the 30 rows (5 pages each) went into the space VACUUM freed rather than new pages
SELECT pg_relation_size('t_i') / 8192 - :pages_before < 30 AS space_reused;
SELECT r->>'ok' AS ok, r->'checked'->>'unjoined_parts' AS unjoined_parts,
       r->'heapallindexed'->>'missing' AS missing
  FROM ruvector_index_check('t_i', true) r;
RESET ruvector.probes;
DROP TABLE t;
DROP FUNCTION big_rows;
DROP FUNCTION mismatches;
-- ruvector_memory_stats(): the codebooks this backend cached and what open scans hold
CREATE TABLE ms (id int, val ruvector(8));
INSERT INTO ms SELECT i, ARRAY[cos(i), sin(i * 1.3), cos(i * 0.7), sin(i * 0.3),
    cos(i * 2.1), sin(i * 0.11), cos(i * 0.05), sin(i * 3.7)]::ruvector
  FROM generate_series(1, 1000) i;
CREATE INDEX ms_sq8 ON ms USING ruhnsw (val ruvector_l2_ops) WITH (quantization = 'sq8');
CREATE INDEX ms_pq ON ms USING ruivfflat (val ruvector_cosine_ops)
  WITH (lists = 4, quantization = 'pq4');
SET enable_seqscan = off;
-- while a scan is open (the LIMIT has its row, the scan ends with the query)
SELECT (m->'scans'->>'open')::int AS open, (m->'scans'->>'bytes')::int > 0 AS holds_memory
  FROM (SELECT ruvector_memory_stats() AS m
          FROM (SELECT id FROM ms ORDER BY val <-> '[1,0,0,0,0,0,0,0]' LIMIT 1) q) x;
SELECT id FROM ms ORDER BY val <=> '[1,0,0,0,0,0,0,0]' LIMIT 1;
-- after: nothing open, nothing held, the peak remembered; sq8 keeps 2 × 8 floats, pq4 256 × 8
SELECT m->'scans'->>'open' AS open, m->'scans'->>'bytes' AS bytes,
       (m->'scans'->>'peak_bytes')::int > 0 AS peak, m->'codebooks'->>'capacity' AS capacity
  FROM ruvector_memory_stats() m;
SELECT e->>'index' AS index, e->>'quantization' AS quantization,
       e->>'dimensions' AS dimensions, e->>'bytes' AS bytes
  FROM jsonb_array_elements(ruvector_memory_stats()->'codebooks'->'cached') e
 WHERE e->>'index' LIKE 'ms_%' ORDER BY 1;
-- REINDEX: the new build's codebook replaces the old one in the cache
REINDEX INDEX ms_sq8;
SELECT id FROM ms ORDER BY val <-> '[1,0,0,0,0,0,0,0]' LIMIT 1;
SELECT count(*) AS ms_sq8_entries
  FROM jsonb_array_elements(ruvector_memory_stats()->'codebooks'->'cached') e
 WHERE e->>'index' = 'ms_sq8';
RESET enable_seqscan;
DROP TABLE ms;
