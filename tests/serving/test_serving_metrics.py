"""The request recorder: counts, histograms, and totals summed over workers through snapshot files."""

from __future__ import annotations

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
    first.observe("/predict", 200, 0.001)  # the first observation writes a snapshot at once
    first.observe("/predict", 200, 0.001)  # within the second: only in memory...
    second.observe("/predict", 200, 0.001)
    second.observe("/health", 200, 0.001)
    assert 'modelship_requests_total{route="/predict",status="200"} 2.0' in page(second)
    first.snapshot()  # ...until the next snapshot
    text = page(second)
    assert 'modelship_requests_total{route="/predict",status="200"} 3.0' in text
    assert 'modelship_requests_total{route="/health",status="200"} 1.0' in text
    assert 'modelship_request_seconds_count{route="/predict"} 3.0' in text
    assert sorted(p.name for p in tmp_path.iterdir()) == ["1.json", "2.json"]


def test_an_unwritable_directory_never_breaks_recording(tmp_path: Path) -> None:
    recorder = Recorder(tmp_path / "missing", worker="1")
    recorder.observe("/predict", 200, 0.001)
    recorder.observe("/predict", 200, 0.001)
    assert recorder.shared_dir is None
    assert 'modelship_requests_total{route="/predict",status="200"} 2.0' in page(recorder)
