-- An assistant may answer with context from its org's knowledge base:
-- knowledge_base holds its retrieval settings as a JSON object
-- ({"collections", "top_k", "threshold", "on_error"}; '' = none), and
-- prompt_template places the retrieved context ('' = the built-in one).
ALTER TABLE assistants ADD COLUMN knowledge_base TEXT NOT NULL DEFAULT '';
ALTER TABLE assistants ADD COLUMN prompt_template TEXT NOT NULL DEFAULT '';

-- A completion of such an assistant records its retrieval: how long it
-- took and how many chunks of context it used (NULL: no retrieval).
ALTER TABLE usage_events ADD COLUMN kb_ms INTEGER;
ALTER TABLE usage_events ADD COLUMN kb_chunks INTEGER;
