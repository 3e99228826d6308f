#!/usr/bin/env python3
"""Peak private memory (RssAnon) of the backend running CREATE INDEX, against
maintenance_work_mem: loads glove-100k into table g if it is missing, builds the index serially
(max_parallel_maintenance_workers = 0) while sampling /proc/PID/status every 50 ms.

  /opt/ruvector/venv/bin/python scripts/build_memory.py PORT MAINTENANCE_WORK_MEM "ruhnsw (embedding ruvector_cosine_ops)"

Run it on the machine of a local cluster (it reads the backend's /proc entry)."""
import os, sys, struct, threading, time, psycopg
port, mwm, idx = sys.argv[1], sys.argv[2], sys.argv[3]
conn = psycopg.connect(f"host=/tmp port={port} user=postgres dbname=postgres", autocommit=True)
cur = conn.cursor()
cur.execute("SELECT to_regclass('g') IS NOT NULL")
if not cur.fetchone()[0]:
    cur.execute("CREATE TABLE g (id int, embedding ruvector(50))")
    data = open(os.path.join(os.path.dirname(__file__), '../../shared/data/glove-100k/base.fvecs'), 'rb').read()
    rows = []
    off = 0; i = 0
    with cur.copy("COPY g FROM STDIN") as cp:
        while off < len(data):
            d = struct.unpack_from('<i', data, off)[0]; off += 4
            v = struct.unpack_from('<%df' % d, data, off); off += 4*d
            cp.write_row((i, '[' + ','.join(repr(x) for x in v) + ']'))
            i += 1
    cur.execute("VACUUM ANALYZE g")
cur.execute("DROP INDEX IF EXISTS g_idx")
cur.execute(f"SET maintenance_work_mem = '{mwm}'")
cur.execute("SET max_parallel_maintenance_workers = 0")
cur.execute("SELECT pg_backend_pid()")
pid = cur.fetchone()[0]
def anon():
    for l in open(f'/proc/{pid}/status'):
        if l.startswith('RssAnon'):
            return int(l.split()[1])
    return 0
base = anon(); peak = [base]; stop = [False]
def sample():
    while not stop[0]:
        try: peak[0] = max(peak[0], anon())
        except Exception: pass
        time.sleep(0.05)
t = threading.Thread(target=sample); t.start()
t0 = time.time()
notices = []
conn.add_notice_handler(lambda n: notices.append(n.message_primary))
cur.execute(f"CREATE INDEX g_idx ON g USING {idx}")
dt = time.time() - t0
stop[0] = True; t.join()
print(f"{idx} mwm={mwm}: build {dt:.1f}s, peak private RSS {(peak[0]-base)/1024:.1f} MB above the backend's {base/1024:.1f} MB; notices: {notices}")
