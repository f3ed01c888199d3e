-- Retention deletes raw usage events by age across all orgs.
CREATE INDEX usage_events_created ON usage_events (created_at);
