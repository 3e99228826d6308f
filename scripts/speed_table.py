#!/usr/bin/env python3
"""Prints the README's speed tables from the result files of `scripts/speed_bench.sh`
(docs/bench/speed/<dataset>-<metric>-hnsw[-c2].json, each one `ruvector-bench --compare pgvector`
run): per dataset and client count, ruvector's and pgvector's QPS and p99 latency at recall@10
0.90, 0.95 and 0.99 (each curve interpolated at that recall: log(QPS) and p99 linearly between
the two measured points around it, as `ruvector-bench` does for its own ratios), their ratio, build
time, index size and the exact-scan (no index) QPS, with ruvector/pgvector ratios.

    scripts/speed_table.py [DIR]    (default docs/bench/speed)
"""
import glob
import json
import math
import os
import sys

TARGETS = (0.90, 0.95, 0.99)


def at_recall(points, recall, key):
    """`key` of a recall curve at `recall` (None outside the measured range)."""
    pts = sorted((p["recall"], p[key]) for p in points)
    for (r0, v0), (r1, v1) in zip(pts, pts[1:]):
        if r0 <= recall <= r1:
            t = 0.0 if r1 == r0 else (recall - r0) / (r1 - r0)
            if key == "qps":
                return math.exp(math.log(v0) + t * (math.log(v1) - math.log(v0)))
            return v0 + t * (v1 - v0)
    return None


def runs(results):
    """The index run and the exact-scan run of each extension."""
    out = {}
    for run in results["runs"]:
        kind = "exact" if run["index"]["kind"] == "exact" else "index"
        out[(run["extension"], kind)] = run
    return out


def ratio(a, b, digits=2):
    return f"{a / b:.{digits}f}×" if a is not None and b else "–"


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else "docs/bench/speed"
    files = sorted(glob.glob(os.path.join(root, "*-hnsw*.json")))
    if not files:
        sys.exit(f"no result files in {root}: run scripts/speed_bench.sh first")
    rows = []
    for f in files:
        r = json.load(open(f))
        d = r["dataset"]
        rows.append((d["dim"], d["name"], r["clients"], r, runs(r)))
    rows.sort(key=lambda x: (x[0], x[2]))
    first = rows[0][3]
    print(f"Machine: {first['machine']['cpu']}, {first['machine']['cores']} cores, "
          f"{first['machine']['memory_gib']} GiB; server: {first['server']['version'].split(' on ')[0]}; "
          f"settings: " + ", ".join(f"{k} {v}" for k, v in first["server"]["settings"]))
    print()
    head = ["set", "clients"] + [f"QPS at {t:.2f}: ruvector / pgvector" for t in TARGETS] \
        + ["p99 ms at 0.95"]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for dim, name, clients, r, rs in rows:
        ru, pg = rs.get(("ruvector", "index")), rs.get(("pgvector", "index"))
        if not ru or not pg:
            continue
        cells = [f"{name} ({dim}-d, {r['dataset']['metric']})", str(clients)]
        for t in TARGETS:
            a, b = at_recall(ru["points"], t, "qps"), at_recall(pg["points"], t, "qps")
            cells.append("–" if a is None or b is None else f"{a:,.0f} / {b:,.0f} = **{a / b:.2f}×**")
        a, b = at_recall(ru["points"], 0.95, "p99_ms"), at_recall(pg["points"], 0.95, "p99_ms")
        cells.append("–" if a is None or b is None else f"{a:.2f} / {b:.2f}")
        print("| " + " | ".join(cells) + " |")
    print()
    head = ["set", "build s: ruvector / pgvector", "index MiB: ruvector / pgvector",
            "exact scan QPS: ruvector / pgvector", "recall at ef_search 40: ruvector / pgvector"]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for dim, name, clients, r, rs in rows:
        if clients != 1:
            continue
        ru, pg = rs.get(("ruvector", "index")), rs.get(("pgvector", "index"))
        if not ru or not pg:
            continue
        bu, bp = ru["build"], pg["build"]
        eu, ep = rs.get(("ruvector", "exact")), rs.get(("pgvector", "exact"))
        exact = "–"
        if eu and ep:
            qa, qb = eu["points"][0]["qps"], ep["points"][0]["qps"]
            exact = f"{qa:.1f} / {qb:.1f} = {ratio(qa, qb)}"
        r40 = [next((p["recall"] for p in x["points"] if p["value"] == 40), None) for x in (ru, pg)]
        cells = [
            f"{name} ({dim}-d)",
            f"{bu['seconds']:.1f} / {bp['seconds']:.1f} = {ratio(bu['seconds'], bp['seconds'])}",
            f"{bu['index_bytes'] / 2**20:.1f} / {bp['index_bytes'] / 2**20:.1f} = "
            f"{ratio(bu['index_bytes'], bp['index_bytes'])}",
            exact,
            "–" if None in r40 else f"{r40[0]:.3f} / {r40[1]:.3f}",
        ]
        print("| " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
