-- The company step marks the queued domains it merged (and the "everything" mark); an extract
-- that queues a domain again unmarks it. The prospect step clears the queues only when every
-- queued domain is merged: a domain queued by an extract that committed after the company step
-- (another run's, or an extract materialized without companies) would otherwise be cleared
-- without its company ever being recomputed.
ALTER TABLE restructure.pending_domain ADD COLUMN merged BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE restructure.pending_everything ADD COLUMN merged BOOLEAN NOT NULL DEFAULT FALSE;
