# digestbot: feeds on :8080, digests in /data/seeds, state in /data/state.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
COPY pyproject.toml README.md ./
COPY bot ./bot
RUN pip install --no-cache-dir . \
    && groupadd --system --gid 10001 digestbot \
    && useradd --system --create-home --uid 10001 --gid 10001 digestbot \
    && mkdir -p /data/seeds /data/feeds /data/state \
    && chown -R digestbot:digestbot /data
COPY --chown=digestbot:digestbot config ./config
COPY --chown=digestbot:digestbot seeds /data/seeds

ENV DIGESTBOT_DIGESTS_DIR=/data/seeds \
    DIGESTBOT_FEEDS_DIR=/data/feeds \
    DIGESTBOT_DATABASE_URL=sqlite:////data/state/digestbot.db \
    DIGESTBOT_HTTP__HOST=0.0.0.0 \
    DIGESTBOT_HTTP__PORT=8080

USER 10001:10001
VOLUME ["/data/seeds", "/data/feeds", "/data/state"]
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=4).status == 200 else 1)"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["digestbot"]
CMD ["run"]
