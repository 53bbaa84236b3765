"""A publisher's web server on loopback, for what fetches pages by URL (the API, the CLI, the
widget asking by URL): a few pages, some that misbehave, and a record of what was asked."""

from __future__ import annotations

import gzip
import http.server
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

PAGE = (
    "<html><head><title>Bridge reopens</title></head><body><nav><a href='/'>Home</a></nav>"
    "<h1>Bridge reopens</h1><p>The old bridge reopened on Monday after two years.</p>"
    "<p>Mayor Ana Ruiz cut the ribbon.<br>Crowds cheered.</p></body></html>"
)


@dataclass
class Publisher:
    """A loopback web server with a few pages, and what it was asked."""

    port: int = 0
    pages: dict[str, str] = field(default_factory=lambda: {"/story": PAGE})
    hosts: list[str] = field(default_factory=list)  # the Host header of every request
    delay_s: float = 0.0  # before each page in ``pages`` is sent

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@contextmanager
def publishing() -> Iterator[Publisher]:
    """The server, running until the block ends."""
    state = Publisher()

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *_: object) -> None:
            pass

        def send(self, status: int, body: bytes, kind: str = "text/html; charset=utf-8") -> None:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            state.hosts.append(self.headers.get("Host", ""))
            path = self.path
            if path.startswith("/hops/"):  # /hops/N redirects N times, then to the story
                left = int(path.removeprefix("/hops/"))
                self.send_response(302)
                self.send_header("Location", f"/hops/{left - 1}" if left > 1 else "/story")
                self.end_headers()
            elif path == "/to-metadata":
                self.send_response(301)
                self.send_header("Location", "http://169.254.169.254/latest/meta-data/")
                self.end_headers()
            elif path == "/big":
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.end_headers()  # no length: refused while it streams
                for _ in range(700):
                    self.wfile.write(b"<p>" + b"x" * 10_000 + b"</p>")
            elif path == "/gzip-bomb":
                body = gzip.compress(b"<p>" + b"x" * 8_000_000 + b"</p>")
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Encoding", "gzip")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            elif path == "/stall":
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.end_headers()
                self.wfile.write(b"<p>Start")
                self.wfile.flush()
                time.sleep(20)
            elif path == "/image":
                self.send(200, b"\x89PNG\r\n", "image/png")
            elif path == "/latin1":
                self.send(200, "<p>Café opens in Zürich.</p>".encode("latin-1"), "text/html")
            elif path == "/broken":
                self.send(500, b"oops")
            elif path in state.pages:
                time.sleep(state.delay_s)
                self.send(200, state.pages[path].encode())
            else:
                self.send(404, b"not here")

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
