"""The HTTP policy: who we say we are, and how long we wait between retries."""

from __future__ import annotations

import email.utils
import time

import pytest

from quest import __version__
from quest.config import Settings
from quest.sources.http import backoff_wait, make_session, retry_after_seconds
from quest.sources.transfer import _redirect_problem

FAST = Settings(contact="me@example.org", http_backoff=0.5, retry_after_cap=10.0)


def test_user_agent_names_the_version_and_contact():
    session = make_session(FAST)
    assert session.headers["User-Agent"] == f"quest/{__version__} (+me@example.org)"


def test_a_proxy_set_for_the_internet_is_not_used_for_this_machine(monkeypatch):
    # With HTTP_PROXY set and no NO_PROXY, the local mirror's requests (the demo's, the tests')
    # went to the proxy; a proxy that does not answer here shows it.
    import http.server
    import threading

    class Answer(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Answer)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    dead = "http://proxy.invalid:3128"
    for name in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY"):
        monkeypatch.setenv(name, dead)
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    try:
        port = server.server_address[1]
        for host in ("127.0.0.1", "localhost"):
            answer = make_session(FAST).get(f"http://{host}:{port}/x", timeout=10)
            assert answer.content == b"ok"
        # Elsewhere the environment's proxy is still the one used.
        adapter_proxies = make_session(FAST).merge_environment_settings(
            "http://example.org/", {}, None, None, None
        )["proxies"]
        assert adapter_proxies.get("http") == dead
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize(
    ("url", "loopback"),
    [
        ("http://127.0.0.1:8080/pr/", True),
        ("http://127.9.9.9/", True),
        ("http://localhost/", True),
        ("http://LOCALHOST./", True),
        ("http://[::1]:8080/", True),
        ("http://[::ffff:127.0.0.1]:8080/", True),
        ("https://download.bls.gov/pub/", False),
        ("http://10.0.0.1/", False),
        ("http://localhost.example.org/", False),
    ],
)
def test_which_urls_name_this_machine(url, loopback):
    from quest.sources.http import is_loopback

    assert is_loopback(url) is loopback


def test_backoff_doubles_each_attempt():
    assert [backoff_wait(FAST, n) for n in range(4)] == [0.5, 1.0, 2.0, 4.0]


def test_the_backoff_grows_no_longer_than_its_ceiling_whatever_the_attempt():
    # QUEST_HTTP_RETRIES=12 waited over an hour in all (beyond a job's timeout), and attempt
    # 1024 overflowed a float. The cap of Retry-After is another setting: 0 (never wait as a
    # server asks) leaves the backoff as it is.
    from quest.sources.http import BACKOFF_CEILING

    scale = FAST.retry_wait_scale
    assert backoff_wait(FAST, 12) == BACKOFF_CEILING * scale
    assert backoff_wait(FAST, 5_000) == BACKOFF_CEILING * scale
    no_cap = FAST.with_overrides(retry_after_cap=0.0)
    assert [backoff_wait(no_cap, n) for n in range(3)] == [backoff_wait(FAST, n) for n in range(3)]
    # What the ceiling is for: twelve retries at the default backoff wait less, in all, than a
    # sync task's timeout (1,411 s of 1,800; a ceiling of 2,048 s would pass the checks above).
    from quest.orchestration.workflow_config import SYNC_TIMEOUT

    default = Settings(contact="me@example.org")
    assert sum(backoff_wait(default, n) for n in range(12)) < SYNC_TIMEOUT


def test_retry_after_wins_over_backoff_but_is_capped():
    assert backoff_wait(FAST, 0, "3") == 3.0
    assert backoff_wait(FAST, 0, "3600") == 10.0


def test_a_retry_after_shorter_than_the_backoff_does_not_shorten_it():
    # Before, `Retry-After: 0` (or a date gone by) on a 503 sent every try back to back; and
    # a cap of 0, "never wait as a server asks", did not wait at all instead of backing off.
    backoff = backoff_wait(FAST, 3)
    assert backoff == 4.0
    assert backoff_wait(FAST, 3, "0") == backoff
    assert backoff_wait(FAST, 3, "Wed, 21 Oct 2015 07:28:00 GMT") == backoff
    assert backoff_wait(FAST, 3, "2") == backoff
    assert backoff_wait(FAST, 3, "7") == 7.0
    assert backoff_wait(FAST.with_overrides(retry_after_cap=0.0), 3, "7") == backoff


def test_retry_after_as_an_http_date_is_understood():
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # past: at once
    in_a_minute = email.utils.formatdate(time.time() + 60, usegmt=True)
    assert 55 < retry_after_seconds(in_a_minute) <= 60
    assert retry_after_seconds("soon") is None and retry_after_seconds(None) is None
    assert retry_after_seconds("Mon, 10000000000000000000000 Jan 2024 00:00:00 GMT") is None


def test_retry_wait_scale_shortens_every_wait():
    fast = Settings(http_backoff=1.0, retry_wait_scale=0.0)
    assert backoff_wait(fast, 3) == 0.0 and backoff_wait(fast, 0, "5") == 0.0


def test_only_a_name_that_does_not_exist_is_taken_for_a_permanent_failure():
    import socket

    import requests

    from quest.sources.transfer import _connection_problem, _name_not_resolved

    def wrapped(inner: BaseException, outer=requests.ConnectionError) -> BaseException:
        try:
            try:
                raise inner
            except OSError as exc:
                raise outer("pool error") from exc
        except outer as exc:
            return exc

    no_name = socket.gaierror(socket.EAI_NONAME, "Name or service not known")
    again = socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")
    assert _name_not_resolved(wrapped(no_name))
    assert not _name_not_resolved(wrapped(again))  # a resolver's hiccup: retried
    # A proxy that does not resolve is not the source's host.
    assert not _name_not_resolved(wrapped(no_name, requests.exceptions.ProxyError))
    refused = ConnectionRefusedError(111, "Connection refused")
    assert _connection_problem(wrapped(refused)) == "ConnectionRefusedError: Connection refused"
    assert _connection_problem(wrapped(refused, requests.exceptions.ProxyError)) == (
        "the proxy: ConnectionRefusedError: Connection refused"
    )


def test_a_content_length_that_is_not_one_whole_number_is_refused_by_quest_too():
    # urllib3 refuses unmatching repeated lengths before quest sees them; quest's own check
    # stands behind it for any transport that does not.
    import pytest
    import requests

    from quest.errors import SourceError
    from quest.sources.transfer import _content_length

    def answer(value: str) -> requests.Response:
        response = requests.Response()
        response.headers["Content-Length"] = value
        return response

    assert _content_length(answer("12"), "http://x/f", "f") == 12
    assert _content_length(answer("12, 12"), "http://x/f", "f") == 12
    for bad in ("12, 7", "1e3", "-1", "", "\uff11\uff12"):
        with pytest.raises(SourceError, match="f: .*malformed Content-Length"):
            _content_length(answer(bad), "http://x/f", "f")


@pytest.mark.parametrize(
    ("target", "problem"),
    [
        ("https://DOWNLOAD.bls.gov:443/pub/time.series/pr/x", None),
        ("https://download.bls.gov/pub/time.series/pr/sub/x", None),
        ("https://download.bls.gov:8443/pub/time.series/pr/x", "another host"),
        ("https://example.org/pub/time.series/pr/x", "another host"),
        ("http://download.bls.gov/pub/time.series/pr/x", "a http: URL"),
        ("https://download.bls.gov/pub/time.series/x", "outside the folder"),
    ],
)
def test_a_redirect_is_followed_within_the_same_site_and_folder_however_the_host_is_spelt(
    target, problem
):
    # The same site as the listing's links: host in any case, the default port written or not.
    found = _redirect_problem("https://download.bls.gov/pub/time.series/pr/x", target)
    assert found is None if problem is None else problem in found


@pytest.mark.parametrize(
    ("target", "problem"),
    [
        ("https://download.bls.gov/pub/time.series/pr/pr.series?fresh=1", None),
        ("https://download.bls.gov/pub/time.series/pr/pr.%73eries", None),
        ("https://download.bls.gov/pub/time.series/pr/pr.measure", "another file"),
        ("https://download.bls.gov/pub/time.series/pr/sub/pr.series", "another file"),
        ("https://download.bls.gov/pub/time.series/pr/pr.series/", "another file"),
    ],
)
def test_a_file_is_only_redirected_to_itself(target, problem):
    found = _redirect_problem(
        "https://download.bls.gov/pub/time.series/pr/pr.series", target, same_path=True
    )
    assert found is None if problem is None else problem in found


@pytest.mark.parametrize(
    ("asked", "target", "problem"),
    [
        # a folder escaped as asked, spelt otherwise in the Location
        ("https://h.example/pr/my%20dir/f", "https://h.example/pr/my dir/f?v=1", None),
        ("https://h.example/pr/my%20dir/f", "https://h.example/pr/%6Dy%20dir/f", None),
        # a file at the site's root: the root folder is '/', not '//'
        ("https://h.example/f", "https://h.example/f?v=1", None),
        # an encoded '/' is part of a name, not a folder
        ("https://h.example/pr/a%2Fb/f", "https://h.example/pr/a/b/f", "outside the folder"),
        ("https://h.example/pr/a%2Fb", "https://h.example/pr/a/b", "another file"),
    ],
)
def test_a_redirect_compares_paths_in_one_spelling(asked, target, problem):
    found = _redirect_problem(asked, target, same_path=True)
    assert found is None if problem is None else problem in found


def test_a_refused_connection_on_this_machine_says_to_start_its_server_or_unset_the_url():
    # A `quest mirror` stopped while QUEST_BLS_URL still named it: the advice was to raise the
    # retries, which only made each of the task's attempts wait longer.
    import dataclasses
    import socket

    from quest.errors import NothingListens, SourceUnavailable
    from quest.sources.http import is_loopback
    from quest.sources.listing import _fetch_page
    from quest.sources.transfer import Fetch, download
    from tests.shared_run import QUICK_HTTP

    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    settings = Settings(contact="quest-tests@example.org", **QUICK_HTTP)
    fetch = Fetch(f"http://127.0.0.1:{port}/pub/time.series/pr/", "the listing")
    with pytest.raises(SourceUnavailable) as refused:
        download(make_session(settings), fetch, settings)
    assert "ConnectionRefusedError" in str(refused.value)
    assert "start the server it names (such as `quest mirror`)" in str(refused.value)
    # the URL may have come from an option: before, only the variables were named
    assert "QUEST_DATAUSA_URL, or the option that gave it)" in str(refused.value)
    assert "raise QUEST_HTTP_RETRIES" not in str(refused.value)
    # Nor does the task try again: four attempts of five tries took a `quest run` 90 s to say
    # what its first attempt had said. The runner says "not retried" (`_not_retried`).
    assert type(refused.value) is NothingListens and not refused.value.retryable
    assert "not retried" not in str(refused.value)
    assert str(refused.value).endswith("to reach the real sources")  # the runner's "; ..." next
    # A sub-folder the listing named moments ago went away with its server mid-crawl, as a
    # file would: another attempt may find it back.
    sub_folder = dataclasses.replace(fetch, url=f"{fetch.url}sub/", listed=True)
    with pytest.raises(NothingListens) as refused:
        _fetch_page(make_session(settings), sub_folder, settings, None)
    assert refused.value.retryable
    assert is_loopback("http://localhost:8000/") and is_loopback("http://[::1]/")
    assert not is_loopback("https://download.bls.gov/pub/")
    assert not is_loopback("http://10.0.0.7/")
