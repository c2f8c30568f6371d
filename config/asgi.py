"""ASGI entry point: HTTP through Django, WebSockets through Channels."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402
from django.conf import settings  # noqa: E402

from config.routing import websocket_urlpatterns  # noqa: E402
from config.sockets import refuse_compressed_sockets  # noqa: E402

refuse_compressed_sockets(debug=settings.DEBUG)

http_app = django_asgi_app
if settings.DEBUG:
    # `make run`: static files from the source tree, read by Django's own ASGI handler for
    # them (as `runserver` does), without a sync file response on the way, which Django
    # would read through a worker thread and warn about on every file. Production
    # (DEBUG=0) serves the collected files through whitenoise's middleware.
    from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler

    http_app = ASGIStaticFilesHandler(django_asgi_app)

application = ProtocolTypeRouter(
    {
        "http": http_app,
        "websocket": AllowedHostsOriginValidator(
            AuthMiddlewareStack(URLRouter(websocket_urlpatterns))
        ),
    }
)
