-- Hamming and Jaccard distances on PostgreSQL's bit type.

SELECT B'111' <~> B'111', B'111' <~> B'110', B'111' <~> B'000';
SELECT hamming_distance(B'1010101011', B'0101010100');
SELECT hamming_distance(repeat('10', 100)::bit(200), repeat('01', 100)::bit(200));
SELECT B'1111' <%> B'1111', B'1111' <%> B'1100', B'1111' <%> B'0000', B'0000' <%> B'0000';
SELECT jaccard_distance(B'1100', B'0110');
SELECT B'111' <~> B'11';
SELECT B'111' <%> B'11';
SELECT binary_quantize('[1,-1,1,-1]'::ruvector) <~> binary_quantize('[1,1,-1,-1]'::ruvector);
