"""A webhook receiver on 127.0.0.1 for tests of a real swarm-sentinel process: it keeps
every POST (body, headers, query) and answers 200, or hangs until it is stopped."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit


@dataclass(frozen=True)
class Post:
    path: str
    query: str
    headers: dict[str, str]
    body: dict[str, Any]


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that gave up on a hung answer: nothing to say


class Receiver:
    def __init__(self, hang: bool = False) -> None:
        self.hang = hang
        self.posts: list[Post] = []
        self.release = threading.Event()
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                size = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(size) or b"null")
                url = urlsplit(self.path)
                with receiver._lock:
                    receiver.posts.append(Post(url.path, url.query, dict(self.headers), body))
                if receiver.hang:
                    receiver.release.wait(120)
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = _Server(("127.0.0.1", 0), Handler)
        self.port = int(self.server.server_address[1])
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self) -> Receiver:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(5)

    @property
    def bodies(self) -> list[dict[str, Any]]:
        with self._lock:
            return [p.body for p in self.posts]
