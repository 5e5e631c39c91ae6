-- Delegated administration and the audit trail (SQLite). Keep in step with
-- migrations/postgres/0003_admin_audit.sql: same tables, columns, constraints.

-- rotate-secret with a grace period: the previous secret's hash and when it
-- stops working. Both NULL outside a grace period.
ALTER TABLE clients ADD COLUMN previous_secret_hash TEXT;
ALTER TABLE clients ADD COLUMN previous_secret_expires_at BIGINT;

-- The append-only, hash-chained audit trail. `seq` is assigned by the store
-- from `audit_head` inside the appending transaction (no engine sequence), so
-- both engines number events the same way. `detail` is JSON text, hashed as
-- stored.
CREATE TABLE audit_events (
    seq         BIGINT PRIMARY KEY,
    at          BIGINT NOT NULL,
    actor       TEXT NOT NULL,
    action      TEXT NOT NULL,
    target      TEXT,
    source_ip   TEXT,
    request_id  TEXT,
    outcome     TEXT NOT NULL,
    detail      TEXT,
    prev_hash   TEXT NOT NULL,
    hash        TEXT NOT NULL
);
CREATE INDEX audit_events_at_idx ON audit_events (at);
CREATE INDEX audit_events_action_idx ON audit_events (action);
CREATE INDEX audit_events_target_idx ON audit_events (target);

-- The head of the chain: one row, updated by every append. Updating it first
-- serialises appends (a row lock on PostgreSQL; SQLite's BEGIN IMMEDIATE
-- already holds the write lock), so the chain never forks.
CREATE TABLE audit_head (
    id    INTEGER PRIMARY KEY CHECK (id = 1),
    seq   BIGINT NOT NULL,
    hash  TEXT NOT NULL
);
INSERT INTO audit_head (id, seq, hash)
VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');
