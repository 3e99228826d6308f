//! What is migrated: one column of one table, described from the catalogs, and the indexes on it
//! with their ruvector replacements (from `ruvector_migration_plan()`, the extension's own
//! mapping).

use crate::ident::{mentions_column, qualified, quote, rename_column};
use anyhow::{bail, Context, Result};
use postgres::Client;

/// pgvector's column types and ruvector's counterparts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Vector,
    Halfvec,
    Sparsevec,
    /// PostgreSQL's own `bit`, indexed with pgvector's `bit_hamming_ops`/`bit_jaccard_ops`:
    /// only the indexes move (an index-only migration: no shadow column).
    Bit,
}

impl Kind {
    fn from_typname(name: &str) -> Option<Kind> {
        match name {
            "vector" => Some(Kind::Vector),
            "halfvec" => Some(Kind::Halfvec),
            "sparsevec" => Some(Kind::Sparsevec),
            "bit" => Some(Kind::Bit),
            _ => None,
        }
    }

    /// ruvector's type name.
    pub fn ruvector_type(self) -> &'static str {
        match self {
            Kind::Vector => "ruvector",
            Kind::Halfvec => "halfvec",
            Kind::Sparsevec => "sparsevec",
            Kind::Bit => "bit",
        }
    }

    /// The binary send functions (pgvector's, ruvector's): their output is the wire format, the
    /// same bytes for equal values in both extensions.
    pub fn send_functions(self) -> (&'static str, &'static str) {
        match self {
            Kind::Vector => ("vector_send", "ruvector_send"),
            Kind::Halfvec => ("halfvec_send", "halfvec_send"),
            Kind::Sparsevec => ("sparsevec_send", "sparsevec_send"),
            Kind::Bit => ("bit_send", "bit_send"),
        }
    }
}

/// The table and column to migrate.
#[derive(Clone, Debug)]
pub struct Target {
    pub relid: u32,
    pub schema: String,
    pub table: String,
    pub column: String,
    /// 'r' (table) or 'p' (partitioned table).
    pub relkind: char,
    /// A partitioned table's partitions (schema, name); all must be plain tables.
    pub partitions: Vec<(String, String)>,
    pub pgvector_type: String,
    pub kind: Kind,
    pub dims: Option<i32>,
    pub not_null: bool,
    /// The primary key's columns, in key order.
    pub key: Vec<String>,
    pub est_rows: i64,
    pub ruvector_schema: String,
    pub pgvector_schema: String,
}

impl Target {
    /// Looks `table` (optionally schema-qualified, as SQL would resolve it) and `column` up.
    pub fn find(client: &mut Client, table: &str, column: &str) -> Result<Target> {
        let rv = client
            .query_opt(
                "SELECT extnamespace::regnamespace::text FROM pg_extension WHERE extname = 'ruvector'",
                &[],
            )?
            .context("extension ruvector is not installed in this database: CREATE EXTENSION ruvector SCHEMA ruvector")?;
        let pgv = client
            .query_opt(
                "SELECT extnamespace::regnamespace::text FROM pg_extension WHERE extname = 'vector'",
                &[],
            )?
            .context("extension vector (pgvector) is not installed in this database")?;
        let rel = client
            .query_opt(
                "SELECT c.oid::int8, n.nspname::text, c.relname::text, c.relkind::text,
                        greatest(c.reltuples, 0)::int8
                   FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                  WHERE c.oid = to_regclass($1)",
                &[&table],
            )?
            .with_context(|| format!("table {table} does not exist"))?;
        let relid = rel.get::<_, i64>(0) as u32;
        let relkind: String = rel.get(3);
        let relkind = relkind.chars().next().unwrap_or('?');
        if relkind != 'r' && relkind != 'p' {
            bail!("{table} is not a table (only tables and partitioned tables are migrated)");
        }
        let col = client
            .query_opt(
                "SELECT t.typname::text, format_type(a.atttypid, a.atttypmod), a.atttypmod,
                        a.attnotnull,
                        EXISTS (SELECT FROM pg_depend d
                                 WHERE d.classid = 'pg_type'::regclass AND d.objid = t.oid
                                   AND d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e'
                                   AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'vector'))
                   FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
                  WHERE a.attrelid = $1::int8::oid AND a.attname = $2 AND a.attnum > 0
                    AND NOT a.attisdropped",
                &[&(relid as i64), &column],
            )?
            .with_context(|| format!("column {column} of {table} does not exist"))?;
        let typname: String = col.get(0);
        let kind = Kind::from_typname(&typname)
            .filter(|k| *k == Kind::Bit || col.get::<_, bool>(4))
            .with_context(|| {
                format!(
                    "column {column} of {table} is of type {}, not pgvector's vector, halfvec or \
                     sparsevec, nor bit",
                    col.get::<_, String>(1)
                )
            })?;
        let typmod: i32 = col.get(2);
        let key: Vec<String> = client
            .query(
                "SELECT a.attname::text
                   FROM pg_index i
                   CROSS JOIN LATERAL unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, n)
                   JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
                  WHERE i.indrelid = $1::int8::oid AND i.indisprimary
                  ORDER BY k.n",
                &[&(relid as i64)],
            )?
            .iter()
            .map(|r| r.get(0))
            .collect();
        if key.is_empty() {
            bail!(
                "{table} has no primary key: the backfill walks the table in key order so that it \
                 can resume after a crash. Add one (ALTER TABLE ... ADD PRIMARY KEY), or convert \
                 in place: ruvector-migrate in-place {table} {column}"
            );
        }
        let mut partitions = Vec::new();
        if relkind == 'p' {
            for r in client.query(
                "SELECT n.nspname::text, c.relname::text, c.relkind::text
                   FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
                   JOIN pg_namespace n ON n.oid = c.relnamespace
                  WHERE i.inhparent = $1::int8::oid ORDER BY 1, 2",
                &[&(relid as i64)],
            )? {
                if r.get::<_, String>(2) != "r" {
                    bail!(
                        "{table} has partition {} which is itself partitioned: only one level of \
                         partitioning is supported",
                        r.get::<_, String>(1)
                    );
                }
                partitions.push((r.get(0), r.get(1)));
            }
        }
        Ok(Target {
            relid,
            schema: rel.get(1),
            table: rel.get(2),
            column: column.to_string(),
            relkind,
            partitions,
            pgvector_type: col.get(1),
            kind,
            dims: (typmod > 0).then_some(typmod),
            not_null: col.get(3),
            key,
            est_rows: rel.get(4),
            ruvector_schema: rv.get(0),
            pgvector_schema: pgv.get(0),
        })
    }

    /// `schema.table`, quoted.
    pub fn table_sql(&self) -> String {
        qualified(&self.schema, &self.table)
    }

    /// ruvector's type for the column, e.g. `ruvector.ruvector(384)` (`bit` stays itself).
    pub fn ruvector_type(&self) -> String {
        let dims = self.dims.map(|d| format!("({d})")).unwrap_or_default();
        if self.kind == Kind::Bit {
            return format!("bit{dims}");
        }
        format!(
            "{}.{}{dims}",
            self.ruvector_schema,
            self.kind.ruvector_type()
        )
    }

    /// The schema of the column's type on pgvector's or ruvector's side (for its send
    /// function).
    pub fn type_schema(&self, pgvector: bool) -> &str {
        match (self.kind, pgvector) {
            (Kind::Bit, _) => "pg_catalog",
            (_, true) => &self.pgvector_schema,
            (_, false) => &self.ruvector_schema,
        }
    }

    /// The primary key's columns, quoted and comma-separated.
    pub fn key_list(&self) -> String {
        self.key
            .iter()
            .map(|k| quote(k))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// SQL fragments for walking the table in primary-key order in batches, each batch
    /// starting after the last key of the previous one (passed as `$1`, a text[]).
    pub fn key_walk(&self, client: &mut Client) -> Result<KeyWalk> {
        let list = |f: &dyn Fn(usize, &str) -> String| -> String {
            self.key
                .iter()
                .enumerate()
                .map(|(i, k)| f(i, &quote(k)))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let mut after = Vec::new();
        for (i, k) in self.key.iter().enumerate() {
            let ty: String = client
                .query_one(
                    "SELECT format_type(atttypid, atttypmod) FROM pg_attribute
                      WHERE attrelid = $1::int8::oid AND attname = $2",
                    &[&(self.relid as i64), k],
                )?
                .get(0);
            after.push(format!("($1::text[])[{}]::{ty}", i + 1));
        }
        let keys = self.key_list();
        Ok(KeyWalk {
            after_last: format!("($1::text[] IS NULL OR ({keys}) > ({}))", after.join(", ")),
            last_of_b: format!(
                "(SELECT ARRAY[{}] FROM b ORDER BY {} LIMIT 1)",
                list(&|_, k| format!("{k}::text")),
                list(&|_, k| format!("{k} DESC"))
            ),
            join_b: format!(
                "({}) = ({})",
                list(&|_, k| format!("t.{k}")),
                list(&|_, k| format!("b.{k}"))
            ),
            keys,
        })
    }

    pub fn is_partitioned(&self) -> bool {
        self.relkind == 'p'
    }

    /// The indexes on the column and their replacements on column `shadow`.
    pub fn indexes(&self, client: &mut Client, shadow: &str) -> Result<Vec<IndexPlan>> {
        let rows = client.query(
            &format!(
                "SELECT index_name::text, access_method::text, opclass, predicate, expression,
                        ruvector_ddl, migratable, reason
                   FROM {}.ruvector_migration_plan()
                  WHERE kind = 'index' AND schema_name = $1 AND table_name = $2",
                self.ruvector_schema
            ),
            &[&self.schema, &self.table],
        )?;
        let mut plans = Vec::new();
        for r in rows {
            let name: String = r.get(0);
            let ddl: Option<String> = r.get(5);
            let expression: Option<String> = r.get(4);
            let predicate: Option<String> = r.get(3);
            // the index is on this column if its key or predicate names it
            let on_column = ddl
                .as_deref()
                .and_then(|d| d.find(" USING ").map(|i| &d[i..]))
                .is_some_and(|using| mentions_column(using, &self.column));
            if !on_column {
                continue;
            }
            let Some(ddl) = ddl.filter(|_| r.get::<_, bool>(6)) else {
                bail!(
                    "index {name} on {}.{} cannot be migrated: {}",
                    self.table,
                    self.column,
                    r.get::<_, Option<String>>(7).unwrap_or_default()
                );
            };
            plans.push(IndexPlan::new(
                self,
                name,
                r.get(1),
                r.get(2),
                &ddl,
                shadow,
                predicate,
                expression.is_some(),
            )?);
        }
        Ok(plans)
    }
}

/// SQL fragments of a walk in primary-key order ([`Target::key_walk`]).
pub struct KeyWalk {
    /// The key columns, for SELECT and ORDER BY.
    pub keys: String,
    /// The condition for rows after the key in `$1` (all rows when `$1` is NULL).
    pub after_last: String,
    /// The last key of CTE `b`, as text[] (the next `$1`).
    pub last_of_b: String,
    /// Joins table alias `t` to CTE `b` on the key.
    pub join_b: String,
}

/// One pgvector index on the column and the ruvector index that replaces it.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize, PartialEq)]
pub struct IndexPlan {
    /// The pgvector index (its name until the swap; `<name>_pgvector` after).
    pub old: String,
    /// The ruvector index on the shadow column (`<name>_ruvector` until the swap; `<name>`
    /// after).
    pub new: String,
    pub access_method: String,
    pub opclass: String,
    /// `USING am (key opclass) [WITH (...)] [WHERE ...]` on the shadow column: the part after
    /// `ON table` of the CREATE INDEX statement.
    pub using_shadow: String,
    /// The partial index's predicate on the pgvector column and on the shadow column.
    pub predicate_old: Option<String>,
    pub predicate_shadow: Option<String>,
    pub expression: bool,
}

impl IndexPlan {
    #[allow(clippy::too_many_arguments)]
    fn new(
        t: &Target,
        old: String,
        access_method: String,
        opclass: String,
        ddl: &str,
        shadow: &str,
        predicate: Option<String>,
        expression: bool,
    ) -> Result<IndexPlan> {
        let using = ddl
            .find(" USING ")
            .map(|i| &ddl[i + 1..])
            .with_context(|| format!("unexpected index definition {ddl}"))?;
        let new = format!("{old}_ruvector");
        if new.len() > 63 {
            bail!("index name {old} is too long to add the suffix _ruvector (63 bytes at most)");
        }
        Ok(IndexPlan {
            new,
            access_method,
            opclass,
            using_shadow: rename_column(using, &t.column, shadow),
            predicate_shadow: predicate
                .as_deref()
                .map(|p| rename_column(p, &t.column, shadow)),
            predicate_old: predicate,
            expression,
            old,
        })
    }

    /// The distance operator of the index's operator class, for recall checks (None for btree).
    pub fn operator(&self) -> Option<&'static str> {
        let ops = [
            ("_l2_ops", "<->"),
            ("_ip_ops", "<#>"),
            ("_cosine_ops", "<=>"),
            ("_l1_ops", "<+>"),
            ("hamming_ops", "<~>"),
            ("jaccard_ops", "<%>"),
        ];
        ops.iter()
            .find(|(suffix, _)| self.opclass.ends_with(suffix))
            .map(|(_, op)| *op)
    }
}
