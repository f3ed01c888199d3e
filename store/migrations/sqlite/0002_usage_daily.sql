-- Daily usage rollups: dashboards and usage reports read these instead of
-- scanning raw events, so they stay fast with millions of events. The usage
-- writer updates them in the same transaction as it inserts the events.
-- assistant_id and user_id are 0 when unknown (kept after deletions).
CREATE TABLE usage_daily (
    organization_id   INTEGER NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    day               INTEGER NOT NULL, -- YYYYMMDD in UTC
    assistant_id      INTEGER NOT NULL DEFAULT 0,
    user_id           INTEGER NOT NULL DEFAULT 0,
    requests          INTEGER NOT NULL DEFAULT 0,
    errors            INTEGER NOT NULL DEFAULT 0,
    prompt_tokens     INTEGER NOT NULL DEFAULT 0,
    completion_tokens INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (organization_id, day, assistant_id, user_id)
);
CREATE INDEX usage_daily_user ON usage_daily (user_id, day);
