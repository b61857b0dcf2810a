"""actions/lint from a caller's workspace: modelship's serving code is linted with modelship's settings."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from .workflow_files import PROJECT_DIR, load, run_step_script

LINT_STEP = next(
    step
    for step in load(PROJECT_DIR / "actions/lint/action.yml")["runs"]["steps"]
    if step.get("id") == "lint"
)


def run_lint_action(workspace: Path, tmp_path: Path, **inputs: str) -> tuple[int, str, dict[str, str]]:
    """The lint step's bash as the runner runs it, in `workspace`: inputs as INPUT_*, "" when not given."""
    env = {name: "" for name in LINT_STEP["env"]}
    env |= {f"INPUT_{name.upper()}": value for name, value in inputs.items()}
    env["GITHUB_ACTION_PATH"] = str(PROJECT_DIR / "actions" / "lint")
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    return run_step_script(LINT_STEP, env, tmp_path, cwd=workspace)


def test_the_default_lint_passes_from_a_workspace_with_no_pylint_settings(tmp_path: Path) -> None:
    """Without modelship's settings (max line length 110), pylint scores modelship's serving code below
    the 9.0 required; a caller's workspace has none of modelship's files, so the action brings its own."""
    workspace = tmp_path / "caller"
    workspace.mkdir()
    code, output, outputs = run_lint_action(workspace, tmp_path)
    assert code == 0, output
    assert outputs["verdict"] == "pass"
    assert float(outputs["pylint-score"]) >= 9.0
    assert "line-too-long" not in output


def test_a_caller_s_own_python_paths_keep_pylint_s_own_lookup(tmp_path: Path) -> None:
    workspace = tmp_path / "caller"
    (workspace / "app").mkdir(parents=True)
    (workspace / "app" / "__init__.py").write_text('"""An app."""\n\nGREETING = "' + "x" * 120 + '"\n')
    (workspace / "pyproject.toml").write_text("[tool.pylint.format]\nmax-line-length = 200\n")
    code, output, outputs = run_lint_action(workspace, tmp_path, python_paths="app")
    assert code == 0, output
    assert (outputs["pylint-findings"], outputs["pylint-score"]) == ("0", "10.00")
