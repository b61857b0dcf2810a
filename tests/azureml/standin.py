"""A local stand-in for Azure: an HTTPS proxy that answers Azure ML, blob storage and Entra ID sign-in.

The real SDKs keep their default URLs (management.azure.com, <account>.blob.core.windows.net,
login.microsoftonline.com, or a sovereign cloud's). They reach this server through `HTTPS_PROXY`:
it accepts `CONNECT` to the hosts of the cloud it plays, terminates TLS with a certificate from a
throwaway CA made for the test session, and serves the REST calls from in-memory models and blobs:
a workspace with its blob datastore (account key, SAS or identity-based), and Azure ML registries
(standin_registry). Every request is logged, tokens are checked for their audience, storage
signatures are verified, and fault switches make it fail the way Azure does.
"""

from __future__ import annotations

import http.server
import json
import socketserver
import ssl
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from .standin_auth import CLOUDS, STORAGE_AUDIENCE, Cloud, bearer_audience, token_for
from .standin_login import answer_login
from .standin_models import (
    ModelVersion,
    Shelf,
    answer_models,
    arm_error,
    container_resource,
    version_resource,
)
from .standin_registry import REGISTRY_HOST, answer_discovery, answer_registry
from .standin_storage import BlobAccount, BlobAnswer, BlobRequest, answer_blob, storage_error

ARM_HOST = CLOUDS["AzureCloud"].arm_host
LOGIN_HOST = CLOUDS["AzureCloud"].login_host
BLOB_SUFFIX = CLOUDS["AzureCloud"].blob_suffix
STORAGE_ACCOUNT = "modelshipstandin"
CONTAINER = "azureml-blobstore-00000000-0000-0000-0000-000000000000"
DATASTORE = "workspaceblobstore"
ACCESS_TOKEN = token_for(CLOUDS["AzureCloud"].arm_audience)  # the ARM token of the public cloud
STORAGE_TOKEN = token_for(STORAGE_AUDIENCE)
ACCOUNT_KEY = "c3RhbmRpbi1hY2NvdW50LWtleS1ub3QtYS1yZWFsLXNlY3JldC0wMDAwMDAwMDAw"
CLIENT_OBJECT_ID = "11111111-2222-3333-4444-555555555555"
# The datastore credential types (credentialsType) of a blob datastore.
KEY_DATASTORE, SAS_DATASTORE, IDENTITY_DATASTORE = "AccountKey", "Sas", "None"

FAULT_FORBIDDEN = "arm-403"
FAULT_ARM_UNREACHABLE = "arm-unreachable"
FAULT_BLOB_FORBIDDEN = "blob-403"


@dataclass(frozen=True)
class LoggedRequest:
    """One request the stand-in answered (or refused)."""

    method: str
    host: str
    path: str
    query: dict[str, str]
    authorization: str

    @property
    def url(self) -> str:
        """`https://host/path`, without the query."""
        return f"https://{self.host}{self.path}"


def all_hosts() -> list[str]:
    """Every host name the stand-in may be asked for, in every cloud (for its certificate)."""
    hosts = [REGISTRY_HOST]
    for cloud in CLOUDS.values():
        hosts += [cloud.arm_host, cloud.login_host, "*" + cloud.blob_suffix, cloud.registry_discovery_host]
    return hosts


class Azure(Shelf):
    """The in-memory state: one workspace, its models and datastore, registries, a log, fault switches."""

    def __init__(self, subscription_id: str, resource_group: str, workspace: str, tenant_id: str) -> None:
        self.subscription_id = subscription_id
        self.resource_group = resource_group
        self.workspace = workspace
        self.tenant_id = tenant_id
        self.cloud_name = "AzureCloud"
        self.datastore_auth = KEY_DATASTORE
        self.account = BlobAccount(STORAGE_ACCOUNT, CONTAINER, ACCOUNT_KEY)
        self.models: dict[str, list[ModelVersion]] = {}
        self.registries: dict[str, Any] = {}  # name → standin_registry.Registry
        self.faults: set[str] = set()
        # Answers for the next blob reads, in order: (status, storage error code, extra headers), or None
        # for a read answered as usual.
        self.blob_failures: list[tuple[int, str, dict[str, str]] | None] = []
        # A storage error code that every blob request is refused with (403), like a locked-down account.
        self.storage_refusal: str | None = None
        self.log: list[LoggedRequest] = []
        self.lock = threading.Lock()

    @property
    def cloud(self) -> Cloud:
        """The hosts of the cloud the stand-in plays."""
        return CLOUDS[self.cloud_name]

    @property
    def blobs(self) -> dict[str, bytes]:
        """The workspace datastore's blobs."""
        return self.account.blobs

    def reset(self) -> None:
        """Forget every model, blob, registry, fault and logged request; play the public cloud."""
        with self.lock:
            self.cloud_name = "AzureCloud"
            self.datastore_auth = KEY_DATASTORE
            self.account.key = ACCOUNT_KEY
            self.models.clear()
            self.account.blobs.clear()
            self.registries.clear()
            self.faults.clear()
            self.blob_failures.clear()
            self.storage_refusal = None
            self.log.clear()

    def requests(self, host: str | None = None, method: str | None = None) -> list[LoggedRequest]:
        """The logged requests, optionally only those to one host and with one method."""
        with self.lock:
            return [
                entry
                for entry in self.log
                if (host is None or entry.host == host) and (method is None or entry.method == method)
            ]

    def accounts(self) -> dict[str, BlobAccount]:
        """Every storage account by its blob host: the workspace's and each registry's."""
        found = {self.account.name + self.cloud.blob_suffix: self.account}
        for registry in self.registries.values():
            found[registry.account.name + self.cloud.blob_suffix] = registry.account
        return found

    # --- ARM (Azure ML workspace) ---------------------------------------------------------------

    def workspace_id(self) -> str:
        """The workspace's ARM id."""
        return (
            f"/subscriptions/{self.subscription_id}/resourceGroups/{self.resource_group}"
            f"/providers/Microsoft.MachineLearningServices/workspaces/{self.workspace}"
        )

    def version_body(self, entry: ModelVersion) -> dict[str, Any]:
        """A workspace model version resource as ARM returns it."""
        uri = (
            f"azureml://subscriptions/{self.subscription_id}/resourcegroups/{self.resource_group}"
            f"/workspaces/{self.workspace}/datastores/{DATASTORE}/paths/{entry.path}"
        )
        return version_resource(
            f"{self.workspace_id()}/models/{entry.name}/versions/{entry.version}",
            "Microsoft.MachineLearningServices/workspaces/models/versions",
            entry,
            uri,
        )

    def container_body(self, name: str) -> dict[str, Any]:
        """A workspace model container resource as ARM returns it."""
        return container_resource(
            f"{self.workspace_id()}/models/{name}",
            "Microsoft.MachineLearningServices/workspaces/models",
            name,
            self.models[name],
        )

    def datastore_body(self) -> dict[str, Any]:
        """The workspace's default blob datastore, with the credential type the test chose."""
        return {
            "id": f"{self.workspace_id()}/datastores/{DATASTORE}",
            "name": DATASTORE,
            "type": "Microsoft.MachineLearningServices/workspaces/datastores",
            "properties": {
                "datastoreType": "AzureBlob",
                "accountName": STORAGE_ACCOUNT,
                "containerName": CONTAINER,
                "endpoint": self.cloud.blob_suffix.removeprefix(".blob."),
                "protocol": "https",
                "credentials": {"credentialsType": self.datastore_auth},
                "isDefault": True,
                "serviceDataAccessAuthIdentity": "None",
                "description": None,
                "tags": {},
                "properties": {},
            },
            "systemData": {"createdAt": "2026-01-01T00:00:00Z"},
        }

    def datastore_secrets(self) -> tuple[int, dict[str, Any]]:
        """What `listSecrets` answers: the key or the SAS (an identity-based datastore has none)."""
        if self.datastore_auth == KEY_DATASTORE:
            return 200, {"secretsType": "AccountKey", "key": ACCOUNT_KEY}
        if self.datastore_auth == SAS_DATASTORE:
            return 200, {"secretsType": "Sas", "sasToken": self.account.sas()}
        return 400, arm_error("UserError", f"Datastore {DATASTORE} has no secrets (credentials type None)")

    def answer_arm(self, method: str, path: str, query: dict[str, str]) -> tuple[int, dict[str, Any]]:
        """Serve one Azure ML (ARM) call: status and JSON body."""
        if FAULT_FORBIDDEN in self.faults:
            action = "Microsoft.MachineLearningServices/workspaces/models/versions/read"
            return 403, arm_error(
                "AuthorizationFailed",
                f"The client '{CLIENT_OBJECT_ID}' with object id '{CLIENT_OBJECT_ID}' does not have "
                f"authorization to perform action '{action}' over scope '{self.workspace_id()}' "
                "or the scope is invalid. If access was recently granted, please refresh your credentials.",
            )
        prefix = self.workspace_id().lower()
        if not path.lower().startswith(prefix + "/"):
            return 404, arm_error(
                "ResourceNotFound",
                "The Resource 'Microsoft.MachineLearningServices/workspaces/"
                f"{path.split('/workspaces/')[-1].split('/')[0]}' under resource group "
                f"'{path.split('/resourceGroups/')[-1].split('/')[0]}' was not found.",
            )
        parts = [unquote(part) for part in path[len(prefix) + 1 :].split("/")]
        with self.lock:
            match method, parts:
                case "GET", ["datastores", name] if name == DATASTORE:
                    return 200, self.datastore_body()
                case "POST", ["datastores", name, "listSecrets"] if name == DATASTORE:
                    return self.datastore_secrets()
            return answer_models(method, parts, query, self.models, self.version_body, self.container_body)


class _Handler(http.server.BaseHTTPRequestHandler):
    """Answers CONNECT, then the HTTPS requests inside the tunnel."""

    protocol_version = "HTTP/1.1"
    server: _ProxyServer

    def log_message(self, format: str, *args: Any) -> None:
        """Keep the test output quiet; the request log is in `Azure.log`."""

    def known_host(self, host: str) -> bool:
        """True for a host of the cloud the stand-in plays (and for the registry data plane)."""
        azure = self.server.azure
        cloud = azure.cloud
        if host == cloud.arm_host:
            return FAULT_ARM_UNREACHABLE not in azure.faults
        return host in {cloud.login_host, cloud.registry_discovery_host, REGISTRY_HOST} or host.endswith(
            cloud.blob_suffix
        )

    def do_CONNECT(self) -> None:
        """Open a tunnel and terminate TLS in it, or refuse a host of another cloud or one 'unreachable'."""
        host = self.path.split(":")[0]
        azure = self.server.azure
        with azure.lock:
            azure.log.append(LoggedRequest("CONNECT", host, self.path, {}, ""))
        if not self.known_host(host):
            ours = host == azure.cloud.arm_host
            self.send_response(502 if ours else 403, "Bad Gateway" if ours else "Forbidden")
            self.send_header("Content-Length", "0")
            self.send_header("Connection", "close")
            self.end_headers()
            self.close_connection = True
            return
        self.send_response(200, "Connection established")
        self.end_headers()
        self.wfile.flush()
        self.connection = self.server.tls.wrap_socket(self.connection, server_side=True)
        self.rfile = self.connection.makefile("rb", -1)
        self.wfile = socketserver._SocketWriter(self.connection)  # type: ignore[attr-defined]
        self.close_connection = False

    def finish(self) -> None:
        """Close the TLS socket too: wrapping detached it from the socket the server will close."""
        try:
            super().finish()
        finally:
            if isinstance(self.connection, ssl.SSLSocket):
                self.connection.close()

    def _dispatch(self) -> None:
        host = self.headers.get("Host", "").split(":")[0]
        parts = urlsplit(self.path)
        query = {key: values[0] for key, values in parse_qs(parts.query, keep_blank_values=True).items()}
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        azure = self.server.azure
        authorization = self.headers.get("Authorization", "")
        with azure.lock:
            azure.log.append(LoggedRequest(self.command, host, parts.path, query, authorization))
            accounts = azure.accounts()
        cloud = azure.cloud
        if host == cloud.login_host:
            form = {key: values[0] for key, values in parse_qs(body.decode()).items()}
            self._json(*answer_login(azure, self.command, parts.path, form))
        elif host in accounts:
            self._blob(accounts[host], BlobRequest(self.command, parts.path, parts.query, dict(self.headers)))
        elif bearer_audience(authorization) != cloud.arm_audience:
            self._json(401, arm_error("InvalidAuthenticationToken", "The access token is invalid."))
        elif host == cloud.arm_host:
            self._json(*azure.answer_arm(self.command, parts.path, query))
        elif host == cloud.registry_discovery_host:
            self._json(*answer_discovery(azure, self.command, parts.path))
        elif host == REGISTRY_HOST:
            self._json(*answer_registry(azure, self.command, parts.path, query, body))
        else:
            self._json(404, {"error": f"no stand-in for host {host}"})

    do_GET = do_POST = do_HEAD = do_PUT = _dispatch

    def _json(self, status: int, payload: Any) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("x-ms-request-id", str(uuid.uuid4()))
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _blob(self, account: BlobAccount, request: BlobRequest) -> None:
        azure = self.server.azure
        common = {"x-ms-request-id": str(uuid.uuid4())}
        if FAULT_BLOB_FORBIDDEN in azure.faults or azure.storage_refusal:
            code = azure.storage_refusal or "AuthorizationPermissionMismatch"
            self._send(storage_error(request.method, 403, code, common))
            return
        with azure.lock:
            name = unquote(request.raw_path).lstrip("/").partition("/")[2]
            reads_blob = name in account.blobs and request.method == "GET"
            failure = azure.blob_failures.pop(0) if reads_blob and azure.blob_failures else None
            answer = answer_blob(account, request, failure)
        self._send(answer)

    def _send(self, answer: BlobAnswer) -> None:
        self.send_response(answer.status)
        for key, value in answer.headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(answer.body) if answer.length is None else answer.length))
        self.end_headers()
        if answer.body:
            self.wfile.write(answer.body)


class _ProxyServer(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, azure: Azure, tls: ssl.SSLContext) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.azure = azure
        self.tls = tls


class StandIn:
    """The running stand-in: start it, point `HTTPS_PROXY` at `proxy_url`, stop it."""

    def __init__(self, azure: Azure, cert_file: Path, key_file: Path) -> None:
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls.load_cert_chain(cert_file, key_file)
        self.azure = azure
        self._server = _ProxyServer(azure, tls)
        self._thread = threading.Thread(target=self._server.serve_forever, name="azure-standin", daemon=True)

    @property
    def proxy_url(self) -> str:
        """`http://127.0.0.1:<port>`, the value for `HTTPS_PROXY`."""
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> StandIn:
        """Serve in a background thread."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the listening socket."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
