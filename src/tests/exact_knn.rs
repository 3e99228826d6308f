// Exact nearest-neighbour search (sequential scan, ORDER BY distance LIMIT k) by every operator of
// every type on the GloVe set, against a brute force computed here in f64 from the raw floats,
// which is itself checked against the dataset's published ground truth.

const GLOVE_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/data/glove-100k");
const K: usize = 10;
const QUERIES: usize = 20;

/// Reads a TEXMEX `.fvecs` file: rows of (int32 dim, dim × float32), little-endian.
fn read_fvecs(path: &str) -> Vec<Vec<f32>> {
    let bytes = std::fs::read(path).unwrap_or_else(|e| {
        panic!("{path}: {e}. The recall and exact-search tests need ../shared/data/glove-100k next to the project")
    });
    let mut rows = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        let dim = i32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
        at += 4;
        rows.push(
            bytes[at..at + 4 * dim]
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
                .collect(),
        );
        at += 4 * dim;
    }
    rows
}

fn read_ivecs(path: &str) -> Vec<Vec<i32>> {
    read_fvecs(path)
        .into_iter()
        .map(|r| r.into_iter().map(|x| x.to_bits() as i32).collect())
        .collect()
}

type Dist = fn(&[f64], &[f64]) -> f64;

fn l2(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum::<f64>().sqrt()
}
fn neg_ip(a: &[f64], b: &[f64]) -> f64 {
    -a.iter().zip(b).map(|(x, y)| x * y).sum::<f64>()
}
fn cosine(a: &[f64], b: &[f64]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let na: f64 = a.iter().map(|x| x * x).sum();
    let nb: f64 = b.iter().map(|x| x * x).sum();
    1.0 - dot / (na * nb).sqrt()
}
fn l1(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).sum()
}
fn hamming(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).filter(|(x, y)| (**x > 0.0) != (**y > 0.0)).count() as f64
}
fn jaccard(a: &[f64], b: &[f64]) -> f64 {
    let both = a.iter().zip(b).filter(|(x, y)| **x > 0.0 && **y > 0.0).count() as f64;
    let either = a.iter().zip(b).filter(|(x, y)| **x > 0.0 || **y > 0.0).count() as f64;
    if both == 0.0 {
        1.0
    } else {
        1.0 - both / either
    }
}

/// Top-k (distance, id) by brute force.
fn brute_force(base: &[Vec<f64>], q: &[f64], dist: Dist) -> Vec<(f64, usize)> {
    let mut all: Vec<(f64, usize)> = base.iter().enumerate().map(|(i, v)| (dist(q, v), i)).collect();
    all.sort_by(|a, b| a.partial_cmp(b).unwrap());
    all.truncate(K);
    all
}

fn literal(x: &[f32]) -> String {
    crate::format::dense_text::format(x.iter().copied())
}

/// Checks the ids the server returned against the brute force, tie-aware: the i-th returned row
/// must be at the i-th brute-force distance (within f32 accumulation error). Returns how many
/// positions hold exactly the brute-force id.
fn check_ranking(what: &str, got: &[usize], base: &[Vec<f64>], q: &[f64], dist: Dist) -> usize {
    let want = brute_force(base, q, dist);
    assert_eq!(got.len(), K, "{what}: LIMIT {K} returned {} rows", got.len());
    let scale = want.iter().map(|w| w.0.abs()).fold(1e-3, f64::max);
    for (i, (id, (wd, _))) in got.iter().zip(&want).enumerate() {
        let gd = dist(q, &base[*id]);
        assert!(
            (gd - wd).abs() <= 2e-5 * scale,
            "{what}: rank {i} returned id {id} at distance {gd}, brute force has {wd} ({want:?})"
        );
    }
    got.iter().zip(&want).filter(|(g, w)| **g == w.1).count()
}

fn ids(query: &str) -> Vec<usize> {
    Spi::connect(|c| {
        c.select(query, None, &[])
            .unwrap()
            .map(|row| row.get::<i32>(1).unwrap().unwrap() as usize)
            .collect()
    })
}

#[pg_test]
fn exact_top_k_matches_brute_force_for_every_operator() {
    let base = read_fvecs(&format!("{GLOVE_DIR}/base.fvecs"));
    let queries = read_fvecs(&format!("{GLOVE_DIR}/query.fvecs"));
    let gt_l2 = read_ivecs(&format!("{GLOVE_DIR}/gt_l2.ivecs"));
    let gt_cos = read_ivecs(&format!("{GLOVE_DIR}/gt_cos.ivecs"));

    // Load with binary COPY (ids are 0-based row numbers, like the ground truth).
    let path = format!("{}/ruvector_glove_{}.bin", std::env::temp_dir().display(), std::process::id());
    let mut file = b"PGCOPY\n\xff\r\n\0\0\0\0\0\0\0\0\0".to_vec();
    for (i, v) in base.iter().enumerate() {
        let field = crate::format::binary::encode_f32(v);
        file.extend_from_slice(&2i16.to_be_bytes());
        file.extend_from_slice(&4i32.to_be_bytes());
        file.extend_from_slice(&(i as i32).to_be_bytes());
        file.extend_from_slice(&(field.len() as i32).to_be_bytes());
        file.extend_from_slice(&field);
    }
    file.extend_from_slice(&(-1i16).to_be_bytes());
    std::fs::write(&path, &file).unwrap();
    Spi::run("CREATE TABLE glove (id int PRIMARY KEY, v ruvector(50))").unwrap();
    Spi::run(&format!("COPY glove FROM '{path}' (FORMAT binary)")).unwrap();
    let _ = std::fs::remove_file(&path);
    Spi::run(
        "ALTER TABLE glove ADD COLUMN h halfvec(50), ADD COLUMN s sparsevec(50), ADD COLUMN b bit(50);
         UPDATE glove SET h = v, s = v, b = binary_quantize(v);
         ANALYZE glove",
    )
    .unwrap();
    let n = Spi::get_one::<i64>("SELECT count(*) FROM glove").unwrap().unwrap();
    assert_eq!(n as usize, base.len());

    let base64: Vec<Vec<f64>> = base.iter().map(|v| v.iter().map(|x| *x as f64).collect()).collect();
    let base16: Vec<Vec<f64>> = base
        .iter()
        .map(|v| v.iter().map(|x| half::f16::from_f32(*x).to_f64()).collect())
        .collect();

    // The brute force agrees with the dataset's exact ground truth (up to ties).
    for (qi, q) in queries.iter().take(QUERIES).enumerate() {
        let q64: Vec<f64> = q.iter().map(|x| *x as f64).collect();
        let gt = |g: &Vec<Vec<i32>>| g[qi][..K].iter().map(|i| *i as usize).collect::<Vec<_>>();
        check_ranking("ground truth l2", &gt(&gt_l2), &base64, &q64, l2);
        check_ranking("ground truth cosine", &gt(&gt_cos), &base64, &q64, cosine);
    }

    let cases: [(&str, &str, &str, Dist, bool); 14] = [
        ("ruvector <->", "v", "<->", l2, false),
        ("ruvector <#>", "v", "<#>", neg_ip, false),
        ("ruvector <=>", "v", "<=>", cosine, false),
        ("ruvector <+>", "v", "<+>", l1, false),
        ("halfvec <->", "h", "<->", l2, true),
        ("halfvec <#>", "h", "<#>", neg_ip, true),
        ("halfvec <=>", "h", "<=>", cosine, true),
        ("halfvec <+>", "h", "<+>", l1, true),
        ("sparsevec <->", "s", "<->", l2, false),
        ("sparsevec <#>", "s", "<#>", neg_ip, false),
        ("sparsevec <=>", "s", "<=>", cosine, false),
        ("sparsevec <+>", "s", "<+>", l1, false),
        ("bit <~>", "b", "<~>", hamming, false),
        ("bit <%>", "b", "<%>", jaccard, false),
    ];
    let (mut exact, mut total) = (0, 0);
    for (what, col, op, dist, is_half) in cases {
        for q in queries.iter().take(QUERIES) {
            let lit = literal(q);
            let rhs = match col {
                "v" => format!("'{lit}'::ruvector"),
                "h" => format!("'{lit}'::halfvec"),
                "s" => format!("'{lit}'::ruvector::sparsevec"),
                _ => format!("binary_quantize('{lit}'::ruvector)"),
            };
            let got = ids(&format!(
                "SELECT id FROM glove ORDER BY {col} {op} {rhs}, id LIMIT {K}"
            ));
            let (b, q64): (&[Vec<f64>], Vec<f64>) = if is_half {
                (&base16, q.iter().map(|x| half::f16::from_f32(*x).to_f64()).collect())
            } else {
                (&base64, q.iter().map(|x| *x as f64).collect())
            };
            exact += check_ranking(what, &got, b, &q64, dist);
            total += K;
        }
    }
    // Ties aside, the ids themselves agree; bit distances tie often, the others almost never.
    assert!(exact * 10 >= total * 8, "only {exact} of {total} ids matched the brute force exactly");
}
