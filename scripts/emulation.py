"""Running another architecture's image on this engine under QEMU user emulation (binfmt_misc).

Under qemu-user the container reads the host's /proc and /sys: an arm64 program finds an x86
/proc/cpuinfo. onnxruntime's CPU detection (pytorch/cpuinfo, `cpuinfo_arm_linux_init`) then finds no
ARM processor in it and dereferences NULL at `import onnxruntime` (seen with onnxruntime 1.31.1 under
Debian's qemu-user-static 7.2: SIGSEGV right after reading /sys/devices/system/cpu/*/cache). A real
arm64 machine has a real cpuinfo, so only the emulated run gets one: an ARM Neoverse-N1 listing, one
entry per host CPU, bind-mounted read-only over /proc/cpuinfo.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from scripts.gha import StepError
from scripts.platforms import EMULATION_FACTOR, SUPPORTED, Platform, by_architecture, is_emulated

# The fields /proc/cpuinfo has on an arm64 Linux machine (Neoverse-N1: implementer 0x41, part 0xd0c).
_ARM64_CPU = """processor\t: {index}
BogoMIPS\t: 50.00
Features\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc dcpop asimddp
CPU implementer\t: 0x41
CPU architecture: 8
CPU variant\t: 0x3
CPU part\t: 0xd0c
CPU revision\t: 1

"""


def arm64_cpuinfo(cpus: int) -> str:
    """An arm64 /proc/cpuinfo listing `cpus` processors."""
    return "".join(_ARM64_CPU.format(index=index) for index in range(max(cpus, 1)))


def cpuinfo_volume(platform: Platform, folder: Path) -> dict[str, dict[str, str]]:
    """The Docker SDK `volumes` that give an emulated `platform` container its own /proc/cpuinfo."""
    if platform.architecture != "arm64":
        return {}  # x86 CPU detection asks the (emulated) CPU itself, not /proc/cpuinfo
    path = folder / "cpuinfo"
    path.write_text(arm64_cpuinfo(os.cpu_count() or 1), encoding="utf-8")
    path.chmod(0o644)
    return {str(path): {"bind": "/proc/cpuinfo", "mode": "ro"}}


def scaled(seconds: float, emulated: bool) -> float:
    """A time budget, stretched for emulation (platforms.EMULATION_FACTOR)."""
    return seconds * EMULATION_FACTOR if emulated else seconds


def scratch_folder() -> tempfile.TemporaryDirectory[str]:
    """A folder for the emulation's files, readable by the engine, removed on exit."""
    return tempfile.TemporaryDirectory(prefix="modelship-emulation-")


def image_platform(client: Any, image: Any) -> tuple[Platform, bool]:
    """The platform an image is for, and whether this engine runs it under emulation."""
    architecture = str(image.attrs.get("Architecture") or "")
    engine = str(client.version().get("Arch") or "")
    try:
        platform = by_architecture(architecture)
    except StepError:
        raise StepError(
            f"image {image.short_id} is for {image.attrs.get('Os', 'linux')}/{architecture}, which modelship "
            f"does not build; choose from {', '.join(SUPPORTED)}"
        ) from None
    return platform, is_emulated(platform, by_architecture(engine))
