"""Dynamic batching: requests that reach one worker together are gathered into one session.run, and the
results are split back per request.

The batch runs on the event loop, as an unbatched request does (with one onnxruntime thread per worker,
a thread hop would only add cost). While it runs, the next requests wait in the socket buffers; when it
ends, the loop reads them, and each valid one joins the queue. The queue runs as soon as the loop has
nothing else ready. With a delay set, it waits up to the delay for company (unless it fills up first),
but only while the worker is busy: when its last run gathered more than one request. So a lone request
on an idle worker runs at once, delay or not, and under load the batches grow up to the row limit.

Requests are validated before they queue: a batch holds only well-formed feeds. If the graph still
refuses a batch, each of its requests runs alone, so only the one at fault gets the error.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from serving.metrics import Recorder

Feeds = dict[str, np.ndarray]
Run = Callable[[Feeds], list[Any]]  # feeds -> the fetched outputs, in order


@dataclass(frozen=True)
class Pending:
    """A validated request waiting for its share of a run."""

    feeds: Feeds
    rows: int
    future: asyncio.Future[list[Any]]


def signature(feeds: Feeds) -> tuple[tuple[str, str, tuple[int, ...]], ...]:
    """What feeds must share to be stacked: input names, dtypes and every dimension past the batch's."""
    return tuple((name, array.dtype.str, array.shape[1:]) for name, array in sorted(feeds.items()))


def concatenate(group: list[Pending]) -> Feeds:
    """One feed per input, the requests' rows stacked in queue order."""
    return {name: np.concatenate([pending.feeds[name] for pending in group]) for name in group[0].feeds}


def split(results: list[Any], group: list[Pending]) -> list[list[Any]] | None:
    """Each request's rows of every output; None when an output does not have one row per input row."""
    total = sum(pending.rows for pending in group)
    if not all(isinstance(r, np.ndarray) and r.ndim > 0 and r.shape[0] == total for r in results):
        return None
    bounds = np.cumsum([pending.rows for pending in group])[:-1]
    per_output = [np.split(result, bounds) for result in results]
    return [list(shares) for shares in zip(*per_output, strict=True)]


class Batcher:
    """Gathers submitted feeds into runs of at most `max_rows` rows (a larger request runs alone)."""

    def __init__(self, run: Run, max_rows: int, delay_seconds: float, recorder: Recorder) -> None:
        self.run = run
        self.max_rows = max_rows
        self.delay_seconds = delay_seconds
        self.recorder = recorder
        self.queue: deque[Pending] = deque()
        self.queued_rows = 0
        self.handle: asyncio.Handle | None = None
        self.handle_is_immediate = False
        self.last_run_requests = 0  # how many requests the last flush gathered: more than one means busy

    async def submit(self, feeds: Feeds, rows: int) -> list[Any]:
        """The fetched outputs for these feeds' rows, once their batch has run."""
        future: asyncio.Future[list[Any]] = asyncio.get_running_loop().create_future()
        self.queue.append(Pending(feeds, rows, future))
        self.queued_rows += rows
        self.recorder.queued = len(self.queue)
        self.schedule(immediately=self.queued_rows >= self.max_rows or not self.waits_for_company())
        return await future

    def waits_for_company(self) -> bool:
        """Whether a new batch waits for the delay: one is set and the worker is busy."""
        return self.delay_seconds > 0 and self.last_run_requests > 1

    def schedule(self, immediately: bool) -> None:
        """Make sure a flush is coming: at the loop's next turn, or after the delay."""
        if self.handle is not None and (self.handle_is_immediate or not immediately):
            return
        if self.handle is not None:
            self.handle.cancel()  # the queue filled up before the delay ran out
        loop = asyncio.get_running_loop()
        self.handle_is_immediate = immediately
        self.handle = (
            loop.call_soon(self.flush) if immediately else loop.call_later(self.delay_seconds, self.flush)
        )

    def flush(self) -> None:
        """Run the oldest requests, up to `max_rows` rows; what is left runs at the loop's next turn."""
        self.handle = None
        batch: list[Pending] = []
        rows = 0
        while self.queue and (not batch or rows + self.queue[0].rows <= self.max_rows):
            pending = self.queue.popleft()
            self.queued_rows -= pending.rows
            if not pending.future.done():  # done: cancelled, its client is gone
                batch.append(pending)
                rows += pending.rows
        self.recorder.queued = len(self.queue)
        self.last_run_requests = len(batch)
        groups: dict[Any, list[Pending]] = {}
        for pending in batch:
            groups.setdefault(signature(pending.feeds), []).append(pending)
        for group in groups.values():
            self.run_group(group)
        if self.queue:
            self.schedule(immediately=True)

    def run_group(self, group: list[Pending]) -> None:
        """One run for requests whose feeds stack; each alone when the graph refuses them together."""
        if len(group) > 1:
            try:
                shares = split(self.run(concatenate(group)), group)
            except Exception:  # one request's values may be at fault: each runs alone and gets its own error
                shares = None
            if shares is not None:
                self.recorder.observe_batch(len(group), sum(pending.rows for pending in group))
                for pending, share in zip(group, shares, strict=True):
                    if not pending.future.done():
                        pending.future.set_result(share)
                return
        for pending in group:
            self.run_alone(pending)

    def run_alone(self, pending: Pending) -> None:
        """One request's own run; its error, if any, is its own."""
        try:
            result = self.run(pending.feeds)
        except Exception as exc:  # handed to the request, which answers 4xx or logs a 500
            if not pending.future.done():
                pending.future.set_exception(exc)
            return
        self.recorder.observe_batch(1, pending.rows)
        if not pending.future.done():
            pending.future.set_result(result)
