//! What is measured: an extension (ruvector or pgvector) and an index kind with its options.
//! The same parameters map to each extension's names — type, access method, operator class
//! and search GUC — so `--compare pgvector` runs like against like.

use crate::dataset::Metric;
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Extension {
    Ruvector,
    Pgvector,
}

impl Extension {
    /// `CREATE EXTENSION` name.
    pub fn extension_name(self) -> &'static str {
        match self {
            Extension::Ruvector => "ruvector",
            Extension::Pgvector => "vector",
        }
    }

    /// Float vector column type.
    pub fn type_name(self) -> &'static str {
        match self {
            Extension::Ruvector => "ruvector",
            Extension::Pgvector => "vector",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Extension::Ruvector => "ruvector",
            Extension::Pgvector => "pgvector",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum IndexKind {
    /// No index: exact (sequential) scan, the reference.
    Exact,
    Hnsw {
        m: u32,
        ef_construction: u32,
    },
    Ivfflat {
        lists: u32,
    },
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Profile {
    pub extension: Extension,
    pub index: IndexKind,
    /// ruvector's `quantization` index option (`None`: not given; pgvector has no such option).
    pub quantization: Option<String>,
    /// Further key columns after the vector (`--filter-keys`: a multi-column ruhnsw index
    /// whose extra columns are checked during the graph traversal).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub keys: Vec<String>,
    /// ruvector's `sketches` option of `ruhnsw` (neighbour sketches; `--sketches`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub sketches: bool,
}

impl Profile {
    pub fn new(extension: Extension, index: IndexKind) -> Profile {
        Profile {
            extension,
            index,
            quantization: None,
            keys: Vec::new(),
            sketches: false,
        }
    }

    /// The profile with ruvector's `sketches` option of `ruhnsw` (nothing for pgvector or IVF).
    pub fn with_sketches(mut self, on: bool) -> Profile {
        self.sketches = on
            && self.extension == Extension::Ruvector
            && matches!(self.index, IndexKind::Hnsw { .. });
        self
    }

    /// The profile with further key columns after the vector (ruvector's HNSW only; pgvector's
    /// hnsw indexes one column).
    pub fn with_keys(mut self, keys: &[String]) -> Profile {
        if self.extension == Extension::Ruvector && matches!(self.index, IndexKind::Hnsw { .. }) {
            self.keys = keys.to_vec();
        }
        self
    }

    /// The profile with ruvector's `quantization` option (ignored for pgvector, which has none).
    pub fn with_quantization(mut self, q: Option<&str>) -> Profile {
        if self.extension == Extension::Ruvector && self.index != IndexKind::Exact {
            self.quantization = q.map(str::to_string);
        }
        self
    }

    /// Index access method name, `None` for exact scans.
    pub fn access_method(&self) -> Option<&'static str> {
        Some(match (self.extension, self.index) {
            (_, IndexKind::Exact) => return None,
            (Extension::Ruvector, IndexKind::Hnsw { .. }) => "ruhnsw",
            (Extension::Ruvector, IndexKind::Ivfflat { .. }) => "ruivfflat",
            (Extension::Pgvector, IndexKind::Hnsw { .. }) => "hnsw",
            (Extension::Pgvector, IndexKind::Ivfflat { .. }) => "ivfflat",
        })
    }

    /// The GUC a sweep varies (`ef_search` / `probes`).
    pub fn search_guc(&self) -> Option<&'static str> {
        Some(match (self.extension, self.index) {
            (_, IndexKind::Exact) => return None,
            (Extension::Ruvector, IndexKind::Hnsw { .. }) => "ruvector.ef_search",
            (Extension::Ruvector, IndexKind::Ivfflat { .. }) => "ruvector.probes",
            (Extension::Pgvector, IndexKind::Hnsw { .. }) => "hnsw.ef_search",
            (Extension::Pgvector, IndexKind::Ivfflat { .. }) => "ivfflat.probes",
        })
    }

    /// The GUC of iterative scans (`off`, `relaxed_order`, `strict_order`) for HNSW.
    pub fn iterative_scan_guc(&self) -> Option<&'static str> {
        Some(match (self.extension, self.index) {
            (Extension::Ruvector, IndexKind::Hnsw { .. }) => "ruvector.hnsw_iterative_scan",
            (Extension::Pgvector, IndexKind::Hnsw { .. }) => "hnsw.iterative_scan",
            _ => return None,
        })
    }

    pub fn opclass(&self, metric: Metric) -> String {
        format!("{}_{}_ops", self.extension.type_name(), metric.name())
    }

    pub fn options(&self) -> String {
        let base = match self.index {
            IndexKind::Exact => return String::new(),
            IndexKind::Hnsw { m, ef_construction } => {
                format!("m = {m}, ef_construction = {ef_construction}")
            }
            IndexKind::Ivfflat { lists } => format!("lists = {lists}"),
        };
        let base = match &self.quantization {
            Some(q) => format!("{base}, quantization = '{q}'"),
            None => base,
        };
        if self.sketches {
            format!("{base}, sketches = on")
        } else {
            base
        }
    }

    /// Display name, e.g. `ruvector ruhnsw (m = 16, ef_construction = 64)`.
    pub fn name(&self) -> String {
        match self.access_method() {
            None => format!("{} exact scan", self.extension.label()),
            Some(am) if !self.keys.is_empty() => format!(
                "{} {am} (embedding, {}) ({})",
                self.extension.label(),
                self.keys.join(", "),
                self.options()
            ),
            Some(am) => format!("{} {am} ({})", self.extension.label(), self.options()),
        }
    }

    pub fn create_index_sql(&self, table: &str, index: &str, metric: Metric) -> Option<String> {
        let am = self.access_method()?;
        let keys: String = self
            .keys
            .iter()
            .map(|k| format!(", {}", crate::db::ident(k)))
            .collect();
        Some(format!(
            "CREATE INDEX {index} ON {table} USING {am} (embedding {}{keys}) WITH ({})",
            self.opclass(metric),
            self.options()
        ))
    }

    pub fn query_sql(&self, table: &str, metric: Metric, k: usize) -> String {
        format!(
            "SELECT id FROM {table} ORDER BY embedding {} $1 LIMIT {k}",
            metric.operator()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_map_per_extension() {
        let h = IndexKind::Hnsw {
            m: 16,
            ef_construction: 64,
        };
        let rv = Profile::new(Extension::Ruvector, h);
        let pv = Profile::new(Extension::Pgvector, h);
        assert_eq!(
            rv.create_index_sql("t", "t_idx", Metric::Cosine).unwrap(),
            "CREATE INDEX t_idx ON t USING ruhnsw (embedding ruvector_cosine_ops) \
             WITH (m = 16, ef_construction = 64)"
        );
        assert_eq!(
            pv.create_index_sql("t", "t_idx", Metric::L2).unwrap(),
            "CREATE INDEX t_idx ON t USING hnsw (embedding vector_l2_ops) \
             WITH (m = 16, ef_construction = 64)"
        );
        assert_eq!(pv.search_guc(), Some("hnsw.ef_search"));
        assert_eq!(rv.search_guc(), Some("ruvector.ef_search"));
        assert_eq!(
            Profile::new(Extension::Ruvector, IndexKind::Ivfflat { lists: 7 })
                .with_quantization(Some("sq8"))
                .create_index_sql("t", "i", Metric::L2)
                .unwrap(),
            "CREATE INDEX i ON t USING ruivfflat (embedding ruvector_l2_ops) \
             WITH (lists = 7, quantization = 'sq8')"
        );
        assert!(pv
            .clone()
            .with_quantization(Some("sq8"))
            .quantization
            .is_none());
        let ex = Profile::new(Extension::Ruvector, IndexKind::Exact);
        assert!(ex.create_index_sql("t", "i", Metric::L2).is_none());
        assert_eq!(ex.name(), "ruvector exact scan");
        let keys = ["u10".to_string(), "tenant_id".to_string()];
        assert_eq!(
            rv.clone()
                .with_keys(&keys)
                .create_index_sql("t", "t_idx", Metric::Cosine)
                .unwrap(),
            "CREATE INDEX t_idx ON t USING ruhnsw (embedding ruvector_cosine_ops, \"u10\", \
             \"tenant_id\") WITH (m = 16, ef_construction = 64)"
        );
        assert!(pv.clone().with_keys(&keys).keys.is_empty());
        assert_eq!(pv.iterative_scan_guc(), Some("hnsw.iterative_scan"));
        assert_eq!(
            rv.iterative_scan_guc(),
            Some("ruvector.hnsw_iterative_scan")
        );
        assert_eq!(
            rv.query_sql("t", Metric::Ip, 10),
            "SELECT id FROM t ORDER BY embedding <#> $1 LIMIT 10"
        );
    }
}
