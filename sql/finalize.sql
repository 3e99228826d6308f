-- ruvector install script, part 3 (runs after the generated function declarations):
-- completes the types and declares casts, operators, aggregates and btree operator classes.
-- Object names, cast contexts and operator properties follow pgvector 0.8 (sql/vector.sql), with
-- the dense f32 type named `ruvector` instead of `vector`.

-- ============================================================================================
-- ruvector
-- ============================================================================================

-- PREFERRED: where an untyped literal leaves PostgreSQL a choice between ruvector and another
-- user-defined type of the same name's function (pgvector's `vector_norm(vector)` beside
-- `vector_norm(ruvector)` when both extensions are on the search_path), the literal is taken
-- as a ruvector instead of the call failing as ambiguous ("Type Conversion: Functions",
-- step 4.e, in the PostgreSQL docs). Only calls that were ambiguous resolve differently.
CREATE TYPE ruvector (
    INPUT     = ruvector_in,
    OUTPUT    = ruvector_out,
    TYPMOD_IN = ruvector_typmod_in,
    RECEIVE   = ruvector_recv,
    SEND      = ruvector_send,
    STORAGE   = external,
    PREFERRED = true
);
-- casts
CREATE CAST (ruvector AS ruvector)
    WITH FUNCTION ruvector(ruvector, integer, boolean) AS IMPLICIT;

CREATE CAST (ruvector AS real[])
    WITH FUNCTION ruvector_to_float4(ruvector, integer, boolean) AS IMPLICIT;
CREATE FUNCTION array_to_ruvector(integer[], integer, boolean) RETURNS ruvector
    AS 'MODULE_PATHNAME', 'array_to_ruvector_wrapper' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION array_to_ruvector(real[], integer, boolean) RETURNS ruvector
    AS 'MODULE_PATHNAME', 'array_to_ruvector_wrapper' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION array_to_ruvector(double precision[], integer, boolean) RETURNS ruvector
    AS 'MODULE_PATHNAME', 'array_to_ruvector_wrapper' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION array_to_ruvector(numeric[], integer, boolean) RETURNS ruvector
    AS 'MODULE_PATHNAME', 'array_to_ruvector_wrapper' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE CAST (integer[] AS ruvector)
    WITH FUNCTION array_to_ruvector(integer[], integer, boolean) AS ASSIGNMENT;
CREATE CAST (real[] AS ruvector)
    WITH FUNCTION array_to_ruvector(real[], integer, boolean) AS ASSIGNMENT;
CREATE CAST (double precision[] AS ruvector)
    WITH FUNCTION array_to_ruvector(double precision[], integer, boolean) AS ASSIGNMENT;
CREATE CAST (numeric[] AS ruvector)
    WITH FUNCTION array_to_ruvector(numeric[], integer, boolean) AS ASSIGNMENT;
-- operators
CREATE OPERATOR <-> (
    LEFTARG = ruvector, RIGHTARG = ruvector, PROCEDURE = l2_distance,
    COMMUTATOR = '<->'
);

CREATE OPERATOR <#> (
    LEFTARG = ruvector, RIGHTARG = ruvector, PROCEDURE = ruvector_negative_inner_product,
    COMMUTATOR = '<#>'
);

CREATE OPERATOR <=> (
    LEFTARG = ruvector, RIGHTARG = ruvector, PROCEDURE = cosine_distance,
    COMMUTATOR = '<=>'
);

CREATE OPERATOR <+> (
    LEFTARG = ruvector, RIGHTARG = ruvector, PROCEDURE = l1_distance,
    COMMUTATOR = '<+>'
);
CREATE OPERATOR + (
    LEFTARG = ruvector, RIGHTARG = ruvector, PROCEDURE = ruvector_add,
    COMMUTATOR = +
);

CREATE OPERATOR - (
    LEFTARG = ruvector, RIGHTARG = ruvector, PROCEDURE = ruvector_sub
);

CREATE OPERATOR * (
    LEFTARG = ruvector, RIGHTARG = ruvector, PROCEDURE = ruvector_mul,
    COMMUTATOR = *
);

CREATE OPERATOR || (
    LEFTARG = ruvector, RIGHTARG = ruvector, PROCEDURE = ruvector_concat
);
CREATE OPERATOR < (
    LEFTARG = ruvector, RIGHTARG = ruvector, PROCEDURE = ruvector_lt,
    COMMUTATOR = > , NEGATOR = >= ,
    RESTRICT = scalarltsel, JOIN = scalarltjoinsel
);

CREATE OPERATOR <= (
    LEFTARG = ruvector, RIGHTARG = ruvector, PROCEDURE = ruvector_le,
    COMMUTATOR = >= , NEGATOR = > ,
    RESTRICT = scalarlesel, JOIN = scalarlejoinsel
);

CREATE OPERATOR = (
    LEFTARG = ruvector, RIGHTARG = ruvector, PROCEDURE = ruvector_eq,
    COMMUTATOR = = , NEGATOR = <> ,
    RESTRICT = eqsel, JOIN = eqjoinsel
);

CREATE OPERATOR <> (
    LEFTARG = ruvector, RIGHTARG = ruvector, PROCEDURE = ruvector_ne,
    COMMUTATOR = <> , NEGATOR = = ,
    RESTRICT = eqsel, JOIN = eqjoinsel
);

CREATE OPERATOR >= (
    LEFTARG = ruvector, RIGHTARG = ruvector, PROCEDURE = ruvector_ge,
    COMMUTATOR = <= , NEGATOR = < ,
    RESTRICT = scalargesel, JOIN = scalargejoinsel
);

CREATE OPERATOR > (
    LEFTARG = ruvector, RIGHTARG = ruvector, PROCEDURE = ruvector_gt,
    COMMUTATOR = < , NEGATOR = <= ,
    RESTRICT = scalargtsel, JOIN = scalargtjoinsel
);

CREATE OPERATOR CLASS ruvector_ops
    DEFAULT FOR TYPE ruvector USING btree AS
    OPERATOR 1 < ,
    OPERATOR 2 <= ,
    OPERATOR 3 = ,
    OPERATOR 4 >= ,
    OPERATOR 5 > ,
    FUNCTION 1 ruvector_cmp(ruvector, ruvector);
-- aggregates
CREATE AGGREGATE avg(ruvector) (
    SFUNC = ruvector_accum,
    STYPE = double precision[],
    FINALFUNC = ruvector_avg,
    COMBINEFUNC = ruvector_combine,
    INITCOND = '{0}',
    PARALLEL = SAFE
);

CREATE AGGREGATE sum(ruvector) (
    SFUNC = ruvector_add,
    STYPE = ruvector,
    COMBINEFUNC = ruvector_add,
    PARALLEL = SAFE
);

-- ============================================================================================
-- halfvec
-- ============================================================================================

CREATE TYPE halfvec (
    INPUT     = halfvec_in,
    OUTPUT    = halfvec_out,
    TYPMOD_IN = halfvec_typmod_in,
    RECEIVE   = halfvec_recv,
    SEND      = halfvec_send,
    STORAGE   = external
);
-- casts
CREATE CAST (halfvec AS halfvec)
    WITH FUNCTION halfvec(halfvec, integer, boolean) AS IMPLICIT;

CREATE CAST (halfvec AS ruvector)
    WITH FUNCTION halfvec_to_ruvector(halfvec, integer, boolean) AS ASSIGNMENT;

CREATE CAST (ruvector AS halfvec)
    WITH FUNCTION ruvector_to_halfvec(ruvector, integer, boolean) AS IMPLICIT;

CREATE CAST (halfvec AS real[])
    WITH FUNCTION halfvec_to_float4(halfvec, integer, boolean) AS ASSIGNMENT;
CREATE FUNCTION array_to_halfvec(integer[], integer, boolean) RETURNS halfvec
    AS 'MODULE_PATHNAME', 'array_to_halfvec_wrapper' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION array_to_halfvec(real[], integer, boolean) RETURNS halfvec
    AS 'MODULE_PATHNAME', 'array_to_halfvec_wrapper' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION array_to_halfvec(double precision[], integer, boolean) RETURNS halfvec
    AS 'MODULE_PATHNAME', 'array_to_halfvec_wrapper' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION array_to_halfvec(numeric[], integer, boolean) RETURNS halfvec
    AS 'MODULE_PATHNAME', 'array_to_halfvec_wrapper' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE CAST (integer[] AS halfvec)
    WITH FUNCTION array_to_halfvec(integer[], integer, boolean) AS ASSIGNMENT;
CREATE CAST (real[] AS halfvec)
    WITH FUNCTION array_to_halfvec(real[], integer, boolean) AS ASSIGNMENT;
CREATE CAST (double precision[] AS halfvec)
    WITH FUNCTION array_to_halfvec(double precision[], integer, boolean) AS ASSIGNMENT;
CREATE CAST (numeric[] AS halfvec)
    WITH FUNCTION array_to_halfvec(numeric[], integer, boolean) AS ASSIGNMENT;
-- operators
CREATE OPERATOR <-> (
    LEFTARG = halfvec, RIGHTARG = halfvec, PROCEDURE = l2_distance,
    COMMUTATOR = '<->'
);

CREATE OPERATOR <#> (
    LEFTARG = halfvec, RIGHTARG = halfvec, PROCEDURE = halfvec_negative_inner_product,
    COMMUTATOR = '<#>'
);

CREATE OPERATOR <=> (
    LEFTARG = halfvec, RIGHTARG = halfvec, PROCEDURE = cosine_distance,
    COMMUTATOR = '<=>'
);

CREATE OPERATOR <+> (
    LEFTARG = halfvec, RIGHTARG = halfvec, PROCEDURE = l1_distance,
    COMMUTATOR = '<+>'
);
CREATE OPERATOR + (
    LEFTARG = halfvec, RIGHTARG = halfvec, PROCEDURE = halfvec_add,
    COMMUTATOR = +
);

CREATE OPERATOR - (
    LEFTARG = halfvec, RIGHTARG = halfvec, PROCEDURE = halfvec_sub
);

CREATE OPERATOR * (
    LEFTARG = halfvec, RIGHTARG = halfvec, PROCEDURE = halfvec_mul,
    COMMUTATOR = *
);

CREATE OPERATOR || (
    LEFTARG = halfvec, RIGHTARG = halfvec, PROCEDURE = halfvec_concat
);
CREATE OPERATOR < (
    LEFTARG = halfvec, RIGHTARG = halfvec, PROCEDURE = halfvec_lt,
    COMMUTATOR = > , NEGATOR = >= ,
    RESTRICT = scalarltsel, JOIN = scalarltjoinsel
);

CREATE OPERATOR <= (
    LEFTARG = halfvec, RIGHTARG = halfvec, PROCEDURE = halfvec_le,
    COMMUTATOR = >= , NEGATOR = > ,
    RESTRICT = scalarlesel, JOIN = scalarlejoinsel
);

CREATE OPERATOR = (
    LEFTARG = halfvec, RIGHTARG = halfvec, PROCEDURE = halfvec_eq,
    COMMUTATOR = = , NEGATOR = <> ,
    RESTRICT = eqsel, JOIN = eqjoinsel
);

CREATE OPERATOR <> (
    LEFTARG = halfvec, RIGHTARG = halfvec, PROCEDURE = halfvec_ne,
    COMMUTATOR = <> , NEGATOR = = ,
    RESTRICT = eqsel, JOIN = eqjoinsel
);

CREATE OPERATOR >= (
    LEFTARG = halfvec, RIGHTARG = halfvec, PROCEDURE = halfvec_ge,
    COMMUTATOR = <= , NEGATOR = < ,
    RESTRICT = scalargesel, JOIN = scalargejoinsel
);

CREATE OPERATOR > (
    LEFTARG = halfvec, RIGHTARG = halfvec, PROCEDURE = halfvec_gt,
    COMMUTATOR = < , NEGATOR = <= ,
    RESTRICT = scalargtsel, JOIN = scalargtjoinsel
);

CREATE OPERATOR CLASS halfvec_ops
    DEFAULT FOR TYPE halfvec USING btree AS
    OPERATOR 1 < ,
    OPERATOR 2 <= ,
    OPERATOR 3 = ,
    OPERATOR 4 >= ,
    OPERATOR 5 > ,
    FUNCTION 1 halfvec_cmp(halfvec, halfvec);
-- aggregates (partial states are the same float8[] as ruvector's, so its combine serves both)
CREATE AGGREGATE avg(halfvec) (
    SFUNC = halfvec_accum,
    STYPE = double precision[],
    FINALFUNC = halfvec_avg,
    COMBINEFUNC = ruvector_combine,
    INITCOND = '{0}',
    PARALLEL = SAFE
);

CREATE AGGREGATE sum(halfvec) (
    SFUNC = halfvec_add,
    STYPE = halfvec,
    COMBINEFUNC = halfvec_add,
    PARALLEL = SAFE
);

-- ============================================================================================
-- sparsevec
-- ============================================================================================

CREATE TYPE sparsevec (
    INPUT     = sparsevec_in,
    OUTPUT    = sparsevec_out,
    TYPMOD_IN = sparsevec_typmod_in,
    RECEIVE   = sparsevec_recv,
    SEND      = sparsevec_send,
    STORAGE   = external
);

-- casts
CREATE CAST (sparsevec AS sparsevec)
    WITH FUNCTION sparsevec(sparsevec, integer, boolean) AS IMPLICIT;

CREATE CAST (sparsevec AS ruvector)
    WITH FUNCTION sparsevec_to_ruvector(sparsevec, integer, boolean) AS ASSIGNMENT;

CREATE CAST (ruvector AS sparsevec)
    WITH FUNCTION ruvector_to_sparsevec(ruvector, integer, boolean) AS IMPLICIT;

CREATE CAST (sparsevec AS halfvec)
    WITH FUNCTION sparsevec_to_halfvec(sparsevec, integer, boolean) AS ASSIGNMENT;

CREATE CAST (halfvec AS sparsevec)
    WITH FUNCTION halfvec_to_sparsevec(halfvec, integer, boolean) AS IMPLICIT;
CREATE FUNCTION array_to_sparsevec(integer[], integer, boolean) RETURNS sparsevec
    AS 'MODULE_PATHNAME', 'array_to_sparsevec_wrapper' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION array_to_sparsevec(real[], integer, boolean) RETURNS sparsevec
    AS 'MODULE_PATHNAME', 'array_to_sparsevec_wrapper' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION array_to_sparsevec(double precision[], integer, boolean) RETURNS sparsevec
    AS 'MODULE_PATHNAME', 'array_to_sparsevec_wrapper' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION array_to_sparsevec(numeric[], integer, boolean) RETURNS sparsevec
    AS 'MODULE_PATHNAME', 'array_to_sparsevec_wrapper' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE CAST (integer[] AS sparsevec)
    WITH FUNCTION array_to_sparsevec(integer[], integer, boolean) AS ASSIGNMENT;
CREATE CAST (real[] AS sparsevec)
    WITH FUNCTION array_to_sparsevec(real[], integer, boolean) AS ASSIGNMENT;
CREATE CAST (double precision[] AS sparsevec)
    WITH FUNCTION array_to_sparsevec(double precision[], integer, boolean) AS ASSIGNMENT;
CREATE CAST (numeric[] AS sparsevec)
    WITH FUNCTION array_to_sparsevec(numeric[], integer, boolean) AS ASSIGNMENT;
-- operators
CREATE OPERATOR <-> (
    LEFTARG = sparsevec, RIGHTARG = sparsevec, PROCEDURE = l2_distance,
    COMMUTATOR = '<->'
);

CREATE OPERATOR <#> (
    LEFTARG = sparsevec, RIGHTARG = sparsevec, PROCEDURE = sparsevec_negative_inner_product,
    COMMUTATOR = '<#>'
);

CREATE OPERATOR <=> (
    LEFTARG = sparsevec, RIGHTARG = sparsevec, PROCEDURE = cosine_distance,
    COMMUTATOR = '<=>'
);

CREATE OPERATOR <+> (
    LEFTARG = sparsevec, RIGHTARG = sparsevec, PROCEDURE = l1_distance,
    COMMUTATOR = '<+>'
);
CREATE OPERATOR < (
    LEFTARG = sparsevec, RIGHTARG = sparsevec, PROCEDURE = sparsevec_lt,
    COMMUTATOR = > , NEGATOR = >= ,
    RESTRICT = scalarltsel, JOIN = scalarltjoinsel
);

CREATE OPERATOR <= (
    LEFTARG = sparsevec, RIGHTARG = sparsevec, PROCEDURE = sparsevec_le,
    COMMUTATOR = >= , NEGATOR = > ,
    RESTRICT = scalarlesel, JOIN = scalarlejoinsel
);

CREATE OPERATOR = (
    LEFTARG = sparsevec, RIGHTARG = sparsevec, PROCEDURE = sparsevec_eq,
    COMMUTATOR = = , NEGATOR = <> ,
    RESTRICT = eqsel, JOIN = eqjoinsel
);

CREATE OPERATOR <> (
    LEFTARG = sparsevec, RIGHTARG = sparsevec, PROCEDURE = sparsevec_ne,
    COMMUTATOR = <> , NEGATOR = = ,
    RESTRICT = eqsel, JOIN = eqjoinsel
);

CREATE OPERATOR >= (
    LEFTARG = sparsevec, RIGHTARG = sparsevec, PROCEDURE = sparsevec_ge,
    COMMUTATOR = <= , NEGATOR = < ,
    RESTRICT = scalargesel, JOIN = scalargejoinsel
);

CREATE OPERATOR > (
    LEFTARG = sparsevec, RIGHTARG = sparsevec, PROCEDURE = sparsevec_gt,
    COMMUTATOR = < , NEGATOR = <= ,
    RESTRICT = scalargtsel, JOIN = scalargtjoinsel
);

CREATE OPERATOR CLASS sparsevec_ops
    DEFAULT FOR TYPE sparsevec USING btree AS
    OPERATOR 1 < ,
    OPERATOR 2 <= ,
    OPERATOR 3 = ,
    OPERATOR 4 >= ,
    OPERATOR 5 > ,
    FUNCTION 1 sparsevec_cmp(sparsevec, sparsevec);

-- ============================================================================================
-- bit (PostgreSQL's type): Hamming and Jaccard distance operators
-- ============================================================================================

CREATE OPERATOR <~> (
    LEFTARG = bit, RIGHTARG = bit, PROCEDURE = hamming_distance,
    COMMUTATOR = '<~>'
);

CREATE OPERATOR <%> (
    LEFTARG = bit, RIGHTARG = bit, PROCEDURE = jaccard_distance,
    COMMUTATOR = '<%>'
);

-- ============================================================================================
-- ruhnsw operator classes. FUNCTION 1 is the distance the index orders by; the access method
-- recognises it by its C symbol.
-- ============================================================================================

CREATE OPERATOR CLASS ruvector_l2_ops
    FOR TYPE ruvector USING ruhnsw AS
    OPERATOR 1 <-> (ruvector, ruvector) FOR ORDER BY float_ops,
    FUNCTION 1 ruvector_l2_squared_distance(ruvector, ruvector);

CREATE OPERATOR CLASS ruvector_ip_ops
    FOR TYPE ruvector USING ruhnsw AS
    OPERATOR 1 <#> (ruvector, ruvector) FOR ORDER BY float_ops,
    FUNCTION 1 ruvector_negative_inner_product(ruvector, ruvector);

CREATE OPERATOR CLASS ruvector_cosine_ops
    FOR TYPE ruvector USING ruhnsw AS
    OPERATOR 1 <=> (ruvector, ruvector) FOR ORDER BY float_ops,
    FUNCTION 1 cosine_distance(ruvector, ruvector);

CREATE OPERATOR CLASS ruvector_l1_ops
    FOR TYPE ruvector USING ruhnsw AS
    OPERATOR 1 <+> (ruvector, ruvector) FOR ORDER BY float_ops,
    FUNCTION 1 l1_distance(ruvector, ruvector);

CREATE OPERATOR CLASS halfvec_l2_ops
    FOR TYPE halfvec USING ruhnsw AS
    OPERATOR 1 <-> (halfvec, halfvec) FOR ORDER BY float_ops,
    FUNCTION 1 halfvec_l2_squared_distance(halfvec, halfvec);

CREATE OPERATOR CLASS halfvec_ip_ops
    FOR TYPE halfvec USING ruhnsw AS
    OPERATOR 1 <#> (halfvec, halfvec) FOR ORDER BY float_ops,
    FUNCTION 1 halfvec_negative_inner_product(halfvec, halfvec);

CREATE OPERATOR CLASS halfvec_cosine_ops
    FOR TYPE halfvec USING ruhnsw AS
    OPERATOR 1 <=> (halfvec, halfvec) FOR ORDER BY float_ops,
    FUNCTION 1 cosine_distance(halfvec, halfvec);

CREATE OPERATOR CLASS halfvec_l1_ops
    FOR TYPE halfvec USING ruhnsw AS
    OPERATOR 1 <+> (halfvec, halfvec) FOR ORDER BY float_ops,
    FUNCTION 1 l1_distance(halfvec, halfvec);

CREATE OPERATOR CLASS sparsevec_l2_ops
    FOR TYPE sparsevec USING ruhnsw AS
    OPERATOR 1 <-> (sparsevec, sparsevec) FOR ORDER BY float_ops,
    FUNCTION 1 sparsevec_l2_squared_distance(sparsevec, sparsevec);

CREATE OPERATOR CLASS sparsevec_ip_ops
    FOR TYPE sparsevec USING ruhnsw AS
    OPERATOR 1 <#> (sparsevec, sparsevec) FOR ORDER BY float_ops,
    FUNCTION 1 sparsevec_negative_inner_product(sparsevec, sparsevec);

CREATE OPERATOR CLASS sparsevec_cosine_ops
    FOR TYPE sparsevec USING ruhnsw AS
    OPERATOR 1 <=> (sparsevec, sparsevec) FOR ORDER BY float_ops,
    FUNCTION 1 cosine_distance(sparsevec, sparsevec);

CREATE OPERATOR CLASS sparsevec_l1_ops
    FOR TYPE sparsevec USING ruhnsw AS
    OPERATOR 1 <+> (sparsevec, sparsevec) FOR ORDER BY float_ops,
    FUNCTION 1 l1_distance(sparsevec, sparsevec);

CREATE OPERATOR CLASS bit_hamming_ops
    FOR TYPE bit USING ruhnsw AS
    OPERATOR 1 <~> (bit, bit) FOR ORDER BY float_ops,
    FUNCTION 1 hamming_distance(bit, bit);

CREATE OPERATOR CLASS bit_jaccard_ops
    FOR TYPE bit USING ruhnsw AS
    OPERATOR 1 <%> (bit, bit) FOR ORDER BY float_ops,
    FUNCTION 1 jaccard_distance(bit, bit);

-- ============================================================================================
-- Key columns of ruhnsw indexes: `USING ruhnsw (embedding ruvector_cosine_ops, tenant_id,
-- category)`. Their operator classes list btree's comparison operators under btree's strategy
-- numbers (1 <, 2 <=, 3 =, 4 >=, 5 >), so that the planner hands WHERE clauses on these columns
-- to the index as scan keys, checked inside the index during the search (src/am/keys.rs).
-- Integers form one family with every cross-type operator, as btree's integer_ops does, so
-- `int8_column = 5` (an int4 constant) is a scan key too. Text and uuid have equality only.
-- ============================================================================================

CREATE OPERATOR FAMILY integer_ops USING ruhnsw;

CREATE OPERATOR CLASS int2_ops
    DEFAULT FOR TYPE int2 USING ruhnsw FAMILY integer_ops AS
    OPERATOR 1 pg_catalog.<,
    OPERATOR 2 pg_catalog.<=,
    OPERATOR 3 pg_catalog.=,
    OPERATOR 4 pg_catalog.>=,
    OPERATOR 5 pg_catalog.>;

CREATE OPERATOR CLASS int4_ops
    DEFAULT FOR TYPE int4 USING ruhnsw FAMILY integer_ops AS
    OPERATOR 1 pg_catalog.<,
    OPERATOR 2 pg_catalog.<=,
    OPERATOR 3 pg_catalog.=,
    OPERATOR 4 pg_catalog.>=,
    OPERATOR 5 pg_catalog.>;

CREATE OPERATOR CLASS int8_ops
    DEFAULT FOR TYPE int8 USING ruhnsw FAMILY integer_ops AS
    OPERATOR 1 pg_catalog.<,
    OPERATOR 2 pg_catalog.<=,
    OPERATOR 3 pg_catalog.=,
    OPERATOR 4 pg_catalog.>=,
    OPERATOR 5 pg_catalog.>;

ALTER OPERATOR FAMILY integer_ops USING ruhnsw ADD
    OPERATOR 1 pg_catalog.< (int2, int4),
    OPERATOR 2 pg_catalog.<= (int2, int4),
    OPERATOR 3 pg_catalog.= (int2, int4),
    OPERATOR 4 pg_catalog.>= (int2, int4),
    OPERATOR 5 pg_catalog.> (int2, int4),
    OPERATOR 1 pg_catalog.< (int2, int8),
    OPERATOR 2 pg_catalog.<= (int2, int8),
    OPERATOR 3 pg_catalog.= (int2, int8),
    OPERATOR 4 pg_catalog.>= (int2, int8),
    OPERATOR 5 pg_catalog.> (int2, int8),
    OPERATOR 1 pg_catalog.< (int4, int2),
    OPERATOR 2 pg_catalog.<= (int4, int2),
    OPERATOR 3 pg_catalog.= (int4, int2),
    OPERATOR 4 pg_catalog.>= (int4, int2),
    OPERATOR 5 pg_catalog.> (int4, int2),
    OPERATOR 1 pg_catalog.< (int4, int8),
    OPERATOR 2 pg_catalog.<= (int4, int8),
    OPERATOR 3 pg_catalog.= (int4, int8),
    OPERATOR 4 pg_catalog.>= (int4, int8),
    OPERATOR 5 pg_catalog.> (int4, int8),
    OPERATOR 1 pg_catalog.< (int8, int2),
    OPERATOR 2 pg_catalog.<= (int8, int2),
    OPERATOR 3 pg_catalog.= (int8, int2),
    OPERATOR 4 pg_catalog.>= (int8, int2),
    OPERATOR 5 pg_catalog.> (int8, int2),
    OPERATOR 1 pg_catalog.< (int8, int4),
    OPERATOR 2 pg_catalog.<= (int8, int4),
    OPERATOR 3 pg_catalog.= (int8, int4),
    OPERATOR 4 pg_catalog.>= (int8, int4),
    OPERATOR 5 pg_catalog.> (int8, int4);

CREATE OPERATOR CLASS text_ops
    DEFAULT FOR TYPE text USING ruhnsw AS
    OPERATOR 3 pg_catalog.=;

CREATE OPERATOR CLASS uuid_ops
    DEFAULT FOR TYPE uuid USING ruhnsw AS
    OPERATOR 3 pg_catalog.=;

-- The same operator classes for key columns of ruivfflat indexes (checked while the lists are
-- read).
CREATE OPERATOR FAMILY integer_ops USING ruivfflat;

CREATE OPERATOR CLASS int2_ops
    DEFAULT FOR TYPE int2 USING ruivfflat FAMILY integer_ops AS
    OPERATOR 1 pg_catalog.<,
    OPERATOR 2 pg_catalog.<=,
    OPERATOR 3 pg_catalog.=,
    OPERATOR 4 pg_catalog.>=,
    OPERATOR 5 pg_catalog.>;

CREATE OPERATOR CLASS int4_ops
    DEFAULT FOR TYPE int4 USING ruivfflat FAMILY integer_ops AS
    OPERATOR 1 pg_catalog.<,
    OPERATOR 2 pg_catalog.<=,
    OPERATOR 3 pg_catalog.=,
    OPERATOR 4 pg_catalog.>=,
    OPERATOR 5 pg_catalog.>;

CREATE OPERATOR CLASS int8_ops
    DEFAULT FOR TYPE int8 USING ruivfflat FAMILY integer_ops AS
    OPERATOR 1 pg_catalog.<,
    OPERATOR 2 pg_catalog.<=,
    OPERATOR 3 pg_catalog.=,
    OPERATOR 4 pg_catalog.>=,
    OPERATOR 5 pg_catalog.>;

ALTER OPERATOR FAMILY integer_ops USING ruivfflat ADD
    OPERATOR 1 pg_catalog.< (int2, int4),
    OPERATOR 2 pg_catalog.<= (int2, int4),
    OPERATOR 3 pg_catalog.= (int2, int4),
    OPERATOR 4 pg_catalog.>= (int2, int4),
    OPERATOR 5 pg_catalog.> (int2, int4),
    OPERATOR 1 pg_catalog.< (int2, int8),
    OPERATOR 2 pg_catalog.<= (int2, int8),
    OPERATOR 3 pg_catalog.= (int2, int8),
    OPERATOR 4 pg_catalog.>= (int2, int8),
    OPERATOR 5 pg_catalog.> (int2, int8),
    OPERATOR 1 pg_catalog.< (int4, int2),
    OPERATOR 2 pg_catalog.<= (int4, int2),
    OPERATOR 3 pg_catalog.= (int4, int2),
    OPERATOR 4 pg_catalog.>= (int4, int2),
    OPERATOR 5 pg_catalog.> (int4, int2),
    OPERATOR 1 pg_catalog.< (int4, int8),
    OPERATOR 2 pg_catalog.<= (int4, int8),
    OPERATOR 3 pg_catalog.= (int4, int8),
    OPERATOR 4 pg_catalog.>= (int4, int8),
    OPERATOR 5 pg_catalog.> (int4, int8),
    OPERATOR 1 pg_catalog.< (int8, int2),
    OPERATOR 2 pg_catalog.<= (int8, int2),
    OPERATOR 3 pg_catalog.= (int8, int2),
    OPERATOR 4 pg_catalog.>= (int8, int2),
    OPERATOR 5 pg_catalog.> (int8, int2),
    OPERATOR 1 pg_catalog.< (int8, int4),
    OPERATOR 2 pg_catalog.<= (int8, int4),
    OPERATOR 3 pg_catalog.= (int8, int4),
    OPERATOR 4 pg_catalog.>= (int8, int4),
    OPERATOR 5 pg_catalog.> (int8, int4);

CREATE OPERATOR CLASS text_ops
    DEFAULT FOR TYPE text USING ruivfflat AS
    OPERATOR 3 pg_catalog.=;

CREATE OPERATOR CLASS uuid_ops
    DEFAULT FOR TYPE uuid USING ruivfflat AS
    OPERATOR 3 pg_catalog.=;


-- ============================================================================================
-- ruivfflat operator classes (pgvector's set: no L1, sparse or Jaccard for IVF). FUNCTION 1 is
-- the distance lists and rows are ranked by.
-- ============================================================================================

CREATE OPERATOR CLASS ruvector_l2_ops
    DEFAULT FOR TYPE ruvector USING ruivfflat AS
    OPERATOR 1 <-> (ruvector, ruvector) FOR ORDER BY float_ops,
    FUNCTION 1 ruvector_l2_squared_distance(ruvector, ruvector);

CREATE OPERATOR CLASS ruvector_ip_ops
    FOR TYPE ruvector USING ruivfflat AS
    OPERATOR 1 <#> (ruvector, ruvector) FOR ORDER BY float_ops,
    FUNCTION 1 ruvector_negative_inner_product(ruvector, ruvector);

CREATE OPERATOR CLASS ruvector_cosine_ops
    FOR TYPE ruvector USING ruivfflat AS
    OPERATOR 1 <=> (ruvector, ruvector) FOR ORDER BY float_ops,
    FUNCTION 1 cosine_distance(ruvector, ruvector);

CREATE OPERATOR CLASS halfvec_l2_ops
    FOR TYPE halfvec USING ruivfflat AS
    OPERATOR 1 <-> (halfvec, halfvec) FOR ORDER BY float_ops,
    FUNCTION 1 halfvec_l2_squared_distance(halfvec, halfvec);

CREATE OPERATOR CLASS halfvec_ip_ops
    FOR TYPE halfvec USING ruivfflat AS
    OPERATOR 1 <#> (halfvec, halfvec) FOR ORDER BY float_ops,
    FUNCTION 1 halfvec_negative_inner_product(halfvec, halfvec);

CREATE OPERATOR CLASS halfvec_cosine_ops
    FOR TYPE halfvec USING ruivfflat AS
    OPERATOR 1 <=> (halfvec, halfvec) FOR ORDER BY float_ops,
    FUNCTION 1 cosine_distance(halfvec, halfvec);

CREATE OPERATOR CLASS bit_hamming_ops
    FOR TYPE bit USING ruivfflat AS
    OPERATOR 1 <~> (bit, bit) FOR ORDER BY float_ops,
    FUNCTION 1 hamming_distance(bit, bit);

-- ============================================================================================
-- pgvector interoperability (src/migrate/casts.rs): casts between pgvector's types and
-- ruvector's exist whenever both extensions are installed, in either order, and go away before
-- pgvector does.
-- ============================================================================================

CREATE EVENT TRIGGER ruvector_pgvector_created ON ddl_command_end
    WHEN TAG IN ('CREATE EXTENSION')
    EXECUTE FUNCTION ruvector_pgvector_created();

CREATE EVENT TRIGGER ruvector_pgvector_dropping ON ddl_command_start
    WHEN TAG IN ('DROP EXTENSION', 'DROP SCHEMA')
    EXECUTE FUNCTION ruvector_pgvector_dropping();

DO $$
BEGIN
    IF EXISTS (SELECT FROM pg_catalog.pg_extension WHERE extname = 'vector') THEN
        PERFORM ruvector_pgvector_casts();
    END IF;
END
$$;
