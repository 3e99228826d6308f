//! An index whose on-disk format version this build cannot read (written by a newer ruvector,
//! then the package downgraded) is refused with a clear ERROR on every access — scan, insert,
//! VACUUM, `ruvector_index_stats` — never read as an older format: SQLSTATE XX002, the index's
//! name, the version found and the versions this build reads, and a HINT to REINDEX. The
//! planner still plans around it (a query with index scans disabled runs), and REINDEX repairs
//! it.
//!
//! The test stops the server and writes a future version (99) into the meta page's version
//! field (bytes 4..8 of the page contents, after the 24-byte page header), after checking
//! that the magic number is where the layout says. Data checksums are off for this cluster
//! (PostgreSQL 18 enables them by default), so that the page is read rather than rejected.

use postgres::error::DbError;
use postgres::Client;
use ruvector_server_tests::cluster::{Cluster, Install};
use std::io::{Read, Seek, SeekFrom, Write};

/// Meta page contents start after the page header (`SizeOfPageHeaderData`, MAXALIGNed).
const CONTENTS: u64 = 24;
const FUTURE: u32 = 99;

/// `(index, magic, versions this build reads, the access method's name)`
const INDEXES: &[(&str, u32, &str, &str)] = &[
    ("items_hnsw", 0x5255_484E, "1 to 5", "ruhnsw"),
    ("items_hnsw_sq8", 0x5255_484E, "1 to 5", "ruhnsw"),
    ("items_ivf", 0x5255_4956, "1 to 4", "ruivfflat"),
];

fn error_of(r: Result<impl Sized, postgres::Error>) -> DbError {
    match r {
        Ok(_) => panic!("expected an ERROR"),
        Err(e) => e
            .as_db_error()
            .unwrap_or_else(|| panic!("not a server error: {e}"))
            .clone(),
    }
}

fn expect_refused(r: Result<impl Sized, postgres::Error>, index: &str, am: &str, reads: &str) {
    let e = error_of(r);
    assert_eq!(e.code().code(), "XX002", "{e:?}");
    assert_eq!(
        e.message(),
        format!(
            "index \"{index}\" has {am} format version {FUTURE}, which this build of ruvector \
             cannot read"
        )
    );
    assert!(
        e.detail()
            .is_some_and(|d| d.ends_with(&format!("reads {am} format versions {reads}."))),
        "{e:?}"
    );
    assert_eq!(
        e.hint(),
        Some(format!("Rebuild the index with REINDEX INDEX public.{index};").as_str())
    );
}

fn patch_version(c: &Cluster, file: &str, magic: u32) {
    let path = c.dir.join(file);
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&path)
        .unwrap();
    let mut head = [0u8; 8];
    f.seek(SeekFrom::Start(CONTENTS)).unwrap();
    f.read_exact(&mut head).unwrap();
    assert_eq!(
        u32::from_ne_bytes(head[0..4].try_into().unwrap()),
        magic,
        "{file}: no meta page magic where the layout puts it"
    );
    f.seek(SeekFrom::Start(CONTENTS + 4)).unwrap();
    f.write_all(&FUTURE.to_ne_bytes()).unwrap();
}

#[test]
fn a_future_format_version_is_refused_everywhere_until_reindex() {
    let install = Install::current();
    let initdb: &[&str] = if install.major >= 18 {
        &["--no-data-checksums"]
    } else {
        &[]
    };
    let c = Cluster::create(&install, "format-version", 5551, initdb, &[]).unwrap();
    let mut client = c.with_extension().unwrap();
    client
        .batch_execute(
            "CREATE TABLE items (id int4 PRIMARY KEY, embedding ruvector(3));
             INSERT INTO items SELECT i, format('[%s,%s,%s]', sin(i), cos(i), i % 7)::ruvector
               FROM generate_series(1, 2000) i;
             CREATE INDEX items_hnsw ON items USING ruhnsw (embedding ruvector_l2_ops);
             CREATE INDEX items_hnsw_sq8 ON items USING ruhnsw (embedding ruvector_cosine_ops)
               WITH (quantization = 'sq8');
             CREATE INDEX items_ivf ON items USING ruivfflat (embedding ruvector_ip_ops)
               WITH (lists = 10);
             CHECKPOINT",
        )
        .unwrap();
    let files: Vec<String> = INDEXES
        .iter()
        .map(|(i, ..)| {
            client
                .query_one(&format!("SELECT pg_relation_filepath('{i}')"), &[])
                .unwrap()
                .get(0)
        })
        .collect();
    drop(client);
    c.stop().unwrap();
    for ((_, magic, ..), file) in INDEXES.iter().zip(&files) {
        patch_version(&c, file, *magic);
    }
    c.start().unwrap();
    let mut client: Client = c.connect("postgres").unwrap();

    for (index, _, reads, am) in INDEXES {
        let op = match *index {
            "items_hnsw" => "<->",
            "items_hnsw_sq8" => "<=>",
            _ => "<#>",
        };
        let query = format!("SELECT id FROM items ORDER BY embedding {op} '[1,0,1]' LIMIT 5");
        // Only this index may serve the query.
        let others: Vec<&str> = INDEXES
            .iter()
            .map(|(i, ..)| *i)
            .filter(|i| i != index)
            .collect();
        let mut tx = client.transaction().unwrap();
        for o in &others {
            tx.batch_execute(&format!("DROP INDEX {o}")).unwrap();
        }
        tx.batch_execute("SET LOCAL enable_seqscan = off").unwrap();
        // The planner does not fail: the scan does.
        let plan: String = tx
            .query(&format!("EXPLAIN (COSTS OFF) {query}"), &[])
            .unwrap()
            .iter()
            .map(|r| r.get::<_, String>(0))
            .collect();
        assert!(plan.contains(index), "{plan}");
        expect_refused(tx.query(&query, &[]), index, am, reads);
        tx.rollback().unwrap();

        // Inserts into the table go through every index's aminsert.
        let mut tx = client.transaction().unwrap();
        for o in &others {
            tx.batch_execute(&format!("DROP INDEX {o}")).unwrap();
        }
        expect_refused(
            tx.execute("INSERT INTO items VALUES (100000, '[1,2,3]')", &[]),
            index,
            am,
            reads,
        );
        tx.rollback().unwrap();

        expect_refused(
            client.query(&format!("SELECT ruvector_index_stats('{index}')"), &[]),
            index,
            am,
            reads,
        );
    }

    // VACUUM reaches every index once a row is dead.
    client
        .batch_execute("SET enable_indexscan = off; SET enable_bitmapscan = off")
        .unwrap();
    client
        .execute("DELETE FROM items WHERE id = 1", &[])
        .unwrap();
    let e = error_of(client.batch_execute("VACUUM items"));
    assert_eq!(e.code().code(), "XX002", "{e:?}");
    assert!(e.message().contains("format version 99"), "{e:?}");

    // Without index scans the table is still usable.
    let n = client
        .query(
            "SELECT id FROM items ORDER BY embedding <-> '[1,0,1]' LIMIT 5",
            &[],
        )
        .unwrap()
        .len();
    assert_eq!(n, 5);

    // REINDEX rebuilds from the table, without reading the old pages.
    for (index, ..) in INDEXES {
        client
            .batch_execute(&format!("REINDEX INDEX {index}"))
            .unwrap();
    }
    client.batch_execute("RESET ALL").unwrap();
    client.batch_execute("VACUUM items").unwrap();
    client
        .batch_execute("INSERT INTO items VALUES (100000, '[1,2,3]')")
        .unwrap();
    client.batch_execute("SET enable_seqscan = off").unwrap();
    let top: i32 = client
        .query_one(
            "SELECT id FROM items ORDER BY embedding <-> '[1,2,3]' LIMIT 1",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(top, 100000);
    assert!(!c.log_contains("PANIC"), "{}", c.log_tail());
}
