"""Reading and writing cases: ORM rows <-> the pure domain `CaseFile`.

The service layer loads a case, lets the domain change it, and saves it back
here together with its events and freshly derived deadlines, in the session
(transaction) it opened.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timezone
from typing import Callable

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from mailcomplaints.domain.calendar import WorkingCalendar
from mailcomplaints.domain.lifecycle import CaseFile, Event, StageFacts, schedule
from mailcomplaints.domain.policy import Policy
from mailcomplaints.domain.references import DEFAULT, ReferenceFormat
from mailcomplaints.domain.retention import hashed_id
from mailcomplaints.store.models import (
    CaseRow, CursorRow, DeadlineRow, DraftRow, DuplicateDeliveryRow, EventRow, MessageRow, QuarantineRow, StageRow,
)


class NotFound(LookupError):
    """An unknown case reference, draft id or message id (bad input, exit 2)."""


def case_by_reference(session: Session, reference: str) -> CaseRow:
    row = session.scalar(select(CaseRow).where(CaseRow.reference == reference.strip().upper()))
    if row is None:
        raise NotFound(f"there is no case {reference}; `mailcomplaints cases` lists them")
    return row


def draft_by_id(session: Session, draft_id: str) -> DraftRow:
    row = session.get(DraftRow, draft_id.strip())
    if row is None:
        raise NotFound(f"there is no draft {draft_id}; `mailcomplaints drafts` lists them")
    return row


def message_by_id(session: Session, message_id: str) -> MessageRow | None:
    """A stored message by its Message-ID, with or without the angle brackets."""
    wanted = message_id.strip()
    if not wanted.startswith("<"):
        wanted = f"<{wanted}>"
    return session.scalar(select(MessageRow).where(MessageRow.message_id == wanted))


def case_of_message(session: Session, message_id: str) -> str | None:
    found = session.scalar(
        select(CaseRow.reference).join(MessageRow, MessageRow.case_id == CaseRow.id).where(MessageRow.message_id == message_id)
    )
    if found:
        return found
    return session.scalar(select(CaseRow.reference).join(DraftRow, DraftRow.case_id == CaseRow.id).where(DraftRow.message_id == message_id))


class StoreLookups:
    """The threading rules' look-ups (domain.threading.Lookups), answered from the store."""

    def __init__(self, session: Session):
        self.session = session

    def case_exists(self, reference: str) -> bool:
        return case_exists(self.session, reference)

    def case_of_message(self, message_id: str) -> str | None:
        return case_of_message(self.session, message_id)

    def _case_where(self, *conditions) -> str | None:
        return self.session.scalar(select(CaseRow.reference).join(MessageRow, MessageRow.case_id == CaseRow.id)
                                   .where(*conditions).order_by(MessageRow.received_at.desc()).limit(1))

    def case_of_conversation(self, conversation_id: str) -> str | None:
        return self._case_where(MessageRow.conversation_id == conversation_id)

    def case_of_fingerprint(self, fingerprint: str, sender: str | None = None) -> str | None:
        same_sender = (MessageRow.from_addr == sender,) if sender is not None else ()
        return self._case_where(MessageRow.fingerprint == fingerprint, *same_sender)

    def open_case_of(self, sender: str, subject_key: str) -> str | None:
        return self._case_where(MessageRow.from_addr == sender, MessageRow.subject_key == subject_key, CaseRow.state != "closed")

    def case_is_closed(self, reference: str) -> bool:
        return self.session.scalar(select(CaseRow.state).where(CaseRow.reference == reference)) == "closed"

    def subjects_of(self, reference: str) -> set[str]:
        keys = set(self.session.scalars(select(MessageRow.subject_key).join(CaseRow, MessageRow.case_id == CaseRow.id)
                                        .where(CaseRow.reference == reference)))
        return {k for k in keys if k}


def case_exists(session: Session, reference: str) -> bool:
    return session.scalar(select(func.count()).select_from(CaseRow).where(CaseRow.reference == reference.upper())) > 0


def known_backend_ids(session: Session, ids: list[str]) -> set[str]:
    known: set[str] = set()
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        known |= set(session.scalars(select(MessageRow.backend_id).where(MessageRow.backend_id.in_(chunk))))
        known |= set(session.scalars(select(QuarantineRow.backend_id).where(QuarantineRow.backend_id.in_(chunk))))
        known |= set(session.scalars(select(DuplicateDeliveryRow.backend_id).where(DuplicateDeliveryRow.backend_id.in_(chunk))))
    return known


def message_stored(session: Session, message_id: str) -> bool:
    """Stored already, in clear or (its people removed: domain.retention) as its hash,
    so a re-delivered old message is still a duplicate and never read again."""
    ids = (message_id, hashed_id(message_id))
    return session.scalar(select(func.count()).select_from(MessageRow).where(MessageRow.message_id.in_(ids))) > 0


def new_case_row(session: Session, case: CaseFile, refs: ReferenceFormat = DEFAULT) -> CaseRow:
    """Insert a case and give it its reference: the landlord's prefix and the row number."""
    row = CaseRow(reference=f"NEW-{uuid.uuid4().hex[:12]}", kind=case.kind, state=case.state, opened_at=case.opened_at, flags=[])
    session.add(row)
    session.flush()
    row.reference = refs.make(row.id)
    case.reference = row.reference
    return row


def to_casefile(row: CaseRow) -> CaseFile:
    return CaseFile(
        reference=row.reference,
        kind=row.kind,
        opened_at=row.opened_at,
        stage=row.stage,
        state=row.state,
        outcome=row.outcome,
        flags=set(row.flags or []),
        stages={
            s.stage: StageFacts(s.stage, s.received_at, s.acknowledged_at, s.responded_at, list(s.extensions or []), s.outcome)
            for s in row.stages
        },
        pending_escalation_at=row.pending_escalation_at,
        escalation_decision=row.escalation_decision,
        window_ended_at=row.window_ended_at,
        closed_at=row.closed_at,
    )


def save_case(session: Session, row: CaseRow, case: CaseFile, events: list[Event], policy: Policy, cal: WorkingCalendar) -> None:
    """Write the case's facts, append its events and re-derive its deadlines."""
    row.kind, row.stage, row.state, row.outcome = case.kind, case.stage, case.state, case.outcome
    row.flags = sorted(case.flags)
    row.pending_escalation_at = case.pending_escalation_at
    row.escalation_decision = case.escalation_decision
    row.window_ended_at = case.window_ended_at
    row.closed_at = case.closed_at
    by_stage = {s.stage: s for s in row.stages}
    for number, facts in case.stages.items():
        stage_row = by_stage.get(number)
        if stage_row is None:
            stage_row = StageRow(stage=number, received_at=facts.received_at)
            row.stages.append(stage_row)
        stage_row.received_at = facts.received_at
        stage_row.acknowledged_at = facts.acknowledged_at
        stage_row.responded_at = facts.responded_at
        stage_row.extensions = list(facts.extensions)
        stage_row.outcome = facts.outcome
    for event in events:
        session.add(EventRow(case=row, kind=event.kind, at=event.at, actor=event.actor, stage=event.stage,
                             reason=event.reason, detail=event.detail))
    row.deadlines = [
        DeadlineRow(kind=d.kind, stage=d.stage, due=d.due, met_at=d.met_at, provisional=d.provisional, ref=d.ref)
        for d in schedule(case, policy, cal)
    ]


def change_case(session: Session, row: CaseRow, change: Callable[[CaseFile], list[Event]],
                policy: Policy, cal: WorkingCalendar) -> list[Event]:
    """Load the case's facts, let the domain change them, save them back."""
    case = to_casefile(row)
    events = change(case)
    save_case(session, row, case, events, policy, cal)
    return events


def get_cursor(session: Session, name: str) -> str | None:
    row = session.get(CursorRow, name)
    return row.value if row else None


def set_cursor(session: Session, name: str, value: str, now: datetime) -> None:
    row = session.get(CursorRow, name)
    if row is None:
        session.add(CursorRow(name=name, value=value, updated_at=now))
    else:
        row.value, row.updated_at = value, now


class DbCursors:
    """Where a mailbox backend keeps its place (an IMAP UID, a sync state),
    each change committed at once so a restart resumes from it."""

    def __init__(self, db):
        self.db = db

    def get(self, name: str) -> str | None:
        with self.db.transaction() as session:
            return get_cursor(session, name)

    def set(self, name: str, value: str) -> None:
        with self.db.transaction() as session:
            set_cursor(session, name, value, datetime.now(timezone.utc))
