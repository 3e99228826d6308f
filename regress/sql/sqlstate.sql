-- The SQLSTATE of every class of bad input (the other suites show the messages and DETAILs).

CREATE FUNCTION pg_temp.sqlstate_of(query text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE query;
    RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE || ' ' || SQLERRM;
END
$$;

SELECT q, pg_temp.sqlstate_of(q) FROM (VALUES
    -- 22P02 invalid_text_representation
    ($$SELECT '1,2'::ruvector$$),
    ($$SELECT '[1,2'::halfvec$$),
    ($$SELECT '{1:1'::sparsevec$$),
    -- 22000 data_exception
    ($$SELECT '[]'::ruvector$$),
    ($$SELECT '[NaN]'::ruvector$$),
    ($$SELECT '[inf]'::halfvec$$),
    ($$SELECT '[1,2]'::ruvector(3)$$),
    ($$SELECT '[1,2]'::ruvector <-> '[1]'$$),
    ($$SELECT '[1,2]'::halfvec <=> '[1]'$$),
    ($$SELECT '{1:1}/2'::sparsevec <#> '{1:1}/3'$$),
    ($$SELECT B'11' <~> B'1'$$),
    ($$SELECT '{1:1,1:2}/3'::sparsevec$$),
    ($$SELECT '{5:1}/3'::sparsevec$$),
    ($$SELECT '{{1,2}}'::int[]::ruvector$$),
    ($$SELECT subvector('[1,2]'::ruvector, 5, 1)$$),
    -- 22003 numeric_value_out_of_range
    ($$SELECT '[1e39]'::ruvector$$),
    ($$SELECT '[70000]'::halfvec$$),
    ($$SELECT '{1:1e-50}/2'::sparsevec$$),
    ($$SELECT '[3e38]'::ruvector + '[3e38]'$$),
    ($$SELECT '[1e-30]'::ruvector * '[1e-30]'$$),
    ($$SELECT '[1e5]'::ruvector::halfvec$$),
    -- 22004 null_value_not_allowed
    ($$SELECT '{1,NULL}'::real[]::ruvector$$),
    -- 22023 invalid_parameter_value
    ($$SELECT '[1]'::ruvector(0)$$),
    ($$SELECT '[1]'::halfvec(16001)$$),
    ($$SELECT '{}/1'::sparsevec(1, 2)$$),
    -- 54000 program_limit_exceeded
    ($$SELECT array_fill(1, ARRAY[16001])::ruvector$$),
    ($$SELECT '{}/1000000001'::sparsevec$$),
    ($$SELECT ARRAY(SELECT 1 FROM generate_series(1, 16001))::sparsevec$$),
    -- XX000 internal_error (a corrupt aggregate state)
    ($$SELECT ruvector_avg('{}')$$)
) t(q);
