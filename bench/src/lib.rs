//! `ruvector-bench`: recall, QPS, latency, build time and index size of vector indexes in
//! PostgreSQL, for ruvector and (with `--compare pgvector`) pgvector on the same server.
//!
//! | module | concern |
//! |---|---|
//! | `dataset` | TEXMEX files, synthetic data, exact ground truth, recall |
//! | `derive`  | `derive`: a higher-dimensional set from a real one (isometry + noise), exact truth |
//! | `wire`    | pgvector's binary vector format: query parameters and binary COPY |
//! | `profile` | extension × index kind → type, access method, opclass, search GUC |
//! | `db`      | connections, databases, loading, index builds, server settings |
//! | `sweep`   | running queries with N clients: recall@k, QPS, latency percentiles |
//! | `report`  | JSON results, Markdown table, ratios at equal recall |
//! | `chart`   | the recall–QPS PNG |
//! | `run`     | the whole benchmark |
//! | `filter`  | `--filter`: filter columns, filter values, exact filtered top-k, fill rate |
//! | `kmeans`  | the clusters of the `correlated` filter columns |
//! | `plan`    | EXPLAIN (FORMAT JSON) → a one-line plan shape |
//! | `filter_run` | the whole filtered benchmark: configurations, indexes, measurements |
//! | `filter_report` | its results (JSON), tables and best plans |
//!
//! Also used as a library by `server-tests` (recall gates on the real server).

pub mod chart;
pub mod cli;
pub mod dataset;
pub mod db;
pub mod derive;
pub mod filter;
pub mod filter_report;
pub mod filter_run;
pub mod kmeans;
pub mod plan;
pub mod profile;
pub mod report;
pub mod run;
pub mod sweep;
pub mod wire;
