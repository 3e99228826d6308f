// The batched buffer calls of `am::page::batch`: a panic while a page is read in a batch
// leaves no lock behind and reaches the caller as itself; an error PostgreSQL raises inside a
// batch's guard becomes an ordinary ERROR.

/// Opens the index `name` (a small ruhnsw index made here) for the rest of the transaction.
fn small_index(name: &str) -> crate::am::page::Rel {
    Spi::run(&format!(
        "CREATE TABLE {name}_t (v ruvector(2));
         INSERT INTO {name}_t SELECT ARRAY[i, i % 7]::ruvector FROM generate_series(1, 50) i;
         CREATE INDEX {name} ON {name}_t USING ruhnsw (v ruvector_l2_ops)"
    ))
    .unwrap();
    let oid = Spi::get_one::<pg_sys::Oid>(&format!("SELECT '{name}'::regclass::oid"))
        .unwrap()
        .unwrap();
    // SAFETY: in a transaction; the relation exists (made above). It stays open until the
    // transaction ends.
    unsafe {
        crate::am::page::Rel::from_raw(pg_sys::index_open(
            oid,
            pg_sys::AccessShareLock as pg_sys::LOCKMODE,
        ))
    }
}

/// Whether this backend can take `pin`'s buffer's exclusive lock at once (no share lock of
/// its own is left on it), releasing it again.
fn can_lock_exclusively(pin: &crate::am::page::Pinned) -> bool {
    let buf = pin.buffer();
    // SAFETY: the buffer is pinned.
    unsafe {
        let got = pg_sys::ConditionalLockBuffer(buf);
        if got {
            pg_sys::LockBuffer(buf, pg_sys::BUFFER_LOCK_UNLOCK as i32);
        }
        got
    }
}

#[pg_test]
fn batch_read_releases_its_lock_when_the_reader_panics() {
    use crate::am::page::Pinned;
    let rel = small_index("batch_panic_idx");
    let pin = Pinned::read(rel, 1);
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        pin.read_shared(|page| {
            assert!(page.item(1).is_some());
            panic!("reader failed on purpose")
        })
    }));
    let message = caught.expect_err("the panic reaches the caller");
    assert_eq!(
        message.downcast_ref::<&str>(),
        Some(&"reader failed on purpose")
    );
    assert!(can_lock_exclusively(&pin), "read_shared left its share lock");

    let pins = vec![Pinned::read(rel, 1), Pinned::read(rel, 0)];
    let mut read = Vec::new();
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        Pinned::read_each_shared(&pins, &[1, 0, 7, 1], |i, _| {
            read.push(i);
            if i == 1 {
                panic!("second read failed on purpose");
            }
        })
    }));
    assert!(caught.is_err());
    // The first two ran; after the panic nothing more was read.
    assert_eq!(read, vec![0, 1]);
    assert!(pins.iter().all(can_lock_exclusively), "a batch left a share lock");
    let mut pins = pins;
    Pinned::release_all(&mut pins);
    assert!(pins.is_empty());
}

#[pg_test]
fn batch_reads_and_pins_like_single_calls() {
    use crate::am::page::{BufferHint, Pinned};
    let rel = small_index("batch_read_idx");
    let blocks = rel.blocks();
    assert!(blocks >= 2);
    // Pin every block twice in one batch: once without a hint, once with the hint the first
    // read recorded.
    let mut pins = Vec::new();
    let wanted: Vec<(u32, Option<BufferHint>)> = (0..blocks).map(|b| (b, None)).collect();
    Pinned::read_each_with_hint(rel, &wanted, &mut pins);
    let hinted: Vec<(u32, Option<BufferHint>)> =
        (0..blocks).map(|b| (b, BufferHint::of(rel, b))).collect();
    assert!(hinted.iter().all(|(_, h)| h.is_some()));
    Pinned::read_each_with_hint(rel, &hinted, &mut pins);
    assert_eq!(pins.len(), 2 * blocks as usize);
    for (i, pin) in pins.iter().enumerate() {
        assert_eq!(pin.block(), i as u32 % blocks);
    }
    // Each page read in a batch is the page read alone.
    let which: Vec<usize> = (0..pins.len()).collect();
    let mut lines = vec![0usize; pins.len()];
    Pinned::read_each_shared(&pins, &which, |i, page| lines[i] = page.max_offset() as usize);
    for (pin, n) in pins.iter().zip(&lines) {
        assert_eq!(pin.read_shared(|page| page.max_offset() as usize), *n);
    }
    assert!(lines.iter().any(|&n| n > 0));
    Pinned::release_all(&mut pins);
    assert!(pins.is_empty());
}

#[pg_test(error = "unrecognized buffer lock mode: 99")]
fn error_inside_a_batch_guard_is_an_error() {
    let rel = small_index("batch_error_idx");
    let pin = crate::am::page::Pinned::read(rel, 1);
    crate::am::page::lock_in_batch_for_test(&pin, 99);
}

#[pg_test(error = "a page read in a batch failed on purpose")]
fn error_reported_while_reading_in_a_batch_is_that_error() {
    let rel = small_index("batch_report_idx");
    let pin = crate::am::page::Pinned::read(rel, 1);
    pin.read_shared(|_| -> () { pgrx::error!("a page read in a batch failed on purpose") });
}
