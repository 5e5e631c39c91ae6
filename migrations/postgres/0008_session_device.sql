-- The device and last use of each SSO session, for the citizen's
-- /account/sessions page. Keep migrations/sqlite/0008_session_device.sql and
-- migrations/postgres/0008_session_device.sql in step.

-- The browser's User-Agent when the session opened, cut to 200 characters;
-- the page shows a short label made from it. NULL for sessions opened before.
ALTER TABLE sso_sessions ADD COLUMN user_agent TEXT;
-- When the session last signed the citizen in to a service (SSO), at most
-- once a minute; NULL until then.
ALTER TABLE sso_sessions ADD COLUMN last_seen_at BIGINT;
-- The approximate place of the sign-in, from the operator's network list
-- (IDP_SESSION_PLACES); never the address itself. NULL when not configured.
ALTER TABLE sso_sessions ADD COLUMN place TEXT;
