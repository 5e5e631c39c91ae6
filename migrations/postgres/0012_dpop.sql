-- DPoP, RFC 9449 (postgres).
-- Keep migrations/sqlite/0012_dpop.sql and migrations/postgres/0012_dpop.sql
-- in step.

-- `dpop_bound_access_tokens` in the client's metadata (§5.2): the token
-- endpoint refuses this client's requests without a DPoP proof.
ALTER TABLE clients ADD COLUMN dpop_bound BOOLEAN NOT NULL DEFAULT FALSE;

-- The key (RFC 7638 thumbprint) a public client's refresh tokens are bound
-- to (§5): set when the grant's first tokens were issued with a DPoP proof;
-- every refresh of the family must then come with a proof by that key.
-- NULL: not bound, as every grant made before this.
ALTER TABLE grants ADD COLUMN dpop_jkt TEXT;
