-- Every key that signed a grant's tokens, and the audit trail made
-- append-only in the database (SQLite). Keep in step with
-- migrations/postgres/0005_grant_signing_kids.sql.

-- One row per (grant, key) for every key that ever signed one of the grant's
-- access or ID tokens, so revoking a key revokes every refresh-token family
-- any of whose tokens it signed, not only those it signed last.
-- `grants.signing_kid` (0002) is no longer written; it stays (migrations are
-- forward-only) and its values are copied here.
CREATE TABLE grant_signing_kids (
    grant_id  TEXT NOT NULL REFERENCES grants (id) ON DELETE CASCADE,
    kid       TEXT NOT NULL,
    PRIMARY KEY (grant_id, kid)
);
CREATE INDEX grant_signing_kids_kid_idx ON grant_signing_kids (kid);
INSERT INTO grant_signing_kids (grant_id, kid)
SELECT id, signing_kid FROM grants WHERE signing_kid IS NOT NULL;

-- audit_events is append-only: the store only ever INSERTs. These triggers
-- refuse an UPDATE or DELETE from anyone, stopping casual edits; someone with
-- DDL rights can drop them, which the hash chain (`audit verify`) then detects.
CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
BEGIN
    SELECT RAISE(ABORT, 'audit_events is append-only');
END;
CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
BEGIN
    SELECT RAISE(ABORT, 'audit_events is append-only');
END;
