"""Shared test configuration: integration tests run on a real embedded Postgres."""

from hypothesis import settings

# No timing thresholds in tests: hypothesis' default 200 ms deadline per example fails
# property tests on a busy machine, and says nothing about correctness.
settings.register_profile("restructure", deadline=None)
settings.load_profile("restructure")
