-- Signing-key lifecycle (DESIGN §5). Same in migrations/sqlite and migrations/postgres.

-- The key that signed a grant's latest tokens, so revoking a key revokes the
-- refresh-token families it signed for. NULL for grants issued before this column.
ALTER TABLE grants ADD COLUMN signing_kid TEXT;
CREATE INDEX grants_signing_kid_idx ON grants (signing_kid);

-- The automatic rotation schedule: at most one row (id = 1). Every node's
-- housekeeping compares-and-sets `next_at`; the node whose UPDATE changes the
-- row is the one that rotates, so the schedule runs once per cluster.
CREATE TABLE key_schedule (
    id              INTEGER PRIMARY KEY CHECK (id = 1),
    interval_secs   BIGINT NOT NULL,
    next_at         BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL
);
