-- Motcua core schema (SQLite). Keep in step with migrations/postgres/0001_core.sql:
-- same tables, columns and constraints; only the type names differ
-- (INTEGER 0/1 here, BOOLEAN there; BLOB here, BYTEA there).
-- Timestamps are Unix seconds (BIGINT). Lists of strings are JSON text.

CREATE TABLE organisations (
    id          TEXT PRIMARY KEY,
    code        TEXT NOT NULL UNIQUE,
    name        TEXT NOT NULL,
    kind        TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);

CREATE TABLE accounts (
    id          TEXT PRIMARY KEY,
    subject     TEXT NOT NULL UNIQUE,
    kind        TEXT NOT NULL,
    status      TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);

CREATE TABLE citizen_profiles (
    account_id      TEXT PRIMARY KEY REFERENCES accounts (id) ON DELETE CASCADE,
    national_id     TEXT NOT NULL UNIQUE,
    full_name       TEXT NOT NULL,
    -- UNIQUE allows any number of NULLs on both engines.
    email           TEXT UNIQUE,
    email_verified  INTEGER NOT NULL DEFAULT 0,
    phone           TEXT,
    phone_verified  INTEGER NOT NULL DEFAULT 0,
    birthdate       TEXT,
    gender          TEXT,
    address         TEXT,
    updated_at      BIGINT NOT NULL
);

CREATE TABLE password_credentials (
    account_id  TEXT PRIMARY KEY REFERENCES accounts (id) ON DELETE CASCADE,
    hash        TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);

CREATE TABLE clients (
    client_id                  TEXT PRIMARY KEY,
    organisation_id            TEXT NOT NULL REFERENCES organisations (id),
    name                       TEXT NOT NULL,
    client_type                TEXT NOT NULL,
    auth_method                TEXT NOT NULL,
    secret_hash                TEXT,
    redirect_uris              TEXT NOT NULL,
    post_logout_redirect_uris  TEXT NOT NULL,
    grant_types                TEXT NOT NULL,
    scopes                     TEXT NOT NULL,
    signing_alg                TEXT NOT NULL,
    jwks                       TEXT,
    jwks_uri                   TEXT,
    require_pkce               INTEGER NOT NULL DEFAULT 1,
    status                     TEXT NOT NULL,
    created_at                 BIGINT NOT NULL,
    updated_at                 BIGINT NOT NULL
);
CREATE INDEX clients_organisation_idx ON clients (organisation_id);

CREATE TABLE consents (
    account_id  TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    client_id   TEXT NOT NULL REFERENCES clients (client_id) ON DELETE CASCADE,
    scopes      TEXT NOT NULL,
    granted_at  BIGINT NOT NULL,
    PRIMARY KEY (account_id, client_id)
);

CREATE TABLE sso_sessions (
    sid         TEXT PRIMARY KEY,
    account_id  TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    auth_time   BIGINT NOT NULL,
    acr         TEXT NOT NULL,
    amr         TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    revoked_at  BIGINT
);
CREATE INDEX sso_sessions_account_idx ON sso_sessions (account_id);

CREATE TABLE session_clients (
    sid        TEXT NOT NULL REFERENCES sso_sessions (sid) ON DELETE CASCADE,
    client_id  TEXT NOT NULL REFERENCES clients (client_id) ON DELETE CASCADE,
    first_at   BIGINT NOT NULL,
    PRIMARY KEY (sid, client_id)
);

-- `sid` is deliberately not a foreign key: a grant (and its refresh tokens)
-- outlives the browser session it came from, and sessions may be purged.
CREATE TABLE grants (
    id          TEXT PRIMARY KEY,
    account_id  TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    client_id   TEXT NOT NULL REFERENCES clients (client_id) ON DELETE CASCADE,
    scopes      TEXT NOT NULL,
    claims      TEXT,
    sid         TEXT,
    auth_time   BIGINT NOT NULL,
    acr         TEXT NOT NULL,
    amr         TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    revoked_at  BIGINT
);
CREATE INDEX grants_account_idx ON grants (account_id);
CREATE INDEX grants_sid_idx ON grants (sid);

CREATE TABLE refresh_tokens (
    hash        TEXT PRIMARY KEY,
    grant_id    TEXT NOT NULL REFERENCES grants (id) ON DELETE CASCADE,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    used_at     BIGINT
);
CREATE INDEX refresh_tokens_grant_idx ON refresh_tokens (grant_id);

CREATE TABLE revoked_jtis (
    jti         TEXT PRIMARY KEY,
    expires_at  BIGINT NOT NULL
);
CREATE INDEX revoked_jtis_expires_idx ON revoked_jtis (expires_at);

CREATE TABLE signing_keys (
    kid           TEXT PRIMARY KEY,
    alg           TEXT NOT NULL,
    state         TEXT NOT NULL,
    private_enc   BLOB NOT NULL,
    kek_id        TEXT NOT NULL,
    public_jwk    TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    activated_at  BIGINT,
    retired_at    BIGINT
);

CREATE TABLE admin_tokens (
    id               TEXT PRIMARY KEY,
    hash             TEXT NOT NULL UNIQUE,
    role             TEXT NOT NULL,
    organisation_id  TEXT REFERENCES organisations (id) ON DELETE CASCADE,
    label            TEXT NOT NULL,
    created_at       BIGINT NOT NULL,
    expires_at       BIGINT,
    revoked_at       BIGINT
);

CREATE TABLE web_sessions (
    id          TEXT PRIMARY KEY,
    data        BLOB NOT NULL,
    expires_at  BIGINT NOT NULL
);
CREATE INDEX web_sessions_expires_idx ON web_sessions (expires_at);
