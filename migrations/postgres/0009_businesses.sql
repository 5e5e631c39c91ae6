-- Businesses, the citizens who act for them, pairwise subject identifiers
-- and token exchange (postgres). Keep migrations/sqlite/0009_businesses.sql and
-- migrations/postgres/0009_businesses.sql in step.

-- A legal entity identified by its tax code (mã số thuế): 10 digits with a
-- check digit, or 13 as `NNNNNNNNNN-NNN` for a branch. `subject` is its
-- stable random public identifier (the `sub` public clients see when a
-- citizen acts for it). `verified`: created by an admin, not self-declared
-- from the account page.
CREATE TABLE businesses (
    id          TEXT PRIMARY KEY,
    tax_code    TEXT NOT NULL UNIQUE,
    subject     TEXT NOT NULL UNIQUE,
    name        TEXT NOT NULL,
    address     TEXT,
    status      TEXT NOT NULL DEFAULT 'active',
    verified    BOOLEAN NOT NULL DEFAULT FALSE,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);

-- Who may act for a business. `role`: `legal_representative` or
-- `authorised_staff`. `status`: `invited` until the citizen accepts on the
-- account page, then `active`. `expires_at` ends an authorisation without
-- anyone having to remove it.
CREATE TABLE business_members (
    business_id TEXT NOT NULL REFERENCES businesses (id) ON DELETE CASCADE,
    account_id  TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    role        TEXT NOT NULL,
    status      TEXT NOT NULL,
    expires_at  BIGINT,
    invited_by  TEXT,
    created_at  BIGINT NOT NULL,
    accepted_at BIGINT,
    PRIMARY KEY (business_id, account_id)
);
CREATE INDEX business_members_account_idx ON business_members (account_id);

-- The business a grant acts for (NULL: the citizen acts for themself).
ALTER TABLE grants ADD COLUMN business_id TEXT;
CREATE INDEX grants_business_idx ON grants (account_id, business_id);
-- Disabling a business revokes its grants by business alone, which the
-- index above (account first) cannot serve.
CREATE INDEX grants_business_only_idx ON grants (business_id);

-- OIDC Core §8: `subject_type` `public` or `pairwise`; `sector_identifier`
-- is the host pairwise subjects are computed over (from
-- `sector_identifier_uri`, or the one host of the redirect URIs).
-- `business_self_allowed`: with the `business` scope the citizen may also
-- choose to act as themself.
ALTER TABLE clients ADD COLUMN subject_type TEXT NOT NULL DEFAULT 'public';
ALTER TABLE clients ADD COLUMN sector_identifier TEXT;
ALTER TABLE clients ADD COLUMN sector_identifier_uri TEXT;
ALTER TABLE clients ADD COLUMN business_self_allowed BOOLEAN NOT NULL DEFAULT FALSE;

-- Secrets the server generates for itself (the pairwise-subject key),
-- sealed under the key-encryption key like the signing keys. Written once,
-- first writer wins, so every node computes the same subjects.
CREATE TABLE server_secrets (
    name        TEXT PRIMARY KEY,
    value_enc   BYTEA NOT NULL,
    kek_id      TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);
