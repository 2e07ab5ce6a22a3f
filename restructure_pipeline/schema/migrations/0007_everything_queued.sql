-- A full refresh queues every identity and domain: one row here says so, instead of a row per
-- identity in pending_key and per domain in pending_domain (at 1M rows, filling those took 8 s of
-- the refresh's staging). The company and prospect steps then read the whole tables; the prospect
-- step deletes this row with the queues. A drop staged meanwhile still queues its own keys.
CREATE TABLE restructure.pending_everything (
    everything BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (everything),
    queued_at  TIMESTAMP(3) NOT NULL DEFAULT (now() AT TIME ZONE 'UTC')
);
