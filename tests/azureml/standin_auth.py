"""How the stand-in checks who is calling: the clouds' hosts, access tokens per audience, Shared Key and SAS.

The cloud table is typed here from Microsoft's documentation, not taken from the SDK, so that a test
catches the SDK being pointed at the wrong cloud (https://learn.microsoft.com/azure/china/resources-developer-guide,
https://learn.microsoft.com/azure/azure-government/compare-azure-government-global-azure).
Shared Key signatures are verified as "Authorize with Shared Key" specifies
(https://learn.microsoft.com/rest/api/storageservices/authorize-with-shared-key): the verb, eleven
standard headers, the canonicalized `x-ms-` headers and resource, HMAC-SHA256 with the account key.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import parse_qsl, unquote, urlencode

STORAGE_AUDIENCE = "https://storage.azure.com"  # the same resource in every cloud
_SIGNED_HEADERS = (
    "content-encoding",
    "content-language",
    "content-length",
    "content-md5",
    "content-type",
    "date",
    "if-modified-since",
    "if-match",
    "if-none-match",
    "if-unmodified-since",
    "range",
)


@dataclass(frozen=True)
class Cloud:
    """One Azure cloud's hosts, as its documentation lists them."""

    arm_host: str
    login_host: str
    blob_suffix: str
    registry_discovery_host: str

    @property
    def arm_audience(self) -> str:
        """The resource an ARM token is for."""
        return f"https://{self.arm_host}"


CLOUDS = {
    "AzureCloud": Cloud(
        "management.azure.com", "login.microsoftonline.com", ".blob.core.windows.net", "eastus.api.azureml.ms"
    ),
    "AzureChinaCloud": Cloud(
        "management.chinacloudapi.cn",
        "login.chinacloudapi.cn",
        ".blob.core.chinacloudapi.cn",
        "chinaeast2.api.ml.azure.cn",
    ),
    "AzureUSGovernment": Cloud(
        "management.usgovcloudapi.net",
        "login.microsoftonline.us",
        ".blob.core.usgovcloudapi.net",
        "usgovarizona.api.ml.azure.us",
    ),
}


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def token_for(audience: str) -> str:
    """An unsigned JWT-shaped access token whose `aud` claim is `audience` (one per audience)."""
    header = _b64url(b'{"typ":"JWT","alg":"none"}')
    payload = _b64url(json.dumps({"aud": audience, "standin": True}, separators=(",", ":")).encode())
    return f"{header}.{payload}.{_b64url(hashlib.sha256(audience.encode()).digest()[:12])}"


def audience_of(scope: str) -> str:
    """`https://storage.azure.com/.default` → `https://storage.azure.com`."""
    return scope.removesuffix("/.default").rstrip("/")


def shared_key_signature(
    key: str, account: str, method: str, raw_path: str, query: str, headers: Mapping[str, str]
) -> str:
    """The Shared Key signature of a Blob request, computed from the request as it arrived."""
    lowered = {name.lower(): value for name, value in headers.items()}
    if lowered.get("content-length") == "0":
        lowered["content-length"] = ""  # version 2015-02-21 and later sign an empty length for 0
    standard = "".join(lowered.get(name, "") + "\n" for name in _SIGNED_HEADERS)
    x_ms = sorted((name, value.strip()) for name, value in lowered.items() if name.startswith("x-ms-"))
    canonical_headers = "".join(f"{name}:{value}\n" for name, value in x_ms)
    params: dict[str, list[str]] = {}
    for name, value in parse_qsl(query, keep_blank_values=True):
        params.setdefault(name.lower(), []).append(unquote(value))
    canonical_resource = f"/{account}{raw_path}" + "".join(
        f"\n{name}:{','.join(sorted(values))}" for name, values in sorted(params.items())
    )
    string_to_sign = f"{method}\n{standard}{canonical_headers}{canonical_resource}"
    digest = hmac.new(base64.b64decode(key), string_to_sign.encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def sas_token(key: str, account: str, container: str) -> str:
    """A read/list container SAS signed with the account key (the query string, no `?`)."""
    fields = {"sv": "2025-01-05", "sr": "c", "sp": "rl", "se": "2099-01-01T00:00:00Z", "spr": "https"}
    to_sign = "\n".join((fields["sp"], fields["se"], f"/blob/{account}/{container}", fields["sv"]))
    signature = hmac.new(base64.b64decode(key), to_sign.encode(), hashlib.sha256).digest()
    fields["sig"] = base64.b64encode(signature).decode()
    return urlencode(fields)


def bearer_audience(authorization: str) -> str | None:
    """The `aud` claim of a bearer token (None when the header is not a readable bearer token)."""
    scheme, _, token = authorization.partition(" ")
    if scheme != "Bearer" or token.count(".") != 2:
        return None
    payload = token.split(".")[1]
    try:
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except ValueError:
        return None
    audience = claims.get("aud") if isinstance(claims, dict) else None
    return audience if isinstance(audience, str) and token == token_for(audience) else None
