"""Run a pipeline step's `main` in-process, the way a workflow step runs it, and read what it left."""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path

import pytest

from scripts import gha


@dataclass(frozen=True)
class StepRun:
    """One run of a step: its exit code, what it printed, its outputs and its job summary."""

    code: int
    out: str
    err: str
    outputs: dict[str, str]
    summary: str


def run_step(
    main: Callable[[list[str]], int], argv: Sequence[str], files: Path, monkeypatch: pytest.MonkeyPatch
) -> StepRun:
    """Run `main(argv)` with fresh GITHUB_OUTPUT and GITHUB_STEP_SUMMARY files in `files`; an exit by
    SystemExit counts as returning its code."""
    output, summary = files / "github_output", files / "step_summary"
    for path in (output, summary):
        path.write_text("", encoding="utf-8")
    monkeypatch.setenv("GITHUB_OUTPUT", str(output))
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        try:
            code = main(list(argv))
        except SystemExit as exited:
            code = int(exited.code or 0)
    return StepRun(code, out.getvalue(), err.getvalue(), gha.read_outputs(output), summary.read_text("utf-8"))
