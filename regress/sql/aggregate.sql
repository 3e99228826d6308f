-- avg and sum aggregates (parallel-safe, with combine functions).

CREATE TABLE agg_t (g int, v ruvector(3), h halfvec(3));
INSERT INTO agg_t VALUES (1, '[1,2,3]', '[1,2,3]'), (1, '[3,4,5]', '[3,4,5]'), (2, '[1,1,1]', '[1,1,1]'), (2, NULL, NULL);
SELECT g, avg(v), sum(v), avg(h), sum(h) FROM agg_t GROUP BY g ORDER BY g;
SELECT avg(v), sum(v) FROM agg_t WHERE false;
SELECT avg(v) FROM (VALUES ('[1,2]'::ruvector), ('[1,2,3]')) t(v);
SELECT sum(v) FROM (VALUES ('[1,2]'::ruvector), ('[1,2,3]')) t(v);
SELECT avg(v) FROM (VALUES ('[3e38]'::ruvector), ('[3e38]')) t(v);
SELECT sum(v) FROM (VALUES ('[3e38]'::ruvector), ('[3e38]')) t(v);
SELECT avg(v) FROM (VALUES ('[65504]'::halfvec), ('[65504]')) t(v);
SELECT ruvector_avg('{0}'), ruvector_avg('{2,4,6}');
SELECT ruvector_avg('{}');
SELECT ruvector_avg('{{1}}');
SELECT ruvector_combine('{2,2,4}', '{1,1,1}'), ruvector_combine('{0}', '{1,1,1}');
SELECT ruvector_combine('{2,2,4}', '{1,1}');
SELECT aggfnoid::regprocedure, aggcombinefn, proparallel FROM pg_aggregate JOIN pg_proc p ON p.oid = aggfnoid
WHERE aggfnoid::regprocedure::text ~ '^(avg|sum)\((ruvector|halfvec)\)$' ORDER BY 1::text;

-- a parallel plan combines partial states
CREATE TABLE agg_big AS SELECT i, ARRAY[i % 7, i % 11, 1]::ruvector(3) AS v FROM generate_series(1, 100000) i;
ANALYZE agg_big;
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
EXPLAIN (COSTS OFF) SELECT avg(v) FROM agg_big;
SELECT avg(v), sum(v) FROM agg_big;
RESET ALL;
SELECT avg(v), sum(v) FROM agg_big;
DROP TABLE agg_t, agg_big;
