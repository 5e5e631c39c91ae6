-- A refresh token rotates in one statement (sqlite).
-- Keep migrations/sqlite/0014_refresh_rotation.sql and
-- migrations/postgres/0014_refresh_rotation.sql in step.

-- The token a rotation replaced: the family's chain, and on SQLite what the
-- trigger below marks used.
ALTER TABLE refresh_tokens ADD COLUMN rotated_from TEXT;

-- The rotation inserts the new token only if the one it names is unused and
-- its grant live (store/engine/grants.rs), and this trigger marks that one
-- used within the same statement: one atomic statement, where a transaction
-- of four (BEGIN, UPDATE, INSERT, COMMIT) cost four hops to the writer's
-- thread. PostgreSQL does the same with a data-modifying WITH instead.
CREATE TRIGGER refresh_tokens_rotate AFTER INSERT ON refresh_tokens
WHEN NEW.rotated_from IS NOT NULL
BEGIN
    UPDATE refresh_tokens SET used_at = NEW.created_at
    WHERE hash = NEW.rotated_from AND used_at IS NULL;
END;
