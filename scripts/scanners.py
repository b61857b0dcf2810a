"""Where grype and syft come from: the versions pinned in one go.mod, and the binaries to run."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path

from scripts import gha

PROJECT_DIR = Path(__file__).resolve().parents[1]
# The one place that names the scanner versions: the test-database tool's go.mod, which builds
# against the same grype, so the scanner and the test database always share a schema.
GO_MOD = PROJECT_DIR / "tools" / "grype-testdb" / "go.mod"
BIN_DIR = PROJECT_DIR / ".modelship" / "bin"
TEST_ADVISORIES = PROJECT_DIR / "tools" / "grype-testdb" / "advisories"
ANSI_COLOUR = re.compile(r"\x1b\[[0-9;]*m")
MODULES = {"grype": "github.com/anchore/grype", "syft": "github.com/anchore/syft"}
INSTALL_HINT = (
    "run `make setup` (it builds the pinned grype and syft into .modelship/bin with Go >= 1.26), "
    "or use the scan action, which installs them; to go on without scanning, pass --skip "
    "(input skip: true) and the summary will say so"
)


def pinned_version(tool: str) -> str:
    """The version go.mod pins for grype or syft, without the leading v (e.g. '0.121.2')."""
    module = re.escape(MODULES[tool])
    found = re.search(rf"^\s*{module} v(\S+)", GO_MOD.read_text(encoding="utf-8"), re.MULTILINE)
    if found is None:
        raise LookupError(f"{GO_MOD} does not require {MODULES[tool]}")
    return found.group(1)


def find(tool: str) -> str | None:
    """The tool on PATH, else the one `make setup` built into .modelship/bin, else None."""
    built = BIN_DIR / tool
    return shutil.which(tool) or (str(built) if os.access(built, os.X_OK) else None)


def run(path: str, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run the scanner at PATH with ARGS and ENV added to ours; a StepError (exit 2) when it cannot start."""
    try:
        return subprocess.run(
            [path, *args], capture_output=True, text=True, env={**os.environ, **env}, check=False
        )
    except OSError as error:
        raise gha.StepError(f"could not run {path}: {error}", exit_code=2) from None


def plain(text: str) -> str:
    """What a scanner printed, without its terminal colours."""
    return ANSI_COLOUR.sub("", text)


def offline_test_database(out: Path, *advisories: Path) -> dict[str, str]:
    """Build grype-testdb's database of the project's advisories (and any others) into OUT; the
    environment it prints, which makes grype scan offline with it (not a vulnerability assessment)."""
    testdb = find("grype-testdb")
    if testdb is None:
        raise gha.StepError(f"grype-testdb is not on PATH nor in {BIN_DIR}; {INSTALL_HINT}", exit_code=2)
    folders = [str(folder) for folder in (TEST_ADVISORIES, *advisories)]
    done = subprocess.run([testdb, *folders, str(out)], capture_output=True, text=True, check=True)
    return dict(line.split("=", 1) for line in shlex.split(done.stdout))
