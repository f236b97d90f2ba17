"""A local look-alike of BLS and DataUSA on 127.0.0.1, for offline runs and tests.

BLS: `<data>/bls/pr/**` is served under `/pub/time.series/pr/` with an IIS `<pre>` listing in the
exact format of download.bls.gov (one line, absolute upper-case `A HREF`s, parent link first,
`&lt;dir&gt;` for folders), `Last-Modified`, `ETag`, `Content-Length`, conditional GET (304), and
403 for a User-Agent without a contact e-mail, as BLS does.

DataUSA: the tesseract path answers with the first of `<data>/datausa/population.json` and
`population.tesseract.json`; the legacy `/api/data` path with `<data>/datausa/legacy/
population_data.json`, or the tesseract records converted to the legacy shape.

A `FaultPlan` makes the next N requests of a path answer the way a broken or hostile server
would, over real HTTP, so tests drive every failure through the real client code: an error
status (with `Retry-After`, a `Location`, any headers), a hang, a body cut short, a replaced body
with any status, headers and `Content-Length` (malformed, too short, absent), a body sent a few
bytes at a time, and a body that never ends.
"""

from __future__ import annotations

import contextlib
import email.utils
import html
import json
import re
import shlex
import signal
import sys
import tempfile
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

from quest.errors import ConfigError

BLS_ROOT = "/pub/time.series/pr/"
TESSERACT_PATH = "/tesseract/data.jsonrecords"
TESSERACT_QUERY = (
    "?cube=acs_yg_total_population_1&drilldowns=Year%2CNation&locale=en&measures=Population"
)
LEGACY_PATH = "/api/data"
LEGACY_QUERY = "?drilldowns=Nation&measures=Population"
_NOT_FOUND = b"<html>404 - File or directory not found.</html>"
_EMAIL = re.compile(r"[^@\s()<>+]+@[^@\s()<>]+\.[A-Za-z]{2,}")


@dataclass
class Fault:
    """One injected answer for the next `times` requests of a path.

    kind:
        "status": answer `status` (default 500) with `body`, `headers` and `retry_after`;
            a redirect is a status with a `Location` header.
        "hang": sleep `seconds`, then answer normally.
        "cut": promise the full `Content-Length`, send `after` bytes, close.
        "body": answer `status` (default 200) with `body` (None: the real content) instead of
            the real answer.
        "trickle": send the body (`body`, or the real content) `chunk` bytes every `seconds`.
        "endless": send the body, then `filler` (default: `chunk` bytes of "x") again and again
            until the client leaves.
    Every kind but "hang" also takes `headers` (added, or replacing ours; "" removes one),
    `content_type` (None: the real one) and `length`: the `Content-Length` to send instead of the
    body's ("" for none, so the body ends when the connection closes). A faulty answer always
    closes the connection.
    """

    kind: str
    times: int = 1
    status: int | None = None
    retry_after: str | None = None
    seconds: float = 5.0
    after: int = 0
    body: bytes | None = None
    content_type: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    length: str | None = None
    chunk: int = 1
    filler: bytes | None = None


class FaultPlan:
    """Per-path queues of faults; thread-safe, consumed one request at a time."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: dict[str, list[Fault]] = {}

    def add(self, path: str, kind: str, times: int = 1, **options: object) -> Fault:
        fault = Fault(kind=kind, times=times, **options)  # type: ignore[arg-type]
        with self._lock:
            self._faults.setdefault(path, []).append(fault)
        return fault

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def take(self, path: str) -> Fault | None:
        with self._lock:
            queue = self._faults.get(path, [])
            while queue and queue[0].times <= 0:
                queue.pop(0)
            if not queue:
                return None
            queue[0].times -= 1
            return queue[0]


def listing_html(url_path: str, folder: Path) -> str:
    """The IIS listing page of `folder`, served at `url_path` (ends with '/')."""
    parent = url_path.rstrip("/").rsplit("/", 1)[0] + "/"
    title = f"download.bls.gov - {url_path}"
    entries = [f'<A HREF="{parent}">[To Parent Directory]</A><br><br>']
    for child in sorted(folder.iterdir(), key=lambda p: p.name):
        if child.name.startswith("."):
            continue
        stat = child.stat()
        when = datetime.fromtimestamp(stat.st_mtime, tz=UTC)
        date = f"{when.month}/{when.day}/{when.year}"
        clock = f"{(when.hour % 12) or 12}:{when.minute:02d} {'PM' if when.hour >= 12 else 'AM'}"
        # IIS pads the column for the visible "<dir>", not for its escaped form.
        size = f"{'':>7}&lt;dir&gt;" if child.is_dir() else f"{stat.st_size:>12}"
        href = url_path + quote(child.name) + ("/" if child.is_dir() else "")
        entries.append(
            f'{date:>10} {clock:>8} {size} <A HREF="{href}">{html.escape(child.name)}</A><br>'
        )
    return (
        f"<html><head><title>{title}</title></head><body><H1>{title}</H1><hr>\r\n\r\n"
        f"<pre>{''.join(entries)}</pre><hr></body></html>"
    )


def _pieces(body: bytes | Path, size: int, step: int):
    """The first `size` bytes of `body`, `step` bytes at a time."""
    if isinstance(body, bytes):
        for start in range(0, size, step):
            yield body[start : min(size, start + step)]
        return
    with open(body, "rb") as handle:
        left = size
        while left and (chunk := handle.read(min(left, step))):
            yield chunk
            left -= len(chunk)


def etag_of(path: Path) -> str:
    stat = path.stat()
    return f'"{stat.st_mtime_ns:x}:{stat.st_size:x}"'


def legacy_from_tesseract(payload: dict) -> dict:
    """The old `datausa.io/api/data` answer built from tesseract records (newest year first)."""
    rows = sorted(payload["data"], key=lambda r: r["Year"], reverse=True)
    return {
        "data": [
            {
                "ID Nation": r["Nation ID"],
                "Nation": r["Nation"],
                "ID Year": int(r["Year"]),
                "Year": str(r["Year"]),
                "Population": int(r["Population"]),
                "Slug Nation": r["Nation"].lower().replace(" ", "-"),
            }
            for r in rows
        ],
        "source": [
            {
                "measures": ["Population"],
                "annotations": {
                    "source_name": "Census Bureau",
                    "dataset_name": "ACS 1-year Estimate",
                },
            }
        ],
    }


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    server_version = "Microsoft-IIS/10.0"

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib name
        pass

    def do_HEAD(self) -> None:  # noqa: N802 - stdlib name
        self._answer(head=True)

    def do_GET(self) -> None:  # noqa: N802 - stdlib name
        self._answer(head=False)

    def _send(
        self,
        status: int,
        body: bytes | Path,
        content_type: str,
        head: bool = False,
        headers: dict[str, str] | None = None,
        fault: Fault | None = None,
    ) -> None:
        """Answer; a Path body is streamed from disk so big files keep memory flat."""
        size = body.stat().st_size if isinstance(body, Path) else len(body)
        cut = fault.after if fault is not None and fault.kind == "cut" else None
        sent = 0 if head or status in (204, 304) else size if cut is None else min(cut, size)
        self.server.record(self.command, self.path, status, sent)
        self.log_request(status)
        self.send_response_only(status)
        # Server and Date as `send_response` sends them, but a fault may replace them (a server
        # whose clock is off) or leave them out.
        merged = {
            "Server": self.version_string(),
            "Date": self.date_time_string(),
            "Content-Type": content_type,
            "Content-Length": str(size),
            **(headers or {}),
        }
        if fault is not None:
            merged.update({"Content-Type": fault.content_type or content_type, **fault.headers})
            if fault.length is not None:
                merged["Content-Length"] = fault.length
            merged["Connection"] = "close"
            self.close_connection = True
        for name, value in merged.items():
            if value != "":  # a fault removes a header by giving it no value
                self.send_header(name, value)
        self.end_headers()
        if head or status in (204, 304):
            return
        try:
            self._write_body(body, sent, fault)
        except OSError:
            self.close_connection = True  # the client went away: nothing more to send

    def _write_body(self, body: bytes | Path, sent: int, fault: Fault | None) -> None:
        trickle = fault is not None and fault.kind == "trickle"
        step = max(1, fault.chunk) if trickle and fault is not None else 1 << 20
        for piece in _pieces(body, sent, step):
            self.wfile.write(piece)
            self.wfile.flush()
            if trickle and fault is not None and self.server.stopping.wait(fault.seconds):
                return
        if fault is not None and fault.kind == "endless":
            filler = fault.filler or b"x" * max(1, fault.chunk)
            while not self.server.stopping.is_set():
                self.wfile.write(filler)
        self.wfile.flush()

    def _answer(self, head: bool) -> None:
        path = unquote(urlsplit(self.path).path)
        fault = self.server.faults.take(path)
        if fault is not None and fault.kind == "hang":
            self.server.stopping.wait(fault.seconds)
            fault = None
        if fault is not None and fault.kind == "status":
            extra = {"Retry-After": fault.retry_after} if fault.retry_after else {}
            body = b"<html>error</html>" if fault.body is None else fault.body
            self._send(fault.status or 500, body, "text/html", head, extra, fault)
            return
        # A faulty answer replaces whatever the path holds, even a 304 or a 404.
        status, body, content_type, headers = self._resolve(path, conditional=fault is None)
        if fault is not None and fault.body is not None:
            body = fault.body
            status = 200 if status >= 300 else status
        if fault is not None and fault.status is not None:
            status = fault.status
        self._send(status, body, content_type, head, headers, fault)

    def _resolve(self, path: str, conditional: bool) -> tuple[int, bytes | Path, str, dict]:
        """The answer for `path`: status, body, content type and headers."""
        data = self.server.data_dir
        if path.startswith(BLS_ROOT) or path == BLS_ROOT.rstrip("/"):
            return self._bls(path, conditional)
        if path == TESSERACT_PATH:
            for name in ("population.json", "population.tesseract.json"):
                if (data / "datausa" / name).is_file():
                    return 200, data / "datausa" / name, "application/json", {}
        if path == LEGACY_PATH:
            legacy = data / "datausa" / "legacy" / "population_data.json"
            if legacy.is_file():
                return 200, legacy, "application/json", {}
            for name in ("population.json", "population.tesseract.json"):
                if (data / "datausa" / name).is_file():
                    payload = json.loads((data / "datausa" / name).read_text())
                    body = json.dumps(legacy_from_tesseract(payload)).encode()
                    return 200, body, "application/json", {}
        return 404, _NOT_FOUND, "text/html", {}

    def _bls(self, path: str, conditional: bool) -> tuple[int, bytes | Path, str, dict]:
        if not _EMAIL.search(self.headers.get("User-Agent", "")):
            # BLS answers 403 to clients that do not say who they are.
            return 403, b"<html>403 - Forbidden: Access is denied.</html>", "text/html", {}
        target = self._bls_target(path)
        if target is None:
            return 404, _NOT_FOUND, "text/html", {}
        if target.is_dir():
            if not path.endswith("/"):
                # As a real server does: the query goes with the slash.
                query = urlsplit(self.path).query
                location = quote(path) + "/" + (f"?{query}" if query else "")
                return 301, b"", "text/html", {"Location": location}
            return 200, listing_html(path, target).encode(), "text/html", {}
        etag = etag_of(target) if self.server.etags else None
        mtime = target.stat().st_mtime
        headers = {
            "ETag": etag or "",  # "": not sent
            "Last-Modified": email.utils.formatdate(mtime, usegmt=True),
            "Accept-Ranges": "bytes",
        }
        if conditional and self._not_modified(etag, mtime):
            return 304, b"", "application/octet-stream", headers
        return 200, target, "text/plain", headers

    def _bls_target(self, path: str) -> Path | None:
        """The file or folder under the BLS root that `path` names, or None when it names none."""
        root = (self.server.data_dir / "bls" / "pr").resolve()
        try:
            target = (root / path[len(BLS_ROOT) :].lstrip("/")).resolve()
            if target != root and root not in target.parents or not target.exists():
                return None
        except (ValueError, OSError):  # a NUL, a name too long for the disk
            return None
        return target

    def _not_modified(self, etag: str | None, mtime: float) -> bool:
        match = self.headers.get("If-None-Match")
        if match is not None:
            return etag in [tag.strip() for tag in match.split(",")] or match.strip() == "*"
        since = self.headers.get("If-Modified-Since")
        if since:
            try:
                return int(mtime) <= email.utils.parsedate_to_datetime(since).timestamp()
            except (TypeError, ValueError, IndexError, OverflowError):
                return False
        return False


# How often the serving thread looks for a stop request. `serve_forever`'s default, 0.5 s, is
# what every stop waits at worst: a test suite that starts a mirror per test paid it hundreds of
# times. Looking 20 times a second costs nothing measurable.
STOP_POLL_SECONDS = 0.05


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(
        self, address: tuple[str, int], data_dir: Path, faults: FaultPlan, etags: bool = True
    ) -> None:
        super().__init__(address, _Handler)
        self.data_dir = data_dir
        self.faults = faults
        self.etags = etags
        self.stopping = threading.Event()
        self.log: list[tuple[str, str, int, int]] = []
        self._log_lock = threading.Lock()

    def record(self, method: str, path: str, status: int, size: int) -> None:
        with self._log_lock:
            self.log.append((method, path, status, size))

    def handle_error(self, request, client_address) -> None:
        """A client gone mid-request (a sync stopped with Ctrl-C, a connection reset) is no
        fault of the mirror's: `socketserver` would print its traceback into the terminal of
        `quest mirror`. Any other error is printed, as by default."""
        if not client_gone():
            super().handle_error(request, client_address)


def client_gone() -> bool:
    """True while handling an error that says the client went away (a reset, a broken pipe),
    which a server of a test or of the mirror does not report."""
    return isinstance(sys.exc_info()[1], ConnectionResetError | BrokenPipeError)


class MirrorServer:
    """Serve `data_dir` as BLS and DataUSA on `host:port` (0: a free port) in a thread.

    Use as a context manager; `.url`, `.bls_url`, `.datausa_url` and `.datausa_legacy_url` are
    the addresses to point the settings at, `.faults` the fault plan, `.log` every request as
    (method, path, status, body bytes sent). `etags=False` serves files as a server without
    entity tags does: no `ETag`, conditional GET by date alone.
    """

    def __init__(
        self,
        data_dir: str | Path,
        host: str = "127.0.0.1",
        port: int = 0,
        faults: FaultPlan | None = None,
        etags: bool = True,
    ) -> None:
        self.data_dir = Path(data_dir).resolve()
        self.faults = faults if faults is not None else FaultPlan()
        self._server = _Server((host, port), self.data_dir, self.faults, etags)
        self.host, self.port = self._server.server_address[:2]
        self.url = f"http://{self.host}:{self.port}"
        self.bls_url = self.url + BLS_ROOT
        self.datausa_url = self.url + TESSERACT_PATH + TESSERACT_QUERY
        self.datausa_legacy_url = self.url + LEGACY_PATH + LEGACY_QUERY
        self._thread: threading.Thread | None = None

    @property
    def log(self) -> list[tuple[str, str, int, int]]:
        return self._server.log

    def bodies_sent(self, prefix: str = BLS_ROOT) -> list[str]:
        """Paths of files whose body was sent (200 with bytes), listings excluded."""
        return [
            p
            for m, p, s, n in self.log
            if m == "GET" and s == 200 and n and p.startswith(prefix) and not p.endswith("/")
        ]

    def start(self) -> MirrorServer:
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": STOP_POLL_SECONDS},
            daemon=True,
            name="quest-mirror",
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.stopping.set()
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join()

    def __enter__(self) -> MirrorServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def serve_forever(data_dir: str | Path | None = None, port: int = 0) -> None:
    """`quest mirror`: serve `data_dir` (default: a freshly generated sample) until Ctrl-C.

    SIGTERM (`kill`) and SIGHUP (its terminal closed) end it as Ctrl-C does, so that the
    generated sample's temporary folder is removed either way.

    Raises:
        ConfigError: a port the mirror cannot listen on (taken, or not a port).
    """
    with contextlib.ExitStack() as stack:
        # Before anything is written or printed: a signal that came between the first line and
        # the handlers killed the process with its sample left behind.
        if threading.current_thread() is threading.main_thread():
            for stop in _STOPS:
                # Only where the signal would kill it: `nohup` (SIGHUP ignored) and a program
                # with a handler of its own keep theirs.
                if signal.getsignal(stop) is signal.SIG_DFL:
                    signal.signal(stop, _stop_on_signal)
                    stack.callback(signal.signal, stop, signal.SIG_DFL)
        try:
            _serve(stack, data_dir, port)
        except (KeyboardInterrupt, _Terminated):
            print("mirror stopped")


def _serve(stack: contextlib.ExitStack, data_dir: str | Path | None, port: int) -> None:
    """`serve_forever`'s body: the sample (a temporary folder `stack` removes), then the server."""
    from quest.mirror.sample import generate_sample

    if data_dir:
        folder = Path(data_dir)
    else:
        scratch = stack.enter_context(tempfile.TemporaryDirectory(prefix="quest-mirror-"))
        folder = generate_sample(Path(scratch) / "data")
    try:
        server = MirrorServer(folder, port=port)
    except (OSError, OverflowError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ConfigError(
            f"--port {port}: the mirror cannot listen there ({reason}); choose another "
            "port, or leave --port out for a free one"
        ) from None
    with server as mirror:
        print(f"serving {folder} (Ctrl-C to stop)", flush=True)
        # Quoted for the shell: the DataUSA URL holds `&`, which would cut an unquoted export.
        print(f"  export QUEST_BLS_URL={shlex.quote(mirror.bls_url)}")
        print(f"  export QUEST_DATAUSA_URL={shlex.quote(mirror.datausa_url)}")
        print(f"  legacy DataUSA shape: {mirror.datausa_legacy_url}", flush=True)
        threading.Event().wait()


class _Terminated(Exception):
    """SIGTERM or SIGHUP arrived: `serve_forever` stops as it does on Ctrl-C."""


# `kill`; the terminal closed.
_STOPS = (signal.SIGTERM, signal.SIGHUP)


def _stop_on_signal(signum: int, frame: object) -> None:
    for stop in _STOPS:  # a second signal must not cut the sample's removal short
        if signal.getsignal(stop) is _stop_on_signal:
            signal.signal(stop, signal.SIG_IGN)
    raise _Terminated
