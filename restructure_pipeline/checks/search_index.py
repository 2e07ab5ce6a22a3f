"""Checks on the OpenSearch aliases: counts, a sampled field-by-field match, alias and mapping."""

import dagster as dg

from restructure_pipeline.checks.results import check_result
from restructure_pipeline.resources import OpenSearchResource, PostgresResource
from restructure_pipeline.search_index.documents import document_id, source_matches_row
from restructure_pipeline.search_index.indices import live_indices
from restructure_pipeline.search_index.mappings import INDEX_DEFINITIONS, IndexDefinition
from restructure_pipeline.search_index.naming import alias_name
from restructure_pipeline.store import search_sync

SAMPLE_SIZE = 50


def build_search_index_checks(definition: IndexDefinition) -> list[dg.AssetChecksDefinition]:
    asset_key = dg.AssetKey(f"opensearch_{definition.logical_name}")

    def alias_of(opensearch: OpenSearchResource) -> str:
        return alias_name(definition.logical_name, opensearch.index_prefix)

    @dg.asset_check(
        asset=asset_key, name="count_matches_postgres", blocking=True,
        description=f"Documents behind the alias = rows of {definition.logical_name} in Postgres.",
    )
    def count_matches_postgres(postgres: PostgresResource, opensearch: OpenSearchResource) -> dg.AssetCheckResult:
        alias = alias_of(opensearch)
        with postgres.connect() as conn:
            rows = search_sync.count_rows(conn, definition.logical_name)
        documents = opensearch.client().count(index=alias)["count"]
        return check_result(abs(rows - documents), postgres_rows=rows, documents=documents)

    @dg.asset_check(
        asset=asset_key, name="sample_matches_postgres",
        description=f"{SAMPLE_SIZE} random rows equal their documents, field by field.",
    )
    def sample_matches_postgres(postgres: PostgresResource, opensearch: OpenSearchResource) -> dg.AssetCheckResult:
        alias = alias_of(opensearch)
        with postgres.connect() as conn:
            rows = search_sync.sample_rows(conn, definition.logical_name, SAMPLE_SIZE)
        ids = [document_id(definition, row) for row in rows]
        docs = opensearch.client().mget(index=alias, body={"ids": ids})["docs"] if ids else []
        mismatches = []
        for row, doc in zip(rows, docs, strict=True):
            if not doc.get("found"):
                mismatches.append((doc["_id"], "missing from the index"))
            elif differing := source_matches_row(definition, row, doc["_source"]):
                mismatches.append((doc["_id"], ", ".join(differing)))
        return check_result(len(mismatches), mismatches, ["id", "differing fields"], sampled=len(rows))

    @dg.asset_check(
        asset=asset_key, name="alias_on_exactly_one_index", blocking=True,
        description="The alias points at exactly one index, the one the pipeline last built.",
    )
    def alias_on_exactly_one_index(postgres: PostgresResource, opensearch: OpenSearchResource) -> dg.AssetCheckResult:
        alias = alias_of(opensearch)
        live = live_indices(opensearch.client(), alias)
        with postgres.connect() as conn:
            state = search_sync.sync_state(conn, alias)
        expected = state.live_index if state else None
        problems = int(len(live) != 1) + int(live != [expected])
        return check_result(problems, [(", ".join(live) or "none", expected)], ["live", "recorded"], indices=len(live))

    @dg.asset_check(
        asset=asset_key, name="mapping_matches_declared",
        description="The live index's mapping equals the declared strict mapping.",
    )
    def mapping_matches_declared(opensearch: OpenSearchResource) -> dg.AssetCheckResult:
        alias = alias_of(opensearch)
        mappings = opensearch.client().indices.get_mapping(index=alias)
        differing = [
            (index, "mapping differs")
            for index, body in mappings.items()
            if body["mappings"] != definition.mappings
        ]
        return check_result(len(differing), differing, ["index", "problem"], indices=len(mappings))

    return [count_matches_postgres, sample_matches_postgres, alias_on_exactly_one_index, mapping_matches_declared]


SEARCH_INDEX_CHECKS = [check for definition in INDEX_DEFINITIONS for check in build_search_index_checks(definition)]
