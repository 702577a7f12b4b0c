"""`ingest`: every new message, one at a time, one transaction each.

    raw bytes -> parse -> classify -> thread -> lifecycle -> plan drafts -> store

A message that cannot be read is quarantined with its reason and never blocks
the ones behind it. A message already stored (by backend id or Message-ID)
changes nothing. The mailbox is told a message is processed only after the
transaction that stored it has committed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Callable
from datetime import datetime, time

from sqlalchemy import select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from mailcomplaints.domain import lifecycle
from mailcomplaints.domain.calendar import LONDON, local
from mailcomplaints.domain.classify import Classification, Context, classify
from mailcomplaints.domain.kinds import kind_for
from mailcomplaints.domain.topics import topics_of
from mailcomplaints.domain.threading import ThreadDecision, fingerprint, subject_key, thread
from mailcomplaints.drafting import plans
from mailcomplaints.mail.message import Message, UnreadableMessage, parse_message
from mailcomplaints.mailboxes.base import Delivered
from mailcomplaints.service.app import App
from mailcomplaints.service.failpoints import failpoint
from mailcomplaints.service.drafts import clean_subject, create_draft, supersede, sync_mailbox
from mailcomplaints.store import repository as repo
from mailcomplaints.store.models import CaseRow, DraftRow, DuplicateDeliveryRow, MessageRow, QuarantineRow

log = logging.getLogger("mailcomplaints.ingest")
BECOMES_COMPLAINT = ("service_request", "enquiry", "not_a_complaint")



@dataclass
class IngestResult:
    processed: int = 0
    quarantined: int = 0
    duplicates: int = 0
    new_cases: list[str] = field(default_factory=list)
    drafts: int = 0
    officer_replies: int = 0

    def as_dict(self) -> dict:
        return {"processed": self.processed, "quarantined": self.quarantined, "duplicates": self.duplicates,
                "new_cases": self.new_cases, "drafts": self.drafts, "officer_replies": self.officer_replies}


def ingest(app: App, now: datetime, stop: Callable[[], bool] | None = None) -> IngestResult:
    """Read new mail into cases, then put new drafts in the mailbox. `stop`
    (the daemon's signal) ends the reading after the message in hand."""
    result = IngestResult()

    def is_known(ids: list[str]) -> set[str]:
        with app.db.transaction() as session:
            return repo.known_backend_ids(session, ids)

    for delivered in app.mailbox.new_messages(is_known):
        if stop and stop():
            break
        try:
            with app.db.transaction() as session:
                outcome = process_one(app, session, delivered, now)
        except OperationalError:
            raise  # the database is down: stop, and read this message again next time
        except Exception as err:  # a bug reading one message must not block the mail behind it
            log.error("quarantined backend_id=%s after an internal error %s", delivered.backend_id, type(err).__name__)
            with app.db.transaction() as session:
                session.add(QuarantineRow(backend_id=delivered.backend_id, received_at=delivered.delivered_at, raw=delivered.raw,
                                          reason=f"internal error while processing: {type(err).__name__}: {str(err)[:200]}"))
            outcome = "quarantined"
        failpoint("ingest.stored")  # committed, not yet marked processed in the mailbox
        app.mailbox.mark_processed(delivered.backend_id)
        failpoint("ingest.marked")
        if outcome == "quarantined":
            result.quarantined += 1
        elif outcome == "duplicate":
            result.duplicates += 1
        else:
            result.processed += 1
            if outcome.startswith("new:"):
                result.new_cases.append(outcome.removeprefix("new:"))
    for delivered in app.mailbox.sent_messages(is_known):
        with app.db.transaction() as session:
            if record_sent(app, session, delivered) == "joined":
                result.officer_replies += 1
    with app.db.transaction() as session:
        repo.set_cursor(session, "last_sync", now.isoformat(), now)
    failpoint("ingest.before_drafts")  # drafts recorded, not yet in the mailbox
    result.drafts = sync_mailbox(app, now)
    return result


def record_sent(app: App, session: Session, delivered: Delivered) -> str:
    """A message in Sent that we did not send: an officer's reply written by
    hand. It joins its case as outgoing mail (never as incoming), and the case
    asks an officer whether it acknowledged or answered the complaint."""
    try:
        message = parse_message(delivered.raw, delivered.delivered_at, delivered.conversation_id)
    except UnreadableMessage:
        session.add(DuplicateDeliveryRow(backend_id=delivered.backend_id, message_id="", received_at=delivered.delivered_at))
        return "unreadable"
    if repo.message_stored(session, message.message_id) or "x-mailcomplaints-draft" in message.headers:
        session.add(DuplicateDeliveryRow(backend_id=delivered.backend_id, message_id=message.message_id, received_at=delivered.delivered_at))
        return "ours"
    decision = thread(message, repo.StoreLookups(session), app.settings.references)
    case = repo.case_by_reference(session, decision.reference) if decision.reference else None
    session.add(MessageRow(
        message_id=message.message_id, backend_id=delivered.backend_id, case=case, direction="out",
        received_at=message.delivered_at, from_addr=message.sender.email if message.sender else "",
        from_name=message.sender.name if message.sender else "", subject=message.subject, intent="other",
        signals=[{"name": f"thread:{decision.rule}", "evidence": decision.evidence}], thread_rule=decision.rule,
        text=message.text, raw=delivered.raw, subject_key=subject_key(message.subject), fingerprint=fingerprint(message.new_text)))
    if case is None:
        return "no_case"
    facts = repo.to_casefile(case)
    if case.kind == "complaint" and case.state != "closed":
        stage = facts.stages[facts.stage]
        could_meet = [kind for kind, done in (("acknowledgement", stage.acknowledged_at), ("response", stage.responded_at)) if done is None]
        if could_meet:
            repo.change_case(session, case, lambda c: [lifecycle.Event(
                "question", message.delivered_at, lifecycle.SYSTEM, stage=c.stage,
                reason=f"an officer replied by hand: did it {' or '.join(could_meet)}? "
                       f"`mailcomplaints confirm {message.message_id} {could_meet[0]}` records it",
                detail={"message_id": message.message_id, "could_meet": could_meet, "answered": False})],
                app.policy, app.calendar)
    log.info("officer reply case=%s message_id=%s", case.reference, message.message_id)
    return "joined"


def process_one(app: App, session: Session, delivered: Delivered, now: datetime) -> str:
    """Store one delivered message and everything it changes. Returns
    'quarantined', 'duplicate', 'machine', 'new:REF' or 'joined:REF'."""
    try:
        message = parse_message(delivered.raw, delivered.delivered_at, delivered.conversation_id)
    except UnreadableMessage as err:
        session.add(QuarantineRow(backend_id=delivered.backend_id, reason=str(err), received_at=delivered.delivered_at, raw=delivered.raw))
        log.warning("quarantined backend_id=%s reason=%s", delivered.backend_id, err)
        return "quarantined"
    if repo.message_stored(session, message.message_id):
        session.add(DuplicateDeliveryRow(backend_id=delivered.backend_id, message_id=message.message_id, received_at=delivered.delivered_at))
        log.info("duplicate message_id=%s backend_id=%s", message.message_id, delivered.backend_id)
        return "duplicate"

    verdict = classify(message, classify_context(app))
    decision = thread(message, repo.StoreLookups(session), app.settings.references)
    case_row = repo.case_by_reference(session, decision.reference) if decision.reference else None

    if verdict.machine:
        _store_message(session, message, delivered, case_row, "machine", verdict, decision)
        if case_row is not None and verdict.has("bounce"):
            repo.change_case(session, case_row, lambda c: lifecycle.flag(c, "undeliverable", message.delivered_at, "a message we sent bounced"),
                             app.policy, app.calendar)
        log.info("machine message_id=%s case=%s", message.message_id, case_row.reference if case_row else None)
        return "machine"

    if case_row is None:
        return _open_case(app, session, message, delivered, verdict, decision, now)
    return _join_case(app, session, case_row, message, delivered, verdict, decision, now)


def copied_to(message: Message, kind: str, policy, ours: str, verdict: Classification) -> list[str]:
    """Who else the policy says is answered: every named member of a group
    (Connect 1.11), or the resident an MP or councillor wrote for (Southway 5.3),
    where their address is on the message."""
    rules = policy.complainants
    wanted = (rules.get("group", {}).get("reply_to") == "every_named_member"
              or (verdict.has("elected_representative") and rules.get("elected_representative", {}).get("reply_to") == "enquirer_and_resident"))
    if kind != "complaint" or not wanted:
        return []
    sender = message.sender.email if message.sender else ""
    others = [a.email for a in (*message.to, *message.cc) if a.email not in (ours.lower(), sender)]
    return list(dict.fromkeys(others))[:50]


def classify_context(app: App) -> Context:
    limit = app.policy.rule(1, "time_limit")
    return Context(ours=app.settings.mailbox.address, time_limit_months=limit.amount if limit else None,
                   trusted=(app.settings.team.email, *app.settings.trusted_senders))  # their look-alikes are flagged


def _store_message(session: Session, message: Message, delivered: Delivered, case: CaseRow | None,
                   intent: str, verdict: Classification, decision: ThreadDecision, extra_signals: list[dict] | None = None) -> MessageRow:
    signals = [s.as_dict() for s in verdict.signals]
    signals.append({"name": f"thread:{decision.rule}", "evidence": decision.evidence})
    row = MessageRow(
        message_id=message.message_id, backend_id=delivered.backend_id, case=case, direction="in",
        received_at=message.delivered_at, from_addr=message.sender.email if message.sender else "",
        from_name=message.sender.name if message.sender else "", subject=message.subject, intent=intent,
        signals=signals + (extra_signals or []), thread_rule=decision.rule, text=message.text, raw=delivered.raw,
        subject_key=subject_key(message.subject), fingerprint=fingerprint(message.new_text),
        conversation_id=message.conversation_id,
    )
    session.add(row)
    return row


def _flag_events(case: lifecycle.CaseFile, verdict: Classification, at: datetime) -> list[lifecycle.Event]:
    events = []
    for signal in verdict.signals:
        if signal.name in verdict.flags:
            events += lifecycle.flag(case, signal.name, at, f"{signal.name.replace('_', ' ')}: \"{signal.evidence}\"")
    return events


def _open_case(app: App, session: Session, message: Message, delivered: Delivered, verdict: Classification,
               decision: ThreadDecision, now: datetime) -> str:
    intent = verdict.intent(threaded=False)
    decided = kind_for(intent, verdict, app.policy)
    kind = decided.kind
    case, events = lifecycle.open_case("NEW", kind, message.delivered_at)
    if decided.reason:
        events[0].reason = decided.reason
    events += _flag_events(case, verdict, message.delivered_at)
    row = repo.new_case_row(session, case, app.settings.references)
    row.subject = clean_subject(message.subject)
    row.linked_to = decision.linked_to
    if message.sender:
        row.complainant_name, row.complainant_email = message.sender.name, message.sender.email
    row.copy_to = copied_to(message, kind, app.policy, app.settings.mailbox.address, verdict)
    row.topics = list(topics_of(message.subject, message.new_text))
    _store_message(session, message, delivered, row, intent, verdict, decision)
    if not plans.for_new_case(kind):
        events += lifecycle.close(case, None, message.delivered_at, lifecycle.SYSTEM, f"{kind} with no reply planned")
    repo.save_case(session, row, case, events, app.policy, app.calendar)
    for planned in plans.for_new_case(kind):
        if not _held_as_a_loop(app, session, row, message, now):
            create_draft(app, session, row, planned, now)
    log.info("new case=%s kind=%s message_id=%s", row.reference, kind, message.message_id)
    return f"new:{row.reference}"


def _held_as_a_loop(app: App, session: Session, row: CaseRow, message: Message, now: datetime) -> bool:
    """Too many automatic drafts to one address today: a reply loop with a
    robot the header rules missed. The draft is not made, and the case says
    why, so an officer can answer by hand (`draft REF KIND`) or trust the
    sender in config ([cases] trusted_senders). The mail itself is kept."""
    sender = message.sender.email if message.sender else ""
    if not sender or sender in app.settings.trusted_senders:
        return False
    day_start = datetime.combine(local(now).date(), time(0), tzinfo=LONDON)
    made = session.scalars(select(DraftRow.to_addrs).where(DraftRow.created_at >= day_start)).all()
    if sum(sender in (to or []) for to in made) < app.settings.drafts_per_sender_per_day:
        return False
    reason = (f"{app.settings.drafts_per_sender_per_day} drafts to {sender} already today: no automatic draft, in case this "
              "is a loop with an auto-responder; answer by hand or add the address to [cases] trusted_senders")
    repo.change_case(session, row, lambda c: lifecycle.flag(c, "draft_held", message.delivered_at, reason), app.policy, app.calendar)
    log.warning("draft held case=%s: the per-sender daily limit was reached", row.reference)
    return True


def _join_case(app: App, session: Session, row: CaseRow, message: Message, delivered: Delivered,
               verdict: Classification, decision: ThreadDecision, now: datetime) -> str:
    case = repo.to_casefile(row)
    intent = verdict.intent(threaded=True, responded=any(s.responded_at for s in case.stages.values()))
    at = message.delivered_at
    events = _flag_events(case, verdict, at)
    planned: list[plans.PlannedDraft] = []
    extra: list[dict] = []
    if intent == "escalation_request":
        stage_from = case.stage
        result, changes = lifecycle.escalation_requested(case, at, app.policy, app.calendar)
        events += changes
        extra.append({"name": f"escalation:{result}", "evidence": f"stage {stage_from} -> {result}"})
        planned = plans.for_escalation(result, stage_from)
        if planned:  # a newer request's letters replace those of an earlier premature one
            supersede(app, session, row, ("escalation_declined",), stage=stage_from)
            supersede(app, session, row, ("acknowledgement",), stage=stage_from + 1)
        if result == "not_applicable":
            intent = "further_information"
    elif case.kind in BECOMES_COMPLAINT and verdict.has("dissatisfaction"):
        evidence = next(s.evidence for s in verdict.signals if s.name == "dissatisfaction")
        events += lifecycle.become_complaint(case, at, f"the resident is dissatisfied: \"{evidence}\"")
        intent = "new_complaint"
        planned = [plans.PlannedDraft("acknowledgement", 1)]
    elif intent == "withdrawal" and case.state != "closed":
        events += lifecycle.withdraw(case, at)
        supersede(app, session, row)
    else:
        events.append(lifecycle.Event("received", at, lifecycle.SYSTEM, stage=case.stage, detail={"intent": intent}))
    _store_message(session, message, delivered, row, intent, verdict, decision, extra)
    repo.save_case(session, row, case, events, app.policy, app.calendar)
    for item in planned:
        if item.to_team or not _held_as_a_loop(app, session, row, message, now):
            create_draft(app, session, row, item, now)
    log.info("joined case=%s intent=%s message_id=%s", row.reference, intent, message.message_id)
    return f"joined:{row.reference}"
