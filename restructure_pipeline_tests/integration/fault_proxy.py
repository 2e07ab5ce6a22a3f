"""A tiny HTTP proxy on 127.0.0.1 in front of the real OpenSearch node that injects faults.

It answers the first ``fail_times`` bulk requests with ``status`` (429 or 503) and forwards
everything else unchanged: the retries are proven against a real node, not a mock.
"""

from __future__ import annotations

import http.client
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit


class FaultProxy:
    def __init__(self, upstream_url: str, *, status: int, fail_times: int, path_suffix: str = "/_bulk") -> None:
        target = urlsplit(upstream_url)
        self.upstream = (target.hostname, target.port)
        self.status = status
        self.remaining_faults = fail_times
        self.path_suffix = path_suffix
        self.faults_injected = 0
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

    def _should_fail(self, path: str) -> bool:
        with self._lock:
            if self.remaining_faults > 0 and path.split("?")[0].endswith(self.path_suffix):
                self.remaining_faults -= 1
                self.faults_injected += 1
                return True
            return False

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _relay(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                if proxy._should_fail(self.path):
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
