"""The scan step against a stand-in grype on PATH that prints grype's real JSON format."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from scripts import gha, scan
from scripts.scan import Finding, Severity
from tests.fakes import FAKE_GRYPE, fake_grype_in

FIXTURES = Path(__file__).parent / "fixtures" / "grype"
IMAGE = "modelship/housing:1"


@pytest.fixture(autouse=True)
def step_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Outputs and summary go to files in tmp_path; no INPUT_* leaks in; no stray .grype.yaml is found."""
    for name in list(os.environ):
        if name.startswith(("INPUT_", "FAKE_GRYPE_")) or name == "GITHUB_ACTIONS":
            monkeypatch.delenv(name)
    monkeypatch.setenv("GITHUB_OUTPUT", str(tmp_path / "output"))
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(tmp_path / "summary.md"))
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    return work


@pytest.fixture
def grype_on_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Put a `grype` that runs the fake with this interpreter first on PATH (nothing else)."""
    wrapper = fake_grype_in(tmp_path / "bin")
    monkeypatch.setenv("PATH", str(wrapper.parent))
    return wrapper


def outputs(tmp_path: Path) -> dict[str, str]:
    """The step outputs written so far (a later value of the same name wins)."""
    return gha.read_outputs(tmp_path / "output")


def summary(tmp_path: Path) -> str:
    """The step summary written so far."""
    return (tmp_path / "summary.md").read_text(encoding="utf-8")


def run(monkeypatch: pytest.MonkeyPatch, fixture: str, *args: str) -> int:
    """Run the scan step in-process with the fake grype printing FIXTURE."""
    monkeypatch.setenv("FAKE_GRYPE_FIXTURE", fixture)
    try:
        return scan.main(["--image", IMAGE, *args])
    except SystemExit as exit_:  # die() exits; treat it like the process would
        return int(exit_.code or 0)


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


# --- pure decisions -------------------------------------------------------------------------


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
    verdict = scan.decide(findings, cutoff, only_fixed=only_fixed)
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
    verdict = scan.decide(
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
    assert [f.vulnerability_id for f in scan.worst(findings, 3)] == ["CVE-crit", "CVE-high-8", "CVE-high-7"]


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
    report = scan.parse_report((FIXTURES / "vulnerable.json").read_text(encoding="utf-8"))
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
    report = scan.parse_report((FIXTURES / "ignored.json").read_text(encoding="utf-8"))
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
    with pytest.raises(scan.GrypeOutputError):
        scan.parse_report(text)


def test_sarif_has_a_rule_per_vulnerability_and_levels_from_severity() -> None:
    report = scan.parse_report((FIXTURES / "vulnerable.json").read_text(encoding="utf-8"))
    verdict = scan.decide(report.findings, Severity.HIGH, only_fixed=False)
    log = scan.to_sarif(IMAGE, report, verdict)
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


# --- the step, with the fake grype --------------------------------------------------------------


@pytest.mark.usefixtures("grype_on_path")
def test_clean_image_passes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sarif_path = tmp_path / "out" / "grype.sarif"
    assert run(monkeypatch, "clean", "--sarif", str(sarif_path)) == 0
    out = outputs(tmp_path)
    assert out["verdict"] == "pass"
    assert out["total"] == "0"
    assert all(out[s] == "0" for s in ("critical", "high", "medium", "low", "negligible", "unknown"))
    assert out["sarif"] == str(sarif_path)
    log = json.loads(sarif_path.read_text(encoding="utf-8"))
    assert log["runs"][0]["results"] == []
    assert summary(tmp_path).startswith("## ✅")


@pytest.mark.usefixtures("grype_on_path")
def test_vulnerable_above_cutoff_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    assert run(monkeypatch, "vulnerable") == 1
    out = outputs(tmp_path)
    assert out["verdict"] == "fail"
    counts = {s: out[s] for s in ("critical", "high", "medium", "low", "negligible", "unknown")}
    assert counts == {
        "critical": "1",
        "high": "1",
        "medium": "1",
        "low": "1",
        "negligible": "1",
        "unknown": "1",
    }
    assert out["total"] == "6"
    text = summary(tmp_path)
    assert text.startswith("## ❌ Scan failed: 2 at or above high")
    assert "1 critical · 1 high · 1 medium · 1 low · 1 negligible · 1 unknown" in text
    # the worst finding is listed first, with its fixed version; raw JSON is folded
    table = text.split("| --- | --- | --- | --- | --- |")[1]
    assert table.strip().splitlines()[0].split("|")[1:6] == [
        " [CVE-2026-10001](https://security-tracker.debian.org/tracker/CVE-2026-10001) ",
        " critical ",
        " libssl3 ",
        " 3.0.14-1~deb12u2 ",
        " 3.0.15-1~deb12u1 ",
    ]
    assert "<details><summary>grype JSON output</summary>" in text
    stdout = capsys.readouterr().out
    assert "::error title=Vulnerability in modelship/housing%3A1::CVE-2026-10001 (critical)" in stdout
    assert "::error::image modelship/housing:1 has 2 vulnerabilities at or above high" in stdout


@pytest.mark.usefixtures("grype_on_path")
@pytest.mark.parametrize(
    ("cutoff", "code", "verdict"),
    [
        pytest.param("high", 0, "pass", id="medium-findings-under-high"),
        pytest.param("critical", 0, "pass", id="medium-findings-under-critical"),
        pytest.param("medium", 1, "fail", id="medium-findings-at-medium"),
        pytest.param("LOW", 1, "fail", id="cutoff-is-case-insensitive"),
    ],
)
def test_cutoff_decides_exit_code(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cutoff: str, code: int, verdict: str
) -> None:
    assert run(monkeypatch, "medium-only", "--severity-cutoff", cutoff) == code
    assert outputs(tmp_path)["verdict"] == verdict
    assert outputs(tmp_path)["medium"] == "2"


@pytest.mark.usefixtures("grype_on_path")
def test_cutoff_from_input_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INPUT_SEVERITY_CUTOFF", "medium")
    monkeypatch.setenv("INPUT_ONLY_FIXED", "false")
    assert run(monkeypatch, "medium-only") == 1


@pytest.mark.usefixtures("grype_on_path")
def test_only_fixed_drops_an_unfixed_critical(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert run(monkeypatch, "unfixed-critical") == 1
    assert run(monkeypatch, "unfixed-critical", "--only-fixed") == 0
    out = outputs(tmp_path)  # the last run's values come last and win
    assert (out["critical"], out["medium"], out["low"], out["total"]) == ("0", "1", "1", "2")
    assert "1 without a fix not counted (only-fixed)" in summary(tmp_path)


@pytest.mark.usefixtures("grype_on_path")
def test_grype_config_ignore_rules(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, step_env: Path) -> None:
    config = step_env / "grype-ignore.yaml"
    config.write_text(
        "ignore:\n"
        "  - vulnerability: CVE-2026-10001\n"
        "    reason: patched in our base image\n"
        "  - package:\n"
        "      name: zlib1g\n",
        encoding="utf-8",
    )
    sarif_path = tmp_path / "grype.sarif"
    assert run(monkeypatch, "vulnerable", "--config", str(config), "--sarif", str(sarif_path)) == 0
    out = outputs(tmp_path)
    assert (out["critical"], out["high"], out["total"], out["verdict"]) == ("0", "0", "4", "pass")
    assert "2 ignored by the grype config" in summary(tmp_path)
    # grype itself moved them: they are in the raw output's ignoredMatches, not in the SARIF
    assert '"appliedIgnoreRules"' in summary(tmp_path)
    rule_ids = {r["ruleId"] for r in json.loads(sarif_path.read_text(encoding="utf-8"))["runs"][0]["results"]}
    assert rule_ids.isdisjoint({"CVE-2026-10001", "CVE-2026-10002"})


@pytest.mark.usefixtures("grype_on_path")
def test_grype_yaml_in_working_directory_is_honoured(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, step_env: Path
) -> None:
    (step_env / ".grype.yaml").write_text("ignore:\n  - vulnerability: CVE-2026-20001\n", encoding="utf-8")
    assert run(monkeypatch, "unfixed-critical") == 0
    assert outputs(tmp_path)["critical"] == "0"


@pytest.mark.usefixtures("grype_on_path")
@pytest.mark.parametrize(
    ("rules", "ignored", "total"),
    [
        pytest.param("  - fix-state: wont-fix\n", 1, 5, id="by-fix-state"),
        pytest.param(
            "  - package:\n      name: libssl3\n      version: 9.9\n", 0, 6, id="other-version-kept"
        ),
        pytest.param("  - package:\n      type: deb\n", 5, 1, id="by-package-type"),
        pytest.param(
            "  - vulnerability: CVE-2026-10004\n    fix-state: fixed\n", 0, 6, id="all-keys-must-agree"
        ),
    ],
)
def test_grype_ignore_rule_keys(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, step_env: Path, rules: str, ignored: int, total: int
) -> None:
    (step_env / ".grype.yaml").write_text("ignore:\n" + rules, encoding="utf-8")
    run(monkeypatch, "vulnerable", "--severity-cutoff", "critical")
    assert outputs(tmp_path)["total"] == str(total)
    assert (f"{ignored} ignored by the grype config" in summary(tmp_path)) is (ignored > 0)


@pytest.mark.usefixtures("grype_on_path")
def test_missing_config_file_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert run(monkeypatch, "clean", "--config", "nope.yaml") == 1
    assert "grype config 'nope.yaml' (input 'config') does not exist" in summary(tmp_path)


@pytest.mark.usefixtures("grype_on_path")
@pytest.mark.parametrize(
    "fixture",
    [pytest.param("malformed", id="truncated-json"), pytest.param("not-grype", id="json-of-another-shape")],
)
def test_malformed_output_is_a_clean_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], fixture: str
) -> None:
    assert run(monkeypatch, fixture) == 1
    text = summary(tmp_path)
    assert text.startswith(f"❌ grype's output for image '{IMAGE}' could not be read")
    assert "INFO grype version" in text  # grype's stderr is shown
    assert "Traceback" not in capsys.readouterr().err


@pytest.mark.usefixtures("grype_on_path")
def test_grype_crash_shows_its_stderr(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_GRYPE_MODE", "crash")
    assert run(monkeypatch, "clean") == 1
    text = summary(tmp_path)
    assert f"grype failed on image '{IMAGE}' (exit 2)" in text
    assert "panic: runtime error" in text


@pytest.mark.usefixtures("grype_on_path")
def test_unknown_image_fails_with_grype_message(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_GRYPE_IMAGES", "modelship/other:2")
    assert run(monkeypatch, "clean") == 1
    assert "could not fetch image" in summary(tmp_path)


@pytest.fixture
def no_grype(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """PATH holds only an empty folder, so there is no grype to find."""
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))


@pytest.mark.usefixtures("no_grype")
def test_grype_missing_says_how_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert run(monkeypatch, "clean") == 1
    text = summary(tmp_path)
    assert "grype is not on PATH" in text
    assert f"install.sh | sh -s -- -b /usr/local/bin {scan.GRYPE_VERSION}" in text
    assert "--skip" in text
    assert not (tmp_path / "output").exists()


@pytest.mark.usefixtures("no_grype")
def test_skip_reports_loudly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    assert run(monkeypatch, "clean", "--skip") == 0
    assert summary(tmp_path).startswith(f"## ⚠️ Image NOT scanned: `{IMAGE}`")
    assert outputs(tmp_path)["verdict"] == "skipped"
    assert f"::warning::image {IMAGE} was NOT scanned" in capsys.readouterr().out


def test_fake_grype_refuses_only_fixed_flag() -> None:
    """The step applies only-fixed itself; the fake refuses the flag so a regression shows."""
    done = subprocess.run(
        [sys.executable, str(FAKE_GRYPE), IMAGE, "-o", "json", "--only-fixed"],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "FAKE_GRYPE_FIXTURE": "clean"},
    )
    assert done.returncode == 1
    assert "unknown flag: --only-fixed" in done.stderr
