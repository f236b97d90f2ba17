"""Bounds: every request ends, and nothing grows without limit.

Slow and endless sources over real HTTP, with the bounds set small through settings so each test
takes a second or two: a trickle is cut by the low-speed limit, a slow answer by the deadline
(even while no byte arrives), an endless body or listing by its size cap, a crawl by its page
and depth caps; the listing parses in time linear in its size; and what a killed run left (its
`.part` files, the store's temporary files, unfinished S3 uploads) is removed by the next run.
"""

from __future__ import annotations

import gzip
import os
import signal
import subprocess
import sys
import tempfile
import textwrap
import time

import pytest

from quest.errors import IncompleteSyncError, SourceError
from quest.mirror.server import BLS_ROOT
from quest.sources.bls import sync_bls
from quest.sources.listing import parse_listing
from quest.store.local import LocalStore
from tests.sources.support import (
    CONTACT,
    PREFIX,
    assert_mirrored,
    leftovers,
    listing_with,
    snapshot,
)

FILE = "pr.file1"
PATH = BLS_ROOT + FILE
BIG = b"0123456789" * 2000


@pytest.fixture
def stored(settings, source, store):
    source.write(FILE, b"version one\r\n")
    source.write("pr.kept", b"kept\r\n")
    sync_bls(settings, store=store)
    source.write(FILE, BIG)
    return snapshot(store)


def _refused(settings, store, message: str) -> float:
    started = time.monotonic()
    with pytest.raises(IncompleteSyncError, match=message):
        sync_bls(settings, store=store)
    return time.monotonic() - started


def test_a_trickle_is_cut_by_the_low_speed_limit_and_not_retried(stored, settings, store, mirror):
    mirror.log.clear()
    mirror.faults.add(PATH, "trickle", times=10, chunk=1, seconds=0.2)  # 5 bytes/s
    # The bounds hold for the listing too: 2 s, so that a listing slowed by a loaded machine is
    # not the request cut (the trickle would take hours).
    fast = settings.with_overrides(http_low_speed_limit=100, http_low_speed_time=2.0)
    took = _refused(fast, store, r"pr\.file1: .* slower than 100 bytes/s for 2 s")
    assert took < 20
    assert [p for _, p, _, _ in mirror.log].count(PATH) == 1, "a trickle is not asked again"
    assert snapshot(store) == stored


def test_a_body_faster_than_the_limit_but_endless_in_time_is_cut_at_the_deadline(
    stored, settings, store, mirror
):
    mirror.faults.add(PATH, "trickle", times=10, chunk=50, seconds=0.1)  # 500 B/s, 40 s long
    # The deadline holds for the listing too: 2 s, so that a listing slowed by a loaded machine
    # is not the request cut.
    slow = settings.with_overrides(http_deadline=2.0, http_low_speed_limit=100)
    took = _refused(slow, store, r"pr\.file1: .* still running after 2 s \(QUEST_HTTP_DEADLINE\)")
    assert 2.0 <= took < 20
    assert snapshot(store) == stored


def test_a_server_silent_past_the_deadline_is_cut_even_before_its_headers(
    stored, settings, store, mirror
):
    """The read timeout alone would wait 60 s; the watchdog shuts the socket at the deadline
    (2 s: it holds for the listing too, which a loaded machine may slow)."""
    mirror.faults.add(PATH, "hang", times=10, seconds=120)
    silent = settings.with_overrides(http_timeout=60.0, http_deadline=2.0)
    took = _refused(silent, store, r"pr\.file1: .*QUEST_HTTP_DEADLINE")
    assert took < 20
    assert snapshot(store) == stored


def test_an_endless_body_of_unlisted_size_is_cut_at_the_size_cap_and_leaves_no_temp_file(
    *, stored, settings, source, store, mirror, tmp_path, monkeypatch
):
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    page = listing_with(source, []).replace(b"       20000 <A", b"             <A")
    mirror.faults.add(BLS_ROOT, "body", body=page)
    mirror.faults.add(PATH, "endless", length="", chunk=65536)
    capped = settings.with_overrides(max_body_bytes=256 << 10)
    _refused(capped, store, r"past QUEST_MAX_BODY_BYTES.*\(where a reason names a setting")
    assert snapshot(store) == stored
    assert list(scratch.iterdir()) == []


def test_endless_empty_gzip_members_are_cut_by_their_bytes_not_the_deadline(
    stored, settings, store, mirror
):
    # Each member decodes to nothing, so the size cap of what is decoded never fires: the
    # download ran to the deadline, gigabytes for a file listed at 20 kB.
    empty = gzip.compress(b"", mtime=0)
    mirror.faults.add(
        PATH,
        "endless",
        times=10,
        body=empty,
        filler=empty * 3000,
        length="",
        headers={"Content-Encoding": "gzip"},
    )
    patient = settings.with_overrides(http_deadline=60.0)
    took = _refused(patient, store, r"bytes of gzip for a body of at most 85536 bytes")
    assert took < 10
    assert snapshot(store) == stored


def test_an_endless_listing_is_cut_at_the_listing_cap_and_changes_nothing(
    stored, settings, store, mirror
):
    mirror.faults.add(BLS_ROOT, "endless", length="", chunk=65536)
    capped = settings.with_overrides(max_listing_bytes=128 << 10)
    with pytest.raises(SourceError, match="past QUEST_MAX_LISTING_BYTES=131072"):
        sync_bls(capped, store=store)
    assert snapshot(store) == stored


def test_a_crawl_stops_at_the_page_and_depth_caps_and_changes_nothing(
    stored, settings, source, store
):
    for index in range(4):
        source.write(f"wide{index}/pr.x", b"x\r\n")
    source.write("a/b/c/pr.deep", b"deep\r\n")
    with pytest.raises(SourceError, match="more than QUEST_MAX_LISTING_PAGES=4 folders"):
        sync_bls(settings.with_overrides(max_listing_pages=4), store=store)
    with pytest.raises(SourceError, match="deeper than QUEST_MAX_LISTING_DEPTH=2"):
        sync_bls(settings.with_overrides(max_listing_depth=2), store=store)
    assert snapshot(store) == stored
    sync_bls(settings, store=store)
    assert_mirrored(store, source)


def _page(links: int) -> str:
    entries = "".join(
        f'  8/6/2026  8:30 AM {index:>12} <A HREF="/pub/time.series/pr/pr.f{index}">x</A><br>'
        for index in range(links)
    )
    return f"<html><body><pre>{entries}</pre></body></html>"


def _parse_seconds(links: int) -> float:
    """The parse's CPU seconds on this thread: wall time also counts the time other processes
    take the core (`make test` runs a Spark worker beside this one), and once made a linear
    parse look like 8.2x."""
    page = _page(links)
    started = time.thread_time()
    assert len(parse_listing(page, "http://h/pub/time.series/pr/")) == links
    return time.thread_time() - started


def test_the_listing_parses_in_time_linear_in_its_size():
    """Four times the links must cost about four times as long (a quadratic parse: sixteen)."""
    small = min(_parse_seconds(2_000) for _ in range(3))
    large = min(_parse_seconds(8_000) for _ in range(3))
    assert large / small < 8, (small, large)


@pytest.mark.parametrize(
    "markup",
    ["<a ", '<a href="', " <b", "<!--"],
    ids=["tag", "quoted attribute", "tag after text", "comment"],
)
def test_a_listing_of_markup_never_closed_is_refused_at_once_and_changes_nothing(
    stored, settings, store, mirror, markup
):
    # The standard library's parser scans the rest of the page again for each such '<': a
    # 1 MB page of `<a ` took about two hours of CPU, holding the store's lock.
    page = "<html><body><pre></pre>" + markup * (1_000_000 // len(markup))
    mirror.faults.add(BLS_ROOT, "body", body=page.encode(), content_type="text/html")
    started = time.thread_time()
    with pytest.raises(SourceError, match="is not a directory listing: (the '<'|a comment) at"):
        sync_bls(settings, store=store)
    assert time.thread_time() - started < 10
    assert snapshot(store) == stored


def test_a_killed_runs_part_files_are_removed_by_the_next_run(
    *, stored, settings, source, store, mirror, tmp_path, monkeypatch
):
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    endpoint = "" if isinstance(store, LocalStore) else store.client.meta.endpoint_url
    mirror.faults.add(PATH, "trickle", times=1, chunk=1000, seconds=0.2)
    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(
                f"""
                from quest.config import Settings
                from quest.sources.bls import sync_bls
                sync_bls(Settings(store={store.uri!r}, s3_endpoint_url={endpoint!r},
                                  bls_url={mirror.bls_url!r}, contact={CONTACT!r}))
                """
            ),
        ],
        env={**os.environ, "TMPDIR": str(scratch)},
    )
    try:
        deadline = time.monotonic() + 30
        while not list(scratch.glob("quest-bls-*/*.part")) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert list(scratch.glob("quest-bls-*/*.part")), "the child never started its download"
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    assert list(scratch.glob("quest-bls-*")), "SIGKILL leaves the folder behind"
    if endpoint:
        # The dead child's S3 lock would expire after its TTL (tests/store/test_locks.py).
        store.client.delete_object(
            Bucket=store.bucket, Key=store._full(".quest-locks/sync-bls.lock")
        )
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    mirror.faults.clear()
    sync_bls(settings, store=store)
    assert list(scratch.iterdir()) == []
    assert_mirrored(store, source)


def test_unfinished_uploads_of_a_killed_run_are_cleaned_by_the_next_run(
    stored, settings, source, store
):
    if isinstance(store, LocalStore):
        (store.root / PREFIX / ".quest-tmp-killed").write_bytes(b"half a file")
        (store.root / ".quest-meta" / PREFIX / ".quest-tmp-meta").write_bytes(b"{")
    else:
        store.client.create_multipart_upload(Bucket=store.bucket, Key=store._full(PREFIX + FILE))
    assert leftovers(store)
    sync_bls(settings, store=store)
    assert leftovers(store) == []
    assert_mirrored(store, source)
