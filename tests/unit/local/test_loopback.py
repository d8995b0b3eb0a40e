"""Stopping a local server never waits on a client that connected and said nothing."""

from __future__ import annotations

import socket
import threading
import time

from snsflow.local.loopback import SOCKET_TIMEOUT_SECONDS
from snsflow.local.sns import LocalSns, SigningIdentity


def test_stop_ends_a_silent_connection_instead_of_waiting_for_its_timeout(
    signing_identity: SigningIdentity,
) -> None:
    sns = LocalSns(signing_identity=signing_identity).start()
    # Like a browser's spare connection: opened, never used.
    silent = socket.create_connection(("127.0.0.1", sns.port), timeout=5)
    try:
        started = threading.Event()
        stopped_after: list[float] = []

        def stop() -> None:
            started.set()
            begin = time.monotonic()
            sns.stop()
            stopped_after.append(time.monotonic() - begin)

        stopper = threading.Thread(target=stop)
        stopper.start()
        started.wait()
        stopper.join(timeout=SOCKET_TIMEOUT_SECONDS / 3)
        assert not stopper.is_alive(), "stop() waited for the silent connection to time out"
        assert stopped_after[0] < SOCKET_TIMEOUT_SECONDS / 3
    finally:
        silent.close()
