"""``restructure-pipeline search`` answers the seed's use cases on known data, through the aliases."""

from __future__ import annotations

import json

import psycopg
import pytest

from restructure_pipeline.cli import main
from restructure_pipeline.resources import OpenSearchResource
from restructure_pipeline_tests.integration.conftest import PipelineRunner
from restructure_pipeline_tests.integration.legacy_rows import customer, load_legacy

PEOPLE = [
    customer("c1", "john.smith@acme.com", "Acme Inc", firstName="John", lastName="Smith", jobTitle="Chief Technology Officer",
             jobTitleLevel="C-Level", department="Engineering", industry="Software", country="US", state="CA",
             city="San Francisco", minEmployeeSize=51, maxEmployeeSize=200, revenue=50_000_000),
    customer("c2", "mary.jones@acme.com", "Acme Inc", firstName="Mary", lastName="Jones", jobTitle="Sales Director",
             jobTitleLevel="Director", department="Sales", industry="Software", country="US", state="CA",
             city="San Francisco", minEmployeeSize=51, maxEmployeeSize=200, revenue=50_000_000),
    customer("c3", "hans.mueller@globex.de", "Globex GmbH", firstName="Hans", lastName="Mueller", jobTitle="Engineer",
             jobTitleLevel="Individual Contributor", department="Engineering", industry="Manufacturing",
             country="DE", state="BY", city="Munich", minEmployeeSize=1001, maxEmployeeSize=5000,
             revenue=900_000_000),
    customer("c4", "sara.lee@initech.co.uk", "Initech Ltd", firstName="Sara", lastName="Lee", jobTitle="Engineering Manager",
             jobTitleLevel="Manager", department="Engineering", industry="Software", country="GB", state="ENG",
             city="London", minEmployeeSize=11, maxEmployeeSize=50, revenue=2_000_000),
]


@pytest.fixture
def searchable(conn: psycopg.Connection, pipeline: PipelineRunner, opensearch: OpenSearchResource,
               monkeypatch: pytest.MonkeyPatch) -> None:
    load_legacy(conn, PEOPLE)
    pipeline.full_refresh()
    monkeypatch.setenv("OPENSEARCH_URL", opensearch.url)
    monkeypatch.setenv("OPENSEARCH_INDEX_PREFIX", opensearch.index_prefix)


def _search(capsys: pytest.CaptureFixture[str], *args: str) -> dict:
    assert main(["search", *args, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def _people(answer: dict) -> list[str]:
    return sorted(f"{hit['first_name']} {hit['last_name']}" for hit in answer["view"]["hits"])


def test_free_text_is_typo_and_prefix_tolerant(searchable: None, capsys: pytest.CaptureFixture[str]) -> None:
    assert _people(_search(capsys, "jhon", "smtih")) == ["John Smith"]
    assert _people(_search(capsys, "mar", "jon")) == ["Mary Jones"]
    assert _people(_search(capsys, "acme")) == ["John Smith", "Mary Jones"]
    assert _people(_search(capsys, "engineer")) == ["Hans Mueller", "Sara Lee"]


def test_filters_narrow_to_the_expected_people(searchable: None, capsys: pytest.CaptureFixture[str]) -> None:
    assert _people(_search(capsys, "--industry", "software", "--country", "US")) == ["John Smith", "Mary Jones"]
    assert _people(_search(capsys, "--department", "Engineering", "--level", "Manager")) == ["Sara Lee"]
    assert _people(_search(capsys, "--min-employees", "1000")) == ["Hans Mueller"]
    assert _people(_search(capsys, "--min-revenue", "10000000", "--max-revenue", "100000000")) == [
        "John Smith", "Mary Jones"
    ]
    assert _people(_search(capsys, "--city", "london")) == ["Sara Lee"]


def test_company_by_domain(searchable: None, capsys: pytest.CaptureFixture[str]) -> None:
    answer = _search(capsys, "--domain", "www.globex.de")
    assert [hit["domain"] for hit in answer["companies"]["hits"]] == ["globex.de"]
    assert _people(answer) == ["Hans Mueller"]


def test_bad_request_is_a_clear_error(searchable: None, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["search", "--min-employees", "500", "--max-employees", "10"]) == 2
    assert "error:" in capsys.readouterr().err


def test_readable_output_shows_person_and_company(searchable: None, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["search", "sara"]) == 0
    output = capsys.readouterr().out
    for expected in ("Sara Lee", "Engineering Manager", "initech.co.uk", "London"):
        assert expected in output
