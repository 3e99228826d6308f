#!/usr/bin/env python3
"""Prints the kernel benchmark table for README from criterion's results
(target/criterion/<kernel>/<tier>/<dim>/new/estimates.json), after `cargo bench -p ruvector-core --bench kernels`.
Columns: ns per call for each tier, throughput (GB/s of both operands) and speed-up vs scalar."""
import json, os, sys

root = sys.argv[1] if len(sys.argv) > 1 else "target/criterion"
kernels = ["l2_squared_f32", "dot_f32", "cosine_f32", "l1_f32",
           "l2_squared_f16", "dot_f16", "cosine_f16", "l1_f16", "hamming", "jaccard"]
tiers = ["scalar", "avx2", "avx512", "neon"]
dims = [128, 384, 768, 1536]

def load(kernel, tier, dim):
    base = os.path.join(root, kernel, tier, str(dim), "new")
    try:
        est = json.load(open(os.path.join(base, "estimates.json")))
        bench = json.load(open(os.path.join(base, "benchmark.json")))
    except FileNotFoundError:
        return None
    ns = est["median"]["point_estimate"]
    nbytes = (bench.get("throughput") or {}).get("Bytes", 0)
    return ns, nbytes / ns  # bytes per ns == GB/s

present = [t for t in tiers if any(load(k, t, d) for k in kernels for d in dims)]
simd = [t for t in present if t != "scalar"]
head = ["kernel", "dim"] + [f"{t} ns" for t in present] + [f"{t} GB/s" for t in present] \
    + [f"{t}/scalar" for t in simd]
print("| " + " | ".join(head) + " |")
print("|" + "---|" * len(head))
for k in kernels:
    for d in dims:
        r = {t: load(k, t, d) for t in present}
        if not r.get("scalar"):
            continue
        row = [k, str(d)]
        row += [f"{r[t][0]:.1f}" if r[t] else "" for t in present]
        row += [f"{r[t][1]:.1f}" if r[t] else "" for t in present]
        row += [f"{r['scalar'][0] / r[t][0]:.1f}x" if r[t] else "" for t in simd]
        print("| " + " | ".join(row) + " |")
