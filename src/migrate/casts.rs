//! Casts between pgvector's types and ruvector's, so `embedding::ruvector` works on a pgvector
//! column and a parameter typed as pgvector's `vector` (as pgvector's client adapters send it)
//! works against a ruvector column: `ORDER BY embedding <-> $1`.
//!
//! `vector`/`ruvector`, and the two extensions' `halfvec`s and `sparsevec`s, have the same
//! in-memory layout byte for byte (DESIGN.md, "Compatibility contract"; pgvector's `vector.h`,
//! `halfvec.h`, `sparsevec.h`), and both extensions declare them with the default `int4`
//! alignment and `STORAGE external`. So those casts are binary coercions (`WITHOUT FUNCTION`):
//! a conversion copies nothing. Towards ruvector they are IMPLICIT (a pgvector-typed value
//! resolves to ruvector's operators when the other side is a ruvector column), back towards
//! pgvector ASSIGNMENT only — two implicit directions would make every mixed expression
//! ambiguous. Three more mirror pgvector's own implicit casts `vector → halfvec`,
//! `vector → sparsevec` and `halfvec → sparsevec`, into ruvector's types, through functions
//! declared on pgvector's types that run ruvector's conversions (see [`bridge_function`]), so a
//! `vector` parameter also reaches a ruvector `halfvec` column.
//!
//! How they come and go (PostgreSQL docs, "Packaging Related Objects into an Extension" and
//! "Event Triggers"):
//! - They are members of extension `ruvector`, so `pg_dump` leaves them out (the extensions
//!   recreate them on restore) and `DROP EXTENSION ruvector` removes them.
//! - `CREATE EXTENSION ruvector` creates them when pgvector is already installed; the event
//!   trigger `ruvector_pgvector_created` (on `ddl_command_end` of `CREATE EXTENSION`) creates
//!   them when pgvector is installed later, e.g. by a restore that creates `vector` after
//!   `ruvector`; `SELECT ruvector_pgvector_casts()` does the same by hand.
//! - `DROP EXTENSION vector` would otherwise fail — or, with CASCADE, drop ruvector with them,
//!   since a member object can only go with its extension. The event trigger
//!   `ruvector_pgvector_dropping` (on `ddl_command_start` of `DROP EXTENSION` and
//!   `DROP SCHEMA`) removes the casts first when the statement drops pgvector or the schema it
//!   lives in; if the statement then fails, the transaction brings them back.
//!
//! `CREATE CAST ... WITHOUT FUNCTION` needs a superuser, but pgvector and ruvector are both
//! trusted extensions that a database owner may install. So the DDL runs as the bootstrap
//! superuser — as the extension scripts themselves do — with statements built from catalog OIDs
//! only. Who may ask: the extension scripts, the event triggers, and roles with the privileges of
//! ruvector's owner.

use pgrx::pg_sys;
use pgrx::pg_sys::panic::ErrorReport;
use pgrx::prelude::*;
use pgrx::{PgLogLevel, PgSqlErrorCode};

/// pgvector's extension name.
const PGVECTOR: &str = "vector";
/// This extension's name.
const RUVECTOR: &str = "ruvector";

/// One cast between a pgvector type and a ruvector type, by type name within each extension.
struct CastSpec {
    /// pgvector's type.
    pgvector: &'static str,
    /// ruvector's type.
    ruvector: &'static str,
    /// From pgvector's type to ruvector's (IMPLICIT), or back (ASSIGNMENT).
    to_ruvector: bool,
    /// A ruvector function converting ruvector's equivalent of the source type, or None for a
    /// binary coercion.
    via: Option<&'static str>,
}

const CASTS: [CastSpec; 9] = [
    CastSpec {
        pgvector: "vector",
        ruvector: "ruvector",
        to_ruvector: true,
        via: None,
    },
    CastSpec {
        pgvector: "vector",
        ruvector: "ruvector",
        to_ruvector: false,
        via: None,
    },
    CastSpec {
        pgvector: "halfvec",
        ruvector: "halfvec",
        to_ruvector: true,
        via: None,
    },
    CastSpec {
        pgvector: "halfvec",
        ruvector: "halfvec",
        to_ruvector: false,
        via: None,
    },
    CastSpec {
        pgvector: "sparsevec",
        ruvector: "sparsevec",
        to_ruvector: true,
        via: None,
    },
    CastSpec {
        pgvector: "sparsevec",
        ruvector: "sparsevec",
        to_ruvector: false,
        via: None,
    },
    CastSpec {
        pgvector: "vector",
        ruvector: "halfvec",
        to_ruvector: true,
        via: Some("ruvector_to_halfvec"),
    },
    CastSpec {
        pgvector: "vector",
        ruvector: "sparsevec",
        to_ruvector: true,
        via: Some("ruvector_to_sparsevec"),
    },
    CastSpec {
        pgvector: "halfvec",
        ruvector: "sparsevec",
        to_ruvector: true,
        via: Some("halfvec_to_sparsevec"),
    },
];

/// The source type of `via` for a cast from pgvector's `pgvector` type: ruvector's type of the
/// same layout.
fn ruvector_twin(pgvector: &str) -> &'static str {
    match pgvector {
        "vector" => "ruvector",
        "halfvec" => "halfvec",
        _ => "sparsevec",
    }
}

/// A type that is a member of an extension: its OID and its name as `regtype` prints it (schema-
/// qualified unless visible, quoted as needed: text that parses back to the same type).
struct MemberType {
    name: String,
    oid: pg_sys::Oid,
    sql: String,
    /// Its schema, quoted as an identifier.
    schema: String,
}

/// SQL: whether the object `objid` of catalog `catalog` is a member of extension ruvector.
fn ruvector_member(catalog: &str, objid: &str) -> String {
    format!(
        "EXISTS (SELECT FROM pg_catalog.pg_depend d \
          WHERE d.classid = 'pg_catalog.{catalog}'::pg_catalog.regclass AND d.objid = {objid} \
            AND d.refclassid = 'pg_catalog.pg_extension'::pg_catalog.regclass AND d.deptype = 'e' \
            AND d.refobjid = (SELECT oid FROM pg_catalog.pg_extension WHERE extname = '{RUVECTOR}'))"
    )
}

/// The vector types that are members of extension `ext`, or None if it is not installed.
fn member_types(ext: &str) -> Option<Vec<MemberType>> {
    Spi::connect(|client| {
        let Some(ext_oid) = query_one::<pg_sys::Oid>(&format!(
            "SELECT oid FROM pg_catalog.pg_extension WHERE extname = {}",
            pgrx::spi::quote_literal(ext)
        )) else {
            return Ok(None);
        };
        let rows = client.select(
            &format!(
                "SELECT t.typname::text, t.oid, t.oid::pg_catalog.regtype::text, \
                        t.typnamespace::pg_catalog.regnamespace::text \
                 FROM pg_catalog.pg_depend d JOIN pg_catalog.pg_type t ON t.oid = d.objid \
                 WHERE d.classid = 'pg_catalog.pg_type'::pg_catalog.regclass \
                   AND d.refclassid = 'pg_catalog.pg_extension'::pg_catalog.regclass \
                   AND d.refobjid = {} AND d.deptype = 'e' \
                   AND t.typname IN ('vector', 'ruvector', 'halfvec', 'sparsevec')",
                ext_oid.to_u32()
            ),
            None,
            &[],
        )?;
        let mut types = Vec::new();
        for row in rows {
            types.push(MemberType {
                name: row.get::<String>(1)?.unwrap_or_default(),
                oid: row.get::<pg_sys::Oid>(2)?.unwrap_or(pg_sys::InvalidOid),
                sql: row.get::<String>(3)?.unwrap_or_default(),
                schema: row.get::<String>(4)?.unwrap_or_default(),
            });
        }
        Ok::<_, pgrx::spi::Error>(Some(types))
    })
    .unwrap_or_else(|e| spi_failed(e))
}

/// The first column of the first row of `sql`, or None when it returns no row (or NULL).
fn query_one<T: FromDatum + IntoDatum>(sql: &str) -> Option<T> {
    Spi::connect(|client| {
        let table = client.select(sql, Some(1), &[])?;
        if table.is_empty() {
            Ok(None)
        } else {
            table.first().get_one::<T>()
        }
    })
    .unwrap_or_else(|e| spi_failed(e))
}

fn find<'a>(types: &'a [MemberType], name: &str) -> Option<&'a MemberType> {
    types.iter().find(|t| t.name == name)
}

fn spi_failed(e: pgrx::spi::Error) -> ! {
    ErrorReport::new(
        PgSqlErrorCode::ERRCODE_INTERNAL_ERROR,
        format!("ruvector could not read the catalog: {e}"),
        "ruvector",
    )
    .report(PgLogLevel::ERROR);
    unreachable!("ERROR reports do not return")
}

/// One row of `ruvector_pgvector_casts()`.
struct CastRow {
    source: String,
    target: String,
    context: &'static str,
    method: &'static str,
    created: bool,
}

/// Runs `f` as the bootstrap superuser, like an extension script of a trusted extension; the
/// previous user comes back when `f` returns, and after an ERROR the (sub)transaction's abort
/// restores it (PostgreSQL's `AbortTransaction` resets the user id and security context).
fn as_bootstrap_superuser<R>(f: impl FnOnce() -> R) -> R {
    struct Restore(pg_sys::Oid, i32);
    impl Drop for Restore {
        fn drop(&mut self) {
            // SAFETY: restores the values read below, in the same backend.
            unsafe { pg_sys::SetUserIdAndSecContext(self.0, self.1) };
        }
    }
    let mut user = pg_sys::InvalidOid;
    let mut context = 0;
    // SAFETY: plain reads and writes of the backend's current user id and security context.
    unsafe {
        pg_sys::GetUserIdAndSecContext(&mut user, &mut context);
        pg_sys::SetUserIdAndSecContext(
            pg_sys::Oid::from(pg_sys::BOOTSTRAP_SUPERUSERID),
            context | pg_sys::SECURITY_LOCAL_USERID_CHANGE as i32,
        );
    }
    let _restore = Restore(user, context);
    f()
}

/// Runs one utility statement through SPI.
fn execute(sql: &str) {
    Spi::connect_mut(|client| client.update(sql, None, &[]).map(|_| ()))
        .unwrap_or_else(|e| spi_failed(e));
}

/// Whether a cast from `source` to `target` exists, and whether it is a member of ruvector.
fn existing_cast(source: pg_sys::Oid, target: pg_sys::Oid) -> Option<bool> {
    query_one::<bool>(&format!(
        "SELECT {} FROM pg_catalog.pg_cast c WHERE c.castsource = {} AND c.casttarget = {}",
        ruvector_member("pg_cast", "c.oid"),
        source.to_u32(),
        target.to_u32()
    ))
}

/// The function a cast from pgvector's `source` type calls: `pgvector_<source>_to_<target>`
/// declared on pgvector's type itself, running the C function of ruvector's `via(twin, integer,
/// boolean)` (the bytes are the same). Declaring it on pgvector's type rather than using `via`
/// through the binary cast keeps the two casts independent: `pg_dump --binary-upgrade` (used by
/// `pg_upgrade`) recreates casts in name order, and a cast whose function needs another cast
/// to exist first would fail there. Created if missing (as a member of ruvector); returns its
/// signature.
fn bridge_function(
    via: &str,
    twin: &MemberType,
    source: &MemberType,
    target: &MemberType,
    in_ruvector_script: bool,
) -> String {
    let name = format!("pgvector_{}_to_{}", source.name, target.name);
    let signature = format!(
        "{}.{}({}, integer, boolean)",
        target.schema, name, source.sql
    );
    let exists = query_one::<bool>(&format!(
        "SELECT pg_catalog.to_regprocedure({}) IS NOT NULL",
        pgrx::spi::quote_literal(&signature)
    ));
    if exists == Some(true) {
        return signature;
    }
    let Some((library, symbol)) = Spi::connect(|client| {
        let table = client.select(
            &format!(
                "SELECT p.probin::text, p.prosrc::text FROM pg_catalog.pg_proc p \
                 WHERE {} AND p.proname = {} AND p.pronargs = 3 AND p.proargtypes[0] = {}",
                ruvector_member("pg_proc", "p.oid"),
                pgrx::spi::quote_literal(via),
                twin.oid.to_u32()
            ),
            Some(1),
            &[],
        )?;
        if table.is_empty() {
            return Ok(None);
        }
        let row = table.first();
        Ok::<_, pgrx::spi::Error>(Some((
            row.get::<String>(1)?.unwrap_or_default(),
            row.get::<String>(2)?.unwrap_or_default(),
        )))
    })
    .unwrap_or_else(|e| spi_failed(e)) else {
        ErrorReport::new(
            PgSqlErrorCode::ERRCODE_UNDEFINED_FUNCTION,
            format!(
                "ruvector's function {via}({}, integer, boolean) is missing",
                twin.sql
            ),
            "ruvector",
        )
        .set_hint("Reinstall the extension: DROP EXTENSION ruvector; CREATE EXTENSION ruvector;")
        .report(PgLogLevel::ERROR);
        unreachable!("ERROR reports do not return")
    };
    as_bootstrap_superuser(|| {
        execute(&format!(
            "CREATE FUNCTION {signature} RETURNS {} AS {}, {} \
             LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE",
            target.sql,
            pgrx::spi::quote_literal(&library),
            pgrx::spi::quote_literal(&symbol)
        ));
        if !in_ruvector_script {
            execute(&format!(
                "ALTER EXTENSION ruvector ADD FUNCTION {signature}"
            ));
        }
    });
    signature
}

/// Creates every cast of [`CASTS`] that does not exist yet, as members of ruvector; returns all
/// of them, saying which were created now. Empty when pgvector is not installed.
fn ensure_casts() -> Vec<CastRow> {
    let (Some(pgvector), Some(ruvector)) = (member_types(PGVECTOR), member_types(RUVECTOR)) else {
        return Vec::new();
    };
    // SAFETY: reads of backend globals set by CREATE/ALTER EXTENSION.
    let in_ruvector_script = unsafe {
        pg_sys::creating_extension
            && pg_sys::CurrentExtensionObject
                == pg_sys::get_extension_oid(c"ruvector".as_ptr(), true)
    };
    let mut rows = Vec::new();
    for spec in &CASTS {
        let (Some(p), Some(r)) = (
            find(&pgvector, spec.pgvector),
            find(&ruvector, spec.ruvector),
        ) else {
            continue;
        };
        let (source, target) = if spec.to_ruvector { (p, r) } else { (r, p) };
        let context = if spec.to_ruvector {
            "IMPLICIT"
        } else {
            "ASSIGNMENT"
        };
        let created = match existing_cast(source.oid, target.oid) {
            // ours already, or a cast somebody else made: left as it is
            Some(_) => false,
            None => {
                let method = match spec.via {
                    None => "WITHOUT FUNCTION".to_string(),
                    Some(via) => {
                        let Some(twin) = find(&ruvector, ruvector_twin(spec.pgvector)) else {
                            continue;
                        };
                        format!(
                            "WITH FUNCTION {}",
                            bridge_function(via, twin, source, target, in_ruvector_script)
                        )
                    }
                };
                let pair = format!("({} AS {})", source.sql, target.sql);
                as_bootstrap_superuser(|| {
                    execute(&format!("CREATE CAST {pair} {method} AS {context}"));
                    // Inside ruvector's own script the cast joins the extension by itself.
                    if !in_ruvector_script {
                        execute(&format!("ALTER EXTENSION ruvector ADD CAST {pair}"));
                    }
                });
                true
            }
        };
        rows.push(CastRow {
            source: source.sql.clone(),
            target: target.sql.clone(),
            context: if spec.to_ruvector {
                "implicit"
            } else {
                "assignment"
            },
            method: if spec.via.is_some() {
                "function"
            } else {
                "binary"
            },
            created,
        });
    }
    rows
}

/// Drops the casts of [`CASTS`] that are members of ruvector (before pgvector goes away).
fn drop_casts() {
    let (Some(pgvector), Some(ruvector)) = (member_types(PGVECTOR), member_types(RUVECTOR)) else {
        return;
    };
    for spec in &CASTS {
        let (Some(p), Some(r)) = (
            find(&pgvector, spec.pgvector),
            find(&ruvector, spec.ruvector),
        ) else {
            continue;
        };
        let (source, target) = if spec.to_ruvector { (p, r) } else { (r, p) };
        if existing_cast(source.oid, target.oid) == Some(true) {
            let pair = format!("({} AS {})", source.sql, target.sql);
            as_bootstrap_superuser(|| {
                execute(&format!("ALTER EXTENSION ruvector DROP CAST {pair}"));
                execute(&format!("DROP CAST {pair}"));
            });
        }
    }
    // then the functions of the function casts, declared on pgvector's types
    let functions: Vec<String> = Spi::connect(|client| {
        client
            .select(
                &format!(
                    "SELECT p.oid::pg_catalog.regprocedure::text FROM pg_catalog.pg_proc p \
                     WHERE {} AND p.proname LIKE 'pgvector\\_%\\_to\\_%' \
                       AND p.proargtypes[0] IN ({})",
                    ruvector_member("pg_proc", "p.oid"),
                    pgvector
                        .iter()
                        .map(|t| t.oid.to_u32().to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                None,
                &[],
            )?
            .map(|row| row.get::<String>(1).map(Option::unwrap_or_default))
            .collect::<Result<Vec<_>, _>>()
    })
    .unwrap_or_else(|e| spi_failed(e));
    for f in functions {
        as_bootstrap_superuser(|| {
            execute(&format!("ALTER EXTENSION ruvector DROP FUNCTION {f}"));
            execute(&format!("DROP FUNCTION {f}"));
        });
    }
}

/// Creates the casts between pgvector's types and ruvector's that are missing (see the module
/// documentation) and lists them all. For a database where pgvector was installed while the
/// event triggers were disabled, or after `ALTER EXTENSION ruvector UPDATE` from 0.2.0.
#[pg_extern(volatile, parallel_unsafe)]
fn ruvector_pgvector_casts() -> TableIterator<
    'static,
    (
        name!(source, String),
        name!(target, String),
        name!(context, &'static str),
        name!(method, &'static str),
        name!(created, bool),
    ),
> {
    let owner_ok = query_one::<bool>(
        "SELECT pg_catalog.pg_has_role(extowner, 'USAGE') FROM pg_catalog.pg_extension \
         WHERE extname = 'ruvector'",
    );
    if owner_ok != Some(true) {
        ErrorReport::new(
            PgSqlErrorCode::ERRCODE_INSUFFICIENT_PRIVILEGE,
            "must be owner of extension ruvector",
            "ruvector",
        )
        .report(PgLogLevel::ERROR);
    }
    if member_types(PGVECTOR).is_none() {
        ErrorReport::new(
            PgSqlErrorCode::ERRCODE_UNDEFINED_OBJECT,
            "extension \"vector\" is not installed",
            "ruvector",
        )
        .set_hint("The casts connect pgvector's types to ruvector's; install pgvector first.")
        .report(PgLogLevel::ERROR);
    }
    let rows = ensure_casts();
    TableIterator::new(
        rows.into_iter()
            .map(|r| (r.source, r.target, r.context, r.method, r.created)),
    )
}

/// The event trigger function of `ruvector_pgvector_created`: after any `CREATE EXTENSION`,
/// makes sure the casts exist (a no-op without pgvector).
///
/// # Safety
/// Called by PostgreSQL's fmgr as an event trigger function.
#[no_mangle]
#[pg_guard]
pub unsafe extern "C-unwind" fn ruvector_pgvector_created(
    fcinfo: pg_sys::FunctionCallInfo,
) -> pg_sys::Datum {
    // SAFETY: fmgr passes a valid FunctionCallInfo for the duration of the call.
    if unsafe { event_trigger_data(fcinfo) }.is_some() {
        ensure_casts();
    }
    pg_sys::Datum::from(0)
}

/// The event trigger function of `ruvector_pgvector_dropping`: before `DROP EXTENSION vector`
/// (or `DROP SCHEMA` of pgvector's schema), drops the casts.
///
/// # Safety
/// Called by PostgreSQL's fmgr as an event trigger function.
#[no_mangle]
#[pg_guard]
pub unsafe extern "C-unwind" fn ruvector_pgvector_dropping(
    fcinfo: pg_sys::FunctionCallInfo,
) -> pg_sys::Datum {
    // SAFETY: fmgr passes a valid FunctionCallInfo for the duration of the call.
    let Some(data) = (unsafe { event_trigger_data(fcinfo) }) else {
        return pg_sys::Datum::from(0);
    };
    let tree = data.parsetree;
    // SAFETY: the event trigger's parse tree is NULL or a valid Node, for the duration of the
    // call.
    if tree.is_null() || unsafe { (*tree).type_ } != pg_sys::NodeTag::T_DropStmt {
        return pg_sys::Datum::from(0);
    }
    // SAFETY: as above; a Node tagged T_DropStmt is a DropStmt.
    let stmt = unsafe { &*(tree as *const pg_sys::DropStmt) };
    // SAFETY: a DropStmt of the parse tree: its `objects` is a valid List (or NULL).
    let names = unsafe { drop_names(stmt) };
    let drops_pgvector = match stmt.removeType {
        pg_sys::ObjectType::OBJECT_EXTENSION => names.iter().any(|n| n == PGVECTOR),
        pg_sys::ObjectType::OBJECT_SCHEMA => {
            // DropStmt holds the names as parsed (unquoted), like pg_namespace.nspname
            let schema = query_one::<String>(&format!(
                "SELECT n.nspname::text FROM pg_catalog.pg_extension e \
                 JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = {}",
                pgrx::spi::quote_literal(PGVECTOR)
            ));
            schema.is_some_and(|s| names.contains(&s))
        }
        _ => false,
    };
    if drops_pgvector {
        drop_casts();
    }
    pg_sys::Datum::from(0)
}

/// The EventTriggerData of an event trigger call, or None when called otherwise.
///
/// # Safety
/// `fcinfo` is a valid FunctionCallInfo, and with it its context for `'a`.
unsafe fn event_trigger_data<'a>(
    fcinfo: pg_sys::FunctionCallInfo,
) -> Option<&'a pg_sys::EventTriggerData> {
    // SAFETY: `fcinfo` is valid (the caller's contract).
    let context = unsafe { (*fcinfo).context };
    // SAFETY: fmgr's call context is NULL or a valid Node, for as long as `fcinfo`.
    if context.is_null() || unsafe { (*context).type_ } != pg_sys::NodeTag::T_EventTriggerData {
        return None;
    }
    // SAFETY: as above; a Node tagged T_EventTriggerData is an EventTriggerData.
    Some(unsafe { &*(context as *const pg_sys::EventTriggerData) })
}

/// The names a `DROP EXTENSION`/`DROP SCHEMA` statement lists (String nodes).
///
/// # Safety
/// `stmt.objects` is NULL or a valid List of Node pointers (as in a parsed DropStmt).
unsafe fn drop_names(stmt: &pg_sys::DropStmt) -> Vec<String> {
    let list = stmt.objects;
    if list.is_null() {
        return Vec::new();
    }
    // SAFETY: a valid List (the caller's contract).
    let length = unsafe { (*list).length };
    (0..length)
        .filter_map(|i| {
            // SAFETY: `i` < the list's length; its elements are NULL or valid Nodes.
            let node = unsafe { pg_sys::list_nth(list, i) } as *const pg_sys::Node;
            // SAFETY: as above; a Node tagged T_String is a String node, whose `sval` is NULL
            // or a C string.
            let s = unsafe {
                if node.is_null() || (*node).type_ != pg_sys::NodeTag::T_String {
                    return None;
                }
                (*(node as *const pg_sys::String)).sval
            };
            if s.is_null() {
                return None;
            }
            // SAFETY: not NULL: the String node's C string.
            let name = unsafe { std::ffi::CStr::from_ptr(s) };
            Some(name.to_string_lossy().into_owned())
        })
        .collect()
}

#[no_mangle]
#[doc(hidden)]
pub extern "C" fn pg_finfo_ruvector_pgvector_created() -> &'static pg_sys::Pg_finfo_record {
    const V1: pg_sys::Pg_finfo_record = pg_sys::Pg_finfo_record { api_version: 1 };
    &V1
}

#[no_mangle]
#[doc(hidden)]
pub extern "C" fn pg_finfo_ruvector_pgvector_dropping() -> &'static pg_sys::Pg_finfo_record {
    const V1: pg_sys::Pg_finfo_record = pg_sys::Pg_finfo_record { api_version: 1 };
    &V1
}

pgrx::extension_sql!(
    r#"
CREATE FUNCTION ruvector_pgvector_created() RETURNS event_trigger
    AS 'MODULE_PATHNAME', 'ruvector_pgvector_created' LANGUAGE C;
CREATE FUNCTION ruvector_pgvector_dropping() RETURNS event_trigger
    AS 'MODULE_PATHNAME', 'ruvector_pgvector_dropping' LANGUAGE C;
"#,
    name = "pgvector_cast_triggers"
);
