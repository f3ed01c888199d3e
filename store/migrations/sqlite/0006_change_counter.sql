-- The gateway keeps what it reads (API keys, assistants, org configs, and
-- the state of their users and orgs) until it changes. Every change to
-- those rows bumps this counter in the same transaction — through the
-- triggers below, so no write path can forget — and each lamb process drops
-- its caches when it sees the counter move: at once after its own writes,
-- within a second for anyone else's. Usage stamps (last_used_at,
-- last_seen_at) are not changes.
CREATE TABLE change_counter (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    n  INTEGER NOT NULL
);
INSERT INTO change_counter (id, n) VALUES (1, 0);

CREATE TRIGGER organizations_changed AFTER UPDATE OF slug, status, config ON organizations
BEGIN UPDATE change_counter SET n = n + 1; END;
CREATE TRIGGER organizations_deleted AFTER DELETE ON organizations
BEGIN UPDATE change_counter SET n = n + 1; END;

CREATE TRIGGER users_changed AFTER UPDATE OF organization_id, email, role, system_admin, enabled ON users
BEGIN UPDATE change_counter SET n = n + 1; END;
CREATE TRIGGER users_deleted AFTER DELETE ON users
BEGIN UPDATE change_counter SET n = n + 1; END;

CREATE TRIGGER assistants_added AFTER INSERT ON assistants
BEGIN UPDATE change_counter SET n = n + 1; END;
CREATE TRIGGER assistants_changed AFTER UPDATE ON assistants
BEGIN UPDATE change_counter SET n = n + 1; END;
CREATE TRIGGER assistants_deleted AFTER DELETE ON assistants
BEGIN UPDATE change_counter SET n = n + 1; END;

CREATE TRIGGER api_keys_added AFTER INSERT ON api_keys
BEGIN UPDATE change_counter SET n = n + 1; END;
CREATE TRIGGER api_keys_changed AFTER UPDATE OF organization_id, user_id, hash, expires_at, revoked_at ON api_keys
BEGIN UPDATE change_counter SET n = n + 1; END;
CREATE TRIGGER api_keys_deleted AFTER DELETE ON api_keys
BEGIN UPDATE change_counter SET n = n + 1; END;
