"""Stand-ins for what cannot run here: `grype` prints grype's real JSON format from fixtures."""

from __future__ import annotations

import sys
from pathlib import Path

FAKE_GRYPE = Path(__file__).parent / "grype"


def fake_grype_in(bin_dir: Path) -> Path:
    """Write a `grype` into `bin_dir` that runs the stand-in with this interpreter; its path."""
    bin_dir.mkdir(exist_ok=True)
    wrapper = bin_dir / "grype"
    wrapper.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{FAKE_GRYPE}" "$@"\n', encoding="utf-8")
    wrapper.chmod(0o755)
    return wrapper
