-- Requests refused before reaching a provider are counted in the rollups
-- (as SQLite's 0005).
ALTER TABLE usage_daily ADD COLUMN refused BIGINT NOT NULL DEFAULT 0;
