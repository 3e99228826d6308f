//! `ruvector_index_check` and `ruvector_index_maintenance` on a state an interrupted VACUUM
//! leaves: a ruhnsw VACUUM cancelled (`statement_timeout`) after its first pass has taken the
//! dead rows' heap TIDs out of their elements and before its third marks them deleted. Those
//! elements have no rows and are not deleted; searches walk through them until the next VACUUM
//! finishes them. The check reports them as a warning (not damage: the index answers
//! correctly), maintenance finishes them at once — repairs the links to them, marks them
//! deleted — and afterwards the index checks clean, holds exactly the table's rows, reuses
//! their slots, and VACUUM goes on as before.

use postgres::Client;
use ruvector_bench::dataset::Metric;
use ruvector_server_tests::assert_index_healthy;
use ruvector_server_tests::cluster::Cluster;
use ruvector_server_tests::data::{
    copy_rows, create_table, glove, hnsw_ids_through_index, ids_in_table,
};
use ruvector_server_tests::pages::{items, read_tid, write_tid};

fn report(client: &mut Client, sql: &str) -> serde_json::Value {
    let text: String = client.query_one(sql, &[]).unwrap().get(0);
    serde_json::from_str(&text).unwrap()
}

#[test]
fn maintenance_finishes_a_cancelled_vacuum() {
    let ds = glove(Metric::Cosine);
    let c = Cluster::new("health", 5581, &["autovacuum = off"]).unwrap();
    let mut client = c.with_extension().unwrap();
    create_table(&mut client, "items", ds.base.dim).unwrap();
    copy_rows(&mut client, "items", &ds, 0..20_000).unwrap();
    client
        .batch_execute(
            "CREATE INDEX items_idx ON items USING ruhnsw (embedding ruvector_cosine_ops);
             DELETE FROM items WHERE id % 4 = 0",
        )
        .unwrap();
    assert_index_healthy(&mut client, "items_idx");

    // Cancel VACUUM ever later until one stops between its first and third index passes (the
    // second, repairing the graph with a search per damaged list, takes seconds; the heap
    // scan and the first pass, milliseconds).
    let mut rowless = 0;
    for timeout_ms in [20, 40, 80, 160, 320, 640, 1280] {
        client
            .batch_execute(&format!("SET statement_timeout = {timeout_ms}"))
            .unwrap();
        let cancelled = match client.batch_execute("VACUUM items") {
            Ok(()) => false,
            Err(e) => {
                assert_eq!(e.code().map(|c| c.code()), Some("57014"), "{e}");
                true
            }
        };
        // The timeout may fire as the statement ends and cancel the next one instead: reset
        // until the reset itself goes through.
        while client.batch_execute("RESET statement_timeout").is_err() {}
        let r = report(
            &mut client,
            "SELECT ruvector_index_check('items_idx', true)::text",
        );
        assert_eq!(r["ok"], true, "{r}");
        rowless = r["checked"]["elements_without_rows"].as_u64().unwrap();
        println!(
            "VACUUM cancelled after {timeout_ms} ms: {cancelled}; elements without rows: {rowless}"
        );
        if rowless > 0 {
            let warnings = r["warnings"].to_string();
            assert!(warnings.contains("ruvector_index_maintenance"), "{r}");
            break;
        }
        assert!(
            cancelled,
            "VACUUM finished before any timeout caught it mid-way"
        );
    }
    assert!(rowless > 0, "no timeout stopped VACUUM between its passes");

    // Maintenance finishes them.
    let m = report(
        &mut client,
        "SELECT ruvector_index_maintenance('items_idx')::text",
    );
    println!("maintenance: {m}");
    assert_eq!(m["stranded_elements_found"], rowless, "{m}");
    assert_eq!(m["stranded_elements_deleted"], rowless, "{m}");
    let r = assert_index_healthy(&mut client, "items_idx");
    assert_eq!(r["checked"]["elements_without_rows"], 0, "{r}");
    assert_eq!(r["warning_count"], 0, "{r}");
    assert_eq!(
        hnsw_ids_through_index(&mut client, "items", "items_idx", ds.queries.row(0)),
        ids_in_table(&mut client, "items"),
        "index and table disagree after maintenance"
    );

    // The freed slots are reused by inserts (the index does not grow), and a second run of
    // maintenance finds nothing to do.
    let size = |client: &mut Client| -> i64 {
        client
            .query_one("SELECT pg_relation_size('items_idx')", &[])
            .unwrap()
            .get(0)
    };
    let before = size(&mut client);
    client
        .batch_execute("INSERT INTO items SELECT id + 100000, embedding FROM items WHERE id < 2000")
        .unwrap();
    assert_eq!(
        size(&mut client),
        before,
        "inserts did not reuse the freed slots"
    );
    let m = report(
        &mut client,
        "SELECT ruvector_index_maintenance('items_idx')::text",
    );
    assert_eq!(m["stranded_elements_found"], 0, "{m}");
    assert_eq!(m["neighbor_lists_repaired"], 0, "{m}");
    // VACUUM removes the dead rows the cancelled one left in the table; nothing is left for
    // the index to delete.
    client.batch_execute("VACUUM items").unwrap();
    let r = assert_index_healthy(&mut client, "items_idx");
    assert_eq!(r["warning_count"], 0, "{r}");
    assert_eq!(
        hnsw_ids_through_index(&mut client, "items", "items_idx", ds.queries.row(1)),
        ids_in_table(&mut client, "items")
    );
}

/// `statement_timeout` (a cancel, as a client's would be) stops the check, maintenance, an
/// index build, VACUUM's index passes and searches that read a whole index promptly: each
/// is given 20 ms (VACUUM 300 ms) on a 60,000-row index, must fail with 57014, and the time until the error
/// is printed and bounded (1 s is the aim; the bound allows for a loaded machine).
/// The checks only read, and on a fast machine the IVF check of 60,000 rows finishes in
/// about 20 ms, so each check first runs uncancelled and is then given a fifth of the time
/// it took (at most 20 ms): the timeout always fires well before the check could end.
#[test]
fn check_and_maintenance_honour_statement_timeout() {
    let ds = glove(Metric::Cosine);
    let c = Cluster::new("health-cancel", 5582, &["autovacuum = off"]).unwrap();
    let mut client = c.with_extension().unwrap();
    create_table(&mut client, "items", ds.base.dim).unwrap();
    copy_rows(&mut client, "items", &ds, 0..60_000).unwrap();
    client
        .batch_execute(
            "CREATE INDEX items_idx ON items USING ruhnsw (embedding ruvector_cosine_ops);
             CREATE INDEX items_ivf ON items USING ruivfflat (embedding ruvector_cosine_ops)
                 WITH (lists = 100)",
        )
        .unwrap();
    let q = ds.queries.row(0);
    // (statement, its timeout in ms: VACUUM's is past the table's part, into the index's
    // graph repair, which takes seconds)
    let mut check_timeout = |sql: &str| {
        let start = std::time::Instant::now();
        client.batch_execute(sql).unwrap();
        let took = start.elapsed();
        println!("{sql}: {took:?} uncancelled");
        (took.as_millis() as u64 / 5).clamp(1, 20)
    };
    let check_hnsw = "SELECT ruvector_index_check('items_idx', true)";
    let check_ivf = "SELECT ruvector_index_check('items_ivf', true)";
    let cases = [
        (check_hnsw, check_timeout(check_hnsw)),
        (check_ivf, check_timeout(check_ivf)),
        ("SELECT ruvector_index_maintenance('items_idx')", 20),
        (
            "CREATE INDEX items_idx2 ON items USING ruhnsw (embedding ruvector_cosine_ops)",
            20,
        ),
        ("DELETE FROM items WHERE id % 2 = 0; VACUUM items", 300),
        (
            "SET enable_seqscan = off; SET ruvector.probes = 100; \
             SELECT count(*) FROM generate_series(1, 50) g, LATERAL (SELECT id FROM items \
             ORDER BY embedding <=> '__Q__' LIMIT 100000000) s",
            20,
        ),
        (
            "DROP INDEX items_ivf; SET ruvector.hnsw_iterative_scan = relaxed_order; \
             SET ruvector.hnsw_max_scan_tuples = 100000000; \
             SELECT count(*) FROM generate_series(1, 50) g, LATERAL (SELECT id FROM items \
             ORDER BY embedding <=> '__Q__' LIMIT 100000000) s",
            20,
        ),
    ];
    let qtext = format!(
        "[{}]",
        q.iter()
            .map(|x| x.to_string())
            .collect::<Vec<_>>()
            .join(",")
    );
    for (sql, timeout) in cases {
        let sql = sql.replace("__Q__", &qtext);
        let (last, setup) = match sql.rsplit_once("; ") {
            Some((setup, last)) => (last.to_string(), setup.to_string()),
            None => (sql.clone(), String::new()),
        };
        if !setup.is_empty() {
            client.batch_execute(&setup).unwrap();
        }
        client
            .batch_execute(&format!("SET statement_timeout = {timeout}"))
            .unwrap();
        let start = std::time::Instant::now();
        let r = client.batch_execute(&last);
        let took = start.elapsed();
        // The timeout may fire as the statement ends and cancel the next one instead: reset
        // until the reset itself goes through.
        while client.batch_execute("RESET statement_timeout").is_err() {}
        let code = r.err().and_then(|e| e.code().map(|c| c.code().to_string()));
        println!("{last:.60}: cancelled after {took:?}");
        assert_eq!(code.as_deref(), Some("57014"), "{last}: not cancelled");
        assert!(
            took < std::time::Duration::from_secs(3),
            "{last}: the cancel took {took:?}"
        );
    }
    // The index is intact after every cancelled operation.
    client.batch_execute("RESET ALL").unwrap();
    assert_index_healthy(&mut client, "items_idx");
}

/// Links only damage makes: a key link joining two elements of different keys (a filtered
/// walk enters an element it then finds failing — no wrong row, as every element's keys are
/// checked) and a link to an element already marked deleted (searches skip it). The check
/// reports the first as a warning with where it is and counts both; maintenance gives both
/// neighbour lists new ones, after which the check finds none.
#[test]
fn damaged_links_are_found_and_repaired() {
    let c = Cluster::new(
        "health-keylinks",
        5590,
        &["autovacuum = off", "ignore_checksum_failure = on"],
    )
    .unwrap();
    let mut client = c.with_extension().unwrap();
    // k: 10 values of 3,000 rows each — more than a filtered scan visits directly, so the
    // column gets key links.
    client
        .batch_execute(
            "CREATE TABLE t (id int PRIMARY KEY, v ruvector(4), k int4);
             INSERT INTO t SELECT i, ARRAY[sin(i), cos(i), sin(i * 0.7), cos(i * 1.3)]::ruvector,
                                  i % 10
             FROM generate_series(1, 30000) i;
             CREATE INDEX t_idx ON t USING ruhnsw (v ruvector_l2_ops, k);
             DELETE FROM t WHERE id % 100 = 0",
        )
        .unwrap();
    client.batch_execute("VACUUM t").unwrap();
    client.batch_execute("CHECKPOINT").unwrap();
    let linked: String = client
        .query_one(
            "SELECT (ruvector_index_stats('t_idx') -> 'key_link_columns')::text",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(linked, "[1]");
    let clean = report(&mut client, "SELECT ruvector_index_check('t_idx')::text");
    assert_eq!(clean["ok"], true, "{clean}");
    assert_eq!(clean["warning_count"], 0, "{clean}");
    assert_eq!(clean["checked"]["key_links_across_keys"], 0, "{clean}");
    assert_eq!(clean["checked"]["links_to_deleted"], 0, "{clean}");
    let key_of: std::collections::HashMap<(u32, u16), i32> = client
        .query(
            "SELECT (ctid::text::point)[0]::int8, (ctid::text::point)[1]::int4, k FROM t",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| {
            let (b, o, k): (i64, i32, i32) = (r.get(0), r.get(1), r.get(2));
            ((b as u32, o as u16), k)
        })
        .collect();
    let file: String = client
        .query_one("SELECT pg_relation_filepath('t_idx')", &[])
        .unwrap()
        .get(0);
    drop(client);
    c.stop().unwrap();

    // Elements (item type 1): live ones of level 0, with their TID, key and neighbour tuple;
    // and deleted ones (header byte 2).
    let path = c.dir.join(&file);
    let mut bytes = std::fs::read(&path).unwrap();
    let mut elements = Vec::new();
    let mut deleted = Vec::new();
    // Element pages: the page type in ruvector's 8-byte trailer (next block, type, flags,
    // magic) is 2.
    for (block, page) in bytes.chunks(8192).enumerate().skip(1) {
        if page[8192 - 4] != 2 {
            continue;
        }
        for (off, r) in items(page) {
            let e = &page[r];
            if e.len() >= 24 && e[0] == 1 && e[1] == 0 && e[2] == 0 {
                let k = key_of[&read_tid(&e[14..20])];
                elements.push(((block as u32, off), k, read_tid(&e[8..14])));
            } else if e.len() >= 24 && e[0] == 1 && e[2] == 1 {
                deleted.push((block as u32, off));
            }
        }
    }
    assert!(!deleted.is_empty(), "VACUUM left no deleted element");
    let (a, ka, a_neighbors) = elements[0];
    let (b, _, _) = *elements.iter().find(|e| e.1 != ka).unwrap();
    let (_, _, d_neighbors) = elements[1];
    // A neighbour tuple (type 2): 2m = 32 layer-0 slots, then its key list.
    let neighbor_tuple = |bytes: &[u8], (nblock, noff): (u32, u16)| {
        let page = nblock as usize * 8192;
        let (_, r) = items(&bytes[page..page + 8192])
            .into_iter()
            .find(|(o, _)| *o == noff)
            .unwrap();
        assert_eq!(bytes[page + r.start], 2, "neighbour tuple");
        page + r.start
    };
    // a's first key link now points at b, an element with another key.
    let slot = neighbor_tuple(&bytes, a_neighbors) + 4 + 32 * 6;
    assert_ne!(read_tid(&bytes[slot..slot + 6]), b);
    write_tid(&mut bytes[slot..slot + 6], b);
    // Another element's first layer-0 link now points at a deleted element.
    let slot = neighbor_tuple(&bytes, d_neighbors) + 4;
    write_tid(&mut bytes[slot..slot + 6], deleted[0]);
    std::fs::write(&path, bytes).unwrap();
    c.start().unwrap();

    let mut client = c.connect("postgres").unwrap();
    let r = report(&mut client, "SELECT ruvector_index_check('t_idx')::text");
    assert_eq!(r["ok"], true, "{r}");
    assert_eq!(r["checked"]["key_links_across_keys"], 1, "{r}");
    assert_eq!(r["checked"]["links_to_deleted"], 1, "{r}");
    let warnings = r["warnings"].to_string();
    let expected = format!(
        "element ({},{})'s key link (list 0) points to ({},{}), an element with another key",
        a.0, a.1, b.0, b.1
    );
    assert!(warnings.contains(&expected), "{expected} not in {r}");
    // Filtered searches still return only rows of the key asked for.
    let wrong: i64 = client
        .query_one(
            &format!(
                "SELECT count(*) FROM (SELECT k FROM t WHERE k = {ka}
                 ORDER BY v <-> '[0.1, 0.9, 0.2, 0.8]' LIMIT 100) s WHERE k <> {ka}"
            ),
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(wrong, 0);
    let m = report(
        &mut client,
        "SELECT ruvector_index_maintenance('t_idx')::text",
    );
    println!("maintenance: {m}");
    assert_eq!(m["damaged_neighbor_lists_repaired"], 2, "{m}");
    assert_eq!(m["links_to_deleted_removed"], 1, "{m}");
    assert_eq!(m["key_links_across_keys_removed"], 1, "{m}");
    let r = report(
        &mut client,
        "SELECT ruvector_index_check('t_idx', heapallindexed => true)::text",
    );
    assert_eq!(r["ok"], true, "{r}");
    assert_eq!(r["warning_count"], 0, "{r}");
    assert_eq!(r["checked"]["key_links_across_keys"], 0, "{r}");
    assert_eq!(r["checked"]["links_to_deleted"], 0, "{r}");
    // A second run finds nothing left to repair.
    let m = report(
        &mut client,
        "SELECT ruvector_index_maintenance('t_idx')::text",
    );
    assert_eq!(m["damaged_neighbor_lists_repaired"], 0, "{m}");
}

/// A code page no element refers to — what an insert leaves when it stops between writing a
/// split code's parts and its element (sq8 codes above 8,074 dimensions are split over code
/// pages) — planted as a copy of a code page appended to the index file. The check warns about
/// it; maintenance empties it and records it in the free space map; the check is then clean,
/// and the next insert with a split code writes a part on it instead of extending the file.
#[test]
fn orphaned_code_pages_are_reclaimed() {
    let c = Cluster::new(
        "health-orphans",
        5591,
        &["autovacuum = off", "ignore_checksum_failure = on"],
    )
    .unwrap();
    let mut client = c.with_extension().unwrap();
    let rows = |first: i32, last: i32| {
        format!(
            "INSERT INTO t SELECT i, (SELECT array_agg(sin(i * 0.37 + j * 0.011))
                                      FROM generate_series(1, 9000) j)::ruvector
             FROM generate_series({first}, {last}) i"
        )
    };
    client
        .batch_execute(&format!(
            "CREATE TABLE t (id int PRIMARY KEY, v ruvector(9000));
             {};
             CREATE INDEX t_idx ON t USING ruhnsw (v ruvector_l2_ops) WITH (quantization = 'sq8');
             CHECKPOINT",
            rows(1, 100)
        ))
        .unwrap();
    let clean = report(&mut client, "SELECT ruvector_index_check('t_idx')::text");
    assert_eq!(clean["ok"], true, "{clean}");
    assert_eq!(clean["warning_count"], 0, "{clean}");
    assert!(
        clean["checked"]["code_parts"].as_u64().unwrap() >= 200,
        "{clean}"
    );
    let file: String = client
        .query_one("SELECT pg_relation_filepath('t_idx')", &[])
        .unwrap()
        .get(0);
    drop(client);
    c.stop().unwrap();

    // Append a copy of the last code page (trailer page type 3).
    let path = c.dir.join(&file);
    let mut bytes = std::fs::read(&path).unwrap();
    let code_page = bytes
        .chunks(8192)
        .rposition(|p| p[8192 - 4] == 3)
        .expect("a code page");
    let copy = bytes[code_page * 8192..(code_page + 1) * 8192].to_vec();
    bytes.extend_from_slice(&copy);
    let orphan = bytes.len() / 8192 - 1;
    std::fs::write(&path, bytes).unwrap();
    c.start().unwrap();

    let mut client = c.connect("postgres").unwrap();
    let r = report(&mut client, "SELECT ruvector_index_check('t_idx')::text");
    assert_eq!(r["ok"], true, "{r}");
    let warnings = r["warnings"].to_string();
    assert!(
        warnings.contains("code page no element refers to") && r["warning_count"] == 1,
        "{r}"
    );
    let m = report(
        &mut client,
        "SELECT ruvector_index_maintenance('t_idx')::text",
    );
    println!("maintenance: {m}");
    assert_eq!(m["code_pages_reclaimed"], 1, "{m}");
    let r = report(
        &mut client,
        "SELECT ruvector_index_check('t_idx', heapallindexed => true)::text",
    );
    assert_eq!(r["ok"], true, "{r}");
    assert_eq!(r["warning_count"], 0, "{r}");
    assert_eq!(r["checked"]["free_pages"], 1, "{r}");
    let again = report(
        &mut client,
        "SELECT ruvector_index_maintenance('t_idx')::text",
    );
    assert_eq!(again["code_pages_reclaimed"], 0, "{again}");

    // One row: its two parts go on the free page and on one new page.
    let blocks = |client: &mut Client| -> i64 {
        client
            .query_one("SELECT pg_relation_size('t_idx') / 8192", &[])
            .unwrap()
            .get(0)
    };
    let before = blocks(&mut client);
    assert_eq!(before as usize, orphan + 1);
    client.batch_execute(&rows(101, 101)).unwrap();
    let r = report(&mut client, "SELECT ruvector_index_check('t_idx')::text");
    assert_eq!(r["ok"], true, "{r}");
    assert_eq!(r["warning_count"], 0, "{r}");
    assert_eq!(r["checked"]["free_pages"], 0, "{r}");
    // Without the free page, two new code pages (the element fits on its page).
    let grown = blocks(&mut client) - before;
    assert_eq!(grown, 1, "the insert extended the index by {grown} blocks");
    // The new row is found by its own vector.
    client
        .batch_execute("SET enable_seqscan = off; SET ruvector.ef_search = 100")
        .unwrap();
    let top: i32 = client
        .query_one(
            "SELECT id FROM t ORDER BY v <-> (SELECT v FROM t WHERE id = 101) LIMIT 1",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(top, 101);
}
