-- The seed's denormalized read model over "Company" LEFT JOIN "Prospect", reading the
-- quoted camelCase columns and exposing snake_case ones.

CREATE MATERIALIZED VIEW company_prospect_view AS
SELECT
    c."id"               AS company_id,
    c."domain"           AS domain,
    c."name"             AS company_name,
    c."industry"         AS industry,
    c."minEmployeeSize"  AS min_employee_size,
    c."maxEmployeeSize"  AS max_employee_size,
    c."revenue"          AS revenue,
    c."address"          AS company_address,
    c."city"             AS company_city,
    c."state"            AS company_state,
    c."country"          AS company_country,
    c."zipCode"          AS company_zip_code,
    c."phone"            AS company_phone,
    c."mobilePhone"      AS company_mobile_phone,
    p."id"               AS prospect_id,
    p."salutation"       AS salutation,
    p."firstName"        AS first_name,
    p."lastName"         AS last_name,
    p."email"            AS email,
    p."jobTitle"         AS job_title,
    p."jobTitleLevel"    AS job_title_level,
    p."department"       AS department,
    p."jobTitleLink"     AS job_title_link,
    p."address"          AS prospect_address,
    p."city"             AS prospect_city,
    p."state"            AS prospect_state,
    p."country"          AS prospect_country,
    p."zipCode"          AS prospect_zip_code,
    p."phone"            AS prospect_phone,
    p."mobilePhone"      AS prospect_mobile_phone,
    p."createdAt"        AS created_at,
    p."updatedAt"        AS updated_at
FROM "Company" c
LEFT JOIN "Prospect" p ON c."id" = p."companyId"
WITH NO DATA;

CREATE INDEX idx_company_prospect_view_company_id ON company_prospect_view (company_id);
CREATE INDEX idx_company_prospect_view_prospect_id ON company_prospect_view (prospect_id);
CREATE INDEX idx_company_prospect_view_email ON company_prospect_view (email);
CREATE INDEX idx_company_prospect_view_domain ON company_prospect_view (domain);
CREATE INDEX idx_company_prospect_view_company_name ON company_prospect_view (company_name);
CREATE INDEX idx_company_prospect_view_industry ON company_prospect_view (industry);
CREATE INDEX idx_company_prospect_view_revenue ON company_prospect_view (revenue);

-- REFRESH ... CONCURRENTLY needs a unique index on plain columns covering every row; a
-- company without prospects has one row with a NULL prospect_id, hence NULLS NOT DISTINCT.
CREATE UNIQUE INDEX company_prospect_view_company_id_prospect_id_key
    ON company_prospect_view (company_id, prospect_id) NULLS NOT DISTINCT;
