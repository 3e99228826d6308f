-- ruvector 0.3.0 -> 0.4.0 (ALTER EXTENSION ruvector UPDATE TO '0.4.0')
--
-- 0.4.0 makes ruvector a preferred type (below), adds key columns to ruhnsw and ruivfflat
-- indexes (filtered search inside the index: the operator classes below),
-- ruvector_index_check() and ruvector_index_maintenance() — the same objects a fresh 0.4.0
-- install creates
-- (server-tests/tests/extension_update.rs compares the two). Existing indexes keep their format
-- versions 1 and 2; indexes with key columns are written in format version 3.
\echo Use "ALTER EXTENSION ruvector UPDATE TO '0.4.0'" to load this file. \quit

-- ruvector becomes its category's preferred type, as CREATE TYPE makes it in a fresh 0.4.0
-- install (see sql/finalize.sql): an untyped literal given to a function that pgvector and
-- ruvector both define (`vector_norm('[1,1]')` with both on the search_path) resolves instead
-- of failing as ambiguous. ALTER TYPE cannot change this property; the script runs as the
-- bootstrap superuser (the extension is trusted), like CREATE TYPE itself.
-- Every operator is pg_catalog's, named (the script runs with the extension's schema on the
-- search_path, where another user may have planted shadowing ones).
UPDATE pg_catalog.pg_type SET typispreferred = true
    WHERE typname OPERATOR(pg_catalog.=) 'ruvector'::pg_catalog.name
      AND typnamespace OPERATOR(pg_catalog.=) '@extschema@'::pg_catalog.regnamespace::pg_catalog.oid;

-- ============================================================================================
-- Key columns of ruhnsw indexes: `USING ruhnsw (embedding ruvector_cosine_ops, tenant_id,
-- category)`. Their operator classes list btree's comparison operators under btree's strategy
-- numbers (1 <, 2 <=, 3 =, 4 >=, 5 >), so that the planner hands WHERE clauses on these columns
-- to the index as scan keys, checked inside the index during the search (src/am/keys.rs).
-- Integers form one family with every cross-type operator, as btree's integer_ops does, so
-- `int8_column = 5` (an int4 constant) is a scan key too. Text and uuid have equality only.
-- ============================================================================================

CREATE OPERATOR FAMILY integer_ops USING ruhnsw;

CREATE OPERATOR CLASS int2_ops
    DEFAULT FOR TYPE int2 USING ruhnsw FAMILY integer_ops AS
    OPERATOR 1 pg_catalog.<,
    OPERATOR 2 pg_catalog.<=,
    OPERATOR 3 pg_catalog.=,
    OPERATOR 4 pg_catalog.>=,
    OPERATOR 5 pg_catalog.>;

CREATE OPERATOR CLASS int4_ops
    DEFAULT FOR TYPE int4 USING ruhnsw FAMILY integer_ops AS
    OPERATOR 1 pg_catalog.<,
    OPERATOR 2 pg_catalog.<=,
    OPERATOR 3 pg_catalog.=,
    OPERATOR 4 pg_catalog.>=,
    OPERATOR 5 pg_catalog.>;

CREATE OPERATOR CLASS int8_ops
    DEFAULT FOR TYPE int8 USING ruhnsw FAMILY integer_ops AS
    OPERATOR 1 pg_catalog.<,
    OPERATOR 2 pg_catalog.<=,
    OPERATOR 3 pg_catalog.=,
    OPERATOR 4 pg_catalog.>=,
    OPERATOR 5 pg_catalog.>;

ALTER OPERATOR FAMILY integer_ops USING ruhnsw ADD
    OPERATOR 1 pg_catalog.< (int2, int4),
    OPERATOR 2 pg_catalog.<= (int2, int4),
    OPERATOR 3 pg_catalog.= (int2, int4),
    OPERATOR 4 pg_catalog.>= (int2, int4),
    OPERATOR 5 pg_catalog.> (int2, int4),
    OPERATOR 1 pg_catalog.< (int2, int8),
    OPERATOR 2 pg_catalog.<= (int2, int8),
    OPERATOR 3 pg_catalog.= (int2, int8),
    OPERATOR 4 pg_catalog.>= (int2, int8),
    OPERATOR 5 pg_catalog.> (int2, int8),
    OPERATOR 1 pg_catalog.< (int4, int2),
    OPERATOR 2 pg_catalog.<= (int4, int2),
    OPERATOR 3 pg_catalog.= (int4, int2),
    OPERATOR 4 pg_catalog.>= (int4, int2),
    OPERATOR 5 pg_catalog.> (int4, int2),
    OPERATOR 1 pg_catalog.< (int4, int8),
    OPERATOR 2 pg_catalog.<= (int4, int8),
    OPERATOR 3 pg_catalog.= (int4, int8),
    OPERATOR 4 pg_catalog.>= (int4, int8),
    OPERATOR 5 pg_catalog.> (int4, int8),
    OPERATOR 1 pg_catalog.< (int8, int2),
    OPERATOR 2 pg_catalog.<= (int8, int2),
    OPERATOR 3 pg_catalog.= (int8, int2),
    OPERATOR 4 pg_catalog.>= (int8, int2),
    OPERATOR 5 pg_catalog.> (int8, int2),
    OPERATOR 1 pg_catalog.< (int8, int4),
    OPERATOR 2 pg_catalog.<= (int8, int4),
    OPERATOR 3 pg_catalog.= (int8, int4),
    OPERATOR 4 pg_catalog.>= (int8, int4),
    OPERATOR 5 pg_catalog.> (int8, int4);

CREATE OPERATOR CLASS text_ops
    DEFAULT FOR TYPE text USING ruhnsw AS
    OPERATOR 3 pg_catalog.=;

CREATE OPERATOR CLASS uuid_ops
    DEFAULT FOR TYPE uuid USING ruhnsw AS
    OPERATOR 3 pg_catalog.=;

-- The same operator classes for key columns of ruivfflat indexes (checked while the lists are
-- read).
CREATE OPERATOR FAMILY integer_ops USING ruivfflat;

CREATE OPERATOR CLASS int2_ops
    DEFAULT FOR TYPE int2 USING ruivfflat FAMILY integer_ops AS
    OPERATOR 1 pg_catalog.<,
    OPERATOR 2 pg_catalog.<=,
    OPERATOR 3 pg_catalog.=,
    OPERATOR 4 pg_catalog.>=,
    OPERATOR 5 pg_catalog.>;

CREATE OPERATOR CLASS int4_ops
    DEFAULT FOR TYPE int4 USING ruivfflat FAMILY integer_ops AS
    OPERATOR 1 pg_catalog.<,
    OPERATOR 2 pg_catalog.<=,
    OPERATOR 3 pg_catalog.=,
    OPERATOR 4 pg_catalog.>=,
    OPERATOR 5 pg_catalog.>;

CREATE OPERATOR CLASS int8_ops
    DEFAULT FOR TYPE int8 USING ruivfflat FAMILY integer_ops AS
    OPERATOR 1 pg_catalog.<,
    OPERATOR 2 pg_catalog.<=,
    OPERATOR 3 pg_catalog.=,
    OPERATOR 4 pg_catalog.>=,
    OPERATOR 5 pg_catalog.>;

ALTER OPERATOR FAMILY integer_ops USING ruivfflat ADD
    OPERATOR 1 pg_catalog.< (int2, int4),
    OPERATOR 2 pg_catalog.<= (int2, int4),
    OPERATOR 3 pg_catalog.= (int2, int4),
    OPERATOR 4 pg_catalog.>= (int2, int4),
    OPERATOR 5 pg_catalog.> (int2, int4),
    OPERATOR 1 pg_catalog.< (int2, int8),
    OPERATOR 2 pg_catalog.<= (int2, int8),
    OPERATOR 3 pg_catalog.= (int2, int8),
    OPERATOR 4 pg_catalog.>= (int2, int8),
    OPERATOR 5 pg_catalog.> (int2, int8),
    OPERATOR 1 pg_catalog.< (int4, int2),
    OPERATOR 2 pg_catalog.<= (int4, int2),
    OPERATOR 3 pg_catalog.= (int4, int2),
    OPERATOR 4 pg_catalog.>= (int4, int2),
    OPERATOR 5 pg_catalog.> (int4, int2),
    OPERATOR 1 pg_catalog.< (int4, int8),
    OPERATOR 2 pg_catalog.<= (int4, int8),
    OPERATOR 3 pg_catalog.= (int4, int8),
    OPERATOR 4 pg_catalog.>= (int4, int8),
    OPERATOR 5 pg_catalog.> (int4, int8),
    OPERATOR 1 pg_catalog.< (int8, int2),
    OPERATOR 2 pg_catalog.<= (int8, int2),
    OPERATOR 3 pg_catalog.= (int8, int2),
    OPERATOR 4 pg_catalog.>= (int8, int2),
    OPERATOR 5 pg_catalog.> (int8, int2),
    OPERATOR 1 pg_catalog.< (int8, int4),
    OPERATOR 2 pg_catalog.<= (int8, int4),
    OPERATOR 3 pg_catalog.= (int8, int4),
    OPERATOR 4 pg_catalog.>= (int8, int4),
    OPERATOR 5 pg_catalog.> (int8, int4);

CREATE OPERATOR CLASS text_ops
    DEFAULT FOR TYPE text USING ruivfflat AS
    OPERATOR 3 pg_catalog.=;

CREATE OPERATOR CLASS uuid_ops
    DEFAULT FOR TYPE uuid USING ruivfflat AS
    OPERATOR 3 pg_catalog.=;

-- ============================================================================================
-- Index health: ruvector_index_check(index, heapallindexed) checks a ruhnsw or ruivfflat
-- index's pages (src/am/check.rs), as a fresh 0.4.0 install defines it.
-- ============================================================================================

CREATE FUNCTION ruvector_index_check(
    "index" pg_catalog.regclass,
    "heapallindexed" pg_catalog.bool DEFAULT false
) RETURNS pg_catalog.jsonb
STRICT VOLATILE PARALLEL RESTRICTED
LANGUAGE c
AS 'MODULE_PATHNAME', 'ruvector_index_check_wrapper';

-- ruvector_index_maintenance(index): repairs what can be repaired in place while writers go on
-- (src/am/hnsw/maintain.rs, src/am/ivf/maintain.rs), as a fresh 0.4.0 install defines it.
CREATE FUNCTION ruvector_index_maintenance(
    "index" pg_catalog.regclass
) RETURNS pg_catalog.jsonb
STRICT VOLATILE PARALLEL UNSAFE
LANGUAGE c
AS 'MODULE_PATHNAME', 'ruvector_index_maintenance_wrapper';
