"""A real container registry for the tests: the one CI started, or a local `docker-registry`; and a
Bearer-token front to it (the `token_front` fixture), for the token flow Debian's registry does not speak."""

from __future__ import annotations

import base64
import http.server
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import threading
import time
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

REGISTRY_BINARY = "/usr/bin/docker-registry"


@dataclass(frozen=True)
class Registry:
    """Where the test registry listens and the credentials it accepts."""

    host: str
    username: str
    password: str

    def url(self, path: str) -> str:
        """The registry API URL of `path` (plain HTTP: test registries live on 127.0.0.1)."""
        return f"http://{self.host}{path}"

    def catalog(self) -> list[str]:
        """The repositories the registry holds."""
        response = requests.get(self.url("/v2/_catalog"), auth=(self.username, self.password), timeout=10)
        response.raise_for_status()
        return list(response.json().get("repositories") or [])

    def tags(self, repository: str) -> list[str]:
        """The tags of one repository (empty when it does not exist)."""
        response = requests.get(
            self.url(f"/v2/{repository}/tags/list"), auth=(self.username, self.password), timeout=10
        )
        if response.status_code == 404:
            return []
        response.raise_for_status()
        return list(response.json().get("tags") or [])


def from_environment() -> Registry | None:
    """The registry CI started (MODELSHIP_TEST_REGISTRY + _USER + _PASSWORD), if any."""
    host = os.environ.get("MODELSHIP_TEST_REGISTRY", "")
    user = os.environ.get("MODELSHIP_TEST_REGISTRY_USER", "")
    password = os.environ.get("MODELSHIP_TEST_REGISTRY_PASSWORD", "")
    if host and user and password:
        return Registry(host, user, password)
    return None


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _config(port: int, storage: Path, htpasswd: Path) -> str:
    return f"""version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: {storage}
  delete:
    enabled: true
http:
  addr: 127.0.0.1:{port}
auth:
  htpasswd:
    realm: modelship-test
    path: {htpasswd}
"""


def wait_until_up(registry: Registry, process: subprocess.Popen[bytes], log: Path, timeout: float) -> None:
    """Wait until /v2/ answers 401 (auth on); fail with the registry's log otherwise."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"docker-registry exited with {process.returncode}:\n{log.read_text()}")
        try:
            if requests.get(registry.url("/v2/"), timeout=1).status_code == 401:
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"docker-registry did not answer within {timeout}s:\n{log.read_text()}")


@contextmanager
def local_registry(workdir: Path, timeout: float = 15.0) -> Iterator[Registry]:
    """Run `docker-registry` with htpasswd auth on a free 127.0.0.1 port; stop it afterwards."""
    if not Path(REGISTRY_BINARY).exists() or shutil.which("htpasswd") is None:
        raise FileNotFoundError(
            "needs /usr/bin/docker-registry and htpasswd (apt-get install docker-registry)"
        )
    username, password = "modelship", secrets.token_urlsafe(18)
    htpasswd = workdir / "htpasswd"
    entry = subprocess.run(
        ["htpasswd", "-Bbn", username, password], check=True, capture_output=True, text=True
    ).stdout
    htpasswd.write_text(entry.strip() + "\n")
    port = free_port()
    config = workdir / "config.yml"
    config.write_text(_config(port, workdir / "storage", htpasswd))
    log = workdir / "registry.log"
    registry = Registry(f"127.0.0.1:{port}", username, password)
    with log.open("wb") as log_file:
        process = subprocess.Popen(
            [REGISTRY_BINARY, "serve", str(config)], stdout=log_file, stderr=subprocess.STDOUT
        )
        try:
            wait_until_up(registry, process, log, timeout)
            yield registry
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


class TokenFront(http.server.ThreadingHTTPServer):
    """A front to the test registry that speaks the Bearer-token flow, as Docker Hub, GHCR and ACR do."""

    registry: Registry
    tokens: dict[str, str]
    host: str


class TokenHandler(http.server.BaseHTTPRequestHandler):
    """/token trades basic credentials for a scoped token; /v2/... wants that token, then proxies."""

    server: TokenFront

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""

    def answer(self, status: int, headers: dict[str, str], body: bytes = b"") -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def scope_of(self, path: str) -> str:
        match = re.fullmatch(r"/v2/(.+)/(manifests|blobs|tags)/.*", path)
        return f"repository:{match.group(1)}:pull" if match else ""

    def handle_request(self) -> None:
        url = urllib.parse.urlsplit(self.path)
        registry = self.server.registry
        if url.path == "/token":
            expected = (
                "Basic " + base64.b64encode(f"{registry.username}:{registry.password}".encode()).decode()
            )
            if self.headers.get("Authorization") != expected:
                self.answer(
                    401, {"Content-Type": "application/json"}, b'{"errors": [{"code": "UNAUTHORIZED"}]}'
                )
                return
            scope = urllib.parse.parse_qs(url.query).get("scope", [""])[0]
            token = secrets.token_hex(8)
            self.server.tokens[token] = scope
            self.answer(200, {"Content-Type": "application/json"}, json.dumps({"token": token}).encode())
            return
        scope = self.scope_of(url.path)
        bearer = self.headers.get("Authorization", "").removeprefix("Bearer ")
        if self.server.tokens.get(bearer) != scope:
            realm = f"http://{self.server.host}/token"
            challenge = f'Bearer realm="{realm}",service="test-front"' + (
                f',scope="{scope}"' if scope else ""
            )
            self.answer(401, {"WWW-Authenticate": challenge, "Content-Type": "application/json"}, b"{}")
            return
        upstream = requests.request(
            self.command,
            registry.url(self.path),
            headers={"Accept": self.headers.get("Accept", "*/*")},
            auth=(registry.username, registry.password),
            timeout=10,
        )
        keep = ("Content-Type", "Docker-Content-Digest")
        self.answer(
            upstream.status_code,
            {k: upstream.headers[k] for k in keep if k in upstream.headers},
            upstream.content,
        )

    do_GET = do_HEAD = handle_request


@pytest.fixture
def token_front(registry: Registry) -> Iterator[str]:
    """host:port of a Bearer-token front to the test registry, served from a thread."""
    server = TokenFront(("127.0.0.1", 0), TokenHandler)
    server.registry, server.tokens, server.host = registry, {}, f"127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.host
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
