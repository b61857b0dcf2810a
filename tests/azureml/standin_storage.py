"""The stand-in's blob storage: one container per account, who may read it, and the Blob REST answers.

A request is let in as Azure Storage lets it in: a Shared Key signature made with the account key,
the SAS the stand-in handed out, or a bearer token for `https://storage.azure.com`; anything else
is refused with the status and error code Azure uses
(https://learn.microsoft.com/rest/api/storageservices/blob-service-error-codes).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from email.utils import format_datetime
from urllib.parse import parse_qs, unquote
from xml.sax.saxutils import escape

from .standin_auth import STORAGE_AUDIENCE, bearer_audience, sas_token, shared_key_signature

STORAGE_MESSAGES = {
    "AuthorizationFailure": "This request is not authorized to perform this operation.",
    "KeyBasedAuthenticationNotPermitted": "Key based authentication is not permitted on this storage "
    "account.",
    "ServerBusy": "The server is currently unable to receive requests. Please retry your request.",
    "AuthenticationFailed": "Server failed to authenticate the request. Make sure the value of Authorization "
    "header is formed correctly including the signature.",
    "AuthorizationPermissionMismatch": "This request is not authorized to perform this operation using "
    "this permission.",
    "NoAuthenticationInformation": "Server failed to authenticate the request. Please refer to the "
    "information in the www-authenticate header.",
    "InvalidAuthenticationInfo": "Server failed to authenticate the request. Audience validation failed.",
}
HTTP_DATE = format_datetime(dt.datetime(2026, 1, 1, tzinfo=dt.UTC), usegmt=True)


@dataclass(frozen=True)
class BlobRequest:
    """A request to a blob endpoint, as it arrived (the path still percent-encoded)."""

    method: str
    raw_path: str
    raw_query: str
    headers: Mapping[str, str]

    @property
    def query(self) -> dict[str, str]:
        """The query's first values."""
        return {key: values[0] for key, values in parse_qs(self.raw_query, keep_blank_values=True).items()}


@dataclass(frozen=True)
class BlobAnswer:
    """Status, headers and body; `length` for a HEAD, whose body is empty."""

    status: int
    headers: dict[str, str]
    body: bytes = b""
    length: int | None = None


@dataclass
class BlobAccount:
    """One storage account with one container."""

    name: str
    container: str
    key: str
    blobs: dict[str, bytes] = field(default_factory=dict)

    def sas(self) -> str:
        """The read/list container SAS this account hands out."""
        return sas_token(self.key, self.name, self.container)

    def authenticate(self, request: BlobRequest) -> str | None:
        """None when the request proves access; otherwise the storage error code to refuse it with."""
        authorization = request.headers.get("Authorization", "")
        if authorization.startswith("SharedKey "):
            account, _, signature = authorization.removeprefix("SharedKey ").partition(":")
            expected = shared_key_signature(
                self.key, self.name, request.method, request.raw_path, request.raw_query, request.headers
            )
            return None if account == self.name and signature == expected else "AuthenticationFailed"
        if "sig" in request.query:
            handed_out = parse_qs(self.sas())
            given = parse_qs(request.raw_query)
            same = all(given.get(key) == value for key, value in handed_out.items())
            return None if same else "AuthenticationFailed"
        if authorization.startswith("Bearer "):
            return None if bearer_audience(authorization) == STORAGE_AUDIENCE else "InvalidAuthenticationInfo"
        return "NoAuthenticationInformation"

    def listing(self, query: Mapping[str, str]) -> bytes:
        """An `EnumerationResults` page for a container listing (with an optional delimiter)."""
        prefix = query.get("prefix", "")
        delimiter = query.get("delimiter", "")
        names = sorted(name for name in self.blobs if name.startswith(prefix))
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
                f"<Etag>{etag(name)}</Etag><Content-Length>{len(self.blobs[name])}</Content-Length>"
                "<Content-Type>application/octet-stream</Content-Type><BlobType>BlockBlob</BlobType>"
                "<AccessTier>Hot</AccessTier><LeaseStatus>unlocked</LeaseStatus><LeaseState>available</LeaseState>"
                "<ServerEncrypted>true</ServerEncrypted></Properties><Metadata /></Blob>"
            )
        return (
            '<?xml version="1.0" encoding="utf-8"?>'
            f'<EnumerationResults ServiceEndpoint="https://{self.name}.blob/" '
            f'ContainerName="{self.container}"><Prefix>{escape(prefix)}</Prefix>'
            + (f"<Delimiter>{escape(delimiter)}</Delimiter>" if delimiter else "")
            + f"<Blobs>{''.join(items)}</Blobs><NextMarker /></EnumerationResults>"
        ).encode()


def etag(name: str) -> str:
    """A stable ETag for a blob name."""
    return '"0x8DC' + hashlib.sha256(name.encode()).hexdigest()[:12].upper() + '"'


def storage_error(method: str, status: int, code: str, headers: Mapping[str, str]) -> BlobAnswer:
    """A storage error answer: the code in `x-ms-error-code` and in the XML body."""
    body = (
        b""
        if method == "HEAD"
        else (
            f'<?xml version="1.0" encoding="utf-8"?><Error><Code>{code}</Code>'
            f"<Message>{STORAGE_MESSAGES.get(code, code)}</Message></Error>"
        ).encode()
    )
    extra = {"x-ms-error-code": code, "Content-Type": "application/xml"}
    if code == "NoAuthenticationInformation":
        extra["WWW-Authenticate"] = (
            "Bearer authorization_uri=https://login.microsoftonline.com/common/oauth2/authorize"
        )
    return BlobAnswer(status, {**headers, **extra}, body)


def answer_blob(
    account: BlobAccount, request: BlobRequest, failure: tuple[int, str, dict[str, str]] | None = None
) -> BlobAnswer:
    """Answer one Blob REST call: authenticate, then list the container or read a blob (ranges too).

    `failure` replaces the answer to a blob read that would otherwise succeed (a fault switch).
    """
    container, _, name = unquote(request.raw_path).lstrip("/").partition("/")
    common = {"x-ms-request-id": str(uuid.uuid4()), "x-ms-version": request.headers.get("x-ms-version", "")}
    refusal = account.authenticate(request)
    if refusal is not None:
        status = 403 if refusal in {"AuthenticationFailed", "AuthorizationPermissionMismatch"} else 401
        return storage_error(request.method, status, refusal, common)
    if container != account.container:
        return storage_error(request.method, 404, "ContainerNotFound", common)
    if not name and request.query.get("comp") == "list":
        return BlobAnswer(200, {**common, "Content-Type": "application/xml"}, account.listing(request.query))
    blob = account.blobs.get(name)
    if blob is None:
        return storage_error(request.method, 404, "BlobNotFound", common)
    if failure is not None:
        status, code, extra = failure
        return storage_error(request.method, status, code, {**common, **extra})
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
    wanted = request.headers.get("x-ms-range") or request.headers.get("Range")
    if request.method == "HEAD" or not wanted:
        return BlobAnswer(200, headers, b"" if request.method == "HEAD" else blob, length=len(blob))
    start_text, _, end_text = wanted.removeprefix("bytes=").partition("-")
    start = int(start_text)
    if start >= len(blob):
        return storage_error(request.method, 416, "InvalidRange", common)
    end = min(int(end_text) if end_text else len(blob) - 1, len(blob) - 1)
    headers["Content-Range"] = f"bytes {start}-{end}/{len(blob)}"
    return BlobAnswer(206, headers, blob[start : end + 1])
