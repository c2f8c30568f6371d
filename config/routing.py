"""WebSocket routes of every app, in one list."""

from django.urls import path

from casework.consumers import SafetyTallyConsumer
from conferences.routing import websocket_urlpatterns as conference_routes
from config.consumers import PingConsumer

websocket_urlpatterns: list = [
    path("ws/ping/", PingConsumer.as_asgi()),
    path("ws/safety/<int:pk>/", SafetyTallyConsumer.as_asgi()),
    *conference_routes,
]
