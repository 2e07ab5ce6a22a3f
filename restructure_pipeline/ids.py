"""Ids for new rows: Prisma fills ``@default(cuid())`` in its client, so the pipeline must."""

from __future__ import annotations

import random
import secrets

from cuid2 import Cuid

CUID_LENGTH = 25  # the length of Prisma's cuid() ids

# cuid2 hashes its entropy with SHA3, so the entropy need not come from the OS for each id
# (the reference implementation uses Math.random); one OS-seeded generator halves the cost.
_generator = Cuid(length=CUID_LENGTH, random_generator=lambda: random.Random(secrets.randbits(128)))


def new_cuid() -> str:
    return _generator.generate()
