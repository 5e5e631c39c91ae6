-- A refresh token rotates in one statement (postgres).
-- Keep migrations/sqlite/0014_refresh_rotation.sql and
-- migrations/postgres/0014_refresh_rotation.sql in step.

-- The token a rotation replaced: the family's chain. The rotation is one
-- statement, a data-modifying WITH that marks the old token used and inserts
-- the new one (store/engine/grants.rs); SQLite, without that, has a trigger.
ALTER TABLE refresh_tokens ADD COLUMN rotated_from TEXT;
