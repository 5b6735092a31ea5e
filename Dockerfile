FROM python:3.11-slim
WORKDIR /app
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
COPY pyproject.toml README.md ./
COPY dispatcher ./dispatcher
COPY providers ./providers
COPY config ./config
RUN pip install --no-cache-dir . && useradd --system --uid 10001 smsd
USER smsd
ENTRYPOINT ["smsdispatch"]
