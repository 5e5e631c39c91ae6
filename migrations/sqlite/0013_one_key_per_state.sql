-- One active and one next signing key per algorithm (DESIGN §5) (sqlite).
-- Keep migrations/sqlite/0013_one_key_per_state.sql and
-- migrations/postgres/0013_one_key_per_state.sql in step.

-- Nodes that started together on an empty database could each create an
-- active and a next key per algorithm. Of such twins keep the active key
-- every node signs with (the last by created_at, kid, as the keyring loads
-- them) and the next key a rotation promotes (the first); the others retire:
-- still published, so what they signed verifies until housekeeping removes
-- them with the other retired keys.
UPDATE signing_keys SET state = 'retired', retired_at = CAST(strftime('%s', 'now') AS INTEGER)
WHERE state = 'active' AND EXISTS (
    SELECT 1 FROM signing_keys later
    WHERE later.alg = signing_keys.alg AND later.state = 'active'
      AND (later.created_at, later.kid) > (signing_keys.created_at, signing_keys.kid)
);
UPDATE signing_keys SET state = 'retired', retired_at = CAST(strftime('%s', 'now') AS INTEGER)
WHERE state = 'next' AND EXISTS (
    SELECT 1 FROM signing_keys earlier
    WHERE earlier.alg = signing_keys.alg AND earlier.state = 'next'
      AND (earlier.created_at, earlier.kid) < (signing_keys.created_at, signing_keys.kid)
);

-- From now on the database refuses a second one: a node that loses the race
-- at first start gets a unique violation and loads the winner's keys.
-- Rotation and revocation change states in an order that never holds two
-- (the old key leaves a state before another enters it).
CREATE UNIQUE INDEX signing_keys_one_active ON signing_keys (alg) WHERE state = 'active';
CREATE UNIQUE INDEX signing_keys_one_next ON signing_keys (alg) WHERE state = 'next';
