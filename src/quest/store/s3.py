"""An S3 prefix as the store (AWS, or MinIO/moto through `endpoint_url`).

S3 already gives the all-or-nothing write the store promises: an object (even a multipart one)
appears only when its upload completes. Uploads carry a SHA256 checksum, so S3 rejects bytes
corrupted in transit; because a multipart ETag is not an MD5, our own sha256/md5 travel as user
metadata. Transient failures (500s, throttling, timeouts) are retried by botocore, up to the
response's headers: a body cut while it is read is a `StoreError` naming the object.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import logging
import os
import socket
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import BinaryIO

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    HTTPClientError,
    ReadTimeoutError,
)
from botocore.exceptions import ConnectionError as BotoConnectionError
from urllib3.exceptions import HTTPError

from quest.errors import ConfigError, LockError, StoreError
from quest.redaction import hide_userinfo
from quest.store.base import SHA256, ObjectInfo, hash_file, key_segments, literal_path, read_up_to

log = logging.getLogger(__name__)

LOCK_DIR = ".quest-locks/"
_PART = 16 << 20
# S3 copies an object of at most 5 GiB in one `CopyObject`; a larger one in parts, here of 512 MiB.
_COPY_TOO_LARGE = "larger than the maximum allowable size for a copy source"
_LARGE_COPY = TransferConfig(multipart_threshold=5 << 30, multipart_chunksize=512 << 20)
_CONFLICT = ("PreconditionFailed", "ConditionalRequestConflict", "412", "409")
# What S3 answers for an object that is not there (to a put `If-Match` too: to the lock, a
# conflict like the others, the object it expected being gone, never an error).
_GONE = ("404", "NoSuchKey")
MAX_KEY_BYTES = 1024  # S3's limit on a whole key
_HEADS_AT_ONCE = 8


_SESSIONS: dict[tuple, boto3.session.Session] = {}
_SESSIONS_LOCK = threading.Lock()


def _client(credentials: dict | None, **options: object):
    """An S3 client from a session shared per credentials: building a session re-reads
    botocore's service models (a tenth of a second each time); clients are thread-safe."""
    key = tuple(sorted((credentials or {}).items()))
    with _SESSIONS_LOCK:
        session = _SESSIONS.get(key)
        if session is None:
            session = _SESSIONS[key] = boto3.session.Session(**(credentials or {}))
        return session.client("s3", region_name=session.region_name or "us-east-1", **options)


def _client_problem(endpoint_url: str | None, exc: Exception) -> str:
    """Why no S3 client could be built, naming what to change: the AWS configuration the
    environment points at (a profile that does not exist, a config file that does not parse, a
    region that is no region), or QUEST_S3_ENDPOINT_URL."""
    from botocore.exceptions import InvalidRegionError

    said = hide_userinfo(exc)
    if isinstance(exc, InvalidRegionError):
        return (
            f"the AWS region is not usable ({said}): check AWS_DEFAULT_REGION and the "
            "profile's region"
        )
    if isinstance(exc, (BotoCoreError, OSError)) or not endpoint_url:
        return (
            f"the AWS configuration cannot be used ({type(exc).__name__}: {said}): check "
            "AWS_PROFILE, AWS_CONFIG_FILE, AWS_SHARED_CREDENTIALS_FILE, AWS_ENDPOINT_URL and "
            "AWS_ENDPOINT_URL_S3 (and a profile's credential_process)"
        )
    return (
        f"QUEST_S3_ENDPOINT_URL={hide_userinfo(endpoint_url)!r} is not usable ({said}); set it "
        "to http(s)://host:port of an S3-compatible service, or unset it for AWS"
    )


def _b64(hex_digest: str) -> str:
    return base64.b64encode(bytes.fromhex(hex_digest)).decode()


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _refused(exc: Exception) -> bool:
    """Whether S3 answered that it did not do the request: a client error (4xx) or 503
    (SlowDown) at the first attempt. After anything else (a 500, which AWS says may or may not
    have done it, a timeout or a connection closed once the request was sent) the write may
    have landed, and so may an earlier attempt of a retried one: the error tells only the last
    answer."""
    if not isinstance(exc, ClientError):
        return False
    meta = exc.response.get("ResponseMetadata", {})
    status = meta.get("HTTPStatusCode") or 0
    return meta.get("RetryAttempts", 0) == 0 and (400 <= status < 500 or status == 503)


def _may_have_been_done(exc: Exception) -> bool:
    """Whether a request that failed with `exc` may have been carried out all the same: an
    answer that is not a refusal (`_refused`), or a connection that failed or timed out (an
    earlier attempt of a retried request may have reached S3). Not an error raised before any
    request went out (credentials that cannot be had, a parameter refused), nor a `StoreError`."""
    if isinstance(exc, ClientError):
        return not _refused(exc)
    return isinstance(exc, (HTTPClientError, BotoConnectionError))


class S3Store:
    """Objects under `s3://bucket/prefix/`; keys given to the methods are relative to the prefix.

    Args:
        bucket: the bucket name.
        prefix: a folder inside the bucket ("" for the whole bucket).
        endpoint_url: another S3-compatible endpoint (MinIO, moto); "" for AWS.
        credentials: boto3 keyword arguments (`aws_access_key_id`, ...); None for the default chain.
        timeout: connect and read timeout of each S3 call, in seconds.
        max_attempts: attempts per S3 call (botocore retries 500s, throttling and timeouts).
        lock_ttl: seconds after which a lock whose holder stopped renewing it can be taken over.
    """

    def __init__(
        self,
        bucket: str,
        prefix: str,
        endpoint_url: str = "",
        credentials: dict | None = None,
        *,
        timeout: float = 60.0,
        max_attempts: int = 5,
        lock_ttl: float = 300.0,
    ) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.uri = f"s3://{bucket}/{self.prefix}"
        self.lock_ttl = lock_ttl
        config = Config(
            connect_timeout=timeout,
            read_timeout=timeout,
            retries={"max_attempts": max_attempts, "mode": "standard"},
            s3={"addressing_style": "path"} if endpoint_url else None,
        )
        try:
            self.client = _client(credentials, endpoint_url=endpoint_url or None, config=config)
        except (ValueError, BotoCoreError, OSError) as exc:  # OSError: a credential_process
            raise ConfigError(_client_problem(endpoint_url, exc)) from None
        self._transfer = TransferConfig(
            multipart_threshold=_PART, multipart_chunksize=_PART, max_concurrency=4
        )
        # Per lock taken through this store that another run took over, or that grew late, why:
        # every write after that is refused, as two runs would then be writing the same objects.
        # Keyed by the lock's name: taking that lock again clears its loss, and no other's.
        self.lost_locks: dict[str, str] = {}
        # Per lock held through this store, the time (`_lease_clock`) by which it must have been
        # renewed: a renewal that hangs (a put retried through its timeouts) says nothing until
        # it returns, while another run may take the lock over once its expiry has passed.
        self.lock_deadlines: dict[str, float] = {}
        # Per lock, why its last renewal failed (expired credentials, a grant taken away), for
        # the error that stops the writes once the lock is late: "late" alone hid the cause.
        self.renewal_errors: dict[str, str] = {}

    def _full(self, key: str) -> str:
        return self.prefix + key

    def _check_lock(self, key: str) -> None:
        now = _lease_clock()
        late = [name for name, deadline in list(self.lock_deadlines.items()) if now > deadline]
        if not self.lost_locks and late:
            failed = self.renewal_errors.get(late[0])
            why = f"its last renewal failed: {failed}" if failed else "its renewal is late"
            self.lost_locks[late[0]] = (
                f"the {late[0]} lock on {self.uri} was not renewed in time ({why}), and another "
                "run may take it over once it expires"
            )
        if self.lost_locks:
            raise LockError(
                f"{next(iter(self.lost_locks.values()))}; {key} and everything after it were not "
                "changed, so that two runs never write the same objects. Rerun once the other "
                "run is done"
            )

    def _object(self, key: str) -> str:
        """The full key of an object to write; a key that is not plain is refused, as the
        local store refuses it (S3 would take it, and every later reader would trip on it).

        Raises:
            LockError: a lock taken through this store was lost; nothing more is written.
        """
        self._check_lock(key)
        try:
            key_segments(key)
        except ValueError as exc:
            raise StoreError(f"{exc}; not written to {self.uri}") from None
        return self._full(key)

    def _fail(
        self,
        action: str,
        key: str,
        exc: Exception,
        kept: bool = True,
        lost: str = "",
        landed: bool = False,
    ) -> StoreError:
        """A one-line error; botocore's text may hold the endpoint URL, so it is redacted.

        `kept`: a write, which S3 may have done though its answer never came (`_refused`).
        `lost`: what to say then instead of the object's fate (a lock's); with `landed`, said
        whatever `exc` was (an earlier write may have landed, `exc` being a read's)."""
        if lost and (landed or not _refused(exc)):
            after = lost
        elif not kept:
            after = "nothing was changed"
        elif _refused(exc):
            after = "what the store held under that key is unchanged"
        else:
            after = (
                "the object under that key is as before or as this write left it, whole either "
                "way (S3 may have done it, its answer lost); the next run compares it by sha256"
            )
        return StoreError(
            f"{action} {self.uri}{key} failed: {hide_userinfo(exc)}; {after}. Check the "
            "network, QUEST_S3_ENDPOINT_URL and the credentials, then rerun"
        )

    def key_problem(self, key: str) -> str | None:
        try:
            key_segments(key)
        except ValueError as exc:
            return str(exc)
        size = len(self._full(key).encode("utf-8", "surrogatepass"))
        if size > MAX_KEY_BYTES:
            return f"the S3 key would be {size} bytes, longer than S3's {MAX_KEY_BYTES}"
        return None

    def clean_temp(self, prefix: str) -> int:
        """Abort the multipart uploads a killed run left under `prefix` (S3 keeps their parts,
        and bills them, until then). Refused once a lock taken through this store is lost or
        late: the uploads under `prefix` may then be another run's, under way."""
        self._check_lock(f"the unfinished uploads under {prefix}")
        aborted = 0
        try:
            pages = self.client.get_paginator("list_multipart_uploads").paginate(
                Bucket=self.bucket, Prefix=self._full(prefix)
            )
            for page in pages:
                for upload in page.get("Uploads", []):
                    self.client.abort_multipart_upload(
                        Bucket=self.bucket, Key=upload["Key"], UploadId=upload["UploadId"]
                    )
                    aborted += 1
        except ClientError as exc:
            if _code(exc) != "AccessDenied":
                raise self._fail(
                    "cleaning unfinished uploads under", prefix, exc, kept=False
                ) from None
            # Housekeeping: an identity granted what the sync needs but not this goes on.
            log.warning(
                "cannot abort the unfinished uploads under %s%s (AccessDenied: the identity "
                "lacks s3:ListBucketMultipartUploads or s3:AbortMultipartUpload), so parts a "
                "killed run left stay billed; grant them, or give the bucket a lifecycle rule "
                "that aborts incomplete multipart uploads (docs/deploy.md)",
                self.uri,
                prefix,
            )
        except BotoCoreError as exc:
            raise self._fail("cleaning unfinished uploads under", prefix, exc, kept=False) from None
        return aborted

    def list(self, prefix: str = "") -> dict[str, ObjectInfo]:
        found: dict[str, ObjectInfo] = {}
        try:
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=self._full(prefix)
            )
            # A key ending in '/' is a folder marker (the S3 console's "Create folder", Hadoop's
            # mkdirs), not a file: kept, it looked like a stored file the source no longer had.
            keys = [
                key
                for page in pages
                for item in page.get("Contents", [])
                if (key := item["Key"][len(self.prefix) :])
                and not key.endswith("/")
                and not key.startswith(LOCK_DIR)
            ]
        except (ClientError, BotoCoreError) as exc:
            raise self._fail("listing", prefix, exc, kept=False) from None
        # Metadata needs a HEAD per object; a few at a time (the client is thread-safe).
        with ThreadPoolExecutor(max_workers=_HEADS_AT_ONCE) as pool:
            for key, info in zip(keys, pool.map(self.head, keys), strict=True):
                if info is not None:
                    found[key] = info
        return dict(sorted(found.items()))

    def head(self, key: str) -> ObjectInfo | None:
        try:
            answer = self.client.head_object(Bucket=self.bucket, Key=self._full(key))
        except ClientError as exc:
            if _code(exc) in ("404", "NoSuchKey", "NotFound"):
                return None
            raise self._fail("reading metadata of", key, exc, kept=False) from None
        except BotoCoreError as exc:
            raise self._fail("reading metadata of", key, exc, kept=False) from None
        return ObjectInfo(key, answer["ContentLength"], dict(answer.get("Metadata", {})))

    def put_file(self, key: str, path: str, metadata: dict[str, str]) -> ObjectInfo:
        """Upload `path` after checking it against `metadata["sha256"]`; the upload carries
        that checksum (single part) or per-part SHA256s, so S3 refuses bytes corrupted on the
        way."""
        full = self._object(key)
        size = os.path.getsize(path)
        if metadata.get(SHA256) and hash_file(path).sha256 != metadata[SHA256]:
            raise StoreError(
                f"{key}: {path} does not match its sha256 (changed on disk after download?); "
                "not uploaded; what the store held under that key is unchanged"
            )
        extra: dict[str, object] = {"Metadata": dict(metadata)}
        if metadata.get(SHA256) and size < _PART:
            extra["ChecksumSHA256"] = _b64(metadata[SHA256])
        else:
            extra["ChecksumAlgorithm"] = "SHA256"  # per part: S3 has no whole-object SHA256
        try:
            if "ChecksumSHA256" in extra:
                # One PUT: the transfer manager's threads cost more than a small file does.
                with open(path, "rb") as body:
                    self.client.put_object(Bucket=self.bucket, Key=full, Body=body, **extra)
            else:
                self.client.upload_file(
                    path, self.bucket, full, ExtraArgs=extra, Config=self._transfer
                )
        except Exception as exc:  # s3transfer and botocore raise many types; all mean "not written"
            raise self._fail("uploading", key, exc) from None
        return ObjectInfo(key, size, dict(metadata))

    def put_bytes(self, key: str, data: bytes, metadata: dict[str, str]) -> ObjectInfo:
        full = self._object(key)
        digest = hashlib.sha256(data).hexdigest()
        if metadata.get(SHA256, digest) != digest:
            raise StoreError(
                f"{key}: bytes do not match their sha256; what the store held under that key is "
                "unchanged"
            )
        try:
            self.client.put_object(
                Bucket=self.bucket,
                Key=full,
                Body=data,
                Metadata=dict(metadata),
                ChecksumSHA256=_b64(digest),
            )
        except (ClientError, BotoCoreError) as exc:
            raise self._fail("writing", key, exc) from None
        return ObjectInfo(key, len(data), dict(metadata))

    def set_metadata(self, key: str, metadata: dict[str, str]) -> None:
        """The object copied onto itself with `metadata`: one `CopyObject`, or for an object
        over its 5 GiB limit a multipart copy (S3 refuses the one call for it), which likewise
        makes the object appear with its new metadata only once complete."""
        self._check_lock(key)
        full = self._full(key)
        source = {"Bucket": self.bucket, "Key": full}
        try:
            self.client.copy_object(
                Bucket=self.bucket,
                Key=full,
                CopySource=source,
                Metadata=dict(metadata),
                MetadataDirective="REPLACE",
            )
            return
        except ClientError as exc:
            if _code(exc) != "InvalidRequest" or _COPY_TOO_LARGE not in str(exc):
                raise self._fail("updating metadata of", key, exc) from None
        except BotoCoreError as exc:
            raise self._fail("updating metadata of", key, exc) from None
        extra = {
            "Metadata": dict(metadata),
            "MetadataDirective": "REPLACE",
            "ChecksumAlgorithm": "SHA256",
        }
        try:
            self.client.copy(source, self.bucket, full, ExtraArgs=extra, Config=_LARGE_COPY)
        except Exception as exc:  # s3transfer's own too (the source changed mid-copy)
            raise self._fail("updating metadata of", key, exc) from None

    def open(self, key: str) -> BinaryIO:
        try:
            body = self.client.get_object(Bucket=self.bucket, Key=self._full(key))["Body"]
            raw = _Body(body, lambda exc: self._fail("reading", key, exc, kept=False))
            # Buffered, as a file opened for reading is: `readline` and iteration read the
            # body by the MiB, not a byte at a time.
            return io.BufferedReader(raw, buffer_size=1 << 20)
        except ClientError as exc:
            if _code(exc) in _GONE:
                raise StoreError(f"{key}: no such object in {self.uri}") from None
            raise self._fail("reading", key, exc, kept=False) from None
        except BotoCoreError as exc:
            raise self._fail("reading", key, exc, kept=False) from None

    def delete(self, key: str) -> None:
        self._check_lock(key)
        try:
            self.client.delete_object(Bucket=self.bucket, Key=self._full(key))
        except (ClientError, BotoCoreError) as exc:
            raise self._fail("deleting", key, exc) from None

    def spark_path(self, key: str) -> str:
        return literal_path(f"s3://{self.bucket}/{self._full(key)}")

    def lock(self, name: str, timeout: float = 0.0):
        """An exclusive lock held as the object `.quest-locks/<name>.lock` (see `S3Lock`)."""
        return S3Lock(self, name, timeout)


class _Body(io.RawIOBase):
    """botocore's streaming body, whose failures while it is read become a `StoreError` naming
    the object: botocore retries a request, never a body already being read, and a connection
    cut part-way raised urllib3's or botocore's own error, which quest took for a bug."""

    def __init__(self, body, fail) -> None:
        super().__init__()
        self._body, self._fail = body, fail

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        try:
            return self._body.read(None if size is None or size < 0 else size)
        except (BotoCoreError, HTTPError, OSError) as exc:
            raise self._fail(exc) from None

    def readall(self) -> bytes:
        return self.read()  # in one request of the body, not in 8 KiB pieces

    def readinto(self, buffer) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        if not self.closed:
            self._body.close()
        super().close()


# What a lock read back after a put whose answer was lost tells, when not whether it landed.
_AS_FOUND, _UNREAD = "as found", "unread"


def _lease_clock() -> float:
    """Seconds on a clock that, unlike `time.monotonic` on Linux, goes on while the machine
    sleeps: a lock's expiry is wall-clock time, and a laptop that slept past it has lost it."""
    boottime = getattr(time, "CLOCK_BOOTTIME", None)
    return time.clock_gettime(boottime) if boottime is not None else time.monotonic()


class S3Lock:
    """A lock object created with a conditional put (`If-None-Match: *`), so of two runs only
    one can create it. The holder renews its expiry in the background; a lock whose holder died
    expires after `lock_ttl` and the next run takes it over (a conditional put on its ETag, so
    only one taker wins)."""

    def __init__(self, store: S3Store, name: str, timeout: float) -> None:
        self.store, self.name, self.timeout = store, name, timeout
        self.key = store._full(f"{LOCK_DIR}{name}.lock")
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._etag = ""
        self._stop = threading.Event()
        self._renewer: threading.Thread | None = None
        # The deadline this lock set in `lock_deadlines`: a second lock of the same name on the
        # same store (refused, or taking over a late one) must not drop the other's.
        self._deadline: float | None = None

    def _body(self) -> bytes:
        return json.dumps(
            {"owner": self.owner, "expires": time.time() + self.store.lock_ttl}
        ).encode()

    def _put(self, **condition: str) -> bool:
        sent = _lease_clock()
        try:
            answer = self.store.client.put_object(
                Bucket=self.store.bucket, Key=self.key, Body=self._body(), **condition
            )
        except (ClientError, BotoCoreError) as exc:
            if isinstance(exc, ClientError) and (
                _code(exc) in _CONFLICT or ("IfMatch" in condition and _code(exc) in _GONE)
            ):
                return False
            found = _UNREAD if _refused(exc) else self._landed(condition.get("IfMatch"))
            if isinstance(found, bool):
                return found
            if found == _AS_FOUND:
                lost = "the lock, read back, was as this put found it: nothing was changed"
                if isinstance(exc, (ReadTimeoutError, ConnectionClosedError)):
                    # S3 may still carry out a request whose answer the client gave up on.
                    lost += (
                        f", unless the put, sent but unanswered, lands late: a run started in "
                        f"the next {self.store.lock_ttl:g} s may then find the lock held by "
                        f"{self.owner} until it expires"
                    )
            else:
                # Its answer lost, the put may have landed: "nothing was changed" would be untrue.
                lost = self._may_be_there()
            renewing = bool(self._etag) and condition.get("IfMatch") == self._etag
            action = "renewing" if renewing else "taking"
            raise self.store._fail(
                f"{action} the {self.name} lock on", "", exc, kept=False, lost=lost
            ) from None
        self._etag = answer["ETag"]
        self._renewed(sent)
        return True

    def _landed(self, replaced: str | None) -> bool | str:
        """After a put whose answer was lost (the client's retries spent, or a 500): whether it
        landed, from the lock read once. `replaced` is the ETag a put `If-Match` was to replace
        (None for a put `If-None-Match`).

        True: the lock holds this run's own body under a new ETag, so the put landed and this
        run holds the lock; a rerun need not wait out a lock nobody renews. False: another run's
        body under a new ETag, or (after a put `If-Match`) no object: the lock changed hands,
        and the caller reads it again, as after a refusal. Otherwise the put's error stands:
        `_AS_FOUND`, the lock as the put found it (no object after a put `If-None-Match`, any
        body still under `replaced`), so the put did not land; `_UNREAD`, the lock unreadable,
        so whether it landed is not known."""
        try:
            holder = self._holder()
        except StoreError:
            return _UNREAD
        if holder is None:
            return _AS_FOUND if replaced is None else False
        if replaced is not None and holder[2] == replaced:
            return _AS_FOUND
        if holder[0] != self.owner:
            return False
        self._ours(holder)
        log.warning(
            "the answer to a put of the %s lock on %s was lost; the lock holds this run's own "
            "body, so it holds the lock",
            self.name,
            self.store.uri,
        )
        return True

    def _renewed(self, sent: float) -> None:
        """The lock's expiry was set `lock_ttl` after `sent`; writes stop once three quarters
        of that have passed without another renewal (renewals come every quarter), a margin
        left for the clocks of this machine and of a run that would take the lock over."""
        if self._deadline is None and self.name not in self.store.lock_deadlines:
            # Just taken, no other lock of the name held through this store: what an earlier
            # one left (its last renewal's error, its loss) says nothing of this one.
            self.store.renewal_errors.pop(self.name, None)
            self.store.lost_locks.pop(self.name, None)
        self._deadline = sent + self.store.lock_ttl * 3 / 4
        self.store.lock_deadlines[self.name] = self._deadline

    def _forget_deadline(self) -> None:
        if (
            self._deadline is not None
            and self.store.lock_deadlines.get(self.name) == self._deadline
        ):
            del self.store.lock_deadlines[self.name]

    def _may_be_there(self) -> str:
        return (
            f"the lock object may be there though its answer was lost: a run started in the "
            f"next {self.store.lock_ttl:g} s may find it held by {self.owner} until it expires"
        )

    def _holder(self, after_put: bool = False) -> tuple[str, float, str] | None:
        """The lock's owner, expiry and ETag, None without one. `after_put`: read after a put of
        this run's that was refused, which may be its own landed write met by its retry; a
        failed read then says the lock may be this run's."""
        lost = self._may_be_there() if after_put else ""
        try:
            answer = self.store.client.get_object(Bucket=self.store.bucket, Key=self.key)
            body = read_up_to(answer["Body"], 4096)
        except ClientError as exc:
            if _code(exc) in _GONE:
                return None
            raise self.store._fail(
                f"reading the {self.name} lock on", "", exc, kept=False, lost=lost, landed=after_put
            ) from None
        except (BotoCoreError, HTTPError, OSError) as exc:  # a body cut or stalled as it is read
            raise self.store._fail(
                f"reading the {self.name} lock on", "", exc, kept=False, lost=lost, landed=after_put
            ) from None
        try:
            held = json.loads(body)
            return str(held["owner"]), float(held["expires"]), answer["ETag"]
        except (ValueError, KeyError, TypeError):
            return "unknown", 0.0, answer["ETag"]

    def _ours(self, holder: tuple[str, float, str] | None) -> bool:
        """Whether a conditional put that was refused had in fact landed: the lock holds our
        own body. The client retries a put whose answer it lost, and the retry finds the
        object the first try wrote (a 412 to its own write); its ETag is then ours."""
        if holder is None or holder[0] != self.owner:
            return False
        self._etag = holder[2]
        # Its expiry, written by this run's own clock lock_ttl after the put, tells when.
        self._renewed(_lease_clock() - (self.store.lock_ttl - (holder[1] - time.time())))
        return True

    def _acquire(self) -> None:
        deadline = time.monotonic() + self.timeout
        races = 0
        while True:
            taken = self._put(IfNoneMatch="*")
            holder = None if taken else self._holder()
            if taken or self._ours(holder):
                if self._fresh():
                    return
                holder = self._holder()  # taken over since: read again
            elif holder is not None and holder[1] < time.time():
                dead = holder[0]
                # Refused, the take-over may be this run's own, landed with its answer lost
                # (the retry met the new ETag): the lock read back tells.
                took = self._put(IfMatch=holder[2])
                holder = None if took else self._holder(after_put=True)
                if took or self._ours(holder):
                    if self._fresh():
                        log.warning(
                            "took over the %s lock on %s from %s, whose lock had expired",
                            self.name,
                            self.store.uri,
                            dead,
                        )
                        return
                    holder = self._holder()
            expired = holder is not None and holder[1] < time.time()
            # The lock was released (or taken over by another) between two of our requests:
            # asked again at once, a few times, whatever the timeout.
            if (holder is None or expired) and races < 3:
                races += 1
                continue
            if time.monotonic() >= deadline:
                who = holder[0] if holder else "another run"
                until = ""
                if holder is not None:
                    left = max(0, round(holder[1] - time.time()))
                    until = (
                        f" (its holder renews it while it runs; if that run died, the lock "
                        f"expires in {left} s, and the next run takes it over)"
                    )
                raise LockError(
                    f"the {self.name} lock on {self.store.uri} is held by {who}{until}; wait for "
                    "it to finish or set QUEST_LOCK_TIMEOUT to wait for it"
                )
            time.sleep(0.2)

    def _fresh(self) -> bool:
        """Once the lock is this run's: renewed at once when its first renewal is due already
        (a quarter of its life gone since the put was sent: one answered only after its
        retries, or found landed after they were spent), so that the first write does not find
        it late. False when the renewal finds the lock taken over meanwhile. A renewal that
        fails leaves the lock held, as the renewer's own do: the error is kept for the writes
        and the renewer tries again, and the lock is released on leaving. A renewal refused
        (412) was either this run's own, landed with its answer lost and met by its retry, or
        another run's take-over: the lock read back tells; unreadable, the lock is held as
        after a failed renewal, and its deadline, not extended, stops the writes unless the
        renewer finds it this run's."""
        left = self.store.lock_deadlines[self.name] - _lease_clock()
        if left >= self.store.lock_ttl / 2:  # the deadline is 3/4 of the life after the put
            return True
        try:
            return self._put(IfMatch=self._etag) or self._ours(self._holder(after_put=True))
        except StoreError as exc:
            self._renewal_failed(exc)
            return True

    def _renewal_failed(self, exc: Exception) -> None:
        """Keeps why a renewal failed, for the writes to say should the lock grow late."""
        reason = hide_userinfo(str(exc).split("; ")[0])
        self.store.renewal_errors[self.name] = reason
        log.warning("renewing the %s lock: %s", self.name, reason)

    def _renew(self) -> None:
        while not self._stop.wait(self.store.lock_ttl / 4):
            try:
                if self._put(IfMatch=self._etag):
                    self.store.renewal_errors.pop(self.name, None)
                    continue
                holder = self._holder()
            except (ClientError, BotoCoreError, StoreError) as exc:
                # Tried again at the next quarter; the writes stop once the lock is late.
                self._renewal_failed(exc)
                continue
            if not self._ours(holder):
                why = (
                    f"it was not renewed within its {self.store.lock_ttl:g} s and another "
                    "run took it over"
                    if holder
                    else "its object was deleted while this run held it"
                )
                lost = f"lost the {self.name} lock on {self.store.uri}: {why}"
                self.store.lost_locks[self.name] = lost
                log.error("%s", lost)
                return
            self.store.renewal_errors.pop(self.name, None)  # a renewal landed, its answer lost

    def __enter__(self) -> S3Lock:
        try:
            self._acquire()
        except BaseException:
            self._forget_deadline()  # no deadline of a lock not held
            raise
        self._renewer = threading.Thread(target=self._renew, daemon=True, name=f"lock-{self.name}")
        self._renewer.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        if self._renewer is not None:
            self._renewer.join()
        self._forget_deadline()
        try:
            try:
                self._delete(self._etag)
            except ClientError as exc:
                # A renewal that landed with its answer lost left `_etag` behind: the lock is
                # released all the same when it still holds this run's body.
                holder = self._holder() if _code(exc) in _CONFLICT else None
                if holder is None or holder[0] != self.owner:
                    raise
                self._delete(holder[2])
        except ClientError as exc:
            if _code(exc) not in _CONFLICT and _code(exc) not in _GONE:  # (another's, or gone)
                self._release_failed(exc)
        except (BotoCoreError, StoreError) as exc:
            self._release_failed(exc)

    def _release_failed(self, exc: Exception) -> None:
        """A release that failed leaves the lock for its life: the next run is told it is held
        by a run that renews it, so this run says what happened. A delete whose answer was lost
        (a timeout, a 500) may have landed all the same; a `StoreError` is the read of the lock
        after a delete refused (412)."""
        landed = (
            "the delete may have landed all the same; if it did not, "
            if _may_have_been_done(exc)
            else ""
        )
        log.warning(
            "could not release the %s lock on %s (%s): %sthe next run finds it held until it "
            "expires, %g s after its last renewal",
            self.name,
            self.store.uri,
            hide_userinfo(str(exc).split("; ")[0]),
            landed,
            self.store.lock_ttl,
        )

    def _delete(self, etag: str) -> None:
        self.store.client.delete_object(Bucket=self.store.bucket, Key=self.key, IfMatch=etag)
