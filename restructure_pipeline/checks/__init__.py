"""Asset checks, one module per asset. Each queries the database; none trusts an asset's counters."""
