-- Limits shared by every lamb process on this database (see SQLite's 0008).
CREATE TABLE budget_ledgers (
    organization_id BIGINT  NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    user_id         BIGINT  NOT NULL, -- 0: the whole organization
    month           INTEGER NOT NULL, -- YYYYMM in UTC
    spent           BIGINT  NOT NULL,
    PRIMARY KEY (organization_id, user_id, month)
);
CREATE TABLE budget_leases (
    organization_id BIGINT  NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    user_id         BIGINT  NOT NULL,
    month           INTEGER NOT NULL,
    instance        TEXT    NOT NULL,
    tokens          BIGINT  NOT NULL,
    expires_at      BIGINT  NOT NULL,
    PRIMARY KEY (organization_id, user_id, month, instance)
);
CREATE INDEX budget_leases_instance ON budget_leases (instance);
CREATE TABLE rpm_counts (
    organization_id BIGINT  NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    second          BIGINT  NOT NULL,
    n               BIGINT  NOT NULL,
    PRIMARY KEY (organization_id, second)
);
