-- Limits shared by every lamb process on one database. lamb on SQLite is
-- one process and keeps these in memory; the tables exist on both engines
-- so that the schema is the same and `db copy` has nothing to translate.
--
-- budget_ledgers: the tokens spent of a month budget (an org's, user_id 0,
-- or a user's in it), started from the rollups when the month's first
-- request is admitted and added to by every process as requests settle.
-- budget_leases: tokens of a budget that a process holds to spend without
-- asking the database each request; a lease of a process that stopped
-- renewing it counts for nothing once expires_at (Unix seconds) passes.
-- rpm_counts: requests admitted per org and Unix second, for the
-- requests_per_minute window (the last 60 seconds).
CREATE TABLE budget_ledgers (
    organization_id INTEGER NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    user_id         INTEGER NOT NULL, -- 0: the whole organization
    month           INTEGER NOT NULL, -- YYYYMM in UTC
    spent           INTEGER NOT NULL,
    PRIMARY KEY (organization_id, user_id, month)
);
CREATE TABLE budget_leases (
    organization_id INTEGER NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    user_id         INTEGER NOT NULL,
    month           INTEGER NOT NULL,
    instance        TEXT    NOT NULL,
    tokens          INTEGER NOT NULL,
    expires_at      INTEGER NOT NULL,
    PRIMARY KEY (organization_id, user_id, month, instance)
);
CREATE INDEX budget_leases_instance ON budget_leases (instance);
CREATE TABLE rpm_counts (
    organization_id INTEGER NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    second          INTEGER NOT NULL,
    n               INTEGER NOT NULL,
    PRIMARY KEY (organization_id, second)
);
