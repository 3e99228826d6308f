#!/usr/bin/env python3
"""Prints the first ROWS vectors of an .fvecs file (the texmex format of ../shared/data: each
vector a little-endian int32 dimension count, then that many float32) as COPY text rows
`id<TAB>[x,...]`, ids from 0. Used by scripts/demo.sh and scripts/fdw_shards.sh.

    python3 scripts/fvecs_rows.py FILE ROWS | psql -c "COPY items FROM STDIN"
    python3 scripts/fvecs_rows.py FILE --dim     (prints the dimension count)
"""
import struct
import sys


def main():
    path, rows = sys.argv[1], sys.argv[2]
    with open(path, "rb") as f:
        if rows == "--dim":
            print(struct.unpack("<i", f.read(4))[0])
            return
        for i in range(int(rows)):
            head = f.read(4)
            if len(head) < 4:
                break
            dim = struct.unpack("<i", head)[0]
            xs = struct.unpack("<%df" % dim, f.read(4 * dim))
            print("%d\t[%s]" % (i, ",".join(repr(x) for x in xs)))


if __name__ == "__main__":
    main()
