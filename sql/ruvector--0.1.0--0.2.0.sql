-- ruvector 0.1.0 -> 0.2.0 (ALTER EXTENSION ruvector UPDATE TO '0.2.0')
--
-- 0.2.0 builds for PostgreSQL 15 and 18, versions the on-disk format of its indexes (an index
-- written by a newer release is refused with a REINDEX hint instead of misread) and ships as
-- packages. Its SQL objects are those of 0.1.0: this script changes none of them, and the
-- update test (server-tests/tests/extension_update.rs) checks that an updated 0.1.0 and a fresh
-- 0.2.0 have the same member objects.
\echo Use "ALTER EXTENSION ruvector UPDATE TO '0.2.0'" to load this file. \quit
