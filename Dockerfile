FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
    CXEMU_HOST=0.0.0.0 CXEMU_PORT=8080 CXEMU_STATE_FILE=/data/state.json

# `--build-arg EXTRAS=redis` adds the `cxemu[redis]` extra (`--state redis://`; compose.yaml builds it so).
ARG EXTRAS=

WORKDIR /app

# Dependencies in their own layer: it is rebuilt only when pyproject.toml changes, not on every code change.
# (A stub package lets pip resolve and install them before the source is copied.)
COPY pyproject.toml README.md ./
RUN mkdir emulator && touch emulator/__init__.py \
    && pip install ".${EXTRAS:+[$EXTRAS]}" \
    && pip uninstall --yes cxemu \
    && rm -rf emulator build *.egg-info

COPY emulator ./emulator
RUN pip install --no-deps . && rm -rf build *.egg-info \
    && useradd --create-home --uid 10001 cxemu \
    && mkdir /data && chown cxemu /data

# State survives restarts in this volume (CXEMU_STATE_FILE above; unset it for a fresh start every time).
VOLUME ["/data"]
USER cxemu
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 \
    CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8080/_emulator/health', timeout=2).status == 200 else 1)"
ENTRYPOINT ["cxemu"]
CMD ["serve"]
