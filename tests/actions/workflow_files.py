"""Where the project's workflows and actions are, and what they reference with `uses:`."""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

PROJECT_DIR = Path(__file__).resolve().parents[2]
STANDINS_DIR = Path(__file__).resolve().parent / "standins"

# A remote action: owner/repo[/path]@ref, optionally followed by a comment.
REMOTE_USES = re.compile(r"^(?P<repo>[\w.-]+/[\w.-]+)(?P<path>/[^@\s]+)?@(?P<ref>[^\s#]+)$")
SELF_REPOSITORY_PREFIX = "$/"


def workflow_files() -> list[Path]:
    """The project's own workflows and the templates users copy."""
    return sorted([*PROJECT_DIR.glob(".github/workflows/*.yml"), *PROJECT_DIR.glob("workflows/*.yml")])


def action_files() -> list[Path]:
    """The root action and the step actions."""
    return [PROJECT_DIR / "action.yml", *sorted(PROJECT_DIR.glob("actions/*/action.yml"))]


def load(path: Path) -> dict[str, Any]:
    """A workflow or action file as data."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict), f"{path} is not a YAML mapping"
    if True in data:  # YAML 1.1 reads the key `on` as a boolean
        data["on"] = data.pop(True)
    return data


@dataclass(frozen=True)
class Uses:
    """One `uses:` line of a workflow or action file."""

    file: Path
    line: int
    value: str
    comment: str

    @property
    def remote(self) -> re.Match[str] | None:
        """The owner/repo@ref parts when this references another repository's action."""
        if self.value.startswith(("./", SELF_REPOSITORY_PREFIX, "docker://")):
            return None
        return REMOTE_USES.match(self.value)


USES_LINE = re.compile(r"^\s*(?:-\s+)?uses:\s*(?P<value>[^\s#]+)\s*(?:#\s*(?P<comment>.*))?$")


def uses_lines(path: Path) -> Iterator[Uses]:
    """Every `uses:` in a file, with the comment that follows it on the same line."""
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        match = USES_LINE.match(line)
        if match:
            value = match["value"].strip("'\"")
            yield Uses(path, number, value, (match["comment"] or "").strip())


def all_uses(paths: list[Path]) -> list[Uses]:
    """The `uses:` lines of all the given files."""
    return [uses for path in paths for uses in uses_lines(path)]


def run_step_script(
    step: dict[str, Any], env: dict[str, str], tmp_path: Path, cwd: Path | None = None
) -> tuple[int, str, dict[str, str]]:
    """Run a workflow step's bash as GitHub would (its env given literally, in `cwd`, the workspace),
    and read its outputs."""
    output = tmp_path / "github_output"
    output.write_text("", encoding="utf-8")
    done = subprocess.run(
        ["bash", "-e", "-c", step["run"]],
        env={**os.environ, **env, "GITHUB_OUTPUT": str(output)},
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
    )
    lines = output.read_text(encoding="utf-8").splitlines()
    return (
        done.returncode,
        done.stdout + done.stderr,
        dict(line.split("=", 1) for line in lines if "=" in line),
    )
