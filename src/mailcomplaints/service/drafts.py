"""Creating drafts: render, give them their Message-ID, put them in the mailbox.

A draft's Message-ID is fixed when it is created and is the one it is sent
with (DESIGN.md, decision 2). Drafts are written to the database in the
case's transaction and copied to the mailbox after the commit; a draft whose
copy is missing (a crash in between) is copied on the next run.
"""

from __future__ import annotations

import email
import logging
import re
import uuid
from email import policy as email_policy
from pathlib import Path
from copy import deepcopy
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailcomplaints.domain.calendar import local
from mailcomplaints.domain.deadlines import rule_due
from mailcomplaints.domain.lifecycle import CaseFile, deadline, decide_escalation
from mailcomplaints.domain.references import DEFAULT_SUBJECT_LABEL, SUBJECT_LABELS
from mailcomplaints.drafting.compose import compose
from mailcomplaints.drafting.lint import LintFacts, lint
from mailcomplaints.drafting.plans import PlannedDraft
from mailcomplaints.service.app import App
from mailcomplaints.service.failpoints import failpoint
from mailcomplaints.store.models import CaseRow, DraftRow, MessageRow
from mailcomplaints.store.repository import to_casefile

log = logging.getLogger("mailcomplaints.drafts")

OPEN_STATES = ("pending", "approved")
AUTOMATIC = "mailcomplaints (automatic)"  # the approver of kinds the config lets go out by themselves
SUBJECT_PREFIX = re.compile(r"^\s*((re|fw|fwd|aw|sv|antw)\s*(\[\d+\])?\s*:\s*)+", re.I)


def clean_subject(subject: str) -> str:
    return SUBJECT_PREFIX.sub("", subject or "").strip()


def subject_for(kind: str, case: CaseRow) -> str:
    topic = clean_subject(case.subject) or "your message"
    label = SUBJECT_LABELS.get(kind, DEFAULT_SUBJECT_LABEL)
    return f"{label} {case.reference} - {topic}"


def window_words(rule) -> str:
    """'10 days', '3 weeks', '10 working days' — how a letter states the window; '' when unlimited."""
    if rule is None or rule.unlimited:
        return ""
    unit = {"calendar_days": "days", "working_days": "working days", "weeks": "weeks"}.get(rule.unit, rule.unit)
    return f"{rule.amount} {unit}"


def handler_of(app: App, case: CaseRow) -> str:
    return case.handler or app.settings.team.default_officer


def render_context(app: App, case: CaseRow, kind: str, stage: int, now: datetime, **extra: Any) -> dict[str, Any]:
    facts: CaseFile = to_casefile(case)
    policy, cal = app.policy, app.calendar
    if stage not in facts.stages and facts.pending_escalation_at is not None:
        facts = deepcopy(facts)  # the stage 2 letter for a late or premature request, if it is accepted
        decide_escalation(facts, True, now, "preview")
    respond_rule = policy.rule(stage, "respond")
    if (kind in ("acknowledgement", "extension") and stage in facts.stages and facts.stages[stage].acknowledged_at is None
            and respond_rule is not None and respond_rule.start == "acknowledgement"):
        facts = deepcopy(facts)  # the response counts from this letter's acknowledgement: date it as if sent now
        facts.stages[stage].acknowledged_at = now
    respond = deadline(facts, policy, cal, "respond", stage) if stage in facts.stages else None
    window = deadline(facts, policy, cal, "escalation_window", stage) if stage in facts.stages else None
    received = facts.stages[stage].received_at if stage in facts.stages else now
    if kind == "escalation_declined" and facts.pending_escalation_at:
        received = facts.pending_escalation_at
    window_end = window.due if window else None
    window_rule = policy.rule(stage, "escalation_window")
    if kind == "response" and window_rule and not window_rule.unlimited:
        window_end = rule_due(window_rule, now, cal)  # the window opens when the response is sent
    name = (case.complainant_name or "").strip()
    kind_reason = next((e.reason for e in case.events if e.kind == "received" and e.reason), "") if case.kind != "complaint" else ""
    logo = app.logo_files
    context = {
        "case": {"reference": case.reference, "subject": clean_subject(case.subject), "flags": list(case.flags or []),
                 "state": case.state, "stage": case.stage, "kind": case.kind},
        "landlord": app.settings.landlord,
        "team": app.settings.team,
        "mailbox_address": app.settings.mailbox.address,
        "handler": handler_of(app, case),
        "greeting": name or "Resident",
        "stage": stage,
        "final_stage": policy.final_stage(),
        "received": received,
        "respond_due": respond.due if respond else None,
        "window_end": window_end,
        "redress": app.redress(),
        "outcome_label": None,
        "reason": "",
        "due_items": [],
        "window_text": window_words(window_rule),
        "leaseholder_redress": app.redress("leaseholders"),
        "kind_reason": kind_reason,
        "large_print": "reasonable_adjustment" in (case.flags or []),
        "today": local(now).date(),
        "recipient_name": name or "The Resident",
        "recipient_address": [line.strip() for line in (case.postal_address or "").replace("\n", ",").split(",") if line.strip()],
        "logo_url": logo[0].resolve().as_uri() if logo else "",
        "officer_text": "",
    }
    context.update(extra)
    return context


def create_draft(app: App, session: Session, case: CaseRow, planned: PlannedDraft, now: datetime,
                 outcome: str | None = None, **extra: Any) -> DraftRow:
    """Render and record a draft (state pending); the mailbox copy follows the commit."""
    outcome_label = app.policy.outcomes.get(outcome) if outcome else None
    context = render_context(app, case, planned.kind, planned.stage, now, outcome_label=outcome_label, **extra)
    body = app.renderer.email_text(planned.kind, context)
    draft_id = f"d-{uuid.uuid4().hex[:12]}"
    domain = app.settings.mailbox.address.split("@", 1)[1]
    to = [app.settings.team.email or app.settings.mailbox.address] if planned.to_team else [case.complainant_email]
    last_in = session.scalar(
        select(MessageRow.message_id).where(MessageRow.case_id == case.id, MessageRow.direction == "in")
        .order_by(MessageRow.received_at.desc())
    )
    row = DraftRow(
        id=draft_id, case=case, kind=planned.kind, stage=planned.stage, state="pending",
        message_id=f"<{draft_id}.{uuid.uuid4().hex[:8]}@mailcomplaints.{domain}>",
        created_at=now, to_addrs=[a for a in to if a], cc_addrs=[] if planned.to_team else list(case.copy_to or []),
        subject=subject_for(planned.kind, case),
        body_text=body, outcome=outcome, in_reply_to=None if planned.to_team else last_in,
        postal=not planned.to_team and not case.complainant_email,
    )
    session.add(row)
    session.flush()
    for older in case.drafts:  # a new draft of the same kind and stage replaces a pending one
        if older.id != row.id and older.kind == row.kind and older.stage == row.stage and older.state == "pending":
            older.state = "superseded"
    if planned.kind in app.settings.auto_send and not lint(body, lint_facts(app, row)):
        row.state, row.approved_by, row.approved_at = "approved", AUTOMATIC, now  # the config lets this kind go by itself
    return row


def draft_bytes(app: App, draft: DraftRow, now: datetime, with_letter: bool = False) -> bytes:
    """The draft as a message: plain text and HTML, and for a resident the PDF
    letter (rendered here, after the case's transaction, so rendering never
    holds up the mail behind it)."""
    html = pdf = None
    if with_letter and draft.kind != "reminder":
        context = render_context(app, draft.case, draft.kind, draft.stage, draft.created_at,
                                 outcome_label=app.policy.outcomes.get(draft.outcome) if draft.outcome else None,
                                 **draft_extras(draft))
        html = app.renderer.email_html(draft.kind, context)
        pdf = app.pdf.render(app.renderer.letter_html(draft.kind, context))
        path = app.letters_dir / draft.case.reference / f"{draft.id}-{draft.kind}.pdf"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(pdf)
        draft.pdf_path = str(path)
    return compose(
        draft_id=draft.id, message_id=draft.message_id,
        sender_name=f"{app.settings.team.name}, {app.settings.landlord.name}", sender=app.settings.mailbox.address,
        to=list(draft.to_addrs), cc=list(draft.cc_addrs), subject=draft.subject, body=draft.body_text,
        date=now, in_reply_to=draft.in_reply_to, html=html, pdf=pdf,
        pdf_name=f"{draft.case.reference}-{draft.kind.replace('_', '-')}.pdf", automatic=draft.approved_by == AUTOMATIC,
    )


def draft_extras(draft: DraftRow) -> dict[str, Any]:
    """What a draft was rendered with beyond the case itself (an extension's reason)."""
    reason = next((e.reason for e in draft.case.events if e.kind == "extended"), "") if draft.kind == "extension" else ""
    return {"reason": reason} if reason else {}


def redrafted_text(app: App, draft: DraftRow, now: datetime) -> str:
    """The draft's text as it would be written `now` (no side effects)."""
    context = render_context(app, draft.case, draft.kind, draft.stage, now,
                             outcome_label=app.policy.outcomes.get(draft.outcome) if draft.outcome else None, **draft_extras(draft))
    return app.renderer.email_text(draft.kind, context)


def refresh(app: App, draft: DraftRow, now: datetime) -> None:
    """Re-draft an untouched draft with today's dates (a letter approved a day
    later promises dates counted from today); its mailbox copy is replaced."""
    draft.body_text = redrafted_text(app, draft, now)
    draft.created_at = now  # when it was last drafted
    if draft.mailbox_ref:
        app.mailbox.remove_draft(draft.mailbox_ref)
        draft.mailbox_ref = None


def letter_from_officer(app: App, draft: DraftRow, text: str, now: datetime) -> None:
    """The officer edited the draft: the PDF letter is rendered again from
    their text, so the letter posted or attached says what the email says."""
    if not draft.mailbox_ref or draft.kind == "reminder":
        return
    raw = app.mailbox.read_draft(draft.mailbox_ref)
    if raw is None:
        return
    context = render_context(app, draft.case, draft.kind, draft.stage, now, officer_text=text.strip())
    pdf = app.pdf.render(app.renderer.letter_html(draft.kind, context))
    message = email.message_from_bytes(raw, policy=email_policy.SMTP)
    for part in message.walk():
        if part.get_content_type() == "application/pdf":
            part.set_content(pdf, maintype="application", subtype="pdf", filename=part.get_filename())
    app.mailbox.replace_draft(draft.mailbox_ref, message.as_bytes())
    if draft.pdf_path:
        Path(draft.pdf_path).write_bytes(pdf)


def lint_facts(app: App, draft: DraftRow, at: datetime | None = None) -> LintFacts:
    """What the case says this draft must state if it goes out `at` (default: when drafted)."""
    context = render_context(app, draft.case, draft.kind, draft.stage, at or draft.created_at)
    redress = context["redress"][0] if context["redress"] else {}
    return LintFacts(
        kind=draft.kind, stage=draft.stage, final_stage=app.policy.final_stage(), reference=draft.case.reference,
        handler=context["handler"], respond_due=context["respond_due"], window_end=context["window_end"],
        redress_telephone=redress.get("telephone", ""),
        redress_online=tuple(v for v in (redress.get("complaint_form"), redress.get("website")) if v),
        recipients=tuple(draft.to_addrs or ()), postal_address=draft.case.postal_address or "")


def supersede(app: App, session: Session, case: CaseRow, kinds: tuple[str, ...] | None = None, stage: int | None = None) -> list[DraftRow]:
    """Drafts a change to the case made unnecessary; their mailbox copies are removed after commit."""
    gone = []
    for draft in case.drafts:
        if draft.state in OPEN_STATES and (kinds is None or draft.kind in kinds) and (stage is None or draft.stage == stage):
            draft.state = "superseded"
            gone.append(draft)
    return gone


def sync_mailbox(app: App, now: datetime) -> int:
    """Copy drafts that are not yet in the mailbox there, and take superseded or
    rejected ones out. Idempotent; safe to run after any crash."""
    changed = 0
    with app.db.transaction() as session:
        todo = session.scalars(select(DraftRow.id).where(DraftRow.state == "pending", DraftRow.mailbox_ref.is_(None))).all()
    for draft_id in todo:  # one transaction each: a letter that will not render holds up no other draft
        with app.db.transaction() as session:
            draft = session.get(DraftRow, draft_id)
            try:
                content = draft_bytes(app, draft, now, with_letter=True)
            except Exception as err:  # noqa: BLE001 - rendering is a black box; left pending, tried again next round
                log.error("draft=%s case=%s not rendered: %s", draft.id, draft.case.reference, type(err).__name__)
                continue
            draft.mailbox_ref = app.mailbox.save_draft(draft.id, content)
            failpoint("drafts.saved")  # in the mailbox, not yet recorded as there
            changed += 1
    with app.db.transaction() as session:
        stale = session.scalars(select(DraftRow).where(DraftRow.state.in_(("superseded", "rejected")), DraftRow.mailbox_ref.is_not(None))).all()
        for draft in stale:
            app.mailbox.remove_draft(draft.mailbox_ref)
            draft.mailbox_ref = None
            changed += 1
    return changed
