-- Single logout (OpenID Connect Back-Channel and Front-Channel Logout 1.0).
-- Keep migrations/sqlite/0007_logout.sql and migrations/postgres/0007_logout.sql in step.

-- Where a client wants logout notices. NULL: it gets none. The
-- `*_session_required` flags say the client needs `sid` (we always send it).
ALTER TABLE clients ADD COLUMN backchannel_logout_uri TEXT;
ALTER TABLE clients ADD COLUMN backchannel_logout_session_required INTEGER NOT NULL DEFAULT 1;
ALTER TABLE clients ADD COLUMN frontchannel_logout_uri TEXT;
ALTER TABLE clients ADD COLUMN frontchannel_logout_session_required INTEGER NOT NULL DEFAULT 1;

-- Back-channel logout notices still to deliver, written in the request that
-- ended the session and sent by a background worker. The logout token is
-- signed at each attempt from `subject`/`sid`/`alg` (fresh iat/exp; `id` is
-- its jti), so no token and no secret is stored. `lease_until` lets one node
-- take a row at a time; `last_error` is a short reason, never a body.
CREATE TABLE logout_outbox (
    id              TEXT PRIMARY KEY,
    client_id       TEXT NOT NULL,
    target_uri      TEXT NOT NULL,
    subject         TEXT NOT NULL,
    sid             TEXT NOT NULL,
    alg             TEXT NOT NULL,
    attempts        BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    lease_until     BIGINT,
    delivered_at    BIGINT,
    given_up_at     BIGINT,
    last_error      TEXT,
    created_at      BIGINT NOT NULL
);
CREATE INDEX logout_outbox_due_idx ON logout_outbox (next_attempt_at)
    WHERE delivered_at IS NULL AND given_up_at IS NULL;
