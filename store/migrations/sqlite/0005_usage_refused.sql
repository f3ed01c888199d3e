-- Requests refused before reaching a provider (quota, rate limit, unknown
-- model, malformed body) are counted in the rollups; only a bounded sample
-- of them is kept as raw events, so a client hammering a refusal can't
-- fill the database.
ALTER TABLE usage_daily ADD COLUMN refused INTEGER NOT NULL DEFAULT 0;
