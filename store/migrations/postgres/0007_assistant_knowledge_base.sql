-- An assistant's retrieval settings and prompt template (as SQLite's 0007):
-- knowledge_base is a JSON object kept as text ('' = none), read only by
-- lamb, never queried into.
ALTER TABLE assistants ADD COLUMN knowledge_base TEXT NOT NULL DEFAULT '';
ALTER TABLE assistants ADD COLUMN prompt_template TEXT NOT NULL DEFAULT '';

-- A completion of such an assistant records its retrieval: how long it
-- took and how many chunks of context it used (NULL: no retrieval).
ALTER TABLE usage_events ADD COLUMN kb_ms BIGINT;
ALTER TABLE usage_events ADD COLUMN kb_chunks BIGINT;
