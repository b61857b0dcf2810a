"""Workflows, actions and the README's YAML examples: GitHub's schemas, zizmor, the house rules."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .workflow_files import (
    PROJECT_DIR,
    SELF_REPOSITORY_PREFIX,
    STANDINS_DIR,
    Uses,
    action_files,
    all_uses,
    load,
    uses_lines,
    workflow_files,
)

BIN = Path(sys.executable).parent
USAGE_DOC = PROJECT_DIR / "docs" / "usage.md"
README = PROJECT_DIR / "README.md"
STEP_SCRIPTS = {
    "fetch": "fetch",
    "lint": "lint",
    "build": "build",
    "scan": "scan",
    "smoke-test": "smoke_test",
    "push": "push",
    "summary": "summary",
}
# Inputs of a step action that configure the action itself, not the step script.
ACTION_ONLY_INPUTS = {"setup-python", "grype-version", "password"}
PINNED = re.compile(r"^[0-9a-f]{40}$")
VERSION_COMMENT = re.compile(r"^v(?P<major>\d+)\.\d+\.\d+$")
# The first major of each third-party action whose action.yml at the pinned tag says
# `runs.using: node24` (or a composite that only wraps node24 actions); GitHub removed Node 20 from
# its runners. docs/usage.md's "Pinned actions" lists the SHAs checked. An action not listed here
# is refused until someone reads its action.yml and adds it.
MINIMUM_MAJORS = {
    "actions/checkout": 5,
    "actions/setup-python": 6,
    "actions/upload-artifact": 6,
    "actions/download-artifact": 7,
    "actions/cache": 5,
    "actions/setup-go": 6,
    "actions/attest": 4,
    "actions/attest-build-provenance": 4,
    "actions/attest-sbom": 4,
    "github/codeql-action": 4,
    "azure/login": 3,
}
OWN_RELEASE_REFERENCE = "modelship/modelship"
OWN_RELEASE_IGNORE = re.compile(r"^zizmor: ignore\[unpinned-uses\] -- \S.*")
GRANT_LINE = re.compile(
    r"^\s+(actions|attestations|checks|contents|deployments|id-token|issues|packages|pages|"
    r"pull-requests|security-events|statuses): (read|write)\s*(?P<comment>#.*)?$"
)


def yaml_examples(markdown: str) -> list[str]:
    """The ```yaml blocks of a Markdown document."""
    return re.findall(r"^```yaml\n(.*?)^```$", markdown, flags=re.DOTALL | re.MULTILINE)


@pytest.fixture(scope="module")
def doc_examples(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """The README's YAML examples (the four ways to use modelship), each written to a file of its own."""
    blocks = yaml_examples(README.read_text(encoding="utf-8"))
    assert len(blocks) >= 4, "README.md should show a complete workflow for each way to use modelship"
    folder = tmp_path_factory.mktemp("usage-examples")
    paths = []
    for number, block in enumerate(blocks, start=1):
        path = folder / f"example-{number}.yml"
        path.write_text(block, encoding="utf-8")
        paths.append(path)
    return paths


def standin_files() -> list[Path]:
    """The stand-in actions the act test swaps in."""
    return sorted(STANDINS_DIR.glob("**/action.yml"))


def run_tool(*command: str | Path, cwd: Path = PROJECT_DIR) -> subprocess.CompletedProcess[str]:
    """Run one of the venv's pinned tools."""
    return subprocess.run(
        [str(part) for part in command], cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )


def check_jsonschema(schema: str, paths: list[Path]) -> subprocess.CompletedProcess[str]:
    """check-jsonschema with one of its vendored GitHub schemas (no network)."""
    return run_tool(BIN / "check-jsonschema", "--builtin-schema", schema, *paths)


def zizmor(paths: list[Path]) -> subprocess.CompletedProcess[str]:
    """zizmor offline, reporting findings of medium severity or higher."""
    return run_tool(BIN / "zizmor", "--offline", "--no-progress", "--min-severity", "medium", *paths)


# --- GitHub's schemas ---------------------------------------------------------------------------


def test_workflows_and_doc_examples_match_githubs_workflow_schema(doc_examples: list[Path]) -> None:
    result = check_jsonschema("vendor.github-workflows", [*workflow_files(), *doc_examples])
    assert result.returncode == 0, result.stdout + result.stderr


def test_actions_and_standins_match_githubs_action_schema() -> None:
    result = check_jsonschema("vendor.github-actions", [*action_files(), *standin_files()])
    assert result.returncode == 0, result.stdout + result.stderr


def test_schema_check_refuses_a_job_without_runs_on(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yml"
    broken.write_text("on: push\njobs:\n  build:\n    steps:\n      - run: make\n", encoding="utf-8")
    result = check_jsonschema("vendor.github-workflows", [broken])
    assert result.returncode != 0
    assert "'runs-on' is a required property" in result.stdout


# --- zizmor ------------------------------------------------------------------------------------


def test_zizmor_finds_nothing_of_medium_severity_or_higher(doc_examples: list[Path]) -> None:
    paths = [*workflow_files(), *action_files(), *doc_examples]
    result = zizmor(paths)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "No findings to report" in result.stdout + result.stderr
    unaudited = [path for path in paths if f"completed {path}" not in result.stderr]
    assert unaudited == [], "zizmor skipped these"


def test_zizmor_catches_a_template_injection(tmp_path: Path) -> None:
    workflow = tmp_path / "injection.yml"
    workflow.write_text(
        "on: issues\npermissions: {}\njobs:\n  greet:\n    runs-on: ubuntu-latest\n    steps:\n"
        '      - run: echo "${{ github.event.issue.title }}"\n',
        encoding="utf-8",
    )
    result = zizmor([workflow])
    assert result.returncode != 0
    assert "template-injection" in result.stdout


# --- house rules, on the parsed files ------------------------------------------------------------


def steps_of(document: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(where, step) for every step of a workflow's jobs or a composite action."""
    for job_id, job in (document.get("jobs") or {}).items():
        for index, step in enumerate(job.get("steps") or []):
            yield f"jobs.{job_id}.steps[{index}]", step
    for index, step in enumerate((document.get("runs") or {}).get("steps") or []):
        yield f"runs.steps[{index}]", step


def all_checked_files(examples: list[Path]) -> list[Path]:
    """Every YAML file the rules apply to."""
    return [*workflow_files(), *action_files(), *standin_files(), *examples]


def test_no_expression_inside_run(doc_examples: list[Path]) -> None:
    offenders = [
        f"{path.relative_to(path.anchor)}: {where}"
        for path in all_checked_files(doc_examples)
        for where, step in steps_of(load(path))
        if "${{" in str(step.get("run", ""))
    ]
    assert offenders == [], "inputs must reach run: through env:, not ${{ }}"


def pin_problems(uses: Uses) -> list[str]:
    """What is wrong with how one `uses:` pins another repository's action (nothing for our own)."""
    if uses.value.startswith(("./", SELF_REPOSITORY_PREFIX)):
        return []
    where = f"{uses.file.name}:{uses.line} {uses.value}"
    if uses.value.startswith("docker://"):
        return [] if "@sha256:" in uses.value else [f"{where}: a docker:// action must be pinned by digest"]
    remote = uses.remote
    if remote is None:
        return [f"{where}: not owner/repo[/path]@ref"]
    if remote["repo"] == OWN_RELEASE_REFERENCE:
        if OWN_RELEASE_IGNORE.match(uses.comment):
            return []
        return [f"{where}: modelship's own release tag needs the zizmor ignore with a reason"]
    if not PINNED.match(remote["ref"]):
        return [f"{where}: not pinned to a 40-hex commit SHA"]
    version = VERSION_COMMENT.match(uses.comment)
    if version is None:
        return [f"{where}: needs a '# vX.Y.Z' comment, has {uses.comment!r}"]
    minimum = MINIMUM_MAJORS.get(remote["repo"])
    if minimum is None:
        return [
            f"{where}: {remote['repo']} is not in MINIMUM_MAJORS; read its action.yml at the tag and add it"
        ]
    if int(version["major"]) < minimum:
        return [f"{where}: {uses.comment} is below v{minimum}, the first major on Node 24"]
    return []


def self_reference_problems(path: Path) -> list[str]:
    """This repository's actions referenced in a form the runner refuses or resolves elsewhere.

    `$/path` is this repository at the running commit. A bare `$/` has no path, and the runner's
    parser (PipelineConstants.TryParseSelfRepository) then treats it as owner/repo@ref and rejects
    the file. `./` is the workspace: allowed only for the root action, in a workflow job that
    checked the repository out first; in a composite action it would be the caller's workspace.
    """
    problems = []
    is_action = path.name == "action.yml"
    for uses in uses_lines(path):
        where = f"{path.name}:{uses.line} {uses.value}"
        if uses.value.startswith(SELF_REPOSITORY_PREFIX) and not uses.value[
            len(SELF_REPOSITORY_PREFIX) :
        ].strip("/"):
            problems.append(
                f"{where}: a bare {SELF_REPOSITORY_PREFIX} is refused by the runner; add the path"
            )
        elif uses.value.startswith("./") and (is_action or uses.value != "./"):
            problems.append(
                f"{where}: use {SELF_REPOSITORY_PREFIX}path for this repository's actions and workflows"
            )
    if not is_action:
        for job_id, job in (load(path).get("jobs") or {}).items():
            checked_out = False
            for index, step in enumerate(job.get("steps") or []):
                step_uses = str(step.get("uses", ""))
                checked_out = checked_out or step_uses.startswith("actions/checkout@")
                if step_uses == "./" and not checked_out:
                    problems.append(f"{path.name}: jobs.{job_id}.steps[{index}] uses ./ before any checkout")
    return problems


def test_third_party_actions_are_pinned_to_a_node24_release_by_commit(doc_examples: list[Path]) -> None:
    problems = [
        problem for uses in all_uses(all_checked_files(doc_examples)) for problem in pin_problems(uses)
    ]
    assert problems == []


def test_own_actions_are_referenced_in_a_form_the_runner_accepts(doc_examples: list[Path]) -> None:
    problems = [
        problem
        for path in [*action_files(), *workflow_files(), *doc_examples]
        for problem in self_reference_problems(path)
    ]
    assert problems == []


CHECKOUT_V7 = "actions/checkout@3d3c42e5aac5ba805825da76410c181273ba90b1"


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        pytest.param(f"{CHECKOUT_V7} # v7.0.1", None, id="current-release"),
        pytest.param(
            "actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683 # v4.2.2",
            "below v5",
            id="node20-major",
        ),
        pytest.param("actions/checkout@v5", "40-hex commit SHA", id="tag-not-sha"),
        pytest.param("actions/checkout@3d3c42e5aac5 # v7.0.1", "40-hex commit SHA", id="short-sha"),
        pytest.param(f"{CHECKOUT_V7} # v7", "'# vX.Y.Z' comment", id="major-only-comment"),
        pytest.param(f"{CHECKOUT_V7}", "'# vX.Y.Z' comment", id="no-comment"),
        pytest.param(
            f"someone/unknown-action@{'a' * 40} # v9.0.0", "not in MINIMUM_MAJORS", id="unlisted-action"
        ),
        pytest.param(
            f"github/codeql-action/upload-sarif@{'b' * 40} # v3.28.18", "below v4", id="subpath-old-major"
        ),
        pytest.param("docker://alpine:3.20", "pinned by digest", id="docker-by-tag"),
        pytest.param("modelship/modelship@v1", "zizmor ignore", id="own-release-without-reason"),
    ],
)
def test_pin_rule_judges_each_form(tmp_path: Path, line: str, expected: str | None) -> None:
    action = tmp_path / "action.yml"
    action.write_text(f"runs:\n  using: composite\n  steps:\n    - uses: {line}\n", encoding="utf-8")
    problems = [problem for uses in uses_lines(action) for problem in pin_problems(uses)]
    if expected is None:
        assert problems == []
    else:
        assert len(problems) == 1
        assert expected in problems[0]


WORKFLOW_HEAD = "on: push\npermissions: {}\njobs:\n  self-test:\n    runs-on: ubuntu-latest\n    steps:\n"
CHECKOUT_STEP = f"      - uses: {CHECKOUT_V7} # v7.0.1\n"


@pytest.mark.parametrize(
    ("name", "steps", "expected"),
    [
        pytest.param("ci.yml", "      - uses: $/actions/fetch\n", None, id="self-path"),
        pytest.param("ci.yml", CHECKOUT_STEP + "      - uses: ./\n", None, id="root-after-checkout"),
        pytest.param("ci.yml", "      - uses: $/\n", "bare $/", id="bare-self"),
        pytest.param("ci.yml", "      - uses: $//\n", "bare $/", id="bare-self-slashes"),
        pytest.param("ci.yml", "      - uses: ./\n", "before any checkout", id="root-without-checkout"),
        pytest.param(
            "ci.yml", CHECKOUT_STEP + "      - uses: ./actions/fetch\n", "use $/path", id="local-path"
        ),
    ],
)
def test_self_reference_rule_judges_each_form(
    tmp_path: Path, name: str, steps: str, expected: str | None
) -> None:
    workflow = tmp_path / name
    workflow.write_text(WORKFLOW_HEAD + steps, encoding="utf-8")
    problems = self_reference_problems(workflow)
    if expected is None:
        assert problems == []
    else:
        assert len(problems) == 1
        assert expected in problems[0]


def test_self_reference_rule_refuses_the_workspace_form_in_a_composite_action(tmp_path: Path) -> None:
    action = tmp_path / "action.yml"
    action.write_text("runs:\n  using: composite\n  steps:\n    - uses: ./\n", encoding="utf-8")
    assert len(self_reference_problems(action)) == 1


def test_workflows_grant_nothing_at_the_top(doc_examples: list[Path]) -> None:
    for path in [*workflow_files(), *doc_examples]:
        assert load(path).get("permissions") == {}, f"{path.name}: needs 'permissions: {{}}' at the top"


def test_every_job_has_a_timeout_and_its_own_permissions(doc_examples: list[Path]) -> None:
    problems = []
    for path in [*workflow_files(), *doc_examples]:
        for job_id, job in load(path)["jobs"].items():
            if "permissions" not in job:
                problems.append(f"{path.name}: job {job_id} has no permissions")
            # A job that calls a reusable workflow cannot set a timeout; the called jobs have theirs.
            if "uses" not in job and "timeout-minutes" not in job:
                problems.append(f"{path.name}: job {job_id} has no timeout-minutes")
    assert problems == []


def test_every_permission_grant_says_why(doc_examples: list[Path]) -> None:
    bare = [
        f"{path.name}:{number}: {line.strip()}"
        for path in [*workflow_files(), *doc_examples]
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if (match := GRANT_LINE.match(line)) and not match["comment"]
    ]
    assert bare == []


def test_checkout_never_persists_credentials(doc_examples: list[Path]) -> None:
    checkouts = [
        (path, where, step)
        for path in [*workflow_files(), *action_files(), *doc_examples]
        for where, step in steps_of(load(path))
        if str(step.get("uses", "")).startswith("actions/checkout@")
    ]
    assert checkouts, "the workflows check out the repository somewhere"
    for path, where, step in checkouts:
        persist = (step.get("with") or {}).get("persist-credentials")
        assert persist in (False, "false"), f"{path.name} {where}: persist-credentials must be false"


@pytest.mark.parametrize("path", action_files(), ids=lambda path: str(path.relative_to(PROJECT_DIR)))
def test_action_inputs_and_outputs_are_documented_kebab_case(path: Path) -> None:
    action = load(path)
    for kind in ("inputs", "outputs"):
        for name, spec in (action.get(kind) or {}).items():
            assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", name), f"{kind[:-1]} {name} is not kebab-case"
            assert spec.get("description"), f"{kind[:-1]} {name} has no description"


def script_help(module: str) -> str:
    """A step script's --help."""
    result = subprocess.run(
        [sys.executable, "-m", f"scripts.{module}", "--help"],
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def script_options(module: str) -> set[str]:
    """The long options a step script's --help lists."""
    return set(re.findall(r"(--[a-z0-9-]+)", script_help(module))) - {"--help"}


@pytest.mark.parametrize("step", sorted(STEP_SCRIPTS))
def test_step_action_passes_each_input_to_an_option_of_its_script(step: str) -> None:
    action = load(PROJECT_DIR / "actions" / step / "action.yml")
    options = script_options(STEP_SCRIPTS[step])
    run_steps = [s for _, s in steps_of(action) if f"scripts.{STEP_SCRIPTS[step]}" in str(s.get("run", ""))]
    assert len(run_steps) == 1, f"actions/{step} should run scripts.{STEP_SCRIPTS[step]} once"
    script_step = run_steps[0]
    assert "$GITHUB_ACTION_PATH" in script_step["run"], "scripts run from the action's own checkout"
    assert "python -P -m" in script_step["run"], "-P keeps the caller's workspace off sys.path"
    env = script_step.get("env") or {}
    for name in action["inputs"]:
        if name in ACTION_ONLY_INPUTS:
            continue
        variable = "INPUT_" + name.replace("-", "_").upper()
        assert variable in env, f"actions/{step}: input {name} does not reach the script as {variable}"
        assert f"--{name}" in options, f"actions/{step}: scripts.{STEP_SCRIPTS[step]} has no --{name}"
        assert env[variable] == f"${{{{ inputs.{name} }}}}" or f"inputs.{name}" in env[variable]


def test_docs_tables_list_every_input_and_output() -> None:
    doc = USAGE_DOC.read_text(encoding="utf-8")
    deliver = load(PROJECT_DIR / ".github" / "workflows" / "deliver.yml")["on"]["workflow_call"]
    root = load(PROJECT_DIR / "action.yml")
    names = [
        *deliver["inputs"],
        *deliver["secrets"],
        *deliver["outputs"],
        *root["inputs"],
        *root["outputs"],
    ]
    missing = [name for name in names if f"| `{name}` |" not in doc]
    assert missing == [], "docs/usage.md's reference tables miss these"


def test_wrong_samples_fixture_asks_the_examples_questions_with_other_answers() -> None:
    example_file = PROJECT_DIR / "examples" / "housing" / "samples.json"
    wrong_file = Path(__file__).parent / "fixtures" / "wrong-samples.json"
    example = json.loads(example_file.read_text(encoding="utf-8"))
    wrong = json.loads(wrong_file.read_text(encoding="utf-8"))
    assert [sample["request"] for sample in wrong] == [sample["request"] for sample in example]
    assert all(a["response"] != b["response"] for a, b in zip(wrong, example, strict=True))


def test_deliver_keeps_the_image_and_model_on_its_runner_and_attests_in_a_job_of_its_own() -> None:
    jobs = load(PROJECT_DIR / ".github" / "workflows" / "deliver.yml")["jobs"]
    for job_id, job in jobs.items():
        for step in job.get("steps", []):
            assert "docker save" not in step.get("run", ""), f"{job_id}: the image may not leave the runner"
            if str(step.get("uses", "")).startswith("actions/upload-artifact@"):
                assert step["with"]["name"].endswith(("-sarif", "-sbom")), f"{job_id}: {step['with']}"
    granted = {job_id: job.get("permissions", {}) for job_id, job in jobs.items()}
    assert granted["attest"] == {"id-token": "write", "attestations": "write"}
    assert [job_id for job_id, permissions in granted.items() if "attestations" in permissions] == ["attest"]
    assert granted["summary"] == {}
    attest_uses = [step.get("uses", "") for step in jobs["attest"]["steps"]]
    assert any(uses.startswith("actions/attest-build-provenance@") for uses in attest_uses)
    assert any(uses.startswith("actions/attest-sbom@") for uses in attest_uses)


# --- one vocabulary -------------------------------------------------------------------------------

DELIVER = PROJECT_DIR / ".github" / "workflows" / "deliver.yml"
# The model's inputs: one name and one meaning in every front door (README "One vocabulary").
MODEL_INPUTS = ("source", "model", "model-name", "model-version", "model-label")
# Where an Azure ML model lives, and the fetch's check and limits: spelled alike in every front door.
FETCH_INPUTS = (
    "azure-subscription-id",
    "azure-resource-group",
    "azure-workspace",
    "model-registry",
    "azure-cloud",
    "expected-sha256",
    "timeout",
    "max-size-mb",
)
DEPRECATED = re.compile(r"^Deprecated: use (?P<new>[a-z0-9-]+) ")


def declared_inputs(path: Path) -> dict[str, dict[str, Any]]:
    """The inputs of an action, or of a reusable workflow's `workflow_call`."""
    document = load(path)
    if path.name == "action.yml":
        return document.get("inputs") or {}
    return ((document.get("on") or {}).get("workflow_call") or {}).get("inputs") or {}


def called_files() -> list[Path]:
    """The actions and the reusable workflow: the files whose inputs a caller sets."""
    return [*action_files(), DELIVER]


@pytest.mark.parametrize("path", called_files(), ids=lambda path: str(path.relative_to(PROJECT_DIR)))
def test_every_input_is_used(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    unused = [
        name
        for name in declared_inputs(path)
        if not re.search(rf"\binputs\.{re.escape(name)}(?![\w-])", text)
    ]
    assert unused == [], f"{path.name}: inputs no step reads"


def test_front_doors_and_the_pipeline_name_the_model_inputs_alike() -> None:
    for path in (PROJECT_DIR / "action.yml", DELIVER, PROJECT_DIR / "actions" / "fetch" / "action.yml"):
        inputs = declared_inputs(path)
        missing = [name for name in (*MODEL_INPUTS, *FETCH_INPUTS) if name not in inputs]
        assert missing == [], f"{path.relative_to(PROJECT_DIR)} lacks {missing}"
        assert "Deprecated" not in " ".join(
            inputs[name]["description"] for name in (*MODEL_INPUTS, *FETCH_INPUTS)
        )
    for module in ("pipeline", "fetch"):
        options = script_options(module)
        missing = [name for name in (*MODEL_INPUTS, *FETCH_INPUTS) if f"--{name}" not in options]
        assert missing == [], f"python -m scripts.{module} lacks {missing}"
    for path in (PROJECT_DIR / "action.yml", DELIVER):
        fetches = [
            step
            for _, step in steps_of(load(path))
            if step.get("uses") == f"{SELF_REPOSITORY_PREFIX}actions/fetch"
        ]
        assert len(fetches) == 1, f"{path.name} calls actions/fetch once"
        passed = fetches[0].get("with") or {}
        renamed = [name for name in FETCH_INPUTS if passed.get(name) != f"${{{{ inputs.{name} }}}}"]
        assert renamed == [], f"{path.name} passes {renamed} to actions/fetch under another name"


def warns_in_yaml(path: Path, old: str, new: str) -> bool:
    """A `run:` of the file emits the deprecation warning naming both inputs."""
    expected = f"::warning::input '{old}' is deprecated and will be removed; use '{new}' instead"
    return any(expected in str(step.get("run", "")) for _, step in steps_of(load(path)))


def warns_in_script(path: Path, old: str, new: str) -> bool:
    """The input reaches a step script's option that its --help marks deprecated (the script warns)."""
    step = path.parent.name
    if step not in STEP_SCRIPTS:
        return False
    variable = "INPUT_" + old.replace("-", "_").upper()
    reaches = any(variable in (step_.get("env") or {}) for _, step_ in steps_of(load(path)))
    help_text = " ".join(script_help(STEP_SCRIPTS[step]).split())  # argparse wraps the help column
    return reaches and re.search(rf"--{old} \S+ deprecated: use --{new}\b", help_text) is not None


def test_every_deprecated_input_names_its_successor_and_warns() -> None:
    deprecated = {
        (path, name, match["new"])
        for path in called_files()
        for name, spec in declared_inputs(path).items()
        if (match := DEPRECATED.match(str(spec.get("description", ""))))
    }
    expected = {
        (DELIVER, "model-source", "source"),
        (DELIVER, "model-path", "model"),
        (PROJECT_DIR / "actions" / "fetch" / "action.yml", "name", "model-name"),
        (PROJECT_DIR / "actions" / "fetch" / "action.yml", "version", "model-version"),
        *(
            (PROJECT_DIR / "actions" / "fetch" / "action.yml", old, f"azure-{old}")
            for old in ("subscription-id", "resource-group", "workspace")
        ),
    }
    assert expected <= deprecated
    for path, old, new in deprecated:
        assert new in declared_inputs(path), f"{path.name}: {old} points at {new}, which is no input"
        assert warns_in_yaml(path, old, new) or warns_in_script(path, old, new), (
            f"{path.relative_to(PROJECT_DIR)}: deprecated input {old} never warns"
        )


def test_the_deprecation_rule_catches_a_silent_alias(tmp_path: Path) -> None:
    action = tmp_path / "actions" / "quiet" / "action.yml"
    action.parent.mkdir(parents=True)
    action.write_text(
        "name: q\ndescription: q\ninputs:\n  old:\n    description: 'Deprecated: use new (warns)'\n"
        "  new:\n    description: n\nruns:\n  using: composite\n  steps:\n"
        "    - shell: bash\n      env:\n        NEW: ${{ inputs.new || inputs.old }}\n"
        '      run: echo "$NEW"\n',
        encoding="utf-8",
    )
    assert not warns_in_yaml(action, "old", "new")
    assert not warns_in_script(action, "old", "new")


def test_front_doors_write_their_summary_with_the_summary_module() -> None:
    root, deliver = load(PROJECT_DIR / "action.yml"), load(DELIVER)
    for path, document in ((PROJECT_DIR / "action.yml", root), (DELIVER, deliver)):
        in_bash = [
            where for where, step in steps_of(document) if "GITHUB_STEP_SUMMARY" in str(step.get("run", ""))
        ]
        assert in_bash == [], f"{path.name}: summaries are scripts/summary.py's, not Markdown in bash"
    summary_uses = f"{SELF_REPOSITORY_PREFIX}actions/summary"
    assert any(step.get("uses") == summary_uses for _, step in steps_of(root))
    assert [step.get("uses") for step in deliver["jobs"]["summary"]["steps"]] == [summary_uses]
    recorded = [step for step in deliver["jobs"]["pipeline"]["steps"] if step.get("uses") == summary_uses]
    assert [step["with"]["record"] for step in recorded] == ["true"]
