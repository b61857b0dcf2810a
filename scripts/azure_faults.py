"""One-line causes and fixes for the errors Azure Storage and the Azure ML SDK raise during a download.

Storage puts the reason for a 403 in its error code (`x-ms-error-code`); the codes below are from
https://learn.microsoft.com/troubleshoot/azure/azure-storage/blobs/authentication/storage-troubleshoot-403-errors
and https://learn.microsoft.com/rest/api/storageservices/blob-service-error-codes.
"""

from __future__ import annotations

STORAGE_CAUSES = {
    "AuthorizationFailure": (
        "storage account '{account}' refused this runner's network (AuthorizationFailure): its firewall "
        "or private endpoint admits only selected networks; run the job on a runner inside that virtual "
        "network (a self-hosted runner), or add the runner's outbound address to the account's firewall"
    ),
    "KeyBasedAuthenticationNotPermitted": (
        "storage account '{account}' has shared-key access turned off (KeyBasedAuthenticationNotPermitted), "
        "but the datastore signs with the account key; make the datastore identity-based (credential-less) "
        "and give the signed-in identity 'Storage Blob Data Reader' on the storage account"
    ),
    "AuthorizationPermissionMismatch": (
        "the signed-in identity may not read blobs in storage account '{account}' "
        "(AuthorizationPermissionMismatch); give it 'Storage Blob Data Reader' on the storage account "
        "(role assignments take a few minutes to apply)"
    ),
    "AuthenticationFailed": (
        "storage account '{account}' did not accept the datastore's key or SAS (AuthenticationFailed): "
        "it was rotated or has expired; update the datastore's credentials in Azure ML"
    ),
    "BlobNotFound": (
        "the model's files are gone from storage account '{account}' (BlobNotFound); re-register the model "
        "from its files"
    ),
    "ContainerNotFound": (
        "the datastore's container is gone from storage account '{account}' (ContainerNotFound); check the "
        "datastore in Azure ML"
    ),
}


def storage_cause(code: str, status: int, account: str, detail: str) -> str:
    """The cause and fix for a storage error, from its error code and HTTP status."""
    known = STORAGE_CAUSES.get(code)
    if known:
        return known.format(account=account)
    if status in {429, 500, 502, 503, 504}:
        return (
            f"storage account '{account}' kept answering HTTP {status} ({code or detail}) after the "
            "retries; it is throttled or unavailable: re-run later"
        )
    if status == 403:
        return (
            f"storage account '{account}' refused the download (403 {code or detail}); check the "
            "identity's 'Storage Blob Data Reader' role, the datastore's credentials and the account's "
            "network rules"
        )
    return f"storage account '{account}' answered HTTP {status}: {detail}"
