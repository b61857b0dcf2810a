"""scripts.registry: its pure rules (credentials, insecure registries, WWW-Authenticate challenges) and
its v2 HTTP client, RegistryAPI, against the real test registry (Debian's docker-registry with
htpasswd), behind tests.registry's Bearer-token front, and a scripted loopback registry for the answers
the real one cannot give (5xx, a token service's odd answers, a registry that stops answering)."""

from __future__ import annotations

import contextlib
import hashlib
import http.server
import json
import threading
import urllib.parse
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import requests

from scripts.gha import StepError
from scripts.registry import (
    IMAGE_TYPES,
    INDEX_TYPE,
    MANIFEST_TYPES,
    RegistryAPI,
    hostname_of,
    is_insecure,
    is_loopback,
    parse_challenge,
    password_for,
)
from tests.registry import Registry, free_port
from tests.registry import token_front as token_front  # a fixture; `as` marks it used

CONFIG_TYPE = "application/vnd.oci.image.config.v1+json"
REFUSED_LOGIN = "refused the login; check --username and the REGISTRY_PASSWORD secret"
CHECK_THE_HOST = "check that {host} is the registry's host:port and that no proxy answers in its place"


@pytest.fixture(autouse=True)
def from_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """Messages name `--username` (no INPUT_USERNAME, as on a command line)."""
    monkeypatch.delenv("INPUT_USERNAME", raising=False)


# --- pure rules -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "config", "insecure"),
    [
        pytest.param("127.0.0.1:5000", {}, True, id="loopback"),
        pytest.param("localhost:5000", {}, True, id="localhost"),
        pytest.param("ghcr.io", {"IndexConfigs": {"ghcr.io": {"Secure": True}}}, False, id="secure-index"),
        pytest.param(
            "reg.lan:5000", {"IndexConfigs": {"reg.lan:5000": {"Secure": False}}}, True, id="listed"
        ),
        pytest.param("10.1.2.3:5000", {"InsecureRegistryCIDRs": ["10.0.0.0/8"]}, True, id="cidr"),
        pytest.param("10.1.2.3:5000", {"InsecureRegistryCIDRs": ["192.168.0.0/16"]}, False, id="other-cidr"),
    ],
)
def test_is_insecure(host: str, config: dict[str, Any], insecure: bool) -> None:
    assert is_insecure(host, config) is insecure


@pytest.mark.parametrize(
    ("host", "hostname", "loopback"),
    [
        pytest.param("127.0.0.1:5000", "127.0.0.1", True, id="ipv4-port"),
        pytest.param("127.8.9.10", "127.8.9.10", True, id="ipv4-loopback-net"),
        pytest.param("[::1]:5000", "::1", True, id="ipv6-brackets"),
        pytest.param("localhost", "localhost", True, id="localhost"),
        pytest.param("ghcr.io", "ghcr.io", False, id="name"),
        pytest.param("10.0.0.1:443", "10.0.0.1", False, id="private-ipv4"),
        pytest.param("localhost.evil.example:5000", "localhost.evil.example", False, id="localhost-prefix"),
    ],
)
def test_hostname_and_loopback(host: str, hostname: str, loopback: bool) -> None:
    assert (hostname_of(host), is_loopback(host)) == (hostname, loopback)


def test_parse_challenge() -> None:
    header = 'Bearer realm="https://ghcr.io/token",service="ghcr.io",scope="repository:org/m:pull"'
    assert parse_challenge(header) == (
        "bearer",
        {"realm": "https://ghcr.io/token", "service": "ghcr.io", "scope": "repository:org/m:pull"},
    )


def test_parse_challenge_of_basic_auth() -> None:
    assert parse_challenge('Basic realm="modelship-test"') == ("basic", {"realm": "modelship-test"})


def test_password_for_masks_the_password_first(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("REGISTRY_PASSWORD", "s3cret-token")
    assert password_for("bob") == "s3cret-token"
    assert capsys.readouterr().out == "::add-mask::s3cret-token\n"


def test_password_for_is_empty_without_a_username(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("REGISTRY_PASSWORD", raising=False)
    assert password_for("") == ""


@pytest.mark.parametrize(
    ("input_env", "named"),
    [
        pytest.param({}, "--username", id="terminal"),
        pytest.param({"INPUT_USERNAME": "bob"}, "input 'username'", id="action"),
    ],
)
def test_password_for_a_username_needs_the_password(
    input_env: dict[str, str], named: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REGISTRY_PASSWORD", "")
    for name, value in input_env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(StepError) as refused:
        password_for("bob")
    assert str(refused.value) == f"{named} 'bob' needs its password or token in env REGISTRY_PASSWORD"


# --- the HTTP client against the real registry -------------------------------------------------------


@dataclass(frozen=True)
class StoredImage:
    """A one-config image the client stored: where, its manifest and config, and their digests."""

    repository: str
    tag: str
    manifest: bytes
    digest: str
    config: bytes
    config_digest: str


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def upload_blob(registry: Registry, repository: str, data: bytes) -> str:
    """Store `data` as a blob, monolithically: POST an upload session, then PUT the bytes with their
    digest (OCI distribution-spec, "Pushing a blob monolithically: POST then PUT",
    https://github.com/opencontainers/distribution-spec/blob/main/spec.md)."""
    auth = (registry.username, registry.password)
    started = requests.post(registry.url(f"/v2/{repository}/blobs/uploads/"), auth=auth, timeout=10)
    assert started.status_code == 202, started.text
    digest = sha256_digest(data)
    done = requests.put(
        urllib.parse.urljoin(registry.url("/"), started.headers["Location"]),
        params={"digest": digest},
        data=data,
        headers={"Content-Type": "application/octet-stream"},
        auth=auth,
        timeout=10,
    )
    assert done.status_code == 201, done.text
    return digest


def image_manifest(config: bytes, config_digest: str) -> bytes:
    """An OCI image manifest of one config and no layers."""
    document = {
        "schemaVersion": 2,
        "mediaType": IMAGE_TYPES[0],
        "config": {"mediaType": CONFIG_TYPE, "digest": config_digest, "size": len(config)},
        "layers": [],
    }
    return json.dumps(document).encode()


def client_of(registry: Registry, password: str | None = None, username: str | None = None) -> RegistryAPI:
    return RegistryAPI(
        registry.host,
        registry.username if username is None else username,
        registry.password if password is None else password,
        insecure=True,
    )


def error_of(api: RegistryAPI, call: Callable[[RegistryAPI], object]) -> str:
    """The message of the StepError `call(api)` raises; the client is closed afterwards."""
    with contextlib.closing(api), pytest.raises(StepError) as raised:
        call(api)
    return str(raised.value)


@pytest.fixture(scope="module")
def stored(registry: Registry) -> StoredImage:
    """An image whose config blob is uploaded by hand and whose manifest the client puts."""
    repository = f"modelship-test/registry-{uuid.uuid4().hex[:10]}"
    config = json.dumps({"architecture": "amd64", "os": "linux", "note": uuid.uuid4().hex}).encode()
    config_digest = upload_blob(registry, repository, config)
    manifest = image_manifest(config, config_digest)
    with contextlib.closing(client_of(registry)) as api:
        digest = api.put_manifest(repository, "1", IMAGE_TYPES[0], manifest)
    return StoredImage(repository, "1", manifest, digest, config, config_digest)


@pytest.mark.registry
def test_check_login_accepts_the_registry_s_credentials(registry: Registry) -> None:
    with contextlib.closing(client_of(registry)) as api:
        api.check_login()
        assert api.base == f"http://{registry.host}"  # https first, then plain HTTP (insecure)


@pytest.mark.registry
@pytest.mark.parametrize(
    ("username", "password"),
    [pytest.param(None, "wrong-password", id="wrong-password"), pytest.param("", "", id="anonymous")],
)
def test_check_login_is_refused(registry: Registry, username: str | None, password: str) -> None:
    refused = error_of(client_of(registry, password, username), RegistryAPI.check_login)
    assert refused == f"registry {registry.host} {REFUSED_LOGIN}"


@pytest.mark.registry
def test_put_manifest_returns_the_digest_of_the_bytes(registry: Registry, stored: StoredImage) -> None:
    assert stored.digest == sha256_digest(stored.manifest)
    assert stored.tag in registry.tags(stored.repository)


@pytest.mark.registry
def test_manifest_digest_of_a_tag_and_of_nothing(registry: Registry, stored: StoredImage) -> None:
    with contextlib.closing(client_of(registry)) as api:
        assert api.manifest_digest(stored.repository, stored.tag) == stored.digest
        assert api.manifest_digest(stored.repository, stored.digest) == stored.digest
        assert api.manifest_digest(stored.repository, "no-such-tag") == ""
        assert api.manifest_digest(f"modelship-test/none-{uuid.uuid4().hex[:8]}", "1") == ""


@pytest.mark.registry
@pytest.mark.parametrize("reference", ["tag", "digest"])
def test_get_manifest_gives_the_stored_bytes(registry: Registry, stored: StoredImage, reference: str) -> None:
    with contextlib.closing(client_of(registry)) as api:
        got = api.get_manifest(stored.repository, getattr(stored, reference), IMAGE_TYPES)
    assert got == (IMAGE_TYPES[0], stored.manifest)


@pytest.mark.registry
def test_get_blob_gives_the_config(registry: Registry, stored: StoredImage) -> None:
    with contextlib.closing(client_of(registry)) as api:
        assert api.get_blob(stored.repository, stored.config_digest) == stored.config


@pytest.mark.registry
def test_put_manifest_stores_an_index_over_the_image(registry: Registry, stored: StoredImage) -> None:
    entry = {
        "mediaType": IMAGE_TYPES[0],
        "digest": stored.digest,
        "size": len(stored.manifest),
        "platform": {"architecture": "amd64", "os": "linux"},
    }
    index = json.dumps({"schemaVersion": 2, "mediaType": INDEX_TYPE, "manifests": [entry]}).encode()
    with contextlib.closing(client_of(registry)) as api:
        digest = api.put_manifest(stored.repository, "multi", INDEX_TYPE, index)
        assert digest == sha256_digest(index)
        assert api.manifest_digest(stored.repository, "multi") == digest
        assert api.get_manifest(stored.repository, "multi", (INDEX_TYPE,)) == (INDEX_TYPE, index)


@pytest.mark.registry
def test_unknown_manifests_and_blobs_are_named(registry: Registry, stored: StoredImage) -> None:
    missing = "sha256:" + "0" * 64
    repository = stored.repository
    no_manifest = error_of(client_of(registry), lambda api: api.get_manifest(repository, "nil", IMAGE_TYPES))
    no_blob = error_of(client_of(registry), lambda api: api.get_blob(repository, missing))
    host = registry.host
    assert no_manifest == (
        f"registry {host} answered HTTP 404 for the manifest of {repository}:nil; "
        "if it is a server error, retry later"
    )
    assert no_blob == (
        f"registry {host} answered HTTP 404 for blob {missing} of {repository}; "
        "if it is a server error, retry later"
    )


@pytest.mark.registry
def test_put_manifest_of_a_manifest_the_registry_refuses(registry: Registry, stored: StoredImage) -> None:
    missing = "sha256:" + "1" * 64
    broken = image_manifest(b"{}", missing)
    message = error_of(
        client_of(registry), lambda api: api.put_manifest(stored.repository, "broken", IMAGE_TYPES[0], broken)
    )
    assert message.startswith(
        f"registry {registry.host} refused the {IMAGE_TYPES[0]} for {stored.repository}:broken (HTTP 400: "
    )
    assert "MANIFEST_BLOB_UNKNOWN" in message
    assert "broken" not in registry.tags(stored.repository)


@pytest.mark.registry
def test_a_wrong_password_is_refused_for_every_request(registry: Registry, stored: StoredImage) -> None:
    repository, tag = stored.repository, stored.tag
    calls = {
        "manifest_digest": lambda api: api.manifest_digest(repository, tag),
        "get_manifest": lambda api: api.get_manifest(repository, tag, IMAGE_TYPES),
        "get_blob": lambda api: api.get_blob(repository, stored.config_digest),
    }
    wrong = "wrong-" + registry.password
    messages = {name: error_of(client_of(registry, wrong), call) for name, call in calls.items()}
    assert messages == dict.fromkeys(calls, f"registry {registry.host} {REFUSED_LOGIN}")
    write = error_of(
        client_of(registry, wrong),
        lambda api: api.put_manifest(repository, "2", IMAGE_TYPES[0], stored.manifest),
    )
    assert write == (
        f"registry {registry.host} refused to write {repository}:2 (HTTP 401); "
        "the credentials need push access to the repository"
    )
    assert "2" not in registry.tags(repository)


def test_an_unreachable_registry_is_named() -> None:
    host = f"127.0.0.1:{free_port()}"
    unreachable = error_of(RegistryAPI(host, "u", "pw", insecure=True), RegistryAPI.check_login)
    assert unreachable == (
        f"registry {host} is unreachable (ConnectionError); "
        "check that it is running and that the host:port in the tags is right"
    )


# --- behind a Bearer-token front (tests.registry's, proxying to the real registry) -----------------


@pytest.mark.registry
def test_the_bearer_token_front_serves_every_read(
    registry: Registry,
    stored: StoredImage,
    token_front: str,
) -> None:
    with contextlib.closing(
        RegistryAPI(token_front, registry.username, registry.password, insecure=True)
    ) as api:
        api.check_login()
        assert api.manifest_digest(stored.repository, stored.tag) == stored.digest
        assert api.manifest_digest(stored.repository, "no-such-tag") == ""
        assert api.get_manifest(stored.repository, stored.tag, IMAGE_TYPES) == (
            IMAGE_TYPES[0],
            stored.manifest,
        )
        assert api.get_blob(stored.repository, stored.config_digest) == stored.config


@pytest.mark.registry
@pytest.mark.parametrize(
    ("username", "password"),
    [pytest.param("modelship", "wrong-password", id="wrong-password"), pytest.param("", "", id="anonymous")],
)
def test_the_token_service_refuses_the_login(
    stored: StoredImage,
    token_front: str,
    username: str,
    password: str,
) -> None:
    api = RegistryAPI(token_front, username, password, insecure=True)
    refused = error_of(api, lambda api: api.manifest_digest(stored.repository, stored.tag))
    assert refused == f"registry {token_front} {REFUSED_LOGIN}"


# --- a scripted loopback registry, for answers the real one cannot give -------------------------------


@dataclass(frozen=True)
class Reply:
    """One canned answer; `hold` seconds of silence first (a registry that stops answering)."""

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    hold: float = 0.0


@dataclass(frozen=True)
class Seen:
    """One request the scripted registry received."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes


class ScriptedRegistry(http.server.ThreadingHTTPServer):
    """Answers each `METHOD /path` with its next scripted reply (the last one repeats); 404 otherwise."""

    script: dict[str, list[Reply]]
    seen: list[Seen]
    released: threading.Event


class ScriptedHandler(http.server.BaseHTTPRequestHandler):
    server: ScriptedRegistry

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""

    def answer(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.server.seen.append(Seen(self.command, self.path, dict(self.headers.items()), body))
        route = f"{self.command} {urllib.parse.urlsplit(self.path).path}"
        replies = self.server.script.get(route) or [Reply(404, {"Content-Type": "application/json"})]
        reply = replies.pop(0) if len(replies) > 1 else replies[0]
        if reply.hold and self.server.released.wait(reply.hold):
            return  # the test is over: hang up without answering
        self.send_response(reply.status)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(reply.body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(reply.body)

    do_GET = do_HEAD = do_PUT = answer


@pytest.fixture
def scripted() -> Iterator[ScriptedRegistry]:
    """A scripted registry on a free 127.0.0.1 port, served from a thread; `/v2/` answers 200."""
    server = ScriptedRegistry(("127.0.0.1", 0), ScriptedHandler)
    server.script, server.seen, server.released = {"GET /v2/": [Reply(200)]}, [], threading.Event()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.released.set()
        server.shutdown()
        server.server_close()
        thread.join()


def host_of(server: ScriptedRegistry) -> str:
    return f"127.0.0.1:{server.server_address[1]}"


def api_of(server: ScriptedRegistry, username: str = "bob", timeout: float = 15.0) -> RegistryAPI:
    return RegistryAPI(host_of(server), username, "pw", insecure=True, timeout=timeout)


def json_reply(status: int, document: Any, headers: dict[str, str] | None = None) -> Reply:
    return Reply(
        status, {"Content-Type": "application/json", **(headers or {})}, json.dumps(document).encode()
    )


def bearer_challenge(server: ScriptedRegistry, scope: str) -> Reply:
    """A 401 as Docker Hub and GHCR send it (distribution's token spec, "How to authenticate")."""
    realm = f"http://{host_of(server)}/token"
    header = f'Bearer realm="{realm}",service="scripted.test",scope="{scope}"'
    return json_reply(401, {"errors": [{"code": "UNAUTHORIZED"}]}, {"WWW-Authenticate": header})


def test_put_manifest_trades_the_credentials_for_a_push_token(scripted: ScriptedRegistry) -> None:
    """The Bearer dance of distribution's token spec
    (https://distribution.github.io/distribution/spec/auth/token/): a 401 challenge names realm, service
    and scope; GET realm?service=&scope= with basic credentials answers `token` or, for OAuth 2.0
    compatibility, `access_token`; the request is retried with `Bearer <token>`. The token is kept for
    the next request of the same scope."""
    scope = "repository:org/m:pull,push"
    digest = "sha256:" + "cd" * 32
    scripted.script["PUT /v2/org/m/manifests/1"] = [
        bearer_challenge(scripted, scope),
        Reply(201, {"Docker-Content-Digest": digest}),
    ]
    scripted.script["GET /token"] = [json_reply(200, {"access_token": "tok-1", "expires_in": 300})]
    with contextlib.closing(api_of(scripted)) as api:
        assert api.put_manifest("org/m", "1", INDEX_TYPE, b'{"index": 1}') == digest
        assert api.put_manifest("org/m", "1", INDEX_TYPE, b'{"index": 2}') == digest
    requests_seen = [seen for seen in scripted.seen if seen.path != "/v2/"]
    token_query = urllib.parse.urlencode({"service": "scripted.test", "scope": scope})
    assert [(seen.method, seen.path) for seen in requests_seen] == [
        ("PUT", "/v2/org/m/manifests/1"),
        ("GET", f"/token?{token_query}"),
        ("PUT", "/v2/org/m/manifests/1"),
        ("PUT", "/v2/org/m/manifests/1"),
    ]
    first, token, retried, again = requests_seen
    assert first.headers["Authorization"] == "Basic Ym9iOnB3"  # bob:pw
    assert token.headers["Authorization"] == "Basic Ym9iOnB3"
    assert [seen.headers["Authorization"] for seen in (retried, again)] == ["Bearer tok-1"] * 2
    assert [(seen.headers["Content-Type"], seen.body) for seen in (retried, again)] == [
        (INDEX_TYPE, b'{"index": 1}'),
        (INDEX_TYPE, b'{"index": 2}'),
    ]


@pytest.mark.parametrize(
    ("token_reply", "complaint"),
    [
        pytest.param(
            Reply(200, {"Content-Type": "text/html"}, b"<html>sign in</html>"),
            "{host}'s token service http://{host}/token answered no token (not JSON); " + CHECK_THE_HOST,
            id="not-json",
        ),
        pytest.param(
            json_reply(200, {"expires_in": 300}),
            "{host}'s token service http://{host}/token answered no token (no 'token' in it); "
            + CHECK_THE_HOST,
            id="no-token",
        ),
        pytest.param(
            json_reply(503, {"errors": []}),
            "{host} answered HTTP 503 for the token service; if it is a server error, retry later",
            id="token-service-503",
        ),
    ],
)
def test_a_token_service_s_odd_answers_are_named(
    scripted: ScriptedRegistry, token_reply: Reply, complaint: str
) -> None:
    scripted.script["HEAD /v2/org/m/manifests/1"] = [bearer_challenge(scripted, "repository:org/m:pull")]
    scripted.script["GET /token"] = [token_reply]
    host = host_of(scripted)
    odd = error_of(api_of(scripted), lambda api: api.manifest_digest("org/m", "1"))
    assert odd == "registry " + complaint.format(host=host)


@pytest.mark.parametrize(
    ("route", "call", "what"),
    [
        pytest.param("GET /v2/", lambda api: api.check_login(), "GET /v2/", id="check-login"),
        pytest.param(
            "HEAD /v2/org/m/manifests/1",
            lambda api: api.manifest_digest("org/m", "1"),
            "the manifest of org/m:1",
            id="manifest-digest",
        ),
        pytest.param(
            "GET /v2/org/m/manifests/1",
            lambda api: api.get_manifest("org/m", "1", IMAGE_TYPES),
            "the manifest of org/m:1",
            id="get-manifest",
        ),
        pytest.param(
            "GET /v2/org/m/blobs/sha256:ab",
            lambda api: api.get_blob("org/m", "sha256:ab"),
            "blob sha256:ab of org/m",
            id="get-blob",
        ),
        pytest.param(
            "PUT /v2/org/m/manifests/1",
            lambda api: api.put_manifest("org/m", "1", INDEX_TYPE, b"{}"),
            "the manifest of org/m:1",
            id="put-manifest",
        ),
    ],
)
def test_a_server_error_says_retry_later(
    scripted: ScriptedRegistry, route: str, call: Callable[[RegistryAPI], object], what: str
) -> None:
    unavailable = json_reply(503, {"errors": [{"code": "UNAVAILABLE"}]})
    # The client's first GET /v2/ is its probe for the scheme; check_login's own comes second.
    scripted.script[route] = [Reply(200), unavailable] if route == "GET /v2/" else [unavailable]
    assert error_of(api_of(scripted), call) == (
        f"registry {host_of(scripted)} answered HTTP 503 for {what}; if it is a server error, retry later"
    )


def test_manifest_digest_without_the_digest_header_hashes_the_manifest(scripted: ScriptedRegistry) -> None:
    manifest = b'{"schemaVersion": 2, "mediaType": "' + IMAGE_TYPES[0].encode() + b'"}'
    scripted.script["HEAD /v2/org/m/manifests/1"] = [Reply(200, {"Content-Type": IMAGE_TYPES[0]})]
    scripted.script["GET /v2/org/m/manifests/1"] = [Reply(200, {"Content-Type": IMAGE_TYPES[0]}, manifest)]
    with contextlib.closing(api_of(scripted)) as api:
        assert api.manifest_digest("org/m", "1") == sha256_digest(manifest)
    asked = [(seen.method, seen.headers["Accept"]) for seen in scripted.seen if seen.path != "/v2/"]
    assert asked == [("HEAD", MANIFEST_TYPES), ("GET", MANIFEST_TYPES)]


def test_a_registry_that_stops_answering_is_named(scripted: ScriptedRegistry) -> None:
    scripted.script["HEAD /v2/org/m/manifests/1"] = [Reply(200, hold=30)]
    silent = error_of(api_of(scripted, timeout=0.5), lambda api: api.manifest_digest("org/m", "1"))
    assert silent == (
        f"registry {host_of(scripted)} is unreachable (ReadTimeout); "
        "check that it is running and that the host:port in the tags is right"
    )


def test_manifest_digest_denied_names_pull_access(scripted: ScriptedRegistry) -> None:
    scripted.script["HEAD /v2/org/m/manifests/1"] = [json_reply(403, {"errors": [{"code": "DENIED"}]})]
    denied = error_of(api_of(scripted), lambda api: api.manifest_digest("org/m", "1"))
    assert denied == (
        f"registry {host_of(scripted)} refused to show org/m:1 (HTTP 403); "
        "the credentials need pull access to the repository"
    )
