"""Running the fetch step against the Azure stand-in: its environment, the run, what came out."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from scripts import gha

from .standin import Azure, StandIn, all_hosts
from .standin_ca import make_ca

PROJECT = Path(__file__).resolve().parents[2]
SUBSCRIPTION = "00000000-1111-2222-3333-444444444444"
RESOURCE_GROUP = "rg-modelship"
WORKSPACE = "ws-modelship"
TENANT = "99999999-8888-7777-6666-555555555555"
CLIENT_ID = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"
CLIENT_SECRET = "client~secret~value~0123456789"
WORKSPACE_OPTIONS = (
    "--azure-subscription-id",
    SUBSCRIPTION,
    "--azure-resource-group",
    RESOURCE_GROUP,
    "--azure-workspace",
    WORKSPACE,
)
# Variables from the developer's shell that would change how the SDKs sign in or connect.
_SCRUBBED_PREFIXES = ("AZURE_", "MSI_", "IDENTITY_", "GITHUB_", "INPUT_", "ACTIONS_", "RUNNER_")
_SCRUBBED = {"http_proxy", "https_proxy", "no_proxy", "all_proxy", "requests_ca_bundle", "curl_ca_bundle"}


@dataclass(frozen=True)
class StepRun:
    """One run of the fetch step: exit code, streams, outputs, and how long it took."""

    returncode: int
    stdout: str
    stderr: str
    outputs: dict[str, str]
    seconds: float
    max_rss_mb: float  # the step process's own peak resident memory (see PEAK_RSS_WRAPPER)

    @property
    def log(self) -> str:
        """stdout and stderr together."""
        return self.stdout + self.stderr

    @property
    def errors(self) -> list[str]:
        """The `::error::` annotations, unescaped."""
        return [
            line.split("::", 2)[2].replace("%0A", "\n").replace("%0D", "\r").replace("%25", "%")
            for line in self.stdout.splitlines()
            if line.startswith("::error")
        ]


@dataclass
class AzureStandIn:
    """The running stand-in and what the fetch step needs to reach it."""

    azure: Azure
    server: StandIn
    ca_bundle: Path

    def env(self, proxy: str | None = None) -> dict[str, str]:
        """The step's environment: proxy to the stand-in, trust its CA, a service principal's variables."""
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(_SCRUBBED_PREFIXES) and key.lower() not in _SCRUBBED
        }
        env.update(
            HTTPS_PROXY=proxy or self.server.proxy_url,
            NO_PROXY="",
            REQUESTS_CA_BUNDLE=str(self.ca_bundle),
            AZURE_CLIENT_ID=CLIENT_ID,
            AZURE_TENANT_ID=TENANT,
            AZURE_CLIENT_SECRET=CLIENT_SECRET,
            GITHUB_ACTIONS="true",
            PYTHONPATH=str(PROJECT),
        )
        return env


@contextmanager
def running_standin(folder: Path) -> Iterator[AzureStandIn]:
    """The stand-in for one workspace, its CA written into `folder`; stopped on leaving."""
    ca = make_ca(all_hosts())
    ca_bundle, cert, key = ca.write(folder)
    azure = Azure(SUBSCRIPTION, RESOURCE_GROUP, WORKSPACE, TENANT)
    server = StandIn(azure, cert, key).start()
    try:
        yield AzureStandIn(azure, server, ca_bundle)
    finally:
        server.stop()


# A child forked from this test process starts with the test process's pages, which getrusage then
# counts as the child's peak. So the step runs under a small Python process that reports the peak
# resident memory of its one child (RUSAGE_CHILDREN), forked from that small process.
PEAK_RSS_WRAPPER = """import resource, subprocess, sys
code = subprocess.call(sys.argv[2:])
with open(sys.argv[1], "w") as peak:
    peak.write(str(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss))
sys.exit(code)
"""


def run_fetch(
    standin: AzureStandIn,
    work: Path,
    *options: str,
    proxy: str | None = None,
    timeout: float = 60,
    env_changes: dict[str, str | None] | None = None,
    scope: tuple[str, ...] = WORKSPACE_OPTIONS,
) -> StepRun:
    """Run `python -m scripts.fetch --source azureml` against the stand-in, in its workspace unless
    `scope` says otherwise (a registry's options, or none with an azureml:// URI)."""
    outputs_file = work / "github-output"
    summary_file = work / "step-summary.md"
    outputs_file.write_text("")
    env = standin.env(proxy)
    env.update(GITHUB_OUTPUT=str(outputs_file), GITHUB_STEP_SUMMARY=str(summary_file), HOME=str(work))
    for key, value in (env_changes or {}).items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    argv = [
        sys.executable,
        "-m",
        "scripts.fetch",
        "--source",
        "azureml",
        *scope,
        "--dest",
        str(work / "model"),
        *options,
    ]
    started = time.monotonic()
    peak_file = work / "peak-rss-kib"
    wrapped = [sys.executable, "-c", PEAK_RSS_WRAPPER, str(peak_file), *argv]
    with (work / "stdout").open("w+") as stdout, (work / "stderr").open("w+") as stderr:
        process = subprocess.Popen(
            wrapped, cwd=PROJECT, env=env, stdout=stdout, stderr=stderr, text=True, start_new_session=True
        )
        returncode = reap(process, started + timeout)
        max_rss_kb = int(peak_file.read_text()) if peak_file.is_file() else 0
        stdout.seek(0)
        stderr.seek(0)
        out, err = stdout.read(), stderr.read()
    return StepRun(
        returncode, out, err, gha.read_outputs(outputs_file), time.monotonic() - started, max_rss_kb / 1024
    )


def reap(process: subprocess.Popen[str], deadline: float) -> int:
    """Wait for `process`; kill its whole session at `deadline`."""
    try:
        return process.wait(timeout=max(0.0, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        raise


def read_json(path: Path) -> object:
    """Load a JSON file."""
    return json.loads(path.read_text())
