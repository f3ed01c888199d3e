-- The sign-in and signup throttles (as SQLite's 0009): one row per limit
-- (scope), key and second, counted until expires_at, purged on a schedule.
CREATE TABLE throttle_hits (
    scope      TEXT    NOT NULL,
    key        TEXT    NOT NULL,
    at         BIGINT  NOT NULL,
    n          INTEGER NOT NULL,
    expires_at BIGINT  NOT NULL,
    PRIMARY KEY (scope, key, at)
);
CREATE INDEX throttle_hits_expires ON throttle_hits (expires_at);

-- Takes one attempt of a limit for a key, if the key has fewer than p_limit
-- attempts counted at p_now: true when taken. Several processes take at
-- once, so the count and the insert must not be split by another's insert:
-- a transaction advisory lock per scope and key orders them, and each
-- statement of this (volatile) function reads what the lock's previous
-- holder committed. The lock ends with the caller's statement.
CREATE FUNCTION lamb_take_throttle(p_scope TEXT, p_key TEXT, p_now BIGINT, p_expires BIGINT, p_limit INTEGER)
RETURNS BOOLEAN LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext(p_scope), hashtext(p_key));
    INSERT INTO throttle_hits (scope, key, at, n, expires_at)
    SELECT p_scope, p_key, p_now, 1, p_expires
    WHERE (SELECT COALESCE(SUM(t.n), 0) FROM throttle_hits t
           WHERE t.scope = p_scope AND t.key = p_key AND t.expires_at > p_now) < p_limit
    ON CONFLICT (scope, key, at) DO UPDATE SET n = throttle_hits.n + 1;
    RETURN FOUND;
END;
$$;

-- The claim code is now kept sealed (as SQLite's 0009).
DELETE FROM settings WHERE key = 'claim_code_hash';
