//! The plan a filtered query got, as one line: `EXPLAIN (FORMAT JSON)` output reduced to its
//! shape, read from the leaf up as the rows flow — `Index Scan ruhnsw`, `Seq Scan → Sort`,
//! `Bitmap Heap Scan (btree u1) → Sort`, `Parallel Seq Scan → Sort → Gather Merge` — so a
//! table can say which plan each number measures. The `Limit` on top is left out (every query
//! has it); a vector index scan that checks the filter itself (an `Index Cond` beside its
//! `Order By`, as with a multi-column index) says `(filter in index)`. A generic plan (one
//! planned without the parameter values, which PostgreSQL may switch a prepared statement to
//! after its fifth execution) still shows `$1`/`$2` and is marked as such.

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One plan's shape.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlanShape {
    pub shape: String,
    /// Planned without the parameter values.
    pub generic: bool,
}

/// Summarises the text of `EXPLAIN (FORMAT JSON)`; `index_label` turns an index name into
/// what the shape shows (e.g. the vector index's name into `ruhnsw`).
pub fn summarise(explain_json: &str, index_label: &dyn Fn(&str) -> String) -> Result<PlanShape> {
    let v: Value = serde_json::from_str(explain_json).context("EXPLAIN output is not JSON")?;
    let plan = v
        .get(0)
        .and_then(|p| p.get("Plan"))
        .context("EXPLAIN (FORMAT JSON) output without a Plan")?;
    Ok(PlanShape {
        shape: shape(plan, index_label)?,
        generic: explain_json.contains("$1") || explain_json.contains("$2"),
    })
}

fn children(node: &Value) -> &[Value] {
    node.get("Plans")
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

fn text<'a>(node: &'a Value, key: &str) -> Option<&'a str> {
    node.get(key).and_then(Value::as_str)
}

/// The index names under a bitmap scan (`Bitmap Index Scan` leaves of any `BitmapAnd/Or`).
fn bitmap_indexes(node: &Value, index_label: &dyn Fn(&str) -> String, out: &mut Vec<String>) {
    if let Some(name) = text(node, "Index Name") {
        out.push(index_label(name));
    }
    for c in children(node) {
        bitmap_indexes(c, index_label, out);
    }
}

fn shape(node: &Value, index_label: &dyn Fn(&str) -> String) -> Result<String> {
    let Some(kind) = text(node, "Node Type") else {
        bail!("plan node without a Node Type: {node}");
    };
    let kids = children(node);
    if kind == "Limit" && kids.len() == 1 {
        return shape(&kids[0], index_label);
    }
    let parallel = node.get("Parallel Aware").and_then(Value::as_bool) == Some(true);
    let mut label = if parallel {
        format!("Parallel {kind}")
    } else {
        kind.to_string()
    };
    if kind == "Bitmap Heap Scan" {
        let mut names = Vec::new();
        for c in kids {
            bitmap_indexes(c, index_label, &mut names);
        }
        return Ok(format!("{label} ({})", names.join(" + ")));
    }
    if let Some(name) = text(node, "Index Name") {
        label = format!("{label} {}", index_label(name));
        if node.get("Order By").is_some() && node.get("Index Cond").is_some() {
            label.push_str(" (filter in index)");
        }
    }
    Ok(match kids {
        [] => label,
        [one] => format!("{} → {label}", shape(one, index_label)?),
        many => {
            let parts: Result<Vec<String>> = many.iter().map(|c| shape(c, index_label)).collect();
            format!("({}) → {label}", parts?.join(" + "))
        }
    })
}

/// How many of the queries got one plan shape.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanCount {
    pub shape: String,
    pub generic: bool,
    pub count: usize,
}

/// Counts the shapes, most frequent first (ties in order of first appearance).
pub fn tally(shapes: &[PlanShape]) -> Vec<PlanCount> {
    let mut counts: Vec<PlanCount> = Vec::new();
    for s in shapes {
        match counts
            .iter_mut()
            .find(|c| c.shape == s.shape && c.generic == s.generic)
        {
            Some(c) => c.count += 1,
            None => counts.push(PlanCount {
                shape: s.shape.clone(),
                generic: s.generic,
                count: 1,
            }),
        }
    }
    counts.sort_by_key(|c| std::cmp::Reverse(c.count));
    counts
}

/// One line for a table: the shape when all explained queries agree, else each shape with its
/// count (`Seq Scan → Sort ×5; Index Scan ruhnsw ×5`); `(generic)` after a shape some of whose
/// queries got a generic plan.
pub fn describe(counts: &[PlanCount]) -> String {
    let mut shapes: Vec<(&str, usize, bool)> = Vec::new();
    for c in counts {
        match shapes.iter_mut().find(|s| s.0 == c.shape) {
            Some(s) => {
                s.1 += c.count;
                s.2 |= c.generic;
            }
            None => shapes.push((&c.shape, c.count, c.generic)),
        }
    }
    shapes.sort_by_key(|s| std::cmp::Reverse(s.1));
    let name = |s: &(&str, usize, bool)| {
        if s.2 {
            format!("{} (generic)", s.0)
        } else {
            s.0.to_string()
        }
    };
    match shapes.as_slice() {
        [] => "–".into(),
        [one] => name(one),
        many => many
            .iter()
            .map(|s| format!("{} ×{}", name(s), s.1))
            .collect::<Vec<_>>()
            .join("; "),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Names the test table's indexes the way the benchmark labels its own.
    fn label(name: &str) -> String {
        match name {
            "t_idx" => "hnsw".into(),
            other => format!(
                "btree {}",
                other.trim_start_matches("t_").trim_end_matches("_btree")
            ),
        }
    }

    fn fixture(name: &str) -> String {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("testdata")
            .join(name);
        std::fs::read_to_string(&path).unwrap()
    }

    // The fixtures are EXPLAIN (FORMAT JSON, COSTS OFF) EXECUTE output of PostgreSQL 18 with
    // pgvector 0.8: `SELECT id FROM t WHERE u01 = $2 ORDER BY embedding <=> $1 LIMIT 10`.
    #[test]
    fn saved_plans() {
        let s = summarise(&fixture("plan-bitmap-sort.json"), &label).unwrap();
        assert_eq!(s.shape, "Bitmap Heap Scan (btree u01) → Sort");
        assert!(!s.generic);
        let s = summarise(&fixture("plan-seqscan-sort.json"), &label).unwrap();
        assert_eq!(s.shape, "Seq Scan → Sort");
        let s = summarise(&fixture("plan-generic-hnsw.json"), &label).unwrap();
        assert_eq!(s.shape, "Index Scan hnsw");
        assert!(s.generic, "a generic plan keeps $1 and $2");
    }

    #[test]
    fn parallel_multi_child_and_index_cond() {
        let parallel = r#"[{"Plan": {"Node Type": "Limit", "Plans": [
            {"Node Type": "Gather Merge", "Plans": [
              {"Node Type": "Sort", "Plans": [
                {"Node Type": "Seq Scan", "Parallel Aware": true, "Filter": "(u50 = 1)"}]}]}]}}]"#;
        let s = summarise(parallel, &label).unwrap();
        assert_eq!(s.shape, "Parallel Seq Scan → Sort → Gather Merge");
        let and = r#"[{"Plan": {"Node Type": "Bitmap Heap Scan", "Plans": [
            {"Node Type": "BitmapAnd", "Plans": [
              {"Node Type": "Bitmap Index Scan", "Index Name": "t_u1_btree"},
              {"Node Type": "Bitmap Index Scan", "Index Name": "t_c1_btree"}]}]}}]"#;
        assert_eq!(
            summarise(and, &label).unwrap().shape,
            "Bitmap Heap Scan (btree u1 + btree c1)"
        );
        let keys = r#"[{"Plan": {"Node Type": "Limit", "Plans": [
            {"Node Type": "Index Scan", "Index Name": "t_idx",
             "Order By": "(embedding <=> '[1,2]'::ruvector)", "Index Cond": "(u10 = 3)"}]}}]"#;
        assert_eq!(
            summarise(keys, &label).unwrap().shape,
            "Index Scan hnsw (filter in index)"
        );
        assert!(summarise("not json", &label).is_err());
        assert!(summarise("[{}]", &label).is_err());
    }

    #[test]
    fn tallies_and_describes() {
        let seq = PlanShape {
            shape: "Seq Scan → Sort".into(),
            generic: false,
        };
        let idx = PlanShape {
            shape: "Index Scan hnsw".into(),
            generic: true,
        };
        let counts = tally(&[seq.clone(), idx.clone(), idx.clone()]);
        assert_eq!(counts[0].count, 2);
        assert_eq!(
            describe(&counts),
            "Index Scan hnsw (generic) ×2; Seq Scan → Sort ×1"
        );
        assert_eq!(
            describe(&tally(&[seq.clone(), seq.clone()])),
            "Seq Scan → Sort"
        );
        // Five custom plans, then the generic plan of the same shape.
        let generic_seq = PlanShape {
            generic: true,
            ..seq.clone()
        };
        let five_and_five: Vec<PlanShape> = (0..10)
            .map(|i| {
                if i < 5 {
                    seq.clone()
                } else {
                    generic_seq.clone()
                }
            })
            .collect();
        let counts = tally(&five_and_five);
        assert_eq!(counts.len(), 2, "the JSON keeps custom and generic apart");
        assert_eq!(describe(&counts), "Seq Scan → Sort (generic)");
        assert_eq!(describe(&[]), "–");
    }
}
