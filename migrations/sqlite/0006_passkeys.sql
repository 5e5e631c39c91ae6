-- Passkeys (WebAuthn credentials) and a minimum authentication level per
-- client (SQLite). Keep in step with migrations/postgres/0006_passkeys.sql.

-- One row per registered passkey. `passkey` is webauthn-rs's serialised
-- credential (public key, counter, flags): public data, no secret. The
-- columns beside it repeat what the account page and audits read, so they
-- need not parse it. `credential_id` is base64url without padding.
CREATE TABLE passkeys (
    id              TEXT PRIMARY KEY,
    account_id      TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    credential_id   TEXT NOT NULL UNIQUE,
    passkey         TEXT NOT NULL,
    name            TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    last_used_at    BIGINT,
    sign_count      BIGINT NOT NULL DEFAULT 0,
    backup_eligible INTEGER NOT NULL DEFAULT 0,
    backup_state    INTEGER NOT NULL DEFAULT 0,
    device          TEXT
);
CREATE INDEX passkeys_account_idx ON passkeys (account_id);

-- The weakest `acr` a client accepts (`LoA1` or `LoA2`): a client handling
-- sensitive procedures can demand a passkey without sending acr_values.
ALTER TABLE clients ADD COLUMN minimum_acr TEXT NOT NULL DEFAULT 'LoA1';
