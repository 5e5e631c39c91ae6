-- The algorithm of a client's access tokens, apart from its ID tokens (postgres).
-- Keep migrations/sqlite/0010_access_token_alg.sql and
-- migrations/postgres/0010_access_token_alg.sql in step.

-- RS256, PS256, ES256 or EdDSA; NULL: the same as signing_alg (the ID
-- token's), which is what every client registered before this did.
ALTER TABLE clients ADD COLUMN access_token_alg TEXT;
