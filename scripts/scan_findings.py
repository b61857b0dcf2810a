"""grype's report as typed findings: its JSON in, the severity gate's verdict and SARIF out (pure)."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from scripts import sarif

WORST_LISTED = 10


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
