-- The pipeline's own tables live in schema "restructure", so that "public" holds exactly
-- what the application's Prisma schema declares (Prisma reports any extra table as drift).

CREATE SCHEMA IF NOT EXISTS restructure;

-- One row per registered CSV drop file; "seq" orders drops, "registered_at" timestamps their rows.
CREATE SEQUENCE restructure.drop_file_seq;

CREATE TABLE restructure.drop_file (
    partition_key    TEXT PRIMARY KEY,
    seq              BIGINT NOT NULL UNIQUE,
    path             TEXT NOT NULL,
    size_bytes       BIGINT NOT NULL,
    sha256           TEXT NOT NULL,
    registered_at    TIMESTAMP(3) NOT NULL DEFAULT (now() AT TIME ZONE 'UTC'),
    last_ingested_at TIMESTAMP(3),
    row_count        INTEGER
);

-- Every ingested source row, cleaned and classified: the lineage and audit trail, and the
-- input of every company merge (a drop recomputes its domains from all rows seen for them).
CREATE TABLE restructure.source_record (
    source               TEXT NOT NULL,      -- 'legacy' (the "Customer" table) or a drop partition key
    source_ref           TEXT NOT NULL,      -- "Customer".id for legacy rows, the line number for drop rows
    source_seq           BIGINT NOT NULL,    -- 0 for legacy rows, drop_file.seq for drop rows
    line                 INTEGER,            -- physical line in the drop file (header is line 1)
    customer_id          TEXT,               -- the legacy "Customer".id (a migrated prospect keeps it)
    "externalSource"     TEXT,
    "externalId"         TEXT,
    "salutation"         TEXT,
    "firstName"          TEXT,
    "lastName"           TEXT,
    "email"              TEXT,
    "phone"              TEXT,
    "mobilePhone"        TEXT,
    "jobTitle"           TEXT,
    "jobTitleLevel"      TEXT,
    "department"         TEXT,
    "jobTitleLink"       TEXT,
    "company"            TEXT,
    "industry"           TEXT,
    "minEmployeeSize"    INTEGER,
    "maxEmployeeSize"    INTEGER,
    "employeeSizeLink"   TEXT,
    "revenue"            BIGINT,
    "address"            TEXT,
    "city"               TEXT,
    "state"              TEXT,
    "country"            TEXT,
    "zipCode"            TEXT,
    "createdAt"          TIMESTAMP(3) NOT NULL,
    "updatedAt"          TIMESTAMP(3) NOT NULL,
    email_normalized     TEXT,
    domain               TEXT,
    domain_kind          TEXT,
    company_domain       TEXT,               -- set when the email's domain is a company domain
    company_name_clean   TEXT,
    record_problem       TEXT,               -- a quarantine reason decided by the record alone
    needs_name_resolution BOOLEAN NOT NULL,  -- personal or missing email: joins a company by cleaned name
    rejected_values      JSONB,              -- raw values that could not be parsed, by field
    content_hash         TEXT NOT NULL,
    is_current           BOOLEAN NOT NULL DEFAULT FALSE, -- the newest row of its (externalSource, externalId)
    ingested_at          TIMESTAMP(3) NOT NULL DEFAULT (now() AT TIME ZONE 'UTC'),
    PRIMARY KEY (source, source_ref)
);

CREATE INDEX source_record_key_idx ON restructure.source_record ("externalSource", "externalId");
CREATE INDEX source_record_company_domain_idx ON restructure.source_record (company_domain);
CREATE INDEX source_record_attention_idx ON restructure.source_record (source, source_ref)
    WHERE is_current AND (record_problem IS NOT NULL OR needs_name_resolution);

-- Rows that did not become prospects, with the reason; re-evaluated on every run.
CREATE TABLE restructure.customer_quarantine (
    source           TEXT NOT NULL,
    source_ref       TEXT NOT NULL,
    line             INTEGER,
    "externalSource" TEXT,
    "externalId"     TEXT,
    reason           TEXT NOT NULL,
    raw              JSONB NOT NULL,
    first_seen_at    TIMESTAMP(3) NOT NULL,
    last_seen_at     TIMESTAMP(3) NOT NULL,
    PRIMARY KEY (source, source_ref)
);

CREATE INDEX customer_quarantine_reason_idx ON restructure.customer_quarantine (reason);

-- Work queues between assets: what the last extract changed and the next steps must recompute.
-- They are emptied only after the step that consumes them commits, so a failed run is redone.
CREATE TABLE restructure.pending_domain (
    domain TEXT PRIMARY KEY
);

CREATE TABLE restructure.pending_key (
    "externalSource" TEXT NOT NULL,
    "externalId"     TEXT NOT NULL,
    PRIMARY KEY ("externalSource", "externalId")
);
