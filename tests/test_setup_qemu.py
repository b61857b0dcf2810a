"""tools/setup-qemu: QEMU user emulation checked for real, and a clear note (never a failed set-up)
on a machine that cannot emulate."""

from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path

import pytest

pytestmark = [
    pytest.mark.docker,
    pytest.mark.skipif(
        platform.machine() != "x86_64", reason="the messages name arm64 as the other architecture"
    ),
]

PROJECT = Path(__file__).resolve().parents[1]
SETUP_QEMU = PROJECT / "tools" / "setup-qemu"


def setup_qemu(binfmt: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    if binfmt is not None:
        env["MODELSHIP_BINFMT_DIR"] = str(binfmt)
    return subprocess.run(
        [str(SETUP_QEMU)], capture_output=True, text=True, env=env, timeout=600, check=False
    )


@pytest.mark.skipif(not Path("/proc/sys/fs/binfmt_misc/qemu-aarch64").exists(), reason="no qemu-aarch64 here")
def test_arm64_images_run_here() -> None:
    done = setup_qemu()
    assert done.returncode == 0, done.stderr
    assert (
        "linux/arm64 images run here under QEMU (modelship/python-base:3.11-bookworm-arm64: aarch64)"
        in done.stdout
    )


def test_no_binfmt_misc_is_a_note_not_a_failure(tmp_path: Path) -> None:
    done = setup_qemu(tmp_path / "not-a-mount-point")
    assert done.returncode == 0
    assert (
        "note: this machine cannot run linux/arm64 images (binfmt_misc is not mounted and could not be"
        in done.stderr
    )
    assert "it builds linux/amd64 only" in done.stderr


def test_no_emulator_with_the_fix_binary_flag_is_a_note(tmp_path: Path) -> None:
    (tmp_path / "register").touch()
    (tmp_path / "qemu-aarch64").write_text(
        "enabled\ninterpreter /usr/bin/qemu-aarch64\nflags: \n", encoding="utf-8"
    )
    done = setup_qemu(tmp_path)
    assert done.returncode == 0
    assert f"no qemu-aarch64 emulator with the fix-binary flag in {tmp_path}" in done.stderr
    assert "apt-get install qemu-user-static binfmt-support" in done.stderr
