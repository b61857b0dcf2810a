"""Zero-loss shutdown: on SIGTERM a worker drains, then stops the way uvicorn does.

1. SIGTERM starts the drain: /ready answers 503, so load balancers stop sending, and every answer
   carries `Connection: close`, so keep-alive clients reconnect (elsewhere) instead of reusing a socket
   that is about to close. Requests keep being served for MODELSHIP_DRAIN_SECONDS.
2. Then the listening socket stops taking new connections without resetting the ones the kernel has
   already queued: a socket filter drops new SYNs (the client retries a second later and finds the port
   closed), while handshakes under way complete and are accepted, read and answered.
3. Then uvicorn's own graceful stop: the listener closes, requests in flight finish, the process exits 0.
"""

from __future__ import annotations

import asyncio
import ctypes
import logging
import socket
import struct
import time
from types import FrameType
from typing import Any

import uvicorn

log = logging.getLogger("modelship")

SO_ATTACH_FILTER = 26  # Linux <asm-generic/socket.h>; the socket module does not name it
# A classic BPF program run on each TCP segment sent to the listening socket (offset 0 is the TCP header):
# drop a segment with SYN set (a new connection), keep everything else.
DROP_SYN = (
    (0x30, 0, 0, 13),  # ldb [13]: the TCP flags byte
    (0x45, 0, 1, 0x02),  # jset #SYN: next instruction, else skip it
    (0x06, 0, 0, 0),  # ret #0: drop
    (0x06, 0, 0, 0xFFFFFFFF),  # ret #-1: keep the whole segment
)
ACCEPT_GRACE_SECONDS = 0.3  # once new SYNs are dropped: time to accept, read and answer the queued ones


class Drain:
    """Whether this process is draining for shutdown (read by the app on every answer)."""

    def __init__(self) -> None:
        self.draining = False

    def begin(self) -> None:
        """Start draining."""
        self.draining = True


DRAIN = Drain()  # the process's one drain: a signal is process-wide


def refuse_new_connections(listener: Any) -> None:
    """Drop new connection attempts to `listener` (a socket or uvloop's socket view); queued and
    established connections are kept. Logs and carries on where the kernel refuses the filter."""
    program = ctypes.create_string_buffer(b"".join(struct.pack("HBBI", *op) for op in DROP_SYN))
    fprog = struct.pack("HL", len(DROP_SYN), ctypes.addressof(program))  # struct sock_fprog
    try:
        listener.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, fprog)
    except OSError as exc:
        log.warning("cannot filter new connections (%s); connections queued at shutdown may be reset", exc)


class DrainingServer(uvicorn.Server):
    """uvicorn's server with a drain of `drain_seconds` between the first SIGTERM/SIGINT and its graceful
    stop; a second signal stops at once (uvicorn's way)."""

    def __init__(self, config: uvicorn.Config, drain_seconds: float, drain: Drain = DRAIN) -> None:
        super().__init__(config)
        self.drain_seconds = drain_seconds
        self.drain = drain
        self.drain_ends: float | None = None

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        """Start the drain on the first signal once serving; otherwise uvicorn's handling."""
        if self.started and self.drain_ends is None and self.drain_seconds > 0:
            self.drain.begin()
            self.drain_ends = time.monotonic() + self.drain_seconds
            log.info(
                "signal %d: draining for %.3g s (/ready answers 503, answers close their connections)",
                sig,
                self.drain_seconds,
            )
            return
        super().handle_exit(sig, frame)

    async def on_tick(self, counter: int) -> bool:
        """Stop once the drain is over (uvicorn checks every 0.1 s)."""
        if self.drain_ends is not None and time.monotonic() >= self.drain_ends:
            self.should_exit = True
        return await super().on_tick(counter)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        """Refuse new connections, answer the ones already queued, then uvicorn's graceful shutdown."""
        self.drain.begin()
        for server in self.servers:
            for listener in server.sockets:
                refuse_new_connections(listener)
        await asyncio.sleep(ACCEPT_GRACE_SECONDS)
        log.info("stopped taking connections; finishing the requests in flight")
        await super().shutdown(sockets)
