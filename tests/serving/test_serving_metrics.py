"""The request recorder: counts, histograms, and totals summed over workers through snapshot files."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

from prometheus_client import CollectorRegistry, generate_latest

from serving.metrics import BUCKETS, Collector, Recorder


def page(recorder: Recorder) -> str:
    """The Prometheus text page of one recorder."""
    registry = CollectorRegistry()
    registry.register(Collector(recorder))
    return generate_latest(registry).decode()


def test_counts_and_cumulative_buckets() -> None:
    recorder = Recorder()
    recorder.observe("/predict", 200, 0.0004)
    recorder.observe("/predict", 200, 0.003)
    recorder.observe("/predict", 400, 9.0)
    text = page(recorder)
    assert 'modelship_requests_total{route="/predict",status="200"} 2.0' in text
    assert 'modelship_requests_total{route="/predict",status="400"} 1.0' in text
    assert 'modelship_request_seconds_bucket{le="0.0005",route="/predict"} 1.0' in text
    assert 'modelship_request_seconds_bucket{le="0.005",route="/predict"} 2.0' in text
    assert f'modelship_request_seconds_bucket{{le="{BUCKETS[-1]}",route="/predict"}} 2.0' in text
    assert 'modelship_request_seconds_bucket{le="+Inf",route="/predict"} 3.0' in text
    assert 'modelship_request_seconds_count{route="/predict"} 3.0' in text
    assert 'modelship_request_seconds_sum{route="/predict"} 9.0034' in text


def test_workers_share_their_counts_through_snapshots(tmp_path: Path) -> None:
    first, second = Recorder(tmp_path, worker="1"), Recorder(tmp_path, worker="2")
    first.observe("/predict", 200, 0.001)
    first.observe("/predict", 200, 0.001)
    second.observe("/predict", 200, 0.001)
    second.observe("/health", 200, 0.001)
    assert 'modelship_requests_total{route="/predict",status="200"} 1.0' in page(second)  # no snapshot yet
    first.snapshot()
    text = page(second)
    assert 'modelship_requests_total{route="/predict",status="200"} 3.0' in text
    assert 'modelship_requests_total{route="/health",status="200"} 1.0' in text
    assert 'modelship_request_seconds_count{route="/predict"} 3.0' in text
    assert [p.name for p in tmp_path.iterdir()] == ["1.json"]


def test_batch_sizes_and_queue_depth_add_up_over_workers(tmp_path: Path) -> None:
    first, second = Recorder(tmp_path, worker="1"), Recorder(tmp_path, worker="2")
    first.observe_batch(3, 5)
    first.queued = 2
    second.observe_batch(40, 40)
    first.snapshot()
    text = page(second)
    assert 'modelship_batch_requests_bucket{le="4"} 1.0' in text
    assert 'modelship_batch_requests_bucket{le="64"} 2.0' in text
    assert "modelship_batch_requests_sum 43.0" in text
    assert "modelship_batch_rows_sum 45.0" in text
    assert "modelship_batch_queue_depth 2.0" in text


def test_snapshots_are_written_every_period_and_at_the_end(tmp_path: Path) -> None:
    recorder = Recorder(tmp_path, worker="1")
    reader = Recorder(tmp_path, worker="2")

    async def scenario() -> None:
        chore = asyncio.create_task(recorder.snapshot_periodically(0.01))
        recorder.observe("/predict", 200, 0.001)
        await asyncio.sleep(0.05)
        assert reader.totals()[0] == {"/predict 200": 1}
        recorder.observe("/predict", 400, 0.001)
        chore.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await chore

    asyncio.run(scenario())
    assert reader.totals()[0] == {"/predict 200": 1, "/predict 400": 1}


def test_an_unwritable_directory_never_breaks_recording(tmp_path: Path) -> None:
    recorder = Recorder(tmp_path / "missing", worker="1")
    recorder.observe("/predict", 200, 0.001)
    recorder.snapshot()
    recorder.observe("/predict", 200, 0.001)
    assert recorder.shared_dir is None
    assert 'modelship_requests_total{route="/predict",status="200"} 2.0' in page(recorder)
