"""Fixtures and helpers shared by the source tests and the source/store fault tests.

Every test runs the real sync code over HTTP: a `MirrorServer` on 127.0.0.1 serves a small
source folder, and the store is either a local folder or a bucket on moto's S3 server (real
HTTP, `ThreadedMotoServer`). `store` is parametrised so each test runs against both.
"""

from __future__ import annotations

import logging
import os
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest

from quest.config import Settings
from quest.mirror.server import MirrorServer
from quest.store.local import LocalStore
from quest.store.s3 import S3Store
from tests.bls_text import data_file, data_line

CONTACT = "quest-tests@example.org"
PREFIX = "bls/pr/"
BASE_TIME = datetime(2026, 8, 6, 8, 30, tzinfo=UTC).timestamp()


class Source:
    """A folder served by the mirror as `/pub/time.series/pr/` (files under `bls/pr/`)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.pr = root / "bls" / "pr"
        self.pr.mkdir(parents=True)
        self._minute = 0

    def write(self, name: str, data: bytes) -> Path:
        """Write a file with a date one minute later than any before, as a new BLS release
        would (the listing has minute precision)."""
        path = self.pr / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        self.touch(name)
        return path

    def touch(self, name: str) -> None:
        self._minute += 1
        when = BASE_TIME + 60 * self._minute
        os.utime(self.pr / name, (when, when))

    def remove(self, name: str) -> None:
        (self.pr / name).unlink()

    def files(self) -> dict[str, bytes]:
        return {
            p.relative_to(self.pr).as_posix(): p.read_bytes()
            for p in sorted(self.pr.rglob("*"))
            if p.is_file()
        }


def sample_files(count: int = 5) -> dict[str, bytes]:
    """Small BLS-looking files: tab-separated, CRLF, padded like the real ones."""
    files = {
        f"pr.file{i}": data_file(data_line(f"PRS3000601{i}", 2020, "Q01", f"{i + 0.5}")).encode()
        for i in range(count - 1)
    }
    files["sub/pr.notes"] = b"a file in a sub-folder\r\n"
    return files


@pytest.fixture(scope="session")
def moto_endpoint():
    """moto's S3 server on a free port of 127.0.0.1, for the whole session."""
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


def make_s3_store(endpoint: str, **options: object) -> S3Store:
    """A fresh bucket on `endpoint` and a store on its `republish/` prefix (fast retries)."""
    options = {"timeout": 2.0, "max_attempts": 3, **options}
    store = S3Store(f"quest-{uuid.uuid4().hex[:12]}", "republish", endpoint_url=endpoint, **options)
    store.client.create_bucket(Bucket=store.bucket)
    return store


@pytest.fixture(params=["local", "s3"])
def store(request, tmp_path):
    if request.param == "local":
        return LocalStore(tmp_path / "store")
    return make_s3_store(request.getfixturevalue("moto_endpoint"))


@pytest.fixture
def source(tmp_path) -> Source:
    return Source(tmp_path / "source")


@pytest.fixture
def mirror(source):
    with MirrorServer(source.root) as server:
        yield server


def fast_settings(home: Path, store, mirror, **overrides: object) -> Settings:
    """Settings syncing `mirror` into `store` fast: 1 s timeouts, two retries 10 ms apart,
    Retry-After capped at 0.2 s; `overrides` change any of them."""
    return Settings(
        home=home,
        store=store.uri,
        bls_url=mirror.bls_url,
        datausa_url=mirror.datausa_url,
        contact=CONTACT,
        http_timeout=1.0,
        http_retries=2,
        http_backoff=0.01,
        retry_after_cap=0.2,
        retry_wait_scale=1.0,
    ).with_overrides(**overrides)


@pytest.fixture
def settings(tmp_path, mirror, store) -> Settings:
    return fast_settings(tmp_path / "home", store, mirror)


def stored_bytes(store, prefix: str = "") -> dict[str, bytes]:
    """Every object under `prefix`, key relative to it, with its body."""
    found = {}
    for key in store.list(prefix):
        with store.open(key) as handle:
            found[key[len(prefix) :]] = handle.read()
    return found


def listing_with(source: Source, hrefs: list[str], size: int = 12) -> bytes:
    """The mirror's own listing page of `source`, with extra entries linking to `hrefs` (paths
    below the folder, as a server would write them), each shown as a file of `size` bytes."""
    import html

    from quest.mirror.server import BLS_ROOT, listing_html

    extra = "".join(
        f'  8/6/2026  9:00 AM {size:>12} <A HREF="{html.escape(BLS_ROOT + href)}">x</A><br>'
        for href in hrefs
    )
    page = listing_html(BLS_ROOT, source.pr)
    return page.replace("</pre>", extra + "</pre>").encode()


def snapshot(store, prefix: str = "") -> dict[str, tuple[bytes, dict[str, str]]]:
    """Every object under `prefix` with its body and metadata: "byte-exact as before" compares
    two of these."""
    found = {}
    for key, info in store.list(prefix).items():
        with store.open(key) as handle:
            found[key] = (handle.read(), dict(info.metadata))
    return found


def assert_mirrored(store, source: Source) -> None:
    """The store holds exactly the source's files, byte for byte, each with its sha256."""
    import hashlib

    assert stored_bytes(store, PREFIX) == source.files()
    for key, info in store.list(PREFIX).items():
        with store.open(key) as handle:
            assert info.sha256 == hashlib.sha256(handle.read()).hexdigest(), key


def leftovers(store) -> list[str]:
    """Temporary files or unfinished uploads a failed write could leave in the store."""
    if isinstance(store, LocalStore):
        if not store.root.exists():
            return []
        return [str(p) for p in store.root.rglob("*") if p.name.startswith(".quest-tmp-")]
    uploads = store.client.list_multipart_uploads(Bucket=store.bucket)
    return [u["Key"] for u in uploads.get("Uploads", [])]
