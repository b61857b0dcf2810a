"""The seed's way for a transformer: Flask on gunicorn, the texts tokenized and run through onnxruntime
per request, {"positive": ...} out.

Run: BENCH_MODEL=folder/model.onnx gunicorn -w 2 bench.apps.flask_text_app:app (tokenizer.json beside it)
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
from flask import Flask, jsonify, request
from tokenizers import Tokenizer

from bench.apps.onnx_feed import open_model

app = Flask(__name__)
session, _, output = open_model()
tokenizer = Tokenizer.from_file(str(Path(os.environ["BENCH_MODEL"]).with_name("tokenizer.json")))
tokenizer.enable_truncation(256)
tokenizer.enable_padding(pad_id=tokenizer.token_to_id("[PAD]"), pad_token="[PAD]")
NAMES = [graph_input.name for graph_input in session.get_inputs()]


@app.post("/predict")
def predict() -> Any:
    """Classify a JSON list of texts."""
    encodings = tokenizer.encode_batch(request.json)
    fields = {"input_ids": "ids", "attention_mask": "attention_mask", "token_type_ids": "type_ids"}
    feed = {name: np.asarray([getattr(e, fields[name]) for e in encodings], dtype=np.int64) for name in NAMES}
    positive = (np.argmax(session.run([output], feed)[0], axis=-1) == 1).tolist()
    return jsonify({"positive": positive[0] if len(positive) == 1 else positive})
