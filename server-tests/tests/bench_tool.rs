//! The benchmark tool end to end on a small synthetic set against a real server: exact-scan
//! recall must be 1.0, the index sweep must produce sane points, and the JSON results and PNG
//! chart must be written with every field.

use clap::Parser;
use ruvector_bench::cli::Args;
use ruvector_server_tests::cluster::Cluster;

#[test]
fn synthetic_sweep_writes_json_and_chart() {
    let c = Cluster::new("bench-tool", 5494, &[]).unwrap();
    c.with_extension().unwrap();
    let out = c.dir.join("bench-results");
    let args = Args::parse_from([
        "ruvector-bench",
        "--url",
        &c.conninfo("postgres"),
        "--synthetic",
        "3000,16",
        "--queries",
        "60",
        "--exact-queries",
        "30",
        "--sweep",
        "10,80",
        "--clients",
        "2",
        "--out",
        out.to_str().unwrap(),
    ]);
    let (results, json_path, png_path) =
        ruvector_bench::run::run(&args, "test".into()).expect("benchmark run");

    let exact = &results.runs[0];
    assert_eq!(exact.profile, "ruvector exact scan");
    assert_eq!(exact.points[0].recall, 1.0, "exact scan must have recall 1");
    assert_eq!(exact.points[0].queries, 30);
    let hnsw = &results.runs[1];
    assert_eq!(hnsw.access_method.as_deref(), Some("ruhnsw"));
    assert_eq!(hnsw.points.len(), 2);
    assert!(hnsw.points[1].recall >= 0.95, "{:?}", hnsw.points);
    assert!(hnsw
        .points
        .iter()
        .all(|p| p.qps > 0.0 && p.p50_ms <= p.p99_ms));

    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json_path).unwrap()).unwrap();
    for pointer in [
        "/tool",
        "/created_unix",
        "/command",
        "/dataset/name",
        "/dataset/rows",
        "/dataset/dim",
        "/dataset/queries",
        "/dataset/metric",
        "/dataset/k",
        "/machine/cpu",
        "/machine/cores",
        "/machine/memory_gib",
        "/server/version",
        "/server/settings",
        "/build_settings/maintenance_work_mem",
        "/build_settings/max_parallel_maintenance_workers",
        "/clients",
        "/runs/0/load/seconds",
        "/runs/0/load/table_bytes",
        "/runs/0/points/0/recall",
        "/runs/1/extension_version",
        "/runs/1/search_guc",
        "/runs/1/build/seconds",
        "/runs/1/build/index_bytes",
        "/runs/1/points/1/value",
        "/runs/1/points/1/recall",
        "/runs/1/points/1/qps",
        "/runs/1/points/1/mean_ms",
        "/runs/1/points/1/p50_ms",
        "/runs/1/points/1/p95_ms",
        "/runs/1/points/1/p99_ms",
        "/runs/1/points/1/clients",
    ] {
        assert!(
            json.pointer(pointer).is_some(),
            "results JSON lacks {pointer}"
        );
    }
    // The settings that change the ratios are recorded: huge pages on every major, and whether
    // the server got them (`huge_pages_status`) from PostgreSQL 17 on.
    let settings = json
        .pointer("/server/settings")
        .unwrap()
        .as_array()
        .unwrap();
    let named = |n: &str| settings.iter().any(|kv| kv[0] == n);
    assert!(
        named("huge_pages") && named("shared_buffers"),
        "{settings:?}"
    );
    assert_eq!(
        named("huge_pages_status"),
        c.install.major >= 17,
        "{settings:?}"
    );
    assert_eq!(
        json.pointer("/dataset/rows"),
        Some(&serde_json::json!(3000))
    );
    assert_eq!(
        json.pointer("/runs/1/points/1/value"),
        Some(&serde_json::json!(80))
    );
    let png = std::fs::read(&png_path).unwrap();
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n") && png.len() > 10_000);

    // A second run reuses the loaded table.
    let (again, _, _) = ruvector_bench::run::run(&args, "test".into()).unwrap();
    assert!(again.runs[0].load.reused);
}

#[test]
fn clear_errors() {
    let bad = Args::parse_from([
        "ruvector-bench",
        "--url",
        "host=/tmp port=1 user=postgres",
        "--synthetic",
        "10,2",
    ]);
    let e = format!(
        "{:#}",
        ruvector_bench::run::run(&bad, String::new()).unwrap_err()
    );
    assert!(
        e.contains("cannot connect to PostgreSQL") && e.contains("scripts/demo.sh"),
        "{e}"
    );

    let missing = Args::parse_from(["ruvector-bench", "--dataset", "/nonexistent/set"]);
    let e = format!(
        "{:#}",
        ruvector_bench::run::run(&missing, String::new()).unwrap_err()
    );
    assert!(
        e.contains("/nonexistent/set/base.fvecs") && e.contains("TEXMEX"),
        "{e}"
    );

    let c = Cluster::new("bench-errors", 5495, &[]).unwrap();
    let no_pgvector = Args::parse_from([
        "ruvector-bench",
        "--url",
        &c.conninfo("postgres"),
        "--synthetic",
        "100,4",
        "--compare",
        "pgvector",
        "--db-prefix",
        "errs",
    ]);
    // pgvector may be installed on a developer machine; only check the message when it is not.
    let mut client = c.connect("postgres").unwrap();
    let has_pgvector = client
        .query_opt(
            "SELECT 1 FROM pg_available_extensions WHERE name = 'vector'",
            &[],
        )
        .unwrap()
        .is_some();
    if !has_pgvector {
        let e = format!(
            "{:#}",
            ruvector_bench::run::run(&no_pgvector, String::new()).unwrap_err()
        );
        assert!(
            e.contains("pgvector (extension \"vector\") is not installed"),
            "{e}"
        );
    }
}
