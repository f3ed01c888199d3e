-- The sign-in and signup throttles, and the limits on answers that probe
-- other organizations, count attempts here rather than in each process, so
-- that every lamb process on one database counts the same attempts. One row
-- per limit (scope), key and second: n attempts in that second, counted
-- until expires_at (the second plus the limit's window). Keys are keyed
-- hashes: no email or address is kept. Expired rows are purged on a
-- schedule (expires_at is indexed for it), so a flood of made-up keys
-- costs rows only for as long as they are counted.
CREATE TABLE throttle_hits (
    scope      TEXT    NOT NULL,
    key        TEXT    NOT NULL,
    at         INTEGER NOT NULL,
    n          INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (scope, key, at)
);
CREATE INDEX throttle_hits_expires ON throttle_hits (expires_at);

-- The first-run claim code is now kept sealed (every instance prints the
-- same one); a code of an earlier version, stored as a hash, is replaced at
-- the next start.
DELETE FROM settings WHERE key = 'claim_code_hash';
