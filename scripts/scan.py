"""Scan step: syft's SBOM of the image, grype on it, a gate at a severity cut-off, SARIF and a summary.

Exit codes: 0 passed; 1 vulnerabilities at or above the cut-off; 2 bad input or no scanner;
3 the vulnerability database could not be loaded or is too old; 4 the image could not be read.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import IntEnum
from pathlib import Path
from typing import Any

from scripts import gha, grype, sarif, sbom, scanners
from scripts.grype import Database
from scripts.sbom import Sbom

USAGE_EXIT = 2
WORST_LISTED = 10
RAW_LIMIT = 60_000  # keep the folded raw JSON well under the 1 MiB step-summary limit


class Severity(IntEnum):
    """grype's severities, in grype's order (Unknown ranks lowest, so no cut-off fails on it)."""

    UNKNOWN = 0
    NEGLIGIBLE = 1
    LOW = 2
    MEDIUM = 3
    HIGH = 4
    CRITICAL = 5

    @classmethod
    def parse(cls, text: str) -> Severity:
        """'High' / 'high' -> Severity.HIGH; anything unrecognised is UNKNOWN, as grype treats it."""
        return cls.__members__.get(text.strip().upper(), cls.UNKNOWN)

    @property
    def label(self) -> str:
        """Lower-case name, as used for inputs and outputs."""
        return self.name.lower()


CUTOFFS = [severity.label for severity in Severity if severity is not Severity.UNKNOWN]
SARIF_LEVEL = {
    Severity.CRITICAL: "error",
    Severity.HIGH: "error",
    Severity.MEDIUM: "warning",
    Severity.LOW: "note",
    Severity.NEGLIGIBLE: "note",
    Severity.UNKNOWN: "note",
}
# GitHub code scanning ranks security alerts by this number when a match has no CVSS score.
SECURITY_SEVERITY = {
    Severity.CRITICAL: 9.5,
    Severity.HIGH: 8.0,
    Severity.MEDIUM: 5.5,
    Severity.LOW: 2.0,
    Severity.NEGLIGIBLE: 0.5,
    Severity.UNKNOWN: 0.0,
}


@dataclass(frozen=True)
class Finding:
    """One grype match: a vulnerability in one package of the image."""

    vulnerability_id: str
    severity: Severity
    package: str
    version: str
    package_type: str
    fix_state: str
    fixed_in: tuple[str, ...]
    location: str
    url: str
    description: str
    cvss_score: float | None

    @property
    def fixed(self) -> bool:
        """True when a fixed version exists (grype's fix state `fixed`)."""
        return self.fix_state == "fixed"

    @property
    def fix_text(self) -> str:
        """The fixed versions, or the fix state when there is none."""
        return ", ".join(self.fixed_in) if self.fixed_in else (self.fix_state or "unknown")


@dataclass(frozen=True)
class Report:
    """What grype found in one image."""

    findings: tuple[Finding, ...]
    ignored: int
    grype_version: str
    db_built: str


@dataclass(frozen=True)
class Verdict:
    """The gate's decision over a report."""

    cutoff: Severity
    only_fixed: bool
    considered: tuple[Finding, ...]
    failing: tuple[Finding, ...]
    skipped_unfixed: int

    @property
    def passed(self) -> bool:
        """True when nothing considered is at or above the cut-off."""
        return not self.failing

    @property
    def counts(self) -> dict[Severity, int]:
        """Considered findings per severity, every severity present."""
        tally = Counter(finding.severity for finding in self.considered)
        return {severity: tally.get(severity, 0) for severity in sorted(Severity, reverse=True)}


class GrypeOutputError(ValueError):
    """grype printed something that is not its JSON report."""


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _cvss_score(vulnerability: Mapping[str, Any]) -> float | None:
    scores = [
        float(entry["metrics"]["baseScore"])
        for entry in vulnerability.get("cvss") or []
        if isinstance(entry, dict)
        and isinstance(entry.get("metrics"), dict)
        and isinstance(entry["metrics"].get("baseScore"), int | float)
    ]
    return max(scores) if scores else None


def parse_match(match: Mapping[str, Any]) -> Finding:
    """One element of grype's `matches` array as a Finding."""
    vulnerability, artifact = _mapping(match.get("vulnerability")), _mapping(match.get("artifact"))
    if not vulnerability.get("id") or not artifact:
        raise GrypeOutputError("a match lacks its 'vulnerability' id or its 'artifact'")
    fix = _mapping(vulnerability.get("fix"))
    locations = [loc for loc in artifact.get("locations") or [] if isinstance(loc, dict) and loc.get("path")]
    urls = [url for url in vulnerability.get("urls") or [] if isinstance(url, str)]
    return Finding(
        vulnerability_id=str(vulnerability["id"]),
        severity=Severity.parse(_text(vulnerability.get("severity"))),
        package=_text(artifact.get("name")),
        version=_text(artifact.get("version")),
        package_type=_text(artifact.get("type")),
        fix_state=_text(fix.get("state")),
        fixed_in=tuple(str(version) for version in fix.get("versions") or []),
        location=str(locations[0]["path"]) if locations else "",
        url=_text(vulnerability.get("dataSource")) or (urls[0] if urls else ""),
        description=_text(vulnerability.get("description")),
        cvss_score=_cvss_score(vulnerability),
    )


def parse_report(text: str) -> Report:
    """grype's `-o json` output as a Report; raises GrypeOutputError when it is not that."""
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise GrypeOutputError(f"not valid JSON ({error})") from None
    if not isinstance(document, dict) or not isinstance(document.get("matches"), list):
        raise GrypeOutputError("no 'matches' array, so this is not grype's JSON report")
    descriptor = _mapping(document.get("descriptor"))
    db = _mapping(descriptor.get("db"))
    status = _mapping(db.get("status")) or db  # older grype put `built` directly under `db`
    ignored = document.get("ignoredMatches")
    return Report(
        findings=tuple(parse_match(match) for match in document["matches"]),
        ignored=len(ignored) if isinstance(ignored, list) else 0,
        grype_version=_text(descriptor.get("version")),
        db_built=_text(status.get("built")),
    )


def decide(findings: Iterable[Finding], cutoff: Severity, *, only_fixed: bool) -> Verdict:
    """Apply only-fixed, then fail on every finding at or above the cut-off."""
    findings = tuple(findings)
    considered = tuple(f for f in findings if f.fixed or not only_fixed)
    return Verdict(
        cutoff=cutoff,
        only_fixed=only_fixed,
        considered=considered,
        failing=tuple(f for f in considered if f.severity >= cutoff),
        skipped_unfixed=len(findings) - len(considered),
    )


def worst(findings: Iterable[Finding], limit: int = WORST_LISTED) -> list[Finding]:
    """The worst findings first: severity, then CVSS score, then fixable before not, then id."""
    return sorted(
        findings,
        key=lambda f: (-f.severity, -(f.cvss_score or 0.0), not f.fixed, f.vulnerability_id, f.package),
    )[:limit]


def counts_line(verdict: Verdict) -> str:
    """'1 critical · 0 high · …' for the verdict line."""
    return " · ".join(f"{count} {severity.label}" for severity, count in verdict.counts.items())


def render_summary(
    image: str, report: Report, verdict: Verdict, raw: str, database: Database, files: Sbom
) -> str:
    """The step summary: verdict first, counts by severity, the worst findings, raw JSON folded."""
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
    lines += ["", gha.key_value_table(scanned_with(report, database, files)), ""]
    shown = (
        raw
        if len(raw) <= RAW_LIMIT
        else raw[:RAW_LIMIT] + "\n… (truncated; the SARIF file has every finding)"
    )
    lines.append(gha.details("grype JSON output", shown, "json"))
    return "\n".join(lines)


def scanned_with(report: Report, database: Database, files: Sbom) -> list[tuple[str, str]]:
    """The summary's rows naming the scanner, its database and the SBOM files."""
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


def to_sarif(image: str, report: Report, verdict: Verdict) -> dict[str, Any]:
    """SARIF for code scanning: one rule per vulnerability id, one result per considered finding."""
    rules, results = [], []
    for f in verdict.considered:
        score = f.cvss_score if f.cvss_score is not None else SECURITY_SEVERITY[f.severity]
        rules.append(
            sarif.Rule(
                id=f.vulnerability_id,
                short_description=f"{f.vulnerability_id} ({f.severity.label}) in {f.package}",
                help_uri=f.url,
                properties={"security-severity": f"{score:.1f}", "tags": ["security", "vulnerability"]},
            )
        )
        results.append(
            sarif.Result(
                rule_id=f.vulnerability_id,
                level=SARIF_LEVEL[f.severity],
                message=(
                    f"{f.vulnerability_id} ({f.severity.label}) in {f.package} {f.version} "
                    f"({f.package_type}) in image {image}; fixed in: {f.fix_text}"
                ),
                uri=f.location or image,
            )
        )
    return sarif.build_log(
        tool="grype",
        version=report.grype_version,
        information_uri="https://github.com/anchore/grype",
        rules=rules,
        results=results,
    )


def write_outputs(
    verdict: Verdict | None,
    sarif_path: Path | None,
    outcome: str,
    scanned: tuple[Report, Database, Sbom] | None = None,
) -> None:
    """The step's outputs: counts per severity, total, SARIF and SBOM paths, verdict, what scanned."""
    counts = verdict.counts if verdict else {severity: 0 for severity in Severity}
    for severity, count in counts.items():
        gha.set_output(severity.label, count)
    gha.set_output("total", len(verdict.considered) if verdict else 0)
    gha.set_output("sarif", str(sarif_path) if sarif_path else "")
    gha.set_output("verdict", outcome)
    report, database, files = scanned if scanned else (None, None, None)
    gha.set_output("sbom-spdx", str(files.spdx) if files else "")
    gha.set_output("sbom-cyclonedx", str(files.cyclonedx) if files else "")
    gha.set_output("grype-version", report.grype_version if report else "")
    gha.set_output("database", database.description if database else "")


def build_parser() -> gha.StepParser:
    """Command-line options (defaults from INPUT_* in Actions)."""
    parser = gha.StepParser(prog="python -m scripts.scan", description=__doc__)
    parser.add_input("--image", required=True, help="image reference or id to scan")
    parser.add_input(
        "--severity-cutoff",
        default="high",
        type=str.lower,
        choices=CUTOFFS,
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


def main(argv: list[str] | None = None) -> int:
    """Catalog the image with syft, scan the SBOM with grype and gate on the severity cut-off."""
    args = build_parser().parse_args(argv)
    image: str = args.image.strip()
    with gha.step_errors():
        if not image:
            raise gha.StepError(
                f"{gha.input_name('image')} is empty; pass the image reference the build step printed",
                exit_code=USAGE_EXIT,
            )
        config = Path(args.config) if args.config else None
        if config is not None and not config.is_file():
            raise gha.StepError(
                f"grype config '{config}' ({gha.input_name('config')}) does not exist; "
                "fix the path or leave it empty",
                exit_code=USAGE_EXIT,
            )
        if args.skip:
            gha.annotate(
                "warning", f"image {image} was NOT scanned for vulnerabilities: the scan was skipped"
            )
            gha.add_summary(render_skipped(image, "skip was requested"))
            write_outputs(None, None, "skipped")
            return 0
        grype_path, syft_path = scanner("grype", image), scanner("syft", image)
        database = grype.ready(grype_path)
        files = sbom.write(syft_path, image, Path(args.sbom_dir))
        raw = grype.scan_sbom(grype_path, str(files.cyclonedx), str(config) if config else None)
        try:
            report = parse_report(raw)
        except GrypeOutputError as error:
            raise gha.StepError(
                f"grype's output for image '{image}' could not be read: {error}. Run "
                f"`grype sbom:{files.cyclonedx} -o json` by hand to see it; its output began:\n{raw[:300]}",
                exit_code=USAGE_EXIT,
            ) from None
        verdict = decide(report.findings, Severity.parse(args.severity_cutoff), only_fixed=args.only_fixed)
        sarif_path = (
            sarif.write_log(Path(args.sarif), to_sarif(image, report, verdict)) if args.sarif else None
        )
        write_outputs(verdict, sarif_path, "pass" if verdict.passed else "fail", (report, database, files))
        gha.add_summary(render_summary(image, report, verdict, raw, database, files))
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
            return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
