"""A real HTTP receiver for the webhook adapters' tests, on 127.0.0.1 in a thread.

It records every request (headers and raw body), and answers each path by a script the
test writes: a status with a JSON body and headers, or a hang (no answer until the test
ends). Past its script a path answers like a real idempotent receiver: 200 the first time
a key comes, 409 with the same body for a key it has taken before.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from adapters.webhook import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify

SECRET = "test-webhook-secret-0123456789abcdef0123456789"


@dataclass(frozen=True)
class Reply:
    status: int = 200
    body: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    #: Answer nothing until the receiver stops (the client's timeout fires first).
    hang: bool = False


HANG = Reply(hang=True)


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]  # lower-case names
    body: bytes

    @property
    def json(self) -> dict[str, Any]:
        return json.loads(self.body)

    @property
    def key(self) -> str:
        return self.headers["idempotency-key"]

    def signed_by(self, secret: str = SECRET) -> bool:
        """The docs' recipe, checked as a receiver would."""
        return verify(secret, self.headers[TIMESTAMP_HEADER.lower()], self.body, self.headers[SIGNATURE_HEADER.lower()])


class Receiver:
    def __init__(self) -> None:
        self.requests: list[Received] = []
        self._scripts: dict[str, list[Reply]] = {}
        self._taken: dict[str, dict[str, Any]] = {}
        self._answers: dict[str, Callable[[Received], dict[str, Any]]] = {}
        self._lock = threading.Lock()
        self._release = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}{path}"

    def script(self, path: str, *replies: Reply) -> None:
        """The next answers on `path`, in order; afterwards the idempotent default."""
        with self._lock:
            self._scripts.setdefault(path, []).extend(replies)

    def answer_with(self, path: str, answer: Callable[[Received], dict[str, Any]]) -> None:
        """The body of the default 200 on `path` (a desk's ticket)."""
        self._answers[path] = answer

    def on(self, path: str) -> list[Received]:
        with self._lock:
            return [r for r in self.requests if r.path == path]

    async def wait_for(self, check: Callable[[], bool], timeout: float = 10.0) -> None:
        async def poll() -> None:
            while not check():
                await asyncio.sleep(0.02)

        await asyncio.wait_for(poll(), timeout)

    def _reply(self, received: Received) -> Reply:
        with self._lock:
            self.requests.append(received)
            script = self._scripts.get(received.path)
            if script:
                return script.pop(0)
            key = f"{received.path} {received.key}"
            if key in self._taken:
                return Reply(409, self._taken[key])
            body = self._answers.get(received.path, lambda _: {})(received)
            self._taken[key] = body
            return Reply(200, body)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                received = Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                reply = receiver._reply(received)
                if reply.hang:
                    receiver._release.wait(30)
                    return
                data = json.dumps(reply.body).encode() if reply.body is not None else b""
                self.send_response(reply.status)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *_: Any) -> None:  # the bodies hold mobiles: print nothing
                pass

        return Handler

    def start(self) -> Receiver:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._release.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)


@contextmanager
def receiving() -> Iterator[Receiver]:
    receiver = Receiver().start()
    try:
        yield receiver
    finally:
        receiver.stop()
