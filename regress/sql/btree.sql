-- btree operator classes: ordering, uniqueness, index scans.

CREATE TABLE bt (v ruvector, h halfvec, s sparsevec);
INSERT INTO bt VALUES ('[1,2,3]', '[1,2,3]', '{1:1}/3'), ('[1,2]', '[1,2]', '{}/3'), ('[0,9]', '[0,9]', '{1:-1}/3'), ('[1,2,4]', '[1,2,4]', '{2:1}/3');
CREATE INDEX ON bt (v);
CREATE INDEX ON bt (h);
CREATE INDEX ON bt (s);
SET enable_seqscan = off;
SET enable_bitmapscan = off;
EXPLAIN (COSTS OFF) SELECT * FROM bt WHERE v = '[1,2,3]';
SELECT v FROM bt WHERE v = '[1,2,3]';
SELECT v FROM bt ORDER BY v;
SELECT h FROM bt WHERE h > '[1,2]' ORDER BY h;
SELECT s FROM bt ORDER BY s;
RESET enable_seqscan;
RESET enable_bitmapscan;
CREATE UNIQUE INDEX bt_unique ON bt (v);
INSERT INTO bt (v) VALUES ('[1,2,3]');
SELECT DISTINCT v FROM (VALUES ('[1,2]'::ruvector), ('[1,2]'), ('[2,1]')) t(v) ORDER BY v;
DROP TABLE bt;
