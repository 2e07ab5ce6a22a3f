-- Backups of the legacy "Customer" table made by the cleanup_legacy job (seed phase 6),
-- one row per backup. The rows themselves are in the archive table "name" of this schema
-- (CREATE TABLE ... AS SELECT * FROM "Customer"); a pg_dump custom-format file of the
-- table may exist as well (dump_path). See restructure_pipeline/store/legacy_backup.py.

CREATE TABLE restructure.legacy_backup (
    name          TEXT PRIMARY KEY,            -- the archive table restructure.<name>
    source_table  TEXT NOT NULL,               -- what was backed up: public."Customer"
    row_count     BIGINT NOT NULL,
    checksum      TEXT NOT NULL,               -- legacy_backup.table_checksum() of the rows
    table_owner   TEXT NOT NULL,               -- owner of "Customer" when it was backed up
    table_grants  JSONB NOT NULL,              -- its privileges: [{"grantee", "privilege", "grantable"}]
    dump_path     TEXT,                        -- optional pg_dump -Fc file of "Customer"
    dump_sha256   TEXT,
    dump_bytes    BIGINT,
    run_id        TEXT,                        -- the Dagster run that made it
    created_at    TIMESTAMP(3) NOT NULL DEFAULT (clock_timestamp() AT TIME ZONE 'UTC'),
    dropped_at    TIMESTAMP(3),                -- when "Customer" was dropped after this backup
    restored_at   TIMESTAMP(3),                -- the last time "Customer" was restored from it
    CHECK (name ~ '^customer_archive_[a-z0-9_]+$')
);
