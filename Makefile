# Otagai — two commands: `make run` and `make test`. Everything else is set up on the way.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
HOST ?= 127.0.0.1
PORT ?= 8000
# The development server runs with DEBUG on and a development-only secret key.
DEV_ENV := DEBUG=1
# Tests: DEBUG settings (static files from the source tree); Django switches DEBUG off itself.
TEST_ENV := DEBUG=1 SECRET_KEY=test-only-secret-key-not-for-production

.PHONY: help run test check sysdeps test-sysdeps venv venv-dev messages migrate seed clean compose-check backup restore

help:
	@echo "make run    - set up and serve Otagai with demo data at http://$(HOST):$(PORT)"
	@echo "make test   - the whole test suite (PostgreSQL/Redis when DATABASE_URL/REDIS_URL are set)"
	@echo "make check  - ruff, mypy, migrations check, docker-compose validation"

$(VENV)/.python:
	@PYBIN=$$(scripts/find-python) && echo "Using $$PYBIN" && "$$PYBIN" -m venv $(VENV)
	@$(PIP) install -q --upgrade "pip>=25.1"
	@touch $@

$(VENV)/.runtime: pyproject.toml $(VENV)/.python
	$(PIP) install -q --group runtime
	@touch $@

$(VENV)/.dev: pyproject.toml $(VENV)/.python
	$(PIP) install -q --group dev
	@touch $@ $(VENV)/.runtime

venv: sysdeps $(VENV)/.runtime
venv-dev: sysdeps $(VENV)/.dev

# WeasyPrint needs Pango; compilemessages needs gettext. (ldconfig is in /sbin, which is not
# on a normal user's PATH on Debian.)
sysdeps:
	@scripts/ensure-system-packages \
		"{ ldconfig -p || /sbin/ldconfig -p; } 2>/dev/null | grep -q libpango-1.0 && command -v msgfmt" \
		libpango-1.0-0 libpangoft2-1.0-0 gettext

# Browser tests: Debian's chromium and a Japanese font; axe-core from npm; pdftotext for PDFs.
test-sysdeps: sysdeps
	@scripts/ensure-system-packages "command -v chromium || command -v chromium-browser" chromium
	@scripts/ensure-system-packages "fc-list :lang=ja | grep -q ." fontconfig fonts-ipaexfont-gothic
	@scripts/ensure-system-packages "command -v npm" npm
	@scripts/ensure-system-packages "command -v pdftotext && command -v pdffonts" poppler-utils
	@scripts/ensure-system-packages "command -v pgbouncer || [ -x /usr/sbin/pgbouncer ]" pgbouncer
	@[ -f node_modules/axe-core/axe.min.js ] || npm ci --no-audit --no-fund --silent

# Compile the ja/en catalogues under locale/ (the .mo files are committed too).
messages: venv
	@if ls locale/*/LC_MESSAGES/*.po >/dev/null 2>&1; then \
		$(DEV_ENV) $(PY) manage.py compilemessages --ignore=.venv --ignore=node_modules -v 0; \
	else echo "No message catalogues under locale/ yet: pages show the English source text."; fi

migrate: venv
	$(DEV_ENV) $(PY) manage.py migrate --no-input -v 0

seed: migrate
	$(DEV_ENV) $(PY) manage.py seed_demo

run: venv messages seed
	@echo "Otagai is at http://$(HOST):$(PORT)  (demo users above; stop with Ctrl-C)"
	$(DEV_ENV) $(PY) -m uvicorn config.asgi:application --host $(HOST) --port $(PORT) \
		--ws websockets-sansio --ws-per-message-deflate false --lifespan off

test: venv-dev test-sysdeps messages
	$(TEST_ENV) $(PY) -m pytest $(PYTEST_ARGS)

# PostgreSQL backups (docs/deploy.md): DATABASE_URL must name a PostgreSQL database.
backup:
	@scripts/pg-backup

restore:
	@scripts/pg-restore

# docker-compose.yml with placeholder secrets; the nginx configuration with `nginx -t` when
# nginx is installed (scripts/nginx-check says so when it is not).
compose-check:
	@scripts/ensure-system-packages "command -v docker-compose" docker-compose
	@SECRET_KEY=validate-only POSTGRES_PASSWORD=validate-only APP_DB_PASSWORD=validate-only \
		REDIS_PASSWORD=validate-only ALLOWED_HOSTS=otagai.example.jp \
		docker-compose -f docker-compose.yml config -q
	@echo "docker-compose.yml: valid"
	@sh -n deploy/postgres/initdb/10-app-role.sh
	@scripts/nginx-check deploy/nginx/otagai.conf

check: venv-dev
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/ruff check .
	$(TEST_ENV) $(VENV)/bin/mypy
	$(TEST_ENV) $(PY) manage.py makemigrations --check --dry-run
	$(TEST_ENV) $(PY) manage.py check
	@$(MAKE) --no-print-directory compose-check

clean:
	rm -rf $(VENV) node_modules var/staticfiles
