-- ruvector install script, part 1 (runs before the generated function declarations).
--
-- pgvector also defines types `halfvec` and `sparsevec` and functions on `bit`. Two extensions
-- cannot own the same name in one schema, so if those names are taken in the target schema we
-- stop here with a clear error instead of PostgreSQL's bare "already exists".
DO $ruvector_preflight$
DECLARE
    taken text;
BEGIN
    SELECT string_agg(what, ', ' ORDER BY what) INTO taken
    FROM (
        SELECT format('type %s', t.typname) AS what
        FROM pg_catalog.pg_type t
        WHERE t.typnamespace = '@extschema@'::regnamespace
          AND t.typname IN ('ruvector', 'halfvec', 'sparsevec')
        UNION ALL
        SELECT format('function %s', p.oid::regprocedure)
        FROM pg_catalog.pg_proc p
        WHERE p.pronamespace = '@extschema@'::regnamespace
          AND p.proname IN ('hamming_distance', 'jaccard_distance')
          AND p.proargtypes = '1560 1560'::pg_catalog.oidvector
    ) clash;

    IF taken IS NOT NULL THEN
        RAISE EXCEPTION 'cannot install ruvector into schema %: % already exist there',
            '@extschema@', taken
            USING ERRCODE = 'duplicate_object',
                  HINT = 'Another extension (such as pgvector) owns these names in that schema. '
                      || 'Install ruvector into its own schema: '
                      || 'CREATE SCHEMA ruvector; CREATE EXTENSION ruvector SCHEMA ruvector;';
    END IF;
END
$ruvector_preflight$;

-- Shell types, completed in finalize.sql once their I/O functions exist.
CREATE TYPE ruvector;
CREATE TYPE halfvec;
CREATE TYPE sparsevec;
