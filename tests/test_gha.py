"""The shared step I/O: inputs from INPUT_*, outputs, summary, annotations, masks, errors."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from scripts import gha


@pytest.fixture
def in_actions(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Pretend to run in a GitHub Actions job, with output and summary files in tmp_path."""
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_OUTPUT", str(tmp_path / "output"))
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(tmp_path / "summary"))
    return tmp_path


def test_option_defaults_come_from_input_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INPUT_SEVERITY_CUTOFF", "critical")
    monkeypatch.setenv("INPUT_SKIP_SCAN", "true")
    parser = gha.StepParser()
    parser.add_input("--severity-cutoff", default="high")
    parser.add_input("--image", required=True)
    parser.add_flag("--skip-scan", help="skip")
    monkeypatch.setenv("INPUT_IMAGE", "")
    with pytest.raises(SystemExit) as exit_info:
        parser.parse_args([])
    assert exit_info.value.code == 2
    args = parser.parse_args(["--image", "app:1"])
    assert (args.severity_cutoff, args.image, args.skip_scan) == ("critical", "app:1", True)
    assert parser.parse_args(["--image", "x", "--severity-cutoff", "low"]).severity_cutoff == "low"


def test_a_required_option_is_satisfied_by_its_input_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INPUT_IMAGE", "app:2")
    parser = gha.StepParser()
    parser.add_input("--image", required=True)
    assert parser.parse_args([]).image == "app:2"


def test_a_bad_boolean_input_is_a_clean_usage_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("INPUT_DRY_RUN", "maybe")
    parser = gha.StepParser(prog="push")
    with pytest.raises(SystemExit) as exit_info:
        parser.add_flag("--dry-run", help="")
    assert exit_info.value.code == 2
    assert "input 'dry-run (INPUT_DRY_RUN)' must be true or false, not 'maybe'" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("text", "items"),
    [
        pytest.param("a, b,,c", ["a", "b", "c"], id="commas"),
        pytest.param("a\nb\n\n", ["a", "b"], id="newlines"),
        pytest.param(None, [], id="none"),
        pytest.param(["x", "y,z"], ["x", "y", "z"], id="list"),
    ],
)
def test_split_list(text: str | list[str] | None, items: list[str]) -> None:
    assert gha.split_list(text) == items


def test_outputs_round_trip_through_the_output_file(in_actions: Path) -> None:
    gha.set_output("digest", "sha256:abc")
    gha.set_output("tags", "a:1\na:latest")
    gha.set_output("pushed", True)
    assert gha.read_outputs(in_actions / "output") == {
        "digest": "sha256:abc",
        "tags": "a:1\na:latest",
        "pushed": "true",
    }


@dataclass(frozen=True)
class Gated:
    """A step's typed result, as small as `gha.StepResult` allows."""

    passed: bool

    def outputs(self) -> dict[str, str]:
        return {"verdict": "pass" if self.passed else "fail", "tags": "a:1\na:latest"}


@pytest.mark.parametrize(
    ("passed", "code"), [pytest.param(True, 0, id="passed"), pytest.param(False, 1, id="failed")]
)
def test_finish_writes_the_outputs_then_reports_and_exits_by_the_gate(
    in_actions: Path, passed: bool, code: int
) -> None:
    seen: list[dict[str, str]] = []

    def report(result: Gated) -> None:
        seen.append(gha.read_outputs(in_actions / "output"))
        gha.add_summary(f"gate passed: {result.passed}")

    assert gha.finish(Gated(passed), report) == code
    assert seen == [Gated(passed).outputs()]
    assert (in_actions / "summary").read_text(encoding="utf-8") == f"gate passed: {passed}\n\n"


def test_conclude_finishes_what_a_failed_step_completed_then_dies_with_its_exit_code(
    in_actions: Path,
) -> None:
    def fails_after_the_gate() -> Gated:
        raise gha.StepError("the image build failed", exit_code=3, partial=Gated(True))

    with pytest.raises(SystemExit) as exit_info:
        gha.conclude(fails_after_the_gate, lambda result: gha.add_summary(f"gate passed: {result.passed}"))
    assert exit_info.value.code == 3
    assert gha.read_outputs(in_actions / "output") == Gated(True).outputs()
    summary = (in_actions / "summary").read_text(encoding="utf-8")
    assert summary == "gate passed: True\n\n❌ the image build failed\n\n"
    assert gha.conclude(lambda: Gated(False), lambda result: None) == 1


def test_outside_actions_outputs_and_summary_print(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("GITHUB_ACTIONS", "GITHUB_OUTPUT", "GITHUB_STEP_SUMMARY"):
        monkeypatch.delenv(name, raising=False)
    gha.set_output("digest", "sha256:abc")
    gha.add_summary("✅ pushed")
    gha.mask("s3cret")
    assert capsys.readouterr().out == "digest=sha256:abc\n✅ pushed\n"


def test_annotations_escape_their_properties_and_message(
    in_actions: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    gha.annotate("error", "bad\nthing 100%", file="a,b.py", line=3, title="x:y")
    assert capsys.readouterr().out == "::error file=a%2Cb.py,line=3,title=x%3Ay::bad%0Athing 100%25\n"


def test_mask_registers_every_line_of_a_secret(in_actions: Path, capsys: pytest.CaptureFixture[str]) -> None:
    gha.mask("line1\nline2\n")
    assert capsys.readouterr().out == "::add-mask::line1\n::add-mask::line2\n"


def test_step_errors_become_a_clean_failure_with_summary(
    in_actions: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info, gha.step_errors():
        raise gha.StepError("model 'churn' has no version 7; the latest is 5")
    assert exit_info.value.code == 1
    assert capsys.readouterr().out == "::error::model 'churn' has no version 7; the latest is 5\n"
    assert (in_actions / "summary").read_text(encoding="utf-8").startswith("❌ model 'churn'")


def test_details_folds_raw_output() -> None:
    folded = gha.details("grype output", '{"matches": []}\n', "json")
    assert folded.startswith("<details><summary>grype output</summary>")
    assert '```json\n{"matches": []}\n```' in folded


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        pytest.param(RuntimeError("engine gone\nTraceback ...\n"), "engine gone", id="first-of-several"),
        pytest.param(ValueError("  \n"), "ValueError", id="blank-message-names-the-type"),
        pytest.param(OSError("x" * 400), "x" * 300, id="capped"),
    ],
)
def test_first_line_of_an_error(error: BaseException, expected: str) -> None:
    assert gha.first_line(error) == expected


@pytest.mark.parametrize(
    ("variable", "named"),
    [
        pytest.param(None, "--max-abs-error", id="command-line"),
        pytest.param("0.1", "input 'max-abs-error'", id="action-input"),
        pytest.param("", "input 'max-abs-error'", id="action-input-left-empty"),
    ],
)
def test_input_name_is_the_one_the_user_gave(
    monkeypatch: pytest.MonkeyPatch, variable: str | None, named: str
) -> None:
    monkeypatch.setenv("GITHUB_ACTIONS", "true")  # a `run:` step in a workflow is a command line too
    monkeypatch.delenv("INPUT_MAX_ABS_ERROR", raising=False)
    if variable is not None:
        monkeypatch.setenv("INPUT_MAX_ABS_ERROR", variable)
    assert gha.input_name("--max-abs-error") == gha.input_name("max-abs-error") == named


@pytest.mark.parametrize(
    ("text", "number"),
    [
        pytest.param("60", 60.0, id="whole"),
        pytest.param(" 0.5 ", 0.5, id="fraction-with-spaces"),
        pytest.param("1e3", 1000.0, id="exponent"),
    ],
)
def test_positive_number_reads_a_number_above_zero(text: str, number: float) -> None:
    assert gha.positive_number(text, "timeout") == number


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("0", id="zero"),
        pytest.param("-1", id="negative"),
        pytest.param("soon", id="not-a-number"),
        pytest.param("", id="empty"),
        pytest.param("nan", id="nan"),
        pytest.param("inf", id="inf"),
        pytest.param("-Infinity", id="minus-inf"),
    ],
)
def test_positive_number_refuses_what_is_no_usable_amount(monkeypatch: pytest.MonkeyPatch, text: str) -> None:
    monkeypatch.delenv("INPUT_TIMEOUT", raising=False)
    with pytest.raises(gha.StepError) as refused:
        gha.positive_number(text, "timeout")
    assert str(refused.value) == f"--timeout must be a positive number, not {text!r}"
    assert refused.value.exit_code == 1


@pytest.mark.parametrize(
    ("text", "cell"),
    [
        pytest.param("HTTP 500", "HTTP 500", id="plain"),
        pytest.param("a | b", "a \\| b", id="pipe-escaped"),
        pytest.param("first\nsecond\n", "first second ", id="newlines-as-spaces"),
        pytest.param("first\r\nsecond\rthird", "first second third", id="crlf-and-cr-as-spaces"),
        pytest.param("x" * 400, "x" * 300, id="capped"),
    ],
)
def test_table_cell_keeps_the_text_in_one_cell(text: str, cell: str) -> None:
    assert gha.table_cell(text) == cell
    row = f"| name | {gha.table_cell(text)} |"
    assert len(row.splitlines()) == 1
    assert row.replace("\\|", "").count("|") == 3
