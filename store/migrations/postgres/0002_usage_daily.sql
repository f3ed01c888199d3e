-- Daily usage rollups (as SQLite's 0002): dashboards and usage reports read
-- these instead of scanning raw events. The usage writer updates them in
-- the same transaction as it inserts the events. assistant_id and user_id
-- are 0 when unknown (kept after deletions).
CREATE TABLE usage_daily (
    organization_id   BIGINT  NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    day               INTEGER NOT NULL, -- YYYYMMDD in UTC
    assistant_id      BIGINT  NOT NULL DEFAULT 0,
    user_id           BIGINT  NOT NULL DEFAULT 0,
    requests          BIGINT  NOT NULL DEFAULT 0,
    errors            BIGINT  NOT NULL DEFAULT 0,
    prompt_tokens     BIGINT  NOT NULL DEFAULT 0,
    completion_tokens BIGINT  NOT NULL DEFAULT 0,
    PRIMARY KEY (organization_id, day, assistant_id, user_id)
);
CREATE INDEX usage_daily_user ON usage_daily (user_id, day);
