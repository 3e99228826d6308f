-- ruvector 0.2.0 -> 0.3.0 (ALTER EXTENSION ruvector UPDATE TO '0.3.0')
--
-- 0.3.0 connects pgvector's types to ruvector's (src/migrate/casts.rs): binary-coercible casts
-- vector <-> ruvector, halfvec <-> halfvec, sparsevec <-> sparsevec (IMPLICIT towards ruvector,
-- ASSIGNMENT back) and vector -> halfvec/sparsevec, halfvec -> sparsevec into ruvector's types,
-- kept in step with pgvector by two event triggers. The objects below are those a fresh 0.3.0
-- install creates after 0.2.0's (server-tests/tests/extension_update.rs compares the two).
\echo Use "ALTER EXTENSION ruvector UPDATE TO '0.3.0'" to load this file. \quit

CREATE FUNCTION ruvector_pgvector_casts() RETURNS TABLE (
    "source" TEXT,
    "target" TEXT,
    "context" TEXT,
    "method" TEXT,
    "created" bool
)
STRICT VOLATILE PARALLEL UNSAFE
LANGUAGE c
AS 'MODULE_PATHNAME', 'ruvector_pgvector_casts_wrapper';

CREATE FUNCTION ruvector_pgvector_created() RETURNS event_trigger
    AS 'MODULE_PATHNAME', 'ruvector_pgvector_created' LANGUAGE C;
CREATE FUNCTION ruvector_pgvector_dropping() RETURNS event_trigger
    AS 'MODULE_PATHNAME', 'ruvector_pgvector_dropping' LANGUAGE C;

CREATE EVENT TRIGGER ruvector_pgvector_created ON ddl_command_end
    WHEN TAG IN ('CREATE EXTENSION')
    EXECUTE FUNCTION ruvector_pgvector_created();

CREATE EVENT TRIGGER ruvector_pgvector_dropping ON ddl_command_start
    WHEN TAG IN ('DROP EXTENSION', 'DROP SCHEMA')
    EXECUTE FUNCTION ruvector_pgvector_dropping();

DO $$
BEGIN
    IF EXISTS (SELECT FROM pg_catalog.pg_extension WHERE extname = 'vector') THEN
        PERFORM ruvector_pgvector_casts();
    END IF;
END
$$;
