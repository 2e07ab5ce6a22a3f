"""Shared test configuration: integration tests run on a real embedded Postgres."""
