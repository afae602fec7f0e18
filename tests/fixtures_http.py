"""A static file server on 127.0.0.1 that stands in for the benchmarks' original download sites.

``FileServer.add(url_path, data)`` serves bytes under a URL path (the original site's path, so
``GENOZOO_DATA_MIRROR=server.url`` makes genozoo fetch from here with the URLs it knows). Faults for failure tests:
``server.corrupt[path] = offset`` flips one byte at that offset; ``server.truncate[path] = n`` announces the full
``Content-Length`` but hangs up after ``n`` bytes (an interrupted download). Folder paths ending in ``/`` get an
Apache-style HTML listing of their sub-folders. ``server.requests`` logs ``(method, path)``.

The ``file_server`` fixture starts one per test and sets ``GENOZOO_DATA_MIRROR`` to it.
"""
from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Iterator

import pytest


class FileServer:
    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.corrupt: dict[str, int] = {}
        self.truncate: dict[str, int] = {}
        self.requests: list[tuple[str, str]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:  # quiet
                pass

            def do_GET(self) -> None:  # noqa: N802 - http.server API
                path = self.path.split("?", 1)[0]
                server.requests.append(("GET", path))
                if path.endswith("/"):
                    children = sorted({p[len(path):].split("/", 1)[0] for p in server.files
                                       if p.startswith(path) and "/" in p[len(path):]})
                    if not children:
                        return self._send(404, b"not found")
                    links = "".join(f'<tr><td><a href="{c}/">{c}/</a></td></tr>\n' for c in children)
                    body = (f'<html><body><table><tr><th><a href="?C=N;O=D">Name</a></th></tr>'
                            f'<tr><td><a href="/">Parent Directory</a></td></tr>\n{links}</table></body></html>')
                    return self._send(200, body.encode(), "text/html")
                data = server.files.get(path)
                if data is None:
                    return self._send(404, b"not found")
                if path in server.corrupt:
                    i = server.corrupt[path]
                    data = data[:i] + bytes([data[i] ^ 0x01]) + data[i + 1:]
                if path in server.truncate:
                    self.send_response(200)
                    self.send_header("Content-Length", str(len(data)))
                    self.send_header("Content-Type", "application/octet-stream")
                    self.end_headers()
                    self.wfile.write(data[:server.truncate[path]])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self._send(200, data)

            def _send(self, status: int, body: bytes, ctype: str = "application/octet-stream") -> None:
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Content-Type", ctype)
                self.end_headers()
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def add(self, path: str, data: bytes) -> None:
        self.files[path] = data

    def start(self) -> "FileServer":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def file_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[FileServer]:
    """A loopback file server for one test, with ``GENOZOO_DATA_MIRROR`` pointing at it and online mode."""
    server = FileServer().start()
    monkeypatch.setenv("GENOZOO_DATA_MIRROR", server.url)
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "0")
    try:
        yield server
    finally:
        server.stop()
