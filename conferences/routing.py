"""WebSocket routes of conferences (included by config.routing)."""

import os

from django.urls import path

from conferences.consumers import (
    BroadcastFloorConsumer,
    ConferenceConsumer,
    StockBroadcastFloorConsumer,
)

websocket_urlpatterns = [
    path("ws/conferences/<int:pk>/", ConferenceConsumer.as_asgi()),
]

# benchmarks/live_fanout.py measures the transport's floor with bare broadcast consumers: one
# dispatching as the live consumer does, and Channels' own (--stock-floor).
if os.environ.get("OTAGAI_BENCHMARK_ROUTES") == "1":
    websocket_urlpatterns += [
        path("ws/floor/<str:room>/", BroadcastFloorConsumer.as_asgi()),
        path("ws/floor-stock/<str:room>/", StockBroadcastFloorConsumer.as_asgi()),
    ]
