"""Otagai settings: one module, every deployment-specific value read from the environment."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent
# Run-time files (the default SQLite database, collected static files) live under var/.
(BASE_DIR / "var" / "staticfiles").mkdir(parents=True, exist_ok=True)


def env(name: str, default: str = "") -> str:
    # An empty variable (`DATABASE_URL=`) means "use the default", never an error.
    return os.environ.get(name, "").strip() or default


def env_bool(name: str, default: bool = False) -> bool:
    value = env(name)
    if not value:
        return default
    return value.lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in env(name, default).split(",") if item.strip()]


DEBUG = env_bool("DEBUG", default=False)

_DEV_SECRET_KEY = "django-insecure-otagai-development-only-never-use-in-production"  # noqa: S105
SECRET_KEY = env("SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY is not set. Set the SECRET_KEY environment variable to a long random "
            "string (for example: python -c 'import secrets; print(secrets.token_urlsafe(50))'), "
            "or set DEBUG=1 for local development only."
        )
    SECRET_KEY = _DEV_SECRET_KEY

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost" if DEBUG else "")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")
SITE_URL = env("SITE_URL", "http://127.0.0.1:8000")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "channels",
    "guardian",
    "axes",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "permissions",
    "casework",
    "conferences",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    # PostgreSQL: one transaction per request, its reader set for row-level security.
    "permissions.rls.ReaderMiddleware",
    "config.twofactor.RequireTwoFactorMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    # Last, as django-axes requires: turns a lock-out into the page config.security.lockout.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.i18n",
            ],
        },
    },
]

# Database: DATABASE_URL, or a SQLite file under the project (created on first run).
_SQLITE_DEFAULT = f"sqlite:///{BASE_DIR / 'var' / 'otagai.sqlite3'}"
DATABASES = {"default": dj_database_url.parse(env("DATABASE_URL", _SQLITE_DEFAULT), conn_max_age=0)}
# PostgreSQL: Django's connection pool (psycopg-pool), one per process. A request takes a
# connection on its first query and gives it back when it ends (conn_max_age=0 closes it,
# which with a pool returns it); opening a new one costs ~10 ms of the request, more under
# row-level security (docs/performance.md, "Sixth round: a connection pool"). What a process
# holds at most: one per request in flight, plus one kept by each worker thread of the live
# page (conferences/consumers/db.py: the event loop's default executor, min(32, CPUs + 4)
# threads), so the default leaves 10 for requests beyond those. A request that finds the
# pool empty waits DATABASE_POOL_TIMEOUT seconds, then fails with an error (a 500), never
# hangs. DATABASE_POOL_MAX_SIZE=0: no pool, a new connection per request. docs/deploy.md.
_LIVE_THREADS = min(32, (getattr(os, "process_cpu_count", os.cpu_count)() or 1) + 4)
DATABASE_POOL_MAX_SIZE = int(env("DATABASE_POOL_MAX_SIZE", str(_LIVE_THREADS + 10)))
DATABASE_POOL_TIMEOUT = float(env("DATABASE_POOL_TIMEOUT", "10"))
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql" and DATABASE_POOL_MAX_SIZE:
    # A connection is checked (one empty round trip) as it leaves the pool, so that one
    # broken while idle (a database restart) is replaced instead of failing a request.
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": min(2, DATABASE_POOL_MAX_SIZE),
        "max_size": DATABASE_POOL_MAX_SIZE,
        "timeout": DATABASE_POOL_TIMEOUT,
        "name": "otagai",
    }
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # An explicit file name so that a separate server process (browser tests) sees the
    # test database; the in-memory default would be private to the test process.
    DATABASES["default"]["TEST"] = {"NAME": str(BASE_DIR / "var" / "test_otagai.sqlite3")}
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        # FULL: a commit is on disk before it returns, as PostgreSQL's (synchronous_commit
        # stays on): an operation is acknowledged after its commit, and must survive a power
        # cut. NORMAL, in WAL mode, may lose the last commits to one.
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;",
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
# Row-level security (docs/permissions.md): the role the web processes connect as, granted
# its rights by the migrations when it exists; and a role to `SET ROLE` to on every new
# connection (empty: none), for a deployment whose login role is not the application role.
DATABASE_APP_ROLE = env("DATABASE_APP_ROLE", "otagai_app")
DATABASE_SET_ROLE = env("DATABASE_SET_ROLE", "")

# Channel layer: Redis exactly when REDIS_URL (one server) or REDIS_SENTINELS (a replicated
# Redis found through Sentinel, docs/deploy.md) is set; otherwise in-memory (one process).
REDIS_URL = env("REDIS_URL")


def _host_port(item: str, default_port: int) -> tuple[str, int]:
    host, _, port = item.rpartition(":")
    return (host, int(port)) if host else (item, default_port)


REDIS_SENTINELS = [_host_port(item, 26379) for item in env_list("REDIS_SENTINELS")]
# redis-py 8 reads with a 5-s socket timeout by default, the same as the layer's blocking
# BZPOPMIN: an idle channel then raises TimeoutError and the consumer dies, dropping the socket
# (redis/redis-py#4091). The timeout must exceed the layer's 5-s wait.
REDIS_SOCKET_TIMEOUT = 15
# redis-py 8 caps a connection pool at 100 connections and then raises MaxConnectionsError
# instead of waiting: 200 live sockets of one process broadcasting at once exceed it (measured
# with benchmarks/live_fanout.py, 20 conferences x 10). Connections are opened only as needed.
REDIS_MAX_CONNECTIONS = int(env("REDIS_MAX_CONNECTIONS", "2000"))
# Messages a process may have waiting in Redis (all its sockets share one queue there): above
# it channels-redis drops new ones silently (the live page then recovers them from the log, late).
# The default, 100, is 3 operations of a 30-person conference; messages expire after 60 s.
CHANNEL_CAPACITY = int(env("CHANNEL_CAPACITY", "1000"))
_redis_hosts: list[Any] = []
if REDIS_SENTINELS:
    _sentinel_password = env("REDIS_SENTINEL_PASSWORD")
    _redis_hosts = [
        {
            "sentinels": REDIS_SENTINELS,
            "master_name": env("REDIS_SENTINEL_MASTER", "mymaster"),
            "password": env("REDIS_PASSWORD") or None,
            "db": int(env("REDIS_DB", "0")),
            "sentinel_kwargs": {"password": _sentinel_password} if _sentinel_password else None,
            "socket_timeout": REDIS_SOCKET_TIMEOUT,
            "max_connections": REDIS_MAX_CONNECTIONS,
        }
    ]
elif REDIS_URL:
    _redis_hosts = [
        {
            "address": REDIS_URL,
            "socket_timeout": REDIS_SOCKET_TIMEOUT,
            "max_connections": REDIS_MAX_CONNECTIONS,
        }
    ]
if _redis_hosts:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "config.layers.RedisChannelLayer",
            "CONFIG": {
                "hosts": _redis_hosts,
                "prefix": env("CHANNEL_PREFIX", "otagai"),
                "capacity": CHANNEL_CAPACITY,
            },
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

AUTHENTICATION_BACKENDS = [
    # First, so that a locked-out username or address never reaches the password check.
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
    "guardian.backends.ObjectPermissionBackend",
]
ANONYMOUS_USER_NAME = None  # guardian: no anonymous user object; anonymous reads nothing.
GUARDIAN_RAISE_403 = False

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "dashboard"
LOGOUT_REDIRECT_URL = "login"

# Language: Japanese first, English second; a person switches with the set_language view.
LANGUAGE_CODE = "ja"
LANGUAGES = [("ja", _("Japanese")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "Asia/Tokyo"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = BASE_DIR / "var" / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = DEBUG

# Mail (Django 6.1 MAILERS): SMTP when EMAIL_HOST is set, otherwise the console, so that
# development and the demo never try to reach a mail server. The EMAIL_* names survive only
# as environment variables: Django refuses the deprecated settings next to MAILERS.
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", "otagai@localhost")
SERVER_EMAIL = env("SERVER_EMAIL", DEFAULT_FROM_EMAIL)
_smtp_host = env("EMAIL_HOST")
if _smtp_host:
    _smtp_ssl = env_bool("EMAIL_USE_SSL")
    _smtp_options: dict[str, object] = {
        "host": _smtp_host,
        "username": env("EMAIL_HOST_USER") or None,
        "password": env("EMAIL_HOST_PASSWORD") or None,
        "use_ssl": _smtp_ssl,
        "use_tls": env_bool("EMAIL_USE_TLS", default=not _smtp_ssl),
        "timeout": int(env("EMAIL_TIMEOUT", "10")),
    }
    if env("EMAIL_PORT"):  # otherwise the port that goes with the security: 465, 587 or 25
        _smtp_options["port"] = int(env("EMAIL_PORT"))
    MAILERS = {
        "default": {
            "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "OPTIONS": _smtp_options,
        }
    }
else:
    MAILERS = {"default": {"BACKEND": "django.core.mail.backends.console.EmailBackend"}}

# --- Live presence ---------------------------------------------------------------------------
# Every server process holding live sockets beats every PRESENCE_HEARTBEAT_SECONDS; the
# presence of a process not seen for PRESENCE_STALE_SECONDS (killed, crashed, cut off from the
# database) is no longer shown, and the live processes sweep it and tell the pages, so a
# crash's people leave every page within PRESENCE_STALE_SECONDS + PRESENCE_HEARTBEAT_SECONDS
# (docs/live-protocol.md, "Presence").
PRESENCE_HEARTBEAT_SECONDS = float(env("PRESENCE_HEARTBEAT_SECONDS", "5"))
PRESENCE_STALE_SECONDS = float(env("PRESENCE_STALE_SECONDS", "15"))
if PRESENCE_STALE_SECONDS < 2 * PRESENCE_HEARTBEAT_SECONDS:
    raise ImproperlyConfigured(
        "PRESENCE_STALE_SECONDS must be at least twice PRESENCE_HEARTBEAT_SECONDS"
    )

# --- Sessions -------------------------------------------------------------------------------
# A session ends after SESSION_IDLE_MINUTES without a request (default 30): a request
# renews the server-side expiry (at most once a minute, config.twofactor), and the cookie
# itself lives only as long as the browser.
# A password change ends every other session of the person (Django's session hash), and the
# WebSocket consumers' sessions are checked at least every SESSION_RECHECK_SECONDS, busy or
# silent (one sweep per process for all its sockets), and at once after a log-out or password
# change (config.session_guard).
SESSION_IDLE_MINUTES = int(env("SESSION_IDLE_MINUTES", "30"))
SESSION_COOKIE_AGE = SESSION_IDLE_MINUTES * 60
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
SESSION_RECHECK_SECONDS = int(env("SESSION_RECHECK_SECONDS", "10"))
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
# Secure cookies, HTTPS redirect and HSTS are on whenever DEBUG is off; SECURE_COOKIES=0 /
# SECURE_SSL_REDIRECT=0 / SECURE_HSTS_SECONDS=0 switch them off for a plain-HTTP test rig.
SESSION_COOKIE_SECURE = env_bool("SECURE_COOKIES", default=not DEBUG)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
CSRF_COOKIE_HTTPONLY = True  # forms carry the token; no script reads the cookie
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", default=not DEBUG)
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]  # health checks probe plain HTTP from inside
# BEHIND_PROXY=1 when a reverse proxy terminates TLS and sets X-Forwarded-Proto (and nothing
# else can reach the web processes directly).
if env_bool("BEHIND_PROXY"):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_HSTS_SECONDS = int(env("SECURE_HSTS_SECONDS", "0" if DEBUG else str(365 * 24 * 3600)))
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
# The preload flag only asks; the site enters browsers' lists when someone submits it.
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", default=not DEBUG)

# --- Content-Security-Policy (django-csp) ----------------------------------------------------
# Scripts, styles, images and sockets only from this origin; no inline script or style
# attribute anywhere (QR codes are inline SVG elements, which CSP does not restrict).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}

# --- Login throttling (django-axes) ----------------------------------------------------------
# After AXES_FAILURE_LIMIT failures for one username from one address, that pair is locked
# for AXES_COOLOFF_MINUTES; the page says so in the person's language.
AXES_FAILURE_LIMIT = int(env("AXES_FAILURE_LIMIT", "5"))
AXES_COOLOFF_TIME = int(env("AXES_COOLOFF_MINUTES", "15")) / 60  # hours
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "config.security.lockout"
AXES_IPWARE_PROXY_COUNT = int(env("AXES_PROXY_COUNT", "0" if DEBUG else "1"))
AXES_VERBOSE = False

# --- Two-factor authentication (django-otp, TOTP) --------------------------------------------
# Coordinators, agency administrators and staff must verify a TOTP device after logging in;
# everyone else may enrol one from their account page.
OTP_TOTP_ISSUER = env("OTP_TOTP_ISSUER", "Otagai")

# Case records: longest accepted free text (characters).
OTAGAI_MAX_TEXT = 20_000

# Retention (manage.py apply_retention, docs/deploy.md): closed cases lose their personal
# content this many days after closing. Default five years (1827 days covers any five).
RETENTION_CLOSED_CASE_DAYS = int(env("RETENTION_CLOSED_CASE_DAYS", "1827"))

# Unmet-needs report: counts below this are shown as "<N" (docs/reporting.md). Upward only:
# casework.reporting refuses anything below 5.
OTAGAI_REPORT_MIN_CELL = int(env("OTAGAI_REPORT_MIN_CELL", "5"))

LOG_LEVEL = env("LOG_LEVEL", "INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        # Django's own console handler (DEBUG only) printed every line of Django's loggers a
        # second time, beside the root's; its mail handler has no ADMINS to write to.
        "django": {"handlers": [], "level": LOG_LEVEL, "propagate": True},
        "django.db.backends": {"level": "WARNING"},
    },
}
