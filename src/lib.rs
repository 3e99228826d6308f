//! ruvector: a PostgreSQL extension for vector search, compatible with pgvector's types, formats
//! and operators.
//!
//! Layout: the algorithms live in the `ruvector-core` crate (crates/core: kernels, formats,
//! graph, IVF, quantizers, key filters; no pgrx), re-exported here; this crate is the pgrx
//! glue — `types` (SQL types and functions), `admin` (observability), `am` (index access
//! methods), `migrate` (interoperability with pgvector). The SQL that pgrx does not generate
//! is in `sql/`.

// The algorithms (crates/core, no pgrx), under the paths the glue has always used
// (`crate::kernels`, `crate::graph`, ...).
pub use ruvector_core::{check, filter, format, graph, ivf, kernels, quant};

pub mod admin;
pub mod am;
pub mod compat;
pub mod migrate;
pub mod types;

use pgrx::prelude::*;

::pgrx::pg_module_magic!(name, version);

pgrx::extension_sql_file!("../sql/bootstrap.sql", name = "bootstrap", bootstrap);
pgrx::extension_sql_file!("../sql/finalize.sql", name = "finalize", finalize);

/// Called once when a backend loads the library: picks the distance kernels now, so the choice
/// is made at load and never re-examined on a query's hot path.
#[pg_guard]
pub extern "C-unwind" fn _PG_init() {
    let _ = kernels::kernels();
    am::hnsw::options::init();
    am::ivf::options::init();
    am::quantize::init_guc();
}

#[cfg(any(test, feature = "pg_test"))]
#[pg_schema]
mod tests {
    // In-server tests (`cargo pgrx test`), one file per concern under `src/tests/`. pgrx runs them
    // as functions of schema `tests`, which must be this inline module itself, so the files are
    // included here (their functions share this scope and the imports below).
    #[allow(unused_imports)]
    use pgrx::prelude::*;

    include!("tests/smoke.rs");
    include!("tests/io.rs");
    include!("tests/exact_knn.rs");
    include!("tests/hnsw_basic.rs");
    include!("tests/page_batch.rs");
}

/// Required by `cargo pgrx test`.
#[cfg(test)]
pub mod pg_test {
    pub fn setup(_options: Vec<&str>) {}

    #[must_use]
    pub fn postgresql_conf_options() -> Vec<&'static str> {
        vec![]
    }
}
