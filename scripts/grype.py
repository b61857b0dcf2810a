"""grype as a subprocess: make its vulnerability database ready, then scan an SBOM with it.

Database trouble is told apart from everything else (exit code DATABASE_EXIT), because its fix is
never in the image: grype refuses a database older than `db.max-allowed-built-age` (5 days by
default), and since grype 0.88 it reads only schema v6 (anchore/grype-db#912 ended v5 on 2026-03-06).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from dataclasses import dataclass
from typing import Any

from scripts import gha, scanners

DATABASE_EXIT = 3
UPDATE_ATTEMPTS = 3
RETRY_PAUSE_SECONDS = 2.0
# grype-testdb names itself in each provider's record: "modelship-grype-testdb: N advisories".
TEST_DB_PROCESSOR = re.compile(r"^modelship-grype-testdb: (\d+) advisories$")
QUIET = {"GRYPE_CHECK_FOR_APP_UPDATE": "false"}
DATABASE_FIX = (
    "Fix: run `grype db update` where grype can reach its database (by default grype.anchore.io; "
    "a mirror is set with GRYPE_DB_UPDATE_URL), or on GitHub let the scan action restore and "
    "refresh it; the image is not at fault"
)


class DatabaseError(gha.StepError):
    """grype's vulnerability database could not be downloaded, loaded, or is too old."""

    def __init__(self, message: str) -> None:
        super().__init__(message, exit_code=DATABASE_EXIT)


@dataclass(frozen=True)
class Database:
    """The vulnerability database a scan used."""

    schema: str
    built: str
    source: str
    test_advisories: int | None

    @property
    def test_note(self) -> str:
        """What a scan with the offline test database must say plainly."""
        return (
            f"scanned with the offline test database ({self.test_advisories} advisories); "
            "this is not a vulnerability assessment"
        )

    @property
    def description(self) -> str:
        """One line for summaries: schema, build time, and whether it is the offline test database."""
        text = f"vulnerability database {self.schema} built {self.built}"
        if self.test_advisories is not None:
            return f"{text}: {self.test_note}"
        return text


def run(grype: str, *args: str, auto_update: bool = True) -> subprocess.CompletedProcess[str]:
    """Run grype with ARGS; auto_update=False stops a scan from checking for a newer database."""
    return scanners.run(
        grype, *args, env=QUIET if auto_update else {**QUIET, "GRYPE_DB_AUTO_UPDATE": "false"}
    )


def last_error(stderr: str) -> str:
    """grype's last ERROR line without its log prefix and colours, else its last line."""
    lines = [line.strip() for line in scanners.plain(stderr).splitlines()]
    errors = [re.sub(r"^\[\d+\]\s+ERROR\s+", "", line) for line in lines if " ERROR " in line]
    return (errors or [line for line in lines if line] or ["(nothing on stderr)"])[-1]


def auto_update_enabled() -> bool:
    """grype's db.auto-update as the environment sets it (on unless GRYPE_DB_AUTO_UPDATE is false)."""
    return os.environ.get("GRYPE_DB_AUTO_UPDATE", "true").strip().lower() not in {"false", "0", "no"}


def update(grype: str, attempts: int = UPDATE_ATTEMPTS) -> str | None:
    """`grype db update`, retried with a growing pause; None on success, else grype's last error."""
    problem = None
    for attempt in range(attempts):
        if attempt:
            time.sleep(RETRY_PAUSE_SECONDS * attempt)
        done = run(grype, "db", "update")
        if done.returncode == 0:
            return None
        problem = last_error(done.stderr)
    return problem


def _json(done: subprocess.CompletedProcess[str]) -> Any:
    try:
        return json.loads(done.stdout)
    except json.JSONDecodeError:
        return None


def test_advisories(grype: str) -> int | None:
    """The advisory count when every provider came from grype-testdb, else None (a real database)."""
    providers = _json(run(grype, "db", "providers", "-o", "json", auto_update=False))
    if not isinstance(providers, list) or not providers:
        return None
    counts = [TEST_DB_PROCESSOR.match(str(p.get("processor", ""))) for p in providers if isinstance(p, dict)]
    if len(counts) != len(providers) or not all(counts):
        return None
    return sum(int(match.group(1)) for match in counts if match)


def ready(grype: str) -> Database:
    """Update the database when grype may (with retries), then check it loads; DatabaseError if not."""
    problem = update(grype) if auto_update_enabled() else None
    status = _json(run(grype, "db", "status", "-o", "json", auto_update=False))
    if not isinstance(status, dict) or not status.get("valid"):
        error = status.get("error") if isinstance(status, dict) else None
        reasons = [
            f"its update failed: {problem}" if problem else "",
            f"it reports: {error}" if error else "",
        ]
        raise DatabaseError(
            "grype's vulnerability database could not be loaded or is too old ("
            + "; ".join(reason for reason in reasons if reason)
            + f"). {DATABASE_FIX}"
        )
    database = Database(
        schema=str(status.get("schemaVersion", "")),
        built=str(status.get("built", "")),
        source=str(status.get("from", "")),
        test_advisories=test_advisories(grype),
    )
    if problem:
        gha.annotate(
            "warning",
            f"grype could not check for a newer vulnerability database ({problem}); "
            f"scanning with the cached one, built {database.built}",
        )
    return database


def scan_sbom(grype: str, sbom: str, config: str | None) -> str:
    """grype's JSON report for an SBOM file, with the database `ready` prepared (no second update)."""
    done = run(
        grype, f"sbom:{sbom}", "-o", "json", *(["--config", config] if config else []), auto_update=False
    )
    if done.returncode == 0:
        return done.stdout
    error = last_error(done.stderr)
    if "vulnerability db" in error or "database" in error:
        raise DatabaseError(f"grype could not load its vulnerability database: {error}. {DATABASE_FIX}")
    raise gha.StepError(
        f"grype failed on the SBOM {sbom} (exit {done.returncode}): {error}. Check the grype config "
        f"({gha.input_name('config')}); run the same `grype sbom:FILE -o json` by hand to see more",
        exit_code=2,
    )
