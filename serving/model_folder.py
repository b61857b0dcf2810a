"""The model-folder contract (contract A): the file names a model folder holds, and their sha256.

serving/ is the lowest layer and the only code inside the image, so the pipeline scripts import these
names from here instead of spelling them again.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

MODEL_FILE = "model.onnx"  # the graph, always under this name
CONFIG_FILE = "modelship.json"  # serving configuration (columns, outputs, tokenizer settings)
SAMPLES_FILE = "samples.json"  # requests and the answers expected, for the smoke test
TOKENIZER_FILE = "tokenizer.json"  # a Hugging Face tokenizer in front of a text model
PROVENANCE_FILE = "provenance.json"  # where the model came from; written by the fetch step
SIDECARS = (CONFIG_FILE, SAMPLES_FILE, TOKENIZER_FILE)  # optional files that travel beside the model


def file_sha256(path: Path) -> str:
    """The hex sha256 of a file, read in chunks so a big model does not fill memory."""
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()
