//! On-disk format versions, shared by both access methods' meta pages.
//!
//! Block 0 of every ruvector index starts with a magic number and a format version (two
//! `u32`s; `hnsw::layout::MetaPage`, `ivf::layout::MetaPage`). The policy (README, "Upgrades"):
//!
//! * a release that changes what is on an index's pages in a way an older build would misread
//!   gives new indexes a new format version — existing indexes keep theirs and stay readable;
//! * every build reads every format version from the first up to its own newest, so indexes
//!   survive `ALTER EXTENSION UPDATE`, package upgrades and `pg_upgrade` without REINDEX (the
//!   page layout PostgreSQL itself defines is the same in every supported major);
//! * an index whose version this build cannot read — written by a newer ruvector, after a
//!   downgrade — is refused on every access (scan, insert, VACUUM, statistics) with
//!   `index_corrupted` (XX002, as PostgreSQL's btree reports a version mismatch), the index's
//!   name, both versions and a HINT to REINDEX: never read as if it were an older format.

use crate::am::page::Rel;
use crate::format::{SqlState, VecError};
use crate::types::error::raise;
use std::ops::RangeInclusive;

/// Why a meta page cannot be used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MetaError {
    /// Not this access method's meta page, or its fields are out of range.
    Damaged,
    /// A format version this build does not read.
    Version(u32),
}

/// The error for index `rel` of access method `am` whose meta page is unusable; this build
/// reads format `versions`.
pub fn meta_error(rel: Rel, am: &str, versions: RangeInclusive<u32>, e: MetaError) -> VecError {
    let name = crate::am::relation_name(rel);
    let qualified = crate::am::qualified_name(rel);
    let e = match e {
        MetaError::Damaged => {
            return crate::am::corrupt::error(
                rel,
                format!("Its meta page is not a valid {am} meta page."),
            )
        }
        MetaError::Version(found) => VecError::new(
            SqlState::IndexCorrupted,
            format!(
                "index \"{name}\" has {am} format version {found}, which this build of ruvector \
                 cannot read"
            ),
        )
        .with_detail(format!(
            "ruvector {} reads {am} format versions {} to {}.",
            env!("CARGO_PKG_VERSION"),
            versions.start(),
            versions.end()
        )),
    };
    e.with_hint(format!("Rebuild the index with REINDEX INDEX {qualified};"))
}

/// Raises [`meta_error`].
pub fn raise_meta_error(rel: Rel, am: &str, versions: RangeInclusive<u32>, e: MetaError) -> ! {
    raise(meta_error(rel, am, versions, e))
}

#[cfg(test)]
mod tests {
    use crate::am::hnsw::layout as hnsw;
    use crate::am::ivf::layout as ivf;
    use crate::kernels::metric::Metric;

    use super::MetaError;

    /// Overwrites the version field (bytes 4..8) of a meta page image.
    fn with_version(mut b: Vec<u8>, v: u32) -> Vec<u8> {
        b[4..8].copy_from_slice(&v.to_ne_bytes());
        b
    }

    #[test]
    fn future_and_unknown_versions_are_reported_as_such() {
        let h = hnsw::MetaPage::new(3, 16, 64, Metric::L2F32).to_bytes();
        assert!(hnsw::MetaPage::from_bytes(&h).is_ok());
        for v in [0, 6, 7, u32::MAX] {
            assert_eq!(
                hnsw::MetaPage::from_bytes(&with_version(h.clone(), v)),
                Err(MetaError::Version(v))
            );
        }
        // Version 3 (key columns) without keys, version 4 (split images) with images that fit
        // a page, and version 5 (sketches) of 3 dimensions without sketch bits, are damaged
        // pages, not unknown versions.
        for v in [3, 4, 5] {
            assert_eq!(
                hnsw::MetaPage::from_bytes(&with_version(h.clone(), v)),
                Err(MetaError::Damaged)
            );
        }
        let i = ivf::MetaPage::new(3, 10, Metric::L2F32).to_bytes();
        assert!(ivf::MetaPage::from_bytes(&i).is_ok());
        for v in [0, 5, 7, u32::MAX] {
            assert_eq!(
                ivf::MetaPage::from_bytes(&with_version(i.clone(), v)),
                Err(MetaError::Version(v))
            );
        }
        // ivf version 3 (key columns) without keys is damaged too, and version 4 (tuples in
        // parts) when its tuples fit a page.
        for v in [3, 4] {
            assert_eq!(
                ivf::MetaPage::from_bytes(&with_version(i.clone(), v)),
                Err(MetaError::Damaged)
            );
        }
    }

    #[test]
    fn a_page_of_another_kind_is_damaged_not_a_version() {
        let mut h = hnsw::MetaPage::new(3, 16, 64, Metric::L2F32).to_bytes();
        h[0] ^= 0xff;
        assert_eq!(hnsw::MetaPage::from_bytes(&h), Err(MetaError::Damaged));
        assert_eq!(hnsw::MetaPage::from_bytes(&[0; 8]), Err(MetaError::Damaged));
        // an ivf meta page is not an hnsw one, whatever its version
        let i = ivf::MetaPage::new(3, 10, Metric::L2F32).to_bytes();
        assert_eq!(hnsw::MetaPage::from_bytes(&i), Err(MetaError::Damaged));
    }
}
