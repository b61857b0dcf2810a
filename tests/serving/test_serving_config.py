"""Settings from the environment, and the CPU count read from cgroup v1 and v2 quota files."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from serving.config import ConfigError, Settings, available_cpus, load_settings, quota_cpus


def cgroup(tmp_path: Path, files: dict[str, str]) -> Path:
    """A fake cgroup root holding `files`."""
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    return tmp_path


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        pytest.param({"cpu.max": "150000 100000\n"}, 1.5, id="v2-quota"),
        pytest.param({"cpu.max": "max 100000\n"}, None, id="v2-unlimited"),
        pytest.param(
            {"cpu/cpu.cfs_quota_us": "200000\n", "cpu/cpu.cfs_period_us": "100000\n"}, 2.0, id="v1-quota"
        ),
        pytest.param(
            {"cpu/cpu.cfs_quota_us": "-1\n", "cpu/cpu.cfs_period_us": "100000\n"}, None, id="v1-unlimited"
        ),
        pytest.param(
            {"cpu,cpuacct/cpu.cfs_quota_us": "50000", "cpu,cpuacct/cpu.cfs_period_us": "100000"},
            0.5,
            id="v1-joint-controller",
        ),
        pytest.param({}, None, id="no-cgroup"),
    ],
)
def test_quota_cpus(tmp_path: Path, files: dict[str, str], expected: float | None) -> None:
    assert quota_cpus(cgroup(tmp_path, files)) == expected


def test_available_cpus_rounds_the_quota_up_and_never_exceeds_the_visible_cpus(tmp_path: Path) -> None:
    visible = len(os.sched_getaffinity(0))
    assert available_cpus(cgroup(tmp_path / "a", {"cpu.max": "50000 100000"})) == 1
    assert available_cpus(cgroup(tmp_path / "b", {"cpu.max": "max 100000"})) == visible
    assert available_cpus(cgroup(tmp_path / "c", {"cpu.max": f"{(visible + 8) * 100000} 100000"})) == visible


def test_defaults(tmp_path: Path) -> None:
    settings = load_settings({}, cgroup(tmp_path, {"cpu.max": "100000 100000"}))
    assert settings == Settings(ort_threads=1)
    assert str(settings.model_dir) == "/opt/modelship/model"
    assert (settings.host, settings.port, settings.workers, settings.max_body_bytes) == (
        "0.0.0.0",
        8080,
        1,
        1048576,
    )
    assert (settings.access_log, settings.slow_request_ms) == ("errors", 1000)
    assert settings.access_log_file is None
    assert settings.drain_seconds == 5.0  # below Docker's 10 s stop timeout
    assert (settings.batching, settings.max_batch_size, settings.max_batch_delay_ms) == ("on", 32, 2.0)


def test_threads_default_to_the_quota_shared_between_workers(tmp_path: Path) -> None:
    root = cgroup(tmp_path, {"cpu.max": "400000 100000"})
    visible = len(os.sched_getaffinity(0))
    assert load_settings({"MODELSHIP_WORKERS": "2"}, root).ort_threads == max(1, min(4, visible) // 2)
    assert load_settings({"MODELSHIP_WORKERS": "8"}, root).ort_threads == 1
    assert load_settings({"MODELSHIP_WORKERS": "2", "MODELSHIP_ORT_THREADS": "3"}, root).ort_threads == 3


def test_every_variable_is_read(tmp_path: Path) -> None:
    env = {
        "MODELSHIP_MODEL_DIR": "/models/x",
        "MODELSHIP_HOST": "127.0.0.1",
        "MODELSHIP_PORT": "9000",
        "MODELSHIP_WORKERS": "3",
        "MODELSHIP_ORT_THREADS": "2",
        "MODELSHIP_MAX_BODY_BYTES": "2048",
        "MODELSHIP_ACCESS_LOG": "ALL",
        "MODELSHIP_ACCESS_LOG_FILE": "/var/log/modelship/access.log",
        "MODELSHIP_SLOW_REQUEST_MS": "250",
        "MODELSHIP_DRAIN_SECONDS": "2.5",
        "MODELSHIP_MODEL_NAME": "housing",
        "MODELSHIP_MODEL_VERSION": "4",
        "MODELSHIP_MODEL_SHA256": "ab" * 32,
        "MODELSHIP_BATCHING": "false",
        "MODELSHIP_MAX_BATCH_SIZE": "64",
        "MODELSHIP_MAX_BATCH_DELAY_MS": "2.5",
    }
    assert load_settings(env, tmp_path) == Settings(
        model_dir=Path("/models/x"),
        host="127.0.0.1",
        port=9000,
        workers=3,
        ort_threads=2,
        max_body_bytes=2048,
        access_log="all",
        access_log_file=Path("/var/log/modelship/access.log"),
        slow_request_ms=250,
        drain_seconds=2.5,
        model_name="housing",
        model_version="4",
        model_sha256="ab" * 32,
        batching="off",
        max_batch_size=64,
        max_batch_delay_ms=2.5,
    )


@pytest.mark.parametrize(("given", "mode"), [("true", "all"), ("False", "off"), (" Errors ", "errors")])
def test_access_log_modes_and_the_booleans_of_earlier_releases(tmp_path: Path, given: str, mode: str) -> None:
    assert load_settings({"MODELSHIP_ACCESS_LOG": given}, tmp_path).access_log == mode


@pytest.mark.parametrize(
    ("env", "message"),
    [
        pytest.param(
            {"MODELSHIP_PORT": "http"}, "MODELSHIP_PORT='http' is not an integer", id="port-not-int"
        ),
        pytest.param({"MODELSHIP_WORKERS": "0"}, "MODELSHIP_WORKERS=0 is too small", id="no-workers"),
        pytest.param({"MODELSHIP_ORT_THREADS": "-1"}, "MODELSHIP_ORT_THREADS=-1 is too small", id="threads"),
        pytest.param(
            {"MODELSHIP_ACCESS_LOG": "maybe"},
            "MODELSHIP_ACCESS_LOG='maybe' is not one of errors, all, off",
            id="access-log-mode",
        ),
        pytest.param(
            {"MODELSHIP_SLOW_REQUEST_MS": "0"}, "MODELSHIP_SLOW_REQUEST_MS=0 is too small", id="slow-zero"
        ),
        pytest.param(
            {"MODELSHIP_DRAIN_SECONDS": "soon"}, "MODELSHIP_DRAIN_SECONDS='soon' is not a number", id="drain"
        ),
        pytest.param(
            {"MODELSHIP_DRAIN_SECONDS": "-1"},
            "MODELSHIP_DRAIN_SECONDS=-1 is out of range; set it to seconds from 0 to 3600",
            id="drain-negative",
        ),
        pytest.param(
            {"MODELSHIP_BATCHING": "sometimes"},
            "MODELSHIP_BATCHING='sometimes' is not one of on, off",
            id="batching-mode",
        ),
        pytest.param(
            {"MODELSHIP_MAX_BATCH_SIZE": "0"}, "MODELSHIP_MAX_BATCH_SIZE=0 is too small", id="batch-size-zero"
        ),
        pytest.param(
            {"MODELSHIP_MAX_BATCH_SIZE": "100000"},
            "MODELSHIP_MAX_BATCH_SIZE=100000 is too large; set it to a whole number from 1 to 4096",
            id="batch-size-huge",
        ),
        pytest.param(
            {"MODELSHIP_MAX_BATCH_DELAY_MS": "-1"},
            "MODELSHIP_MAX_BATCH_DELAY_MS=-1 is out of range; set it to milliseconds from 0 to 1000",
            id="batch-delay-negative",
        ),
        pytest.param(
            {"MODELSHIP_MAX_BATCH_DELAY_MS": "nan"},
            "MODELSHIP_MAX_BATCH_DELAY_MS=nan is out of range",
            id="batch-delay-nan",
        ),
    ],
)
def test_bad_values_are_named(tmp_path: Path, env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        load_settings(env, tmp_path)
