"""The real grype and syft for the tests: the offline test database, and images carrying old wheels."""

from __future__ import annotations

import json
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import docker

from scripts import scanners

PROJECT = Path(__file__).resolve().parents[1]
ADVISORIES = scanners.TEST_ADVISORIES
# Not a real advisory: it names every onnxruntime, so the serving image fails the scan (critical).
AGAINST_ONNXRUNTIME = PROJECT / "tests" / "fixtures" / "advisories" / "onnxruntime"
WHEELS = PROJECT / "tests" / "fixtures" / "wheels"
BASE_IMAGE = "modelship/python-base:3.11-bookworm"
SITE_PACKAGES = "/usr/lib/python3/dist-packages"


def tool(name: str) -> str:
    """grype, syft or grype-testdb as `make setup` built them; a clear failure when missing."""
    path = scanners.find(name)
    if path is None:
        raise RuntimeError(f"{name} is not built: run `make setup` (tools/build-scanners)")
    return path


def build_test_database(out: Path, *advisories: Path) -> dict[str, str]:
    """The offline test database of the project's advisories and any others, built into OUT."""
    return scanners.offline_test_database(out, *advisories)


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


@dataclass
class UpdateServer:
    """A loopback server of one database's distribution files, with the requests it saw."""

    url: str
    requests: list[str] = field(default_factory=list)
    failing: bool = False

    def archive_downloads(self) -> int:
        """How many times the archive itself was fetched."""
        return sum(1 for path in self.requests if ".tar." in path)


@contextmanager
def update_server(folder: Path, *advisories: Path) -> Iterator[UpdateServer]:
    """Build the test database (plus ADVISORIES) in FOLDER and serve its dist/ at /databases/v6/ on loopback,
    as grype.anchore.io lays it out; GRYPE_DB_UPDATE_URL is the server's `url`."""
    build_test_database(folder, *advisories)
    root = folder / "site"
    (root / "databases").mkdir(parents=True)
    (folder / "dist").rename(root / "databases" / "v6")
    state = UpdateServer(url="")

    class Handler(SimpleHTTPRequestHandler):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, directory=str(root), **kwargs)

        def do_GET(self) -> None:
            state.requests.append(self.path)
            if state.failing:
                self.send_error(503, "the update server is down for the test")
                return
            super().do_GET()

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: the requests are recorded, not printed."""

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/databases"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
