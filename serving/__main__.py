"""`python -m serving`: the model server on uvicorn (uvloop, httptools), configured by the environment."""

from __future__ import annotations

import argparse
import copy
import os
import shutil
import signal
import sys
import tempfile
from typing import Any

import uvicorn
from uvicorn.config import LOGGING_CONFIG, STARTUP_FAILURE

# Only light imports here: with several workers this process just supervises them.
from serving.accesslog import open_for_append
from serving.config import METRICS_DIR_ENV, ConfigError, Settings, load_settings
from serving.drain import DrainingServer
from serving.model_folder import MODEL_FILE
from serving.workers import Supervisor


def log_config() -> dict[str, Any]:
    """uvicorn's logging set-up plus the `modelship` logger (start-up and errors, to stderr)."""
    config = copy.deepcopy(LOGGING_CONFIG)
    config["formatters"]["modelship"] = {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}
    config["handlers"]["modelship"] = {
        "formatter": "modelship",
        "class": "logging.StreamHandler",
        "stream": "ext://sys.stderr",
    }
    config["loggers"]["modelship"] = {"handlers": ["modelship"], "level": "INFO", "propagate": False}
    return config


def share_metrics_between_workers(settings: Settings) -> str | None:
    """With several workers, give them a fresh directory to share their metrics through; its path."""
    if settings.workers > 1 and not os.environ.get(METRICS_DIR_ENV):
        try:
            os.environ[METRICS_DIR_ENV] = tempfile.mkdtemp(prefix="modelship-metrics-")
        except OSError:
            print(
                "modelship: no writable temporary directory; /metrics shows one worker at a time",
                file=sys.stderr,
            )
            return None
        return os.environ[METRICS_DIR_ENV]
    return None


def serve(config: uvicorn.Config, drain_seconds: float) -> bool:
    """Serve (one process, or a supervisor and its workers) until stopped and drained; False when the
    server could not start."""
    if config.workers == 1:
        server = DrainingServer(config, drain_seconds)
        server.run()
        return server.started
    return Supervisor(config, config.bind_socket(), drain_seconds).run()


def main(argv: list[str] | None = None) -> int:
    """Serve until SIGTERM/SIGINT and the drain after it; exit 0 after a graceful stop, 2 on bad settings,
    3 when the model cannot be loaded."""
    argparse.ArgumentParser(
        prog="python -m serving",
        description="Serve the ONNX model in MODELSHIP_MODEL_DIR; configured by MODELSHIP_* variables.",
    ).parse_args(argv)
    try:
        settings = load_settings()
    except ConfigError as exc:
        print(f"modelship: {exc}", file=sys.stderr)
        return 2
    if not (settings.model_dir / MODEL_FILE).is_file():
        print(
            f"modelship: no {MODEL_FILE} in {settings.model_dir}; set MODELSHIP_MODEL_DIR to a model folder",
            file=sys.stderr,
        )
        return 2
    if settings.access_log != "off" and settings.access_log_file is not None:
        try:
            os.close(open_for_append(settings.access_log_file))
        except OSError as exc:
            print(
                f"modelship: MODELSHIP_ACCESS_LOG_FILE={settings.access_log_file} cannot be opened for "
                f"appending ({exc.strerror}); mount a volume there that uid {os.getuid()} can write, "
                "or unset it to log to stdout",
                file=sys.stderr,
            )
            return 2
    shared = share_metrics_between_workers(settings)
    # uvicorn stops gracefully on a second SIGTERM/SIGINT, then raises the signal again for the handler
    # it found: a no-op handler here makes that a clean exit 0 instead of death by signal.
    for stop in (signal.SIGTERM, signal.SIGINT):
        signal.signal(stop, lambda signum, frame: None)
    config = uvicorn.Config(
        "serving.app:create_app",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        loop="uvloop",
        http="httptools",
        lifespan="on",
        access_log=False,  # serving.accesslog writes the access log (MODELSHIP_ACCESS_LOG)
        log_config=log_config(),
        server_header=False,
        timeout_graceful_shutdown=30,
    )
    started = serve(config, settings.drain_seconds)
    if shared is not None:
        shutil.rmtree(shared, ignore_errors=True)
    return 0 if started else STARTUP_FAILURE


if __name__ == "__main__":
    raise SystemExit(main())
