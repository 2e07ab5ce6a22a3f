"""Ids for new rows: Prisma fills ``@default(cuid())`` in its client, so the pipeline must."""

from __future__ import annotations

from cuid2 import Cuid

CUID_LENGTH = 25  # the length of Prisma's cuid() ids

_generator = Cuid(length=CUID_LENGTH)


def new_cuid() -> str:
    return _generator.generate()
