"""Names of the aliases and of the versioned indices behind them.

- An **alias** is the optional prefix (``OPENSEARCH_INDEX_PREFIX``) plus the logical name:
  ``companies``, ``acme_companies``. Readers only ever use aliases.
- A **version** is a concrete index ``<alias>-<UTC time>-<token>``, e.g.
  ``companies-20261126t035501z-ab12cd``: the time to the second as
  ``YYYYMMDDtHHMMSSz`` (fixed width, so name order is time order), and a short token
  (``[a-z0-9]``, 1-16 characters, e.g. the start of the run id) so two builds in the
  same second never collide.
- :func:`versions_of` recognizes versions of one alias by the exact pattern, so the
  versions of ``companies`` never include ``companies_archive-...``,
  ``acme_companies-...`` or ``companies-old``.
- Retention (:func:`indices_to_delete`): the live version, the ``keep_previous`` newest
  versions older than it (the rollback targets), any ``protect``-ed version, and every
  version *newer* than the live one (possibly a build in progress) stay; the rest go.
- Orphans (:func:`orphaned_versions`): what an index step deletes before it starts, holding
  the index-writer lock (so no build is in progress): every version but the live one and
  the ``keep_previous`` newest older ones, i.e. also the versions newer than the live one
  (leftovers of a killed rebuild or incremental update), and every version of an alias
  that points at nothing yet (a first build that was killed).

Index name rules (OpenSearch): lowercase; none of ``\\ / * ? " < > | , # :`` or
whitespace; not starting with ``-``, ``_`` or ``+``; not ``.`` or ``..``; at most 255
bytes. Prefixes also may not start with ``.`` (hidden/system indices).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from restructure_pipeline.search_index.mappings import INDEX_DEFINITIONS

VERSION_TIME_FORMAT = "%Y%m%dt%H%M%Sz"
MAX_TOKEN_LENGTH = 16
MAX_INDEX_NAME_BYTES = 255
_VERSION_SUFFIX_BYTES = len("-20261126t035501z-") + MAX_TOKEN_LENGTH
#: Room left for a prefix once the longest logical name and a version suffix are added.
MAX_PREFIX_BYTES = (
    MAX_INDEX_NAME_BYTES - max(len(definition.logical_name) for definition in INDEX_DEFINITIONS) - _VERSION_SUFFIX_BYTES
)

_FORBIDDEN_CHARACTERS = frozenset('\\/*?"<>|,#:')
_FORBIDDEN_STARTS = ("-", "_", "+")
_TOKEN = re.compile(rf"[a-z0-9]{{1,{MAX_TOKEN_LENGTH}}}")
_VERSION_SUFFIX = rf"-([0-9]{{8}}t[0-9]{{6}}z)-([a-z0-9]{{1,{MAX_TOKEN_LENGTH}}})"


def _name_problems(name: str) -> list[str]:
    problems = []
    if name != name.lower():
        problems.append("must be lowercase")
    bad = sorted({char for char in name if char in _FORBIDDEN_CHARACTERS or char.isspace() or not char.isprintable()})
    if bad:
        problems.append("must not contain " + " ".join(repr(char) for char in bad))
    if name.startswith(_FORBIDDEN_STARTS):
        problems.append("must not start with '-', '_' or '+'")
    return problems


def validate_index_name(name: str, what: str = "index name") -> str:
    """``name`` unchanged if OpenSearch accepts it as an index or alias name; else ValueError."""
    if not isinstance(name, str) or not name:
        raise ValueError(f"{what} must be a non-empty string, got {name!r}")
    problems = _name_problems(name)
    if name in (".", ".."):
        problems.append("must not be '.' or '..'")
    if len(name.encode()) > MAX_INDEX_NAME_BYTES:
        problems.append(f"must be at most {MAX_INDEX_NAME_BYTES} bytes")
    if problems:
        raise ValueError(f"invalid {what} {name!r}: " + "; ".join(problems))
    return name


def validate_prefix(prefix: str) -> str:
    """The prefix unchanged if every alias and version name built on it is valid; else ValueError.

    The empty prefix is valid (aliases are then the bare logical names).
    """
    if not isinstance(prefix, str):
        raise ValueError(f"OPENSEARCH_INDEX_PREFIX must be a string, got {prefix!r}")
    if not prefix:
        return prefix
    problems = _name_problems(prefix)
    if prefix.startswith("."):
        problems.append("must not start with '.' (hidden and system indices)")
    if len(prefix.encode()) > MAX_PREFIX_BYTES:
        problems.append(f"must be at most {MAX_PREFIX_BYTES} bytes so versioned index names fit in 255")
    if problems:
        raise ValueError(
            f"invalid OPENSEARCH_INDEX_PREFIX {prefix!r}: " + "; ".join(problems) + " (e.g. use 'acme_')"
        )
    return prefix


def alias_name(logical_name: str, prefix: str = "") -> str:
    """``prefix + logical_name``: the alias readers search, e.g. ``companies`` or ``acme_companies``."""
    return validate_index_name(validate_prefix(prefix) + logical_name, "alias name")


def new_index_name(alias: str, now: datetime, token: str) -> str:
    """A new version of ``alias``: ``<alias>-<YYYYMMDDtHHMMSSz>-<token>`` (``now`` must be timezone-aware)."""
    validate_index_name(alias, "alias name")
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError(f"now must be timezone-aware (e.g. datetime.now(UTC)), got naive {now!r}")
    token = token.lower()
    if not _TOKEN.fullmatch(token):
        raise ValueError(f"token must be 1-{MAX_TOKEN_LENGTH} letters or digits, got {token!r}")
    name = f"{alias}-{now.astimezone(UTC).strftime(VERSION_TIME_FORMAT)}-{token}"
    return validate_index_name(name)


def next_version_name(alias: str, now: datetime, token: str, existing: Iterable[str]) -> str:
    """:func:`new_index_name`, but sorting after every existing version of ``alias``.

    Name order is what retention and rollback take for age, so a clock that lags the one
    that named the newest version (another host, a clock set back) must not make the new
    version look older: its time is then the newest version's plus one second.
    """
    name = new_index_name(alias, now, token)
    newest = max(versions_of(alias, existing), default=None)
    if newest is not None and name <= newest:
        name = new_index_name(alias, version_time(alias, newest) + timedelta(seconds=1), token)
    return name


def version_time(alias: str, index_name: str) -> datetime | None:
    """When a version of ``alias`` was named (UTC, to the second); None if the name is no such version."""
    match = re.fullmatch(re.escape(alias) + _VERSION_SUFFIX, index_name)
    if match is None:
        return None
    try:
        return datetime.strptime(match.group(1), VERSION_TIME_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        return None


def versions_of(alias: str, index_names: Iterable[str]) -> list[str]:
    """The names that are versions of exactly this alias, oldest first (duplicates removed)."""
    return sorted({name for name in index_names if version_time(alias, name) is not None})


def indices_to_delete(
    alias: str, index_names: Iterable[str], live: str, keep_previous: int = 1, *, protect: Iterable[str] = ()
) -> list[str]:
    """Versions of ``alias`` that can be deleted now, oldest first.

    Kept: ``live``; the ``protect``-ed names (pass the index the alias pointed at before
    the swap, so a leftover of a failed build never takes the rollback target's place);
    then the newest older versions until ``keep_previous`` older ones are kept; and every
    version newer than ``live``. Names that are not versions of ``alias`` are never returned.
    """
    if isinstance(keep_previous, bool) or not isinstance(keep_previous, int) or keep_previous < 0:
        raise ValueError(f"keep_previous must be an integer >= 0, got {keep_previous!r}")
    versions = versions_of(alias, index_names)
    if live not in versions:
        raise ValueError(f"live index {live!r} is not among the versions of alias {alias!r}: {versions}")
    older = versions[: versions.index(live)]
    kept = set(protect) & set(older)
    for name in reversed(older):
        if len(kept) >= keep_previous:
            break
        kept.add(name)
    return [name for name in older if name not in kept]


def orphaned_versions(alias: str, index_names: Iterable[str], live: str | None, keep_previous: int = 1) -> list[str]:
    """Versions of ``alias`` that neither serve readers nor are kept for rollback, oldest first.

    Only for a caller holding the index-writer lock: a version newer than ``live`` is then a
    killed build's leftover, never a build in progress. With no ``live`` index (the alias
    points at nothing), every version is one.
    """
    versions = versions_of(alias, index_names)
    if live is None:
        return versions
    newer = [name for name in versions if name > live]
    return sorted(indices_to_delete(alias, versions, live, keep_previous) + newer)
