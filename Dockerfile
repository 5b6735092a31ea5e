FROM python:3.11-slim
WORKDIR /app
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
# Each container has its own temp directory, so worker containers of one host cannot see one
# another's CPU locks: placement is the orchestrator's (a cpuset, a CPU manager) here.
ENV SMSD_WORKER__PIN_CPU=false
COPY pyproject.toml README.md ./
COPY dispatcher ./dispatcher
COPY providers ./providers
COPY config ./config
RUN pip install --no-cache-dir . && useradd --system --uid 10001 smsd
USER smsd
ENTRYPOINT ["smsdispatch"]
