"""A small SARIF 2.1.0 writer shared by the lint and scan steps (GitHub code scanning reads it)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SARIF_VERSION = "2.1.0"
SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
LEVELS = frozenset({"error", "warning", "note", "none"})


@dataclass(frozen=True)
class Rule:
    """One rule (a lint check or a vulnerability id) that results refer to."""

    id: str
    short_description: str = ""
    help_uri: str = ""
    properties: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Result:
    """One finding at one place; `line` 0 means the whole file."""

    rule_id: str
    level: str
    message: str
    uri: str
    line: int = 0
    column: int = 0
    properties: Mapping[str, Any] = field(default_factory=dict)


def _rule(rule: Rule) -> dict[str, Any]:
    entry: dict[str, Any] = {"id": rule.id, "name": rule.id}
    if rule.short_description:
        entry["shortDescription"] = {"text": rule.short_description}
        entry["fullDescription"] = {"text": rule.short_description}
    if rule.help_uri:
        entry["helpUri"] = rule.help_uri
    if rule.properties:
        entry["properties"] = dict(rule.properties)
    return entry


def _location(result: Result) -> dict[str, Any]:
    physical: dict[str, Any] = {"artifactLocation": {"uri": result.uri.lstrip("/") or "."}}
    if result.line > 0:
        region: dict[str, Any] = {"startLine": result.line}
        if result.column > 0:
            region["startColumn"] = result.column
        physical["region"] = region
    return {"physicalLocation": physical}


def _result(result: Result, rule_index: Mapping[str, int]) -> dict[str, Any]:
    if result.level not in LEVELS:
        raise ValueError(f"SARIF level must be one of {sorted(LEVELS)}, not {result.level!r}")
    entry: dict[str, Any] = {
        "ruleId": result.rule_id,
        "level": result.level,
        "message": {"text": result.message},
        "locations": [_location(result)],
    }
    if result.rule_id in rule_index:
        entry["ruleIndex"] = rule_index[result.rule_id]
    if result.properties:
        entry["properties"] = dict(result.properties)
    return entry


def build_log(
    *,
    tool: str,
    version: str,
    information_uri: str,
    rules: Iterable[Rule],
    results: Iterable[Result],
) -> dict[str, Any]:
    """The SARIF log (one run) for a tool's rules and results; rules are deduplicated by id."""
    unique: dict[str, Rule] = {}
    for rule in rules:
        unique.setdefault(rule.id, rule)
    rule_index = {rule_id: index for index, rule_id in enumerate(unique)}
    driver: dict[str, Any] = {
        "name": tool,
        "version": version or "unknown",
        "informationUri": information_uri,
        "rules": [_rule(rule) for rule in unique.values()],
    }
    return {
        "$schema": SARIF_SCHEMA,
        "version": SARIF_VERSION,
        "runs": [{"tool": {"driver": driver}, "results": [_result(r, rule_index) for r in results]}],
    }


def write_log(path: Path, log: Mapping[str, Any]) -> Path:
    """Write a SARIF log as JSON, creating the parent folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(log, indent=2) + "\n", encoding="utf-8")
    return path
