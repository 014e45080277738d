# syntax=docker/dockerfile:1
# The worker image: `python worker.py` with the project installed from
# pyproject.toml (its dependencies only: no test extras), as a non-root user.
#   docker build -t deepagents-temporal .
#   docker run --env-file worker.env deepagents-temporal    # TEMPORAL_ADDRESS, S3_*, DATABASE_URL, OPENAI_*
# docker-compose.yml builds it and also runs the starter and the demo model from it.

ARG PYTHON_IMAGE=python:3.12-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
WORKDIR /src
# pyproject.toml names README.md as the package's readme, so it is part of the build.
COPY pyproject.toml README.md worker.py starter.py ./
COPY deepagents_temporal/ deepagents_temporal/
COPY workflows/ workflows/
COPY activities/ activities/
COPY cli/ cli/
COPY scripted_llm/ scripted_llm/
# A regular (not editable) install: the image needs no source tree.
RUN /opt/venv/bin/pip install .

FROM ${PYTHON_IMAGE}
RUN useradd --system --uid 10001 --create-home --home-dir /home/deepagents deepagents
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1
USER 10001
WORKDIR /home/deepagents
# Healthy when the Temporal server saw this container's worker poll its task
# queue in the last 75 s (cli/healthcheck.py); a worker that polls other task
# queues names them: CMD ["python", "-m", "cli.healthcheck", "QUEUE", ...].
HEALTHCHECK --interval=30s --timeout=30s --start-period=30s --retries=3 CMD ["python", "-m", "cli.healthcheck"]
# worker.py, installed as the top-level module `worker`; it stops cleanly on SIGTERM.
ENTRYPOINT ["python", "-m", "worker"]
