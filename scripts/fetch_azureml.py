"""The azureml source of the fetch step: a registered model (scripts.azureml) moved into the folder."""

from __future__ import annotations

import shutil

from scripts import fetched_folder
from scripts.fetch_request import FetchRequest
from scripts.fetched_folder import PARTIAL, STAGING, Fetched


def fetch(request: FetchRequest) -> Fetched:
    """Download a registered model from an Azure ML workspace or registry into the destination."""
    from scripts.azureml import download  # the Azure SDKs load slowly

    ref = request.azure
    if ref is None:
        raise ValueError("an azureml request carries the model's reference (fetch_request.check_azureml)")
    dest = request.dest
    previous = fetched_folder.prepare_dest(dest, None)
    staging = dest / STAGING
    staging.mkdir()
    try:
        downloaded = download(ref, staging, request.onnx_file, request.limits)
        files = downloaded.files
        shutil.move(files.onnx_path, dest / PARTIAL)
        folder = files.onnx_path.parent
        for location in files.external:
            (dest / location).parent.mkdir(parents=True, exist_ok=True)
            shutil.move(folder / location, dest / location)
        sidecars = fetched_folder.copy_sidecars(folder, dest)
        name, version = downloaded.name, downloaded.version
        record = fetched_folder.finish(
            dest,
            dest / PARTIAL,
            request.expected_sha256,
            label=f"Azure ML model {name} version {version}",
            previous=previous,
            external=files.external,
            sidecars=sidecars,
            source="azureml",
            uri=ref.asset_uri(version),
            name=name,
            version=version,
            workspace=ref.workspace or None,
            resource_group=ref.resource_group or None,
            subscription_id=ref.subscription_id or None,
            registry=ref.registry or None,
            asset_id=downloaded.asset_id,
            created=downloaded.created or None,
            tags=dict(downloaded.tags),
        )
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return Fetched(record, sidecars, files.external, files.downloaded_bytes, files.seconds)
