"""A small HTTP proxy in front of moto's S3 server that makes chosen PUTs and GETs fail.

S3 clients talk to it as their endpoint; it forwards every request to moto unchanged, except
PUTs whose path contains a planned marker: those answer 500 (an S3 InternalError), hang and
drop the connection, or are done by moto and their answer dropped; and GETs whose path contains one: those send half the body under the whole
body's `Content-Length` and drop the connection, for the next N matching requests.
"""

from __future__ import annotations

import http.client
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

from quest.mirror.server import STOP_POLL_SECONDS, client_gone

_HOP = {"connection", "keep-alive", "transfer-encoding", "expect", "proxy-connection"}
INTERNAL_ERROR = (
    b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>InternalError</Code>'
    b"<Message>We encountered an internal error. Please try again.</Message></Error>"
)


class _Handler(BaseHTTPRequestHandler):
    server: _ProxyServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib name
        pass

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _relay(self) -> None:
        body = self._body()
        fault = self.server.take(self.command, self.path)
        if fault == "500":
            self.send_response(500)
            self.send_header("Content-Type", "application/xml")
            self.send_header("Content-Length", str(len(INTERNAL_ERROR)))
            self.end_headers()
            self.wfile.write(INTERNAL_ERROR)
            return
        if fault == "hang":
            self.server.stopping.wait(self.server.hang_seconds)
            self.close_connection = True
            return
        headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP}
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            headers["Content-Length"] = str(len(body))
        upstream = http.client.HTTPConnection(self.server.target, timeout=30)
        try:
            upstream.request(self.command, self.path, body=body or None, headers=headers)
            answer = upstream.getresponse()
            data = answer.read()
            if fault == "lose":  # S3 did the write; its answer never reaches the client
                self.close_connection = True
                return
            self.send_response(answer.status, answer.reason)
            for name, value in answer.getheaders():
                if name.lower() not in _HOP and name.lower() != "content-length":
                    self.send_header(name, value)
            length = answer.getheader("Content-Length") if self.command == "HEAD" else None
            self.send_header("Content-Length", length or str(len(data)))
            self.end_headers()
            if fault == "cut":
                self.wfile.write(data[: len(data) // 2])
                self.wfile.flush()
                self.close_connection = True
            elif self.command != "HEAD":
                self.wfile.write(data)
        finally:
            upstream.close()

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _relay  # noqa: N815 - stdlib names


class _ProxyServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, target: str) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.target = target
        self.hang_seconds = 5.0
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        self._plan: list[list] = []
        self.failed: list[str] = []

    def handle_error(self, request, client_address) -> None:
        # A client the test cut off (a reset, a pipe closed) is the test's doing: no traceback.
        if not client_gone():
            super().handle_error(request, client_address)

    def take(self, method: str, path: str) -> str | None:
        with self._lock:
            for entry in self._plan:
                kind, marker, left, planned = entry
                if method == planned and marker in path and left > 0:
                    entry[2] -= 1
                    self.failed.append(f"{kind} {path}")
                    return kind
        return None


class FaultyS3Proxy:
    """`with FaultyS3Proxy(moto_endpoint) as proxy:` then use `proxy.url` as the S3 endpoint."""

    def __init__(self, endpoint: str) -> None:
        self._server = _ProxyServer(urlsplit(endpoint).netloc)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": STOP_POLL_SECONDS},
            daemon=True,
        )

    @property
    def failed(self) -> list[str]:
        return self._server.failed

    def fail_puts(
        self, marker: str, kind: str = "500", times: int = 1, hang_seconds: float = 5.0
    ) -> None:
        """Make the next `times` PUTs whose path contains `marker` answer 500, hang, or (`lose`)
        reach moto and have its answer dropped, the connection closed."""
        self._server.hang_seconds = hang_seconds
        with self._server._lock:
            self._server._plan.append([kind, marker, times, "PUT"])

    def cut_gets(self, marker: str, times: int = 1) -> None:
        """Make the next `times` GETs whose path contains `marker` stop half-way through the
        body, the connection dropped (its headers promised the whole)."""
        with self._server._lock:
            self._server._plan.append(["cut", marker, times, "GET"])

    def clear(self) -> None:
        with self._server._lock:
            self._server._plan.clear()

    def __enter__(self) -> FaultyS3Proxy:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()
