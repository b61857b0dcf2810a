"""Prometheus metrics: requests by route and status, latency by route; children cached to stay cheap."""

from __future__ import annotations

import os
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.multiprocess import MultiProcessCollector

disable_created_metrics()  # the _created series double the page for nothing a dashboard uses
REGISTRY = CollectorRegistry()
REQUESTS = Counter(
    "modelship_requests",
    "HTTP requests answered, by route and status.",
    ["route", "status"],
    registry=REGISTRY,
)
LATENCY = Histogram(
    "modelship_request_seconds",
    "Time from request to the last byte of the answer, by route.",
    ["route"],
    registry=REGISTRY,
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
_children: dict[tuple[str, int], tuple[Any, Any]] = {}


def observe(route: str, status: int, seconds: float) -> None:
    """Count one answered request and record its latency."""
    children = _children.get((route, status))
    if children is None:
        children = _children[route, status] = (REQUESTS.labels(route, str(status)), LATENCY.labels(route))
    children[0].inc()
    children[1].observe(seconds)


def exposition() -> tuple[bytes, str]:
    """The Prometheus text page and its content type; summed over workers in multi-process mode."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
