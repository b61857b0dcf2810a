"""The build provenance of a pushed image as an in-toto statement (SLSA provenance v1), unsigned.

On GitHub, deliver.yml signs and stores provenance with actions/attest-build-provenance, which makes
its own predicate from the workflow run. Locally there is no signing service, so the pipeline writes
the statement it would attest, and the tests check its content. The format, as read at
https://slsa.dev/provenance/v1 and in-toto's Statement v1
(https://github.com/in-toto/attestation/blob/main/spec/v1/statement.md):

    {"_type": "https://in-toto.io/Statement/v1",
     "subject": [{"name": ..., "digest": {"sha256": ...}}],
     "predicateType": "https://slsa.dev/provenance/v1",
     "predicate": {"buildDefinition": {"buildType", "externalParameters", "internalParameters",
                                       "resolvedDependencies": [ResourceDescriptor]},
                   "runDetails": {"builder": {"id"}, "metadata": {"invocationId", "startedOn",
                                                                  "finishedOn"}}}}

A ResourceDescriptor has `uri`, `digest` (algorithm -> hex), `name` and `annotations`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scripts.provenance import Provenance
from serving.model_folder import MODEL_FILE, file_sha256

STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PREDICATE_TYPE = "https://slsa.dev/provenance/v1"
BUILD_TYPE = "https://github.com/modelship/modelship/blob/main/docs/usage.md#build-provenance"
BUILDER_ID = "https://github.com/modelship/modelship/blob/main/scripts/pipeline.py"
FILENAME = "provenance.intoto.json"


@dataclass(frozen=True)
class BuildFacts:
    """What the pipeline knows of one pushed image: the subject and everything it was made from."""

    repository: str  # the pushed repository, e.g. 127.0.0.1:5000/team/housing
    digest: str  # sha256:<hex> of the pushed manifest
    model: Provenance
    dockerfile: Path
    base_image: str
    base_image_id: str  # sha256:<hex>, the engine's id of the base image
    base_image_digest: str  # repository@sha256:<hex> when the base came from a registry, else ""
    git_commit: str
    source_url: str
    started_on: str
    finished_on: str


def split_digest(digest: str) -> dict[str, str]:
    """`sha256:<hex>` as an in-toto digest set `{"sha256": "<hex>"}`."""
    algorithm, _, value = digest.partition(":")
    if not value:
        raise ValueError(f"digest {digest!r} is not <algorithm>:<hex>")
    return {algorithm: value}


def base_image_dependency(facts: BuildFacts) -> dict[str, Any]:
    """The base image: its registry digest when it has one, else the engine's image id (said so)."""
    if facts.base_image_digest:
        name, _, digest = facts.base_image_digest.partition("@")
        return {"name": "base-image", "uri": f"docker-image://{name}", "digest": split_digest(digest)}
    return {
        "name": "base-image",
        "uri": f"docker-image://{facts.base_image}",
        "digest": split_digest(facts.base_image_id),
        "annotations": {"digestOf": "image id (config digest); the base image has no registry digest"},
    }


def statement(facts: BuildFacts) -> dict[str, Any]:
    """The in-toto Statement v1 with the SLSA provenance v1 predicate for the pushed image."""
    model = facts.model
    dependencies: list[dict[str, Any]] = [
        {"name": MODEL_FILE, "uri": model.uri, "digest": {"sha256": model.sha256}},
        base_image_dependency(facts),
        {"name": "Dockerfile", "digest": {"sha256": file_sha256(facts.dockerfile)}},
    ]
    if facts.git_commit:
        uri = f"git+{facts.source_url}" if facts.source_url else "git"
        dependencies.append({"name": "source", "uri": uri, "digest": {"gitCommit": facts.git_commit}})
    model_parameters = {
        "source": model.source,
        "uri": model.uri,
        "name": model.name,
        "version": model.version,
        "sha256": model.sha256,
    }
    return {
        "_type": STATEMENT_TYPE,
        "subject": [{"name": facts.repository, "digest": split_digest(facts.digest)}],
        "predicateType": PREDICATE_TYPE,
        "predicate": {
            "buildDefinition": {
                "buildType": BUILD_TYPE,
                "externalParameters": {
                    "model": model_parameters,
                    "dockerfile": facts.dockerfile.name,
                    "baseImage": facts.base_image,
                    "imageName": facts.repository,
                },
                "internalParameters": {},
                "resolvedDependencies": dependencies,
            },
            "runDetails": {
                "builder": {"id": BUILDER_ID},
                "metadata": {"startedOn": facts.started_on, "finishedOn": facts.finished_on},
            },
        },
    }


def write(path: Path, facts: BuildFacts) -> Path:
    """Write the statement as JSON to `path` and return it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(statement(facts), indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return path
