"""Hostile bodies: an answer that is not a whole, verified copy is refused for its file alone.

The scenario: a stored file's listing date changes while its size does not, and the server
answers with something other than the whole new body. For each such answer, over real HTTP and
on both stores: the sync fails naming the file and what was wrong, the refused file's bytes and
metadata are exactly as before, a new file still arrives, a file the source dropped is not yet
deleted; once the source heals, the next run fetches the file again and the store equals the
source, with the validators of the answer that produced each body.
"""

from __future__ import annotations

import gzip
import zlib

import pytest

from quest.errors import IncompleteSyncError
from quest.mirror.server import BLS_ROOT, etag_of
from quest.sources.bls import sync_bls
from quest.sources.body import CHUNK_SIZE
from quest.store.base import SOURCE_ETAG
from tests.sources.support import PREFIX, assert_mirrored, leftovers, snapshot

FILE = "pr.file1"
PATH = BLS_ROOT + FILE
OLD = b"series_id        \tyear\tperiod\t       value\r\nPRS30006011\t2020\tQ01\t 1.5\r\n"
NEW = OLD.replace(b"1.5", b"2.5")
assert len(NEW) == len(OLD)


# Each hostile answer: the fault that serves it, and what the error must say.
HOSTILE: dict[str, tuple[dict, str]] = {
    "204 No Content": ({"kind": "status", "status": 204, "body": b""}, "answered 204"),
    "200 with Content-Length 0": ({"kind": "body", "body": b""}, "promises 0 bytes"),
    "206 with part of the file": (
        {
            "kind": "body",
            "status": 206,
            "body": NEW[:20],
            "headers": {"Content-Range": f"bytes 0-19/{len(NEW)}"},
        },
        "answered 206 Partial Content, not 200",
    ),
    "redirect to another host": (
        {"kind": "status", "status": 302, "headers": {"Location": f"http://localhost{PATH}"}},
        "another host",
    ),
    "redirect to file://": (
        {"kind": "status", "status": 301, "headers": {"Location": "file:///etc/passwd"}},
        "redirects to file:///etc/passwd, a file: URL",
    ),
    "redirect out of the folder": (
        {"kind": "status", "status": 307, "headers": {"Location": "/pub/time.series/x"}},
        "outside the folder /pub/time.series/pr/",
    ),
    "redirect loop": (
        {"kind": "status", "status": 302, "headers": {"Location": PATH + "?again"}},
        "a redirect loop",
    ),
    "body longer than its Content-Length": (
        {"kind": "body", "body": NEW + b"and more", "length": str(len(NEW) - 10)},
        f"promises {len(NEW) - 10} bytes \\(Content-Length\\) but the listing shows",
    ),
    "gzip cut short with a matching length": (
        {
            "kind": "body",
            "body": gzip.compress(NEW, mtime=0)[:-8],
            "headers": {"Content-Encoding": "gzip"},
        },
        "gzip stream that stops before its end",
    ),
    "corrupt gzip": (
        {"kind": "body", "body": b"\x1f\x8bnot gzip", "headers": {"Content-Encoding": "gzip"}},
        "not a valid gzip stream",
    ),
    "malformed Content-Length": (
        {"kind": "body", "length": "1e3"},
        "malformed Content-Length '1e3'",
    ),
    # urllib3 refuses this one before quest's own check (test_http.py covers that check); either
    # may word the refusal, as urllib3 is not pinned.
    "two different Content-Lengths": (
        {"kind": "body", "length": f"{len(NEW)}, 7"},
        "Content-Length contained multiple unmatching values|malformed Content-Length",
    ),
    "unknown Content-Encoding": (
        {"kind": "body", "headers": {"Content-Encoding": "br"}},
        "Content-Encoding 'br', which quest does not decode",
    ),
    "body longer than the listing, no Content-Length": (
        {"kind": "body", "body": NEW * 2000, "length": ""},
        "past the size the listing shows",
    ),
    "body shorter than the listing, no Content-Length": (
        {"kind": "body", "body": NEW[:10], "length": ""},
        f"sent 10 bytes but the listing shows {len(NEW)}",
    ),
}


@pytest.fixture
def stored(settings, source, store):
    """A store in sync with a small source: the file to attack, one to keep, one to drop."""
    source.write(FILE, OLD)
    source.write("pr.kept", b"unchanged\r\n")
    source.write("pr.dropped", b"dropped by the source\r\n")
    sync_bls(settings, store=store)
    return snapshot(store)


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_a_hostile_answer_is_refused_for_its_file_alone_and_the_healed_source_is_mirrored(
    case, stored, settings, source, store, mirror
):
    fault, message = HOSTILE[case]
    source.write(FILE, NEW)  # a new date, the same size
    source.write("pr.new", b"a new file\r\n")
    source.remove("pr.dropped")
    mirror.faults.add(PATH, times=100, **fault)

    with pytest.raises(IncompleteSyncError, match=message) as refused:
        sync_bls(settings, store=store)

    assert str(refused.value).startswith(f"1 of 3 listed files were not synced: {FILE}: ")
    assert refused.value.exit_status == 8
    after = snapshot(store)
    assert after.pop(PREFIX + "pr.new")[0] == b"a new file\r\n", "the other files still sync"
    assert after == stored, "the refused file is byte-exact, the dropped one not yet deleted"
    assert leftovers(store) == []

    mirror.faults.clear()
    mirror.log.clear()
    healed = sync_bls(settings, store=store)
    actions = {f["name"]: f["action"] for f in healed.files}
    assert (actions[FILE], actions["pr.dropped"]) == ("replaced", "deleted")
    assert mirror.bodies_sent() == [PATH], "a run after a refused answer fetches the file again"
    assert_mirrored(store, source)
    assert store.head(PREFIX + FILE).metadata[SOURCE_ETAG] == etag_of(source.pr / FILE)


def test_a_replacing_answer_without_validators_leaves_none_behind(
    settings, stored, source, store, mirror
):
    """An ETag kept from an older body would let the next run's conditional request confirm a
    body it does not belong to; the new body's metadata carries only its own answer's."""
    source.write(FILE, NEW)
    mirror.faults.add(PATH, "body", headers={"ETag": "", "Last-Modified": ""})
    assert sync_bls(settings, store=store).replaced == 1
    meta = store.head(PREFIX + FILE).metadata
    assert SOURCE_ETAG not in meta and "source-last-modified" not in meta
    assert_mirrored(store, source)


def test_a_gzip_encoded_whole_body_is_decoded_and_stored(settings, stored, source, store, mirror):
    source.write(FILE, NEW)
    mirror.faults.add(PATH, "body", body=gzip.compress(NEW), headers={"Content-Encoding": "gzip"})
    assert sync_bls(settings, store=store).replaced == 1
    assert_mirrored(store, source)


def test_a_raw_deflate_body_is_decoded_and_stored(settings, stored, source, store, mirror):
    # Deflate without the zlib wrapper, whose last output the decoder held when the input ran
    # out: it was refused as cut short, on every run.
    new = b"a" * (CHUNK_SIZE + 1)  # a chunk out, all of the input taken, a byte held back
    source.write(FILE, new)
    packer = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    body = packer.compress(new) + packer.flush()
    mirror.faults.add(PATH, "body", body=body, headers={"Content-Encoding": "deflate"})
    assert sync_bls(settings, store=store).replaced == 1
    assert_mirrored(store, source)


def test_a_304_to_a_file_never_stored_is_refused_as_the_sources_fault(
    settings, stored, source, store, mirror
):
    # Nothing was asked to be compared: the 304 went on as a body of nothing, and the run
    # stopped on a store error naming no source.
    source.write("pr.new", b"a new file\r\n")
    mirror.faults.add(BLS_ROOT + "pr.new", "status", status=304, body=b"")
    with pytest.raises(
        IncompleteSyncError, match="pr.new: .* a request that asked for no comparison"
    ):
        sync_bls(settings, store=store)
    assert snapshot(store) == stored
    sync_bls(settings, store=store)
    assert_mirrored(store, source)


def test_a_304_that_contradicts_the_listing_is_refused(settings, stored, source, store, mirror):
    # A file the listing shows at another size is asked for without validators, so a 304 for it
    # answers a request that asked for no comparison.
    source.write(FILE, NEW + b"longer now\r\n")
    mirror.faults.add(PATH, "status", status=304, body=b"")
    with pytest.raises(
        IncompleteSyncError, match="304 Not Modified to a request that asked for no"
    ):
        sync_bls(settings, store=store)
    assert snapshot(store) == stored
    sync_bls(settings, store=store)
    assert_mirrored(store, source)
