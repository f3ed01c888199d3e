-- The schema of DESIGN §2. Timestamps are Unix seconds (INTEGER); booleans
-- are 0/1 integers. Every table holding organization data carries
-- organization_id with an index and a foreign key.

CREATE TABLE organizations (
    id              INTEGER PRIMARY KEY,
    slug            TEXT    NOT NULL UNIQUE,
    name            TEXT    NOT NULL,
    is_system       INTEGER NOT NULL DEFAULT 0 CHECK (is_system IN (0, 1)),
    status          TEXT    NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'suspended')),
    config          TEXT    NOT NULL,
    signup_key_enc  TEXT,
    signup_key_hash TEXT    UNIQUE,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
);
-- At most one system organization.
CREATE UNIQUE INDEX organizations_system ON organizations (is_system) WHERE is_system = 1;

CREATE TABLE users (
    id              INTEGER PRIMARY KEY,
    organization_id INTEGER NOT NULL REFERENCES organizations (id),
    email           TEXT    NOT NULL UNIQUE,
    name            TEXT    NOT NULL,
    password_hash   TEXT    NOT NULL DEFAULT '',
    role            TEXT    NOT NULL DEFAULT 'member' CHECK (role IN ('member', 'admin')),
    system_admin    INTEGER NOT NULL DEFAULT 0 CHECK (system_admin IN (0, 1)),
    enabled         INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    last_seen_at    INTEGER
);
CREATE INDEX users_organization ON users (organization_id, email);
CREATE INDEX users_system_admin ON users (system_admin) WHERE system_admin = 1;

CREATE TABLE ssh_keys (
    id              INTEGER PRIMARY KEY,
    organization_id INTEGER NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    user_id         INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    fingerprint     TEXT    NOT NULL UNIQUE,
    public_key      TEXT    NOT NULL,
    comment         TEXT    NOT NULL DEFAULT '',
    created_at      INTEGER NOT NULL,
    last_used_at    INTEGER
);
CREATE INDEX ssh_keys_organization ON ssh_keys (organization_id);
CREATE INDEX ssh_keys_user ON ssh_keys (user_id);

CREATE TABLE assistants (
    id              INTEGER PRIMARY KEY,
    organization_id INTEGER NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    owner_user_id   INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name            TEXT    NOT NULL,
    description     TEXT    NOT NULL DEFAULT '',
    system_prompt   TEXT    NOT NULL DEFAULT '',
    provider        TEXT    NOT NULL CHECK (provider IN ('openai', 'ollama')),
    model           TEXT    NOT NULL,
    temperature     REAL,
    setup           TEXT    NOT NULL DEFAULT '',
    enabled         INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    UNIQUE (owner_user_id, name)
);
CREATE INDEX assistants_organization ON assistants (organization_id);

CREATE TABLE api_keys (
    id              INTEGER PRIMARY KEY,
    organization_id INTEGER NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    user_id         INTEGER REFERENCES users (id) ON DELETE CASCADE,
    name            TEXT    NOT NULL,
    prefix          TEXT    NOT NULL,
    hash            TEXT    NOT NULL UNIQUE,
    created_at      INTEGER NOT NULL,
    last_used_at    INTEGER,
    expires_at      INTEGER,
    revoked_at      INTEGER
);
CREATE INDEX api_keys_organization ON api_keys (organization_id);
CREATE INDEX api_keys_user ON api_keys (user_id);

-- Usage history outlives the assistants, users and keys it mentions.
CREATE TABLE usage_events (
    id                INTEGER PRIMARY KEY,
    organization_id   INTEGER NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    assistant_id      INTEGER REFERENCES assistants (id) ON DELETE SET NULL,
    user_id           INTEGER REFERENCES users (id) ON DELETE SET NULL,
    api_key_id        INTEGER REFERENCES api_keys (id) ON DELETE SET NULL,
    provider          TEXT    NOT NULL DEFAULT '',
    model             TEXT    NOT NULL DEFAULT '',
    prompt_tokens     INTEGER NOT NULL DEFAULT 0,
    completion_tokens INTEGER NOT NULL DEFAULT 0,
    status            TEXT    NOT NULL,
    http_status       INTEGER NOT NULL,
    latency_ms        INTEGER NOT NULL DEFAULT 0,
    stream            INTEGER NOT NULL DEFAULT 0 CHECK (stream IN (0, 1)),
    estimated         INTEGER NOT NULL DEFAULT 0 CHECK (estimated IN (0, 1)),
    created_at        INTEGER NOT NULL
);
CREATE INDEX usage_events_organization ON usage_events (organization_id, created_at);
CREATE INDEX usage_events_assistant ON usage_events (assistant_id, created_at);
CREATE INDEX usage_events_user ON usage_events (user_id, created_at);

CREATE TABLE audit_events (
    id              INTEGER PRIMARY KEY,
    organization_id INTEGER NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    actor_user_id   INTEGER REFERENCES users (id) ON DELETE SET NULL,
    actor           TEXT    NOT NULL,
    action          TEXT    NOT NULL,
    target          TEXT    NOT NULL DEFAULT '',
    details         TEXT    NOT NULL DEFAULT '{}',
    created_at      INTEGER NOT NULL
);
CREATE INDEX audit_events_organization ON audit_events (organization_id, created_at);

-- Platform-wide values such as the first-run claim code (hashed).
CREATE TABLE settings (
    key        TEXT    PRIMARY KEY,
    value      TEXT    NOT NULL,
    updated_at INTEGER NOT NULL
);
