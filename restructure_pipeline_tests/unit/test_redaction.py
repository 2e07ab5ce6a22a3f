"""Errors raised while connecting keep libpq's message unless it quotes part of the URL's password."""

from __future__ import annotations

import pytest

from restructure_pipeline.resources import redacted_connection_error

AUTH_FAILED = (
    'connection failed: connection to server at "127.0.0.1", port 5432 failed: '
    'FATAL:  password authentication failed for user "pipeline"'
)


@pytest.mark.parametrize(
    ("url", "message", "secrets"),
    [
        ("postgresql://u:100%@h/db", 'invalid percent-encoded token: "100%"\n', ["100%"]),
        (
            "postgresql://u:se cret@h/db",
            'unexpected spaces found in "se cret", use percent-encoded spaces (%20) instead\n',
            ["se cret", "cret"],
        ),
        (
            "postgresql://u:p@ss@127.0.0.1/db",
            "failed to resolve host 'ss@127.0.0.1': [Errno -2] Name or service not known",
            ["p@ss", "ss@"],
        ),
        (
            "postgresql://u:s%40cret%20x@h/db",
            "failed to resolve host 'cret x@h': [Errno -2] Name or service not known",
            ["s@cret x", "cret x", "s%40cret%20x"],
        ),
        (
            "postgresql://u@h/db?password=p%zz",
            'invalid percent-encoded token: "p%zz"\n',
            ["p%zz"],
        ),
    ],
)
def test_a_message_quoting_part_of_the_password_becomes_a_fixed_text(url: str, message: str, secrets: list[str]) -> None:
    redacted = redacted_connection_error(message, url, "OperationalError")

    assert not [secret for secret in secrets if secret in redacted]
    assert redacted.startswith("OperationalError while connecting to PostgreSQL host ")
    assert "database 'db'" in redacted


def test_the_fixed_text_names_host_and_database_but_not_the_userinfo() -> None:
    redacted = redacted_connection_error('"se cret"', "postgresql://pipeline:se cret@db.internal:5433/crm", "ProgrammingError")

    assert "'db.internal:5433'" in redacted and "'crm'" in redacted
    assert "pipeline" not in redacted and "cret" not in redacted


def test_a_key_value_conninfo_is_never_echoed_in_the_fixed_text() -> None:
    conninfo = "host=h dbname=db password='se cret'"

    redacted = redacted_connection_error('unexpected spaces found in "se cret"', conninfo, "ProgrammingError")

    assert "cret" not in redacted and "host=h" not in redacted


def test_a_wrong_password_still_reports_authentication_failure() -> None:
    url = "postgresql://pipeline:Wx7-wrong-secret@127.0.0.1:5432/crm"

    assert redacted_connection_error(AUTH_FAILED, url, "OperationalError") == AUTH_FAILED


def test_a_refused_connection_keeps_its_message() -> None:
    message = 'connection failed: connection to server at "127.0.0.1", port 1 failed: Connection refused'

    assert redacted_connection_error(message, "postgresql://u:secret@127.0.0.1:1/db", "OperationalError") == message


def test_a_value_also_found_inside_the_password_is_withheld() -> None:
    # "h" is the host, but it is also a piece of the password: when unsure, withhold.
    message = "failed to resolve host 'h': [Errno -2] Name or service not known"

    assert "'h':" not in redacted_connection_error(message, "postgresql://u:xh@h/db", "OperationalError")


def test_the_whole_password_anywhere_in_the_message_is_withheld() -> None:
    message = "connection failed: something echoed Zq9-unmistakable without quotes"

    redacted = redacted_connection_error(message, "postgresql://u:Zq9-unmistakable@h/db", "OperationalError")

    assert "Zq9-unmistakable" not in redacted
