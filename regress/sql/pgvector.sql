-- pgvector beside ruvector: casts between their types (src/migrate/casts.rs), made when either
-- extension arrives second and removed before pgvector goes; pgvector-typed parameters against
-- ruvector columns, through ruvector's indexes; pgvector's own queries unchanged.
-- (pgvector is installed into every tested major by scripts/setup.sh --pgvector.)

-- ruvector is in public here, so pgvector (whose halfvec/sparsevec would clash) goes to pgv
SELECT ruvector_pgvector_casts();
CREATE SCHEMA pgv;
CREATE EXTENSION vector SCHEMA pgv;

-- the types are physically identical, which WITHOUT FUNCTION casts need
SELECT r.typname, r.typlen = p.typlen AND r.typbyval = p.typbyval AND r.typalign = p.typalign
       AND r.typstorage = p.typstorage AS same_layout
FROM pg_type r JOIN pg_type p ON p.typname = replace(r.typname, 'ruvector', 'vector')
WHERE r.typnamespace = 'public'::regnamespace AND p.typnamespace = 'pgv'::regnamespace
  AND r.typname IN ('ruvector', 'halfvec', 'sparsevec') ORDER BY 1;

-- the event trigger made the casts when pgvector arrived
SELECT * FROM ruvector_pgvector_casts();
CREATE TEMP VIEW bridge_casts AS
SELECT castsource::regtype, casttarget::regtype FROM pg_cast c
JOIN pg_depend d ON d.classid = 'pg_cast'::regclass AND d.objid = c.oid AND d.deptype = 'e'
 AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'ruvector')
WHERE castsource::regtype::text LIKE 'pgv.%' OR casttarget::regtype::text LIKE 'pgv.%';
SELECT castsource::regtype, casttarget::regtype, castcontext, castmethod,
       pg_describe_object(refclassid, refobjid, 0) AS member_of
FROM pg_cast c JOIN pg_depend d ON d.classid = 'pg_cast'::regclass AND d.objid = c.oid AND d.deptype = 'e'
WHERE castsource::regtype::text LIKE 'pgv.%' OR casttarget::regtype::text LIKE 'pgv.%'
ORDER BY 1::text, 2::text;

-- conversions copy the bytes: same text, same binary send format, same values
SELECT '[1,-2.5,3e-7,1.5e+38]'::pgv.vector::ruvector, '[1,-2.5]'::ruvector::pgv.vector,
       '[1.5,-0.25,65504]'::pgv.halfvec::halfvec, '[1.5,-0.25]'::halfvec::pgv.halfvec,
       '{1:1.5,7:-2}/9'::pgv.sparsevec::sparsevec, '{2:3}/4'::sparsevec::pgv.sparsevec;
SELECT ruvector_send(v::ruvector) = pgv.vector_send(v) AS vector_bytes,
       halfvec_send(v::pgv.halfvec::halfvec) = pgv.halfvec_send(v::pgv.halfvec) AS halfvec_bytes,
       sparsevec_send(v::pgv.sparsevec::sparsevec) = pgv.sparsevec_send(v::pgv.sparsevec) AS sparsevec_bytes
FROM (SELECT ('[' || string_agg(((i * 7919) % 2001 - 1000)::real / 37 || '', ',') || ']')::pgv.vector AS v
      FROM generate_series(1, 3000) i) s;
-- a 16,000-d value (stored out of line) round-trips through a table
CREATE TABLE pgv_big (v pgv.vector(16000));
INSERT INTO pgv_big SELECT array_fill(0.5::real, ARRAY[16000])::pgv.vector;
SELECT vector_dims(v::ruvector), l2_distance(v::ruvector, array_fill(0.5::real, ARRAY[16000])::ruvector),
       pg_column_size(v::ruvector) = pg_column_size(v) AS same_size FROM pgv_big;
DROP TABLE pgv_big;
-- typmods still apply
SELECT '[1,2,3]'::pgv.vector::ruvector(2);
SELECT '[1,2,3]'::ruvector::pgv.vector(2);
SELECT '{1:1}/3'::pgv.sparsevec::sparsevec(2);
-- the function casts: pgvector's vector into ruvector's halfvec and sparsevec
SELECT '[1,0,70000]'::pgv.vector::halfvec;
SELECT '[1,0,3]'::pgv.vector::sparsevec(3), '[0,1.5]'::pgv.halfvec::sparsevec;

-- a pgvector-typed parameter (what pgvector's client adapters send) against ruvector columns,
-- through ruvector's indexes
CREATE TABLE items (id int PRIMARY KEY, e ruvector(3), h halfvec(3), s sparsevec(3));
INSERT INTO items SELECT i, ARRAY[i % 7, i % 11, i % 13], ARRAY[i % 7, i % 11, i % 13],
                         ARRAY[i % 7, i % 11, i % 13] FROM generate_series(1, 500) i;
CREATE INDEX ON items USING ruhnsw (e ruvector_l2_ops);
CREATE INDEX ON items USING ruhnsw (h halfvec_l2_ops);
CREATE INDEX ON items USING ruhnsw (s sparsevec_l2_ops);
-- an assignment from pgvector's type, and back
INSERT INTO items VALUES (501, '[1,2,3]'::pgv.vector, '[1,2,3]'::pgv.halfvec, '{1:1,2:2,3:3}/3'::pgv.sparsevec);
CREATE TABLE pgv_items (id int, e pgv.vector(3));
INSERT INTO pgv_items SELECT id, e FROM items WHERE id > 495;
SELECT id, e FROM pgv_items ORDER BY id;
-- (distances, not ids: several rows tie; the same statements with a sequential scan agree)
PREPARE q_e(pgv.vector) AS SELECT round((e <-> $1)::numeric, 4) FROM items ORDER BY e <-> $1 LIMIT 6;
PREPARE q_h(pgv.vector) AS SELECT round((h <-> $1)::numeric, 4) FROM items ORDER BY h <-> $1 LIMIT 6;
PREPARE q_h2(pgv.halfvec) AS SELECT round((h <-> $1)::numeric, 4) FROM items ORDER BY h <-> $1 LIMIT 6;
PREPARE q_s(pgv.vector) AS SELECT round((s <-> $1)::numeric, 4) FROM items ORDER BY s <-> $1 LIMIT 6;
SET enable_seqscan = off;
EXPLAIN (COSTS OFF) EXECUTE q_e('[1,2,3]');
EXPLAIN (COSTS OFF) EXECUTE q_h('[1,2,3]');
EXPLAIN (COSTS OFF) EXECUTE q_h2('[1,2,3]');
EXPLAIN (COSTS OFF) EXECUTE q_s('[1,2,3]');
EXECUTE q_e('[1,2,3]');
EXECUTE q_h('[1,2.5,3]');
EXECUTE q_h2('[1,2.5,3]');
EXECUTE q_s('[1,2,3]');
SET enable_seqscan = on;
SET enable_indexscan = off;
EXECUTE q_e('[1,2,3]');
EXECUTE q_h('[1,2.5,3]');
EXECUTE q_h2('[1,2.5,3]');
EXECUTE q_s('[1,2,3]');
RESET enable_indexscan;
SET enable_seqscan = off;
SELECT id, e <-> '[1,2,3]'::pgv.vector AS l2, e <=> '[1,2,3]'::pgv.vector AS cos,
       e <#> '[1,2,3]'::pgv.vector AS ip, e <+> '[1,2,3]'::pgv.vector AS l1
FROM items WHERE id = 501;
-- pgvector's queries on its own columns keep pgvector's operators and index
CREATE INDEX ON pgv_items USING hnsw (e pgv.vector_l2_ops);
EXPLAIN (COSTS OFF) SELECT id FROM pgv_items ORDER BY e OPERATOR(pgv.<->) '[1,2,3]' LIMIT 1;
SET search_path = public, pgv;
EXPLAIN (COSTS OFF) SELECT id FROM pgv_items ORDER BY e <-> '[1,2,3]' LIMIT 1;
EXPLAIN (COSTS OFF) SELECT id FROM pgv_items ORDER BY e <-> '[1,2,3]'::pgv.vector LIMIT 1;
EXPLAIN (COSTS OFF) SELECT id FROM items ORDER BY e <-> '[1,2,3]'::pgv.vector LIMIT 1;
SELECT pg_typeof(e + e), pg_typeof(avg(e)) FROM pgv_items GROUP BY 1;
RESET search_path;
RESET enable_seqscan;

-- the assessment: every pgvector column, index and setting, with the statement replacing it
CREATE TABLE plan_docs (id int, e pgv.vector(3), h pgv.halfvec(3), s pgv.sparsevec(5), arr pgv.vector[], cat int);
INSERT INTO plan_docs SELECT i, ARRAY[i, 1, 2], ARRAY[i, 1, 2], ARRAY[i, 0, 0, 0, 1], NULL, i % 3
FROM generate_series(1, 100) i;
ANALYZE plan_docs;
CREATE INDEX plan_hnsw ON plan_docs USING hnsw (e pgv.vector_cosine_ops) WITH (m = 8, ef_construction = 32);
CREATE INDEX plan_ivf ON plan_docs USING ivfflat (h pgv.halfvec_l2_ops) WITH (lists = 10) WHERE cat = 1;
CREATE INDEX plan_bq ON plan_docs USING hnsw ((pgv.binary_quantize(e)::bit(3)) pgv.bit_hamming_ops);
CREATE INDEX plan_sparse ON plan_docs USING hnsw (s pgv.sparsevec_l1_ops);
CREATE INDEX plan_btree ON plan_docs (e);
CREATE INDEX plan_multi ON plan_docs (cat, e);
CREATE TABLE plan_parted (id int, e pgv.vector(2)) PARTITION BY RANGE (id);
CREATE TABLE plan_parted_1 PARTITION OF plan_parted FOR VALUES FROM (0) TO (100);
CREATE INDEX plan_parted_idx ON plan_parted USING hnsw (e pgv.vector_l2_ops);
CREATE MATERIALIZED VIEW plan_mv AS SELECT id, e FROM plan_docs;
ALTER DATABASE ruvector_regression SET hnsw.ef_search = 100;
ALTER ROLE postgres IN DATABASE ruvector_regression SET ivfflat.probes = 10;
\x on
SELECT * FROM ruvector_migration_plan() WHERE coalesce(table_name, '') <> 'pgv_items';
\x off
-- its statements run: old indexes dropped, columns converted, new indexes built
CREATE TEMP TABLE plan AS SELECT * FROM ruvector_migration_plan();
DROP MATERIALIZED VIEW plan_mv;
ALTER TABLE plan_docs DROP COLUMN arr;
DO $$
DECLARE r record;
BEGIN
    FOR r IN SELECT * FROM plan WHERE kind = 'index' AND table_name LIKE 'plan%' AND migratable LOOP
        EXECUTE format('DROP INDEX %I.%I', r.schema_name, r.index_name);
    END LOOP;
    FOR r IN SELECT * FROM plan WHERE kind = 'column' AND table_name LIKE 'plan%' AND migratable LOOP
        EXECUTE r.ruvector_ddl;
    END LOOP;
    FOR r IN SELECT * FROM plan WHERE kind IN ('index', 'setting') AND coalesce(table_name, 'plan') LIKE 'plan%'
                                  AND migratable LOOP
        EXECUTE r.ruvector_ddl;
    END LOOP;
END
$$;
SELECT c.relname, am.amname, i.indisvalid, pg_get_indexdef(i.indexrelid) LIKE '%pgv.%' AS uses_pgvector
FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am am ON am.oid = c.relam
WHERE c.relname LIKE 'plan%' ORDER BY 1;
SELECT attrelid::regclass, attname, format_type(atttypid, atttypmod) FROM pg_attribute
WHERE attrelid IN ('plan_docs'::regclass, 'plan_parted'::regclass, 'plan_parted_1'::regclass)
  AND attname IN ('e', 'h', 's') ORDER BY 1, 2;
SELECT setdatabase <> 0 AS db, setrole <> 0 AS role,
       array(SELECT c FROM unnest(setconfig) c WHERE c ~ '^(hnsw|ivfflat|ruvector)\.') AS settings
FROM pg_db_role_setting
WHERE setdatabase = (SELECT oid FROM pg_database WHERE datname = current_database()) ORDER BY 2;
SET enable_seqscan = off;
SELECT id FROM plan_docs ORDER BY e <=> '[50,1,2]' LIMIT 1;
RESET enable_seqscan;
ALTER DATABASE ruvector_regression RESET hnsw.ef_search;
ALTER DATABASE ruvector_regression RESET ruvector.ef_search;
ALTER ROLE postgres IN DATABASE ruvector_regression RESET ALL;
DROP TABLE plan_docs, plan_parted;

-- DROP EXTENSION vector takes the casts with it, and leaves ruvector and its data alone
DROP EXTENSION vector;
DROP TABLE pgv_items;
DROP EXTENSION vector;
SELECT count(*) AS pgvector_casts FROM pg_cast
WHERE castsource NOT IN (SELECT oid FROM pg_type WHERE typnamespace IN ('pg_catalog'::regnamespace, 'public'::regnamespace))
   OR casttarget NOT IN (SELECT oid FROM pg_type WHERE typnamespace IN ('pg_catalog'::regnamespace, 'public'::regnamespace));
SELECT count(*) FROM bridge_casts;
SELECT count(*), extname FROM items, pg_extension WHERE extname = 'ruvector' GROUP BY 2;
SELECT ruvector_pgvector_casts();

-- only ruvector's owner may call ruvector_pgvector_casts() (it creates casts as a superuser)
CREATE ROLE pgv_user;
SET ROLE pgv_user;
SELECT ruvector_pgvector_casts();
RESET ROLE;
DROP ROLE pgv_user;
-- ruvector created after pgvector makes them in its own script
CREATE EXTENSION vector SCHEMA pgv;
DROP TABLE items;
DROP VIEW bridge_casts;
DROP EXTENSION ruvector;
CREATE EXTENSION ruvector;
CREATE TEMP VIEW bridge_casts AS
SELECT castsource::regtype, casttarget::regtype FROM pg_cast c
JOIN pg_depend d ON d.classid = 'pg_cast'::regclass AND d.objid = c.oid AND d.deptype = 'e'
 AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'ruvector')
WHERE castsource::regtype::text LIKE 'pgv.%' OR casttarget::regtype::text LIKE 'pgv.%';
SELECT count(*) AS casts_made FROM bridge_casts;
-- a DROP that fails or is rolled back keeps them (the trigger's work is in the same transaction)
DROP SCHEMA pgv;
BEGIN;
DROP EXTENSION vector;
ROLLBACK;
SELECT count(*) AS casts_kept FROM bridge_casts;
-- DROP SCHEMA ... CASCADE of pgvector's schema takes the casts, not ruvector
CREATE TABLE items (id int, e ruvector(3), p pgv.vector(3));
INSERT INTO items SELECT i, ARRAY[i, 1, 2], ARRAY[i, 1, 2] FROM generate_series(1, 10) i;
DROP SCHEMA pgv CASCADE;
SELECT count(*), count(e) FROM items;
SELECT count(*) FROM bridge_casts;
SELECT count(*) AS binary_casts FROM pg_cast WHERE castmethod = 'b' AND castsource >= 16384;
DROP TABLE items;
DROP VIEW bridge_casts;
