"""Real-time events of casework, sent only after the transaction commits."""

from __future__ import annotations

from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction


def safety_group(declaration_id: int) -> str:
    return f"safety-{declaration_id}"


def _send_tally(declaration_id: int) -> None:
    from casework.watch_selectors import safety_tally
    from permissions.models import Declaration
    from permissions.rls import council_report_context

    declaration = (
        Declaration.objects.select_related("declared_by").filter(pk=declaration_id).first()
    )
    layer = get_channel_layer()
    if declaration is None or layer is None:
        return
    # After the commit, outside the request's transaction: the tally is counted as the
    # council manager who declared (every watcher of the tally is one; counts only).
    with council_report_context(declaration.declared_by):
        tally = safety_tally(declaration)
    event: dict[str, Any] = {"type": "tally.update", "tally": tally}
    async_to_sync(layer.group_send)(safety_group(declaration_id), event)


def safety_tally_changed(declaration_id: int) -> None:
    """Counts only (no names): every watcher of the tally may receive the same frame."""
    transaction.on_commit(lambda: _send_tally(declaration_id))
