-- ruvector 0.2.0 -> 0.3.0 (ALTER EXTENSION ruvector UPDATE TO '0.3.0')
--
-- 0.3.0 adds ruvector_migration_plan() (sql/migration_plan.sql) and connects pgvector's types to
-- ruvector's (src/migrate/casts.rs): binary-coercible casts
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

-- ruvector_migration_plan() and ruvector_setting_name(), as in sql/migration_plan.sql
CREATE FUNCTION ruvector_setting_name(pgvector_setting text) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
RETURN CASE pgvector_setting
    WHEN 'hnsw.ef_search' THEN 'ruvector.ef_search'
    WHEN 'hnsw.iterative_scan' THEN 'ruvector.hnsw_iterative_scan'
    WHEN 'hnsw.max_scan_tuples' THEN 'ruvector.hnsw_max_scan_tuples'
    WHEN 'hnsw.scan_mem_multiplier' THEN 'ruvector.hnsw_scan_mem_multiplier'
    WHEN 'ivfflat.probes' THEN 'ruvector.probes'
    WHEN 'ivfflat.iterative_scan' THEN 'ruvector.ivfflat_iterative_scan'
    WHEN 'ivfflat.max_probes' THEN 'ruvector.ivfflat_max_probes'
END;

CREATE FUNCTION ruvector_migration_plan() RETURNS TABLE (
    kind text,             -- 'column' | 'index' | 'setting'
    schema_name name,
    table_name name,
    column_name name,
    index_name name,
    pgvector_type text,    -- the column's type, e.g. vector(384)
    dims integer,
    est_rows bigint,       -- pg_class.reltuples (NULL before the first ANALYZE/VACUUM)
    est_bytes bigint,      -- the column's bytes: rows x pg_stats.avg_width, else x the type's size
    access_method name,
    opclass text,
    options text[],
    predicate text,
    expression text,
    setting text,          -- e.g. hnsw.ef_search = 100 (database app)
    ruvector_ddl text,
    migratable boolean,
    reason text
)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $plan$
DECLARE
    pgv oid;
    rv text := '@extschema@';  -- substituted already quoted as an identifier
BEGIN
    SELECT e.oid INTO pgv FROM pg_extension e WHERE e.extname = 'vector';
    IF pgv IS NULL THEN
        RETURN;
    END IF;

    -- columns of pgvector's types (and arrays of them, which ruvector does not replace)
    RETURN QUERY
    WITH types AS (
        SELECT t.oid, t.typname::text AS typname, t.typarray
        FROM pg_depend d JOIN pg_type t ON t.oid = d.objid
        WHERE d.classid = 'pg_type'::regclass AND d.refclassid = 'pg_extension'::regclass
          AND d.refobjid = pgv AND d.deptype = 'e'
          AND t.typname IN ('vector', 'halfvec', 'sparsevec')
    )
    SELECT 'column'::text, n.nspname, c.relname, a.attname, NULL::name,
           format_type(a.atttypid, a.atttypmod),
           CASE WHEN a.atttypmod > 0 THEN a.atttypmod END,
           CASE WHEN c.reltuples >= 0 THEN c.reltuples::bigint END,
           CASE WHEN c.reltuples >= 0 THEN
               (c.reltuples * coalesce(s.avg_width,
                   CASE ty.typname WHEN 'vector' THEN 8 + 4 * greatest(a.atttypmod, 0)
                                   WHEN 'halfvec' THEN 8 + 2 * greatest(a.atttypmod, 0)
                                   ELSE 16 END))::bigint END,
           NULL::name, NULL::text, NULL::text[], NULL::text, NULL::text, NULL::text,
           CASE WHEN c.relkind IN ('r', 'p') AND a.atttypid = ty.oid THEN
               format('ALTER TABLE %I.%I ALTER COLUMN %I TYPE %s.%s%s', n.nspname, c.relname,
                      a.attname, rv,
                      CASE ty.typname WHEN 'vector' THEN 'ruvector' ELSE ty.typname END,
                      CASE WHEN a.atttypmod > 0 THEN format('(%s)', a.atttypmod) ELSE '' END)
           END,
           c.relkind IN ('r', 'p') AND a.atttypid = ty.oid,
           CASE
               WHEN a.atttypid <> ty.oid THEN
                   'an array of pgvector''s type: ruvector has no such column type to convert to'
               WHEN c.relkind = 'm' THEN
                   'a materialized view: recreate it over the migrated table'
               WHEN c.relkind = 'f' THEN
                   'a foreign table: migrate the table on the server it lives on'
               WHEN c.relkind = 'p' THEN
                   'partitioned: the statement converts every partition'
           END
    FROM pg_attribute a
    JOIN pg_class c ON c.oid = a.attrelid
    JOIN pg_namespace n ON n.oid = c.relnamespace
    JOIN types ty ON a.atttypid IN (ty.oid, ty.typarray)
    LEFT JOIN pg_stats s ON s.schemaname = n.nspname AND s.tablename = c.relname
                        AND s.attname = a.attname AND NOT s.inherited
    WHERE a.attnum > 0 AND NOT a.attisdropped
      AND c.relkind IN ('r', 'p', 'm', 'f')
      AND NOT c.relispartition
      AND n.nspname NOT IN ('pg_catalog', 'information_schema')
    ORDER BY n.nspname, c.relname, a.attnum;

    -- indexes whose operator class is pgvector's (hnsw, ivfflat, and btree on vector)
    RETURN QUERY
    WITH ix AS (
        SELECT i.indexrelid, i.indrelid, ic.relname AS index_name, tc.relname AS table_name,
               n.nspname, am.amname, pv.opcname, ic.reloptions,
               pg_get_expr(i.indpred, i.indrelid, true) AS predicate,
               CASE WHEN i.indkey[pv.k] = 0 THEN pg_get_indexdef(i.indexrelid, pv.k + 1, true) END AS expression,
               (SELECT a.attname FROM pg_attribute a
                 WHERE a.attrelid = i.indrelid AND a.attnum = i.indkey[pv.k] AND i.indkey[pv.k] > 0) AS column_name,
               pg_get_indexdef(i.indexrelid) AS def
        FROM pg_index i
        JOIN pg_class ic ON ic.oid = i.indexrelid
        JOIN pg_class tc ON tc.oid = i.indrelid
        JOIN pg_namespace n ON n.oid = ic.relnamespace
        JOIN pg_am am ON am.oid = ic.relam
        -- the first key column whose operator class is pgvector's
        CROSS JOIN LATERAL (
            SELECT k.k, oc.opcname::text AS opcname
            FROM generate_series(0, i.indnkeyatts - 1) AS k(k)
            JOIN pg_opclass oc ON oc.oid = i.indclass[k.k]
            WHERE EXISTS (SELECT FROM pg_depend d
                          WHERE d.classid = 'pg_opclass'::regclass AND d.objid = oc.oid
                            AND d.refclassid = 'pg_extension'::regclass AND d.refobjid = pgv
                            AND d.deptype = 'e')
            ORDER BY k.k LIMIT 1
        ) pv
        WHERE NOT tc.relispartition
    ), mapped AS (
        SELECT ix.*,
               CASE ix.amname WHEN 'hnsw' THEN 'ruhnsw' WHEN 'ivfflat' THEN 'ruivfflat'
                              ELSE ix.amname END AS new_am,
               CASE WHEN ix.opcname IN ('vector_ops', 'halfvec_ops', 'sparsevec_ops') THEN
                        rv || '.' || replace(ix.opcname, 'vector_ops', 'ruvector_ops')
                    WHEN ix.opcname LIKE 'vector\_%' THEN rv || '.ru' || ix.opcname
                    ELSE rv || '.' || ix.opcname END AS new_opclass,
               -- an expression with pgvector's type names and functions replaced by ruvector's
               regexp_replace(regexp_replace(regexp_replace(ix.expression,
                   '::([a-z_]+\.)?vector\M', '::' || rv || '.ruvector', 'g'),
                   '::([a-z_]+\.)?(halfvec|sparsevec)\M', '::' || rv || '.\2', 'g'),
                   '\m([a-z_]+\.)?(binary_quantize|subvector|l2_normalize|l2_distance|inner_product|cosine_distance|l1_distance)\(',
                   rv || '.\2(', 'g') AS new_expression
        FROM ix
    )
    SELECT 'index'::text, m.nspname, m.table_name, m.column_name, m.index_name, NULL::text,
           NULL::integer, NULL::bigint, NULL::bigint, m.amname, m.opcname, m.reloptions,
           m.predicate, m.expression, NULL::text,
           CASE
               -- hnsw/ivfflat (one key): the statement from its parts, the operator class
               -- always named (pgvector's default may not be ruvector's)
               WHEN m.amname IN ('hnsw', 'ivfflat') THEN
                   format('CREATE INDEX %I ON %I.%I USING %s (%s %s)%s%s',
                          m.index_name, m.nspname, m.table_name, m.new_am,
                          CASE WHEN m.expression IS NULL THEN quote_ident(m.column_name)
                               ELSE '(' || m.new_expression || ')' END,
                          m.new_opclass,
                          CASE WHEN m.reloptions IS NOT NULL
                               THEN ' WITH (' || array_to_string(m.reloptions, ', ') || ')' END,
                          CASE WHEN m.predicate IS NOT NULL THEN ' WHERE (' || m.predicate || ')' END)
               -- btree: pg_get_indexdef's text, whose default operator class stays implicit
               WHEN m.amname = 'btree' THEN
                   regexp_replace(replace(m.def, ' ON ONLY ', ' ON '),
                                  '\m([a-z_]+\.)?' || m.opcname || '\M', m.new_opclass)
           END,
           m.amname IN ('hnsw', 'ivfflat', 'btree'),
           CASE
               WHEN m.amname NOT IN ('hnsw', 'ivfflat', 'btree') THEN
                   'access method ' || m.amname || ' has no ruvector counterpart'
               WHEN m.expression IS NOT NULL THEN
                   'an expression index: its expression now calls ruvector''s functions and types; check it'
           END
    FROM mapped m
    ORDER BY m.nspname, m.table_name, m.index_name;

    -- settings stored with ALTER DATABASE/ROLE ... SET
    RETURN QUERY
    WITH s AS (
        SELECT d.datname, r.rolname, split_part(c.cfg, '=', 1) AS name,
               substr(c.cfg, length(split_part(c.cfg, '=', 1)) + 2) AS value
        FROM pg_db_role_setting rs
        LEFT JOIN pg_database d ON d.oid = rs.setdatabase
        LEFT JOIN pg_roles r ON r.oid = rs.setrole
        CROSS JOIN LATERAL unnest(rs.setconfig) AS c(cfg)
        WHERE (c.cfg LIKE 'hnsw.%' OR c.cfg LIKE 'ivfflat.%')
          -- this database's settings and every role's own (other databases have their own plan)
          AND rs.setdatabase IN (0, (SELECT oid FROM pg_database WHERE datname = current_database()))
    )
    SELECT 'setting'::text, NULL::name, NULL::name, NULL::name, NULL::name, NULL::text,
           NULL::integer, NULL::bigint, NULL::bigint, NULL::name, NULL::text, NULL::text[],
           NULL::text, NULL::text,
           format('%s = %s (%s)', s.name, s.value,
                  concat_ws(', ', 'database ' || s.datname, 'role ' || s.rolname)),
           CASE WHEN @extschema@.ruvector_setting_name(s.name) IS NOT NULL THEN
               format('ALTER %s SET %s = %L',
                      CASE WHEN s.rolname IS NULL THEN format('DATABASE %I', s.datname)
                           WHEN s.datname IS NULL THEN format('ROLE %I', s.rolname)
                           ELSE format('ROLE %I IN DATABASE %I', s.rolname, s.datname) END,
                      @extschema@.ruvector_setting_name(s.name), s.value)
           END,
           @extschema@.ruvector_setting_name(s.name) IS NOT NULL,
           CASE WHEN @extschema@.ruvector_setting_name(s.name) IS NULL THEN
               'ruvector has no counterpart of ' || s.name END
    FROM s ORDER BY 15;

    -- settings in postgresql.conf and postgresql.auto.conf (readable by superusers and
    -- members of pg_read_all_settings only)
    IF has_table_privilege('pg_catalog.pg_file_settings', 'SELECT') THEN
        RETURN QUERY
        SELECT 'setting'::text, NULL::name, NULL::name, NULL::name, NULL::name, NULL::text,
               NULL::integer, NULL::bigint, NULL::bigint, NULL::name, NULL::text, NULL::text[],
               NULL::text, NULL::text,
               format('%s = %s (%s line %s)', f.name, f.setting, f.sourcefile, f.sourceline),
               CASE WHEN @extschema@.ruvector_setting_name(f.name) IS NULL THEN NULL
                    WHEN f.sourcefile LIKE '%postgresql.auto.conf' THEN
                        format('ALTER SYSTEM SET %s = %L', @extschema@.ruvector_setting_name(f.name), f.setting)
                    ELSE format('%s = %L  # in %s', @extschema@.ruvector_setting_name(f.name), f.setting, f.sourcefile)
               END,
               @extschema@.ruvector_setting_name(f.name) IS NOT NULL,
               CASE WHEN @extschema@.ruvector_setting_name(f.name) IS NULL THEN
                   'ruvector has no counterpart of ' || f.name END
        FROM pg_file_settings f
        WHERE f.name LIKE 'hnsw.%' OR f.name LIKE 'ivfflat.%'
        ORDER BY f.sourcefile, f.sourceline;
    END IF;
END
$plan$;
