"""Smoke-test step: run the image with limits, compare its answers with the model run in-process, time it."""

from __future__ import annotations

import contextlib
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import docker
import requests
from docker.errors import APIError, DockerException, NotFound

from scripts import gha
from scripts.compare import compare, describe
from scripts.docker_engine import connect, local_image
from scripts.gha import StepError
from scripts.payloads import (
    BadPayload,
    bad_payloads,
    invocations_payloads,
    percentile,
    predict_payloads,
    signature,
    v2_payloads,
)
from scripts.samples import Sample, load, locate
from serving.model_folder import MODEL_FILE

CONTAINER_PORT = "8080/tcp"
POLL_SECONDS = 0.02
REQUEST_TIMEOUT = 10.0
BURST = 200
LOG_HEAD_LINES = 60
LOG_TAIL_LINES = 60


Outcome = tuple[str, str]  # (problem, note): an empty problem means the check passed


@dataclass(frozen=True)
class Check:
    """One smoke-test check and its outcome."""

    name: str
    ok: bool
    detail: str = ""


@dataclass
class Report:
    """Everything the smoke test found: checks, cold start, latencies, request count, container log."""

    image: str
    checks: list[Check] = field(default_factory=list)
    cold_start_ms: float | None = None
    latencies_ms: list[float] = field(default_factory=list)
    requests: int = 0
    log: str = ""

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

    def add(self, name: str, ok: bool, detail: str = "") -> Check:
        """Record a check and print it as it happens."""
        check = Check(name, ok, detail)
        self.checks.append(check)
        print(f"{'✅' if ok else '❌'} {name}" + (f": {detail}" if detail else ""), flush=True)
        return check


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


def fold_log(text: str, head: int = LOG_HEAD_LINES, tail: int = LOG_TAIL_LINES) -> str:
    """The start-up (first lines) and the end (last lines) of a log, with what is left out counted."""
    lines = text.rstrip("\n").splitlines()
    if len(lines) <= head + tail:
        return "\n".join(lines)
    skipped = len(lines) - head - tail
    return "\n".join([*lines[:head], f"[... {skipped} lines left out ...]", *lines[-tail:]])


def cell(text: str) -> str:
    """Text safe inside a Markdown table cell."""
    return text.replace("|", "\\|").replace("\n", " ")[:300]


def summary(report: Report) -> str:
    """The verdict-first Markdown summary: verdict, cold start and p99, then the table of checks."""
    failed = [c for c in report.checks if not c.ok]
    cold = f"{report.cold_start_ms:.0f} ms" if report.cold_start_ms is not None else "never ready"
    timing = f"cold start {cold}"
    if report.latencies_ms:
        timing += f", p99 {report.p99_ms:.1f} ms (p50 {report.p50_ms:.1f} ms"
        timing += f" over {len(report.latencies_ms)} requests)"
    if report.passed:
        head = f"✅ **smoke test passed**: `{report.image}`, {timing}"
    else:
        count = f"{len(failed)} of {len(report.checks)} checks"
        head = f"❌ **smoke test failed** ({count}): `{report.image}`, {timing}"
    rows = ["| check | result | detail |", "| --- | --- | --- |"]
    rows += [f"| {cell(c.name)} | {'✅' if c.ok else '❌'} | {cell(c.detail)} |" for c in report.checks]
    parts = [head, "", *rows]
    if not report.passed and report.log:
        parts += ["", gha.details("container log", report.log)]
    return "\n".join(parts)


# ---- the container -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Options:
    """The smoke test's inputs, parsed once."""

    image: str
    model_dir: Path
    samples: Path | None
    timeout: float
    cpus: float
    memory: str


def parse_args(argv: list[str] | None) -> Options:
    """Read the inputs (CLI or INPUT_*)."""
    parser = gha.StepParser(prog="smoke-test", description=__doc__)
    parser.add_input("--image", required=True, help="image id or ref to test (the one just built)")
    parser.add_input("--model-dir", required=True, help="the model folder the image was built from")
    parser.add_input("--samples", default="", help="samples file (default: samples.json in the model folder)")
    parser.add_input("--timeout", default="60", help="seconds to wait for /ready")
    parser.add_input("--cpus", default="1", help="CPU limit of the container")
    parser.add_input("--memory", default="512m", help="memory limit of the container")
    args = parser.parse_args(argv)
    numbers = {}
    for name in ("timeout", "cpus"):
        try:
            numbers[name] = float(getattr(args, name))
        except ValueError:
            raise StepError(f"--{name} must be a number, not {getattr(args, name)!r}") from None
        if numbers[name] <= 0:
            raise StepError(f"--{name} must be positive, not {getattr(args, name)!r}")
    model_dir = Path(args.model_dir)
    if not (model_dir / MODEL_FILE).is_file():
        raise StepError(
            f"--model-dir {model_dir} holds no {MODEL_FILE}; pass the folder the fetch step wrote"
        )
    samples = locate(model_dir, args.samples)
    return Options(args.image, model_dir, samples, numbers["timeout"], numbers["cpus"], args.memory)


def load_reference_model(model_dir: Path) -> Any:
    """The model run in-process (serving.model, the code inside the image) for the expected answers."""
    from serving.model import ModelError, load_model

    try:
        return load_model(model_dir)
    except ModelError as error:
        raise StepError(
            f"cannot load the model in {model_dir} to compute expected answers: {error}"
        ) from None


def expected_answer(method: Callable[[Any], Any], body: Any) -> tuple[int, Any]:
    """(status, body) of the in-process model: 200 and its answer, or the ClientError's 4xx."""
    from serving.errors import ClientError

    try:
        return 200, json.loads(json.dumps(method(body)))
    except ClientError as error:
        return error.status, None


class Server:
    """HTTP access to the running container, counting the requests sent."""

    def __init__(self, base_url: str, report: Report):
        self.base_url = base_url
        self.report = report
        self.session = requests.Session()

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


def create_container(client: docker.DockerClient, image_id: str, name: str, options: Options) -> Any:
    """Create the container: published on a random 127.0.0.1 port, limited, read-only root, no privileges."""
    try:
        return client.containers.create(
            image_id,
            name=name,
            detach=True,
            ports={CONTAINER_PORT: ("127.0.0.1", None)},
            nano_cpus=int(options.cpus * 1e9),
            mem_limit=options.memory,
            pids_limit=256,
            read_only=True,
            tmpfs={"/tmp": "rw,size=64m,mode=1777"},
            cap_drop=["ALL"],
            security_opt=["no-new-privileges"],
        )
    except DockerException as error:
        detail = error.explanation if isinstance(error, APIError) else error
        raise StepError(
            f"cannot create a container of {image_id} "
            f"(--cpus {options.cpus:g}, --memory {options.memory}): {detail}"
        ) from None


def published_url(container: Any) -> str:
    """The http://127.0.0.1:<port> the engine published the container's port on."""
    container.reload()
    binding = (container.ports.get(CONTAINER_PORT) or [{}])[0]
    return f"http://127.0.0.1:{binding.get('HostPort')}"


def wait_ready(container: Any, server: Server, timeout: float, started: float) -> bool:
    """Poll GET /ready until 200 and record the cold start; False (and a failed check) on timeout or exit."""
    report = server.report
    deadline = started + timeout
    last = "no answer yet"
    next_status_check = 0.0
    while time.perf_counter() < deadline:
        try:
            response = server.session.get(server.base_url + "/ready", timeout=1)
            if response.status_code == 200:
                report.cold_start_ms = (time.perf_counter() - started) * 1000
                report.add("ready", True, f"GET /ready answered 200 after {report.cold_start_ms:.0f} ms")
                return True
            last = f"HTTP {response.status_code}"
        except requests.RequestException as error:
            last = type(error).__name__
        if time.perf_counter() >= next_status_check:
            container.reload()
            if container.status in ("exited", "dead"):
                code = container.attrs.get("State", {}).get("ExitCode")
                report.add("ready", False, f"the container exited with code {code} before /ready answered")
                return False
            next_status_check = time.perf_counter() + 0.25
        time.sleep(POLL_SECONDS)
    report.add("ready", False, f"GET /ready did not answer 200 within {timeout:g}s (last: {last})")
    return False


def run_checks(server: Server, model: Any, samples: list[Sample], report: Report) -> None:
    """Compare answers on every route with the in-process model, refuse bad payloads, time a burst."""

    def guarded(name: str, action: Callable[..., Outcome], *args: Any) -> None:
        try:
            problem, note = action(*args)
        except requests.RequestException as error:
            problem, note = f"request failed: {type(error).__name__}: {error}", ""
        except Exception as error:  # e.g. the in-process model failing: a failed check, not a crash
            problem, note = f"the check itself failed: {type(error).__name__}: {error}", ""
        report.add(name, not problem, problem or note)

    reference = model.metadata()
    sig = signature(reference)
    served: dict[str, Any] = {}

    def check_metadata() -> Outcome:
        status, body = server.call("GET", "/metadata")
        if status != 200 or not isinstance(body, dict):
            return f"GET /metadata answered HTTP {status}", ""
        served.update(body)
        for key in ("inputs", "outputs"):
            if body.get(key) != reference.get(key):
                return f"{key} differ from the model's: {json.dumps(body.get(key))[:200]}", ""
        return "", f"model {body.get('name')} {body.get('version')}, same inputs and outputs"

    def check_answer(
        path: str, method: Callable[[Any], Any], body: Any, sample: Sample | None = None
    ) -> Outcome:
        actual = server.post_json(path, body)
        if sample is not None:
            problem = answer_problem(
                (200, sample.response), actual, "the expected response in the samples file"
            )
            if problem:
                return problem, ""
        expected = expected_answer(method, body)
        note = f"HTTP {actual[0]}, as " + ("the samples file and " if sample else "") + "the model in-process"
        return answer_problem(expected, actual, "the model run in-process"), note

    def v2_outputs(body: Any) -> Any:
        return {"outputs": model.infer_v2(body)["outputs"]}

    def check_v2(path: str, body: Any) -> Outcome:
        status, answer = server.post_json(path, body)
        actual = (status, {"outputs": answer.get("outputs")} if isinstance(answer, dict) else answer)
        problem = answer_problem(expected_answer(v2_outputs, body), actual, "the model run in-process")
        return problem, f"HTTP {status}, outputs as the model in-process"

    def check_refused(bad: BadPayload) -> Outcome:
        status, body = server.call("POST", "/predict", bad.data, bad.content_type)
        message = next(
            (str(body[k]) for k in ("error", "detail", "message") if isinstance(body, dict) and k in body), ""
        )
        return bad_answer_problem(status, body), f"HTTP {status}: {message}"

    def still_ready() -> Outcome:
        status, _ = server.call("GET", "/ready")
        return ("" if status == 200 else f"GET /ready answered HTTP {status} after the bad requests"), ""

    guarded("metadata", check_metadata)
    for sample in samples:
        guarded(f"/predict {sample.name}", check_answer, "/predict", model.predict, sample.request, sample)
    for payload in [] if samples else predict_payloads(sig):
        guarded(f"/predict {payload.name}", check_answer, "/predict", model.predict, payload.body)
    for payload in invocations_payloads(sig):
        guarded(f"/invocations {payload.name}", check_answer, "/invocations", model.invocations, payload.body)
    v2_path = f"/v2/models/{served.get('name') or reference['name']}/infer"
    for payload in v2_payloads(sig):
        guarded(f"{v2_path} {payload.name}", check_v2, v2_path, payload.body)
    for bad in bad_payloads(sig):
        guarded(f"refuses {bad.name}", check_refused, bad)
    guarded("ready after bad requests", still_ready)
    burst_body = samples[0].request if samples else predict_payloads(sig)[0].body
    guarded(f"latency burst ({BURST} requests)", time_burst, server, burst_body, report)


def time_burst(server: Server, body: Any, report: Report) -> Outcome:
    """Send BURST sequential /predict requests with one body; record each latency in ms."""
    data = json.dumps(body).encode()
    failures = 0
    for _ in range(BURST):
        began = time.perf_counter()
        status, _ = server.call("POST", "/predict", data, "application/json")
        report.latencies_ms.append((time.perf_counter() - began) * 1000)
        failures += status != 200
    return (
        f"{failures} of {BURST} requests failed" if failures else ""
    ), f"p50 {report.p50_ms:.1f} ms, p99 {report.p99_ms:.1f} ms"


def finish_container(name: str) -> str:
    """Read the container's last log lines, then stop and remove it, whatever state it is in.

    A fresh client: an interrupt (Ctrl-C) may have left the step's connection half-read.
    """
    log = ""
    try:
        cleanup = connect()
    except StepError as error:
        gha.annotate("warning", f"could not remove container {name} ({error}); run: docker rm -f {name}")
        return f"(cannot read the container log: {error})"
    try:
        container = cleanup.containers.get(name)
        try:
            log = fold_log(bytes(container.logs()).decode("utf-8", "replace"))
        except DockerException as error:
            log = f"(cannot read the container log: {error})"
        with contextlib.suppress(DockerException):
            container.stop(timeout=3)
        container.remove(force=True, v=True)
    except NotFound:
        pass  # never created (a failed or interrupted create)
    except DockerException as error:
        gha.annotate("warning", f"could not remove container {name} ({error}); run: docker rm -f {name}")
    finally:
        cleanup.close()
    return log


def smoke_test(options: Options) -> Report:
    """Run the container and every check; the container is removed whatever happens."""
    samples = load(options.samples)
    model = load_reference_model(options.model_dir)
    client = connect()
    report = Report(options.image)
    try:
        image = local_image(client, options.image)
        name = f"modelship-smoke-{uuid.uuid4().hex[:12]}"
        try:
            container = create_container(client, str(image.id), name, options)
            print(f"started container {name} from {options.image}", flush=True)
            started = time.perf_counter()
            container.start()
            server = Server(published_url(container), report)
            try:
                if wait_ready(container, server, options.timeout, started):
                    run_checks(server, model, samples, report)
            finally:
                server.session.close()
        finally:
            report.log = finish_container(name)
    finally:
        client.close()
    return report


def publish(report: Report) -> None:
    """Write the outputs and the summary; on failure print the container log and annotate."""
    gha.set_output("cold-start-ms", f"{report.cold_start_ms:.0f}" if report.cold_start_ms is not None else "")
    if report.latencies_ms:
        gha.set_output("latency-p50-ms", f"{report.p50_ms:.2f}")
        gha.set_output("latency-p99-ms", f"{report.p99_ms:.2f}")
    gha.set_output("requests", report.requests)
    gha.set_output("verdict", "pass" if report.passed else "fail")
    gha.add_summary(summary(report))
    if not report.passed:
        print(f"--- container log ---\n{report.log.rstrip()}\n--- end of the container log ---")
        first = next(c for c in report.checks if not c.ok)
        gha.annotate("error", f"smoke test failed: {first.name}: {first.detail}")


def main(argv: list[str] | None = None) -> int:
    """Entry point: `python -m scripts.smoke_test --image REF --model-dir DIR [--samples FILE] ...`."""
    with gha.step_errors():
        report = smoke_test(parse_args(argv))
        publish(report)
        return 0 if report.passed else 1
    return 1


if __name__ == "__main__":
    raise SystemExit(main())
