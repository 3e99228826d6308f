"""A pgvector application, as its users write it: psycopg 3 with pgvector's adapter
(`register_vector`: numpy arrays sent as binary `vector` parameters), plain text parameters, and
COPY ... FROM STDIN in text and binary. server-tests/tests/pgvector_clients.rs runs this same file
against pgvector columns, then against the same columns converted to ruvector's types, then with
pgvector dropped, and compares what it prints (JSON).

    app.py CONNINFO [--adapter pgvector|ruvector] [--exact]

--adapter ruvector is the registration for a database without pgvector (README, "Migrating from
pgvector"): pgvector's adapter, given ruvector's types. --exact runs the queries without index
scans, for the exact answers.
"""

import argparse
import json

import numpy as np
import psycopg
from psycopg.types import TypeInfo
from pgvector import HalfVector, SparseVector, Vector
from pgvector.psycopg import register_vector
from pgvector.psycopg.halfvec import HalfVectorBinaryLoader, HalfVectorLoader, register_halfvec_info
from pgvector.psycopg.sparsevec import (
    SparseVectorBinaryLoader,
    SparseVectorLoader,
    register_sparsevec_info,
)
from pgvector.psycopg.vector import VectorBinaryLoader, VectorLoader, register_vector_info


def register_pgvector(conn):
    """pgvector's registration, plus loaders for ruvector's types when they exist, so values
    read from a converted column come back as the same Python objects (parameters keep being
    sent as pgvector's types; ruvector accepts them through its casts)."""
    register_vector(conn)
    for name, text, binary in [
        ("ruvector.ruvector", VectorLoader, VectorBinaryLoader),
        ("ruvector.halfvec", HalfVectorLoader, HalfVectorBinaryLoader),
        ("ruvector.sparsevec", SparseVectorLoader, SparseVectorBinaryLoader),
    ]:
        info = TypeInfo.fetch(conn, name)
        if info is not None:
            conn.adapters.register_loader(info.oid, text)
            conn.adapters.register_loader(info.oid, binary)


def register_ruvector(conn):
    """Without pgvector installed: pgvector's adapter registered for ruvector's types."""
    register_vector_info(conn, TypeInfo.fetch(conn, "ruvector"))
    register_halfvec_info(conn, TypeInfo.fetch(conn, "ruvector.halfvec"))
    register_sparsevec_info(conn, TypeInfo.fetch(conn, "ruvector.sparsevec"))


def plain(value):
    """A value read back, as JSON: vectors as lists of floats (sparse as a dense list)."""
    if value is None:
        return None
    if isinstance(value, np.ndarray):
        return [float(x) for x in value]
    if isinstance(value, (Vector, HalfVector, SparseVector)):
        return [float(x) for x in value.to_list()]
    return {"unexpected_type": type(value).__name__, "value": str(value)}


def point(k):
    """The table's vectors: row k is (sin k, cos k, k/100)."""
    return np.array([np.sin(k), np.cos(k), k / 100], dtype=np.float32)


def text(v):
    """pgvector's text format of a numpy vector."""
    return "[" + ",".join(repr(float(x)) for x in v) + "]"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("conninfo")
    parser.add_argument("--adapter", choices=["pgvector", "ruvector"], default="pgvector")
    parser.add_argument("--exact", action="store_true")
    args = parser.parse_args()
    conninfo, adapter = args.conninfo, args.adapter
    out = {}
    with psycopg.connect(conninfo, autocommit=True) as conn:
        if adapter == "ruvector":
            register_ruvector(conn)
        else:
            register_pgvector(conn)
        conn.execute("DELETE FROM items WHERE id >= 1000")

        # writes: numpy (binary parameters), text parameters, COPY text and binary
        for i in range(5):
            conn.execute(
                "INSERT INTO items (id, embedding, half, sparse) VALUES (%s, %s, %s, %s)",
                (1000 + i, point(1000 + i), HalfVector([i, 1, 7]), SparseVector({0: float(i), 2: 5.0}, 5)),
            )
        conn.execute(
            "INSERT INTO items (id, embedding, half, sparse) VALUES (%s, %s, %s, %s)",
            (1005, text(point(1005)), "[5,1,7]", "{1:5,3:5}/5"),
        )
        with conn.cursor() as cur:
            with cur.copy("COPY items (id, embedding, half, sparse) FROM STDIN") as copy:
                for i in range(6, 8):
                    copy.write_row((1000 + i, text(point(1000 + i)), f"[{i},1,7]", f"{{1:{i},3:5}}/5"))
            with cur.copy("COPY items (id, embedding) FROM STDIN (FORMAT BINARY)") as copy:
                copy.set_types(["int4", "vector" if adapter == "pgvector" else "ruvector"])
                for i in range(8, 10):
                    copy.write_row((1000 + i, point(1000 + i)))
            conn.execute("UPDATE items SET embedding = %s WHERE id = 1009",
                         (point(1010),))

        # reads: kNN with each kind of parameter, through the index
        q = point(1003)
        c = np.array([0.5, -0.2, 1.0], dtype=np.float32)
        conn.execute("SET enable_indexscan = off" if args.exact else "SET enable_seqscan = off")
        for name, sql, param in [
            ("cosine_numpy", "SELECT id FROM items ORDER BY embedding <=> %s LIMIT 5", c),
            ("cosine_text", "SELECT id FROM items ORDER BY embedding <=> %s LIMIT 5", text(c)),
            ("l2_numpy", "SELECT id FROM items ORDER BY embedding <-> %s LIMIT 5", q),
            ("half_numpy", "SELECT id FROM items ORDER BY half <-> %s LIMIT 3",
             np.array([3.2, 1.3, 2.1], dtype=np.float32)),
            ("half_halfvector", "SELECT id FROM items ORDER BY half <-> %s LIMIT 3",
             HalfVector([3.2, 1.3, 2.1])),
            ("sparse_sparsevector", "SELECT id FROM items ORDER BY sparse <-> %s LIMIT 3",
             SparseVector({0: 3.2, 3: 1.3, 4: 1.0}, 5)),
        ]:
            rows = conn.execute(sql, (param,)).fetchall()
            plan = "\n".join(r[0] for r in conn.execute("EXPLAIN " + sql, (param,)).fetchall())
            out[name] = {"ids": [r[0] for r in rows], "index_scan": "Index Scan" in plan}
        conn.execute("RESET ALL")

        # values read back, text and binary results
        sql = "SELECT embedding, half, sparse FROM items WHERE id IN (1002, 1005, 1007, 1009) ORDER BY id"
        out["values_text"] = [[plain(v) for v in r] for r in conn.execute(sql).fetchall()]
        out["values_binary"] = [[plain(v) for v in r] for r in conn.execute(sql, binary=True).fetchall()]
        out["distance"] = conn.execute(
            "SELECT embedding <-> %s FROM items WHERE id = 1000", (q,)).fetchone()[0]
        out["count"] = conn.execute("SELECT count(*) FROM items").fetchone()[0]
    print(json.dumps(out, sort_keys=True))


if __name__ == "__main__":
    main()
