"""Where the project keeps local state, and the environment variables it reads.

Nothing here connects or downloads: it only resolves paths and names.
"""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]

DATABASE_URL_ENV = "DATABASE_URL"
OPENSEARCH_URL_ENV = "OPENSEARCH_URL"
OPENSEARCH_USER_ENV = "OPENSEARCH_USER"
OPENSEARCH_PASSWORD_ENV = "OPENSEARCH_PASSWORD"
OPENSEARCH_VERIFY_CERTS_ENV = "OPENSEARCH_VERIFY_CERTS"
OPENSEARCH_INDEX_PREFIX_ENV = "OPENSEARCH_INDEX_PREFIX"
OPENSEARCH_REPLICAS_ENV = "OPENSEARCH_REPLICAS"
DROP_DIR_ENV = "RESTRUCTURE_DROP_DIR"
STATE_DIR_ENV = "RESTRUCTURE_STATE_DIR"


def state_dir() -> Path:
    """The folder for embedded services' data, downloads and logs (git-ignored ``.state`` by default)."""
    configured = os.environ.get(STATE_DIR_ENV)
    return Path(configured).expanduser().resolve() if configured else PROJECT_ROOT / ".state"


def drop_dir() -> Path:
    """The folder watched for CSV drops (``<state>/drops`` unless configured)."""
    configured = os.environ.get(DROP_DIR_ENV)
    return Path(configured).expanduser().resolve() if configured else state_dir() / "drops"
