"""grype's database update path, for real: the test database served in grype's distribution format
(latest.json plus an archive) from a loopback HTTP server, found through GRYPE_DB_UPDATE_URL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from scripts import grype
from tests import scanner
from tests.scanner import UpdateServer


@pytest.fixture
def update_server(tmp_path: Path) -> Iterator[UpdateServer]:
    """The project's test database, served on loopback as grype.anchore.io lays it out."""
    with scanner.update_server(tmp_path / "db") as server:
        yield server


@pytest.fixture
def online(update_server: UpdateServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """grype updates itself from the loopback server into an empty cache of its own."""
    cache = tmp_path / "cache"
    for name in ("GRYPE_DB_AUTO_UPDATE", "GRYPE_DB_REQUIRE_UPDATE_CHECK"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("GRYPE_DB_CACHE_DIR", str(cache))
    monkeypatch.setenv("GRYPE_DB_UPDATE_URL", update_server.url)
    monkeypatch.setattr(grype, "RETRY_PAUSE_SECONDS", 0.01)
    return cache


def test_a_first_update_downloads_the_database(update_server: UpdateServer, online: Path) -> None:
    database = grype.ready(scanner.tool("grype"))
    assert database.test_advisories == 3
    assert database.source.startswith(update_server.url)
    assert update_server.requests[0] == "/databases/v6/latest.json"
    assert update_server.archive_downloads() == 1
    assert (online / "6" / "vulnerability.db").is_file()


def test_a_cached_database_is_reused_without_a_download(update_server: UpdateServer, online: Path) -> None:
    first = grype.ready(scanner.tool("grype"))
    seen = len(update_server.requests)
    again = grype.ready(scanner.tool("grype"))
    assert again.built == first.built
    # `grype db update` asks latest.json whether a newer build exists; the same build is not fetched again
    assert update_server.requests[seen:] == ["/databases/v6/latest.json"]
    assert update_server.archive_downloads() == 1


def test_a_failed_download_is_database_trouble_after_retries(
    update_server: UpdateServer, online: Path
) -> None:
    update_server.failing = True
    with pytest.raises(grype.DatabaseError) as raised:
        grype.ready(scanner.tool("grype"))
    message = str(raised.value)
    assert raised.value.exit_code == grype.DATABASE_EXIT
    assert "its update failed" in message
    assert "503" in message
    assert "database does not exist" in message
    assert "GRYPE_DB_UPDATE_URL" in message
    assert update_server.requests == ["/databases/v6/latest.json"] * grype.UPDATE_ATTEMPTS


def test_a_failed_check_keeps_a_valid_cached_database(
    update_server: UpdateServer,
    online: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    grype.ready(scanner.tool("grype"))
    update_server.failing = True
    database = grype.ready(scanner.tool("grype"))
    assert database.test_advisories == 3
    assert "could not check for a newer vulnerability database" in capsys.readouterr().err
