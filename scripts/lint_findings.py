"""The linters' reports as typed findings: hadolint's and pylint's JSON in, SARIF out (pure)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scripts import sarif

HADOLINT_RULES_URI = "https://github.com/hadolint/hadolint/wiki/{}"
SHELLCHECK_RULES_URI = "https://www.shellcheck.net/wiki/{}"
PYLINT_RULES_URI = "https://pylint.readthedocs.io/en/stable/search.html?q={}"


@dataclass(frozen=True)
class Finding:
    """One message from a linter, at a place in a file."""

    tool: str
    rule: str
    level: str  # the tool's own level: hadolint error/warning/info/style, pylint fatal/error/warning/…
    message: str
    file: str
    line: int
    column: int = 0
    name: str = ""  # pylint's symbolic name, e.g. unused-import


class ToolOutputError(ValueError):
    """A linter printed something that is not its JSON report."""


def sarif_level(finding: Finding) -> str:
    """SARIF's level for a linter's level."""
    if finding.level in {"error", "fatal"}:
        return "error"
    return "warning" if finding.level == "warning" else "note"


def _load_json(text: str, tool: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise ToolOutputError(f"{tool}'s output is not JSON ({error})") from None


def record_finding(
    tool: str,
    record: dict[str, Any],
    *,
    rule: str,
    level: str,
    file: str,
    first_column: int = 1,
    name: str = "",
) -> Finding:
    """A finding from one record of a tool's JSON; the keyword arguments name the record's keys."""
    return Finding(
        tool=tool,
        rule=str(record.get(rule, "")),
        level=str(record.get(level, "error")),
        message=str(record.get("message", "")),
        file=str(record.get(file, "")),
        line=int(record.get("line") or 0),
        column=int(record.get("column") or 0) + 1 - first_column,
        name=str(record.get(name, "")) if name else "",
    )


def parse_hadolint(text: str) -> list[Finding]:
    """hadolint's `-f json` output as findings."""
    items = _load_json(text, "hadolint")
    if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
        raise ToolOutputError("hadolint's JSON output is not a list of findings")
    return [record_finding("hadolint", item, rule="code", level="level", file="file") for item in items]


def parse_pylint(text: str) -> tuple[list[Finding], float]:
    """pylint's `--output-format=json2` output as findings and the score."""
    document = _load_json(text, "pylint")
    if not isinstance(document, dict) or not isinstance(document.get("messages"), list):
        raise ToolOutputError("pylint's JSON has no 'messages' list; is this pylint's json2 format?")
    statistics: dict[str, Any] = document.get("statistics") or {}
    score = statistics.get("score")
    if not isinstance(score, int | float):
        raise ToolOutputError("pylint's JSON has no score (statistics.score); did it lint any module?")
    findings = [
        # pylint counts columns from 0, SARIF from 1
        record_finding(
            "pylint", message, rule="messageId", level="type", file="path", first_column=0, name="symbol"
        )
        for message in document["messages"]
    ]
    return findings, float(score)


def display_path(path: str, base: Path) -> str:
    """The path relative to the repository (base) when it lies inside it, as GitHub wants it."""
    candidate = Path(path)
    if candidate.is_absolute():
        try:
            return candidate.resolve().relative_to(base.resolve()).as_posix()
        except ValueError:
            return path
    return candidate.as_posix()


def to_sarif(tool: str, version: str, findings: Iterable[Finding], base: Path) -> dict[str, Any]:
    """A SARIF log for one linter's findings."""
    findings = list(findings)
    if tool == "hadolint":
        uri, rules_uri = "https://github.com/hadolint/hadolint", HADOLINT_RULES_URI
    else:
        uri, rules_uri = "https://pylint.readthedocs.io", PYLINT_RULES_URI
    rules = [
        sarif.Rule(
            id=f.rule,
            short_description=f.name or f.rule,
            help_uri=(SHELLCHECK_RULES_URI if f.rule.startswith("SC") else rules_uri).format(
                f.name or f.rule
            ),
        )
        for f in findings
    ]
    results = [
        sarif.Result(
            rule_id=f.rule,
            level=sarif_level(f),
            message=f"{f.message} ({f.name})" if f.name else f.message,
            uri=display_path(f.file, base),
            line=f.line,
            column=f.column,
        )
        for f in findings
    ]
    return sarif.build_log(tool=tool, version=version, information_uri=uri, rules=rules, results=results)
