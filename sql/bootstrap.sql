-- ruvector install script, part 1 (runs before the generated function declarations).
--
-- pgvector also defines types `halfvec` and `sparsevec` and functions on `bit`. Two extensions
-- cannot own the same name in one schema, so if those names are taken in the target schema we
-- stop here with a clear error instead of PostgreSQL's bare "already exists".
--
-- Every function and operator below is pg_catalog's, named: the script runs as a superuser
-- with the target schema on the search_path, where another user may have planted better
-- matches for unqualified calls (server-tests/tests/extension_update.rs plants some).
DO $ruvector_preflight$
DECLARE
    taken text;
BEGIN
    SELECT pg_catalog.string_agg(what, ', ' ORDER BY what) INTO taken
    FROM (
        SELECT pg_catalog.format('type %s', t.typname) AS what
        FROM pg_catalog.pg_type t
        WHERE t.typnamespace OPERATOR(pg_catalog.=)
                  '@extschema@'::pg_catalog.regnamespace::pg_catalog.oid
          AND t.typname OPERATOR(pg_catalog.=) ANY ('{ruvector,halfvec,sparsevec}'::pg_catalog.name[])
        UNION ALL
        SELECT pg_catalog.format('function %s', p.oid::pg_catalog.regprocedure)
        FROM pg_catalog.pg_proc p
        WHERE p.pronamespace OPERATOR(pg_catalog.=)
                  '@extschema@'::pg_catalog.regnamespace::pg_catalog.oid
          AND p.proname OPERATOR(pg_catalog.=) ANY ('{hamming_distance,jaccard_distance}'::pg_catalog.name[])
          AND p.proargtypes OPERATOR(pg_catalog.=) '1560 1560'::pg_catalog.oidvector
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
