-- Budget alerts: the crossing of an alert threshold (alerts.thresholds, a
-- percent of the org's tokens_per_month or of a user's
-- user_tokens_per_month) in a month. The unique key makes a crossing fire
-- once, whichever lamb process sees it first, and not again after a
-- restart; the next month has keys of its own.
CREATE TABLE budget_alerts (
    id              INTEGER PRIMARY KEY,
    organization_id INTEGER NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    period          INTEGER NOT NULL,           -- YYYYMM in UTC
    user_id         INTEGER NOT NULL DEFAULT 0, -- 0: the organization's budget; else that user's (ids are never reused)
    threshold       INTEGER NOT NULL,           -- percent of the budget
    used            INTEGER NOT NULL,           -- tokens used when the crossing was seen
    budget          INTEGER NOT NULL,           -- the budget then, in tokens
    created_at      INTEGER NOT NULL,
    delivery        TEXT    NOT NULL DEFAULT '', -- the webhook's outcome ('' while none or pending)
    UNIQUE (organization_id, period, user_id, threshold)
);
