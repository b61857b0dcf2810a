"""Registries: credentials (REGISTRY_PASSWORD), whether the engine talks plain HTTP, the v2 HTTP API."""

from __future__ import annotations

import hashlib
import ipaddress
import os
import re
import socket
from typing import Any

import requests

from scripts.gha import StepError, input_name, mask
from scripts.image_ref import DOCKER_HUB

DOCKER_HUB_API = "registry-1.docker.io"
DOCKER_HUB_LOGIN = "https://index.docker.io/v1/"
INDEX_TYPE = "application/vnd.oci.image.index.v1+json"
IMAGE_TYPES = (
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
)
MANIFEST_TYPES = ", ".join(
    [INDEX_TYPE, IMAGE_TYPES[0], "application/vnd.docker.distribution.manifest.list.v2+json", IMAGE_TYPES[1]]
)


def password_for(username: str) -> str:
    """The password or token of `username` from env REGISTRY_PASSWORD, masked; a user name needs one."""
    password = os.environ.get("REGISTRY_PASSWORD", "")
    mask(password)
    if username and not password:
        raise StepError(
            f"{input_name('username')} {username!r} needs its password or token in env REGISTRY_PASSWORD"
        )
    return password


def hostname_of(host: str) -> str:
    """`host[:port]` -> `host` (IPv6 brackets removed)."""
    if host.startswith("["):
        return host[1 : host.index("]")]
    return host.split(":", 1)[0]


def is_loopback(host: str) -> bool:
    """True for registries on this machine (localhost, 127.0.0.0/8, ::1)."""
    hostname = hostname_of(host)
    if hostname == "localhost":
        return True
    try:
        return ipaddress.ip_address(hostname).is_loopback
    except ValueError:
        return False


def is_insecure(host: str, registry_config: dict[str, Any] | None) -> bool:
    """Whether the Docker engine talks plain HTTP to `host` (its insecure-registries setting)."""
    if is_loopback(host):
        return True
    config = registry_config or {}
    index = (config.get("IndexConfigs") or {}).get(host)
    if index is not None:
        return not index.get("Secure", True)
    try:
        address = ipaddress.ip_address(socket.gethostbyname(hostname_of(host)))
    except (OSError, ValueError):
        return False
    return any(address in ipaddress.ip_network(cidr) for cidr in config.get("InsecureRegistryCIDRs") or [])


def parse_challenge(header: str) -> tuple[str, dict[str, str]]:
    """Split a WWW-Authenticate header into its scheme and parameters: ('bearer', {'realm': ...})."""
    scheme, _, rest = header.strip().partition(" ")
    params = dict(re.findall(r'(\w+)\s*=\s*"([^"]*)"', rest))
    return scheme.lower(), params


def unreachable_message(registry: str, detail: str) -> str:
    """What to say when a registry does not answer."""
    return (
        f"registry {registry} is unreachable ({detail}); "
        "check that it is running and that the host:port in the tags is right"
    )


class RegistryAPI:
    """The v2 HTTP API of one registry, with basic auth or the Bearer-token dance."""

    def __init__(self, host: str, username: str, password: str, *, insecure: bool, timeout: float = 15.0):
        self.host = host
        self.api_host = DOCKER_HUB_API if host == DOCKER_HUB else host
        self.auth = (username, password) if username else None
        self.insecure = insecure
        self.timeout = timeout
        self.base = ""
        self.session = requests.Session()
        self._tokens: dict[str, str] = {}

    def _unreachable(self, error: Exception) -> StepError:
        return StepError(unreachable_message(self.host, type(error).__name__))

    def _base_url(self) -> str:
        if self.base:
            return self.base
        schemes = ["https", "http"] if self.insecure else ["https"]
        last_error: Exception | None = None
        for scheme in schemes:  # like the engine: plain HTTP only for insecure registries
            try:
                self.session.get(f"{scheme}://{self.api_host}/v2/", timeout=self.timeout)
            except requests.RequestException as error:
                last_error = error
                continue
            self.base = f"{scheme}://{self.api_host}"
            return self.base
        assert last_error is not None
        raise self._unreachable(last_error)

    def _request(
        self,
        method: str,
        path: str,
        scope: str,
        headers: dict[str, str] | None = None,
        data: bytes | None = None,
    ) -> requests.Response:
        url = self._base_url() + path
        headers = dict(headers or {})
        try:
            if scope in self._tokens:
                headers["Authorization"] = f"Bearer {self._tokens[scope]}"
                return self.session.request(method, url, headers=headers, data=data, timeout=self.timeout)
            response = self.session.request(
                method, url, headers=headers, data=data, auth=self.auth, timeout=self.timeout
            )
            if response.status_code != 401:
                return response
            scheme, params = parse_challenge(response.headers.get("WWW-Authenticate", ""))
            if scheme != "bearer" or "realm" not in params:
                return response
            self._tokens[scope] = self._token(params, scope)
            headers["Authorization"] = f"Bearer {self._tokens[scope]}"
            return self.session.request(method, url, headers=headers, data=data, timeout=self.timeout)
        except requests.RequestException as error:
            raise self._unreachable(error) from error

    def _token(self, challenge: dict[str, str], scope: str) -> str:
        params = {"service": challenge.get("service", "")}
        if scope:
            params["scope"] = scope
        response = self.session.get(challenge["realm"], params=params, auth=self.auth, timeout=self.timeout)
        if response.status_code in (401, 403):
            raise self.auth_refused()
        self._check(response, "the token service")
        try:
            body = response.json()
        except requests.JSONDecodeError:
            raise self._no_token(challenge["realm"], "not JSON") from None
        # distribution's token spec: the token is `token` or, for OAuth 2.0 clients, `access_token`.
        token = (body.get("token") or body.get("access_token")) if isinstance(body, dict) else None
        if not token:
            raise self._no_token(challenge["realm"], "no 'token' in it")
        return str(token)

    def _no_token(self, realm: str, reason: str) -> StepError:
        return StepError(
            f"registry {self.host}'s token service {realm} answered no token ({reason}); check that "
            f"{self.host} is the registry's host:port and that no proxy answers in its place"
        )

    def _check(self, response: requests.Response, what: str) -> None:
        if response.status_code == 401:
            raise self.auth_refused()
        if response.status_code >= 400:
            raise StepError(
                f"registry {self.host} answered HTTP {response.status_code} for {what}; "
                "if it is a server error, retry later"
            )

    def close(self) -> None:
        """Release the HTTP connections."""
        self.session.close()

    def auth_refused(self) -> StepError:
        """The error for credentials the registry does not accept."""
        return StepError(
            f"registry {self.host} refused the login; check {input_name('username')} and the "
            "REGISTRY_PASSWORD secret"
        )

    def check_login(self) -> None:
        """Check that the registry answers and accepts the credentials (GET /v2/)."""
        self._check(self._request("GET", "/v2/", scope=""), "GET /v2/")

    def manifest_digest(self, repository: str, reference: str) -> str:
        """The digest the registry serves for `repository:reference` ("" when it has none)."""
        path = f"/v2/{repository}/manifests/{reference}"
        scope = f"repository:{repository}:pull"
        headers = {"Accept": MANIFEST_TYPES}
        response = self._request("HEAD", path, scope, headers)
        if response.status_code == 404:
            return ""
        if response.status_code == 403:
            raise StepError(
                f"registry {self.host} refused to show {repository}:{reference} (HTTP 403); "
                "the credentials need pull access to the repository"
            )
        self._check(response, f"the manifest of {repository}:{reference}")
        digest = response.headers.get("Docker-Content-Digest", "")
        if digest:
            return digest
        body = self._request("GET", path, scope, headers)
        self._check(body, f"the manifest of {repository}:{reference}")
        return "sha256:" + hashlib.sha256(body.content).hexdigest()

    def get_manifest(self, repository: str, reference: str, accept: tuple[str, ...]) -> tuple[str, bytes]:
        """The media type and bytes of the manifest `repository:reference` (or `@digest`)."""
        path = f"/v2/{repository}/manifests/{reference}"
        response = self._request("GET", path, f"repository:{repository}:pull", {"Accept": ", ".join(accept)})
        self._check(response, f"the manifest of {repository}:{reference}")
        return response.headers.get("Content-Type", "").split(";")[0].strip(), response.content

    def get_blob(self, repository: str, digest: str) -> bytes:
        """The bytes of blob `digest` in `repository` (an image config: small)."""
        response = self._request("GET", f"/v2/{repository}/blobs/{digest}", f"repository:{repository}:pull")
        self._check(response, f"blob {digest} of {repository}")
        return response.content

    def put_manifest(self, repository: str, reference: str, media_type: str, body: bytes) -> str:
        """Store a manifest (an image index) under `reference` and return the digest the registry gives it.

        The distribution spec's "Pushing Manifests": PUT with the manifest's media type as Content-Type,
        201 Created with Docker-Content-Digest.
        """
        path = f"/v2/{repository}/manifests/{reference}"
        scope = f"repository:{repository}:pull,push"
        response = self._request("PUT", path, scope, {"Content-Type": media_type}, data=body)
        if response.status_code in (401, 403):
            raise StepError(
                f"registry {self.host} refused to write {repository}:{reference} "
                f"(HTTP {response.status_code}); the credentials need push access to the repository"
            )
        if response.status_code >= 500:
            self._check(response, f"the manifest of {repository}:{reference}")
        if response.status_code >= 400:
            raise StepError(
                f"registry {self.host} refused the {media_type} for {repository}:{reference} "
                f"(HTTP {response.status_code}: {response.text.strip()[:300]}); a registry that stores "
                "OCI image indexes is needed (distribution 2.7 or later, GHCR, ECR, ACR, Docker Hub)"
            )
        return response.headers.get("Docker-Content-Digest", "")
