FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    CXEMU_HOST=0.0.0.0 CXEMU_PORT=8080

WORKDIR /app
COPY pyproject.toml README.md ./
COPY emulator ./emulator
RUN pip install --disable-pip-version-check . \
    && useradd --create-home --uid 10001 cxemu

USER cxemu
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 \
    CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8080/_emulator/health', timeout=2).status == 200 else 1)"
ENTRYPOINT ["cxemu"]
CMD ["serve"]
