"""Zero-loss shutdown: on SIGTERM a worker drains, then stops the way uvicorn does.

1. SIGTERM starts the drain: /ready answers 503, so load balancers stop sending, and every answer
   carries `Connection: close`, so keep-alive clients reconnect (elsewhere) instead of reusing a socket
   that is about to close. Requests keep being served for MODELSHIP_DRAIN_SECONDS.
2. Then answers are held back for a moment: a client waiting for its answer opens no new connection, so
   once nothing new has arrived for QUIET_SECONDS the kernel's queue of accepted connections is empty,
   and closing the listening socket resets none (a queued connection would get a reset, which a client
   sees as a lost request). New connections from then on are refused, which clients retry elsewhere.
3. The held answers go out, requests in flight finish (uvicorn's graceful stop), the process exits 0.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from types import FrameType

import uvicorn

log = logging.getLogger("modelship")

QUIET_SECONDS = 0.1  # holding answers: this long with no new connection means none is queued
MAX_HOLD_SECONDS = 2.0  # and never hold answers longer than this


class Drain:
    """This process's drain state, read by the app on every request: draining (say 503 on /ready, close
    every connection) and holding (keep answers back until released)."""

    def __init__(self) -> None:
        self.draining = False
        self.holding = False
        self.released = asyncio.Event()

    def begin(self) -> None:
        """Start draining."""
        self.draining = True

    def hold(self) -> None:
        """Keep answers back until `release()`."""
        self.draining = self.holding = True

    def release(self) -> None:
        """Let the held answers go."""
        self.holding = False
        self.released.set()


DRAIN = Drain()  # the process's one drain: a signal is process-wide


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
        """Hold answers until nothing new arrives, close the listener, release the answers, then uvicorn's
        graceful shutdown."""
        self.drain.hold()
        await self.until_quiet()
        for server in self.servers:
            server.close()
        for sock in sockets or []:
            sock.close()
        self.drain.release()
        log.info("stopped taking connections; finishing the requests in flight")
        await super().shutdown(sockets)

    async def until_quiet(self) -> None:
        """Wait until no connection has opened or closed and no answer completed for QUIET_SECONDS (at most
        MAX_HOLD_SECONDS)."""
        state = self.server_state
        deadline = time.monotonic() + MAX_HOLD_SECONDS
        seen = (-1, -1)
        while time.monotonic() < deadline and seen != (state.total_requests, len(state.connections)):
            seen = (state.total_requests, len(state.connections))
            await asyncio.sleep(QUIET_SECONDS)
