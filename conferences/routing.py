"""WebSocket routes of conferences (included by config.routing)."""

import os

from django.urls import path

from conferences.consumers import BroadcastFloorConsumer, ConferenceConsumer

websocket_urlpatterns = [
    path("ws/conferences/<int:pk>/", ConferenceConsumer.as_asgi()),
]

# benchmarks/live_fanout.py measures the transport's floor with a bare broadcast consumer.
if os.environ.get("OTAGAI_BENCHMARK_ROUTES") == "1":
    websocket_urlpatterns.append(path("ws/floor/<str:room>/", BroadcastFloorConsumer.as_asgi()))
