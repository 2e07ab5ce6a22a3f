-- Company names a run changed (old and new spellings; names of created and retired companies),
-- written by the companies step and emptied by the prospects step after it commits. Only the
-- people whose cleaned company name is among them can join another company by name, so a drop
-- resolves those people again instead of every one with a personal or missing email.
CREATE TABLE restructure.pending_company_name (
    name TEXT PRIMARY KEY
);

-- Rows by cleaned company name: the people who give that name, and the companies that carry it
-- (a company's name is the company value of some of its current rows).
CREATE INDEX source_record_company_name_clean_idx ON restructure.source_record (company_name_clean)
    WHERE is_current AND record_problem IS NULL;
