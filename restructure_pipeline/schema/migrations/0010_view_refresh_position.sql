-- The search-outbox position the last refresh of company_prospect_view covered, written in the
-- refresh's transaction under the write lock. The view's index applies the outbox only up to it:
-- a change committed after the refresh is not in the view yet, so it stays pending until the
-- next refresh. No row: no refresh recorded since this migration or since a first load of the
-- tables (which writes no outbox rows), so the view's content is not known to the outbox.
CREATE TABLE restructure.view_refresh (
    view_name    TEXT PRIMARY KEY,
    outbox_seq   BIGINT NOT NULL,
    refreshed_at TIMESTAMP(3) NOT NULL
);
