"""State changes of conferences (the live operations are in `conferences.live`).

- `scheduling`: scheduling with the legal basis of sharing, 支援会議 → 重層的支援会議;
- `meeting`: preparation, acknowledgement, attendance, start and close, feedback.
"""

from conferences.services.meeting import (
    apologies_record,
    community_issue_tag,
    community_issue_untag,
    conference_acknowledge,
    conference_close,
    conference_start,
    consent_problems,
    feedback_give,
    participant_joined,
    prep_ask_add,
    prep_ask_answer,
    prep_sheet_update,
)
from conferences.services.scheduling import (
    CASE_ITEMS,
    STATUTORY_BASIS,
    CaseOnAgenda,
    case_move_to_multilayer,
    conference_schedule,
    consent_coverage,
    multilayer_invitees,
    multilayer_move_status,
    new_schedule_token,
)

__all__ = [
    "CASE_ITEMS",
    "STATUTORY_BASIS",
    "CaseOnAgenda",
    "apologies_record",
    "case_move_to_multilayer",
    "community_issue_tag",
    "community_issue_untag",
    "conference_acknowledge",
    "conference_close",
    "conference_schedule",
    "conference_start",
    "consent_coverage",
    "consent_problems",
    "feedback_give",
    "multilayer_invitees",
    "multilayer_move_status",
    "new_schedule_token",
    "participant_joined",
    "prep_ask_add",
    "prep_ask_answer",
    "prep_sheet_update",
]
