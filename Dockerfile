FROM python:3.13-slim-bookworm
ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
RUN apt-get update \
 && apt-get install -y --no-install-recommends libpango-1.0-0 libpangoft2-1.0-0 gettext curl \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY pyproject.toml README.md ./
RUN pip install --upgrade "pip>=25.1" && pip install --group runtime
COPY . .
RUN if ls locale/*/LC_MESSAGES/*.po >/dev/null 2>&1; then \
        DEBUG=1 python manage.py compilemessages --ignore=.venv -v 0; fi \
 && SECRET_KEY=build-only python manage.py collectstatic --no-input -v 0
RUN useradd --create-home otagai && mkdir -p /app/var && chown -R otagai /app/var
USER otagai
EXPOSE 8000
CMD ["python", "-m", "uvicorn", "config.asgi:application", "--host", "0.0.0.0", "--port", "8000", "--ws", "websockets-sansio", "--ws-per-message-deflate", "false", "--proxy-headers", "--forwarded-allow-ips", "*"]
