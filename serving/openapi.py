"""The static OpenAPI 3.1 document of the serving API, with the two verbatim /predict examples."""

from __future__ import annotations

from typing import Any

HOUSING_REQUEST = {
    "CHAS": {"0": 0},
    "RM": {"0": 6.575},
    "TAX": {"0": 296.0},
    "PTRATIO": {"0": 15.3},
    "B": {"0": 396.9},
    "LSTAT": {"0": 4.98},
}
SENTIMENT_REQUEST = ["MLOps is critical for robustness"]

ERROR = {
    "description": "The request was refused; the message names the field and what was expected.",
    "content": {
        "application/json": {
            "schema": {"type": "object", "properties": {"error": {"type": "string"}}, "required": ["error"]}
        }
    },
}
JSON_OBJECT = {"type": "object", "additionalProperties": True}
CSV_REQUEST = "CHAS,RM,TAX,PTRATIO,B,LSTAT\n0,6.575,296.0,15.3,396.9,4.98\n"
CSV_BODY = {
    "schema": {"type": "string", "description": "A header row naming the columns, then one line per row."},
    "examples": {"housing (pandas CSV)": {"value": CSV_REQUEST}},
}


def json_body(schema: dict[str, Any], examples: dict[str, Any] | None = None) -> dict[str, Any]:
    """A JSON request body with optional named examples."""
    media: dict[str, Any] = {"schema": schema}
    if examples:
        media["examples"] = {name: {"value": value} for name, value in examples.items()}
    return {"required": True, "content": {"application/json": media}}


def answer(
    description: str, examples: dict[str, Any] | None = None, schema: dict[str, Any] | None = None
) -> dict[str, Any]:
    """A JSON 200 answer with an optional schema (default: any object) and named examples."""
    media: dict[str, Any] = {"schema": schema or JSON_OBJECT}
    if examples:
        media["examples"] = {name: {"value": value} for name, value in examples.items()}
    return {"description": description, "content": {"application/json": media}}


def probe(summary: str) -> dict[str, Any]:
    """A GET operation answering JSON."""
    return {"get": {"summary": summary, "responses": {"200": answer("OK"), "503": ERROR}}}


def document(title: str, version: str, responses: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:
    """The OpenAPI document for a model called `title`, version `version`, whose /predict and
    /invocations answers have the JSON Schemas in `responses` (when known)."""
    responses = responses or {}
    refused = {"400": ERROR, "413": ERROR, "415": ERROR, "503": ERROR}
    predict_body = json_body(
        {"oneOf": [{"type": "object"}, {"type": "array"}]},
        {"housing (pandas columns)": HOUSING_REQUEST, "sentiment (list of strings)": SENTIMENT_REQUEST},
    )
    predict_body["content"]["text/csv"] = CSV_BODY
    return {
        "openapi": "3.1.0",
        "info": {"title": f"modelship: {title}", "version": version},
        "paths": {
            "/predict": {
                "post": {
                    "summary": "Predict: pandas columns/split/records, MLflow forms, strings or rows.",
                    "requestBody": predict_body,
                    "responses": {
                        "200": answer(
                            "One value per row in each response field; a model with several outputs and "
                            'no mapping answers {"prediction": {"<output>": [...]}}.',
                            {"housing": {"prediction": [20.35]}, "sentiment": {"positive": True}},
                            responses.get("/predict"),
                        ),
                        **refused,
                    },
                }
            },
            "/invocations": {
                "post": {
                    "summary": 'MLflow-compatible scoring: {"predictions": [...]}.',
                    "requestBody": predict_body,
                    "responses": {
                        "200": answer("MLflow predictions.", schema=responses.get("/invocations")),
                        **refused,
                    },
                }
            },
            "/v2/models/{name}/infer": {
                "post": {
                    "summary": "Open Inference Protocol inference.",
                    "parameters": [
                        {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}
                    ],
                    "requestBody": json_body(
                        JSON_OBJECT,
                        {
                            "tensor": {
                                "inputs": [
                                    {"name": "X", "shape": [1, 3], "datatype": "FP32", "data": [1, 2, 3]}
                                ]
                            }
                        },
                    ),
                    "responses": {"200": answer("Output tensors."), "404": ERROR, **refused},
                }
            },
            "/v2/models/{name}": {
                "get": {
                    "summary": "Open Inference Protocol model metadata.",
                    "parameters": [
                        {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}
                    ],
                    "responses": {"200": answer("Model metadata."), "404": ERROR},
                }
            },
            "/health": probe("Alive: the process answers."),
            "/ready": probe("Ready: the model is loaded and warmed up (503 before, and while draining)."),
            "/v2/health/live": probe("Open Inference Protocol liveness."),
            "/v2/health/ready": probe("Open Inference Protocol readiness."),
            "/metadata": probe("Model name, version, sha256, graph inputs and outputs, columns."),
            "/metrics": {
                "get": {"summary": "Prometheus metrics.", "responses": {"200": {"description": "text"}}}
            },
            "/openapi.json": {
                "get": {"summary": "This document.", "responses": {"200": answer("OpenAPI 3.1")}}
            },
        },
    }
