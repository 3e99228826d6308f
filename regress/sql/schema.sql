-- Coexistence: ruvector installs into any schema, works there without search_path, and refuses
-- a schema where another extension (pgvector) already owns halfvec/sparsevec/bit functions.

-- the regression database has ruvector in public; move it to its own schema
DROP EXTENSION ruvector;
CREATE SCHEMA rv;
CREATE EXTENSION ruvector SCHEMA rv;
SELECT extname, extnamespace::regnamespace, extrelocatable FROM pg_extension WHERE extname = 'ruvector';
SET search_path = public;
SELECT '[1,2]'::rv.ruvector OPERATOR(rv.<->) '[4,6]'::rv.ruvector;
SELECT rv.l2_distance('[1,2]'::rv.ruvector, '[4,6]'::rv.ruvector);
SELECT '{1:1}/2'::rv.sparsevec::rv.ruvector::rv.halfvec;
CREATE TABLE schema_t (v rv.ruvector(2));
INSERT INTO schema_t VALUES (ARRAY[1,2]), ('[3,4]');
SELECT rv.avg(v), rv.sum(v) FROM schema_t;
SELECT v FROM schema_t ORDER BY v OPERATOR(rv.<=>) '[1,1]'::rv.ruvector;
DROP TABLE schema_t;
-- every object the extension created is in schema rv (casts and access methods belong to no
-- schema)
SELECT classid::regclass AS catalog,
       array_agg(DISTINCT coalesce((pg_identify_object(classid, objid, 0)).schema, '-')) AS schemas
FROM pg_depend WHERE refclassid = 'pg_extension'::regclass
  AND refobjid = (SELECT oid FROM pg_extension WHERE extname = 'ruvector')
GROUP BY classid ORDER BY classid::regclass::text;
DROP EXTENSION ruvector;

-- a schema where the names are taken (as by pgvector) gets a clear error and a HINT
CREATE SCHEMA taken;
CREATE TYPE taken.halfvec AS (x int);
CREATE FUNCTION taken.hamming_distance(bit, bit) RETURNS float8 LANGUAGE sql AS 'SELECT 0::float8';
-- (the error's CONTEXT differs between majors: PostgreSQL 18 adds the script's statement)
\set SHOW_CONTEXT never
CREATE EXTENSION ruvector SCHEMA taken;
\set SHOW_CONTEXT errors
DROP SCHEMA taken CASCADE;
CREATE EXTENSION ruvector SCHEMA rv;
SELECT count(*) FROM pg_type WHERE typname = 'halfvec';
DROP EXTENSION ruvector;
DROP SCHEMA rv;

-- back to the default schema for the other suites
CREATE EXTENSION ruvector;
RESET search_path;
