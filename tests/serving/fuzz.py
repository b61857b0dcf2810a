"""schemathesis with every check against a served model's own /openapi.json, the same run for a
process on loopback and for the image in its container."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

FUZZ_EXAMPLES = 10  # per operation and phase; the whole run of one model stays near 10 s


def schemathesis_finds_nothing(url: str, workdir: Path) -> None:
    """Run schemathesis on URL/openapi.json, deterministic; fail with its summary on any finding."""
    # The hooks keep only two rules JSON Schema cannot say (pandas columns share row labels; a V2
    # tensor has as many values as its shape) for the cases meant to be valid.
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parent), "SCHEMATHESIS_HOOKS": "schemathesis_hooks"}
    run = subprocess.run(
        [
            str(Path(sys.executable).with_name("schemathesis")),
            "run",
            f"{url}/openapi.json",
            "--checks",
            "all",
            "--max-examples",
            str(FUZZ_EXAMPLES),
            "--generation-deterministic",  # the same cases on every run
            "--workers",
            "1",
            "--no-color",
        ],
        env=env,
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=55,
        check=False,
    )
    summary = run.stdout[-3000:]
    generated = re.search(r"(\d+) generated", run.stdout)
    assert generated, summary
    assert int(generated.group(1)) >= 200, summary
    assert run.returncode == 0, summary
    assert "No issues found" in run.stdout, summary
