"""WebSocket consumers of conferences: the live page (`conference`), its database access
(`db`), and the bare broadcast the benchmark compares it with (`floor`)."""

from conferences.consumers.conference import ConferenceConsumer, language_from_scope
from conferences.consumers.floor import BroadcastFloorConsumer

__all__ = ["BroadcastFloorConsumer", "ConferenceConsumer", "language_from_scope"]
