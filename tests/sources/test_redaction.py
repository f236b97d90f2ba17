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
        # A credential in a query parameter: the value goes, the other parameters stay.
        ("https://m/pr/?token=s3cr3t&sort=name", "https://m/pr/?token=***&sort=name"),
        (
            "https://b.s3.amazonaws.com/k?X-Amz-Credential=AKIA%2F1&X-Amz-Signature=ab12;x=1",
            "https://b.s3.amazonaws.com/k?X-Amz-Credential=***&X-Amz-Signature=***;x=1",
        ),
        ('"http://h/x?api_key=k1&access_token=t2"', '"http://h/x?api_key=***&access_token=***"'),
        ("http://h/x?Key=v#top", "http://h/x?Key=***#top"),
        (
            "https://api/data?cube=acs_yg&drilldowns=Year%2CNation&measures=Population",
            "https://api/data?cube=acs_yg&drilldowns=Year%2CNation&measures=Population",
        ),
        ("http://h/x?monkey=1&keys=2&signed=3", "http://h/x?monkey=1&keys=2&signed=3"),
        # Names run together or in camelCase, as other APIs spell them.
        (
            "http://h/x?sessionToken=t1&accesstoken=t2&apitoken=t3&apiKey=k&Authorization=b",
            "http://h/x?sessionToken=***&accesstoken=***&apitoken=***&apiKey=***&Authorization=***",
        ),
        (
            "http://h/x?X-Amz-Security-Token=t&hockey=1&token=",
            "http://h/x?X-Amz-Security-Token=***&hockey=1&token=",
        ),
        # A name after a `?` inside another parameter's value is still looked at; a value
        # holding `?` and `=` is hidden whole.
        ("http://h/x?a=1?token=2", "http://h/x?a=1?token=***"),
        ("http://h/x?token=ab?x=1&y=2", "http://h/x?token=***&y=2"),
        # A quote ends a value but not a name: the name after it still has its value hidden.
        ("http://h/x?key=V0?<b_auth=V2/", "http://h/x?key=***<b_auth=***"),
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


def test_text_a_source_controls_is_redacted_in_time_linear_in_its_size():
    # A hostile listing's link with a query of `a-a-a-...`: every such run was tried as a URL
    # scheme from each character, in quadratic time (128 KB took 8 s, 1 MB minutes), and the
    # failure of that file is redacted several times on its way out.
    import time

    url = "https://download.bls.gov/pub/time.series/pr/pr.txt?" + "a-" * 500_000
    # This thread's CPU time: wall time also counts the time other processes take the core.
    started = time.thread_time()
    assert hide_userinfo(url) == url
    assert time.thread_time() - started < 2.0


def test_a_traceback_in_a_runs_log_loses_the_mail_password_too():
    # The run's log filter hid the settings' secrets in messages but not in tracebacks.
    import sys

    from quest.config import Settings
    from quest.runner.output import RedactingFilter

    mail = "smtp://mailer:s3cretpw@mail.example.org:587"  # pragma: allowlist secret
    settings = Settings(smtp_url=mail)
    try:
        raise RuntimeError("login refused for password s3cretpw")
    except RuntimeError:
        info = sys.exc_info()
    record = logging.LogRecord("quest", logging.ERROR, __file__, 1, "mail failed", None, info)
    RedactingFilter(settings).filter(record)
    assert "s3cretpw" not in record.exc_text and "password ***" in record.exc_text
