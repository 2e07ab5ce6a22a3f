"""DDL for the tables the pipeline owns, applied as versioned migrations."""

from restructure_pipeline.schema.migrate import Migration, SchemaMigrationError, apply_migrations, load_migrations

__all__ = ["Migration", "SchemaMigrationError", "apply_migrations", "load_migrations"]
