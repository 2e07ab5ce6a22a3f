"""OpenSearch client options at the request level: basic auth, certificate verification.

A tiny local HTTPS server (self-signed certificate made with openssl) records what the
client sends; nothing leaves 127.0.0.1.
"""

from __future__ import annotations

import base64
import json
import shutil
import ssl
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from opensearchpy.exceptions import SSLError

from restructure_pipeline.resources import OpenSearchResource

_INFO = {"name": "fake", "cluster_name": "c", "version": {"number": "2.19.6", "distribution": "opensearch"},
         "tagline": "The OpenSearch Project: https://opensearch.org/"}


@pytest.fixture
def https_server(tmp_path: Path) -> Iterator[tuple[str, Path, list[dict]]]:
    if shutil.which("openssl") is None:
        pytest.fail("openssl is needed to make the test certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )
    seen: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            seen.append({key.lower(): value for key, value in self.headers.items()})
            body = json.dumps(_INFO).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}", cert, seen
    finally:
        server.shutdown()
        server.server_close()


def test_basic_auth_is_sent_from_the_configured_user_and_password(https_server) -> None:
    url, cert, seen = https_server
    client = OpenSearchResource(url=url, user="indexer", password="s3cret-value", ca_certs=str(cert)).client()
    assert client.info()["version"]["number"] == "2.19.6"
    expected = "Basic " + base64.b64encode(b"indexer:s3cret-value").decode()
    assert seen[-1].get("authorization") == expected


def test_no_credentials_means_no_authorization_header(https_server) -> None:
    url, cert, seen = https_server
    OpenSearchResource(url=url, ca_certs=str(cert)).client().info()
    assert "authorization" not in seen[-1]


def test_an_untrusted_certificate_is_refused_when_verifying(https_server) -> None:
    url, _, seen = https_server
    with pytest.raises(SSLError):
        OpenSearchResource(url=url, verify_certs=True).client().info()
    assert seen == []


def test_verification_can_be_turned_off_explicitly(https_server) -> None:
    url, _, seen = https_server
    assert OpenSearchResource(url=url, verify_certs=False).client().info()["cluster_name"] == "c"
    assert len(seen) == 1
