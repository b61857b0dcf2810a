"""Target platforms: parsing --platforms, each platform's base image and wheelhouse, the QEMU shim."""

from __future__ import annotations

from pathlib import Path

import pytest

from scripts import emulation, platforms, wheelhouse
from scripts.gha import StepError

AMD64 = platforms.SUPPORTED["linux/amd64"]
ARM64 = platforms.SUPPORTED["linux/arm64"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("", (AMD64,), id="empty-is-the-host"),
        pytest.param("linux/arm64", (ARM64,), id="one"),
        pytest.param("linux/amd64,linux/arm64", (AMD64, ARM64), id="both-in-order"),
        pytest.param("linux/arm64\nlinux/amd64", (ARM64, AMD64), id="newline-separated"),
        pytest.param("linux/arm64/v8, LINUX/AMD64, linux/arm64", (ARM64, AMD64), id="aliases-and-repeats"),
        pytest.param("linux/aarch64,linux/x86_64", (ARM64, AMD64), id="machine-names"),
    ],
)
def test_parse(text: str, expected: tuple[platforms.Platform, ...]) -> None:
    assert platforms.parse(text, host=AMD64) == expected


@pytest.mark.parametrize("text", ["linux/riscv64", "windows/amd64", "arm64", "linux/arm/v7"])
def test_unsupported_platform_lists_the_supported(text: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("INPUT_PLATFORMS", raising=False)
    with pytest.raises(StepError) as error:
        platforms.parse(f"linux/amd64,{text}", host=AMD64)
    message = str(error.value)
    assert f"--platforms: {text!r} is not a supported platform" in message
    assert "choose from linux/amd64, linux/arm64" in message
    assert "\n" not in message


def test_index_entry_names_the_arm64_variant() -> None:
    assert ARM64.index_entry() == {"architecture": "arm64", "os": "linux", "variant": "v8"}
    assert AMD64.index_entry() == {"architecture": "amd64", "os": "linux"}
    assert str(ARM64) == "linux/arm64"


def test_by_architecture_takes_engine_and_machine_names() -> None:
    assert platforms.by_architecture("arm64") == platforms.by_architecture("aarch64") == ARM64
    assert platforms.by_architecture("amd64") == platforms.by_architecture("x86_64") == AMD64


def test_base_image_placeholder() -> None:
    template = "modelship/python-base:3.11-bookworm-{arch}"
    assert platforms.base_image_for(template, ARM64) == "modelship/python-base:3.11-bookworm-arm64"
    assert platforms.base_image_for(template, AMD64) == "modelship/python-base:3.11-bookworm-amd64"
    assert platforms.base_image_for("python:3.11-slim", ARM64) == "python:3.11-slim"  # a multi-platform base
    assert platforms.base_image_for("", ARM64) == ""  # the Dockerfile's default


def test_wheelhouse_per_platform() -> None:
    root = Path("/p/.wheelhouse")
    assert platforms.wheelhouse_for(root, AMD64, host=AMD64) == root
    assert platforms.wheelhouse_for(root, ARM64, host=AMD64) == Path("/p/.wheelhouse-arm64")
    assert platforms.is_emulated(ARM64, AMD64)
    assert not platforms.is_emulated(AMD64, AMD64)


def test_wheel_tags_follow_the_platform() -> None:
    tags = wheelhouse.platform_tags(ARM64.wheel_machine)
    assert "manylinux2014_aarch64" in tags
    assert "manylinux_2_28_aarch64" in tags
    assert not any("x86_64" in tag for tag in tags)


def test_wheelhouse_stamp_depends_on_the_machine(tmp_path: Path) -> None:
    lock = tmp_path / "serving.txt"
    lock.write_text("x==1\n", encoding="utf-8")
    assert wheelhouse.requirements_digest(lock, "aarch64") != wheelhouse.requirements_digest(lock, "x86_64")


def test_arm64_cpuinfo_lists_one_arm_processor_per_cpu(tmp_path: Path) -> None:
    text = emulation.arm64_cpuinfo(3)
    assert text.count("processor\t:") == 3
    assert text.count("CPU implementer\t: 0x41") == 3
    volumes = emulation.cpuinfo_volume(ARM64, tmp_path)
    (path, bind), *_ = volumes.items()
    assert bind == {"bind": "/proc/cpuinfo", "mode": "ro"}
    assert "CPU part\t: 0xd0c" in Path(path).read_text(encoding="utf-8")
    assert emulation.cpuinfo_volume(AMD64, tmp_path) == {}


def test_time_budget_scaled_only_when_emulated() -> None:
    assert emulation.scaled(60, emulated=False) == 60
    assert emulation.scaled(60, emulated=True) == 60 * platforms.EMULATION_FACTOR
