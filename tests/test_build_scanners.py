"""tools/build-scanners: what it does on a machine without Go, and that it leaves built scanners be."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from scripts import scanners

SCRIPT = Path(__file__).resolve().parents[1] / "tools" / "build-scanners"


def build_scanners(path: str, bin_dir: Path) -> subprocess.CompletedProcess[str]:
    """Run the script with PATH and its output folder set; `--no-testdb`, as the scan action does."""
    env = {**os.environ, "PATH": path, "MODELSHIP_SCANNERS_BIN": str(bin_dir)}
    return subprocess.run(
        [str(SCRIPT), "--no-testdb"], env=env, capture_output=True, text=True, timeout=300, check=False
    )


def test_without_go_it_says_what_to_install(tmp_path: Path) -> None:
    no_go = "/usr/bin:/bin"
    if any(Path(folder, "go").exists() for folder in no_go.split(":")):
        pytest.skip("this machine has go in /usr/bin or /bin")
    done = build_scanners(no_go, tmp_path / "bin")
    assert done.returncode == 1
    assert "Go is not installed" in done.stderr
    assert "Install Go 1.26 or later" in done.stderr
    assert not (tmp_path / "bin").exists()


def test_scanners_of_the_pinned_version_are_not_built_again(tmp_path: Path) -> None:
    """The binaries `make setup` built are the pinned ones; copied elsewhere, the script keeps them."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("grype", "syft"):
        shutil.copy2(scanners.BIN_DIR / tool, bin_dir / tool)
    before = {tool: (bin_dir / tool).stat().st_mtime_ns for tool in ("grype", "syft")}
    done = build_scanners(os.environ["PATH"], bin_dir)
    assert done.returncode == 0, done.stderr
    assert f"grype {scanners.pinned_version('grype')} already built" in done.stdout
    assert f"syft {scanners.pinned_version('syft')} already built" in done.stdout
    assert {tool: (bin_dir / tool).stat().st_mtime_ns for tool in ("grype", "syft")} == before
