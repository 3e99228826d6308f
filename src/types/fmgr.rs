//! Direct fmgr entry points for the distance operators' functions, which a sequential-scan
//! `ORDER BY embedding <-> q` calls once per row.
//!
//! `#[pg_extern]` wrappers cost about 5% of such a scan (measured on glove-100k, 50-d: 627 ms vs
//! 594 ms for 50 queries): they switch memory contexts and walk a generic argument iterator. A
//! distance function needs neither: two non-NULL arguments (the functions are STRICT) and a
//! float8 result. These entry points keep the panic guard (`#[pg_guard]`: a Rust panic or
//! ERROR report still becomes a PostgreSQL ERROR) and declare themselves with `extension_sql!`
//! next to their definition.

/// Defines `fn $name(PG_FUNCTION_ARGS)` computing `$body` (an `f64`) from two arguments of handle
/// type `$ty`, its `pg_finfo_$name` V1 record, and the SQL `$sql` declaring it (an
/// `extension_sql!` block named `$sql_name`; pgrx places it after the bootstrap shell types and
/// before `finalize.sql`'s operators).
macro_rules! distance_fn {
    (
        $(#[$doc:meta])*
        fn $name:ident / $finfo:ident ($a:ident, $b:ident: $ty:ty) $body:block
        sql $sql_name:literal = $sql:literal
    ) => {
        $(#[$doc])*
        ///
        /// # Safety
        /// Called by PostgreSQL's fmgr only, with two non-NULL arguments of the declared SQL type.
        #[no_mangle]
        #[pgrx::pg_guard]
        pub unsafe extern "C-unwind" fn $name(
            fcinfo: pgrx::pg_sys::FunctionCallInfo,
        ) -> pgrx::pg_sys::Datum {
            // SAFETY: PostgreSQL calls this with two non-NULL arguments of the declared types
            // (the function is declared STRICT).
            let args = unsafe { (*fcinfo).args.as_slice(2) };
            // SAFETY: as above: non-NULL varlena datums.
            unsafe {
                $crate::types::varlena::prefetch_row_below(args[0].value);
                $crate::types::varlena::prefetch_row_below(args[1].value);
            }
            // SAFETY: as above: each datum is a non-NULL value of the handle's SQL type.
            let ($a, $b) = unsafe {
                (
                    <$ty as pgrx::datum::FromDatum>::from_datum(args[0].value, false)
                        .expect("STRICT function called with NULL"),
                    <$ty as pgrx::datum::FromDatum>::from_datum(args[1].value, false)
                        .expect("STRICT function called with NULL"),
                )
            };
            let result: f64 = $body;
            pgrx::pg_sys::Datum::from(result.to_bits())
        }

        #[no_mangle]
        #[doc(hidden)]
        pub extern "C" fn $finfo() -> &'static pgrx::pg_sys::Pg_finfo_record {
            const V1: pgrx::pg_sys::Pg_finfo_record =
                pgrx::pg_sys::Pg_finfo_record { api_version: 1 };
            &V1
        }

        pgrx::extension_sql!($sql, name = $sql_name);
    };
}

pub(crate) use distance_fn;
