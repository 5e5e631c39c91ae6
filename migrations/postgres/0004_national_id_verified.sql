-- Whether the national ID number was checked (an admin or an imported record
-- from the portal) rather than only typed in at sign-up.
ALTER TABLE citizen_profiles ADD COLUMN national_id_verified BOOLEAN NOT NULL DEFAULT FALSE;
