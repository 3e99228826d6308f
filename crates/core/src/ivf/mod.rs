//! Inverted-file (IVF) algorithms, PURE (no pgrx): k-means for the list centres, sampling, and
//! the advice `ruvector_index_stats()` gives about a list layout. The `ruivfflat` access method
//! (`crate::am::ivf`) stores what these compute in index pages.

pub mod kmeans;
pub mod points;

/// Rows k-means trains on for `lists` centres: 128 per list, at least 10,000. (pgvector trains
/// on 50 per list; on GloVe-100k with 316 lists, 128 raised recall at probes 18 from 0.898 to
/// 0.905 for 1.6 s instead of 0.9 s of build, and 256 gave 0.909 for 5.1 s.)
pub fn sample_rows(lists: usize) -> usize {
    (lists * 128).max(10_000)
}

/// Advice on a list layout, for `ruvector_index_stats()`: `None` when it looks healthy.
///
/// * `lists` far from √rows (outside √rows/4 ..= 4·√rows, for tables of at least 1,000 rows):
///   too few lists make each probe scan many rows, too many leave lists nearly empty and need
///   many probes for the same recall.
/// * unbalanced lists (the largest above 5× the average): one probe then costs very different
///   amounts depending on which list it hits, and k-means was trained on data unlike today's.
pub fn layout_hint(lists: usize, tuples_per_list: &[u64]) -> Option<String> {
    let rows: u64 = tuples_per_list.iter().sum();
    let mut hints = Vec::new();
    if rows >= 1000 && lists > 0 {
        let ideal = (rows as f64).sqrt();
        if (lists as f64) < ideal / 4.0 || (lists as f64) > ideal * 4.0 {
            hints.push(format!(
                "lists = {lists} is far from sqrt(rows) = {:.0}; consider REINDEX with lists near {:.0}",
                ideal,
                ideal.round()
            ));
        }
    }
    if !tuples_per_list.is_empty() && rows > 0 {
        let avg = rows as f64 / tuples_per_list.len() as f64;
        let max = *tuples_per_list.iter().max().expect("non-empty") as f64;
        if max > 5.0 * avg && max >= 50.0 {
            hints.push(format!(
                "lists are unbalanced (largest {max:.0} rows, average {avg:.1}); REINDEX retrains the centres on the current data"
            ));
        }
    }
    (!hints.is_empty()).then(|| hints.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hints() {
        assert_eq!(layout_hint(100, &[100; 100]), None);
        assert!(layout_hint(1000, &[10; 1000])
            .unwrap()
            .contains("far from sqrt(rows) = 100"));
        assert!(layout_hint(10, &[1000; 10]).unwrap().contains("far from"));
        let mut skewed = vec![10u64; 100];
        skewed[0] = 5000;
        assert!(layout_hint(100, &skewed).unwrap().contains("unbalanced"));
        assert_eq!(layout_hint(3, &[0, 0, 0]), None);
    }

    #[test]
    fn sample_size() {
        assert_eq!(sample_rows(1), 10_000);
        assert_eq!(sample_rows(1000), 128_000);
    }
}
