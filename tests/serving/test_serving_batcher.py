"""serving.batcher in the app: concurrent requests gathered into one session.run and split back row for row,
a bad request failing alone, the off switch, the lone request, and the batch figures in /metrics."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from onnx import TensorProto, helper
from serving_models import save

from examples import generate
from serving.app import ModelServer, create_app
from serving.batcher import Batcher
from serving.config import Settings
from serving.errors import bad_request
from serving.metrics import Recorder

HOUSING = Path(__file__).resolve().parents[2] / "examples" / "housing"
REPO = HOUSING.parents[1]
TEXTS = [
    "MLOps is critical for robustness",
    "Containers are more or less interesting",
    "ok",
    "a much longer sentence about shipping models to production with tests, scans and a benchmark",
]


class CountingSession:
    """An onnxruntime session that counts its runs and the rows of each."""

    def __init__(self, session: Any) -> None:
        self.session = session
        self.batch_rows: list[int] = []

    def run(self, outputs: Any, feeds: dict[str, np.ndarray]) -> Any:
        self.batch_rows.append(len(next(iter(feeds.values()))))
        return self.session.run(outputs, feeds)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.session, name)


@asynccontextmanager
async def serving(
    model_dir: Path, **settings: Any
) -> AsyncIterator[tuple[httpx.AsyncClient, CountingSession]]:
    """The started app (lifespan run) on `model_dir`, an async client on it, and its counted session."""
    app: ModelServer = create_app(Settings(model_dir=model_dir, access_log="off", **settings))
    async with app.router.lifespan_context(app):
        counter = CountingSession(app.state.model.session)
        app.state.model.session = counter
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://modelship") as client:
            yield client, counter


def housing_body(rooms: float, rows: int = 1) -> dict[str, dict[str, float]]:
    """A pandas-columns body for the housing example, `rows` rows with RM = rooms + row index."""
    base = {"CHAS": 0.0, "TAX": 296.0, "PTRATIO": 15.3, "B": 396.9, "LSTAT": 4.98}
    columns = {name: {str(i): value for i in range(rows)} for name, value in base.items()}
    return columns | {"RM": {str(i): rooms + i for i in range(rows)}}


def run(scenario: Callable[[], Coroutine[Any, Any, None]]) -> None:
    asyncio.run(scenario())


def test_concurrent_requests_share_one_run_and_get_their_own_rows() -> None:
    bodies = [housing_body(5.0 + i, rows=1 + i % 3) for i in range(8)]

    async def scenario() -> None:
        async with serving(HOUSING, max_batch_size=1000, batching="off") as (client, counter):
            alone = [(await client.post("/predict", json=body)).json() for body in bodies]
            assert len(counter.batch_rows) == len(bodies)
        total = sum(1 + i % 3 for i in range(8))
        # The delay is long and the queue fills on the last request: one run, whatever the timing.
        async with serving(HOUSING, max_batch_size=total, max_batch_delay_ms=1000) as (client, counter):
            answers = await asyncio.gather(*(client.post("/predict", json=body) for body in bodies))
            assert counter.batch_rows == [total]
            # float32 matrix products may round the last bit differently for other batch sizes
            assert [a.json()["prediction"] for a in answers] == [
                pytest.approx(answer["prediction"], rel=1e-6) for answer in alone
            ]
            invocations = await asyncio.gather(*(client.post("/invocations", json=b) for b in bodies[:3]))
            assert [len(a.json()["predictions"]) for a in invocations] == [1, 2, 3]
            metrics = (await client.get("/metrics")).text
        assert re.search(r'modelship_batch_requests_bucket\{le="8"\} [1-9]', metrics)
        assert re.search(r"modelship_batch_rows_sum [1-9]", metrics)
        assert "modelship_batch_queue_depth 0.0" in metrics

    run(scenario)


def test_the_seed_exchange_still_answers_alone_and_in_a_crowd() -> None:
    seed = {"CHAS": {"0": 0}, "RM": {"0": 6.575}, "TAX": {"0": 296}, "PTRATIO": {"0": 15.3}}
    seed |= {"B": {"0": 396.9}, "LSTAT": {"0": 4.98}}

    async def scenario() -> None:
        async with serving(HOUSING) as (client, counter):
            lone = (await client.post("/predict", json=seed)).json()
            crowd = await asyncio.gather(*(client.post("/predict", json=seed) for _ in range(6)))
        assert lone["prediction"][0] == pytest.approx(20.35, abs=0.01)
        assert all(answer.json() == lone for answer in crowd)
        assert len(counter.batch_rows) < 7  # gathered without any delay: they arrived together

    run(scenario)


def test_texts_of_different_lengths_are_padded_together_and_answer_as_alone() -> None:
    folder = generate.minilm_folder()
    requests = [[TEXTS[i % 4], TEXTS[(i + 3) % 4]][: 1 + i % 2] for i in range(6)]

    async def scenario() -> None:
        async with serving(folder, batching="off") as (client, counter):
            alone = [(await client.post("/predict", json=texts)).json() for texts in requests]
            model = client._transport.app.state.model  # type: ignore[attr-defined]
            logits_alone = [model.run_fetched({"text": np.array(t, dtype=object)})[0] for t in requests]
        rows = sum(len(texts) for texts in requests)
        async with serving(folder, max_batch_size=rows, max_batch_delay_ms=1000) as (client, counter):
            answers = await asyncio.gather(*(client.post("/predict", json=texts) for texts in requests))
            assert counter.batch_rows == [rows]
            model = client._transport.app.state.model  # type: ignore[attr-defined]
            batcher = Batcher(model.run_fetched, rows, 0, Recorder())
            feeds = [{"text": np.array(texts, dtype=object)} for texts in requests]
            shares = await asyncio.gather(
                *(batcher.submit(f, len(t)) for f, t in zip(feeds, requests, strict=True))
            )
        assert [a.json() for a in answers] == alone
        assert alone[0] == {"positive": True}
        assert alone[1] == {"positive": [False, True]}
        for share, logits in zip(shares, logits_alone, strict=True):
            np.testing.assert_allclose(share[0], logits, atol=1e-5)  # padding is masked out

    run(scenario)


def test_a_bad_request_amid_good_ones_fails_alone_with_its_own_400() -> None:
    bad = housing_body(6.0) | {"RM": {"0": "six"}}

    async def scenario() -> None:
        async with serving(HOUSING, max_batch_size=6, max_batch_delay_ms=1000) as (client, counter):
            bodies = (
                [housing_body(5.0 + i) for i in range(3)] + [bad] + [housing_body(9.0 + i) for i in range(3)]
            )
            answers = await asyncio.gather(*(client.post("/predict", json=body) for body in bodies))
            assert counter.batch_rows == [6]
        assert [a.status_code for a in answers] == [200, 200, 200, 400, 200, 200, 200]
        assert answers[3].json() == {"error": "column 'RM' (row 0): expected a number, got a string \"six\""}

    run(scenario)


def test_a_batch_the_graph_refuses_is_run_request_by_request() -> None:
    def refuse_negative(feeds: dict[str, np.ndarray]) -> list[Any]:
        if (feeds["x"] < 0).any():
            raise bad_request("x must not be negative")
        return [feeds["x"] * 2]

    async def scenario() -> None:
        recorder = Recorder()
        batcher = Batcher(refuse_negative, 8, 0, recorder)
        values = [[1.0], [2.0, 3.0], [-1.0], [4.0]]
        outcomes = await asyncio.gather(
            *(batcher.submit({"x": np.array(v)}, len(v)) for v in values), return_exceptions=True
        )
        doubled = [o if isinstance(o, BaseException) else o[0].tolist() for o in outcomes]
        assert doubled[:2] == [[2.0], [4.0, 6.0]]
        assert str(doubled[2]) == "x must not be negative"
        assert doubled[3] == [8.0]
        assert recorder.batches["requests"][0] == 3  # three answered runs of one request, none of four

    run(scenario)


def test_feeds_of_other_shapes_run_in_their_own_group() -> None:
    runs: list[int] = []

    def total(feeds: dict[str, np.ndarray]) -> list[Any]:
        runs.append(len(feeds["x"]))
        return [feeds["x"].sum(axis=1)]

    async def scenario() -> None:
        batcher = Batcher(total, 8, 0, Recorder())
        shapes = [(1, 2), (2, 3), (1, 2), (1, 3)]
        shares = await asyncio.gather(*(batcher.submit({"x": np.ones(s)}, s[0]) for s in shapes))
        assert [share[0].tolist() for share in shares] == [[2.0], [3.0, 3.0], [2.0], [3.0]]

    run(scenario)
    assert sorted(runs) == [2, 3]


@pytest.mark.parametrize(
    "settings",
    [
        pytest.param({"batching": "off"}, id="off-switch"),
        pytest.param({"max_batch_size": 1}, id="one-row-batches"),
    ],
)
def test_without_batching_every_request_runs_alone(settings: dict[str, Any]) -> None:
    async def scenario() -> None:
        async with serving(HOUSING, **settings) as (client, counter):
            assert client._transport.app.state.batcher is None  # type: ignore[attr-defined]
            answers = await asyncio.gather(
                *(client.post("/predict", json=housing_body(6.0)) for _ in range(5))
            )
        assert {a.status_code for a in answers} == {200}
        assert counter.batch_rows == [1] * 5

    run(scenario)


def test_a_lone_request_runs_at_the_next_turn_of_the_loop_and_a_delay_waits_for_company_when_busy() -> None:
    async def turns_until_done(batcher: Batcher) -> int:
        task = asyncio.create_task(batcher.submit({"x": np.ones(1)}, 1))
        for turn in range(1, 6):
            await asyncio.sleep(0)
            if task.done():
                return turn
        task.cancel()
        return 0

    def double(feeds: dict[str, np.ndarray]) -> list[Any]:
        return [feeds["x"] * 2]

    async def busy(batcher: Batcher) -> Batcher:
        """The batcher after a run that gathered two requests, as under concurrent load."""
        await asyncio.gather(*(batcher.submit({"x": np.ones(1)}, 1) for _ in range(2)))
        assert batcher.last_run_requests == 2
        return batcher

    async def scenario() -> None:
        assert await turns_until_done(Batcher(double, 32, 0, Recorder())) in (1, 2, 3)
        assert await turns_until_done(await busy(Batcher(double, 32, 0, Recorder()))) in (1, 2, 3)
        # A delay costs an idle worker nothing: its lone request runs at once ...
        assert await turns_until_done(Batcher(double, 32, 1.0, Recorder())) in (1, 2, 3)
        # ... and makes a busy one wait for company, unless the batch is full.
        assert await turns_until_done(await busy(Batcher(double, 32, 1.0, Recorder()))) == 0
        full = await busy(Batcher(double, 2, 1.0, Recorder()))
        pair = asyncio.gather(*(full.submit({"x": np.ones(1)}, 1) for _ in range(2)))
        for _ in range(5):
            await asyncio.sleep(0)
        assert pair.done()  # two rows fill a batch of two: no wait

    run(scenario)


def test_a_graph_with_a_fixed_batch_dimension_is_not_batched(tmp_path: Path) -> None:
    value = helper.make_tensor_value_info
    graph = helper.make_graph(
        [helper.make_node("Neg", ["x"], ["y"])],
        "fixed_batch",
        [value("x", TensorProto.FLOAT, [1, 1])],
        [value("y", TensorProto.FLOAT, [1, 1])],
    )
    folder = save(tmp_path / "fixed", graph)

    async def scenario() -> None:
        async with serving(folder) as (client, counter):
            assert client._transport.app.state.batcher is None  # type: ignore[attr-defined]
            answers = await asyncio.gather(*(client.post("/predict", json=[float(i)]) for i in range(3)))
        assert [a.json() for a in answers] == [{"prediction": [-float(i)]} for i in range(3)]
        assert counter.batch_rows == [1, 1, 1]

    run(scenario)


def test_bad_batching_settings_stop_the_server_before_it_serves() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "serving"],
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO), "MODELSHIP_MAX_BATCH_DELAY_MS": "soon"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "MODELSHIP_MAX_BATCH_DELAY_MS='soon' is not a number; set it to milliseconds" in result.stderr
    assert "Traceback" not in result.stderr
