# The modelship serving image: one ONNX model behind an ASGI server.
# Build context: this Dockerfile, serving/, requirements/serving.txt (a hashed lock), a wheelhouse
# (scripts/wheelhouse.py) and the model folder (model.onnx, its external data, the sidecars: the files
# provenance.json lists). The model comes last, so a new model rebuilds only the final layer.
ARG BASE_IMAGE=python:3.11.14-slim-bookworm

FROM ${BASE_IMAGE} AS dependencies
ARG WHEELHOUSE=.wheelhouse
COPY requirements/serving.txt /tmp/requirements.txt
COPY ${WHEELHOUSE}/ /tmp/wheels/
# pip runs from its own wheel (no pip in a minimal base), offline, from the host-made wheelhouse,
# and installs only wheels whose sha256 the lock lists (--require-hashes);
# then tests, headers and onnxruntime's unused training/tool parts are dropped.
# The bytecode is compiled afterwards with hash-based .pyc files, not by pip with timestamps: the
# same wheels then give byte-identical files, so on an engine with an empty cache the final stage's
# COPY --from matches the layers of the image pushed last time (build --cache-from) and only the
# model layer is new.
RUN set -eu; \
    set -- /tmp/wheels/pip-*.whl; \
    python3 "$1/pip" install --no-index --no-deps --require-hashes --find-links /tmp/wheels \
        --disable-pip-version-check --root-user-action ignore --no-compile --target /opt/modelship/site \
        -r /tmp/requirements.txt
WORKDIR /opt/modelship/site
RUN rm -rf bin numpy/_core/include numpy/_core/tests numpy/f2py numpy/_pyinstaller \
        onnxruntime/tools onnxruntime/transformers onnxruntime/quantization onnxruntime/datasets \
    && find . -type d -name tests -prune -exec rm -rf {} + \
    && python3 -m compileall -q -j 0 --invalidation-mode unchecked-hash /opt/modelship/site

FROM ${BASE_IMAGE}
LABEL org.opencontainers.image.title="modelship-serving" \
      org.opencontainers.image.description="An ONNX model served over HTTP by modelship (onnxruntime, Starlette, uvicorn)" \
      org.opencontainers.image.licenses="MIT"
ENV PYTHONPATH=/opt/modelship/app:/opt/modelship/site \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    LANG=C.UTF-8 \
    HOME=/tmp \
    MODELSHIP_MODEL_DIR=/opt/modelship/model \
    MODELSHIP_PORT=8080
COPY --from=dependencies /opt/modelship/site /opt/modelship/site
COPY serving/ /opt/modelship/app/serving/
# Compiled once here: the non-root user cannot write .pyc files, so each start would recompile.
RUN ["python3", "-m", "compileall", "-q", "/opt/modelship/app"]
WORKDIR /opt/modelship
# No user database in a minimal base: a fixed, unprivileged uid/gid that owns nothing in the image.
USER 10001:10001
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
    CMD ["python3", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('MODELSHIP_PORT', '8080') + '/ready', timeout=2)"]
ENTRYPOINT ["python3", "-m", "serving"]

ARG MODEL_DIR=model
ARG MODEL_NAME=model
ARG MODEL_VERSION=0
ARG MODEL_SHA256=""
LABEL ai.modelship.model.name="${MODEL_NAME}" \
      ai.modelship.model.version="${MODEL_VERSION}" \
      ai.modelship.model.sha256="${MODEL_SHA256}"
ENV MODELSHIP_MODEL_NAME=${MODEL_NAME} \
    MODELSHIP_MODEL_VERSION=${MODEL_VERSION} \
    MODELSHIP_MODEL_SHA256=${MODEL_SHA256}
COPY ${MODEL_DIR}/ /opt/modelship/model/
