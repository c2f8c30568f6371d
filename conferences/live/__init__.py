"""Live operations: validate, authorise (through `permissions.conferences`), commit, log.

`live_apply` is the one entry point for a client operation: it returns the stored result when
the client's operation id was already applied (retries are idempotent), runs the operation,
appends its events to the log with the next sequence numbers (broadcast after commit) and
records the operation id — all in one transaction.

- `data`: what a reader who may read a record receives (serialisation);
- `checks`: refusals (`OpError`, `OpConflict`) and argument validation;
- `records`: notes, decisions, action items and the review of carried-forward actions;
- `agenda`: the chair's operations (current item, order, other business, start, close);
- `apply`: the table of operations and `live_apply`.
"""

from conferences.live.apply import (
    OPS,
    ROLLED_BACK,
    OpResult,
    answer_after_rollback,
    done_before,
    live_apply,
    participant_exists,
    state_changed,
    validate_op_id,
)
from conferences.live.checks import MAX_OP_ID, MAX_TEXT, OpConflict, OpError
from conferences.live.data import item_data, record_data, review_data
from conferences.live.records import meeting_people

__all__ = [
    "MAX_OP_ID",
    "MAX_TEXT",
    "OPS",
    "ROLLED_BACK",
    "OpConflict",
    "OpError",
    "OpResult",
    "answer_after_rollback",
    "done_before",
    "item_data",
    "live_apply",
    "meeting_people",
    "participant_exists",
    "record_data",
    "review_data",
    "state_changed",
    "validate_op_id",
]
