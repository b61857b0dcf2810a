"""The scan step's pure decisions on grype's JSON: parsing, the severity gate, the worst first, SARIF."""

from __future__ import annotations

from pathlib import Path

import pytest

from scripts import scan_findings
from scripts.scan_findings import Finding, Severity

FIXTURES = Path(__file__).parent / "fixtures" / "grype"
IMAGE = "modelship/housing:1"


def finding(vid: str, severity: Severity, *, fixed: bool = True, score: float | None = None) -> Finding:
    """A Finding for the pure-function tests."""
    return Finding(
        vulnerability_id=vid,
        severity=severity,
        package="pkg",
        version="1.0",
        package_type="deb",
        fix_state="fixed" if fixed else "not-fixed",
        fixed_in=("1.1",) if fixed else (),
        location="/var/lib/dpkg/status",
        url="",
        description="",
        cvss_score=score,
    )


@pytest.mark.parametrize(
    ("severities", "cutoff", "only_fixed", "failing"),
    [
        pytest.param([], Severity.HIGH, False, 0, id="nothing-found-passes"),
        pytest.param([Severity.HIGH], Severity.HIGH, False, 1, id="at-cutoff-fails"),
        pytest.param([Severity.CRITICAL], Severity.HIGH, False, 1, id="above-cutoff-fails"),
        pytest.param([Severity.MEDIUM, Severity.LOW], Severity.HIGH, False, 0, id="below-cutoff-passes"),
        pytest.param([Severity.MEDIUM], Severity.MEDIUM, False, 1, id="lower-cutoff-catches-medium"),
        pytest.param([Severity.NEGLIGIBLE], Severity.NEGLIGIBLE, False, 1, id="negligible-cutoff"),
        pytest.param([Severity.UNKNOWN], Severity.NEGLIGIBLE, False, 0, id="unknown-never-fails"),
        pytest.param([Severity.CRITICAL], Severity.CRITICAL, False, 1, id="critical-only-cutoff"),
        pytest.param([Severity.HIGH], Severity.CRITICAL, False, 0, id="high-under-critical-cutoff"),
    ],
)
def test_decide_applies_the_cutoff(
    severities: list[Severity], cutoff: Severity, only_fixed: bool, failing: int
) -> None:
    findings = [finding(f"CVE-{i}", severity) for i, severity in enumerate(severities)]
    verdict = scan_findings.decide(findings, cutoff, only_fixed=only_fixed)
    assert len(verdict.failing) == failing
    assert verdict.passed is (failing == 0)


@pytest.mark.parametrize(
    ("fixed", "only_fixed", "passed", "skipped"),
    [
        pytest.param(False, True, True, 1, id="unfixed-critical-dropped-by-only-fixed"),
        pytest.param(False, False, False, 0, id="unfixed-critical-counts-by-default"),
        pytest.param(True, True, False, 0, id="fixed-critical-counts-with-only-fixed"),
    ],
)
def test_decide_only_fixed(fixed: bool, only_fixed: bool, passed: bool, skipped: int) -> None:
    verdict = scan_findings.decide(
        [finding("CVE-1", Severity.CRITICAL, fixed=fixed)], Severity.HIGH, only_fixed=only_fixed
    )
    assert verdict.passed is passed
    assert verdict.skipped_unfixed == skipped
    assert verdict.counts[Severity.CRITICAL] == (0 if skipped else 1)


def test_worst_orders_by_severity_then_score() -> None:
    findings = [
        finding("CVE-low", Severity.LOW),
        finding("CVE-high-7", Severity.HIGH, score=7.0),
        finding("CVE-crit", Severity.CRITICAL),
        finding("CVE-high-8", Severity.HIGH, score=8.1),
    ]
    assert [f.vulnerability_id for f in scan_findings.worst(findings, 3)] == [
        "CVE-crit",
        "CVE-high-8",
        "CVE-high-7",
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("Critical", Severity.CRITICAL, id="grype-capitalised"),
        pytest.param("negligible", Severity.NEGLIGIBLE, id="lower-case"),
        pytest.param("Unknown", Severity.UNKNOWN, id="unknown"),
        pytest.param("", Severity.UNKNOWN, id="empty-is-unknown"),
        pytest.param("Severe", Severity.UNKNOWN, id="unrecognised-is-unknown"),
    ],
)
def test_severity_parse(text: str, expected: Severity) -> None:
    assert Severity.parse(text) is expected


def test_parse_report_reads_grype_json() -> None:
    report = scan_findings.parse_report((FIXTURES / "vulnerable.json").read_text(encoding="utf-8"))
    assert len(report.findings) == 6
    first = report.findings[0]
    assert (first.vulnerability_id, first.severity, first.package) == (
        "CVE-2026-10001",
        Severity.CRITICAL,
        "libssl3",
    )
    assert first.fixed
    assert first.fixed_in == ("3.0.15-1~deb12u1",)
    assert first.cvss_score == pytest.approx(9.8)
    assert first.location == "/var/lib/dpkg/status"
    assert report.grype_version == "0.110.0"
    assert report.db_built == "2026-11-20T04:12:33Z"


def test_parse_report_counts_ignored_matches() -> None:
    report = scan_findings.parse_report((FIXTURES / "ignored.json").read_text(encoding="utf-8"))
    assert [f.vulnerability_id for f in report.findings] == ["CVE-2026-40002"]
    assert report.ignored == 1


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("", id="empty"),
        pytest.param("{", id="truncated"),
        pytest.param('{"results": []}', id="not-grype"),
        pytest.param("[]", id="array"),
        pytest.param('{"matches": [{"vulnerability": {}}]}', id="match-without-id"),
    ],
)
def test_parse_report_rejects_non_grype_output(text: str) -> None:
    with pytest.raises(scan_findings.GrypeOutputError):
        scan_findings.parse_report(text)


def test_sarif_has_a_rule_per_vulnerability_and_levels_from_severity() -> None:
    report = scan_findings.parse_report((FIXTURES / "vulnerable.json").read_text(encoding="utf-8"))
    verdict = scan_findings.decide(report.findings, Severity.HIGH, only_fixed=False)
    log = scan_findings.to_sarif(IMAGE, report, verdict)
    assert log["version"] == "2.1.0"
    run_ = log["runs"][0]
    assert run_["tool"]["driver"]["name"] == "grype"
    rules = {rule["id"]: rule for rule in run_["tool"]["driver"]["rules"]}
    assert len(rules) == 6
    assert rules["CVE-2026-10001"]["properties"]["security-severity"] == "9.8"
    levels = {result["ruleId"]: result["level"] for result in run_["results"]}
    assert levels["CVE-2026-10001"] == "error"
    assert levels["GHSA-4x5v-gmq8-25ch"] == "warning"
    assert levels["CVE-2026-10005"] == "note"
    for result in run_["results"]:
        assert run_["tool"]["driver"]["rules"][result["ruleIndex"]]["id"] == result["ruleId"]
        uri = result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
        assert uri
        assert not uri.startswith("/")
