"""The textbook way: Flask on gunicorn, the request read into a pandas DataFrame, {"prediction": [...]} out.

Run: BENCH_MODEL=model.onnx gunicorn -w 2 bench.apps.flask_app:app
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from flask import Flask, jsonify, request

from bench.apps.onnx_feed import open_model

app = Flask(__name__)
session, inputs, output = open_model()


@app.post("/predict")
def predict() -> Any:
    """Score a pandas `columns` JSON body."""
    frame = pd.DataFrame(request.json)
    feed = {graph_input.name: graph_input.array(frame[graph_input.name].tolist()) for graph_input in inputs}
    prediction = session.run([output], feed)[0]
    return jsonify({"prediction": prediction.ravel().tolist()})
