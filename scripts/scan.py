"""Scan step: syft's SBOM of the image, grype on it, a gate at a severity cut-off, SARIF and a summary.

`run` takes a typed `ScanRequest`, checks it and scans (or skips), returning a `ScanResult`; `report`
writes its summary and annotations; `main` is the command line and the Actions edge around both.
Exit codes: 0 passed; 1 vulnerabilities at or above the cut-off; 2 bad input or no scanner;
3 the vulnerability database could not be loaded or is too old; 4 the image could not be read.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

from scripts import gha, grype, sarif, sbom, scanners
from scripts.grype import Database
from scripts.sbom import Sbom
from scripts.scan_findings import (
    CUTOFFS,
    GrypeOutputError,
    Report,
    Severity,
    Verdict,
    decide,
    parse_report,
    to_sarif,
    worst,
)

USAGE_EXIT = 2
RAW_LIMIT = 60_000  # keep the folded raw JSON well under the 1 MiB step-summary limit


@dataclass(frozen=True)
class ScanRequest:
    """What the scan step needs; the defaults are the command line's."""

    image: str
    severity_cutoff: str = "high"
    only_fixed: bool = False
    config: Path | None = None
    sarif: Path | None = None
    sbom_dir: Path = Path(".modelship/sbom")
    skip: bool = False


@dataclass(frozen=True)
class Scanned:
    """What a scan that ran found, and with what: grype's report and raw JSON, the gate, the files."""

    report: Report
    verdict: Verdict
    database: Database
    sbom: Sbom
    raw: str
    sarif: Path | None


@dataclass(frozen=True)
class ScanResult:
    """The scan step's outcome for one image: what the scan found, or None when it was skipped."""

    image: str
    scanned: Scanned | None

    @property
    def skipped(self) -> bool:
        """True when the image was not scanned."""
        return self.scanned is None

    @property
    def passed(self) -> bool:
        """False when findings reach the cut-off; a skipped scan does not fail the step."""
        return self.scanned is None or self.scanned.verdict.passed

    def outputs(self) -> dict[str, str]:
        """Counts per severity, total, SARIF and SBOM paths, verdict, grype and its database."""
        scanned = self.scanned
        counts = scanned.verdict.counts if scanned else dict.fromkeys(sorted(Severity, reverse=True), 0)
        return {
            **{severity.label: str(count) for severity, count in counts.items()},
            "total": str(len(scanned.verdict.considered)) if scanned else "0",
            "sarif": str(scanned.sarif) if scanned and scanned.sarif else "",
            "verdict": ("pass" if self.passed else "fail") if scanned else "skipped",
            "sbom-spdx": str(scanned.sbom.spdx) if scanned else "",
            "sbom-cyclonedx": str(scanned.sbom.cyclonedx) if scanned else "",
            "grype-version": scanned.report.grype_version if scanned else "",
            "database": scanned.database.description if scanned else "",
        }


def counts_line(verdict: Verdict) -> str:
    """'1 critical · 0 high · …' for the verdict line."""
    return " · ".join(f"{count} {severity.label}" for severity, count in verdict.counts.items())


def render_summary(image: str, scanned: Scanned) -> str:
    """The step summary: verdict first, counts by severity, the worst findings, raw JSON folded."""
    report, verdict, database, raw = scanned.report, scanned.verdict, scanned.database, scanned.raw
    cutoff = verdict.cutoff.label
    if verdict.passed:
        head = f"## ✅ Scan passed: nothing at or above {cutoff} in `{image}`"
    else:
        head = f"## ❌ Scan failed: {len(verdict.failing)} at or above {cutoff} in `{image}`"
    notes = [f"{len(verdict.considered)} total"]
    if report.ignored:
        notes.append(f"{report.ignored} ignored by the grype config")
    if verdict.only_fixed:
        notes.append(f"{verdict.skipped_unfixed} without a fix not counted (only-fixed)")
    lines = [head, ""]
    if database.test_advisories is not None:
        lines += [f"> **{database.test_note[0].upper()}{database.test_note[1:]}.**", ""]
    lines += [f"**{counts_line(verdict)}** ({'; '.join(notes)})", ""]
    lines += ["| Severity | Count |", "| --- | ---: |"]
    lines += [f"| {severity.label} | {count} |" for severity, count in verdict.counts.items()]
    listed = worst(verdict.considered)
    if listed:
        title = (
            "Worst findings" if len(verdict.considered) <= len(listed) else f"Worst {len(listed)} findings"
        )
        lines += ["", f"### {title}", "", "| Vulnerability | Severity | Package | Version | Fixed in |"]
        lines.append("| --- | --- | --- | --- | --- |")
        for f in listed:
            name = f"[{f.vulnerability_id}]({f.url})" if f.url else f.vulnerability_id
            lines.append(f"| {name} | {f.severity.label} | {f.package} | {f.version} | {f.fix_text} |")
    lines += ["", gha.key_value_table(scanned_with(scanned)), ""]
    shown = (
        raw
        if len(raw) <= RAW_LIMIT
        else raw[:RAW_LIMIT] + "\n… (truncated; the SARIF file has every finding)"
    )
    lines.append(gha.details("grype JSON output", shown, "json"))
    return "\n".join(lines)


def scanned_with(scanned: Scanned) -> list[tuple[str, str]]:
    """The summary's rows naming the scanner, its database and the SBOM files."""
    report, database, files = scanned.report, scanned.database, scanned.sbom
    return [
        ("grype", report.grype_version or "(version unknown)"),
        ("database", database.description),
        ("SBOM (SPDX JSON)", f"`{files.spdx}`"),
        ("SBOM (CycloneDX JSON)", f"`{files.cyclonedx}` (scanned; syft {files.syft_version or '?'})"),
    ]


def render_skipped(image: str, reason: str) -> str:
    """The summary when the image was not scanned: loud, so nobody mistakes it for a pass."""
    return "\n".join(
        [
            f"## ⚠️ Image NOT scanned: `{image}`",
            "",
            f"**The vulnerability scan was skipped ({reason}).** Nothing is known about this image's "
            "vulnerabilities; do not treat this step's success as a clean scan.",
        ]
    )


def build_parser() -> gha.StepParser:
    """Command-line options (defaults from INPUT_* in Actions)."""
    parser = gha.StepParser(prog="python -m scripts.scan", description=__doc__)
    parser.add_input("--image", required=True, help="image reference or id to scan")
    parser.add_choice(
        "--severity-cutoff",
        choices=CUTOFFS,
        default="high",
        help="fail on findings at or above this severity (default: high)",
    )
    parser.add_flag("--only-fixed", help="count only vulnerabilities that have a fixed version")
    parser.add_input("--config", default="", help="grype config file with ignore rules (e.g. .grype.yaml)")
    parser.add_input("--sarif", default="", help="write SARIF 2.1.0 for code scanning to this path")
    parser.add_input("--sbom-dir", default=".modelship/sbom", help="folder for the SPDX and CycloneDX SBOMs")
    parser.add_flag("--skip", help="do not scan (the summary says loudly that the image was not scanned)")
    return parser


def scanner(tool: str, image: str) -> str:
    """The path of grype or syft; a clear error (exit 2) when it is not installed."""
    found = scanners.find(tool)
    if found is None:
        raise gha.StepError(
            f"{tool} is not on PATH nor in {scanners.BIN_DIR}, so image '{image}' cannot be scanned; "
            f"{scanners.INSTALL_HINT}",
            exit_code=USAGE_EXIT,
        )
    return found


def checked_image(request: ScanRequest) -> str:
    """The request's image reference, once its inputs are checked; StepError (exit 2) when one is wrong."""
    image = request.image.strip()
    if not image:
        raise gha.StepError(
            f"{gha.input_name('image')} is empty; pass the image reference the build step printed",
            exit_code=USAGE_EXIT,
        )
    gha.check_choice(request.severity_cutoff, CUTOFFS, "severity-cutoff", USAGE_EXIT)
    config = request.config
    if config is not None and not config.is_file():
        raise gha.StepError(
            f"grype config '{config}' ({gha.input_name('config')}) does not exist; "
            "fix the path or leave it empty",
            exit_code=USAGE_EXIT,
        )
    return image


def run(request: ScanRequest) -> ScanResult:
    """Catalog the image with syft, scan the SBOM with grype and gate on the cut-off (or skip)."""
    image = checked_image(request)
    if request.skip:
        return ScanResult(image, None)
    grype_path, syft_path = scanner("grype", image), scanner("syft", image)
    database = grype.ready(grype_path)
    files = sbom.write(syft_path, image, request.sbom_dir)
    config = str(request.config) if request.config else None
    raw = grype.scan_sbom(grype_path, str(files.cyclonedx), config)
    try:
        report = parse_report(raw)
    except GrypeOutputError as error:
        raise gha.StepError(
            f"grype's output for image '{image}' could not be read: {error}. Run "
            f"`grype sbom:{files.cyclonedx} -o json` by hand to see it; its output began:\n{raw[:300]}",
            exit_code=USAGE_EXIT,
        ) from None
    cutoff = Severity.parse(request.severity_cutoff)
    verdict = decide(report.findings, cutoff, only_fixed=request.only_fixed)
    sarif_path = sarif.write_log(request.sarif, to_sarif(image, report, verdict)) if request.sarif else None
    return ScanResult(image, Scanned(report, verdict, database, files, raw, sarif_path))


def report(result: ScanResult) -> None:
    """The summary and annotations: a loud warning when skipped, else each finding that fails the gate."""
    image, scanned = result.image, result.scanned
    if scanned is None:
        gha.annotate("warning", f"image {image} was NOT scanned for vulnerabilities: the scan was skipped")
        gha.add_summary(render_skipped(image, "skip was requested"))
        return
    verdict = scanned.verdict
    gha.add_summary(render_summary(image, scanned))
    for f in worst(verdict.failing):
        gha.annotate(
            "error",
            f"{f.vulnerability_id} ({f.severity.label}) in {f.package} {f.version}; fix: {f.fix_text}",
            title=f"Vulnerability in {image}",
        )
    if not verdict.passed:
        gha.annotate(
            "error",
            f"vulnerabilities at or above the cut-off: image {image} has {len(verdict.failing)} at or "
            f"above {verdict.cutoff.label} ({counts_line(verdict)}); update the affected packages "
            "or the base image, or add a justified ignore rule to the grype config",
        )


def request_from(args: argparse.Namespace) -> ScanRequest:
    """The typed request from the parsed command line ("" for a path means none)."""
    return ScanRequest(
        image=args.image,
        severity_cutoff=args.severity_cutoff,
        only_fixed=args.only_fixed,
        config=Path(args.config) if args.config else None,
        sarif=Path(args.sarif) if args.sarif else None,
        sbom_dir=Path(args.sbom_dir),
        skip=args.skip,
    )


def main(argv: list[str] | None = None) -> int:
    """Scan the image the command line (or the action's inputs) names; exit 1 when the gate fails."""
    request = request_from(build_parser().parse_args(argv))
    return gha.conclude(lambda: run(request), report)


if __name__ == "__main__":
    raise SystemExit(main())
