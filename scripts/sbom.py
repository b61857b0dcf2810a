"""syft catalogs the image once into SPDX JSON and CycloneDX JSON; grype then scans the SBOM."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from scripts import gha, scanners

IMAGE_EXIT = 4


class ImageUnreadable(gha.StepError):
    """syft could not read the image (not built, not pulled, or no access to its registry)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, exit_code=IMAGE_EXIT)


@dataclass(frozen=True)
class Sbom:
    """The SBOM files of one image."""

    spdx: Path
    cyclonedx: Path

    @property
    def syft_version(self) -> str:
        """The syft version the CycloneDX document names as its tool, or ''."""
        try:
            metadata = json.loads(self.cyclonedx.read_text(encoding="utf-8")).get("metadata", {})
            tools = metadata.get("tools", {}).get("components", [])
            return next((str(t.get("version", "")) for t in tools if t.get("name") == "syft"), "")
        except (OSError, ValueError, AttributeError):
            return ""


def file_stem(image: str) -> str:
    """A file-name-safe form of an image reference ('reg:5000/a/b:1' -> 'reg-5000-a-b-1')."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", image).strip("-.") or "image"


def write(syft: str, image: str, folder: Path) -> Sbom:
    """Catalog IMAGE with syft into FOLDER; ImageUnreadable when syft cannot read it."""
    folder.mkdir(parents=True, exist_ok=True)
    stem = file_stem(image)
    sbom = Sbom(spdx=folder / f"{stem}.spdx.json", cyclonedx=folder / f"{stem}.cdx.json")
    # From the Docker engine, else the registry; never the other sources syft would try (snap, files).
    done = scanners.run(
        syft,
        image,
        "--from",
        "docker,registry",
        "-o",
        f"spdx-json={sbom.spdx}",
        "-o",
        f"cyclonedx-json={sbom.cyclonedx}",
        env={"SYFT_CHECK_FOR_APP_UPDATE": "false"},
    )
    if done.returncode != 0:
        said = scanners.plain(done.stderr).strip() or "(nothing on stderr)"
        raise ImageUnreadable(
            f"the image '{image}' could not be read to catalog its packages (syft exit "
            f"{done.returncode}); check that it exists (locally: `docker image inspect {image}`) "
            f"or that its registry grants access. syft said:\n{said}"
        )
    return sbom
