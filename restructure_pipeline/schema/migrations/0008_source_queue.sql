-- Sources a drop run staged changes of (new, changed or removed rows), written by the extract and
-- emptied by the prospects step with the other queues. With the identities in pending_key they
-- bound the quarantine rows a drop run evaluates again: the rows of those identities and every
-- row of those sources (a row without a complete identity is queued by no key).
CREATE TABLE restructure.pending_source (
    source TEXT PRIMARY KEY
);

-- Quarantine rows by identity: a drop run finds those of the identities it recomputed.
CREATE INDEX customer_quarantine_identity_idx ON restructure.customer_quarantine ("externalSource", "externalId");
