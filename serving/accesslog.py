"""The access log: one line per request, written in whole-line batches.

The logging module costs more per line than a small model's prediction (a record, a formatter, a lock
and a write with flush each time). Here a line is one f-string appended to a buffer; the buffer goes
out in one write of whole lines when it nears the size a pipe writes atomically (so workers sharing
stdout never split each other's lines), at least once a second, and at shutdown.

Lines go to stdout, or appended to a file: under Docker, every stdout line also costs dockerd and
containerd-shim CPU (the json-file log driver), which a file on a volume does not.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path

ATOMIC_BYTES = 4096  # PIPE_BUF on Linux: a write of at most this much to a pipe is never interleaved
FLUSH_SECONDS = 1.0


def stdout_sink() -> Callable[[bytes], object]:
    """Write bytes straight to file descriptor 1 (bypassing sys.stdout's own buffering)."""
    fd = sys.stdout.fileno()
    return lambda data: os.write(fd, data)


def open_for_append(path: Path) -> int:
    """A descriptor appending to `path`, created if missing (O_APPEND: workers sharing it never split a
    write)."""
    return os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)


def file_sink(path: Path) -> Callable[[bytes], object]:
    """Append bytes to `path`."""
    fd = open_for_append(path)
    return lambda data: os.write(fd, data)


class AccessLog:
    """Buffered access-log lines: `line(...)` per request, `flush()` from a timer and at shutdown."""

    def __init__(self, sink: Callable[[bytes], object] | None = None, immediate: bool | None = None) -> None:
        self.sink = sink or stdout_sink()
        # An interactive terminal sees each line at once; pipes and files get batches.
        self.immediate = sys.stdout.isatty() if immediate is None else immediate
        self.lines: list[str] = []
        self.size = 0
        self.second = -1
        self.stamp = ""

    def line(self, client: str, method: str, path: str, status: int, seconds: float, request_id: str) -> None:
        """Record one request: time, client, request line, status, latency and request id."""
        now = int(time.time())
        if now != self.second:
            self.second = now
            self.stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now))
        text = f'{self.stamp} {client} "{method} {path}" {status} {seconds * 1000:.2f}ms id={request_id}\n'
        if self.size + len(text) > ATOMIC_BYTES - 512:
            self.flush()
        self.lines.append(text)
        self.size += len(text)
        if self.immediate:
            self.flush()

    def flush(self) -> None:
        """Write the buffered lines, if any, in one write."""
        if self.lines:
            data = "".join(self.lines).encode("utf-8", "replace")
            self.lines.clear()
            self.size = 0
            with suppress(OSError):  # a closed or full stdout must not take requests down with it
                self.sink(data)

    async def flush_periodically(self, seconds: float = FLUSH_SECONDS) -> None:
        """Flush every `seconds` until cancelled (run as a task for the app's lifetime)."""
        try:
            while True:
                await asyncio.sleep(seconds)
                self.flush()
        finally:
            self.flush()
