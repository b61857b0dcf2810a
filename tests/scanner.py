"""The real grype and syft for the tests: the offline test database, and images carrying old wheels."""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import docker

from scripts import scanners

PROJECT = Path(__file__).resolve().parents[1]
ADVISORIES = PROJECT / "tools" / "grype-testdb" / "advisories"
WHEELS = PROJECT / "tests" / "fixtures" / "wheels"
BASE_IMAGE = "modelship/python-base:3.11-bookworm"
SITE_PACKAGES = "/usr/lib/python3/dist-packages"


def tool(name: str) -> str:
    """grype, syft or grype-testdb as `make setup` built them; a clear failure when missing."""
    found = scanners.find(name) if name != "grype-testdb" else None
    path = found or str(scanners.BIN_DIR / name)
    if not Path(path).exists():
        raise RuntimeError(f"{name} is not built: run `make setup` (tools/build-scanners)")
    return path


def build_test_database(advisories: Path, out: Path) -> dict[str, str]:
    """Run grype-testdb on ADVISORIES into OUT and return the environment it prints."""
    done = subprocess.run(
        [tool("grype-testdb"), str(advisories), str(out)], capture_output=True, text=True, check=True
    )
    return dict(line.split("=", 1) for line in shlex.split(done.stdout))


def advisories_naming(package: str, severity: str, folder: Path) -> Path:
    """The project's advisories plus one of the test's own: every version of a python PACKAGE is
    affected at SEVERITY, with no fix. Returns the new advisories folder."""
    shutil.copytree(ADVISORIES, folder)
    record = {
        "schema": "https://raw.githubusercontent.com/anchore/vunnel/main/schema/vulnerability/"
        "github-security-advisory/schema-1.0.1.json",
        "identifier": f"github:python/GHSA-test-{package}",
        "item": {
            "Advisory": {
                "CVE": [],
                "FixedIn": [
                    {
                        "ecosystem": "pip",
                        "identifier": "None",
                        "name": package,
                        "namespace": "github:python",
                        "range": ">= 0",
                    }
                ],
                "Metadata": {"CVE": []},
                "Severity": severity,
                "Summary": f"a test advisory against every {package} (modelship's tests)",
                "ghsaId": f"GHSA-test-{package}",
                "namespace": "github:python",
                "url": "",
                "withdrawn": None,
            },
            "Vulnerability": {},
        },
    }
    (folder / "github" / f"GHSA-test-{package}.json").write_text(json.dumps(record), encoding="utf-8")
    return folder


def sarif_schema() -> dict[str, Any]:
    """SARIF 2.1.0's JSON schema as grype's pinned module ships it (its presenter tests use it)."""
    modcache = subprocess.run(
        ["go", "env", "GOMODCACHE"], capture_output=True, text=True, check=True
    ).stdout.strip()
    version = scanners.pinned_version("grype")
    schema = (
        Path(modcache)
        / f"github.com/anchore/grype@v{version}"
        / "grype/presenter/sarif/testdata/sarif-schema-2.1.0.json"
    )
    loaded: dict[str, Any] = json.loads(schema.read_text(encoding="utf-8"))
    return loaded


@contextmanager
def image_with_wheels(tag: str, wheels: list[str], workdir: Path) -> Iterator[str]:
    """An image of the base plus WHEELS installed into site-packages (a wheel is a zip); removed after."""
    workdir.mkdir(parents=True, exist_ok=True)
    for wheel in wheels:
        (workdir / wheel).write_bytes((WHEELS / wheel).read_bytes())
    install = " ".join(f"/tmp/{wheel}" for wheel in wheels)
    (workdir / "Dockerfile").write_text(
        "ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\n"
        + "".join(f"COPY {wheel} /tmp/\n" for wheel in wheels)
        + "RUN for wheel in "
        + install
        + '; do python3 -c "import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])"'
        + f' "$wheel" {SITE_PACKAGES}; done\n',
        encoding="utf-8",
    )
    client = docker.from_env()
    try:
        client.images.build(path=str(workdir), tag=tag, buildargs={"BASE_IMAGE": BASE_IMAGE}, rm=True)
        yield tag
    finally:
        client.images.remove(tag, force=True)
        client.close()
