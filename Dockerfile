# syntax=docker/dockerfile:1
# Build stage: compile wheels for every pinned runtime dependency.
FROM python:3.11-slim AS build
WORKDIR /build
COPY requirements.txt .
RUN pip wheel --no-cache-dir --wheel-dir /wheels -r requirements.txt

# Docs stage: the API reference served at /api/v1/docs (`make docs`: Redoc, one offline HTML file).
FROM node:22-slim AS docs
WORKDIR /build
COPY redocly.yaml ./
COPY openapi openapi
RUN REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true npx --yes @redocly/cli@2.77.0 \
      build-docs --inlineBundle --output=build/docs/index.html openapi/openapi.yaml

# Runtime stage: no compilers, a non-root user, only what serving needs.
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 APP_ENV=production PORT=3001 SHUTDOWN_DRAIN_SECONDS=5
RUN useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin switchboard
WORKDIR /app
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir --no-index --find-links /wheels /wheels/* && rm -rf /wheels
COPY --chown=switchboard:switchboard alembic.ini app.py gunicorn.conf.py worker.py ./
COPY --chown=switchboard:switchboard core core
COPY --chown=switchboard:switchboard web web
COPY --chown=switchboard:switchboard services services
COPY --chown=switchboard:switchboard handlers handlers
COPY --chown=switchboard:switchboard models models
COPY --chown=switchboard:switchboard schemas schemas
COPY --chown=switchboard:switchboard connectors connectors
COPY --chown=switchboard:switchboard cli cli
COPY --chown=switchboard:switchboard migrations migrations
COPY --chown=switchboard:switchboard openapi openapi
COPY --from=docs --chown=switchboard:switchboard /build/build/docs build/docs
COPY --chown=switchboard:switchboard data data
COPY --chown=switchboard:switchboard scripts/docker-entrypoint scripts/wait_ready.py scripts/
USER switchboard
EXPOSE 3001
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD python scripts/wait_ready.py "http://127.0.0.1:${PORT}/health-check/readiness" 2
ENTRYPOINT ["/app/scripts/docker-entrypoint"]
CMD ["gunicorn", "-c", "gunicorn.conf.py"]
