"""The smoke test's checks: small named functions over one typed context, run in the order of `checks`.

Each check asks the running container one thing and answers with an `Outcome`: a problem (empty when
the check passed) and a note for the report. The expected answers come from the model run in-process
by serving.model, the same code that runs inside the image.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from typing import Any, NamedTuple

import requests

from scripts.compare import compare, describe
from scripts.payloads import (
    BadPayload,
    Signature,
    bad_payloads,
    invocations_payloads,
    percentile,
    predict_payloads,
    v2_payloads,
)
from scripts.samples import Sample

REQUEST_TIMEOUT = 10.0
BURST = 200
IN_PROCESS = "the model run in-process"


class Outcome(NamedTuple):
    """How a check ended: a problem ("" when it passed) and a note for the report."""

    problem: str
    note: str = ""


@dataclass(frozen=True)
class Check:
    """One smoke-test check and its outcome."""

    name: str
    ok: bool
    detail: str = ""


@dataclass
class Report:
    """Everything the smoke test found (the step's result): checks, cold start, latencies, request count,
    container log."""

    image: str
    checks: list[Check] = field(default_factory=list)
    cold_start_ms: float | None = None
    latencies_ms: list[float] = field(default_factory=list)
    requests: int = 0
    log: str = ""
    platform: str = ""  # os/architecture of the image, e.g. linux/arm64
    emulated: bool = False  # run under QEMU user emulation, not natively

    @property
    def passed(self) -> bool:
        """True when every check passed (and there was at least one)."""
        return bool(self.checks) and all(check.ok for check in self.checks)

    @property
    def p50_ms(self) -> float:
        """Median latency of the timed requests (needs at least one)."""
        return percentile(self.latencies_ms, 50)

    @property
    def p99_ms(self) -> float:
        """99th-percentile latency of the timed requests (needs at least one)."""
        return percentile(self.latencies_ms, 99)

    def outputs(self) -> dict[str, str]:
        """The step's outputs by their action names; the latencies only when requests were timed."""
        outputs = {"cold-start-ms": f"{self.cold_start_ms:.0f}" if self.cold_start_ms is not None else ""}
        if self.latencies_ms:
            outputs["latency-p50-ms"] = f"{self.p50_ms:.2f}"
            outputs["latency-p99-ms"] = f"{self.p99_ms:.2f}"
        return outputs | {
            "requests": str(self.requests),
            "platform": self.platform,
            "emulated": "true" if self.emulated else "false",
            "verdict": "pass" if self.passed else "fail",
        }

    def add(self, name: str, ok: bool, detail: str = "") -> Check:
        """Record a check and print it as it happens."""
        check = Check(name, ok, detail)
        self.checks.append(check)
        print(f"{'✅' if ok else '❌'} {name}" + (f": {detail}" if detail else ""), flush=True)
        return check


class Server:
    """HTTP access to the running container, counting the requests sent."""

    def __init__(self, base_url: str, session: requests.Session, report: Report):
        self.base_url = base_url
        self.session = session
        self.report = report

    def call(
        self, method: str, path: str, data: bytes | None = None, content_type: str = ""
    ) -> tuple[int, Any]:
        """Send one request; return (status, parsed JSON or raw text)."""
        self.report.requests += 1
        headers = {"Content-Type": content_type} if content_type else {}
        response = self.session.request(
            method, self.base_url + path, data=data, headers=headers, timeout=REQUEST_TIMEOUT
        )
        try:
            return response.status_code, response.json()
        except ValueError:
            return response.status_code, response.text

    def post_json(self, path: str, body: Any) -> tuple[int, Any]:
        """POST a JSON body."""
        return self.call("POST", path, json.dumps(body).encode(), "application/json")


@dataclass
class Context:
    """What every check works from: the container, the model in-process, the samples, and what it learnt."""

    server: Server
    model: Any  # serving.model.ServedModel
    samples: list[Sample]
    reference: dict[str, Any]  # the in-process model's GET /metadata answer
    signature: Signature
    served: dict[str, Any] = field(default_factory=dict)  # the container's GET /metadata answer

    @property
    def report(self) -> Report:
        """Where the checks record their results and timings."""
        return self.server.report

    @property
    def v2_path(self) -> str:
        """The Open Inference Protocol route of the served model."""
        return f"/v2/models/{self.served.get('name') or self.reference['name']}/infer"


# ---- pure decisions ----------------------------------------------------------------------------


def answer_problem(expected: tuple[int, Any], actual: tuple[int, Any], against: str) -> str:
    """Why an actual (status, body) does not match the expected one ("" when it does)."""
    want_status, want_body = expected
    status, body = actual
    if status != want_status:
        return f"HTTP {status} instead of {want_status} ({against}); body: {str(body)[:200]}"
    if status != 200:
        return ""
    differences = compare(want_body, body)
    return f"differs from {against}: {describe(differences)}" if differences else ""


def bad_answer_problem(status: int, body: Any) -> str:
    """Why an answer to a bad request is not a clean JSON 4xx ("" when it is)."""
    if not 400 <= status < 500:
        return f"HTTP {status} instead of a 4xx"
    if not isinstance(body, dict):
        return f"HTTP {status} without a JSON object body"
    return ""


def expected_answer(method: Callable[[Any], Any], body: Any) -> tuple[int, Any]:
    """(status, body) of the in-process model: 200 and its answer, or the ClientError's 4xx."""
    from serving.errors import ClientError

    try:
        return 200, json.loads(json.dumps(method(body)))
    except ClientError as error:
        return error.status, None


# ---- the checks --------------------------------------------------------------------------------


def metadata_matches(ctx: Context) -> Outcome:
    """GET /metadata describes the same inputs and outputs as the model in-process."""
    status, body = ctx.server.call("GET", "/metadata")
    if status != 200 or not isinstance(body, dict):
        return Outcome(f"GET /metadata answered HTTP {status}")
    ctx.served.update(body)
    for key in ("inputs", "outputs"):
        if body.get(key) != ctx.reference.get(key):
            return Outcome(f"{key} differ from the model's: {json.dumps(body.get(key))[:200]}")
    return Outcome("", f"model {body.get('name')} {body.get('version')}, same inputs and outputs")


def sample_answer(ctx: Context, sample: Sample) -> Outcome:
    """POST /predict with a sample: the answer the samples file expects, and the model's in-process."""
    actual = ctx.server.post_json("/predict", sample.request)
    problem = answer_problem((200, sample.response), actual, "the expected response in the samples file")
    if problem:
        return Outcome(problem)
    expected = expected_answer(ctx.model.predict, sample.request)
    note = f"HTTP {actual[0]}, as the samples file and the model in-process"
    return Outcome(answer_problem(expected, actual, IN_PROCESS), note)


def same_answer(ctx: Context, path: str, method: Callable[[Any], Any], body: Any) -> Outcome:
    """POST a generated payload to `path`: the model's in-process answer (or its refusal)."""
    actual = ctx.server.post_json(path, body)
    expected = expected_answer(method, body)
    return Outcome(answer_problem(expected, actual, IN_PROCESS), f"HTTP {actual[0]}, as the model in-process")


def v2_answer(ctx: Context, body: Any) -> Outcome:
    """POST an Open Inference Protocol request: the outputs of the model in-process."""
    status, answer = ctx.server.post_json(ctx.v2_path, body)
    actual = (status, {"outputs": answer.get("outputs")} if isinstance(answer, dict) else answer)
    expected = expected_answer(lambda request: {"outputs": ctx.model.infer_v2(request)["outputs"]}, body)
    return Outcome(
        answer_problem(expected, actual, IN_PROCESS), f"HTTP {status}, outputs as the model in-process"
    )


def refuses(ctx: Context, bad: BadPayload) -> Outcome:
    """A bad request gets a clean JSON 4xx, not a 500 or an answer."""
    status, body = ctx.server.call("POST", "/predict", bad.data, bad.content_type)
    message = next(
        (str(body[key]) for key in ("error", "detail", "message") if isinstance(body, dict) and key in body),
        "",
    )
    return Outcome(bad_answer_problem(status, body), f"HTTP {status}: {message}")


def still_ready(ctx: Context) -> Outcome:
    """GET /ready still answers 200 after the bad requests."""
    status, _ = ctx.server.call("GET", "/ready")
    return Outcome("" if status == 200 else f"GET /ready answered HTTP {status} after the bad requests")


def latency_burst(ctx: Context) -> Outcome:
    """BURST sequential /predict requests with one body, each latency recorded in ms."""
    body = ctx.samples[0].request if ctx.samples else predict_payloads(ctx.signature)[0].body
    data = json.dumps(body).encode()
    report = ctx.report
    failures = 0
    for _ in range(BURST):
        began = time.perf_counter()
        status, _ = ctx.server.call("POST", "/predict", data, "application/json")
        report.latencies_ms.append((time.perf_counter() - began) * 1000)
        failures += status != 200
    problem = f"{failures} of {BURST} requests failed" if failures else ""
    return Outcome(problem, f"p50 {report.p50_ms:.1f} ms, p99 {report.p99_ms:.1f} ms")


def checks(ctx: Context) -> Iterator[tuple[str, Callable[[], Outcome]]]:
    """Every check by name, in the order they run (the v2 route comes from the metadata check's answer)."""
    yield "metadata", partial(metadata_matches, ctx)
    for sample in ctx.samples:
        yield f"/predict {sample.name}", partial(sample_answer, ctx, sample)
    for payload in [] if ctx.samples else predict_payloads(ctx.signature):
        yield (
            f"/predict {payload.name}",
            partial(same_answer, ctx, "/predict", ctx.model.predict, payload.body),
        )
    for payload in invocations_payloads(ctx.signature):
        yield (
            f"/invocations {payload.name}",
            partial(same_answer, ctx, "/invocations", ctx.model.invocations, payload.body),
        )
    for payload in v2_payloads(ctx.signature):
        yield f"{ctx.v2_path} {payload.name}", partial(v2_answer, ctx, payload.body)
    for bad in bad_payloads(ctx.signature):
        yield f"refuses {bad.name}", partial(refuses, ctx, bad)
    yield "ready after bad requests", partial(still_ready, ctx)
    yield f"latency burst ({BURST} requests)", partial(latency_burst, ctx)


def run_check(check: Callable[[], Outcome]) -> Outcome:
    """Run one check; a failed request or a failing model is that check's problem, not a crash."""
    try:
        return check()
    except requests.RequestException as error:
        return Outcome(f"request failed: {type(error).__name__}: {error}")
    except Exception as error:  # e.g. the in-process model failing: a failed check, not a crash
        return Outcome(f"the check itself failed: {type(error).__name__}: {error}")


def run_checks(ctx: Context) -> None:
    """Run every check in order and record each in the report."""
    for name, check in checks(ctx):
        problem, note = run_check(check)
        ctx.report.add(name, not problem, problem or note)
