"""scripts.registry's pure rules: which registries Docker treats as insecure (plain HTTP), and how a
WWW-Authenticate challenge is read. Its HTTP client runs against the real registry in test_push.py
(push, bearer-token front) and test_push_index.py."""

from __future__ import annotations

from typing import Any

import pytest

from scripts.registry import is_insecure, parse_challenge


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


def test_parse_challenge() -> None:
    header = 'Bearer realm="https://ghcr.io/token",service="ghcr.io",scope="repository:org/m:pull"'
    assert parse_challenge(header) == (
        "bearer",
        {"realm": "https://ghcr.io/token", "service": "ghcr.io", "scope": "repository:org/m:pull"},
    )
