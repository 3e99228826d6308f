//! Neighbour sketches of a `ruhnsw` index of format version 5: every layer-0 neighbour list
//! carries, beside each link, a RaBitQ sketch of the linked element's vector
//! (`quant::sketch`; the slots are `layout::Shape::sketch`). A search estimates a list's
//! distances from the list's own page and reads only the neighbours whose estimate can still
//! beat the bound of its result; ~85% of the neighbours a search reads otherwise never enter
//! it, and each read costs a random memory (or page) access.
//!
//! The sketches are a hint: a missing sketch (all bytes zero) or a damaged one makes the
//! search read the element, and every distance that decides a result is computed from the
//! element's value. Only the recall at a given `ef_search` depends on them, through the slack
//! schedule `quant::sketch::slack_for` (measured to keep recall@10 within 0.003 of the
//! unpruned search at every `ef_search` from 10 to 320 on 50-, 384- and 1536-d sets).

use super::layout::{self, MetaPage, Tid};
use crate::am::page::{Locked, Rel, Share};
use crate::am::quantize::image_floats;
use crate::check::image_problem;
use crate::kernels::metric::Metric;
use crate::quant::sketch::{slack_for, SketchQuery, SketchSpace};
use std::cell::RefCell;
use std::sync::Arc;

/// Seed of the sketches' random rotation: part of the format (every sketch of an index, and
/// every query, must use the same rotation).
const SEED: u64 = 0x5eed_5e7c_4e75_0005;

thread_local! {
    /// The sketcher this backend made last ([`Sketcher::of`]).
    static LAST: RefCell<Option<Arc<Sketcher>>> = const { RefCell::new(None) };
}

/// Encodes the vectors of one index into sketches.
pub struct Sketcher {
    metric: Metric,
    space: SketchSpace,
}

impl Sketcher {
    /// The sketcher of an index of `metric` whose sketches are `bits` wide around `centroid`.
    pub fn new(metric: Metric, centroid: Vec<f32>, bits: usize) -> Sketcher {
        Sketcher {
            metric,
            space: SketchSpace::new(centroid, bits, SEED),
        }
    }

    /// The sketcher of a version 5 index, from its meta page (`None` for other versions). A
    /// centroid of the wrong length (a damaged meta page) gives none: searches then read every
    /// neighbour, and inserts write empty sketches.
    ///
    /// The sketcher this backend made last is reused when it is the same — same metric, bits
    /// and centroid, which with the fixed [`SEED`] determine every sketch — so that a scan does
    /// not make the rotation again (about a tenth of a 384-d search at `ef_search` 20).
    pub fn of(rel: Rel, meta: &MetaPage) -> Option<Arc<Sketcher>> {
        let metric = meta.metric().filter(|_| meta.sketched())?;
        let bits = meta.sketch_bits as usize;
        let centroid = {
            let buf = Locked::read(rel, layout::META_BLKNO, Share);
            let contents = buf.page().contents();
            let last = LAST.with(|l| l.borrow().clone());
            if let Some(last) = last.filter(|s| s.is(metric, bits, contents, meta)) {
                return Some(last);
            }
            layout::meta_centroid(contents, meta)?
        };
        let made = centroid
            .iter()
            .all(|x| x.is_finite())
            .then(|| Arc::new(Sketcher::new(metric, centroid, bits)))?;
        LAST.with(|l| *l.borrow_mut() = Some(made.clone()));
        Some(made)
    }

    /// Whether this sketcher is the one of an index of `metric` with `bits`-bit sketches and
    /// the meta page `contents` (of `meta`).
    fn is(&self, metric: Metric, bits: usize, contents: &[u8], meta: &MetaPage) -> bool {
        let centroid = self.space.centroid();
        self.metric == metric
            && self.space.bits() == bits
            && centroid.len() == meta.dimensions as usize
            && layout::meta_centroid_bytes(contents, meta).is_some_and(|bytes| {
                bytes
                    .chunks_exact(4)
                    .zip(centroid)
                    .all(|(b, c)| b == c.to_le_bytes())
            })
    }

    /// The centroid of the vectors of value images `images` (the mean; cosine images are unit
    /// vectors already), in f64 so that a million rows add up exactly enough.
    pub fn centroid<'a>(
        metric: Metric,
        dims: usize,
        images: impl Iterator<Item = &'a [u8]>,
    ) -> Vec<f32> {
        let mut sum = vec![0.0f64; dims];
        let mut n = 0usize;
        for image in images {
            for (s, x) in sum.iter_mut().zip(image_floats(metric, image)) {
                *s += x as f64;
            }
            n += 1;
        }
        sum.iter().map(|s| (s / n.max(1) as f64) as f32).collect()
    }

    /// Bytes of one sketch.
    pub fn sketch_bytes(&self) -> usize {
        self.space.bytes()
    }

    /// The sketch of a value image of this index (as stored: unit length for cosine).
    pub fn encode(&self, image: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.space.bytes());
        self.space
            .encode(&image_floats(self.metric, image), &mut out);
        out
    }

    /// The sketch of the element at `t` of `index` (`dims` dimensions) from its value, read
    /// now under a share lock: `None` if there is no live element there with a valid image in
    /// its tuple.
    pub fn element_sketch(&self, index: Rel, t: Tid, dims: usize) -> Option<Vec<u8>> {
        if t.block >= index.blocks() {
            return None;
        }
        let buf = Locked::read(index, t.block, Share);
        let item = buf.page_unchecked().item(t.offset)?;
        let e = layout::decode_element(item)?;
        (!e.deleted && e.format == layout::FORMAT_PLAIN)
            .then(|| self.encode_stored(layout::element_value(item), dims))
            .flatten()
    }

    /// The sketch of an element's value image read from a page, `dims` dimensions: `None`
    /// for a damaged image (the check reports it; encoding it would fail).
    pub fn encode_stored(&self, image: &[u8], dims: usize) -> Option<Vec<u8>> {
        image_problem(self.metric.kind(), dims, image)
            .is_none()
            .then(|| self.encode(image))
    }

    /// What a search with the query image `query` checks sketches with (`None` for a query
    /// whose cosine distances are all equal: a zero vector).
    pub fn probe(&self, query: &[u8]) -> Option<Probe> {
        let mut q = image_floats(self.metric, query);
        let norm = crate::kernels::sparse::norm_squared(&q).sqrt();
        let cosine = matches!(self.metric, Metric::CosineF32 | Metric::CosineF16);
        if cosine {
            if !norm.is_finite() || norm <= 0.0 {
                return None;
            }
            q.iter_mut().for_each(|x| *x /= norm);
        }
        Some(Probe {
            query: self.space.query(&q),
            // Cosine distances are −<q, v> of unit v: |q̂ − v|² = 2 − 2 <q̂, v> = 2 + 2 d / |q|.
            scale: if cosine {
                (2.0, 2.0 / norm)
            } else {
                (0.0, 1.0)
            },
            limit: f32::INFINITY,
            slack: 0.0,
        })
    }
}

/// A query prepared for estimating distances from sketches, with the bound it checks them
/// against now.
pub struct Probe {
    query: SketchQuery,
    /// The squared L2 distance of the index's distance `d` is `scale.0 + scale.1 · d`.
    scale: (f32, f32),
    /// Squared L2 distance a neighbour must be able to beat (infinite: every one may).
    limit: f32,
    slack: f32,
}

impl Probe {
    /// Sets the bound: the distance (the index's) a neighbour must beat in a search of width
    /// `ef`.
    pub fn set_bound(&mut self, bound: f32, ef: usize) {
        self.limit = self.scale.0 + self.scale.1 * bound;
        self.slack = slack_for(ef);
    }

    /// Forgets the bound (a later search may not want pruning).
    pub fn clear_bound(&mut self) {
        self.limit = f32::INFINITY;
    }

    /// Whether the bound prunes anything.
    pub fn active(&self) -> bool {
        self.limit.is_finite()
    }

    /// Whether the element `sketch` stands for may beat the bound (it must be read).
    #[inline]
    pub fn may_beat(&self, sketch: &[u8]) -> bool {
        self.query.may_beat(sketch, self.limit, self.slack)
    }
}
