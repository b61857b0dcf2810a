"""A local stand-in for Azure: an HTTPS proxy that answers Azure ML, blob storage and Entra ID sign-in.

The real SDKs keep their default URLs (management.azure.com, <account>.blob.core.windows.net,
login.microsoftonline.com). They reach this server through `HTTPS_PROXY`: it accepts `CONNECT`,
terminates TLS with a certificate from a throwaway CA made for the test session, and serves the
REST calls from an in-memory registry of models and blobs. Every request is logged, and fault
switches make it fail the way Azure does (401 at sign-in, 403 from ARM, Azure ML unreachable).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import http.server
import ipaddress
import json
import socketserver
import ssl
import threading
import uuid
from dataclasses import dataclass, field
from email.utils import format_datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit
from xml.sax.saxutils import escape

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

ARM_HOST = "management.azure.com"
LOGIN_HOST = "login.microsoftonline.com"
BLOB_SUFFIX = ".blob.core.windows.net"
STORAGE_ACCOUNT = "modelshipstandin"
CONTAINER = "azureml-blobstore-00000000-0000-0000-0000-000000000000"
DATASTORE = "workspaceblobstore"
ACCESS_TOKEN = "eyJ0eXAiOiJKV1QiLCJhbGciOiJub25lIn0.eyJzdGFuZGluIjp0cnVlfQ.c3RhbmRpbi10b2tlbg"
ACCOUNT_KEY = "c3RhbmRpbi1hY2NvdW50LWtleS1ub3QtYS1yZWFsLXNlY3JldC0wMDAwMDAwMDAw"
CLIENT_OBJECT_ID = "11111111-2222-3333-4444-555555555555"

FAULT_SIGN_IN = "sign-in-401"
FAULT_FORBIDDEN = "arm-403"
FAULT_ARM_UNREACHABLE = "arm-unreachable"
FAULT_BLOB_FORBIDDEN = "blob-403"


@dataclass(frozen=True)
class TestCA:
    """A throwaway certificate authority and one server certificate it issued for the Azure hosts."""

    ca_pem: bytes
    server_cert_pem: bytes
    server_key_pem: bytes

    def write(self, folder: Path) -> tuple[Path, Path, Path]:
        """Write the CA bundle, server certificate and key; return their paths."""
        folder.mkdir(parents=True, exist_ok=True)
        paths = (folder / "ca.pem", folder / "server.pem", folder / "server.key")
        for path, data in zip(paths, (self.ca_pem, self.server_cert_pem, self.server_key_pem), strict=True):
            path.write_bytes(data)
        return paths


def key_usage(**allowed: bool) -> x509.KeyUsage:
    """A KeyUsage extension with digital signatures plus the `allowed` uses, everything else off."""
    uses = dict.fromkeys(
        (
            "content_commitment",
            "key_encipherment",
            "data_encipherment",
            "key_agreement",
            "key_cert_sign",
            "crl_sign",
            "encipher_only",
            "decipher_only",
        ),
        False,
    )
    return x509.KeyUsage(digital_signature=True, **{**uses, **allowed})


def make_ca(hosts: list[str]) -> TestCA:
    """Make a CA and a server certificate for `hosts` that strict X.509 verification accepts."""
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "modelship test CA")])
    ca_ski = x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key())
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(key_usage(key_cert_sign=True, crl_sign=True), critical=True)
        .add_extension(ca_ski, critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    names: list[x509.GeneralName] = [x509.DNSName(host) for host in hosts]
    names.append(x509.IPAddress(ipaddress.ip_address("127.0.0.1")))
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hosts[0])]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(key_usage(key_encipherment=True), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    return TestCA(
        ca_pem=ca_cert.public_bytes(serialization.Encoding.PEM),
        server_cert_pem=cert.public_bytes(serialization.Encoding.PEM),
        server_key_pem=key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ),
    )


@dataclass
class ModelVersion:
    """One registered version: where its files live in the datastore and what ARM says about it."""

    name: str
    version: str
    created: str
    path: str  # datastore path of the model: a blob name, or a folder ending in "/"
    tags: dict[str, str] = field(default_factory=dict)
    archived: bool = False


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


class Azure:
    """The in-memory state: one workspace, its models, its blob datastore, a request log, fault switches."""

    def __init__(self, subscription_id: str, resource_group: str, workspace: str, tenant_id: str) -> None:
        self.subscription_id = subscription_id
        self.resource_group = resource_group
        self.workspace = workspace
        self.tenant_id = tenant_id
        self.models: dict[str, list[ModelVersion]] = {}
        self.blobs: dict[str, bytes] = {}
        self.faults: set[str] = set()
        # Answers for the next blob reads, in order: (status, storage error code, extra headers), or None
        # for a read answered as usual.
        self.blob_failures: list[tuple[int, str, dict[str, str]] | None] = []
        # A storage error code that every blob request is refused with (403), like a locked-down account.
        self.storage_refusal: str | None = None
        self.log: list[LoggedRequest] = []
        self.lock = threading.Lock()

    def reset(self) -> None:
        """Forget every model, blob, fault and logged request."""
        with self.lock:
            self.models.clear()
            self.blobs.clear()
            self.faults.clear()
            self.blob_failures.clear()
            self.storage_refusal = None
            self.log.clear()

    def register(
        self,
        name: str,
        version: str,
        files: dict[str, bytes],
        *,
        folder: str | None = None,
        created: str = "2026-01-01T00:00:00Z",
        tags: dict[str, str] | None = None,
        archived: bool = False,
    ) -> ModelVersion:
        """Register a model version: one file (folder=None, exactly one entry) or a folder of files."""
        upload = f"LocalUpload/{hashlib.sha256(f'{name}:{version}'.encode()).hexdigest()[:32]}"
        if folder is None:
            if len(files) > 1:
                raise ValueError("a single-file model takes exactly one file; use folder=")
            path = f"{upload}/{next(iter(files), 'model.onnx')}"
        else:
            path = f"{upload}/{folder}/"
        for relative, data in files.items():
            self.blobs[path + relative if folder is not None else path] = data
        entry = ModelVersion(name, version, created, path, dict(tags or {}), archived)
        self.models.setdefault(name, []).append(entry)
        return entry

    def requests(self, host: str | None = None, method: str | None = None) -> list[LoggedRequest]:
        """The logged requests, optionally only those to one host and with one method."""
        with self.lock:
            return [
                entry
                for entry in self.log
                if (host is None or entry.host == host) and (method is None or entry.method == method)
            ]

    # --- ARM (Azure ML) -------------------------------------------------------------------------

    def workspace_id(self) -> str:
        """The workspace's ARM id."""
        return (
            f"/subscriptions/{self.subscription_id}/resourceGroups/{self.resource_group}"
            f"/providers/Microsoft.MachineLearningServices/workspaces/{self.workspace}"
        )

    def version_body(self, entry: ModelVersion) -> dict[str, Any]:
        """A model version resource as ARM returns it."""
        uri = (
            f"azureml://subscriptions/{self.subscription_id}/resourcegroups/{self.resource_group}"
            f"/workspaces/{self.workspace}/datastores/{DATASTORE}/paths/{entry.path}"
        )
        return {
            "id": f"{self.workspace_id()}/models/{entry.name}/versions/{entry.version}",
            "name": entry.version,
            "type": "Microsoft.MachineLearningServices/workspaces/models/versions",
            "properties": {
                "description": None,
                "tags": entry.tags,
                "properties": {},
                "isArchived": entry.archived,
                "isAnonymous": False,
                "flavors": {},
                "modelType": "custom_model",
                "modelUri": uri,
                "jobName": None,
                "stage": "Development",
                "provisioningState": "Succeeded",
            },
            "systemData": {
                "createdAt": entry.created,
                "createdBy": "someone@example.com",
                "createdByType": "User",
                "lastModifiedAt": entry.created,
                "lastModifiedBy": "someone@example.com",
                "lastModifiedByType": "User",
            },
        }

    def container_body(self, name: str) -> dict[str, Any]:
        """A model container resource as ARM returns it."""
        versions = self.models[name]
        latest = max(versions, key=lambda v: v.created).version if versions else None
        return {
            "id": f"{self.workspace_id()}/models/{name}",
            "name": name,
            "type": "Microsoft.MachineLearningServices/workspaces/models",
            "properties": {
                "description": None,
                "tags": {},
                "properties": {},
                "isArchived": False,
                "latestVersion": latest,
                "nextVersion": None,
                "provisioningState": "Succeeded",
            },
            "systemData": {"createdAt": "2026-01-01T00:00:00Z", "createdBy": "someone@example.com"},
        }

    def datastore_body(self) -> dict[str, Any]:
        """The workspace's default blob datastore."""
        return {
            "id": f"{self.workspace_id()}/datastores/{DATASTORE}",
            "name": DATASTORE,
            "type": "Microsoft.MachineLearningServices/workspaces/datastores",
            "properties": {
                "datastoreType": "AzureBlob",
                "accountName": STORAGE_ACCOUNT,
                "containerName": CONTAINER,
                "endpoint": "core.windows.net",
                "protocol": "https",
                "credentials": {"credentialsType": "AccountKey"},
                "isDefault": True,
                "serviceDataAccessAuthIdentity": "None",
                "description": None,
                "tags": {},
                "properties": {},
            },
            "systemData": {"createdAt": "2026-01-01T00:00:00Z"},
        }

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
            return self._answer_workspace(method, parts, query)

    def _answer_workspace(self, method: str, parts: list[str], query: dict[str, str]) -> tuple[int, Any]:
        active_only = query.get("listViewType", "ActiveOnly") == "ActiveOnly"
        match method, parts:
            case "GET", ["models"]:
                names = [
                    n for n, vs in self.models.items() if not active_only or any(not v.archived for v in vs)
                ]
                return 200, {"value": [self.container_body(name) for name in names]}
            case "GET", ["models", name]:
                if name not in self.models:
                    return 404, not_found(f"Model container {name}")
                return 200, self.container_body(name)
            case "GET", ["models", name, "versions"]:
                versions = [v for v in self.models.get(name, []) if not (active_only and v.archived)]
                if query.get("$orderBy", "").startswith("createdtime"):
                    versions.sort(key=lambda v: v.created, reverse=query["$orderBy"].endswith("desc"))
                if "$top" in query:
                    versions = versions[: int(query["$top"])]
                return 200, {"value": [self.version_body(v) for v in versions]}
            case "GET", ["models", name, "versions", version]:
                for entry in self.models.get(name, []):
                    if entry.version == version:
                        return 200, self.version_body(entry)
                return 404, not_found(f"Model {name}:{version}")
            case "GET", ["datastores", name] if name == DATASTORE:
                return 200, self.datastore_body()
            case "POST", ["datastores", name, "listSecrets"] if name == DATASTORE:
                return 200, {"secretsType": "AccountKey", "key": ACCOUNT_KEY}
        return 404, not_found("/".join(parts))

    # --- Entra ID sign-in -----------------------------------------------------------------------

    def answer_login(self, method: str, path: str, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        """Serve the MSAL discovery and token calls that a client-secret sign-in makes."""
        base = f"https://{LOGIN_HOST}"
        parts = path.strip("/").split("/")
        if method == "GET" and path == "/common/discovery/instance":
            return 200, {
                "tenant_discovery_endpoint": f"{base}/common/v2.0/.well-known/openid-configuration",
                "api-version": "1.1",
                "metadata": [
                    {
                        "preferred_network": LOGIN_HOST,
                        "preferred_cache": "login.windows.net",
                        "aliases": [LOGIN_HOST, "login.windows.net", "sts.windows.net"],
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
            wrong = [
                key
                for key, ok in (
                    ("tenant", parts[0] == self.tenant_id),
                    ("grant_type", form.get("grant_type") == "client_credentials"),
                    ("client_id", bool(form.get("client_id"))),
                    ("client_secret", bool(form.get("client_secret"))),
                    ("scope", form.get("scope") == "https://management.azure.com/.default"),
                )
                if not ok
            ]
            if wrong:
                return 400, {
                    "error": "invalid_request",
                    "error_description": f"AADSTS900144: the stand-in refuses {', '.join(wrong)}",
                }
            if FAULT_SIGN_IN in self.faults:
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
                "access_token": ACCESS_TOKEN,
            }
        return 404, {"error": "not_found", "error_description": f"no stand-in for {method} {path}"}

    # --- Blob storage -----------------------------------------------------------------------------

    def list_blobs_xml(self, query: dict[str, str]) -> bytes:
        """An `EnumerationResults` page for a container listing (with an optional delimiter)."""
        prefix = query.get("prefix", "")
        delimiter = query.get("delimiter", "")
        with self.lock:
            names = sorted(name for name in self.blobs if name.startswith(prefix))
            sizes = {name: len(self.blobs[name]) for name in names}
        items: list[str] = []
        seen_prefixes: set[str] = set()
        for name in names:
            rest = name[len(prefix) :]
            if delimiter and delimiter in rest:
                sub = prefix + rest.split(delimiter)[0] + delimiter
                if sub not in seen_prefixes:
                    seen_prefixes.add(sub)
                    items.append(f"<BlobPrefix><Name>{escape(sub)}</Name></BlobPrefix>")
                continue
            items.append(
                f"<Blob><Name>{escape(name)}</Name><Properties>"
                f"<Creation-Time>{HTTP_DATE}</Creation-Time><Last-Modified>{HTTP_DATE}</Last-Modified>"
                f"<Etag>{etag(name)}</Etag><Content-Length>{sizes[name]}</Content-Length>"
                "<Content-Type>application/octet-stream</Content-Type><BlobType>BlockBlob</BlobType>"
                "<AccessTier>Hot</AccessTier><LeaseStatus>unlocked</LeaseStatus><LeaseState>available</LeaseState>"
                "<ServerEncrypted>true</ServerEncrypted></Properties><Metadata /></Blob>"
            )
        return (
            '<?xml version="1.0" encoding="utf-8"?>'
            f'<EnumerationResults ServiceEndpoint="https://{STORAGE_ACCOUNT}{BLOB_SUFFIX}/" '
            f'ContainerName="{CONTAINER}"><Prefix>{escape(prefix)}</Prefix>'
            + (f"<Delimiter>{escape(delimiter)}</Delimiter>" if delimiter else "")
            + f"<Blobs>{''.join(items)}</Blobs><NextMarker /></EnumerationResults>"
        ).encode()


STORAGE_MESSAGES = {
    "AuthorizationFailure": "This request is not authorized to perform this operation.",
    "KeyBasedAuthenticationNotPermitted": "Key based authentication is not permitted on this storage "
    "account.",
    "ServerBusy": "The server is currently unable to receive requests. Please retry your request.",
    "AuthenticationFailed": "Server failed to authenticate the request. Make sure the value of Authorization "
    "header is formed correctly including the signature.",
    "AuthorizationPermissionMismatch": "This request is not authorized to perform this operation using "
    "this permission.",
}
HTTP_DATE = format_datetime(dt.datetime(2026, 1, 1, tzinfo=dt.UTC), usegmt=True)


def etag(name: str) -> str:
    """A stable ETag for a blob name."""
    return '"0x8DC' + hashlib.sha256(name.encode()).hexdigest()[:12].upper() + '"'


def arm_error(code: str, message: str) -> dict[str, Any]:
    """An ARM error body."""
    return {"error": {"code": code, "message": message}}


def not_found(what: str) -> dict[str, Any]:
    """The 404 body Azure ML returns for a missing asset."""
    return arm_error("UserError", f"{what} not found")


class _Handler(http.server.BaseHTTPRequestHandler):
    """Answers CONNECT, then the HTTPS requests inside the tunnel."""

    protocol_version = "HTTP/1.1"
    server: _ProxyServer

    def log_message(self, format: str, *args: Any) -> None:
        """Keep the test output quiet; the request log is in `Azure.log`."""

    def do_CONNECT(self) -> None:
        """Open a tunnel and terminate TLS in it, or refuse when Azure ML is 'unreachable'."""
        host = self.path.split(":")[0]
        azure = self.server.azure
        with azure.lock:
            azure.log.append(LoggedRequest("CONNECT", host, self.path, {}, ""))
        known = host in {ARM_HOST, LOGIN_HOST} or host.endswith(BLOB_SUFFIX)
        if not known or (host == ARM_HOST and FAULT_ARM_UNREACHABLE in azure.faults):
            self.send_response(502 if known else 403, "Bad Gateway" if known else "Forbidden")
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
        with azure.lock:
            azure.log.append(
                LoggedRequest(self.command, host, parts.path, query, self.headers.get("Authorization", ""))
            )
        if host == ARM_HOST:
            if self.headers.get("Authorization") != f"Bearer {ACCESS_TOKEN}":
                self._json(401, arm_error("InvalidAuthenticationToken", "The access token is invalid."))
                return
            status, payload = azure.answer_arm(self.command, parts.path, query)
            self._json(status, payload)
        elif host == LOGIN_HOST:
            form = {key: values[0] for key, values in parse_qs(body.decode()).items()}
            status, payload = azure.answer_login(self.command, parts.path, form)
            self._json(status, payload)
        elif host == f"{STORAGE_ACCOUNT}{BLOB_SUFFIX}":
            self._blob(parts.path, query)
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

    def _blob(self, path: str, query: dict[str, str]) -> None:
        azure = self.server.azure
        container, _, name = unquote(path).lstrip("/").partition("/")
        common = {"x-ms-request-id": str(uuid.uuid4()), "x-ms-version": self.headers.get("x-ms-version", "")}
        if FAULT_BLOB_FORBIDDEN in azure.faults:
            self._storage_error(403, "AuthorizationPermissionMismatch", common)
            return
        if azure.storage_refusal:
            self._storage_error(403, azure.storage_refusal, common)
            return
        if not self.headers.get("Authorization", "").startswith(f"SharedKey {STORAGE_ACCOUNT}:"):
            self._storage_error(403, "AuthenticationFailed", common)
            return
        if container != CONTAINER:
            self._storage_error(404, "ContainerNotFound", common)
            return
        if not name and query.get("comp") == "list":
            data = azure.list_blobs_xml(query)
            self._send(200, {**common, "Content-Type": "application/xml"}, data)
            return
        with azure.lock:
            blob = azure.blobs.get(name)
            failure = azure.blob_failures.pop(0) if blob is not None and azure.blob_failures else None
        if failure is not None:
            status, code, extra = failure
            self._storage_error(status, code, {**common, **extra})
            return
        if blob is None:
            self._storage_error(404, "BlobNotFound", common)
            return
        headers = {
            **common,
            "Content-Type": "application/octet-stream",
            "ETag": etag(name),
            "Last-Modified": HTTP_DATE,
            "x-ms-blob-type": "BlockBlob",
            "x-ms-creation-time": HTTP_DATE,
            "x-ms-server-encrypted": "true",
            "Accept-Ranges": "bytes",
        }
        wanted = self.headers.get("x-ms-range") or self.headers.get("Range")
        if self.command == "HEAD" or not wanted:
            self._send(200, headers, b"" if self.command == "HEAD" else blob, length=len(blob))
            return
        start_text, _, end_text = wanted.removeprefix("bytes=").partition("-")
        start = int(start_text)
        if start >= len(blob):
            self._storage_error(416, "InvalidRange", common)
            return
        end = min(int(end_text) if end_text else len(blob) - 1, len(blob) - 1)
        headers["Content-Range"] = f"bytes {start}-{end}/{len(blob)}"
        self._send(206, headers, blob[start : end + 1])

    def _storage_error(self, status: int, code: str, headers: dict[str, str]) -> None:
        body = (
            b""
            if self.command == "HEAD"
            else (
                f'<?xml version="1.0" encoding="utf-8"?><Error><Code>{code}</Code>'
                f"<Message>{STORAGE_MESSAGES.get(code, code)}</Message></Error>"
            ).encode()
        )
        self._send(status, {**headers, "x-ms-error-code": code, "Content-Type": "application/xml"}, body)

    def _send(self, status: int, headers: dict[str, str], body: bytes, *, length: int | None = None) -> None:
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body) if length is None else length))
        self.end_headers()
        if body:
            self.wfile.write(body)


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
