"""Download the serving image's wheels on the host, so the Docker build needs no network.

`pip` inside a build cannot always reach or verify the package index (proxies, private CAs);
the host can. The wheelhouse holds the serving lock's wheels and a pip wheel (requirements/pip.txt),
for the image's Python (3.11) and one CPU architecture (the host's, or another's for a multi-arch
build: pip downloads aarch64 wheels on an x86_64 host alike), each checked against the hashes in its
lock, and is reused while the locks and the architecture are unchanged.
"""

from __future__ import annotations

import hashlib
import platform
import subprocess
import sys
from pathlib import Path

from scripts import gha, platforms

PROJECT_DIR = Path(__file__).resolve().parents[1]
REQUIREMENTS = PROJECT_DIR / "requirements" / "serving.txt"
# The pip that installs the wheels inside the image build, locked with its hashes like the rest.
PIP_LOCK = PROJECT_DIR / "requirements" / "pip.txt"
DEFAULT_DEST = PROJECT_DIR / ".wheelhouse"
PYTHON_VERSION = "3.11"
STAMP = ".requirements.sha256"


def platform_tags(machine: str) -> list[str]:
    """manylinux tags pip may pick for a CPU (pip's name: x86_64, aarch64)."""
    arch = machine.lower()
    return [f"manylinux_2_{minor}_{arch}" for minor in (36, 34, 28, 17)] + [f"manylinux2014_{arch}"]


def requirements_digest(requirements: Path, machine: str = "") -> str:
    """What the wheelhouse was made from: the serving lock, pip's, and the CPU (default: this host's)."""
    machine = machine or platform.machine()
    return hashlib.sha256(requirements.read_bytes() + PIP_LOCK.read_bytes() + machine.encode()).hexdigest()


def ensure(dest: Path = DEFAULT_DEST, requirements: Path = REQUIREMENTS, machine: str = "") -> Path:
    """Make sure `dest` holds the wheels of `requirements` for `machine` (default: this host's CPU)."""
    machine = machine or platform.machine()
    digest = requirements_digest(requirements, machine)
    stamp = dest / STAMP
    if stamp.is_file() and stamp.read_text(encoding="utf-8").strip() == digest:
        return dest
    dest.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--require-hashes"]
    command += ["--only-binary=:all:", "--python-version", PYTHON_VERSION, "--implementation", "cp"]
    command += ["--dest", str(dest)]
    for tag in platform_tags(machine):
        command += ["--platform", tag]
    command += ["-r", str(requirements), "-r", str(PIP_LOCK)]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise gha.StepError(
            f"could not download the serving wheels listed in {requirements}: "
            f"{result.stderr.strip()[-2000:]}\nCheck that the package index is reachable from this machine "
            "(pip config, proxy, certificates), that every pin has a wheel for Python 3.11, and that the "
            "lock is current: a hash mismatch means the lock and the index disagree (run `make locks`)."
        )
    stamp.write_text(digest + "\n", encoding="utf-8")
    return dest


def main(argv: list[str] | None = None) -> int:
    """Fill the wheelhouse for the serving image."""
    parser = gha.StepParser(prog="wheelhouse", description=__doc__)
    parser.add_input("--dest", default=str(DEFAULT_DEST), help="folder for the wheels")
    parser.add_input(
        "--platform", default="", help="the image's platform, e.g. linux/arm64 (default: this host's)"
    )
    args = parser.parse_args(argv)
    with gha.step_errors():
        machine = platforms.parse_one(args.platform).wheel_machine if args.platform else ""
        dest = ensure(Path(args.dest), machine=machine)
    gha.set_output("wheelhouse", dest)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
