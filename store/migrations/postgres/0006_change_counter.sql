-- The counter that every change to what the gateway caches moves (as
-- SQLite's 0006): API keys, assistants, org configs, and the state of
-- their users and orgs. Triggers bump it in the same transaction, so no
-- write path can forget; usage stamps (last_used_at, last_seen_at) are
-- not changes, and the column lists below leave them out as SQLite's do.
CREATE TABLE change_counter (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    n  BIGINT  NOT NULL
);
INSERT INTO change_counter (id, n) VALUES (1, 0);

CREATE FUNCTION lamb_bump_change_counter() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE change_counter SET n = n + 1;
    RETURN NULL;
END;
$$;

CREATE TRIGGER organizations_changed AFTER UPDATE OF slug, status, config ON organizations
FOR EACH ROW EXECUTE FUNCTION lamb_bump_change_counter();
CREATE TRIGGER organizations_deleted AFTER DELETE ON organizations
FOR EACH ROW EXECUTE FUNCTION lamb_bump_change_counter();

CREATE TRIGGER users_changed AFTER UPDATE OF organization_id, email, role, system_admin, enabled ON users
FOR EACH ROW EXECUTE FUNCTION lamb_bump_change_counter();
CREATE TRIGGER users_deleted AFTER DELETE ON users
FOR EACH ROW EXECUTE FUNCTION lamb_bump_change_counter();

CREATE TRIGGER assistants_added AFTER INSERT ON assistants
FOR EACH ROW EXECUTE FUNCTION lamb_bump_change_counter();
CREATE TRIGGER assistants_changed AFTER UPDATE ON assistants
FOR EACH ROW EXECUTE FUNCTION lamb_bump_change_counter();
CREATE TRIGGER assistants_deleted AFTER DELETE ON assistants
FOR EACH ROW EXECUTE FUNCTION lamb_bump_change_counter();

CREATE TRIGGER api_keys_added AFTER INSERT ON api_keys
FOR EACH ROW EXECUTE FUNCTION lamb_bump_change_counter();
CREATE TRIGGER api_keys_changed AFTER UPDATE OF organization_id, user_id, hash, expires_at, revoked_at ON api_keys
FOR EACH ROW EXECUTE FUNCTION lamb_bump_change_counter();
CREATE TRIGGER api_keys_deleted AFTER DELETE ON api_keys
FOR EACH ROW EXECUTE FUNCTION lamb_bump_change_counter();
