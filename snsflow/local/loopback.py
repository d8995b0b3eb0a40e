"""What the local stack's HTTP servers share: a threaded server on a loopback port, started
and stopped cleanly, whose request logging never prints a query string.

(Used by the local SNS and the local API gateway.)
"""

from __future__ import annotations

import contextlib
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Self

#: How often a server loop checks for a stop request (the longest ``stop()`` waits for it).
SHUTDOWN_POLL_SECONDS = 0.02
#: Seconds a client connection may stay silent before the server gives up on it.
SOCKET_TIMEOUT_SECONDS = 30.0


class LoopbackHttpServer(ThreadingHTTPServer):
    """Serves one request per connection (HTTP/1.0), so closing can join every request thread."""

    daemon_threads = False
    #: Connections the kernel holds until the server accepts them (socketserver's default is 5,
    #: past which Linux drops new connections and other systems reset them): a burst of SNS
    #: deliveries or a load test opens dozens at once. The kernel caps it at its somaxconn.
    request_queue_size = 1024

    def __init__(
        self, address: tuple[str, int], handler_class: type[BaseHTTPRequestHandler]
    ) -> None:
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, handler_class)
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()

    def process_request(self, request: socket.socket, client_address: object) -> None:  # type: ignore[override]
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: socket.socket) -> None:  # type: ignore[override]
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def end_silent_connections(self) -> None:
        """Browsers open spare connections that may never send a request; end their wait now
        rather than after the socket timeout, so that closing joins every thread promptly."""
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):  # already closed by its own thread
                connection.shutdown(socket.SHUT_RD)


class QuietRequestHandler(BaseHTTPRequestHandler):
    timeout = SOCKET_TIMEOUT_SECONDS

    def log_message(self, format: str, *args: object) -> None:  # noqa: ARG002 - base signature
        # The default prints request lines to stderr, query strings (API keys, tokens) included.
        return


class LoopbackHttpService:
    """Lifecycle of a server on ``host:port`` (0 = a free port): ``start``/``stop`` or ``with``."""

    thread_name = "loopback-http"

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self._server: LoopbackHttpServer | None = None
        self._thread: threading.Thread | None = None

    def _create_server(self) -> LoopbackHttpServer:
        raise NotImplementedError

    def _started(self) -> None:
        """Called once the port is bound, before requests are served."""

    def _stopped(self) -> None:
        """Called after the server has stopped and every request thread has ended."""

    def start(self) -> Self:
        if self._server is not None:
            raise RuntimeError(f"{type(self).__name__} is already running")
        server = self._create_server()
        self.port = server.server_address[1]
        self._server = server
        self._started()
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": SHUTDOWN_POLL_SECONDS},
            name=self.thread_name,
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and join every thread started; idempotent."""
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        server.shutdown()
        thread.join()
        server.end_silent_connections()
        server.server_close()
        self._server = self._thread = None
        self._stopped()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self._server is not None

    @property
    def base_url(self) -> str:
        """``http://<host>:<port>`` without a trailing slash."""
        if self._server is None:
            raise RuntimeError(f"{type(self).__name__} is not running")
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"
