"""The checks at the end of benchmarks/load.py, against the database alone.

`check_acknowledged`: every acknowledged operation has its ClientOp (with the acknowledged
sequence number), its event in the log, and its effect on the record: a created record
exists, the highest acknowledged edit of a record is its saved version and text, a deleted
one is deleted, a review has its outcome. Two acknowledged edits based on the same version of
one record would be a silent overwrite.

`expected_views`: what each reader may read now, as `selectors.snapshot` gives it, in the
shape of `load_clients.View.as_state`.
"""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Any

from django.contrib.auth import get_user_model

from conferences import selectors
from conferences.models import (
    ActionItem,
    ActionReview,
    ClientOp,
    Conference,
    ConferenceEvent,
    Decision,
    Note,
)
from permissions.conferences import conference_access

MODELS = {"note": Note, "decision": Decision, "action": ActionItem}


def check_acknowledged(acked: list[dict[str, Any]]) -> tuple[int, int, list[str]]:
    lost: list[str] = []
    conferences = {a["conference"] for a in acked}
    client_ops = {
        (c, op_id): seq
        for c, op_id, seq in ClientOp.objects.filter(conference_id__in=conferences).values_list(
            "conference_id", "client_op_id", "seq"
        )
    }
    event_seqs = set(
        ConferenceEvent.objects.filter(conference_id__in=conferences).values_list(
            "conference_id", "seq"
        )
    )
    # The highest acknowledged version (and its text) of every record, and the bases of edits.
    latest: dict[tuple[str, int], tuple[int, str | None]] = {}
    bases: dict[tuple[str, int, int], int] = defaultdict(int)
    created: dict[str, set[int]] = defaultdict(set)
    deleted: dict[str, set[int]] = defaultdict(set)
    reviews: dict[int, str] = {}
    for a in acked:
        key = (a["conference"], a["id"])
        if client_ops.get(key) != a["seq"]:
            lost.append(f"{a['op']} {a['id']}: no ClientOp with seq {a['seq']}")
            continue
        if (a["conference"], a["seq"]) not in event_seqs:
            lost.append(f"{a['op']} {a['id']}: event {a['seq']} not in the log")
            continue
        kind, _dot, verb = a["op"].partition(".")
        if a["op"] == "action.review":
            reviews[a["args"]["review"]] = a["args"]["outcome"]
        elif kind in MODELS:
            rec = a["result"][kind]
            if verb == "add":
                created[kind].add(rec["id"])
                _newer(latest, (kind, rec["id"]), rec["version"], a["args"].get("text"))
            elif verb == "edit":
                bases[(kind, rec["id"], a["args"]["base_version"])] += 1
                _newer(latest, (kind, rec["id"]), rec["version"], a["args"]["text"])
            elif verb == "delete":
                deleted[kind].add(rec["id"])
    for kind, model in MODELS.items():
        ids = {pk for (k, pk) in latest if k == kind} | deleted[kind]
        rows = {r.pk: r for r in model._default_manager.filter(pk__in=ids)}
        for (k, pk), (version, text) in latest.items():
            if k != kind:
                continue
            row = rows.get(pk)
            if row is None:
                lost.append(f"{kind} {pk}: acknowledged but not in the database")
            elif row.version != version:
                lost.append(f"{kind} {pk}: saved version {row.version}, acknowledged {version}")
            elif text is not None and getattr(row, "text", text) != text:
                lost.append(f"{kind} {pk}: saved text differs from the acknowledged edit")
            elif row.deleted_at is not None and pk not in deleted[kind]:
                lost.append(f"{kind} {pk}: deleted, though no deletion was acknowledged")
        for pk in deleted[kind]:
            row = rows.get(pk)
            if row is None or row.deleted_at is None:
                lost.append(f"{kind} {pk}: acknowledged deletion not saved")
    for pk, outcome in ActionReview.objects.filter(pk__in=reviews).values_list("pk", "outcome"):
        if reviews.pop(pk) != outcome:
            lost.append(f"review {pk}: outcome {outcome!r} is not the acknowledged one")
    lost.extend(f"review {pk}: not in the database" for pk in reviews)
    overwrites = sum(n - 1 for n in bases.values() if n > 1)
    return len(lost), overwrites, lost[:10]


def _newer(latest: dict, key: tuple[str, int], version: int, text: str | None) -> None:
    if key not in latest or latest[key][0] < version:
        latest[key] = (version, text)


def expected_views(
    readers: list[tuple[int, int]],
) -> dict[tuple[int, int], tuple[dict[str, Any], set[int]]]:
    users = {u.pk: u for u in get_user_model().objects.filter(pk__in={u for _c, u in readers})}
    conferences = Conference.objects.in_bulk({c for c, _u in readers})
    out = {}
    for c, u in readers:
        access = conference_access(users[u], conferences[c])
        assert access is not None
        snap = selectors.snapshot(access)
        state = {
            "records": {
                kind: {str(r["id"]): r for r in snap[f"{kind}s"]}
                for kind in ("note", "decision", "action")
            },
            "reviews": {str(r["id"]): r for r in snap["reviews"]},
            "agenda": [i["id"] for i in snap["agenda"]],
            "current_item": snap["current_item"],
            "state": snap["state"],
        }
        out[(c, u)] = (json.loads(json.dumps(state)), {p["user"] for p in snap["presence"]})
    return out
