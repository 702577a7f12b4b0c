"""Officers correcting the tool: a message moved to another case, two cases
merged. Each is one transaction and an event on every case it touches."""

from __future__ import annotations

from datetime import datetime

from mailcomplaints.domain import lifecycle
from mailcomplaints.domain.kinds import INTENT_TO_KIND
from mailcomplaints.service.app import App
from mailcomplaints.service.drafts import supersede, sync_mailbox
from mailcomplaints.store import repository as repo
from mailcomplaints.store.models import CaseRow, MessageRow


def _message(session, message_id: str) -> MessageRow:
    row = repo.message_by_id(session, message_id)
    if row is None:
        raise repo.NotFound(f"there is no message {message_id}; `mailcomplaints case REF --json` lists a case's messages")
    return row


def _note(app: App, session, case: CaseRow, at: datetime, by: str, reason: str, **detail) -> None:
    repo.change_case(session, case, lambda c: [lifecycle.Event("corrected", at, by, stage=c.stage, reason=reason, detail=detail)],
                     app.policy, app.calendar)


def _retire_if_empty(app: App, session, case: CaseRow, into: str, at: datetime, by: str) -> None:
    """A case left with none of the resident's messages was opened by mistake: close it as a duplicate."""
    if any(m.direction == "in" for m in case.messages):
        return
    supersede(app, session, case)
    case.linked_to = into
    repo.change_case(session, case, lambda c: lifecycle.flag(c, "duplicate", at, f"its messages belong to {into}", by)
                     + lifecycle.close(c, None, at, by, f"opened by mistake: its messages belong to {into}"),
                     app.policy, app.calendar)


def move(app: App, message_id: str, reference: str, now: datetime, by: str) -> tuple[str | None, str]:
    with app.db.transaction() as session:
        message = _message(session, message_id)
        target = repo.case_by_reference(session, reference)
        source = message.case
        if source is not None and source.id == target.id:
            raise lifecycle.LifecycleError(f"message {message.message_id} is already in {target.reference}")
        message.case = target
        session.flush()
        if source is not None:
            session.refresh(source)
            _note(app, session, source, now, by, f"message moved to {target.reference}", message_id=message.message_id, to=target.reference)
            _retire_if_empty(app, session, source, target.reference, now, by)
        _note(app, session, target, now, by, f"message moved here from {source.reference if source else 'no case'}",
              message_id=message.message_id, source=source.reference if source else None)
        result = (source.reference if source else None, target.reference)
    sync_mailbox(app, now)
    return result


def merge(app: App, reference: str, into: str, now: datetime, by: str) -> str:
    with app.db.transaction() as session:
        source, target = repo.case_by_reference(session, reference), repo.case_by_reference(session, into)
        if source.id == target.id:
            raise lifecycle.LifecycleError("a case cannot be merged into itself")
        moved = [m.message_id for m in source.messages]
        for message in list(source.messages):
            message.case = target
        session.flush()
        session.refresh(source)
        _note(app, session, target, now, by, f"{source.reference} merged into this case", merged=source.reference, messages=moved)
        _note(app, session, source, now, by, f"merged into {target.reference}", into=target.reference, messages=moved)
        _retire_if_empty(app, session, source, target.reference, now, by)
    sync_mailbox(app, now)
    return target.reference


def reclassify(app: App, message_id: str, intent: str, now: datetime, by: str) -> str:
    """An officer corrects a message's intent. The case follows: a first
    message read wrongly changes the case's kind (and its first reply); a
    reply re-read as an escalation request or a withdrawal acts as one, at
    the time it arrived."""
    from mailcomplaints.domain.classify import INTENTS
    from mailcomplaints.drafting import plans
    from mailcomplaints.service.drafts import create_draft

    if intent not in INTENTS or intent in ("machine", "other"):
        raise lifecycle.LifecycleError(f"{intent!r} is not an intent an officer can choose; use one of "
                                       + ", ".join(i for i in INTENTS if i not in ("machine", "other")))
    with app.db.transaction() as session:
        message = _message(session, message_id)
        case = message.case
        if case is None or message.direction != "in":
            raise lifecycle.LifecycleError(f"message {message.message_id} is not a resident's message on a case")
        previous, message.intent = message.intent, intent
        opened_it = min((m for m in case.messages if m.direction == "in"), key=lambda m: m.received_at).id == message.id
        planned: list = []

        def change(facts: lifecycle.CaseFile) -> list[lifecycle.Event]:
            events = [lifecycle.Event("corrected", now, by, stage=facts.stage, reason=f"intent {previous} -> {intent}",
                                      detail={"message_id": message.message_id, "intent": intent, "previous_intent": previous})]
            if opened_it and intent in INTENT_TO_KIND:
                kind = INTENT_TO_KIND[intent]
                changed = lifecycle.change_kind(facts, kind, now, f"first message re-read as {intent}", by)
                if changed:
                    supersede(app, session, case)
                    planned.extend(plans.for_new_case(kind))
                    if not planned:
                        changed += lifecycle.close(facts, None, now, by, f"{kind} with no reply planned")
                events += changed
            elif intent == "escalation_request":
                stage_from = facts.stage
                verdict, more = lifecycle.escalation_requested(facts, message.received_at, app.policy, app.calendar, by)
                events += more
                planned.extend(plans.for_escalation(verdict, stage_from))
            elif intent == "withdrawal" and facts.state != "closed":
                events += lifecycle.withdraw(facts, message.received_at, by)
                supersede(app, session, case)
            return events

        repo.change_case(session, case, change, app.policy, app.calendar)
        for item in planned:
            create_draft(app, session, case, item, now)
        reference = case.reference
    sync_mailbox(app, now)
    return reference
