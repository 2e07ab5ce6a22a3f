-- CreateSchema
CREATE SCHEMA IF NOT EXISTS "public";

-- CreateTable
CREATE TABLE "Company" (
    "id" TEXT NOT NULL,
    "domain" TEXT NOT NULL,
    "name" TEXT,
    "industry" TEXT,
    "minEmployeeSize" INTEGER,
    "maxEmployeeSize" INTEGER,
    "employeeSizeLink" TEXT,
    "revenue" BIGINT,
    "address" TEXT,
    "city" TEXT,
    "state" TEXT,
    "country" TEXT,
    "zipCode" TEXT,
    "phone" TEXT,
    "mobilePhone" TEXT,
    "externalSource" TEXT NOT NULL,
    "externalId" TEXT NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "Company_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "Prospect" (
    "id" TEXT NOT NULL,
    "salutation" TEXT,
    "firstName" TEXT,
    "lastName" TEXT,
    "email" TEXT,
    "jobTitle" TEXT,
    "jobTitleLevel" TEXT,
    "department" TEXT,
    "jobTitleLink" TEXT,
    "address" TEXT,
    "city" TEXT,
    "state" TEXT,
    "country" TEXT,
    "zipCode" TEXT,
    "phone" TEXT,
    "mobilePhone" TEXT,
    "companyId" TEXT NOT NULL,
    "externalSource" TEXT NOT NULL,
    "externalId" TEXT NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "Prospect_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE UNIQUE INDEX "Company_domain_key" ON "Company"("domain");

-- CreateIndex
CREATE INDEX "Company_domain_idx" ON "Company"("domain");

-- CreateIndex
CREATE INDEX "Company_name_idx" ON "Company"("name");

-- CreateIndex
CREATE INDEX "Company_industry_idx" ON "Company"("industry");

-- CreateIndex
CREATE INDEX "Company_minEmployeeSize_idx" ON "Company"("minEmployeeSize");

-- CreateIndex
CREATE INDEX "Company_maxEmployeeSize_idx" ON "Company"("maxEmployeeSize");

-- CreateIndex
CREATE INDEX "Company_revenue_idx" ON "Company"("revenue");

-- CreateIndex
CREATE INDEX "Company_country_idx" ON "Company"("country");

-- CreateIndex
CREATE INDEX "Company_city_idx" ON "Company"("city");

-- CreateIndex
CREATE INDEX "Company_state_idx" ON "Company"("state");

-- CreateIndex
CREATE UNIQUE INDEX "Company_externalSource_externalId_key" ON "Company"("externalSource", "externalId");

-- CreateIndex
CREATE INDEX "Prospect_email_idx" ON "Prospect"("email");

-- CreateIndex
CREATE INDEX "Prospect_companyId_idx" ON "Prospect"("companyId");

-- CreateIndex
CREATE INDEX "Prospect_jobTitle_idx" ON "Prospect"("jobTitle");

-- CreateIndex
CREATE INDEX "Prospect_jobTitleLevel_idx" ON "Prospect"("jobTitleLevel");

-- CreateIndex
CREATE INDEX "Prospect_department_idx" ON "Prospect"("department");

-- CreateIndex
CREATE INDEX "Prospect_country_idx" ON "Prospect"("country");

-- CreateIndex
CREATE INDEX "Prospect_city_idx" ON "Prospect"("city");

-- CreateIndex
CREATE INDEX "Prospect_state_idx" ON "Prospect"("state");

-- CreateIndex
CREATE UNIQUE INDEX "Prospect_externalSource_externalId_key" ON "Prospect"("externalSource", "externalId");

-- AddForeignKey
ALTER TABLE "Prospect" ADD CONSTRAINT "Prospect_companyId_fkey" FOREIGN KEY ("companyId") REFERENCES "Company"("id") ON DELETE RESTRICT ON UPDATE CASCADE;
