"""The stand-in's Entra ID: the MSAL discovery and client-credentials token calls, in the cloud it plays.

A token is issued only for the cloud's own ARM scope or for storage (`https://storage.azure.com/.default`),
so a fetch that asks for another cloud's scope is refused here, as Entra ID refuses an unknown resource.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from .standin_auth import STORAGE_AUDIENCE, audience_of, token_for

if TYPE_CHECKING:
    from .standin import Azure

FAULT_SIGN_IN = "sign-in-401"


def answer_login(azure: Azure, method: str, path: str, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
    """Serve the MSAL discovery and token calls that a client-secret sign-in makes."""
    base = f"https://{azure.cloud.login_host}"
    parts = path.strip("/").split("/")
    if method == "GET" and path == "/common/discovery/instance":
        return 200, {
            "tenant_discovery_endpoint": f"{base}/common/v2.0/.well-known/openid-configuration",
            "api-version": "1.1",
            "metadata": [
                {
                    "preferred_network": azure.cloud.login_host,
                    "preferred_cache": azure.cloud.login_host,
                    "aliases": [azure.cloud.login_host],
                }
            ],
        }
    if method == "GET" and parts[1:] == ["v2.0", ".well-known", "openid-configuration"]:
        tenant = parts[0]
        return 200, {
            "token_endpoint": f"{base}/{tenant}/oauth2/v2.0/token",
            "authorization_endpoint": f"{base}/{tenant}/oauth2/v2.0/authorize",
            "device_authorization_endpoint": f"{base}/{tenant}/oauth2/v2.0/devicecode",
            "issuer": f"{base}/{tenant}/v2.0",
            "jwks_uri": f"{base}/{tenant}/discovery/v2.0/keys",
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt"],
            "tenant_region_scope": "EU",
        }
    if method == "POST" and parts[1:] == ["oauth2", "v2.0", "token"]:
        return issue_token(azure, parts[0], form)
    return 404, {"error": "not_found", "error_description": f"no stand-in for {method} {path}"}


def issue_token(azure: Azure, tenant: str, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
    """A client-credentials token for one of the two resources the fetch may ask for: ARM or storage."""
    audiences = {f"{azure.cloud.arm_audience}/.default", f"{STORAGE_AUDIENCE}/.default"}
    wrong = [
        key
        for key, ok in (
            ("tenant", tenant == azure.tenant_id),
            ("grant_type", form.get("grant_type") == "client_credentials"),
            ("client_id", bool(form.get("client_id"))),
            ("client_secret", bool(form.get("client_secret"))),
            ("scope", form.get("scope") in audiences),
        )
        if not ok
    ]
    if wrong:
        return 400, {
            "error": "invalid_request",
            "error_description": f"AADSTS900144: the stand-in refuses {', '.join(wrong)} "
            f"(scope {form.get('scope')!r})",
        }
    if FAULT_SIGN_IN in azure.faults:
        return 401, {
            "error": "invalid_client",
            "error_description": "AADSTS7000215: Invalid client secret provided. Ensure the secret "
            "being sent in the request is the client secret value, not the client secret ID.",
            "error_codes": [7000215],
            "trace_id": str(uuid.uuid4()),
            "correlation_id": str(uuid.uuid4()),
        }
    return 200, {
        "token_type": "Bearer",
        "expires_in": 3599,
        "ext_expires_in": 3599,
        "access_token": token_for(audience_of(form["scope"])),
    }
