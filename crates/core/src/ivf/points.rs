//! Between index value images and the f32 points k-means trains on (PURE).
//!
//! pgvector's choices, which the scan relies on: for inner product and cosine, training points
//! are unit vectors and centres are normalised (spherical k-means), so ranking lists by the
//! index's own distance (−dot) ranks them by angle; bit vectors train as 0/1 floats and centres
//! are rounded back to bits (a bit is set when more than half of the list has it).

use super::kmeans::{normalize, Geometry, SplitMix};
use crate::kernels::metric::{self, varlena_header, Metric, ValueKind};
use half::f16;

/// The k-means geometry for an index metric.
pub fn geometry(m: Metric) -> Geometry {
    match m {
        Metric::IpF32 | Metric::CosineF32 | Metric::IpF16 | Metric::CosineF16 => {
            Geometry::Spherical
        }
        _ => Geometry::Euclidean,
    }
}

/// Appends the training point of a value image to `out`.
pub fn push_point(m: Metric, image: &[u8], out: &mut Vec<f32>) {
    let start = out.len();
    match m.kind() {
        ValueKind::DenseF32 => out.extend_from_slice(metric::dense_f32(image)),
        ValueKind::DenseF16 => out.extend(metric::dense_f16(image).iter().map(|x| x.to_f32())),
        ValueKind::Bits => {
            let n = m.dimensions(image);
            let b = metric::bits(image);
            out.extend((0..n).map(|i| ((b[i / 8] >> (7 - i % 8)) & 1) as f32));
        }
        ValueKind::Sparse => unreachable!("sparse vectors have no IVF operator class"),
    }
    if geometry(m) == Geometry::Spherical {
        normalize(&mut out[start..]);
    }
}

/// The value image of a centre.
pub fn centre_image(m: Metric, c: &[f32]) -> Vec<u8> {
    match m.kind() {
        ValueKind::DenseF32 => metric::dense_f32_image(c),
        ValueKind::DenseF16 => {
            let size = 8 + 2 * c.len();
            let mut v = Vec::with_capacity(size);
            v.extend_from_slice(&varlena_header(size));
            v.extend_from_slice(&(c.len() as i16).to_ne_bytes());
            v.extend_from_slice(&0i16.to_ne_bytes());
            for x in c {
                v.extend_from_slice(&f16::from_f32(*x).to_ne_bytes());
            }
            v
        }
        ValueKind::Bits => {
            let bytes = c.len().div_ceil(8);
            let size = 8 + bytes;
            let mut v = Vec::with_capacity(size);
            v.extend_from_slice(&varlena_header(size));
            v.extend_from_slice(&(c.len() as i32).to_ne_bytes());
            let mut b = vec![0u8; bytes];
            for (i, x) in c.iter().enumerate() {
                if *x > 0.5 {
                    b[i / 8] |= 0x80 >> (i % 8);
                }
            }
            v.extend_from_slice(&b);
            v
        }
        ValueKind::Sparse => unreachable!("sparse vectors have no IVF operator class"),
    }
}

/// Centres for an index built without rows: random points (unit vectors for spherical
/// geometries, coin flips for bits), so that later inserts spread over the lists.
pub fn random_centres(m: Metric, dims: usize, k: usize, seed: u64) -> Vec<f32> {
    let mut rng = SplitMix::new(seed);
    let mut out = Vec::with_capacity(k * dims);
    for _ in 0..k {
        let start = out.len();
        for _ in 0..dims {
            let u = rng.next_f64() as f32;
            out.push(if m.kind() == ValueKind::Bits {
                u.round()
            } else {
                2.0 * u - 1.0
            });
        }
        if geometry(m) == Geometry::Spherical {
            normalize(&mut out[start..]);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let img = metric::dense_f32_image(&[3.0, 4.0]);
        let mut p = Vec::new();
        push_point(Metric::L2F32, &img, &mut p);
        assert_eq!(p, vec![3.0, 4.0]);
        p.clear();
        push_point(Metric::IpF32, &img, &mut p);
        assert_eq!(p, vec![0.6, 0.8]);
        assert_eq!(centre_image(Metric::L2F32, &[3.0, 4.0]), img);

        let h = centre_image(Metric::L2F16, &[1.5, -2.0]);
        p.clear();
        push_point(Metric::L2F16, &h, &mut p);
        assert_eq!(p, vec![1.5, -2.0]);

        let b = centre_image(
            Metric::Hamming,
            &[1.0, 0.0, 0.7, 0.2, 0.0, 0.0, 0.0, 0.0, 1.0],
        );
        assert_eq!(Metric::Hamming.dimensions(&b), 9);
        assert_eq!(metric::bits(&b), &[0b1010_0000, 0b1000_0000]);
        p.clear();
        push_point(Metric::Hamming, &b, &mut p);
        assert_eq!(p, vec![1.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0]);
    }

    #[test]
    fn random_centres_have_the_geometry() {
        let c = random_centres(Metric::CosineF32, 8, 3, 1);
        for x in c.chunks(8) {
            let n: f32 = x.iter().map(|v| v * v).sum();
            assert!((n - 1.0).abs() < 1e-5);
        }
        assert!(random_centres(Metric::Hamming, 8, 3, 1)
            .iter()
            .all(|x| *x == 0.0 || *x == 1.0));
    }
}
