//! PURE: the key columns a filtered index stores with each element, and the predicates a scan
//! checks against them during the traversal.
//!
//! An index `USING ruhnsw (embedding ruvector_cosine_ops, tenant_id, category)` stores, with
//! every element, the values of `tenant_id` and `category` as a fixed-size *key blob*
//! ([`KeyLayout`]); a scan turns the `WHERE` clauses PostgreSQL hands it as scan keys into a
//! [`Predicate`] and never returns (nor visits on the heap) a row whose keys fail it.

pub mod keys;
pub mod predicate;

pub use keys::{KeyKind, KeyLayout, KeyValue};
pub use predicate::{Cmp, Predicate, PredicateBuilder, Probe};
