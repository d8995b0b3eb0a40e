"""Requests sent byte for byte over a socket to a server on 127.0.0.1, for what http.client
refuses to send (control characters, raw bytes, huge or malformed request lines), and the
answer read back whole."""

from __future__ import annotations

import json
import socket
from dataclasses import dataclass
from typing import Any

#: Never read more of an answer than this (the servers under test answer far less).
MAX_ANSWER_BYTES = 1024 * 1024


@dataclass(frozen=True)
class RawAnswer:
    status: int
    #: Names in lower case.
    headers: dict[str, str]
    body: bytes
    #: The server reset the connection (after or instead of answering).
    reset: bool

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "")

    def json(self) -> Any:
        return json.loads(self.body)

    def error(self) -> dict[str, Any]:
        """The ``error`` of the contract's error body; fails unless the answer is one."""
        assert self.content_type == "application/json", (self.status, self.body[:300])
        document = self.json()
        assert isinstance(document, dict), document
        assert set(document) == {"error"}, document
        error = document["error"]
        assert isinstance(error, dict), document
        assert isinstance(error.get("code"), str), document
        assert isinstance(error.get("message"), str), document
        return error


def exchange(port: int, request: bytes, *, timeout: float = 30.0) -> RawAnswer:
    """Send ``request`` as it is, close the sending side, read the answer to the end."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as connection:
        try:
            connection.sendall(request)
            connection.shutdown(socket.SHUT_WR)
        except OSError:
            pass  # the server may answer and close before reading everything (e.g. 413)
        answer = bytearray()
        reset = False
        while len(answer) < MAX_ANSWER_BYTES:
            try:
                chunk = connection.recv(65536)
            except ConnectionResetError:
                reset = True
                break
            if not chunk:
                break
            answer += chunk
    return parse_answer(bytes(answer), reset=reset)


def parse_answer(answer: bytes, *, reset: bool = False) -> RawAnswer:
    head, _, body = answer.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    words = status_line.split()
    assert len(words) >= 2, f"no HTTP answer: {answer[:200]!r}"
    assert words[0].startswith("HTTP/"), f"no HTTP answer: {answer[:200]!r}"
    headers = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return RawAnswer(int(words[1]), headers, body, reset)
