#!/usr/bin/env bash
# The checks actions/attest v4.1.0 makes of its inputs, and the statement it would sign, written to
# $MODELSHIP_STANDIN_ARTIFACTS/attestations/<kind>-<digest hex>.json instead of GitHub's
# attestations API. KIND is provenance (PREDICATE_TYPE given) or sbom (SBOM_PATH given).
set -euo pipefail
root="${MODELSHIP_STANDIN_ARTIFACTS:?the act test sets MODELSHIP_STANDIN_ARTIFACTS}"
given=0
for value in "$SUBJECT_PATH" "$SUBJECT_DIGEST" "$SUBJECT_CHECKSUMS"; do [ -z "$value" ] || given=$((given + 1)); done
if [ "$given" -ne 1 ]; then
  echo "::error::One of subject-path, subject-digest, or subject-checksums must be provided"; exit 1
fi
[ -n "$SUBJECT_DIGEST" ] || { echo "::error::the stand-in attests digests only (subject-digest)"; exit 1; }
[ -n "$SUBJECT_NAME" ] || { echo "::error::subject-name must be provided when using subject-digest"; exit 1; }
[[ "$SUBJECT_DIGEST" =~ ^sha256:[0-9a-f]{64}$ ]] || { echo "::error::subject-digest must be in the format \"sha256:<hex-digest>\": $SUBJECT_DIGEST"; exit 1; }
case "$PUSH_TO_REGISTRY" in true | false) ;; *) echo "::error::push-to-registry must be true or false: $PUSH_TO_REGISTRY"; exit 1 ;; esac
out="$root/attestations"
mkdir -p "$out"
file="$out/$KIND-${SUBJECT_DIGEST#sha256:}.json"
if [ "$KIND" = sbom ]; then
  [ -n "${SBOM_PATH:-}" ] || { echo "::error::Input required and not supplied: sbom-path"; exit 1; }
  [ -f "$SBOM_PATH" ] || { echo "::error::SBOM file not found: $SBOM_PATH"; exit 1; }
  [ "$(stat -c %s "$SBOM_PATH")" -le 16777216 ] || { echo "::error::SBOM file exceeds maximum allowed size: 16777216 bytes"; exit 1; }
  # As src/sbom.ts of actions/attest v4.1.0: SPDX has spdxVersion and SPDXID (predicate type
  # https://spdx.dev/Document/v<version>), CycloneDX has bomFormat, serialNumber and specVersion.
  if jq -e '.spdxVersion and .SPDXID' "$SBOM_PATH" > /dev/null 2>&1; then
    predicate_type="https://spdx.dev/Document/v$(jq -r '.spdxVersion | split("-")[1]' "$SBOM_PATH")"
  elif jq -e '.bomFormat and .serialNumber and .specVersion' "$SBOM_PATH" > /dev/null 2>&1; then
    predicate_type="https://cyclonedx.org/bom"
  else
    echo "::error::Unsupported SBOM format. Must be valid SPDX or CycloneDX JSON."; exit 1
  fi
  predicate_file="$SBOM_PATH"
else
  predicate_type="$PREDICATE_TYPE"
  # What actions/attest derives from the run's OIDC claims, read here from the runner's variables.
  predicate_file="$(mktemp)"
  jq -n --arg repository "$GITHUB_REPOSITORY" --arg ref "$GITHUB_REF" --arg sha "$GITHUB_SHA" \
    --arg workflow "${GITHUB_WORKFLOW_REF:-$GITHUB_WORKFLOW}" --arg run "$GITHUB_RUN_ID" '{
      buildDefinition: {
        buildType: "https://actions.github.io/buildtypes/workflow/v1",
        externalParameters: {workflow: {ref: $ref, repository: $repository, path: $workflow}},
        resolvedDependencies: [{uri: ("git+" + $repository + "@" + $ref), digest: {gitCommit: $sha}}]
      },
      runDetails: {metadata: {invocationId: $run}}
    }' > "$predicate_file"
fi
jq -n --arg name "$SUBJECT_NAME" --arg digest "${SUBJECT_DIGEST#sha256:}" --arg type "$predicate_type" \
  --arg push "$PUSH_TO_REGISTRY" --slurpfile predicate "$predicate_file" '{
    _type: "https://in-toto.io/Statement/v1",
    subject: [{name: $name, digest: {sha256: $digest}}],
    predicateType: $type,
    predicate: $predicate[0],
    pushToRegistry: ($push == "true")
  }' > "$file"
{
  echo "bundle-path=$file"
  echo "attestation-id=standin-$KIND"
  echo "attestation-url=file://$file"
} >> "$GITHUB_OUTPUT"
