#!/usr/bin/env python3
"""Prints the README's filtered-search table from a result file of
`ruvector-bench --filter ... --filter-keys --filter-btree --compare pgvector`
(docs/bench/filter/<dataset>-<metric>-filter-keys-btree.json).

Per workload point: ruvector's fastest configuration of its key-column index (no btree) with
recall >= 0.9 and with recall >= 0.95; pgvector's fastest with recall >= 0.9 without and with
btree indexes on the filter columns (exact plans included); and the ratios of ruvector's QPS at
recall >= 0.95 to pgvector's best at >= 0.9."""
import json
import sys

path = sys.argv[1]
f = json.load(open(path))["filtered"]
points = f["points"]


def config(m):
    c = m["configuration"]
    if c["ef_search"] is None:
        name = "exact"
    else:
        it = {"off": "off", "relaxed_order": "relaxed", "strict_order": "strict"}[c["iterative_scan"]]
        name = f"ef {c['ef_search']} {it}"
    if c["set"] == "btree":
        name += " +btree"
    return name


def best(ext, point, sets, floor):
    ms = [m for m in f["measurements"]
          if m["extension"] == ext and m["point"] == point
          and m["configuration"]["set"] in sets and m["recall"] >= floor and m["fill_rate"] >= 1.0]
    return max(ms, key=lambda m: m["qps"], default=None)


def cell(m):
    if m is None:
        return "–"
    plan = m["plan"].replace(" (generic)", "").replace("ruhnsw (filter in index)", "keys index")
    return f"{m['recall']:.3f} / **{m['qps']:.0f}** ({config(m)}: {plan})"


def ratio(a, b):
    return f"{a['qps'] / b['qps']:.1f}×" if a and b else "–"


print("| workload | selectivity | ruvector, recall ≥ 0.9 | ruvector, recall ≥ 0.95 "
      "| pgvector best, no btree | pgvector best with btree indexes "
      "| ratio (≥ 0.95) vs no btree | vs with btree |")
print("|---|---|---|---|---|---|---|---|")
for i, p in enumerate(points):
    r90 = best("ruvector", i, {"plain"}, 0.9)
    r95 = best("ruvector", i, {"plain"}, 0.95)
    pg = best("pgvector", i, {"plain"}, 0.9)
    pgb = best("pgvector", i, {"plain", "btree"}, 0.9)
    print(f"| {p['workload']} | {p['label']} | {cell(r90)} | {cell(r95)} | {cell(pg)} | {cell(pgb)} "
          f"| {ratio(r95, pg)} | {ratio(r95, pgb)} |")
for ix in f["indexes"]:
    if ix["what"] != "btree":
        b = ix["build"]
        print(f"\n- {ix['what']}: {b['index_bytes'] / 2**20:.1f} MiB, built in {b['seconds']:.1f} s")
