-- ruvector 0.4.0 -> 0.5.0 (ALTER EXTENSION ruvector UPDATE TO '0.5.0')
--
-- 0.5.0 indexes ruvector and halfvec columns of up to 16,000 dimensions with ruhnsw at full
-- precision, splitting value images longer than a page over code pages: those indexes are
-- written in ruhnsw format version 4, which 0.4.0 refuses (REINDEX after a downgrade); every
-- other index keeps its format version. Its SQL objects are those of 0.4.0: this script changes
-- none of them, and the update test (server-tests/tests/extension_update.rs) checks that an
-- updated 0.4.0 and a fresh 0.5.0 have the same member objects.
\echo Use "ALTER EXTENSION ruvector UPDATE TO '0.5.0'" to load this file. \quit
