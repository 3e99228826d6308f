//! What a database holds, as text to compare between two databases or clusters: the ruvector
//! extension's member objects with their properties, the schema as `pg_dump` prints it, and
//! the answers of the test indexes.

use crate::cluster::Cluster;
use anyhow::{Context, Result};
use postgres::Client;

/// `pg_describe_object` of every member of extension ruvector (its `pg_depend` rows of type
/// 'e'), sorted.
pub fn extension_members(client: &mut Client) -> Result<Vec<String>> {
    rows(
        client,
        "SELECT pg_describe_object(d.classid, d.objid, d.objsubid)
           FROM pg_depend d JOIN pg_extension e ON e.oid = d.refobjid
          WHERE d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e'
            AND e.extname = 'ruvector'
          ORDER BY 1",
    )
}

/// Every member function's signature and properties (language, symbol, volatility,
/// strictness, parallel safety, cost, rows, result, support function, configuration, ACL),
/// one line each, sorted.
pub fn function_properties(client: &mut Client) -> Result<Vec<String>> {
    rows(
        client,
        "SELECT concat_ws(' | ', p.oid::regprocedure, pg_get_function_arguments(p.oid),
                          pg_get_function_result(p.oid), l.lanname, p.prokind, p.prosrc,
                          p.probin, p.provolatile, p.proisstrict, p.proparallel, p.prosecdef,
                          p.proleakproof, p.proretset, p.procost, p.prorows,
                          p.prosupport::regproc, p.proconfig::text, p.proacl::text)
           FROM pg_proc p
           JOIN pg_language l ON l.oid = p.prolang
           JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid
                           AND d.deptype = 'e'
           JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'ruvector'
          ORDER BY 1",
    )
}

/// The installed version of extension ruvector.
pub fn extension_version(client: &mut Client) -> Result<String> {
    Ok(client
        .query_one(
            "SELECT extversion FROM pg_extension WHERE extname = 'ruvector'",
            &[],
        )?
        .get(0))
}

/// Database `db`'s schema as `pg_dump --schema-only --binary-upgrade` prints it — which, unlike
/// a plain dump, spells out every extension member (types, functions, operators, operator
/// classes, casts, access methods) — without the lines that carry OIDs, transaction ids or the
/// database's name, which differ between two databases holding the same objects.
pub fn schema_dump(cluster: &Cluster, db: &str) -> Result<String> {
    let out = cluster
        .run_tool(
            "pg_dump",
            &[
                "--schema-only",
                "--binary-upgrade",
                "--no-comments",
                "-d",
                db,
            ],
        )
        .with_context(|| format!("pg_dump of {db}"))?;
    let text = String::from_utf8(out.stdout)?;
    Ok(text
        .lines()
        .filter(|l| {
            !l.contains("::pg_catalog.oid")
                && !l.contains("pg_catalog.binary_upgrade_set_")
                && !l.contains("relfrozenxid")
                && !l.starts_with("WHERE oid = '")
                && !l.starts_with("\\restrict")
                && !l.starts_with("\\unrestrict")
                && !l.contains(&format!("DATABASE {db}"))
                && !l.starts_with("-- Dumped")
        })
        .collect::<Vec<_>>()
        .join("\n"))
}

/// The first line where two texts differ, for assertion messages.
pub fn first_difference(a: &str, b: &str) -> String {
    let (al, bl): (Vec<&str>, Vec<&str>) = (a.lines().collect(), b.lines().collect());
    for i in 0..al.len().max(bl.len()) {
        let (x, y) = (al.get(i), bl.get(i));
        if x != y {
            return format!("line {}: {:?} vs {:?}", i + 1, x, y);
        }
    }
    "none".to_string()
}

fn rows(client: &mut Client, sql: &str) -> Result<Vec<String>> {
    Ok(client
        .query(sql, &[])?
        .iter()
        .map(|r| r.get::<_, Option<String>>(0).unwrap_or_default())
        .collect())
}

/// Removes the attribute option `pg_attver` from every user column of the current database.
///
/// Debian's PostgreSQL 15.20 (bookworm-security, November 2026) stamps every column with
/// `pg_attver=N` in `pg_attribute.attoptions`. Its own `pg_dump` leaves the option out, but the
/// `pg_dump` of PostgreSQL 18.6 — the newest 18 whose source is reachable here, released before
/// 15.20 — prints it as `ALTER COLUMN ... SET (pg_attver=N)`, which 18.6's server rejects
/// (`unrecognized parameter "pg_attver"`). `pg_upgrade` restores the schema with the new
/// major's `pg_dump`, so from 15.20 to 18.6 it fails on the first table of any kind, with or
/// without ruvector. Removing the option from the old cluster's catalog just before the upgrade
/// (what README's upgrade section tells users to do on these two releases) lets it through; no
/// data or index file is touched. Returns the number of columns changed.
pub fn strip_column_versions(client: &mut Client) -> Result<u64> {
    Ok(client.execute(
        "UPDATE pg_catalog.pg_attribute
            SET attoptions = (SELECT array_agg(o) FROM unnest(attoptions) o
                               WHERE o NOT LIKE 'pg_attver=%')
          WHERE attrelid >= 16384 AND attoptions::text LIKE '%pg_attver=%'",
        &[],
    )?)
}
