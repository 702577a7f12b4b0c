"""Cases, drafts and messages as the `--json` contract (CONTRACT.md) spells them.

Fields may be added here, never renamed or dropped. Deadline statuses are
computed against the invocation's `now`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from mailcomplaints.domain.deadlines import Deadline
from mailcomplaints.store.models import CaseRow, DraftRow, EventRow, MessageRow


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def deadline_objects(case: CaseRow) -> list[Deadline]:
    return [Deadline(d.kind, d.stage, d.due, d.met_at, d.provisional, d.ref) for d in case.deadlines]


def draft_dict(draft: DraftRow, with_case: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": draft.id, "kind": draft.kind, "stage": draft.stage, "state": draft.state, "message_id": draft.message_id,
        "subject": draft.subject, "to": list(draft.to_addrs), "cc": list(draft.cc_addrs or []), "outcome": draft.outcome,
        "created_at": _iso(draft.created_at), "approved_by": draft.approved_by, "approved_at": _iso(draft.approved_at),
        "override_reason": draft.override_reason, "sent_at": _iso(draft.sent_at),
        "postal": draft.postal, "pdf": draft.pdf_path, "author": draft.author, "edited_by": draft.edited_by,
        "labels": list(draft.labels or []), "failure": draft.failure,
    }
    if with_case:
        out = {"case": draft.case.reference, **out}
    return out


def message_dict(message: MessageRow) -> dict[str, Any]:
    return {
        "message_id": message.message_id, "direction": message.direction, "received_at": _iso(message.received_at),
        "from": message.from_addr, "subject": message.subject, "intent": message.intent,
        "signals": list(message.signals or []), "case": message.case.reference if message.case else None,
    }


def event_dict(event: EventRow) -> dict[str, Any]:
    return {"kind": event.kind, "at": _iso(event.at), "actor": event.actor, "stage": event.stage,
            "reason": event.reason, "detail": dict(event.detail or {})}


def case_dict(case: CaseRow, now: datetime, default_officer: str, detail: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {
        "reference": case.reference,
        "stage": case.stage,
        "state": case.state,
        "kind": case.kind,
        "outcome": case.outcome,
        "handler": case.handler or default_officer,
        "complainant": {"name": case.complainant_name, "email": case.complainant_email},
        "subject": case.subject,
        "opened_at": _iso(case.opened_at),
        "closed_at": _iso(case.closed_at),
        "flags": list(case.flags or []),
        "deadlines": [d.as_dict(now) for d in deadline_objects(case)],
        "drafts": [{"id": d.id, "kind": d.kind, "stage": d.stage, "state": d.state, "message_id": d.message_id}
                   for d in case.drafts],
        "stages": [{"stage": s.stage, "received_at": _iso(s.received_at), "acknowledged_at": _iso(s.acknowledged_at),
                    "responded_at": _iso(s.responded_at), "extensions": list(s.extensions or []), "outcome": s.outcome}
                   for s in case.stages],
        "escalation_pending": case.pending_escalation_at is not None,
        "linked_to": case.linked_to,
        "copy_to": list(case.copy_to or []),
        "topics": list(case.topics or []),
        "channel": case.channel, "postal_address": case.postal_address or "",
    }
    answered = {e.detail.get("message_id") for e in case.events if e.kind == "answered"}
    out["questions"] = [{"message_id": e.detail.get("message_id"), "could_meet": e.detail.get("could_meet", []),
                         "at": _iso(e.at), "question": e.reason}
                        for e in case.events if e.kind == "question" and e.detail.get("message_id") not in answered]
    if detail:
        out["messages"] = [message_dict(m) for m in case.messages]
        out["events"] = [event_dict(e) for e in case.events]
    return out
