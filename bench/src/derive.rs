//! `ruvector-bench derive`: a higher-dimensional TEXMEX set made from a real lower-dimensional
//! one, with exact ground truth — e.g. 1536-d vectors (the size of OpenAI's
//! `text-embedding-3-small`/`ada-002` embeddings) from the 384-d MiniLM set.
//!
//! Why this construction: a real 1536-d corpus with exact ground truth is large to ship and to
//! license, and purely random vectors (i.i.d. Gaussian) have no neighbourhood structure: every
//! point is about equally far from every other, so an index's recall on them says nothing about
//! embeddings. Instead every source vector `x` (base and queries) becomes
//!
//! ```text
//! y = Q x + σ z,        Q ∈ R^{D×d} with QᵀQ = I,   z ~ N(0, I_D)
//! ```
//!
//! * `Q x` is an **isometry** onto a random `d`-dimensional subspace of `R^D`: since `QᵀQ = I`,
//!   `⟨Qx, Qx'⟩ = ⟨x, x'⟩`, so norms, L2 distances, inner products and cosines — and therefore
//!   every exact neighbour list — are exactly those of the source (up to f32 rounding). This is
//!   the exact (distortion 0) case of the Johnson–Lindenstrauss picture: a random orthonormal
//!   frame is a random rotation, which no index can exploit, and it preserves the geometry
//!   rather than merely approximating it.
//! * The isometric image alone still has rank `d`: every vector lies in one `d`-dimensional
//!   subspace, which quantizers (PQ, SQ on a rotated basis) or a PCA could find and which makes
//!   the data easier than real `D`-dimensional embeddings, whose spectrum has a long tail. The
//!   small **i.i.d. Gaussian noise** makes the vectors genuinely full rank (every direction of
//!   `R^D` carries some variance) while hardly moving neighbourhoods: its expected squared norm
//!   is `D σ² = ρ · mean‖Qx‖²` with `ρ` = `--noise` (0.01 by default: a noise vector about a
//!   tenth of a typical vector's length, nearly orthogonal to everything by concentration of
//!   measure). It perturbs inner products by `O(σ‖x‖)`, so the closest near-ties of the source
//!   swap places — the new ground truth is recomputed exactly, and the share of the source's
//!   top-10 that stays in the new top-10 is reported as a sanity figure (high, below 1).
//!
//! `Q`: a `D×d` matrix of i.i.d. standard normal f64 entries, drawn column by column, whose
//! columns are orthonormalised by modified Gram–Schmidt in f64 with one re-orthogonalisation
//! pass ("twice is enough": the loss of orthogonality is then at the level of f64 rounding,
//! checked on every run). A Gaussian matrix's column space is uniformly distributed (Haar), so
//! `Q` is a uniformly random orthonormal frame.
//!
//! Ground truth is exact (see [`ground_truth`]): f32 dot products in a cache-friendly blocked
//! loop select candidates with a proven rounding-error margin, and the candidates are ranked by
//! the same f64 distance as [`crate::dataset::exact_neighbours`], ties by smaller row number.
//!
//! Deterministic: every random number comes from ChaCha-based `StdRng` (rand 0.10, pinned by
//! `Cargo.lock`) keyed by `(seed, stream)` ([`stream_rng`]); the noise of each block of
//! [`NOISE_BLOCK`] rows has its own stream, and every float is summed in a fixed order, so the
//! files are byte-identical for the same inputs and seed, whatever the thread count.

use crate::cli::DeriveArgs;
use crate::dataset::{read_fvecs, read_ivecs, recall, Metric, Vectors};
use anyhow::{bail, ensure, Context, Result};
use rand::rngs::StdRng;
use rand::SeedableRng;
use rand_distr::{Distribution, StandardNormal};
use rayon::prelude::*;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::Path;
use std::time::Instant;

/// Rows whose noise is drawn from one random stream (a constant, so that the output does not
/// depend on how rayon splits the work).
pub const NOISE_BLOCK: usize = 256;

/// Stream of the matrix `Q`.
pub const STREAM_MATRIX: u64 = 0;
/// Stream of the noise of base rows `NOISE_BLOCK·b ..`: `STREAM_BASE + b`.
pub const STREAM_BASE: u64 = 1 << 32;
/// Stream of the noise of query rows `NOISE_BLOCK·b ..`: `STREAM_QUERY + b`.
pub const STREAM_QUERY: u64 = 2 << 32;

/// Queries whose dot products with the base are computed together (they stay in L2 while each
/// base row, read once per block, stays in L1).
const QUERY_BLOCK: usize = 16;
/// Source rows projected together (each column of `Q` is read once per block).
const ROW_BLOCK: usize = 8;

/// The random generator of one stream: `StdRng::from_seed` of the 32-byte key
/// `seed (u64 LE) ‖ stream (u64 LE) ‖ 16 zero bytes`. Distinct `(seed, stream)` pairs are
/// distinct ChaCha keys, hence independent streams.
pub fn stream_rng(seed: u64, stream: u64) -> StdRng {
    let mut key = [0u8; 32];
    key[..8].copy_from_slice(&seed.to_le_bytes());
    key[8..16].copy_from_slice(&stream.to_le_bytes());
    StdRng::from_seed(key)
}

/// What to derive.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Params {
    /// Output dimension `D`.
    pub dims: usize,
    /// Seed of `Q` and of the noise.
    pub seed: u64,
    /// Noise-to-signal energy ratio `ρ`: `D σ² = ρ · mean‖Qx‖²` over the base rows.
    pub noise: f64,
    /// Neighbours per query in the ground truth.
    pub k: usize,
}

impl Default for Params {
    fn default() -> Params {
        Params {
            dims: 1536,
            seed: 42,
            noise: 0.01,
            k: 100,
        }
    }
}

/// A `D×d` matrix with orthonormal columns, column-major: column `j` is
/// `cols[j·D .. (j+1)·D]`.
#[derive(Clone, Debug)]
pub struct Isometry {
    pub dims: usize,
    pub src_dim: usize,
    cols: Vec<f64>,
}

fn dot64(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

impl Isometry {
    /// Draws `G` (`dims × src_dim`, i.i.d. N(0,1) in f64 from stream [`STREAM_MATRIX`], column
    /// by column: entry `(i, j)` is draw number `j·dims + i`) and orthonormalises its columns in
    /// order by modified Gram–Schmidt, each column swept twice against the previous ones, then
    /// normalised.
    pub fn random(dims: usize, src_dim: usize, seed: u64) -> Result<Isometry> {
        ensure!(
            src_dim > 0 && dims >= src_dim,
            "cannot embed {src_dim} dimensions isometrically in {dims}: --dims must be at least \
             the source's dimension"
        );
        let mut rng = stream_rng(seed, STREAM_MATRIX);
        let mut cols: Vec<f64> = (0..dims * src_dim)
            .map(|_| StandardNormal.sample(&mut rng))
            .collect();
        for j in 0..src_dim {
            let (done, rest) = cols.split_at_mut(j * dims);
            let v = &mut rest[..dims];
            let before = dot64(v, v).sqrt();
            for _pass in 0..2 {
                for qi in done.chunks_exact(dims) {
                    let r = dot64(qi, v);
                    for (x, &q) in v.iter_mut().zip(qi) {
                        *x -= r * q;
                    }
                }
            }
            let norm = dot64(v, v).sqrt();
            // A Gaussian matrix has full column rank with probability 1; this guards the
            // arithmetic, not the probability.
            ensure!(
                norm > 1e-6 * before,
                "column {j} of the random matrix is numerically dependent on the previous ones"
            );
            for x in v.iter_mut() {
                *x /= norm;
            }
        }
        Ok(Isometry {
            dims,
            src_dim,
            cols,
        })
    }

    pub fn column(&self, j: usize) -> &[f64] {
        &self.cols[j * self.dims..(j + 1) * self.dims]
    }

    /// `max |QᵀQ − I|` over all entries, in f64.
    pub fn orthonormality_error(&self) -> f64 {
        (0..self.src_dim)
            .into_par_iter()
            .map(|a| {
                (a..self.src_dim)
                    .map(|b| {
                        let want = if a == b { 1.0 } else { 0.0 };
                        (dot64(self.column(a), self.column(b)) - want).abs()
                    })
                    .fold(0.0, f64::max)
            })
            .reduce(|| 0.0, f64::max)
    }

    /// `y = Q x + σ z` for every row, accumulated in f64 (over `j` in order) and rounded to f32
    /// once. Rows `NOISE_BLOCK·b ..` draw their noise, row by row and coordinate by coordinate,
    /// from stream `stream + b`; with `sigma == 0` nothing is drawn.
    pub fn embed(&self, v: &Vectors, sigma: f64, seed: u64, stream: u64) -> Vectors {
        assert_eq!(v.dim, self.src_dim, "source dimension");
        let dims = self.dims;
        let mut data = vec![0f32; v.len() * dims];
        data.par_chunks_mut(NOISE_BLOCK * dims)
            .enumerate()
            .for_each(|(b, out)| {
                let mut rng = stream_rng(seed, stream + b as u64);
                let mut acc = vec![0f64; ROW_BLOCK * dims];
                for (rb, out) in out.chunks_mut(ROW_BLOCK * dims).enumerate() {
                    let first = b * NOISE_BLOCK + rb * ROW_BLOCK;
                    let rows = out.len() / dims;
                    let acc = &mut acc[..rows * dims];
                    acc.fill(0.0);
                    for j in 0..self.src_dim {
                        let col = self.column(j);
                        for (r, a) in acc.chunks_exact_mut(dims).enumerate() {
                            let x = v.data[(first + r) * self.src_dim + j] as f64;
                            for (a, &q) in a.iter_mut().zip(col) {
                                *a += x * q;
                            }
                        }
                    }
                    for (o, &a) in out.iter_mut().zip(acc.iter()) {
                        let z: f64 = if sigma == 0.0 {
                            0.0
                        } else {
                            StandardNormal.sample(&mut rng)
                        };
                        *o = (a + sigma * z) as f32;
                    }
                }
            });
        Vectors { dim: dims, data }
    }
}

/// Mean squared norm of the rows, in f64.
pub fn mean_sq_norm(v: &Vectors) -> f64 {
    let sum: f64 = v
        .rows()
        .map(|r| r.iter().map(|&x| (x as f64) * (x as f64)).sum::<f64>())
        .sum();
    sum / v.len().max(1) as f64
}

/// The noise rule: `σ = sqrt(ρ · mean‖Qx‖² / D)`, so that the noise's expected squared norm
/// `D σ²` is `ρ` times the mean squared norm of the projected base rows. `mean‖Qx‖²` equals
/// the source's `mean‖x‖²` (Q is an isometry), which is what is passed here.
pub fn sigma(noise: f64, mean_sq_norm: f64, dims: usize) -> f64 {
    (noise * mean_sq_norm / dims as f64).sqrt()
}

/// Exact top-k of one metric: `ids[q]` nearest first, `dist[q]` their distances as in the
/// TEXMEX sets' `gt_*_dist.fvecs` (Euclidean distance for L2, `1 − cos` for cosine).
#[derive(Clone, Debug, PartialEq)]
pub struct Neighbours {
    pub ids: Vec<Vec<u32>>,
    pub dist: Vec<Vec<f32>>,
}

/// Exact ground truth for both metrics.
#[derive(Clone, Debug, PartialEq)]
pub struct Truth {
    pub l2: Neighbours,
    pub cos: Neighbours,
    /// Mean candidates per query and metric that were ranked exactly (≥ k).
    pub mean_candidates: f64,
}

/// f32 dot product in 8 independent lanes (vectorisable, fixed summation order).
fn dot32(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; 8];
    let (ca, ta) = a.as_chunks::<8>();
    let (cb, tb) = b.as_chunks::<8>();
    for (x, y) in ca.iter().zip(cb) {
        for l in 0..8 {
            acc[l] += x[l] * y[l];
        }
    }
    let mut s = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
    for (x, y) in ta.iter().zip(tb) {
        s += x * y;
    }
    s
}

/// Four queries against one base row at once: each load of the base row serves four dot
/// products. Same per-lane arithmetic as [`dot32`], so the same results.
fn dot32x4(q: [&[f32]; 4], x: &[f32]) -> [f32; 4] {
    let mut acc = [[0f32; 8]; 4];
    let (cx, tx) = x.as_chunks::<8>();
    let cq = q.map(|q| q.as_chunks::<8>().0);
    for (c, xc) in cx.iter().enumerate() {
        for t in 0..4 {
            let qc = &cq[t][c];
            for l in 0..8 {
                acc[t][l] += qc[l] * xc[l];
            }
        }
    }
    let mut out = [0f32; 4];
    for t in 0..4 {
        let a = &acc[t];
        let mut s = ((a[0] + a[4]) + (a[1] + a[5])) + ((a[2] + a[6]) + (a[3] + a[7]));
        let tq = &q[t][cx.len() * 8..];
        for (a, b) in tq.iter().zip(tx) {
            s += a * b;
        }
        out[t] = s;
    }
    out
}

fn norms(v: &Vectors, what: &str) -> Result<Vec<f64>> {
    let n: Vec<f64> = v
        .rows()
        .map(|r| {
            r.iter()
                .map(|&x| (x as f64) * (x as f64))
                .sum::<f64>()
                .sqrt()
        })
        .collect();
    if let Some(i) = n.iter().position(|&x| x == 0.0 || !x.is_finite()) {
        bail!("{what} row {i} is zero or not finite: cosine ground truth is undefined");
    }
    Ok(n)
}

/// Exact top-`k` neighbours of every query for L2 and cosine, by brute force in parallel.
///
/// For each block of [`QUERY_BLOCK`] queries the f32 dot products with every base row are
/// computed (8-lane accumulators, four queries per base-row load). Each score — `‖x‖² − 2⟨q,x⟩`
/// for L2, `−⟨q,x⟩/(‖q‖‖x‖)` for cosine, in f64 from the f32 dot — is within `e` of its exact
/// value, where `e` follows from the standard bound on a computed dot product,
/// `|fl(⟨q,x⟩) − ⟨q,x⟩| ≤ γ_m ‖q‖‖x‖` (`γ_m = mu/(1−mu)`, `u = 2⁻²⁴`, `m` = dimension + 11
/// ≥ the longest chain of roundings), doubled for safety and padded for the f64 steps. With `t`
/// the k-th smallest `score + e`, every row whose exact score is among the k best has
/// `score − e ≤ t`; those candidates (usually a few more than k) are ranked by the f64
/// distance of [`Metric::distance`] — the function of [`crate::dataset::exact_neighbours`] —
/// ties by smaller row number. The result is therefore exactly that of the f64 brute force.
pub fn ground_truth(base: &Vectors, queries: &Vectors, k: usize) -> Result<Truth> {
    ensure!(
        base.dim == queries.dim,
        "base has {} dimensions, queries {}",
        base.dim,
        queries.dim
    );
    let n = base.len();
    ensure!(k > 0 && k <= n, "k = {k} neighbours asked of {n} base rows");
    let bnorm = norms(base, "base")?;
    let qnorm = norms(queries, "query")?;
    let u = f64::from(f32::EPSILON) / 2.0;
    let m = (base.dim + 11) as f64;
    ensure!(m * u < 0.01, "dimension {} too large", base.dim);
    let e_dot = 2.0 * m * u / (1.0 - m * u);
    let blocks: Vec<Vec<(Query, Query)>> = (0..queries.len().div_ceil(QUERY_BLOCK))
        .into_par_iter()
        .map(|b| {
            let first = b * QUERY_BLOCK;
            let qb = QUERY_BLOCK.min(queries.len() - first);
            let mut dots = vec![0f32; qb * n];
            let mut t = 0;
            while t + 4 <= qb {
                let q = [0, 1, 2, 3].map(|i| queries.row(first + t + i));
                for (i, x) in base.rows().enumerate() {
                    let d = dot32x4(q, x);
                    for (l, &d) in d.iter().enumerate() {
                        dots[(t + l) * n + i] = d;
                    }
                }
                t += 4;
            }
            for t in t..qb {
                let q = queries.row(first + t);
                for (i, x) in base.rows().enumerate() {
                    dots[t * n + i] = dot32(q, x);
                }
            }
            (0..qb)
                .map(|t| {
                    let qi = first + t;
                    let dots = &dots[t * n..(t + 1) * n];
                    let qn = qnorm[qi];
                    let q = queries.row(qi);
                    let cos = select(
                        dots.iter()
                            .zip(&bnorm)
                            .map(|(&d, &xn)| (-(d as f64) / (qn * xn), e_dot + 1e-12)),
                        k,
                        |i| Metric::Cosine.distance(q, base.row(i)),
                    );
                    let l2 = select(
                        dots.iter().zip(&bnorm).map(|(&d, &xn)| {
                            (
                                xn * xn - 2.0 * d as f64,
                                2.0 * e_dot * qn * xn + 1e-12 * (xn * xn + qn * xn) + 1e-30,
                            )
                        }),
                        k,
                        |i| Metric::L2.distance(q, base.row(i)),
                    );
                    (l2, cos)
                })
                .collect()
        })
        .collect();
    let nq = queries.len();
    let mut l2 = Neighbours {
        ids: Vec::with_capacity(nq),
        dist: Vec::with_capacity(nq),
    };
    let mut cos = l2.clone();
    let mut candidates = 0usize;
    for (a, b) in blocks.into_iter().flatten() {
        candidates += a.candidates + b.candidates;
        l2.ids.push(a.ids);
        l2.dist
            .push(a.dist.iter().map(|&d| d.sqrt() as f32).collect());
        cos.ids.push(b.ids);
        cos.dist.push(b.dist.iter().map(|&d| d as f32).collect());
    }
    Ok(Truth {
        l2,
        cos,
        mean_candidates: candidates as f64 / (2 * nq.max(1)) as f64,
    })
}

/// One query's exact top-k of one metric (distances as [`Metric::distance`] returns them).
struct Query {
    ids: Vec<u32>,
    dist: Vec<f64>,
    candidates: usize,
}

/// The exact top-k from approximate scores with error bounds (see [`ground_truth`]).
fn select(
    scores: impl Iterator<Item = (f64, f64)>,
    k: usize,
    exact: impl Fn(usize) -> f64,
) -> Query {
    let scores: Vec<(f64, f64)> = scores.collect();
    let mut upper: Vec<f64> = scores.iter().map(|(s, e)| s + e).collect();
    let (_, &mut t, _) = upper.select_nth_unstable_by(k - 1, f64::total_cmp);
    let mut cand: Vec<(f64, u32)> = scores
        .iter()
        .enumerate()
        .filter(|(_, (s, e))| s - e <= t)
        .map(|(i, _)| (exact(i), i as u32))
        .collect();
    let candidates = cand.len();
    cand.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    cand.truncate(k);
    Query {
        ids: cand.iter().map(|c| c.1).collect(),
        dist: cand.iter().map(|c| c.0).collect(),
        candidates,
    }
}

/// A derived set in memory.
#[derive(Clone, Debug)]
pub struct Derived {
    pub params: Params,
    pub src_dim: usize,
    pub base: Vectors,
    pub queries: Vectors,
    /// Mean squared norm of the source base rows (= of the projected ones).
    pub mean_sq_norm: f64,
    pub sigma: f64,
    /// `max |QᵀQ − I|` of the matrix used.
    pub orthonormality_error: f64,
    pub truth: Truth,
}

/// Derives the set from source base rows and queries: `Q`, the noise level, the embedded
/// vectors and their exact ground truth. `log` receives one line per step.
pub fn derive(
    base: &Vectors,
    queries: &Vectors,
    params: &Params,
    mut log: impl FnMut(&str),
) -> Result<Derived> {
    ensure!(
        base.dim == queries.dim,
        "source base has {} dimensions, queries {}",
        base.dim,
        queries.dim
    );
    ensure!(
        params.noise >= 0.0 && params.noise.is_finite(),
        "--noise must be a finite ratio ≥ 0"
    );
    let q = Isometry::random(params.dims, base.dim, params.seed)?;
    let orthonormality_error = q.orthonormality_error();
    ensure!(
        orthonormality_error < 1e-9,
        "the random matrix is not orthonormal: max |QᵀQ − I| = {orthonormality_error:e}"
    );
    log(&format!(
        "matrix Q {}×{}: max |QᵀQ − I| = {orthonormality_error:.1e}",
        params.dims, base.dim
    ));
    let msn = mean_sq_norm(base);
    let sigma = sigma(params.noise, msn, params.dims);
    log(&format!(
        "noise: σ = {sigma:.6e} (ρ = {}, mean ‖x‖² = {msn:.6})",
        params.noise
    ));
    let new_base = q.embed(base, sigma, params.seed, STREAM_BASE);
    let new_queries = q.embed(queries, sigma, params.seed, STREAM_QUERY);
    log(&format!(
        "embedded {} base rows and {} queries",
        new_base.len(),
        new_queries.len()
    ));
    let truth = ground_truth(&new_base, &new_queries, params.k)?;
    log(&format!(
        "exact top-{} for L2 and cosine ({:.1} candidates ranked in f64 per query)",
        params.k, truth.mean_candidates
    ));
    Ok(Derived {
        params: *params,
        src_dim: base.dim,
        base: new_base,
        queries: new_queries,
        mean_sq_norm: msn,
        sigma,
        orthonormality_error,
        truth,
    })
}

fn write_vecs(path: &Path, dim: usize, words: impl Iterator<Item = [u8; 4]>) -> Result<()> {
    ensure!(dim > 0, "{}: no dimensions", path.display());
    let tmp = path.with_extension("part");
    let file =
        std::fs::File::create(&tmp).with_context(|| format!("cannot create {}", tmp.display()))?;
    let mut w = std::io::BufWriter::with_capacity(1 << 20, file);
    let head = i32::try_from(dim)?.to_le_bytes();
    for (i, word) in words.enumerate() {
        if i % dim == 0 {
            w.write_all(&head)?;
        }
        w.write_all(&word)?;
    }
    w.into_inner()
        .map_err(|e| e.into_error())?
        .sync_all()
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

/// Writes an `.fvecs` file.
pub fn write_fvecs(path: &Path, v: &Vectors) -> Result<()> {
    write_vecs(path, v.dim, v.data.iter().map(|x| x.to_le_bytes()))
}

fn write_rows<T: Copy>(path: &Path, rows: &[Vec<T>], word: impl Fn(T) -> [u8; 4]) -> Result<()> {
    let dim = rows.first().map_or(0, Vec::len);
    ensure!(
        dim > 0 && rows.iter().all(|r| r.len() == dim),
        "{}: rows of unequal length",
        path.display()
    );
    write_vecs(path, dim, rows.iter().flatten().map(|&x| word(x)))
}

/// The TEXMEX files of a derived set: `base.fvecs`, `query.fvecs`, `gt_l2.ivecs`,
/// `gt_cos.ivecs`, `gt_l2_dist.fvecs`, `gt_cos_dist.fvecs`, and `README.md` (`readme`).
pub fn write_dir(out: &Path, d: &Derived, readme: &str) -> Result<()> {
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    write_fvecs(&out.join("base.fvecs"), &d.base)?;
    write_fvecs(&out.join("query.fvecs"), &d.queries)?;
    let id = |i: u32| (i as i32).to_le_bytes();
    let f = |x: f32| x.to_le_bytes();
    write_rows(&out.join("gt_l2.ivecs"), &d.truth.l2.ids, id)?;
    write_rows(&out.join("gt_cos.ivecs"), &d.truth.cos.ids, id)?;
    write_rows(&out.join("gt_l2_dist.fvecs"), &d.truth.l2.dist, f)?;
    write_rows(&out.join("gt_cos_dist.fvecs"), &d.truth.cos.dist, f)?;
    std::fs::write(out.join("README.md"), readme)
        .with_context(|| format!("cannot write {}", out.join("README.md").display()))?;
    Ok(())
}

/// Recall@`k` of the source's exact neighbours against the derived set's: the share of the
/// source's top-k that is still in the new top-k, averaged over the queries.
pub fn kept(source: &[Vec<u32>], derived: &[Vec<u32>], k: usize) -> f64 {
    let n = source.len().min(derived.len());
    if n == 0 {
        return 1.0;
    }
    (0..n)
        .map(|q| recall(&derived[q], &source[q], k))
        .sum::<f64>()
        / n as f64
}

/// The sanity figures: recall@10 of the source ground truth against the derived one.
#[derive(Clone, Debug, PartialEq)]
pub struct Sanity {
    pub cos_at_10: f64,
    pub l2_at_10: f64,
    /// Where the source's ground truth came from.
    pub source_truth: String,
}

/// The source set's exact top-10 (its `gt_*.ivecs` when the whole base is used, else
/// recomputed) compared with the derived set's.
pub fn sanity(
    from: &Path,
    src_base: &Vectors,
    src_queries: &Vectors,
    full_base: bool,
    d: &Derived,
) -> Result<Sanity> {
    let k = 10.min(d.params.k);
    let files = (from.join("gt_cos.ivecs"), from.join("gt_l2.ivecs"));
    let read = |p: &Path| -> Result<Option<Vec<Vec<u32>>>> {
        if !full_base || !p.exists() {
            return Ok(None);
        }
        let t = read_ivecs(p, Some(src_queries.len()))?;
        Ok((t.len() == src_queries.len() && t.iter().all(|r| r.len() >= k)).then_some(t))
    };
    let (cos, l2, source_truth) = match (read(&files.0)?, read(&files.1)?) {
        (Some(c), Some(l)) => (c, l, "the source's gt_cos.ivecs / gt_l2.ivecs".to_string()),
        _ => {
            let t = ground_truth(src_base, src_queries, k)?;
            (
                t.cos.ids,
                t.l2.ids,
                "recomputed exactly over the source rows used".to_string(),
            )
        }
    };
    Ok(Sanity {
        cos_at_10: kept(&cos, &d.truth.cos.ids, k),
        l2_at_10: kept(&l2, &d.truth.l2.ids, k),
        source_truth,
    })
}

/// The derived set's README: exactly how it was made.
pub fn readme(
    name: &str,
    from: &Path,
    d: &Derived,
    sanity: Option<&Sanity>,
    command: &str,
) -> String {
    let p = &d.params;
    let (n, nq) = (d.base.len(), d.queries.len());
    let mut s = String::new();
    let _ = writeln!(s, "# {name}\n");
    let _ = writeln!(
        s,
        "Derived by `ruvector-bench derive` (bench/src/derive.rs) from the {}-dimensional set \
         `{}`: {n} base rows and {nq} query rows, {} dimensions, exact top-{} ground truth for \
         L2 and cosine. Same layout as the shared sets (TEXMEX, little-endian; ids are 0-based \
         row numbers of `base.fvecs`).\n",
        d.src_dim,
        from.display(),
        p.dims,
        p.k
    );
    let _ = writeln!(s, "Made with:\n\n```sh\n{command}\n```\n");
    let _ = writeln!(s, "## Construction\n");
    let _ = writeln!(
        s,
        "Every source vector `x` (base row i → base row i, query j → query j) became \
         `y = Q x + σ z`, computed in f64 and rounded to f32 once.\n\n\
         - **Q** ({}×{}, orthonormal columns): i.i.d. standard normal f64 entries drawn column \
         by column (entry (i, j) is draw number j·{} + i) from rand 0.10's `StdRng` (ChaCha) \
         with the 32-byte key `seed ‖ stream ‖ 0…` (u64 little-endian each), seed **{}**, \
         stream 0; columns orthonormalised in order by modified Gram–Schmidt in f64, swept \
         twice, then normalised. max |QᵀQ − I| = {:.1e}. Q is an isometry: L2 distances, \
         inner products and cosines of the source are kept exactly (up to f32 rounding).\n\
         - **Noise z**: i.i.d. N(0, 1) per coordinate; rows {nb}·b … {nb}·b+{} of the base use \
         stream 2³² + b, of the queries stream 2·2³² + b, row by row, coordinate by \
         coordinate.\n\
         - **σ = {:.9e}**, by the rule `D σ² = ρ · mean‖Qx‖²` (the noise's expected squared \
         norm is ρ times the mean squared norm of the projected base rows) with ρ = {} and \
         D = {}; mean‖Qx‖² = mean‖x‖² over the {n} source base rows = {:.9} (f64). The noise \
         makes the set full-rank ({} dimensions) instead of lying in a {}-dimensional \
         subspace.\n",
        p.dims,
        d.src_dim,
        p.dims,
        p.seed,
        d.orthonormality_error,
        NOISE_BLOCK - 1,
        d.sigma,
        p.noise,
        p.dims,
        d.mean_sq_norm,
        p.dims,
        d.src_dim,
        nb = NOISE_BLOCK,
    );
    let _ = writeln!(s, "## Ground truth\n");
    let _ = writeln!(
        s,
        "Exact brute force over all {n} base rows for each of the {nq} queries \
         (`derive::ground_truth`): f32 dot products select candidates with a proven \
         rounding-error margin ({:.1} candidates per query on average), which are ranked by \
         the f64 distance, ties by the smaller id.\n\n\
         | file | rows × dim | content |\n|---|---|---|\n\
         | `base.fvecs` | {n} × {} | vectors |\n\
         | `query.fvecs` | {nq} × {} | vectors |\n\
         | `gt_l2.ivecs` | {nq} × {} | ids, ascending L2 distance |\n\
         | `gt_l2_dist.fvecs` | {nq} × {} | their Euclidean distances |\n\
         | `gt_cos.ivecs` | {nq} × {} | ids, ascending cosine distance |\n\
         | `gt_cos_dist.fvecs` | {nq} × {} | their cosine distances, 1 − cos |\n",
        d.truth.mean_candidates, p.dims, p.dims, p.k, p.k, p.k, p.k,
    );
    if let Some(x) = sanity {
        let _ = writeln!(
            s,
            "## Sanity\n\nShare of the source's exact top-10 still in this set's exact top-10 \
             (recall@10 of the {}-d ground truth against the {}-d one; source truth: {}): \
             cosine **{:.4}**, L2 {:.4}. Below 1 because the noise reorders near-ties.\n",
            d.src_dim, p.dims, x.source_truth, x.cos_at_10, x.l2_at_10
        );
    }
    let _ = writeln!(
        s,
        "The same source, parameters and seed give byte-identical files (given the same rand \
         version, pinned by Cargo.lock)."
    );
    s
}

/// What `ruvector-bench derive` did.
#[derive(Clone, Debug)]
pub struct Summary {
    pub out: std::path::PathBuf,
    pub rows: usize,
    pub queries: usize,
    pub dims: usize,
    pub sigma: f64,
    pub sanity: Sanity,
    pub seconds: f64,
}

/// `ruvector-bench derive`: reads the source set, derives, writes the directory.
pub fn run(args: &DeriveArgs, command: &str) -> Result<Summary> {
    let start = Instant::now();
    let log = |msg: &str| eprintln!("[{:6.1}s] {msg}", start.elapsed().as_secs_f64());
    let base = read_fvecs(&args.from.join("base.fvecs"), args.rows)?;
    let queries = read_fvecs(&args.from.join("query.fvecs"), args.queries)?;
    ensure!(
        !base.is_empty() && !queries.is_empty(),
        "{}: no vectors",
        args.from.display()
    );
    let full_rows =
        std::fs::metadata(args.from.join("base.fvecs"))?.len() as usize / (4 + 4 * base.dim);
    log(&format!(
        "read {} base rows and {} queries of {} dimensions from {}",
        base.len(),
        queries.len(),
        base.dim,
        args.from.display()
    ));
    let params = Params {
        dims: args.dims,
        seed: args.seed,
        noise: args.noise,
        k: args.gt_k,
    };
    let d = derive(&base, &queries, &params, log)?;
    let sanity = sanity(&args.from, &base, &queries, base.len() == full_rows, &d)?;
    log(&format!(
        "recall@10 of the source's exact top-10 in the new exact top-10: cosine {:.4}, L2 {:.4}",
        sanity.cos_at_10, sanity.l2_at_10
    ));
    let name = args
        .out
        .file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "derived".into());
    let text = readme(&name, &args.from, &d, Some(&sanity), command);
    write_dir(&args.out, &d, &text)?;
    log(&format!("wrote {}", args.out.display()));
    Ok(Summary {
        out: args.out.clone(),
        rows: d.base.len(),
        queries: d.queries.len(),
        dims: params.dims,
        sigma: d.sigma,
        sanity,
        seconds: start.elapsed().as_secs_f64(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataset::{exact_neighbours, Dataset};

    fn gaussian(n: usize, dim: usize, seed: u64) -> Vectors {
        let mut rng = stream_rng(seed, 99);
        Vectors {
            dim,
            data: (0..n * dim)
                .map(|_| StandardNormal.sample(&mut rng))
                .collect(),
        }
    }

    fn temp_dir(tag: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("rvbench-derive-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    fn small(seed: u64) -> Derived {
        let src = Dataset::synthetic(700, 24, 30, 6, Metric::L2, 5, 10).unwrap();
        let params = Params {
            dims: 100,
            seed,
            noise: 0.01,
            k: 20,
        };
        derive(&src.base, &src.queries, &params, |_| {}).unwrap()
    }

    #[test]
    fn matrix_columns_are_orthonormal() {
        for (dims, src) in [(512, 128), (96, 96), (1536, 8)] {
            let q = Isometry::random(dims, src, 3).unwrap();
            let err = q.orthonormality_error();
            assert!(err < 1e-6, "{dims}x{src}: {err:e}");
            // Gram–Schmidt did something: the matrix is not a coordinate embedding.
            assert!(q.column(0).iter().filter(|x| x.abs() > 1e-3).count() > dims / 2);
        }
        assert!(Isometry::random(10, 11, 1).is_err());
    }

    #[test]
    fn noise_free_embedding_preserves_distances_and_cosines() {
        let src = gaussian(12, 48, 1);
        let q = Isometry::random(300, 48, 9).unwrap();
        let y = q.embed(&src, 0.0, 9, STREAM_BASE);
        assert_eq!((y.dim, y.len()), (300, 12));
        let rel = |a: f64, b: f64| (a - b).abs() / b.abs().max(1e-12);
        for i in 0..12 {
            for j in 0..12 {
                let (l2x, l2y) = (
                    Metric::L2.distance(src.row(i), src.row(j)),
                    Metric::L2.distance(y.row(i), y.row(j)),
                );
                if i != j {
                    assert!(rel(l2y, l2x) < 1e-4, "L2 {i},{j}: {l2y} vs {l2x}");
                }
                let (cx, cy) = (
                    1.0 - Metric::Cosine.distance(src.row(i), src.row(j)),
                    1.0 - Metric::Cosine.distance(y.row(i), y.row(j)),
                );
                assert!(
                    (cy - cx).abs() < 1e-4 * cx.abs().max(1e-2),
                    "cos {i},{j}: {cy} vs {cx}"
                );
            }
        }
    }

    #[test]
    fn noise_follows_the_rule() {
        let src = gaussian(400, 16, 2);
        let q = Isometry::random(256, 16, 4).unwrap();
        let msn = mean_sq_norm(&src);
        let s = sigma(0.01, msn, 256);
        assert!((256.0 * s * s - 0.01 * msn).abs() < 1e-12);
        let clean = q.embed(&src, 0.0, 4, STREAM_BASE);
        let noisy = q.embed(&src, s, 4, STREAM_BASE);
        let noise: f64 = clean
            .data
            .iter()
            .zip(&noisy.data)
            .map(|(&a, &b)| (b as f64 - a as f64).powi(2))
            .sum::<f64>()
            / 400.0;
        let ratio = noise / mean_sq_norm(&clean);
        assert!((ratio - 0.01).abs() < 0.0005, "noise energy ratio {ratio}");
        // The noisy set is full rank: variance in directions orthogonal to Q's columns.
        let off: f64 = noisy
            .rows()
            .map(|r| {
                let r: Vec<f64> = r.iter().map(|&x| x as f64).collect();
                let inside: f64 = (0..16).map(|j| dot64(q.column(j), &r).powi(2)).sum();
                dot64(&r, &r) - inside
            })
            .sum::<f64>()
            / 400.0;
        assert!(off > 0.5 * 0.01 * msn, "energy outside Q's span: {off}");
    }

    /// Ids and distances against the naive f64 brute force, on both kernels' paths (query
    /// blocks of 4 and the remainder; dimensions with and without an 8-lane tail), with
    /// duplicated base rows to exercise ties.
    #[test]
    fn ground_truth_equals_naive_brute_force() {
        for (n, dim, nq) in [(500, 45, 23), (300, 64, 5), (64, 3, 17)] {
            let src = Dataset::synthetic(n, dim, nq, 4, Metric::L2, dim as u64, 10).unwrap();
            let mut base = src.base.clone();
            for (to, from) in [(n - 1, 0), (n - 2, 7), (n / 2, 7)] {
                let row = base.row(from).to_vec();
                base.data[to * dim..(to + 1) * dim].copy_from_slice(&row);
            }
            let k = 20.min(n);
            let t = ground_truth(&base, &src.queries, k).unwrap();
            assert!(t.mean_candidates >= k as f64);
            for (metric, got) in [(Metric::L2, &t.l2), (Metric::Cosine, &t.cos)] {
                assert_eq!(got.ids, exact_neighbours(&base, &src.queries, metric, k));
                for (q, (ids, dist)) in got.ids.iter().zip(&got.dist).enumerate() {
                    let mut all: Vec<(f64, u32)> = (0..n)
                        .map(|i| (metric.distance(src.queries.row(q), base.row(i)), i as u32))
                        .collect();
                    all.sort_by(|a, b| a.partial_cmp(b).unwrap());
                    let want: Vec<u32> = all[..k].iter().map(|x| x.1).collect();
                    assert_eq!(ids, &want, "{metric:?} query {q}");
                    for (&d, &(w, _)) in dist.iter().zip(&all) {
                        let w = if metric == Metric::L2 { w.sqrt() } else { w };
                        assert_eq!(d, w as f32);
                    }
                }
            }
        }
        let b = Vectors {
            dim: 2,
            data: vec![1.0, 0.0, 0.0, 0.0],
        };
        assert!(ground_truth(&b, &b, 1).is_err(), "zero vector");
    }

    #[test]
    fn output_round_trips_through_the_readers() {
        let d = small(11);
        let dir = temp_dir("roundtrip");
        write_dir(&dir, &d, &readme("x", Path::new("src"), &d, None, "cmd")).unwrap();
        let base = read_fvecs(&dir.join("base.fvecs"), None).unwrap();
        assert_eq!((base.dim, base.len()), (100, 700));
        assert_eq!(base.data, d.base.data);
        assert_eq!(
            read_fvecs(&dir.join("query.fvecs"), None).unwrap().data,
            d.queries.data
        );
        assert_eq!(
            read_ivecs(&dir.join("gt_l2.ivecs"), None).unwrap(),
            d.truth.l2.ids
        );
        assert_eq!(
            read_ivecs(&dir.join("gt_cos.ivecs"), None).unwrap(),
            d.truth.cos.ids
        );
        let dist = read_fvecs(&dir.join("gt_cos_dist.fvecs"), None).unwrap();
        assert_eq!(dist.dim, 20);
        assert_eq!(dist.data, d.truth.cos.dist.concat());
        let dist = read_fvecs(&dir.join("gt_l2_dist.fvecs"), None).unwrap();
        assert_eq!(dist.data, d.truth.l2.dist.concat());
        // And the tool's dataset loader (`--dataset DIR`) takes it as it is.
        let ds = Dataset::texmex(&dir, Metric::Cosine, None, Some(30), 10).unwrap();
        assert_eq!(ds.truth, d.truth.cos.ids);
        assert_eq!(ds.base.dim, 100);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn same_seed_same_bytes_other_seed_other_bytes() {
        let files = [
            "base.fvecs",
            "query.fvecs",
            "gt_l2.ivecs",
            "gt_cos.ivecs",
            "gt_l2_dist.fvecs",
            "gt_cos_dist.fvecs",
            "README.md",
        ];
        let write = |seed: u64, tag: &str| {
            let d = small(seed);
            let dir = temp_dir(tag);
            let text = readme("x", Path::new("src"), &d, None, "cmd");
            write_dir(&dir, &d, &text).unwrap();
            let bytes: Vec<Vec<u8>> = files
                .iter()
                .map(|f| std::fs::read(dir.join(f)).unwrap())
                .collect();
            std::fs::remove_dir_all(&dir).unwrap();
            bytes
        };
        let a = write(7, "a");
        // A different thread count must not change anything.
        let b = rayon::ThreadPoolBuilder::new()
            .num_threads(3)
            .build()
            .unwrap()
            .install(|| write(7, "b"));
        assert_eq!(a, b);
        let c = write(8, "c");
        assert_ne!(a[0], c[0], "base.fvecs with another seed");
        assert_ne!(a[1], c[1], "query.fvecs with another seed");
    }

    #[test]
    fn derive_subcommand_parses() {
        use crate::cli::{Args, Command};
        use clap::Parser;
        let a = Args::try_parse_from(["ruvector-bench", "derive", "--out", "o"]).unwrap();
        let Some(Command::Derive(d)) = a.command else {
            panic!("no derive subcommand");
        };
        assert_eq!(
            (d.dims, d.seed, d.noise, d.gt_k),
            (1536, 42, 0.01, 100),
            "defaults"
        );
        assert!(
            Args::try_parse_from(["ruvector-bench", "derive"]).is_err(),
            "--out is required"
        );
        let a = Args::try_parse_from(["ruvector-bench", "--k", "5"]).unwrap();
        assert!(a.command.is_none());
    }

    /// The tool's ground truth reproduces the shared minilm set's own (computed independently,
    /// numpy in f64). Needs /work/shared; run with `--ignored`.
    #[test]
    #[ignore = "needs ../shared/data/minilm-384-50k and a release build"]
    fn reproduces_the_shared_minilm_truth() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data/minilm-384-50k");
        let base = read_fvecs(&dir.join("base.fvecs"), None).unwrap();
        let queries = read_fvecs(&dir.join("query.fvecs"), None).unwrap();
        let t = ground_truth(&base, &queries, 100).unwrap();
        for (name, got) in [("l2", &t.l2), ("cos", &t.cos)] {
            let want = read_ivecs(&dir.join(format!("gt_{name}.ivecs")), None).unwrap();
            let differ = want.iter().zip(&got.ids).filter(|(a, b)| a != b).count();
            assert_eq!(differ, 0, "gt_{name}.ivecs: {differ} of 1000 rows differ");
            let want = read_fvecs(&dir.join(format!("gt_{name}_dist.fvecs")), None).unwrap();
            let worst = want
                .data
                .iter()
                .zip(got.dist.concat())
                .map(|(a, b)| (a - b).abs())
                .fold(0f32, f32::max);
            assert!(worst < 1e-6, "gt_{name}_dist.fvecs: off by {worst}");
        }
    }
}
