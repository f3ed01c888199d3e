-- An assistant may answer with context from its org's knowledge base:
-- knowledge_base holds its retrieval settings as a JSON object
-- ({"collections", "top_k", "threshold", "on_error"}; '' = none), and
-- prompt_template places the retrieved context ('' = the built-in one).
ALTER TABLE assistants ADD COLUMN knowledge_base TEXT NOT NULL DEFAULT '';
ALTER TABLE assistants ADD COLUMN prompt_template TEXT NOT NULL DEFAULT '';
