"""Several server processes sharing one listening socket, each draining on SIGTERM (serving.drain).

uvicorn's own supervisor runs plain uvicorn servers; this one runs DrainingServers, reusing uvicorn's
worker process (spawned, with its health-check pipe) and its rules: a worker that dies is replaced, one
that fails its start-up stops them all.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
from types import FrameType

import uvicorn
from uvicorn.config import STARTUP_FAILURE
from uvicorn.supervisors.multiprocess import Process

from serving.drain import DrainingServer

log = logging.getLogger("modelship")
CHECK_SECONDS = 0.5


class Worker(Process):
    """One uvicorn worker process whose server drains before it stops."""

    def __init__(self, config: uvicorn.Config, sockets: list[socket.socket], drain_seconds: float) -> None:
        self.drain_seconds = drain_seconds
        super().__init__(config, sockets)

    @property
    def server(self) -> uvicorn.Server:
        """The worker's server (made in the worker process)."""
        if self._server is None:
            self._server = DrainingServer(self.config, self.drain_seconds)
        return self._server

    def signal(self, signum: int) -> None:
        """Send `signum` to the worker; its health-check pipe stays open while it drains."""
        if self.process.exitcode is None and self.process.pid is not None:
            os.kill(self.process.pid, signum)


class Supervisor:
    """Start `config.workers` workers on `listener`, keep them alive, and drain them all on SIGTERM."""

    def __init__(self, config: uvicorn.Config, listener: socket.socket, drain_seconds: float) -> None:
        self.config = config
        self.listener = listener
        self.drain_seconds = drain_seconds
        self.stop = threading.Event()
        self.workers: list[Worker] = []

    def on_signal(self, signum: int, frame: FrameType | None) -> None:
        """The first SIGTERM/SIGINT stops (the workers drain); another is passed on (they stop at once)."""
        if self.stop.is_set():
            for worker in self.workers:
                worker.signal(signum)
        self.stop.set()

    def spawn(self) -> Worker:
        """A started worker."""
        worker = Worker(self.config, [self.listener], self.drain_seconds)
        worker.start()
        return worker

    def run(self) -> bool:
        """Serve until SIGTERM/SIGINT and all workers have stopped; False when a worker could not start."""
        for stop in (signal.SIGTERM, signal.SIGINT):
            signal.signal(stop, self.on_signal)
        log.info("starting %d workers (supervisor pid %d)", self.config.workers, os.getpid())
        self.workers = [self.spawn() for _ in range(self.config.workers)]
        started = True
        while started and not self.stop.wait(CHECK_SECONDS):
            started = self.replace_dead_workers()
        # Only the workers hold the listener from here: the last of them to close it ends the listening.
        self.listener.close()
        for worker in self.workers:
            worker.signal(signal.SIGTERM if started else signal.SIGKILL)
        for worker in self.workers:
            worker.join()
        return started

    def replace_dead_workers(self) -> bool:
        """Replace each worker that died or hangs; False when one failed its start-up."""
        for index, worker in enumerate(self.workers):
            if self.stop.is_set() or worker.is_alive(timeout=self.config.timeout_worker_healthcheck):
                continue
            worker.kill()
            worker.join()
            if worker.exitcode == STARTUP_FAILURE:
                log.error("worker %s failed to start; stopping", worker.pid)
                return False
            log.warning("worker %s died (exit code %s); starting another", worker.pid, worker.exitcode)
            self.workers[index] = self.spawn()
        return True
