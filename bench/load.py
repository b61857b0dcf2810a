"""Drive a server with wrk and the POST script, and read wrk's numbers back."""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path

LUA_SCRIPT = Path(__file__).with_name("post.lua")
MARKER = "BENCH "


@dataclass(frozen=True)
class LoadResult:
    """One wrk run against one server."""

    requests: int
    seconds: float
    non2xx: int
    socket_errors: int
    p50_ms: float
    p99_ms: float
    mean_ms: float
    max_ms: float

    @property
    def errors(self) -> int:
        return self.non2xx + self.socket_errors

    @property
    def requests_per_s(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def as_dict(self) -> dict[str, float]:
        return {**asdict(self), "errors": self.errors, "requests_per_s": self.requests_per_s}


def parse_wrk(stdout: str) -> LoadResult:
    """The result line printed by post.lua's done(); ValueError when wrk printed none."""
    for line in stdout.splitlines():
        if line.startswith(MARKER):
            raw = json.loads(line[len(MARKER) :])
            return LoadResult(
                requests=raw["requests"],
                seconds=raw["duration_us"] / 1e6,
                non2xx=raw["non2xx"],
                socket_errors=raw["socket_errors"],
                p50_ms=raw["p50_us"] / 1e3,
                p99_ms=raw["p99_us"] / 1e3,
                mean_ms=raw["mean_us"] / 1e3,
                max_ms=raw["max_us"] / 1e3,
            )
    raise ValueError(f"wrk printed no result line; its output was:\n{stdout[-2000:]}")


def run_wrk(url: str, body_file: Path, connections: int, seconds: float) -> LoadResult:
    """POST `body_file` to `url` from `connections` keep-alive connections for `seconds`."""
    # One wrk thread: on a 2-core machine every core wrk takes is a core the server loses.
    command = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s", "-s", str(LUA_SCRIPT)]
    done = subprocess.run(
        [*command, url],
        env={**os.environ, "BENCH_BODY_FILE": str(body_file)},
        capture_output=True,
        text=True,
        timeout=seconds + 60,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed against {url} (exit {done.returncode}): {done.stderr.strip()}")
    return parse_wrk(done.stdout)
