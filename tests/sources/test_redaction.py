"""URL userinfo never survives into printed text."""

from __future__ import annotations

import logging

import pytest

from quest.redaction import UserinfoFilter, hide_userinfo


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("http://user:pw@host/pr/", "http://***@host/pr/"),
        ("get https://token@host:8443/x?y=1 failed", "get https://***@host:8443/x?y=1 failed"),
        ("http://u:p@ss:w@rd@host/", "http://***@host/"),
        (
            'endpoint "http://a:b@127.0.0.1:9/bucket?list-type=2"',
            'endpoint "http://***@127.0.0.1:9/bucket?list-type=2"',
        ),
        ("s3://bucket/prefix and you@example.org", "s3://bucket/prefix and you@example.org"),
        ("http://host/path?mail=a@b.org", "http://host/path?mail=a@b.org"),
    ],
)
def test_userinfo_is_hidden_and_nothing_else_changes(text, shown):
    assert hide_userinfo(text) == shown


def test_the_log_filter_redacts_messages_and_tracebacks():
    record = logging.LogRecord("x", logging.ERROR, __file__, 1, "at %s", ("http://u:pw@h/",), None)
    try:
        raise ValueError("http://u:pw@h/ broke")
    except ValueError:
        import sys

        record.exc_info = sys.exc_info()
    UserinfoFilter().filter(record)
    assert record.getMessage() == "at http://***@h/"
    assert "pw" not in record.exc_text and "http://***@h/ broke" in record.exc_text
