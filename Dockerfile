# syntax=docker/dockerfile:1
# The slim Python base, pinned to an exact tag; BASE_IMAGE lets a mirror or a locally
# made base stand in (make image-test builds on a debootstrapped Debian bookworm).
ARG BASE_IMAGE=python:3.11.14-slim-bookworm

FROM ${BASE_IMAGE} AS builder
# Dependencies come from the lock alone: pinned versions, every file checked by hash.
COPY requirements.lock /tmp/requirements.lock
RUN python3 -m venv /opt/venv \
    && /opt/venv/bin/pip install --no-cache-dir --require-hashes -r /tmp/requirements.lock

FROM ${BASE_IMAGE}
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/opt/venv/bin:$PATH \
    GATEWAY_HOST=0.0.0.0 \
    GATEWAY_PORT=8000
# A fixed, unprivileged UID, so Kubernetes' runAsNonRoot can check it without a name.
RUN useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin gateway
COPY --from=builder /opt/venv /opt/venv
WORKDIR /app
COPY service ./service
USER 10001
EXPOSE 8000
# Liveness from inside the image, with the interpreter it already has (no curl), on
# whatever port GATEWAY_PORT says.
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import os, sys, urllib.request; port = os.environ.get('GATEWAY_PORT', '8000'); sys.exit(urllib.request.urlopen(f'http://127.0.0.1:{port}/healthz', timeout=2).status != 200)"]
ENTRYPOINT ["python", "-m", "service"]
