# SpeechSense gRPC server image: the `server` extra only (ONNX Runtime, no TensorFlow), non-root, bundled model.
#
#   docker build -t speechsense-server .
#   docker run -p 50051:50051 -p 9100:9100 -p 8000:8000 speechsense-server     (page at http://localhost:8000/)
#
# BASE_IMAGE must provide Python >= 3.11 with the venv module (python:3.11-slim does; so does Debian bookworm
# with python3-venv). Both stages use it, so the virtual environment copied between them finds the same Python.
ARG BASE_IMAGE=python:3.11-slim

# ---- build: a wheel of the repo (with models/ as it is now), then a virtual environment with the server extra --
FROM ${BASE_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN python3 -m venv /opt/speechsense
WORKDIR /src
COPY pyproject.toml README.md ./
COPY speechsense/ speechsense/
COPY server/ server/
COPY client/ client/
COPY training/ training/
COPY export/ export/
COPY models/ models/
# The wheel carries every speechsense.* package (they are small); only the server extra's dependencies are installed.
# The checks run from / so that they import the installed package, not the sources in /src.
RUN /opt/speechsense/bin/pip wheel --no-deps --wheel-dir /wheels . \
 && /opt/speechsense/bin/pip install "$(ls /wheels/speechsense-*.whl)[server]" \
 && cd / \
 && /opt/speechsense/bin/python -c "import onnxruntime, grpc_health, speechsense.server.main, speechsense.server.web, speechsense.models" \
 && test -f "$(/opt/speechsense/bin/python -c 'import speechsense.server.web as w; print(w.STATIC)')/index.html" \
 && ! /opt/speechsense/bin/python -c "import tensorflow" 2>/dev/null

# ---- runtime ----------------------------------------------------------------------------------------------------
FROM ${BASE_IMAGE}
COPY --from=build /opt/speechsense /opt/speechsense
# A numeric, non-root user: no useradd needed in minimal bases, and Kubernetes' runAsNonRoot can verify it.
USER 10001:10001
# HOME and the numba/matplotlib caches point at /tmp because site-packages is read-only for this user. The server
# listens on [::] (its default: IPv4 and IPv6).
ENV PATH=/opt/speechsense/bin:$PATH \
    HOME=/tmp \
    NUMBA_CACHE_DIR=/tmp/numba-cache \
    MPLCONFIGDIR=/tmp/matplotlib \
    PYTHONUNBUFFERED=1 \
    SPEECHSENSE_PORT=50051 \
    SPEECHSENSE_METRICS_PORT=9100 \
    SPEECHSENSE_WEB_PORT=8000
EXPOSE 50051 9100 8000
# The gRPC health service says SERVING only once the model is loaded and warmed up; start-period covers that.
HEALTHCHECK --interval=10s --timeout=5s --start-period=60s --retries=3 \
    CMD python -m speechsense.server.probe --address "127.0.0.1:${SPEECHSENSE_PORT}" || exit 1
# SIGTERM (docker stop) triggers the server's graceful shutdown; give it more than SPEECHSENSE_GRACE_SECONDS.
STOPSIGNAL SIGTERM
ENTRYPOINT ["speechsense-server"]
