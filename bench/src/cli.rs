//! Command-line options.

use clap::{Parser, ValueEnum};
use std::path::PathBuf;

/// Benchmarks vector indexes in PostgreSQL: loads a dataset with binary COPY, builds the index,
/// sweeps the search setting, and reports recall@k, QPS, latency, build time and index size —
/// for ruvector, and for pgvector on the same server with `--compare pgvector`.
#[derive(Parser, Debug, Clone)]
#[command(name = "ruvector-bench", version)]
pub struct Args {
    /// libpq connection string of the server (the README demo cluster by default).
    #[arg(
        long,
        default_value = "host=/tmp port=5433 user=postgres dbname=postgres"
    )]
    pub url: String,

    /// TEXMEX dataset directory (base.fvecs, query.fvecs, gt_l2.ivecs, gt_cos.ivecs).
    #[arg(
        long,
        default_value = "../shared/data/glove-100k",
        conflicts_with = "synthetic"
    )]
    pub dataset: PathBuf,

    /// Generate a clustered synthetic dataset instead: ROWS,DIMS.
    #[arg(long, value_name = "ROWS,DIMS")]
    pub synthetic: Option<String>,

    /// Clusters of the synthetic dataset.
    #[arg(long, default_value_t = 32)]
    pub clusters: usize,

    /// Seed of the synthetic dataset.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,

    #[arg(long, value_enum, default_value_t = MetricArg::Cosine)]
    pub metric: MetricArg,

    /// Use only the first N base rows (exact ground truth is then recomputed).
    #[arg(long)]
    pub rows: Option<usize>,

    /// Number of queries (the first ones of the dataset).
    #[arg(long, default_value_t = 1000)]
    pub queries: usize,

    /// Queries for the exact-scan reference (slow: a full scan each).
    #[arg(long, default_value_t = 100)]
    pub exact_queries: usize,

    /// Skip the exact-scan reference.
    #[arg(long)]
    pub no_exact: bool,

    /// Neighbours per query (recall@k).
    #[arg(short, long, default_value_t = 10)]
    pub k: usize,

    #[arg(long, value_enum, default_value_t = IndexArg::Hnsw)]
    pub index: IndexArg,

    /// HNSW: neighbours per node.
    #[arg(long, default_value_t = 16)]
    pub m: u32,

    /// HNSW: candidate list size during build.
    #[arg(long, default_value_t = 64)]
    pub ef_construction: u32,

    /// IVFFlat: number of lists.
    #[arg(long, default_value_t = 100)]
    pub lists: u32,

    /// ruvector's `quantization` index option (none, sq8, pq<M>, binary); pgvector, which has
    /// no quantized index, is built unquantized. Set `ruvector.rerank` through --url
    /// (`options='-c ruvector.rerank=200'`).
    #[arg(long)]
    pub quantization: Option<String>,

    /// Values of the search setting to sweep (ef_search for HNSW, probes for IVFFlat).
    #[arg(long, value_delimiter = ',', default_value = "10,20,40,80,160,320")]
    pub sweep: Vec<i64>,

    /// Concurrent client connections.
    #[arg(long, default_value_t = 1)]
    pub clients: usize,

    /// Also run pgvector (extension "vector") with the same parameters, alternating.
    #[arg(long, value_enum)]
    pub compare: Option<CompareArg>,

    /// Alternating rounds per setting; the reported point is the round with median QPS.
    #[arg(long, default_value_t = 1)]
    pub rounds: usize,

    /// maintenance_work_mem for the index build.
    #[arg(long, default_value = "1GB")]
    pub maintenance_work_mem: String,

    /// max_parallel_maintenance_workers for the index build.
    #[arg(long, default_value_t = 2)]
    pub parallel_workers: u32,

    /// Prefix of the databases created for each extension.
    #[arg(long, default_value = "rvbench")]
    pub db_prefix: String,

    /// Directory for the JSON results and the PNG chart.
    #[arg(long, default_value = "bench-results")]
    pub out: PathBuf,

    /// Instead of benchmarking: draw the runs of these result files (of one dataset) in one
    /// chart, written to --chart.
    #[arg(
        long,
        value_delimiter = ',',
        value_name = "JSON,JSON,...",
        requires = "chart"
    )]
    pub merge: Vec<PathBuf>,

    /// The PNG --merge writes.
    #[arg(long, requires = "merge")]
    pub chart: Option<PathBuf>,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum MetricArg {
    L2,
    Cosine,
    Ip,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum IndexArg {
    Hnsw,
    Ivfflat,
    /// No index: only the exact-scan reference.
    Exact,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum CompareArg {
    Pgvector,
}
