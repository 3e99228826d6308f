-- Observability: version and the kernel tier in use.

SELECT ruvector_version() ~ '^[0-9]+\.[0-9]+\.[0-9]+$' AS version_ok;
SELECT ruvector_simd_info() ~ '^tier=(avx512|avx2|neon|scalar); isa=[^;]+; available=[a-z0-9,]*scalar; selection=[^;]+; cpu=' AS simd_info_ok;
SELECT split_part(split_part(ruvector_simd_info(), ';', 1), '=', 2) = ANY (
    string_to_array(split_part(split_part(ruvector_simd_info(), ';', 3), '=', 2), ',')) AS active_tier_is_available;
