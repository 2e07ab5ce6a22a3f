-- What changed in "Company" and "Prospect", for incremental OpenSearch updates (an outbox
-- written in the same transaction as the change), and how far each index has caught up.

CREATE TABLE restructure.search_outbox (
    seq         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    entity      TEXT NOT NULL CHECK (entity IN ('company', 'prospect')),
    entity_id   TEXT NOT NULL,
    recorded_at TIMESTAMP(3) NOT NULL DEFAULT (now() AT TIME ZONE 'UTC')
);

-- One row per alias: the outbox position its live index reflects.
CREATE TABLE restructure.search_sync (
    alias       TEXT PRIMARY KEY,
    live_index  TEXT NOT NULL,
    synced_seq  BIGINT NOT NULL,
    synced_at   TIMESTAMP(3) NOT NULL
);
