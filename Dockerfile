# One image for every distributed role: `podium serve --redis …` or `podium worker`.
# The Claude Code CLI comes inside the claude-agent-sdk wheel.
FROM python:3.11-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends git \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /opt/podium
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip install --no-cache-dir .
# Not root; the volumes' mount points are created owned by this user, so named
# volumes start out writable by it.
RUN useradd --create-home podium && mkdir /state /work && chown podium /state /work
USER podium
