# The worker image: slim, non-root, with a healthcheck. Used by docker-compose.yml;
# standalone: docker build -t icp-filing-engine . && docker run --env-file .env icp-filing-engine
# The Temporal dev-server and test-server binaries (extra `local`) are not installed.
ARG PYTHON_IMAGE=python:3.11.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
WORKDIR /src
COPY pyproject.toml README.md ./
COPY filing ./filing
COPY workflows ./workflows
COPY activities ./activities
COPY adapters ./adapters
COPY engine ./engine
COPY cli ./cli
COPY worker.py starter.py ./
RUN /opt/venv/bin/pip install .

FROM ${PYTHON_IMAGE}
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    FILINGS_DATA_DIR=/data \
    FILINGS_LOG_FORMAT=json \
    FILINGS_HTTP_HOST=0.0.0.0
RUN groupadd --system --gid 10001 filings \
    && useradd --system --uid 10001 --gid filings --home-dir /data --no-create-home --shell /usr/sbin/nologin filings \
    && mkdir /data && chown filings:filings /data
COPY --from=build /opt/venv /opt/venv
USER 10001:10001
WORKDIR /data
VOLUME ["/data"]
# 9464 Prometheus /metrics, 9465 /healthz
EXPOSE 9464 9465
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 CMD ["python", "-m", "engine.health"]
CMD ["python", "-m", "worker"]
