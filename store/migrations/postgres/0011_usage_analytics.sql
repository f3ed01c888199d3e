-- Usage analytics. The usage screens show error rates, latency percentiles,
-- the share of estimated usage and the top API keys over any range of days;
-- all of it comes from rollups, never from scanning raw events, so a report
-- costs the same with ten million events as with ten.
-- (As SQLite's 0011.)
--
-- usage_daily gains what those figures need: the requests whose tokens lamb
-- estimated (and their tokens), and a latency histogram of the requests
-- that reached a provider, in fixed buckets (store.LatencyBounds): lat_0
-- counts those answered within 100 ms, lat_1 within 250 ms, ... lat_10
-- within 120 s, lat_11 the slower ones. Rollups written before this
-- migration have zeros there (their days show no latency).
ALTER TABLE usage_daily ADD COLUMN estimated BIGINT NOT NULL DEFAULT 0;
ALTER TABLE usage_daily ADD COLUMN estimated_tokens BIGINT NOT NULL DEFAULT 0;
ALTER TABLE usage_daily ADD COLUMN lat_0 BIGINT NOT NULL DEFAULT 0;
ALTER TABLE usage_daily ADD COLUMN lat_1 BIGINT NOT NULL DEFAULT 0;
ALTER TABLE usage_daily ADD COLUMN lat_2 BIGINT NOT NULL DEFAULT 0;
ALTER TABLE usage_daily ADD COLUMN lat_3 BIGINT NOT NULL DEFAULT 0;
ALTER TABLE usage_daily ADD COLUMN lat_4 BIGINT NOT NULL DEFAULT 0;
ALTER TABLE usage_daily ADD COLUMN lat_5 BIGINT NOT NULL DEFAULT 0;
ALTER TABLE usage_daily ADD COLUMN lat_6 BIGINT NOT NULL DEFAULT 0;
ALTER TABLE usage_daily ADD COLUMN lat_7 BIGINT NOT NULL DEFAULT 0;
ALTER TABLE usage_daily ADD COLUMN lat_8 BIGINT NOT NULL DEFAULT 0;
ALTER TABLE usage_daily ADD COLUMN lat_9 BIGINT NOT NULL DEFAULT 0;
ALTER TABLE usage_daily ADD COLUMN lat_10 BIGINT NOT NULL DEFAULT 0;
ALTER TABLE usage_daily ADD COLUMN lat_11 BIGINT NOT NULL DEFAULT 0;
-- Reports across every organization read a range of days.
CREATE INDEX usage_daily_day ON usage_daily (day);

-- Usage per API key: the same figures per (org, day, key, assistant owner),
-- written with usage_daily by the same batch. The owner is in the key so
-- that a member's report (their own assistants) can list the keys that
-- called them. api_key_id is 0 when no key is known; rows outlive keys.
CREATE TABLE usage_daily_keys (
    organization_id   BIGINT  NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    day               INTEGER NOT NULL, -- YYYYMMDD in UTC
    api_key_id        BIGINT  NOT NULL DEFAULT 0,
    user_id           BIGINT  NOT NULL DEFAULT 0,
    requests          BIGINT  NOT NULL DEFAULT 0,
    errors            BIGINT  NOT NULL DEFAULT 0,
    refused           BIGINT  NOT NULL DEFAULT 0,
    prompt_tokens     BIGINT  NOT NULL DEFAULT 0,
    completion_tokens BIGINT  NOT NULL DEFAULT 0,
    estimated         BIGINT  NOT NULL DEFAULT 0,
    estimated_tokens  BIGINT  NOT NULL DEFAULT 0,
    lat_0             BIGINT  NOT NULL DEFAULT 0,
    lat_1             BIGINT  NOT NULL DEFAULT 0,
    lat_2             BIGINT  NOT NULL DEFAULT 0,
    lat_3             BIGINT  NOT NULL DEFAULT 0,
    lat_4             BIGINT  NOT NULL DEFAULT 0,
    lat_5             BIGINT  NOT NULL DEFAULT 0,
    lat_6             BIGINT  NOT NULL DEFAULT 0,
    lat_7             BIGINT  NOT NULL DEFAULT 0,
    lat_8             BIGINT  NOT NULL DEFAULT 0,
    lat_9             BIGINT  NOT NULL DEFAULT 0,
    lat_10            BIGINT  NOT NULL DEFAULT 0,
    lat_11            BIGINT  NOT NULL DEFAULT 0,
    PRIMARY KEY (organization_id, day, api_key_id, user_id)
);
CREATE INDEX usage_daily_keys_day ON usage_daily_keys (day);
CREATE INDEX usage_daily_keys_user ON usage_daily_keys (user_id, day);

-- Usage per organization and day, the same figures again: totals, days
-- and organizations are read from here (40 orgs make 40 rows a day, where
-- usage_daily holds a row per assistant), so that a report of every
-- organization, or of a large one, reads a few thousand rows.
CREATE TABLE usage_daily_orgs (
    organization_id   BIGINT  NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    day               INTEGER NOT NULL, -- YYYYMMDD in UTC
    requests          BIGINT  NOT NULL DEFAULT 0,
    errors            BIGINT  NOT NULL DEFAULT 0,
    refused           BIGINT  NOT NULL DEFAULT 0,
    prompt_tokens     BIGINT  NOT NULL DEFAULT 0,
    completion_tokens BIGINT  NOT NULL DEFAULT 0,
    estimated         BIGINT  NOT NULL DEFAULT 0,
    estimated_tokens  BIGINT  NOT NULL DEFAULT 0,
    lat_0             BIGINT  NOT NULL DEFAULT 0,
    lat_1             BIGINT  NOT NULL DEFAULT 0,
    lat_2             BIGINT  NOT NULL DEFAULT 0,
    lat_3             BIGINT  NOT NULL DEFAULT 0,
    lat_4             BIGINT  NOT NULL DEFAULT 0,
    lat_5             BIGINT  NOT NULL DEFAULT 0,
    lat_6             BIGINT  NOT NULL DEFAULT 0,
    lat_7             BIGINT  NOT NULL DEFAULT 0,
    lat_8             BIGINT  NOT NULL DEFAULT 0,
    lat_9             BIGINT  NOT NULL DEFAULT 0,
    lat_10            BIGINT  NOT NULL DEFAULT 0,
    lat_11            BIGINT  NOT NULL DEFAULT 0,
    PRIMARY KEY (organization_id, day)
);
CREATE INDEX usage_daily_orgs_day ON usage_daily_orgs (day);
-- The days before this migration, from usage_daily (their new columns are
-- zero there too).
INSERT INTO usage_daily_orgs (organization_id, day, requests, errors, refused, prompt_tokens, completion_tokens)
SELECT organization_id, day, SUM(requests), SUM(errors), SUM(refused), SUM(prompt_tokens), SUM(completion_tokens)
FROM usage_daily GROUP BY organization_id, day;
