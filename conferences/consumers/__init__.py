"""WebSocket consumers of conferences: the live page (`conference`), its database access
(`db`), and the bare broadcasts the benchmark compares it with (`floor`)."""

from conferences.consumers.conference import ConferenceConsumer, language_from_scope
from conferences.consumers.floor import BroadcastFloorConsumer, StockBroadcastFloorConsumer

__all__ = [
    "BroadcastFloorConsumer",
    "ConferenceConsumer",
    "StockBroadcastFloorConsumer",
    "language_from_scope",
]
