"""A subscriber endpoint for tests: a loopback HTTP server that records what SNS POSTs.

It answers with scripted status codes, can hold requests until released (to time out a
delivery or observe concurrency) and lets tests wait for deliveries on a condition, not a sleep.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Self
from urllib.parse import urlsplit


@dataclass(frozen=True)
class ReceivedRequest:
    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers.items() if k.lower() == name.lower()), None)


class Receiver:
    """Answers each POST with the next scripted status, then ``default_status``."""

    def __init__(self, statuses: Iterable[int] = (), default_status: int = 200) -> None:
        self._statuses = deque(statuses)
        self._default_status = default_status
        #: The body of every answer.
        self.answer_body = b""
        self._condition = threading.Condition()
        self._requests: list[ReceivedRequest] = []
        self.released = threading.Event()
        self.released.set()
        self.in_flight = 0
        self.max_in_flight = 0
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def stop(self) -> None:
        self.released.set()
        if self._thread.is_alive():
            self._server.shutdown()
            self._thread.join()
        self._server.server_close()

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}{path}"

    def answer_next(self, *statuses: int) -> None:
        """Answer the next requests with these statuses (then ``default_status`` again)."""
        with self._condition:
            self._statuses.extend(statuses)

    def hold(self) -> None:
        """Keep the next requests waiting (unanswered) until :meth:`release`."""
        self.released.clear()

    def release(self) -> None:
        self.released.set()

    @property
    def requests(self) -> list[ReceivedRequest]:
        with self._condition:
            return list(self._requests)

    def wait_for(self, count: int, timeout: float = 5.0) -> list[ReceivedRequest]:
        """The first ``count`` requests, once they have arrived (AssertionError on timeout)."""
        with self._condition:
            arrived = self._condition.wait_for(lambda: len(self._requests) >= count, timeout)
            assert arrived, f"expected {count} requests, got {len(self._requests)}"
            return list(self._requests[:count])

    def wait_until_in_flight(self, count: int, timeout: float = 5.0) -> None:
        with self._condition:
            arrived = self._condition.wait_for(lambda: self.in_flight >= count, timeout)
            assert arrived, f"expected {count} requests in flight, got {self.in_flight}"

    def _record(self, request: ReceivedRequest) -> int:
        with self._condition:
            self._requests.append(request)
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            self._condition.notify_all()
        self.released.wait(timeout=30)
        with self._condition:
            self.in_flight -= 1
            self._condition.notify_all()
            return self._statuses.popleft() if self._statuses else self._default_status

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                parts = urlsplit(self.path)
                request = ReceivedRequest(
                    method="POST",
                    path=parts.path,
                    query=parts.query,
                    headers=dict(self.headers.items()),
                    body=self.rfile.read(length),
                )
                status = receiver._record(request)
                try:
                    self.send_response(status)
                    self.send_header("Content-Length", str(len(receiver.answer_body)))
                    self.end_headers()
                    self.wfile.write(receiver.answer_body)
                except OSError:  # the sender gave up (timeout test)
                    pass

            def log_message(self, format: str, *args: object) -> None:
                return

        return Handler
