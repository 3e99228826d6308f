//! Command-line options.

use clap::{Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

/// Benchmarks vector indexes in PostgreSQL: loads a dataset with binary COPY, builds the index,
/// sweeps the search setting, and reports recall@k, QPS, latency, build time and index size —
/// for ruvector, and for pgvector on the same server with `--compare pgvector`.
///
/// With `--filter` it measures filtered search instead,
/// `SELECT id FROM t WHERE col = $2 ORDER BY embedding <op> $1 LIMIT k`, on filter columns the
/// tool adds to the table (uniform, cluster-correlated and Zipf tenant workloads), against the
/// exact filtered top-k: recall, fill rate, QPS, latency and the plan the planner chose.
///
/// `ruvector-bench derive` makes a dataset instead (no server): see `derive --help`.
#[derive(Parser, Debug, Clone)]
#[command(
    name = "ruvector-bench",
    version,
    args_conflicts_with_subcommands = true
)]
pub struct Args {
    /// Instead of benchmarking: make a dataset.
    #[command(subcommand)]
    pub command: Option<Command>,

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

    /// Seed of the synthetic dataset, and of the filter columns and filter values of --filter.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,

    #[arg(long, value_enum, default_value_t = MetricArg::Cosine)]
    pub metric: MetricArg,

    /// Use only the first N base rows (exact ground truth is then recomputed).
    #[arg(long)]
    pub rows: Option<usize>,

    /// Number of queries (the first ones of the dataset) [default: 1000; with --filter 300 per
    /// workload point, enough for recall to ±0.02 while a slow point (an iterative scan that
    /// visits 20,000 elements per query) stays under half a minute].
    #[arg(long)]
    pub queries: Option<usize>,

    /// Queries for the exact-scan reference (slow: a full scan each). With --filter the exact
    /// configurations run the same queries as the others, for comparable numbers.
    #[arg(long, default_value_t = 100)]
    pub exact_queries: usize,

    /// Skip the exact-scan reference (with --filter: the exact configurations).
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

    /// ruvector's `sketches = on` option of `ruhnsw` (neighbour sketches beside the ground-layer
    /// lists); pgvector has no such option.
    #[arg(long)]
    pub sketches: bool,

    /// Values of the search setting to sweep (ef_search for HNSW, probes for IVFFlat)
    /// [default: 10,20,40,80,160,320; with --filter only 40, both extensions' default].
    #[arg(long, value_delimiter = ',')]
    pub sweep: Vec<i64>,

    /// Concurrent client connections.
    #[arg(long, default_value_t = 1)]
    pub clients: usize,

    /// Also run pgvector (extension "vector") with the same parameters, alternating.
    #[arg(long, value_enum)]
    pub compare: Option<CompareArg>,

    /// Alternating rounds per setting (with --filter: per configuration and workload point);
    /// the reported point is the round with median QPS.
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

    /// Filtered search instead of the sweep: these workloads (comma-separated), each a set of
    /// equality filters on int4 columns added to the table — `uniform` (u50, u10, u1, u01:
    /// independent of the vector, 50%/10%/1%/0.1% of the rows per value), `correlated` (c50 …
    /// c01: the vector's k-means cluster among 2/10/100/1000, and each query asks for a cluster
    /// other than its own), `tenant` (tenant_id over 10,000 Zipf-sized tenants). Every
    /// configuration runs with the planner's own choice of plan (no enable_* settings): HNSW with
    /// iterative scan off / relaxed_order / strict_order per --sweep value, and an exact scan
    /// without the vector index (unless --no-exact). Writes `<dataset>-<metric>-filter.json`
    /// and `.png` to --out.
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        value_name = "WORKLOAD,...",
        conflicts_with = "merge"
    )]
    pub filter: Vec<FilterArg>,

    /// With --filter: ruvector builds a multi-column index
    /// `USING ruhnsw (embedding <opclass>, u50, u10, u1, u01, c50, c10, c1, c01, tenant_id)`,
    /// whose extra key columns are checked during the graph traversal, instead of the
    /// one-column index (pgvector, which has no such index, keeps its own).
    #[arg(long, requires = "filter")]
    pub filter_keys: bool,

    /// With --filter: also measure every configuration again with a btree index on each filter
    /// column, on both extensions (pgvector's advice for exact filtered search), so the planner
    /// may choose a bitmap or btree plan; reported as its own configuration set ("+btree").
    #[arg(long, requires = "filter")]
    pub filter_btree: bool,

    /// Instead of benchmarking: draw the runs of these result files (of one dataset) in one
    /// chart, written to --chart (or a single --filter result file's chart and table again).
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

#[derive(Subcommand, Debug, Clone)]
pub enum Command {
    /// Derive a higher-dimensional TEXMEX set from a real one, with exact ground truth.
    ///
    /// Every vector x (base and queries) becomes y = Q x + σ z, Q a seeded random DIMS×d
    /// matrix with orthonormal columns (an isometry: the source's distances and neighbours are
    /// kept), z i.i.d. Gaussian noise with D σ² = NOISE · mean‖x‖² (makes the set full rank).
    /// Writes base.fvecs, query.fvecs, gt_l2.ivecs, gt_cos.ivecs, gt_*_dist.fvecs and README.md
    /// to --out, readable by --dataset. No server needed.
    Derive(DeriveArgs),
}

#[derive(clap::Args, Debug, Clone)]
pub struct DeriveArgs {
    /// Source TEXMEX dataset directory (base.fvecs, query.fvecs; gt_*.ivecs for the sanity
    /// figure).
    #[arg(long, default_value = "../shared/data/minilm-384-50k")]
    pub from: PathBuf,

    /// Output directory, e.g. target/bench-data/minilm-1536-50k (created; files replaced).
    #[arg(long)]
    pub out: PathBuf,

    /// Dimensions of the derived vectors (at least the source's).
    #[arg(long, default_value_t = 1536)]
    pub dims: usize,

    /// Seed of the matrix Q and of the noise.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,

    /// Noise-to-signal energy ratio ρ: the noise's expected squared norm D σ² is ρ times the
    /// mean squared norm of the projected base vectors (0 for a pure isometry).
    #[arg(long, default_value_t = 0.01)]
    pub noise: f64,

    /// Neighbours per query in the ground-truth files.
    #[arg(long, default_value_t = 100)]
    pub gt_k: usize,

    /// Use only the first N base rows of the source.
    #[arg(long)]
    pub rows: Option<usize>,

    /// Use only the first N queries of the source.
    #[arg(long)]
    pub queries: Option<usize>,
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

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum FilterArg {
    /// u50, u10, u1, u01: drawn independently of the vector.
    Uniform,
    /// c50, c10, c1, c01: the vector's k-means cluster; queries ask for another cluster.
    Correlated,
    /// tenant_id: 10,000 tenants with Zipf (exponent 1) sizes.
    Tenant,
    /// All three.
    All,
}

/// The sweep's default values of the search setting.
pub const DEFAULT_SWEEP: [i64; 6] = [10, 20, 40, 80, 160, 320];

impl Args {
    /// Whether this is a filtered-search run (`--filter`).
    pub fn filtered(&self) -> bool {
        !self.filter.is_empty()
    }

    /// The search-setting values to measure: `--sweep`, or its default for the mode.
    pub fn sweep_values(&self) -> Vec<i64> {
        match (self.sweep.is_empty(), self.filtered()) {
            (false, _) => self.sweep.clone(),
            (true, false) => DEFAULT_SWEEP.to_vec(),
            (true, true) => vec![40],
        }
    }

    /// Queries to run (per setting, or per workload point with --filter).
    pub fn query_count(&self) -> usize {
        self.queries
            .unwrap_or(if self.filtered() { 300 } else { 1000 })
    }
}
