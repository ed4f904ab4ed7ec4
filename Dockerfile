# The engine's image: the worker (default command), the filing service (`python -m service`),
# the codec server (`python -m engine.codec_server`) and the `filings` tool. Slim, non-root,
# healthchecked, and reproducible: dependencies are exactly requirements.lock, every file
# checked against its hash, wheels only; the project is installed without resolving anything.
#
#   docker build --build-arg BUILD_ID=$(git describe --always --dirty) -t icp-filing-engine:<id> .
#
# BUILD_ID is the Worker Versioning build id: baked in as FILINGS_BUILD_ID and as a label, so
# an image and the id its workers poll with cannot disagree. docker-compose.yml passes it.
# The Temporal dev-server and test-server binaries (extra `local`) are not installed.
ARG PYTHON_IMAGE=python:3.11.16-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
WORKDIR /src
# Dependencies first: this layer is rebuilt only when the lock changes (deploy/refresh-lock.sh).
COPY requirements.lock ./
RUN /opt/venv/bin/pip install --require-hashes --only-binary=:all: --no-deps -r requirements.lock
COPY pyproject.toml README.md ./
COPY filing ./filing
COPY workflows ./workflows
COPY activities ./activities
COPY adapters ./adapters
COPY engine ./engine
COPY cli ./cli
COPY registry ./registry
COPY service ./service
COPY worker.py starter.py ./
# The project alone: its dependencies and its build backend (setuptools) came from the lock.
RUN /opt/venv/bin/pip install --no-deps --no-build-isolation --no-index .

FROM ${PYTHON_IMAGE}
ARG BUILD_ID
RUN test -n "${BUILD_ID}" \
    || { echo "BUILD_ID is required: docker build --build-arg BUILD_ID=<id> (the Worker Versioning build id)" >&2; exit 1; }
LABEL org.opencontainers.image.title="icp-filing-engine" \
      org.opencontainers.image.version="${BUILD_ID}" \
      io.temporal.worker-deployment.build-id="${BUILD_ID}"
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    FILINGS_BUILD_ID=${BUILD_ID} \
    FILINGS_DATA_DIR=/data \
    FILINGS_LOG_FORMAT=json \
    FILINGS_HTTP_HOST=0.0.0.0
RUN groupadd --system --gid 10001 filings \
    && useradd --system --uid 10001 --gid filings --home-dir /data --no-create-home --shell /usr/sbin/nologin filings \
    && mkdir /data && chown filings:filings /data && chmod 0700 /data
COPY --from=build /opt/venv /opt/venv
# No entrypoint script: the command is PID 1, and the settings read their secrets from the
# files under /run/secrets themselves (FILINGS_SECRETS_DIR), so no secret is in the environment.
USER 10001:10001
WORKDIR /data
VOLUME ["/data"]
# 9464 Prometheus /metrics, 9465 /livez and /readyz (worker); 8400 the filing service; 8081 the codec server
EXPOSE 9464 9465 8400 8081
STOPSIGNAL SIGTERM
# The worker's readiness, asked with bash's /dev/tcp: no Python started per probe (docs/compose.md).
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 CMD ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/${FILINGS_HEALTH_PORT:-9465} && printf 'GET /readyz HTTP/1.1\\r\\nHost: localhost\\r\\nConnection: close\\r\\n\\r\\n' >&3 && read -r _ status _ <&3 && [ \"$status\" = 200 ]"]
CMD ["python", "-m", "worker"]
