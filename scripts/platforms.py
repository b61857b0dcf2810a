"""Target platforms of a multi-arch build: parsing `--platforms`, each one's base image and wheelhouse.

Docker names a platform `os/architecture[/variant]` (the OCI image index's `platform` object,
https://github.com/opencontainers/image-spec/blob/main/image-index.md); pip names the same CPU in
its wheel tags (x86_64, aarch64). This module is the one table between the two.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from scripts.gha import StepError, input_name, split_list

# A base image name may hold this placeholder: each platform's build uses its own base.
ARCH_PLACEHOLDER = "{arch}"
# How much slower the serving stack runs under QEMU user emulation than natively on this machine kind
# (the smoke test's time budgets are multiplied by it): the housing image's start-up took 5.8x and
# its /predict 3-5x the amd64 one's under Debian's qemu-user-static 7.2 here, so 10 leaves headroom.
EMULATION_FACTOR = 10.0


@dataclass(frozen=True)
class Platform:
    """One target platform, as Docker and the OCI image index name it."""

    architecture: str
    wheel_machine: str
    variant: str = ""
    os: str = "linux"

    def __str__(self) -> str:
        return f"{self.os}/{self.architecture}"

    def index_entry(self) -> dict[str, str]:
        """The `platform` object of this platform's entry in an OCI image index."""
        entry = {"architecture": self.architecture, "os": self.os}
        if self.variant:
            entry["variant"] = self.variant
        return entry


SUPPORTED = {
    "linux/amd64": Platform("amd64", "x86_64"),
    "linux/arm64": Platform("arm64", "aarch64", variant="v8"),
}
# Other spellings of the same platforms (Docker's normalisation: arm64/v8 is arm64, x86_64 is amd64).
ALIASES = {"linux/arm64/v8": "linux/arm64", "linux/aarch64": "linux/arm64", "linux/x86_64": "linux/amd64"}


def by_architecture(architecture: str) -> Platform:
    """The platform of an engine or image architecture (`amd64`, `arm64`, `x86_64`, `aarch64`)."""
    return parse_one(f"linux/{architecture}")


def parse_one(text: str) -> Platform:
    """One platform from `os/arch[/variant]`, or an error listing the supported ones."""
    name = text.strip().lower()
    name = ALIASES.get(name, name)
    if name not in SUPPORTED:
        raise StepError(
            f"{input_name('platforms')}: {text.strip()!r} is not a supported platform; "
            f"choose from {', '.join(SUPPORTED)} (comma-separated)"
        )
    return SUPPORTED[name]


def named(text: str) -> tuple[Platform, ...]:
    """The platforms a `platforms` input names, in its order, without repeats."""
    return tuple(dict.fromkeys(parse_one(item) for item in split_list(text)))


def parse(text: str, host: Platform) -> tuple[Platform, ...]:
    """The platforms to build: those named, else the host's."""
    return named(text) or (host,)


def base_image_for(base_image: str, platform: Platform) -> str:
    """The base image of one platform's build: `{arch}` replaced by the platform's architecture.

    A local engine keeps one image per name, so local bases of several platforms need names of their
    own; a registry's multi-platform base (python:3.11-slim) may keep one name for all.
    """
    return base_image.replace(ARCH_PLACEHOLDER, platform.architecture)


def wheelhouse_for(wheelhouse: Path, platform: Platform, host: Platform) -> Path:
    """The wheelhouse of one platform: the host's is `wheelhouse` itself, another's a sibling folder."""
    if platform == host:
        return wheelhouse
    return wheelhouse.with_name(f"{wheelhouse.name}-{platform.architecture}")


def is_emulated(platform: Platform, host: Platform) -> bool:
    """True when this machine runs the platform's binaries under emulation (QEMU), not natively."""
    return platform != host


def tag_suffix(platform: Platform) -> str:
    """The suffix of the tag one platform's image is pushed under before the index joins them."""
    return f"-{platform.architecture}"
