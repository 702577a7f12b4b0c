"""What officers do to a case from the command line: assign, extend, decide,
close, and ask for a draft. Each is one transaction and records an event."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from mailcomplaints.domain import lifecycle
from mailcomplaints.domain.topics import topics_of
from mailcomplaints.drafting.plans import PlannedDraft, superseded_by_decision
from mailcomplaints.service.app import App
from mailcomplaints.service.drafts import create_draft, render_context, supersede, sync_mailbox
from mailcomplaints.store import repository as repo
from mailcomplaints.store.models import CaseRow, DraftRow

DRAFT_KINDS = ("acknowledgement", "extension", "response", "escalation_declined", "not_a_complaint", "compliment_thanks", "reminder")


def _change(app: App, session: Session, row: CaseRow, change) -> list[lifecycle.Event]:
    return repo.change_case(session, row, change, app.policy, app.calendar)


def assign(app: App, reference: str, officer: str, now: datetime, by: str) -> CaseRow:
    """Name the handling officer; pending drafts are re-rendered to name them."""
    if not officer.strip():
        raise lifecycle.LifecycleError("give the officer's name")
    out_of_date: list[str] = []
    with app.db.transaction() as session:
        row = repo.case_by_reference(session, reference)
        previous = row.handler
        row.handler = officer.strip()
        _change(app, session, row, lambda c: [lifecycle.Event("assigned", now, by, stage=c.stage, detail={"handler": row.handler, "previous": previous})])
        for draft in row.drafts:
            if draft.state == "pending" and draft.kind != "reminder":
                context = render_context(app, row, draft.kind, draft.stage, now,
                                         outcome_label=app.policy.outcomes.get(draft.outcome) if draft.outcome else None)
                draft.body_text = app.renderer.email_text(draft.kind, context)
                if draft.mailbox_ref:
                    out_of_date.append(draft.mailbox_ref)
                    draft.mailbox_ref = None
    # The old copies go only once the new text is committed: removed inside the
    # transaction, a crash before the commit left waiting drafts recorded as in
    # the mailbox when they were not, and they were never copied there again.
    for copy in out_of_date:
        app.mailbox.remove_draft(copy)
    sync_mailbox(app, now)
    return row


def extend(app: App, reference: str, working_days: int, reason: str, now: datetime, by: str, agreed: bool = False) -> CaseRow:
    with app.db.transaction() as session:
        row = repo.case_by_reference(session, reference)
        _change(app, session, row, lambda c: lifecycle.extend(c, working_days, reason, now, app.policy, by, beyond_limit=agreed))
        supersede(app, session, row, ("extension",))
        create_draft(app, session, row, PlannedDraft("extension", row.stage), now, reason=reason.strip())
    sync_mailbox(app, now)
    return row


def decide(app: App, reference: str, decision: str, now: datetime, by: str, reason: str = "") -> CaseRow:
    if decision not in ("accept-escalation", "decline-escalation"):
        raise lifecycle.LifecycleError(f"{decision!r} is not a decision; use accept-escalation or decline-escalation")
    accept = decision == "accept-escalation"
    with app.db.transaction() as session:
        row = repo.case_by_reference(session, reference)
        stage_before = row.stage
        _change(app, session, row, lambda c: lifecycle.decide_escalation(c, accept, now, by, reason))
        unwanted = superseded_by_decision(accept)
        supersede(app, session, row, (unwanted,), stage=stage_before + 1 if unwanted == "acknowledgement" else stage_before)
        wanted = PlannedDraft("acknowledgement", row.stage) if accept else PlannedDraft("escalation_declined", stage_before)
        if not any(d.kind == wanted.kind and d.stage == wanted.stage and d.state in ("pending", "approved") for d in row.drafts):
            create_draft(app, session, row, wanted, now)
    sync_mailbox(app, now)
    return row


def close(app: App, reference: str, outcome: str, now: datetime, by: str) -> CaseRow:
    with app.db.transaction() as session:
        row = repo.case_by_reference(session, reference)
        _change(app, session, row, lambda c: lifecycle.close_by_officer(c, outcome, now, by, app.policy))
        supersede(app, session, row)
    sync_mailbox(app, now)
    return row


def plan_draft(app: App, reference: str, kind: str, now: datetime, by: str,
               stage: int | None = None, outcome: str | None = None) -> DraftRow:
    """`draft REF KIND`: an officer asks for a draft (a response, usually)."""
    if kind not in DRAFT_KINDS:
        raise lifecycle.LifecycleError(f"{kind!r} is not a kind of draft; use one of {', '.join(DRAFT_KINDS)}")
    with app.db.transaction() as session:
        row = repo.case_by_reference(session, reference)
        stage = stage or row.stage
        if stage not in (1, 2) or stage > row.stage:
            raise lifecycle.LifecycleError(f"case {row.reference} is at stage {row.stage}, so there is no stage {stage} draft to write")
        normalised = None
        if outcome:
            normalised = app.policy.normalise_outcome(outcome)
            if normalised is None or normalised in ("withdrawn", "resolved"):
                allowed = ", ".join(k for k in app.policy.outcomes if k not in ("withdrawn", "resolved"))
                raise lifecycle.LifecycleError(f"{outcome!r} is not a stage outcome {app.policy.landlord} uses; use one of {allowed}")
        if kind == "response" and row.kind != "complaint":
            raise lifecycle.LifecycleError(f"case {row.reference} is a {row.kind.replace('_', ' ')}, which gets no complaint response")
        draft = create_draft(app, session, row, PlannedDraft(kind, stage, to_team=kind == "reminder"), now, outcome=normalised)
        draft.author = by
        _change(app, session, row, lambda c: [lifecycle.Event("drafted", now, by, stage=stage, detail={"draft": draft.id, "draft_kind": kind, "outcome": normalised})])
    sync_mailbox(app, now)
    with app.db.transaction() as session:
        return repo.draft_by_id(session, draft.id)  # as saved to the mailbox


CONFIRMABLE = ("acknowledgement", "response", "neither")


def confirm(app: App, message_id: str, what: str, now: datetime, by: str) -> CaseRow:
    """An officer says what a reply written by hand did: acknowledged the
    complaint, answered it, or neither. The deadline is met at the time it was sent."""
    if what not in CONFIRMABLE:
        raise lifecycle.LifecycleError(f"{what!r} is not an answer; use one of {', '.join(CONFIRMABLE)}")
    with app.db.transaction() as session:
        message = repo.message_by_id(session, message_id)
        if message is None or message.direction != "out" or message.case is None:
            raise repo.NotFound(f"there is no reply {message_id} sent from the mailbox on a case; `mailcomplaints case REF --json` lists them")
        row, sent_at, wanted = message.case, message.received_at, message.message_id

        def change(case: lifecycle.CaseFile) -> list[lifecycle.Event]:
            events = [lifecycle.Event("answered", now, by, stage=case.stage, reason=f"the reply was {what}",
                                      detail={"message_id": wanted, "what": what})]
            if what == "acknowledgement":
                events += lifecycle.acknowledgement_sent(case, case.stage, sent_at, by)
            elif what == "response":
                events += lifecycle.response_sent(case, case.stage, sent_at, by)
            return events

        _change(app, session, row, change)
        if what != "neither":
            supersede(app, session, row, ("acknowledgement",) if what == "acknowledgement" else ("acknowledgement", "response"), stage=row.stage)
    sync_mailbox(app, now)
    return row


CHANNELS = ("phone", "letter", "in_person", "social_media", "email", "webform")


def log_contact(app: App, *, name: str, email: str, address: str, channel: str, received: datetime, summary: str,
                kind: str, now: datetime, by: str) -> CaseRow:
    """A complaint (or compliment...) made by phone, letter, in person or on social
    media: the same case, deadlines and drafts as one by email. With no email
    address, its drafts are letters to post."""
    from mailcomplaints.drafting import plans

    if channel not in CHANNELS:
        raise lifecycle.LifecycleError(f"{channel!r} is not a channel; use one of {', '.join(CHANNELS)}")
    if not name.strip() or not summary.strip():
        raise lifecycle.LifecycleError("give the person's --name and a --summary of what they said")
    if email and "@" not in email:
        raise lifecycle.LifecycleError(f"--email {email!r} is not an email address")
    if not email and not address.strip():
        raise lifecycle.LifecycleError("give an --email or a postal --address, so the reply can reach them")
    if received > now:
        raise lifecycle.LifecycleError("--received is later than now")
    with app.db.transaction() as session:
        case, events = lifecycle.open_case("NEW", kind, received, by)
        events[0].reason = f"logged from a {channel.replace('_', ' ')} contact"
        events[0].detail.update(channel=channel, summary=summary.strip()[:2000])
        row = repo.new_case_row(session, case, app.settings.references)
        row.channel, row.subject = channel, summary.strip().splitlines()[0][:200]
        row.topics = list(topics_of("", summary))
        row.complainant_name, row.complainant_email, row.postal_address = name.strip(), email.strip().lower(), address.strip()
        if not plans.for_new_case(kind):
            events += lifecycle.close(case, None, received, by, f"{kind} with no reply planned")
        repo.save_case(session, row, case, events, app.policy, app.calendar)
        for planned in plans.for_new_case(kind):
            create_draft(app, session, row, planned, now).author = by
    sync_mailbox(app, now)
    return row
