"""A tiny HTTP proxy on 127.0.0.1 in front of the real OpenSearch node that injects faults.

It answers matching requests with ``status`` (429 or 503) and forwards everything else
unchanged: the retries are proven against a real node, not a mock. Which requests fail:

- ``fail_times=N``: the first N requests whose path ``paths`` accepts (default: ``_bulk``);
- ``fail_for_seconds=S``: every request ``paths`` accepts during S seconds from the first
  one (an outage of the cluster, as a node restart would cause).
"""

from __future__ import annotations

import http.client
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit


def bulk_paths(path: str) -> bool:
    return path.split("?")[0].rstrip("/").endswith("/_bulk")


def non_bulk_paths(path: str) -> bool:
    return not bulk_paths(path)


class FaultProxy:
    def __init__(
        self, upstream_url: str, *, status: int, fail_times: int = 0, fail_for_seconds: float = 0.0,
        paths: Callable[[str], bool] = bulk_paths,
    ) -> None:
        target = urlsplit(upstream_url)
        self.upstream = (target.hostname, target.port)
        self.status = status
        self.remaining_faults = fail_times
        self.fail_for_seconds = fail_for_seconds
        self.paths = paths
        self.faults_injected = 0
        self.failed_requests: list[str] = []  # "METHOD path" of every request answered with the fault
        self.outage_started: float | None = None
        self.outage_ended: float | None = None  # when the first request after the outage got through
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> FaultProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _should_fail(self, method: str, path: str) -> bool:
        with self._lock:
            if not self.paths(path):
                return False
            fail = False
            if self.remaining_faults > 0:
                self.remaining_faults -= 1
                fail = True
            elif self.fail_for_seconds:
                now = time.monotonic()
                if self.outage_started is None:
                    self.outage_started = now
                if now - self.outage_started < self.fail_for_seconds:
                    fail = True
                elif self.outage_ended is None:
                    self.outage_ended = now
            if fail:
                self.faults_injected += 1
                self.failed_requests.append(f"{method} {path.split('?')[0]}")
            return fail

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _relay(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                if proxy._should_fail(self.command, self.path):
                    payload = b'{"error":{"type":"es_rejected_execution_exception"},"status":%d}' % proxy.status
                    self.send_response(proxy.status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                    return
                upstream = http.client.HTTPConnection(*proxy.upstream, timeout=60)
                headers = {key: value for key, value in self.headers.items() if key.lower() != "host"}
                upstream.request(self.command, self.path, body=body, headers=headers)
                response = upstream.getresponse()
                data = response.read()
                self.send_response(response.status)
                for key, value in response.getheaders():
                    if key.lower() not in ("transfer-encoding", "connection", "content-length"):
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                upstream.close()

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _relay

        return Handler
