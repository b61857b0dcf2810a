"""The linters' reports as findings (scripts.lint_findings): hadolint's and pylint's JSON, and SARIF."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from scripts import lint_findings
from scripts.lint_findings import Finding


def test_hadolint_and_pylint_records_become_findings() -> None:
    hadolint = [
        {
            "code": "DL3007",
            "level": "warning",
            "message": "pin the tag",
            "file": "Dockerfile",
            "line": 3,
            "column": 1,
        }
    ]
    pylint = {
        "messages": [
            {
                "messageId": "W0611",
                "type": "warning",
                "message": "Unused import os",
                "path": "serving/app.py",
                "line": 5,
                "column": 0,
                "symbol": "unused-import",
            }
        ],
        "statistics": {"score": 9.5},
    }
    assert lint_findings.parse_hadolint(json.dumps(hadolint)) == [
        Finding("hadolint", "DL3007", "warning", "pin the tag", "Dockerfile", 3, 1)
    ]
    findings, score = lint_findings.parse_pylint(json.dumps(pylint))
    # pylint counts columns from 0; SARIF and the findings from 1
    assert findings == [
        Finding("pylint", "W0611", "warning", "Unused import os", "serving/app.py", 5, 1, "unused-import")
    ]
    assert score == 9.5


def test_sarif_links_each_rule_to_its_documentation(tmp_path: Path) -> None:
    findings = [
        Finding("hadolint", "SC2086", "info", "quote it", str(tmp_path / "Dockerfile"), 2, 1),
        Finding("hadolint", "DL3007", "error", "pin the tag", "Dockerfile", 3, 1),
    ]
    log = lint_findings.to_sarif("hadolint", "2.15.1", findings, tmp_path)
    run = log["runs"][0]
    rules = {rule["id"]: rule["helpUri"] for rule in run["tool"]["driver"]["rules"]}
    assert rules == {
        "SC2086": "https://www.shellcheck.net/wiki/SC2086",
        "DL3007": "https://github.com/hadolint/hadolint/wiki/DL3007",
    }
    assert [result["level"] for result in run["results"]] == ["note", "error"]
    assert run["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "Dockerfile"


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("", id="empty"),
        pytest.param('{"messages": []}', id="no-score"),
        pytest.param("[]", id="old-json-format"),
    ],
)
def test_parse_pylint_rejects_other_output(text: str) -> None:
    with pytest.raises(lint_findings.ToolOutputError):
        lint_findings.parse_pylint(text)


def test_display_path_is_relative_to_the_repository(tmp_path: Path) -> None:
    assert lint_findings.display_path(str(tmp_path / "serving" / "app.py"), tmp_path) == "serving/app.py"
    assert lint_findings.display_path("Dockerfile", tmp_path) == "Dockerfile"
    assert lint_findings.display_path("/elsewhere/Dockerfile", tmp_path) == "/elsewhere/Dockerfile"
