-- Ids are never reused (as SQLite's 0004): store methods take the ids of
-- organizations, users, assistants and API keys from these counters, with
-- the same code on both engines.
CREATE TABLE id_sequences (
    name TEXT    PRIMARY KEY,
    last BIGINT  NOT NULL
);
INSERT INTO id_sequences (name, last) SELECT 'organizations', COALESCE(MAX(id), 0) FROM organizations;
INSERT INTO id_sequences (name, last) SELECT 'users', COALESCE(MAX(id), 0) FROM users;
INSERT INTO id_sequences (name, last) SELECT 'assistants', COALESCE(MAX(id), 0) FROM assistants;
INSERT INTO id_sequences (name, last) SELECT 'api_keys', COALESCE(MAX(id), 0) FROM api_keys;
