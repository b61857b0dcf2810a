"""Typed settings of the serving app, read once from the environment, with defaults."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")
METRICS_DIR_ENV = "MODELSHIP_METRICS_DIR"  # where several workers share their metrics (set by __main__)
ACCESS_LOG_MODES = ("errors", "all", "off")
ACCESS_LOG_BOOLEANS = {"true": "all", "false": "off"}  # the values of earlier releases keep their meaning
MAX_DRAIN_SECONDS = 3600.0
BATCHING_MODES = ("on", "off")
BATCHING_BOOLEANS = {"true": "on", "false": "off", "1": "on", "0": "off"}
MAX_BATCH_SIZE = 4096  # rows; a batch past this is more likely a typo than a plan
MAX_BATCH_DELAY_MS = 1000.0


class ConfigError(Exception):
    """An environment variable holds a value the app cannot use; the message names it."""


@dataclass(frozen=True)
class Settings:
    """Everything the server reads from `MODELSHIP_*` variables."""

    model_dir: Path = Path("/opt/modelship/model")
    host: str = "0.0.0.0"  # a container listens on all interfaces
    port: int = 8080
    workers: int = 1
    ort_threads: int = 1
    max_body_bytes: int = 1_048_576
    access_log: str = "errors"  # one of ACCESS_LOG_MODES
    access_log_file: Path | None = None  # None: stdout
    slow_request_ms: int = 1000  # in "errors" mode, a request at least this slow is logged too
    drain_seconds: float = 5.0  # after SIGTERM: /ready says 503 and answers close their connections
    model_name: str | None = None
    model_version: str | None = None
    model_sha256: str | None = None
    batching: str = "on"  # one of BATCHING_MODES: gather concurrent requests into one session.run
    max_batch_size: int = 32  # rows per session.run (a larger request still runs, alone)
    max_batch_delay_ms: float = 2.0  # a busy worker waits this long for company; an idle one never waits


def _int(env: Mapping[str, str], name: str, default: int, minimum: int, maximum: int | None = None) -> int:
    raw = env.get(name, "").strip()
    if raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(
            f"{name}={raw!r} is not an integer; set it to a whole number >= {minimum}"
        ) from None
    if value < minimum:
        raise ConfigError(f"{name}={value} is too small; set it to a whole number >= {minimum}")
    if maximum is not None and value > maximum:
        raise ConfigError(
            f"{name}={value} is too large; set it to a whole number from {minimum} to {maximum}"
        )
    return value


def _choice(
    env: Mapping[str, str], name: str, default: str, choices: tuple[str, ...], aliases: Mapping[str, str]
) -> str:
    raw = env.get(name, "").strip().lower()
    if raw == "":
        return default
    raw = aliases.get(raw, raw)
    if raw not in choices:
        raise ConfigError(f"{name}={raw!r} is not one of {', '.join(choices)}; set it to one of them")
    return raw


def _number(env: Mapping[str, str], name: str, default: float, maximum: float, unit: str) -> float:
    raw = env.get(name, "").strip()
    if raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a number; set it to {unit}, e.g. {default:g}") from None
    if not 0 <= value <= maximum:  # also refuses nan
        raise ConfigError(f"{name}={raw} is out of range; set it to {unit} from 0 to {maximum:g}")
    return value


def _optional(env: Mapping[str, str], name: str) -> str | None:
    return env.get(name, "").strip() or None


def quota_cpus(cgroup_root: Path = CGROUP_ROOT) -> float | None:
    """CPUs allowed by the cgroup CPU quota (v2 `cpu.max`, v1 `cpu.cfs_quota_us`), None when unlimited."""
    try:
        quota, _, period = (cgroup_root / "cpu.max").read_text().strip().partition(" ")
        if quota == "max":
            return None
        return int(quota) / int(period or "100000")
    except (OSError, ValueError):
        pass
    for v1 in (cgroup_root / "cpu", cgroup_root / "cpu,cpuacct", cgroup_root):
        try:
            quota_us = int((v1 / "cpu.cfs_quota_us").read_text())
            period_us = int((v1 / "cpu.cfs_period_us").read_text())
        except (OSError, ValueError):
            continue
        return None if quota_us <= 0 or period_us <= 0 else quota_us / period_us
    return None


def available_cpus(cgroup_root: Path = CGROUP_ROOT) -> int:
    """Whole CPUs this process may use: the cgroup quota rounded up, capped by the CPU affinity."""
    try:
        visible = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        visible = os.cpu_count() or 1
    quota = quota_cpus(cgroup_root)
    return max(1, min(visible, math.ceil(quota)) if quota is not None else visible)


def load_settings(env: Mapping[str, str] | None = None, cgroup_root: Path = CGROUP_ROOT) -> Settings:
    """Read the settings from `env` (default: the process environment); raise ConfigError on bad values."""
    env = os.environ if env is None else env
    workers = _int(env, "MODELSHIP_WORKERS", 1, 1)
    default_threads = max(1, available_cpus(cgroup_root) // workers)
    return Settings(
        model_dir=Path(env.get("MODELSHIP_MODEL_DIR", "").strip() or Settings.model_dir),
        host=env.get("MODELSHIP_HOST", "").strip() or Settings.host,
        port=_int(env, "MODELSHIP_PORT", Settings.port, 1),
        workers=workers,
        ort_threads=_int(env, "MODELSHIP_ORT_THREADS", default_threads, 1),
        max_body_bytes=_int(env, "MODELSHIP_MAX_BODY_BYTES", Settings.max_body_bytes, 1),
        access_log=_choice(
            env, "MODELSHIP_ACCESS_LOG", Settings.access_log, ACCESS_LOG_MODES, ACCESS_LOG_BOOLEANS
        ),
        access_log_file=Path(path) if (path := _optional(env, "MODELSHIP_ACCESS_LOG_FILE")) else None,
        slow_request_ms=_int(env, "MODELSHIP_SLOW_REQUEST_MS", Settings.slow_request_ms, 1),
        drain_seconds=_number(
            env, "MODELSHIP_DRAIN_SECONDS", Settings.drain_seconds, MAX_DRAIN_SECONDS, "seconds"
        ),
        model_name=_optional(env, "MODELSHIP_MODEL_NAME"),
        model_version=_optional(env, "MODELSHIP_MODEL_VERSION"),
        model_sha256=_optional(env, "MODELSHIP_MODEL_SHA256"),
        batching=_choice(env, "MODELSHIP_BATCHING", Settings.batching, BATCHING_MODES, BATCHING_BOOLEANS),
        max_batch_size=_int(env, "MODELSHIP_MAX_BATCH_SIZE", Settings.max_batch_size, 1, MAX_BATCH_SIZE),
        max_batch_delay_ms=_number(
            env,
            "MODELSHIP_MAX_BATCH_DELAY_MS",
            Settings.max_batch_delay_ms,
            MAX_BATCH_DELAY_MS,
            "milliseconds",
        ),
    )
