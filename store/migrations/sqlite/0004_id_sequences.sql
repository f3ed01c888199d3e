-- Ids are never reused. SQLite hands out max(id)+1, so deleting the newest
-- assistant, user, key or org would give its id to the next one: a caller
-- configured with lamb_assistant.<id>, or usage rollups keyed by user id,
-- would then reach or count toward someone else. Store methods take ids
-- from these counters instead.
CREATE TABLE id_sequences (
    name TEXT    PRIMARY KEY,
    last INTEGER NOT NULL
);
INSERT INTO id_sequences (name, last) SELECT 'organizations', COALESCE(MAX(id), 0) FROM organizations;
INSERT INTO id_sequences (name, last) SELECT 'users', COALESCE(MAX(id), 0) FROM users;
INSERT INTO id_sequences (name, last) SELECT 'assistants', COALESCE(MAX(id), 0) FROM assistants;
INSERT INTO id_sequences (name, last) SELECT 'api_keys', COALESCE(MAX(id), 0) FROM api_keys;
