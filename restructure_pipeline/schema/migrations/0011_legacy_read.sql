-- The snapshot the last staging of "Customer" read it in, written in the staging transaction.
-- legacy_rows_all_staged compares "Customer" with the staged rows as of that read: a row
-- committed after it arrived since (it waits for the next full refresh), and a staged row
-- gone from "Customer" was deleted since; only a row the read saw and staging lost is a problem.
CREATE TABLE restructure.legacy_read (
    legacy   BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (legacy),
    snapshot pg_snapshot NOT NULL,
    read_at  TIMESTAMP(3) NOT NULL
);
