"""Fresh ids in COPY-sized blocks: every id once, in blocks the copy can pair with its rows."""

import itertools

from restructure_pipeline.ids import CUID_LENGTH, new_cuid
from restructure_pipeline.store.bulk import id_block_count, id_blocks


def test_blocks_hold_every_requested_id_once_and_no_more() -> None:
    counter = itertools.count()
    blocks = list(id_blocks(120_001, lambda: f"id{next(counter)}"))
    assert [block.len() for block in blocks] == [50_000, 50_000, 20_001]
    assert len(blocks) == id_block_count(120_001)
    ids = [value for block in blocks for value in block.to_list()]
    assert ids == [f"id{n}" for n in range(120_001)]
    assert all(block.name == "id" for block in blocks)


def test_no_ids_no_blocks() -> None:
    assert list(id_blocks(0, new_cuid)) == [] and id_block_count(0) == 0
    assert id_block_count(50_000) == 1 and id_block_count(50_001) == 2


def test_cuids_are_unique_and_prisma_length() -> None:
    (block,) = id_blocks(5_000, new_cuid)
    assert block.n_unique() == 5_000
    assert set(block.str.len_chars().to_list()) == {CUID_LENGTH}
