-- Clients that must push their authorization requests (RFC 9126 §5) (sqlite).
-- Keep migrations/sqlite/0011_require_par.sql and
-- migrations/postgres/0011_require_par.sql in step.

-- `require_pushed_authorization_requests` in the client's metadata: the
-- authorization endpoint refuses this client's requests unless they come
-- by a request_uri from the PAR endpoint. Clients registered before this
-- may send them either way, as before.
ALTER TABLE clients ADD COLUMN require_par INTEGER NOT NULL DEFAULT 0;
