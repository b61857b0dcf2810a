"""Prometheus metrics: requests by route and status, latency by route, and the dynamic batcher's batch
sizes and queue depth.

Recording a request is a few dict operations (prometheus-client's own values cost several times more,
and its multi-process mode more still). With several workers, each writes a snapshot of its counts to
MODELSHIP_METRICS_DIR every second, and the worker that answers a scrape adds the others'
snapshots to its own live counts.
"""

from __future__ import annotations

import asyncio
import json
import os
from bisect import bisect_left
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric

from serving.config import METRICS_DIR_ENV

BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096)  # requests or rows per session.run
BATCH_UNITS = ("requests", "rows")
SNAPSHOT_SECONDS = 1.0

Counts = dict[str, int]  # "route status" -> requests
Histograms = dict[str, list[float]]  # route -> per-bucket counts (last one: over the top bucket), then sum


class Totals(NamedTuple):
    """Every worker's figures added up: requests, latencies, batch sizes (by unit), queued requests."""

    counts: Counts
    histograms: Histograms
    batches: Histograms
    queued: int


class Recorder:
    """This process's request counts and latency histograms, snapshotted for the other workers."""

    def __init__(self, shared_dir: Path | None = None, worker: str = "") -> None:
        self.worker = worker or str(os.getpid())
        self.counts: Counts = {}
        self.histograms: Histograms = {}
        self.batches: Histograms = {unit: [0.0] * (len(BATCH_BUCKETS) + 2) for unit in BATCH_UNITS}
        self.queued = 0  # requests waiting for the batcher's next session.run
        self.shared_dir = shared_dir

    def observe(self, route: str, status: int, seconds: float) -> None:
        """Count one answered request and record its latency."""
        key = f"{route} {status}"
        self.counts[key] = self.counts.get(key, 0) + 1
        histogram = self.histograms.get(route)
        if histogram is None:
            histogram = self.histograms[route] = [0.0] * (len(BUCKETS) + 2)
        histogram[bisect_left(BUCKETS, seconds)] += 1
        histogram[-1] += seconds

    def observe_batch(self, requests: int, rows: int) -> None:
        """Record one batched session.run: how many requests and rows it gathered."""
        for unit, size in zip(BATCH_UNITS, (requests, rows), strict=True):
            histogram = self.batches[unit]
            histogram[bisect_left(BATCH_BUCKETS, size)] += 1
            histogram[-1] += size

    def snapshot(self) -> None:
        """Write this worker's counts for the others (atomically: write, then rename)."""
        assert self.shared_dir is not None
        target = self.shared_dir / f"{self.worker}.json"
        temporary = target.with_suffix(".tmp")
        try:
            figures = {
                "counts": self.counts,
                "histograms": self.histograms,
                "batches": self.batches,
                "queued": self.queued,
            }
            temporary.write_text(json.dumps(figures))
            os.replace(temporary, target)
        except OSError:
            self.shared_dir = None  # metrics must never break serving; this worker reports only itself

    async def snapshot_periodically(self, seconds: float = SNAPSHOT_SECONDS) -> None:
        """Snapshot every `seconds` while there is a shared directory, until cancelled."""
        written: Counts = {}
        try:
            while self.shared_dir is not None:
                await asyncio.sleep(seconds)
                if self.counts != written:
                    self.snapshot()
                    written = dict(self.counts)
        finally:
            if self.shared_dir is not None:
                self.snapshot()

    def totals(self) -> Totals:
        """This worker's live counts plus the latest snapshots of the others."""
        counts, histograms = dict(self.counts), {r: list(h) for r, h in self.histograms.items()}
        batches, queued = {unit: list(h) for unit, h in self.batches.items()}, self.queued
        if self.shared_dir is not None:
            for path in self.shared_dir.glob("*.json"):
                if path.stem == self.worker:
                    continue
                try:
                    other = json.loads(path.read_text())
                except (OSError, ValueError):
                    continue
                merge(counts, histograms, other.get("counts", {}), other.get("histograms", {}))
                merge({}, batches, {}, other.get("batches", {}))
                queued += int(other.get("queued", 0))
        return Totals(counts, histograms, batches, queued)


def merge(counts: Counts, histograms: Histograms, more_counts: Counts, more_histograms: Histograms) -> None:
    """Add one worker's counts into the totals."""
    for key, value in more_counts.items():
        counts[key] = counts.get(key, 0) + value
    for route, values in more_histograms.items():
        mine = histograms.setdefault(route, [0.0] * len(values))
        for i, seen in enumerate(values):
            mine[i] += seen


def cumulative(bounds: tuple[float, ...], values: list[float]) -> list[tuple[str, float]]:
    """Prometheus' cumulative buckets from per-bucket counts (the sum, last in `values`, left out)."""
    buckets: list[tuple[str, float]] = []
    running = 0.0
    for bound, seen in zip((*map(str, bounds), "+Inf"), values[:-1], strict=True):
        running += seen
        buckets.append((bound, running))
    return buckets


def families(totals: Totals) -> Iterator[Metric]:
    """The Prometheus metric families for the totals."""
    counts, histograms, batches, queued = totals
    requests = CounterMetricFamily(
        "modelship_requests", "HTTP requests answered, by route and status.", labels=["route", "status"]
    )
    for key, value in sorted(counts.items()):
        route, _, status = key.rpartition(" ")
        requests.add_metric([route, status], value)
    yield requests
    latency = HistogramMetricFamily(
        "modelship_request_seconds",
        "Time from request to the last byte of the answer, by route.",
        labels=["route"],
    )
    for route, values in sorted(histograms.items()):
        latency.add_metric([route], cumulative(BUCKETS, values), sum_value=values[-1])
    yield latency
    for unit, values in batches.items():
        sizes = HistogramMetricFamily(
            f"modelship_batch_{unit}", f"{unit.capitalize()} gathered into each batched session.run."
        )
        sizes.add_metric([], cumulative(BATCH_BUCKETS, values), sum_value=values[-1])
        yield sizes
    yield GaugeMetricFamily(
        "modelship_batch_queue_depth", "Requests waiting for the batcher's next session.run.", value=queued
    )


class Collector:
    """A prometheus-client collector over a Recorder."""

    def __init__(self, recorder: Recorder) -> None:
        self.recorder = recorder

    def collect(self) -> Iterator[Metric]:
        """Metric families of every worker's counts."""
        yield from families(self.recorder.totals())

    def describe(self) -> list[Any]:
        """Nothing to describe ahead of a scrape (the families depend on traffic)."""
        return []


def shared_dir_from_env() -> Path | None:
    """The directory workers share their counts through, when several run."""
    value = os.environ.get(METRICS_DIR_ENV, "").strip()
    return Path(value) if value else None


RECORDER = Recorder(shared_dir_from_env())
REGISTRY = CollectorRegistry()
REGISTRY.register(Collector(RECORDER))
observe = RECORDER.observe


def exposition() -> tuple[bytes, str]:
    """The Prometheus text page and its content type."""
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
