//! Criterion benchmarks of every distance kernel at 128, 384, 768 and 1536 dimensions, each
//! available SIMD tier next to the scalar tier (throughput = bytes of both operands per call).
//!
//!     cargo bench -p ruvector-core --bench kernels
//!     python3 scripts/bench_table.py      # the README table (ns/op, GB/s, speed-up vs scalar)

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use half::f16;
use ruvector_core::kernels::{self, Kernels, Tier};
use std::time::Duration;

const DIMS: [usize; 4] = [128, 384, 768, 1536];

fn tiers() -> Vec<&'static Kernels> {
    Tier::ALL
        .into_iter()
        .filter_map(kernels::for_tier)
        .collect()
}

fn data(n: usize, seed: u32) -> Vec<f32> {
    let mut s = seed | 1;
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 17;
            s ^= s << 5;
            (s >> 8) as f32 / (1 << 24) as f32 * 2.0 - 1.0
        })
        .collect()
}

/// A dense kernel of one element type, as stored in a [`Kernels`] table.
type DenseKernel<E> = fn(&[E], &[E]) -> f32;

fn bench_dense<E: Copy + 'static>(
    c: &mut Criterion,
    name: &str,
    convert: fn(f32) -> E,
    pick: fn(&Kernels) -> DenseKernel<E>,
) {
    let mut group = c.benchmark_group(name);
    for dim in DIMS {
        let a: Vec<E> = data(dim, 1).into_iter().map(convert).collect();
        let b: Vec<E> = data(dim, 2).into_iter().map(convert).collect();
        group.throughput(Throughput::Bytes(
            (2 * dim * std::mem::size_of::<E>()) as u64,
        ));
        for k in tiers() {
            let f = pick(k);
            group.bench_with_input(BenchmarkId::new(k.tier.name(), dim), &dim, |bench, _| {
                bench.iter(|| f(black_box(&a), black_box(&b)))
            });
        }
    }
    group.finish();
}

fn dense(c: &mut Criterion) {
    bench_dense::<f32>(c, "l2_squared_f32", |x| x, |k| k.l2_squared_f32);
    bench_dense::<f32>(c, "dot_f32", |x| x, |k| k.dot_f32);
    bench_dense::<f32>(c, "l1_f32", |x| x, |k| k.l1_f32);
    bench_dense::<f16>(c, "l2_squared_f16", f16::from_f32, |k| k.l2_squared_f16);
    bench_dense::<f16>(c, "dot_f16", f16::from_f32, |k| k.dot_f16);
    bench_dense::<f16>(c, "l1_f16", f16::from_f32, |k| k.l1_f16);
}

fn cosine(c: &mut Criterion) {
    for (name, half) in [("cosine_f32", false), ("cosine_f16", true)] {
        let mut group = c.benchmark_group(name);
        for dim in DIMS {
            let (a, b) = (data(dim, 1), data(dim, 2));
            let (ha, hb): (Vec<f16>, Vec<f16>) = (
                a.iter().map(|x| f16::from_f32(*x)).collect(),
                b.iter().map(|x| f16::from_f32(*x)).collect(),
            );
            let size = if half { 2 } else { 4 };
            group.throughput(Throughput::Bytes((2 * dim * size) as u64));
            for k in tiers() {
                group.bench_with_input(BenchmarkId::new(k.tier.name(), dim), &dim, |bench, _| {
                    if half {
                        bench.iter(|| (k.cosine_f16)(black_box(&ha), black_box(&hb)))
                    } else {
                        bench.iter(|| (k.cosine_f32)(black_box(&a), black_box(&b)))
                    }
                });
            }
        }
        group.finish();
    }
}

/// Bit vectors of `dim` bits (the binary quantization of a `dim`-dimensional vector).
fn bits(c: &mut Criterion) {
    for name in ["hamming", "jaccard"] {
        let mut group = c.benchmark_group(name);
        for dim in DIMS {
            let a: Vec<u8> = data(dim / 8, 3).iter().map(|x| x.to_bits() as u8).collect();
            let b: Vec<u8> = data(dim / 8, 4).iter().map(|x| x.to_bits() as u8).collect();
            group.throughput(Throughput::Bytes((2 * dim / 8) as u64));
            for k in tiers() {
                group.bench_with_input(BenchmarkId::new(k.tier.name(), dim), &dim, |bench, _| {
                    if name == "hamming" {
                        bench.iter(|| (k.hamming)(black_box(&a), black_box(&b)))
                    } else {
                        bench.iter(|| (k.jaccard)(black_box(&a), black_box(&b)))
                    }
                });
            }
        }
        group.finish();
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1))
        .sample_size(30);
    targets = dense, cosine, bits
}
criterion_main!(benches);
