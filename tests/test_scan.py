"""The scan step with the real grype and syft on real images, against the offline test database
that tools/grype-testdb builds: through `main`, as a workflow runs it, and through `run`, as the
pipeline calls it (its pure decisions are in test_scan_findings)."""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import jsonschema
import pytest

from scripts import grype, sbom, scan, scanners
from scripts.scan_findings import Severity
from tests import scanner, steps
from tests.steps import StepRun

IMAGE = "modelship/housing:1"
PY_WHEEL = "py-1.11.0-py2.py3-none-any.whl"  # GHSA-w596-4wvx-j9j6: medium, no fix
URLLIB3_WHEEL = "urllib3-1.26.4-py2.py3-none-any.whl"  # GHSA-q2q7-5pp4-w6pg: high, fixed in 1.26.5


@pytest.fixture(scope="module")
def test_database(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The offline test database, built once; the environment that points grype at it."""
    return scanner.build_test_database(tmp_path_factory.mktemp("grype-db"))


@pytest.fixture
def offline(test_database: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """grype uses the test database; no INPUT_* leaks in; the step runs in an empty folder."""
    for name in list(os.environ):
        if name.startswith("INPUT_") or name == "GITHUB_ACTIONS":
            monkeypatch.delenv(name)
    for name, value in test_database.items():
        monkeypatch.setenv(name, value)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    return work


@pytest.fixture(scope="module")
def unfixed_image(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The base image with py 1.11.0, named by an advisory that has no fix."""
    with scanner.image_with_wheels(
        "modelship-test/scan-py:1", [PY_WHEEL], tmp_path_factory.mktemp("py")
    ) as tag:
        yield tag


@pytest.fixture(scope="module")
def fixed_image(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The base image with urllib3 1.26.4, named by a high advisory fixed in 1.26.5."""
    with scanner.image_with_wheels(
        "modelship-test/scan-urllib3:1", [URLLIB3_WHEEL], tmp_path_factory.mktemp("urllib3")
    ) as tag:
        yield tag


def scan_step(image: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *args: str) -> StepRun:
    """The scan step in-process on IMAGE, its SBOMs written under tmp_path."""
    files = tmp_path / "step"
    files.mkdir(exist_ok=True)
    argv = ["--image", image, "--sbom-dir", str(tmp_path / "sbom"), *args]
    return steps.run_step(scan.main, argv, files, monkeypatch)


def db_built() -> str:
    """The build time of the database grype is pointed at, as `grype db status` tells it."""
    done = grype.run(scanner.tool("grype"), "db", "status", "-o", "json", auto_update=False)
    return str(json.loads(done.stdout)["built"])


@pytest.mark.docker
@pytest.mark.usefixtures("offline")
def test_an_advisory_at_the_cutoff_fails_the_gate(
    unfixed_image: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    run = scan_step(unfixed_image, tmp_path, monkeypatch, "--severity-cutoff", "medium")
    assert run.code == 1, run.out + run.err
    out = run.outputs
    assert (out["verdict"], out["medium"], out["negligible"], out["high"]) == ("fail", "1", "2", "0")
    assert out["grype-version"] == scanners.pinned_version("grype")
    assert run.summary.startswith(f"## ❌ Scan failed: 1 at or above medium in `{unfixed_image}`")
    assert "offline test database (3 advisories); this is not a vulnerability assessment" in run.summary
    assert f"| grype | {scanners.pinned_version('grype')} |" in run.summary
    assert f"built {db_built()}" in run.summary
    assert (
        "| GHSA-w596-4wvx-j9j6](https://github.com/advisories/GHSA-w596-4wvx-j9j6) | medium | py | 1.11.0 |"
        in (run.summary.replace("| [", "| "))
    )
    assert "::error::vulnerabilities at or above the cut-off: image" in run.out


@pytest.mark.docker
@pytest.mark.usefixtures("offline")
def test_the_sarif_is_valid_and_names_advisory_package_and_location(
    unfixed_image: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sarif_path = tmp_path / "grype.sarif"
    run = scan_step(
        unfixed_image, tmp_path, monkeypatch, "--severity-cutoff", "medium", "--sarif", str(sarif_path)
    )
    assert run.outputs["sarif"] == str(sarif_path)
    log = json.loads(sarif_path.read_text(encoding="utf-8"))
    jsonschema.Draft4Validator(scanner.sarif_schema()).validate(log)
    [result] = [r for r in log["runs"][0]["results"] if r["ruleId"] == "GHSA-w596-4wvx-j9j6"]
    assert "py 1.11.0" in result["message"]["text"]
    uri = result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
    assert uri.endswith("py-1.11.0.dist-info/METADATA")


@pytest.mark.docker
@pytest.mark.usefixtures("offline")
def test_only_fixed_passes_when_the_advisory_has_no_fix(
    unfixed_image: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = scan_step(unfixed_image, tmp_path, monkeypatch, "--severity-cutoff", "medium", "--only-fixed")
    assert run.code == 0, run.out + run.err
    assert (run.outputs["verdict"], run.outputs["medium"]) == ("pass", "0")
    assert "3 without a fix not counted (only-fixed)" in run.summary


@pytest.mark.docker
@pytest.mark.parametrize("where", ["grype-yaml-in-working-directory", "config-input"])
def test_an_ignore_rule_passes_the_gate(
    unfixed_image: str, offline: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    rule = "ignore:\n  - vulnerability: GHSA-w596-4wvx-j9j6\n    reason: py's svn support is never imported\n"
    config = offline / (".grype.yaml" if where.startswith("grype-yaml") else "ignore.yaml")
    config.write_text(rule, encoding="utf-8")
    extra = ["--config", str(config)] if where == "config-input" else []
    run = scan_step(unfixed_image, tmp_path, monkeypatch, "--severity-cutoff", "medium", *extra)
    assert run.code == 0, run.out + run.err
    assert run.outputs["medium"] == "0"
    assert "1 ignored by the grype config" in run.summary


@pytest.mark.docker
@pytest.mark.usefixtures("offline")
def test_a_fixed_advisory_still_fails_with_only_fixed(
    fixed_image: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = scan_step(fixed_image, tmp_path, monkeypatch, "--only-fixed")
    assert run.code == 1, run.out + run.err
    assert (run.outputs["high"], run.outputs["verdict"]) == ("1", "fail")
    assert "| urllib3 | 1.26.4 | 1.26.5 |" in run.summary


@pytest.mark.docker
@pytest.mark.usefixtures("offline")
def test_the_sboms_are_written_and_named(
    unfixed_image: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = scan_step(unfixed_image, tmp_path, monkeypatch, "--severity-cutoff", "critical")
    assert run.code == 0, run.out + run.err
    spdx = json.loads(Path(run.outputs["sbom-spdx"]).read_text(encoding="utf-8"))
    cyclonedx = json.loads(Path(run.outputs["sbom-cyclonedx"]).read_text(encoding="utf-8"))
    assert spdx["spdxVersion"].startswith("SPDX-2.")
    assert {"py", "libc6"} <= {package["name"] for package in spdx["packages"]}
    assert cyclonedx["bomFormat"] == "CycloneDX"
    assert ("py", "1.11.0") in {(c["name"], c.get("version")) for c in cyclonedx["components"]}
    assert f"`{run.outputs['sbom-spdx']}`" in run.summary
    assert (
        f"`{run.outputs['sbom-cyclonedx']}` (scanned; syft {scanners.pinned_version('syft')})" in run.summary
    )


@pytest.mark.docker
@pytest.mark.usefixtures("offline")
def test_an_unreadable_image_is_told_apart(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    missing = "127.0.0.1:9/modelship/missing:1"  # a refused loopback port: nothing leaves the machine
    run = scan_step(missing, tmp_path, monkeypatch)
    assert run.code == sbom.IMAGE_EXIT
    assert run.summary.startswith(f"❌ the image '{missing}' could not be read")
    assert "connection refused" in run.summary
    assert "Traceback" not in run.err


@pytest.mark.docker
@pytest.mark.usefixtures("offline")
@pytest.mark.parametrize(
    ("env", "said"),
    [
        pytest.param({"GRYPE_DB_MAX_ALLOWED_BUILT_AGE": "1ns"}, "max allowed age is", id="too-old"),
        pytest.param({"GRYPE_DB_CACHE_DIR": "{tmp}/empty-cache"}, "database does not exist", id="missing"),
    ],
)
def test_database_trouble_is_told_apart_with_the_fix(
    unfixed_image: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, env: dict[str, str], said: str
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value.format(tmp=tmp_path))
    run = scan_step(unfixed_image, tmp_path, monkeypatch)
    assert run.code == grype.DATABASE_EXIT, run.out + run.err
    assert run.summary.startswith("❌ grype's vulnerability database could not be loaded or is too old")
    assert said in run.summary
    assert "run `grype db update`" in run.summary
    assert "the image is not at fault" in run.summary
    assert not (tmp_path / "sbom").exists()  # nothing was catalogued for a scan that cannot happen


def test_a_crashing_grype_is_a_clean_error(tmp_path: Path) -> None:
    """A stand-in, because a real grype cannot be made to panic: the error quotes its last words."""
    stand_in = tmp_path / "grype"
    stand_in.write_text(
        "#!/bin/sh\necho 'panic: runtime error: index out of range' >&2\nexit 2\n", encoding="utf-8"
    )
    stand_in.chmod(0o755)
    with pytest.raises(scan.gha.StepError) as raised:
        grype.scan_sbom(str(stand_in), "sbom.cdx.json", None)
    assert raised.value.exit_code == 2
    assert "grype failed on the SBOM sbom.cdx.json (exit 2): panic: runtime error" in str(raised.value)


@pytest.fixture
def no_scanners(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Neither PATH nor .modelship/bin holds grype or syft."""
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    monkeypatch.setattr(scanners, "BIN_DIR", empty)


@pytest.mark.usefixtures("no_scanners")
def test_a_missing_scanner_says_how_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    run = scan_step(IMAGE, tmp_path, monkeypatch)
    assert run.code == scan.USAGE_EXIT
    assert "grype is not on PATH nor in" in run.summary
    assert "make setup" in run.summary
    assert "--skip" in run.summary
    assert "verdict" not in run.outputs


@pytest.mark.usefixtures("no_scanners")
def test_skip_reports_loudly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    run = scan_step(IMAGE, tmp_path, monkeypatch, "--skip")
    assert run.code == 0
    assert run.summary.startswith(f"## ⚠️ Image NOT scanned: `{IMAGE}`")
    assert run.outputs["verdict"] == "skipped"
    assert f"::warning::image {IMAGE} was NOT scanned" in run.out


def test_a_missing_config_file_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    run = scan_step(IMAGE, tmp_path, monkeypatch, "--config", "nope.yaml")
    assert run.code == scan.USAGE_EXIT
    assert "grype config 'nope.yaml' (--config) does not exist" in run.summary


@pytest.mark.docker
@pytest.mark.usefixtures("offline")
def test_run_returns_the_typed_result_whose_outputs_main_writes(
    unfixed_image: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    untouched = tmp_path / "untouched"
    untouched.mkdir()
    for name in ("GITHUB_OUTPUT", "GITHUB_STEP_SUMMARY"):
        (untouched / name).write_text("", encoding="utf-8")
        monkeypatch.setenv(name, str(untouched / name))
    sarif_path = tmp_path / "grype.sarif"
    request = scan.ScanRequest(
        image=unfixed_image, severity_cutoff="Medium", sarif=sarif_path, sbom_dir=tmp_path / "sbom"
    )
    result = scan.run(request)
    assert (result.passed, result.skipped, result.image) == (False, False, unfixed_image)
    assert result.scanned is not None
    verdict = result.scanned.verdict
    assert verdict.cutoff is Severity.MEDIUM
    assert [f.vulnerability_id for f in verdict.failing] == ["GHSA-w596-4wvx-j9j6"]
    assert (verdict.counts[Severity.MEDIUM], verdict.counts[Severity.NEGLIGIBLE]) == (1, 2)
    assert result.scanned.database.test_advisories == 3
    assert result.scanned.sbom.cyclonedx == tmp_path / "sbom" / f"{sbom.file_stem(unfixed_image)}.cdx.json"
    assert result.scanned.sarif == sarif_path
    assert "GHSA-w596-4wvx-j9j6" in sarif_path.read_text(encoding="utf-8")
    assert json.loads(result.scanned.raw)["matches"]
    outputs = result.outputs()
    assert (outputs["verdict"], outputs["medium"], outputs["total"]) == ("fail", "1", "3")
    assert outputs["sarif"] == str(sarif_path)
    assert all(
        (untouched / name).read_text(encoding="utf-8") == ""
        for name in ("GITHUB_OUTPUT", "GITHUB_STEP_SUMMARY")
    )

    run = scan_step(
        unfixed_image, tmp_path, monkeypatch, "--severity-cutoff", "medium", "--sarif", str(sarif_path)
    )
    assert run.code == 1, run.out + run.err
    assert run.outputs == outputs


@pytest.mark.usefixtures("no_scanners")
def test_run_skips_without_a_scanner_and_its_outputs_are_mains(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = scan.run(scan.ScanRequest(image=f" {IMAGE} ", skip=True))
    assert (result.skipped, result.passed, result.image, result.scanned) == (True, True, IMAGE, None)
    outputs = result.outputs()
    assert (outputs["verdict"], outputs["critical"], outputs["total"], outputs["sbom-spdx"]) == (
        "skipped",
        "0",
        "0",
        "",
    )
    run = scan_step(IMAGE, tmp_path, monkeypatch, "--skip")
    assert run.outputs == outputs


@pytest.mark.usefixtures("no_scanners")
@pytest.mark.parametrize(
    ("bad", "said"),
    [
        pytest.param(
            scan.ScanRequest(image="  "), "--image is empty; pass the image reference", id="empty-image"
        ),
        pytest.param(
            scan.ScanRequest(image=IMAGE, severity_cutoff="severe"),
            "--severity-cutoff must be one of negligible, low, medium, high, critical, not 'severe'",
            id="unknown-cutoff",
        ),
        pytest.param(
            scan.ScanRequest(image=IMAGE, config=Path("nope.yaml"), skip=True),
            "grype config 'nope.yaml' (--config) does not exist; fix the path or leave it empty",
            id="missing-config-even-when-skipped",
        ),
    ],
)
def test_run_refuses_bad_input_without_main(
    bad: scan.ScanRequest, said: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in list(os.environ):
        if name.startswith("INPUT_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(scan.gha.StepError) as raised:
        scan.run(bad)
    assert raised.value.exit_code == scan.USAGE_EXIT
    assert str(raised.value).startswith(said)


@pytest.mark.usefixtures("no_scanners")
def test_an_unknown_cutoff_input_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An action's input reaches the parser as a default, which argparse does not check for choices."""
    monkeypatch.setenv("INPUT_SEVERITY_CUTOFF", "severe")
    run = scan_step(IMAGE, tmp_path, monkeypatch)
    assert run.code == scan.USAGE_EXIT
    assert "input 'severity-cutoff' must be one of negligible, low, medium, high, critical, not 'severe'" in (
        run.summary
    )
    assert "verdict" not in run.outputs


def test_the_pinned_versions_have_one_home() -> None:
    """go.mod names grype and syft; no workflow, action or script names a version of its own."""
    major, minor, _ = (int(part) for part in scanners.pinned_version("grype").split("."))
    assert (major, minor) >= (0, 110)  # the first grype of schema v6 this project has run
    files = subprocess.run(
        ["git", "ls-files", "*.yml", "*.py", "Makefile", "tools/*"],
        capture_output=True,
        text=True,
        cwd=scanner.PROJECT,
        check=True,
    ).stdout.split()
    version = re.compile(r"(grype|syft)[@_ =:-]+v?[0-9]+\.[0-9]+\.[0-9]+")
    named = [
        name
        for name in files
        if not name.startswith("tools/grype-testdb/")
        and version.search((scanner.PROJECT / name).read_text(encoding="utf-8"))
    ]
    assert named == [], "grype/syft versions belong in tools/grype-testdb/go.mod only"
