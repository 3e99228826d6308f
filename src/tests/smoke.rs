// Smoke test: the extension loads and answers.

#[pg_test]
fn version_is_crate_version() {
    let v = Spi::get_one::<String>("SELECT ruvector_version()").unwrap();
    assert_eq!(v.as_deref(), Some(env!("CARGO_PKG_VERSION")));
}
