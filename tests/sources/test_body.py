"""Content-Encoding undone by quest itself: whole streams decode, broken ones are refused, and
no piece of output is ever larger than a chunk (a decompression bomb never sits in memory)."""

from __future__ import annotations

import gzip
import random
import zlib

import pytest

from quest.errors import SourceError
from quest.sources.body import CHUNK_SIZE, Decoder

DATA = b"series_id\tyear\tperiod\tvalue\r\n" * 500


def _decode(encoding: str, body: bytes, step: int = 97) -> bytes:
    decoder = Decoder(encoding, "http://h/x", "x")
    out = b"".join(
        piece
        for start in range(0, len(body), step)
        for piece in decoder.feed(body[start : start + step])
    )
    decoder.finish()
    return out


def _raw_deflate(data: bytes) -> bytes:
    packer = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    return packer.compress(data) + packer.flush()


@pytest.mark.parametrize(
    ("encoding", "body"),
    [
        ("gzip", gzip.compress(DATA)),
        ("x-gzip", gzip.compress(DATA)),
        ("gzip", gzip.compress(DATA[:100]) + gzip.compress(DATA[100:])),  # two members
        ("deflate", zlib.compress(DATA)),
        ("deflate", _raw_deflate(DATA)),  # without the zlib wrapper, as some servers send it
        ("identity", DATA),
        ("", DATA),
    ],
    # Named, not by their bytes: a gzip header holds the time it was made, and xdist's workers
    # must collect the same test names.
    ids=["gzip", "x-gzip", "gzip-two-members", "zlib", "raw-deflate", "identity", "none"],
)
def test_whole_streams_decode_to_their_bytes(encoding, body):
    assert _decode(encoding, body) == DATA


@pytest.mark.parametrize(
    ("encoding", "body", "problem"),
    [
        ("gzip", gzip.compress(DATA)[:-8], "stops before its end"),
        ("gzip", gzip.compress(DATA) + b"junk", "not a valid gzip stream"),
        ("deflate", zlib.compress(DATA) + b"junk", "data after the end"),
        ("gzip", b"", "stops before its end"),
        ("gzip", b"plain text", "not a valid gzip stream"),
    ],
    ids=["gzip-cut", "gzip-junk-after", "zlib-junk-after", "gzip-empty", "gzip-not-gzip"],
)
def test_broken_streams_are_refused(encoding, body, problem):
    with pytest.raises(SourceError, match=problem):
        _decode(encoding, body)


@pytest.mark.parametrize("step", [1, 7, 1 << 20], ids=["byte-by-byte", "small-reads", "one-read"])
@pytest.mark.parametrize(
    "data",
    [b"a" * (CHUNK_SIZE + 1), b"a" * (3 * CHUNK_SIZE), DATA],
    ids=["a-chunk-and-a-byte", "three-chunks", "text"],
)
def test_raw_deflate_decodes_whole_however_it_arrives(data, step):
    # A raw stream has no trailer: its input can all be taken while a chunk of output is still
    # inside the decoder, which was then refused as cut short. Its first byte alone decodes as
    # nothing yet, and the zlib header check fails only on the second read: the fallback to raw
    # deflate must start again from the first byte.
    assert _decode("deflate", _raw_deflate(data), step=step) == data
    assert _decode("deflate", zlib.compress(data), step=step) == data


@pytest.mark.parametrize(
    "reads",
    [[1, CHUNK_SIZE], [CHUNK_SIZE + 1], [2, 3, CHUNK_SIZE]],
    ids=["a-byte-then-a-chunk", "more-than-a-chunk-at-once", "bytes-then-a-chunk"],
)
def test_raw_deflate_of_incompressible_data_decodes_whatever_the_first_reads(reads):
    # The bytes kept to start again as raw deflate were dropped once they passed the cap,
    # before the read that took them there had been tried.
    data = random.Random(7).randbytes(3 * CHUNK_SIZE)
    body = _raw_deflate(data)
    decoder = Decoder("deflate", "http://h/x", "x")
    out, start = [], 0
    for size in [*reads, len(body)]:
        out += decoder.feed(body[start : start + size])
        start += size
    decoder.finish()
    assert b"".join(out) == data and max(len(piece) for piece in out) <= CHUNK_SIZE


def test_an_unknown_encoding_is_refused():
    with pytest.raises(SourceError, match="Content-Encoding 'br', which quest does not decode"):
        Decoder("br", "http://h/x", "x")


def test_a_decompression_bomb_comes_out_a_chunk_at_a_time():
    bomb = gzip.compress(b"\0" * (64 << 20))
    decoder = Decoder("gzip", "http://h/x", "x")
    sizes = [len(piece) for piece in decoder.feed(bomb)]
    assert max(sizes) <= CHUNK_SIZE and sum(sizes) == 64 << 20
