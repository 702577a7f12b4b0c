"""Approving, rejecting and sending drafts (DESIGN.md, decisions 2 and 8).

Nothing is sent unless a person approved it. What is sent is the draft as the
officer left it in the mailbox, not our first version, and the text that went
is recorded. Sending is written to the outbox before and after the backend
call; a draft found half-sent after a crash is looked for in Sent before it
is sent again, so nothing goes twice.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailcomplaints.domain import lifecycle
from mailcomplaints.domain.threading import subject_key
from mailcomplaints.drafting.compose import body_text, finalise, with_body
from mailcomplaints.drafting.lint import lint
from mailcomplaints.mailboxes.base import SendRefused
from mailcomplaints.service.app import App
from mailcomplaints.service.failpoints import failpoint
from mailcomplaints.service.labels import NOT_APPROVED
from mailcomplaints.service.drafts import (draft_bytes, letter_from_officer, lint_facts, redrafted_text, refresh, supersede,
                                           sync_mailbox)
from mailcomplaints.store import repository as repo
from mailcomplaints.store.models import DraftRow, EventRow, MessageRow, OutboxRow

log = logging.getLogger("mailcomplaints.send")


class Refused(ValueError):
    """An approval or send the rules refuse (bad input, exit 2)."""


def current_text(app: App, draft: DraftRow) -> str:
    """The draft's body as it stands in the mailbox (officers edit there)."""
    raw = app.mailbox.read_draft(draft.mailbox_ref) if draft.mailbox_ref else None
    return body_text(raw) if raw else draft.body_text


def _stage_response_approver(session: Session, case_id: int, stage: int) -> str | None:
    return session.scalar(select(DraftRow.approved_by).where(
        DraftRow.case_id == case_id, DraftRow.kind == "response", DraftRow.stage == stage,
        DraftRow.approved_by.is_not(None), DraftRow.state.in_(("approved", "sending", "sent"))))


def approve(app: App, draft_id: str, by: str, now: datetime, override: str | None = None) -> DraftRow:
    if not by.strip():
        raise Refused("say who approves with --by NAME")
    with app.db.transaction() as session:
        draft = repo.draft_by_id(session, draft_id)
        if draft.state != "pending":
            raise Refused(f"draft {draft.id} is {draft.state}, so it cannot be approved")
        case = draft.case
        awaits_decision = case.pending_escalation_at is not None and (
            draft.kind == "escalation_declined" or (draft.kind == "acknowledgement" and draft.stage > case.stage))
        if awaits_decision:
            raise Refused(f"case {case.reference} has an escalation waiting for a decision: run `mailcomplaints decide {case.reference} accept-escalation` or `decline-escalation` first")
        text, facts = current_text(app, draft), lint_facts(app, draft, now)
        problems = lint(text, facts)
        stale = bool(problems) and text.strip() == draft.body_text.strip()  # untouched by an officer: bring it up to date
        if stale:
            problems = lint(redrafted_text(app, draft, now), facts)
        if draft.kind == "response" and draft.stage == 2:
            first = _stage_response_approver(session, case.id, 1)
            if first and first.strip().lower() == by.strip().lower():
                problems.append(f"{by} approved the stage 1 response, and the Code (6.13) wants a different person at stage 2")
        edited = text.strip() != draft.body_text.strip()
        if edited and draft.mailbox_ref:
            draft.edited_by = app.mailbox.draft_editor(draft.mailbox_ref) or draft.edited_by
        writer = (draft.edited_by if edited else None) or draft.author
        if draft.kind in app.settings.four_eyes and writer and writer.strip().lower() == by.strip().lower():
            did = "last edited" if edited and draft.edited_by else "wrote"
            problems.append(f"{by} {did} this {draft.kind.replace('_', ' ')}, and another person must approve it")
        if problems and not override:
            raise Refused(f"draft {draft.id} cannot be approved: {'; '.join(problems)}. Fix it, or approve with --override REASON")
        if stale and draft.mailbox_ref:  # the out-of-date copy goes first (below)
            copy, draft.mailbox_ref = draft.mailbox_ref, None
        else:
            if stale:  # only now that it is approved: a refusal must leave the mailbox copy alone
                refresh(app, draft, now)
            if edited:
                letter_from_officer(app, draft, text, now)
            draft.state, draft.approved_by, draft.approved_at = "approved", by.strip(), now
            draft.override_reason = override if problems else None
            session.add(EventRow(case=case, kind="approved", at=now, actor=by.strip(), stage=draft.stage,
                                 reason=override or "", detail={"draft": draft.id, "draft_kind": draft.kind, "override": bool(problems)}))
            log.info("approved draft=%s case=%s by=%s", draft.id, case.reference, by)
            return draft
    # An out-of-date copy leaves the mailbox in steps that are each safe to die
    # after: forgotten (committed above; a sync_mailbox before the removal finds
    # it again, saving is idempotent), removed, then the draft approved afresh.
    # Removed inside the approval's transaction, a kill before the commit left a
    # waiting draft recorded as in the mailbox and never copied there again.
    app.mailbox.remove_draft(copy)
    return approve(app, draft_id, by, now, override)


def edit(app: App, draft_id: str, by: str, text: str, now: datetime) -> DraftRow:
    """Change a waiting draft's text, as an officer would in their mail client,
    recording who did (the four-eyes rule then keeps them from approving it)."""
    if not by.strip():
        raise Refused("say who edits with --by NAME")
    if not text.strip():
        raise Refused("the new text is empty: give the draft's whole text")
    with app.db.transaction() as session:
        draft = repo.draft_by_id(session, draft_id)
        if draft.state != "pending":
            raise Refused(f"draft {draft.id} is {draft.state}, so it cannot be edited")
        raw = app.mailbox.read_draft(draft.mailbox_ref) if draft.mailbox_ref else None
        if raw is None:
            raise Refused(f"draft {draft.id} is not in the mailbox yet: run `mailcomplaints ingest` and try again")
        app.mailbox.replace_draft(draft.mailbox_ref, with_body(raw, text.replace("\r\n", "\n")))
        letter_from_officer(app, draft, text, now)
        draft.edited_by = by.strip()
        session.add(EventRow(case=draft.case, kind="edited", at=now, actor=by.strip(), stage=draft.stage,
                             detail={"draft": draft.id, "draft_kind": draft.kind}))
        log.info("edited draft=%s case=%s by=%s", draft.id, draft.case.reference, by)
        return draft


def collect_approvals(app: App, now: datetime) -> list[str]:
    """Approvals officers gave in their mail client (a keyword or tag, a
    category, a move into the Approved folder), checked by the same rules as
    `approve`. One the rules refuse is taken back in the mailbox and labelled
    "Not approved", with the reasons on the case. Returns the drafts approved."""
    approved = []
    for given in app.mailbox.approvals():
        with app.db.transaction() as session:
            draft = session.get(DraftRow, given.draft_id) if given.draft_id else \
                session.scalar(select(DraftRow).where(DraftRow.mailbox_ref == given.mailbox_ref))
            if draft is None or draft.state != "pending":
                continue  # not ours, or already approved, sent or withdrawn
            reference, kind = draft.case.reference, draft.kind
            given = replace(given, draft_id=draft.id)
        try:
            if given.approver is None and kind in app.settings.four_eyes:
                raise Refused(f"a {kind.replace('_', ' ')} needs a named approver: tag it "
                              f"{app.settings.mailbox.options.get('approved_keyword', 'Approved')}-Your_Name, "
                              f"or run `mailcomplaints approve {given.draft_id} --by NAME`")
            approve(app, given.draft_id, given.approver or str(app.settings.mailbox.options.get("approver", "approved in the mailbox")), now)
            approved.append(given.draft_id)
        except Refused as refusal:
            app.mailbox.refuse_approval(given.mailbox_ref, [*_labels_of(app, given.draft_id), NOT_APPROVED])
            with app.db.transaction() as session:
                draft = session.get(DraftRow, given.draft_id)
                draft.labels = [*(draft.labels or []), NOT_APPROVED]
                session.add(EventRow(case=draft.case, kind="approval_refused", at=now, actor=given.approver or "mailbox",
                                     stage=draft.stage, reason=str(refusal), detail={"draft": draft.id, "draft_kind": draft.kind}))
            log.warning("approval refused draft=%s case=%s", given.draft_id, reference)
    return approved


def _labels_of(app: App, draft_id: str) -> list[str]:
    with app.db.transaction() as session:
        return [label for label in (session.get(DraftRow, draft_id).labels or []) if label != NOT_APPROVED]


def reject(app: App, draft_id: str, by: str, reason: str, now: datetime) -> DraftRow:
    if not reason.strip():
        raise Refused("say why the draft is rejected with --reason TEXT")
    with app.db.transaction() as session:
        draft = repo.draft_by_id(session, draft_id)
        if draft.state not in ("pending", "approved"):
            raise Refused(f"draft {draft.id} is {draft.state}, so it cannot be rejected")
        draft.state, draft.rejected_by, draft.reject_reason = "rejected", by.strip(), reason.strip()
        session.add(EventRow(case=draft.case, kind="rejected", at=now, actor=by.strip(), stage=draft.stage,
                                  reason=reason.strip(), detail={"draft": draft.id, "draft_kind": draft.kind}))
    sync_mailbox(app, now)
    return draft


# --- sending ---------------------------------------------------------------------

def _after_sent(app: App, session: Session, draft: DraftRow, at: datetime) -> None:
    """What sending this kind of draft means for the case (CONTRACT.md table)."""
    row = draft.case
    case = repo.to_casefile(row)
    events: list[lifecycle.Event] = []
    if draft.kind == "acknowledgement":
        events = lifecycle.acknowledgement_sent(case, draft.stage, at, draft.approved_by or lifecycle.SYSTEM)
    elif draft.kind == "response":
        events = lifecycle.response_sent(case, draft.stage, at, draft.approved_by or lifecycle.SYSTEM, draft.outcome)
        if case.pending_escalation_at is None:  # a premature request's letters are moot now
            supersede(app, session, row, ("escalation_declined",), stage=draft.stage)
            supersede(app, session, row, ("acknowledgement",), stage=draft.stage + 1)
    elif draft.kind == "escalation_declined":
        events = lifecycle.escalation_declined_sent(case, at, draft.approved_by or lifecycle.SYSTEM)
    elif draft.kind in ("compliment_thanks", "not_a_complaint"):
        events = lifecycle.non_complaint_answered(case, at, draft.approved_by or lifecycle.SYSTEM)
    events.append(lifecycle.Event("sent", at, draft.approved_by or lifecycle.SYSTEM, stage=draft.stage,
                                  detail={"draft": draft.id, "draft_kind": draft.kind, "message_id": draft.message_id}))
    repo.save_case(session, row, case, events, app.policy, app.calendar)


def send_approved(app: App, now: datetime) -> list[DraftRow]:
    """Send every approved draft once, after taking in approvals given in the
    mailbox. Returns the drafts sent."""
    collect_approvals(app, now)
    sent = []
    with app.db.transaction() as session:
        ids = list(session.scalars(select(DraftRow.id).where(DraftRow.state.in_(("approved", "sending")), DraftRow.postal.is_(False))
                                   .order_by(DraftRow.created_at)))
    for draft_id in ids:
        try:
            sent_draft = _send_one(app, draft_id, now)
        except SendRefused as refusal:  # refused for good: say so, and go on with the others
            _failed(app, draft_id, str(refusal), now)
            continue
        if sent_draft is not None:
            sent.append(sent_draft)
    return sent


def _failed(app: App, draft_id: str, reason: str, now: datetime) -> None:
    with app.db.transaction() as session:
        draft = repo.draft_by_id(session, draft_id)
        draft.state, draft.failure = "failed", reason
        outbox = session.scalar(select(OutboxRow).where(OutboxRow.draft_id == draft.id))
        if outbox is not None:
            outbox.state, outbox.finished_at = "failed", now
        session.add(EventRow(case=draft.case, kind="send_failed", at=now, actor=lifecycle.SYSTEM, stage=draft.stage,
                             reason=reason, detail={"draft": draft.id, "draft_kind": draft.kind}))
        log.error("send failed draft=%s case=%s: %s", draft.id, draft.case.reference, reason)


def _send_one(app: App, draft_id: str, now: datetime) -> DraftRow | None:
    with app.db.transaction() as session:  # 1. record the attempt
        draft = repo.draft_by_id(session, draft_id)
        if draft.state not in ("approved", "sending"):
            return None
        resuming = draft.state == "sending"
        draft.state = "sending"
        if session.scalar(select(OutboxRow).where(OutboxRow.draft_id == draft.id)) is None:
            session.add(OutboxRow(draft_id=draft.id, message_id=draft.message_id, state="sending", started_at=now))
        mailbox_ref, message_id = draft.mailbox_ref, draft.message_id
        fallback = None if mailbox_ref else draft_bytes(app, draft, now, with_letter=True)
    # 2. the backend call, outside any transaction; after a crash, look in Sent first
    failpoint("send.recorded")
    if not (resuming and app.mailbox.was_sent(message_id)):
        raw = app.mailbox.read_draft(mailbox_ref) if mailbox_ref else None
        if raw is None and fallback is None:  # the officer's copy has gone from the mailbox: send ours
            with app.db.transaction() as session:
                fallback = draft_bytes(app, repo.draft_by_id(session, draft_id), now, with_letter=True)
        final = finalise(raw or fallback, message_id, now)
        sent_copy = app.mailbox.send(mailbox_ref, final)
        text = body_text(final)
    else:
        text, sent_copy = None, None
        if mailbox_ref and app.mailbox.read_draft(mailbox_ref) is not None:  # sent, then killed before the draft left
            app.mailbox.remove_draft(mailbox_ref)  # the approval folder (read_draft first: a Graph id follows the sent message)
    failpoint("send.sent")  # sent, not yet recorded as sent
    with app.db.transaction() as session:  # 3. record the result and what it means
        draft = repo.draft_by_id(session, draft_id)
        outbox = session.scalar(select(OutboxRow).where(OutboxRow.draft_id == draft.id))
        outbox.state, outbox.finished_at = "sent", now
        draft.state, draft.sent_at, draft.mailbox_ref = "sent", now, None
        draft.sent_text = text if text is not None else draft.body_text
        if not repo.message_stored(session, draft.message_id):
            session.add(MessageRow(message_id=draft.message_id, backend_id=sent_copy, case=draft.case, direction="out",
                                   received_at=now, from_addr=app.settings.mailbox.address, from_name=app.settings.team.name,
                                   subject=draft.subject, intent="other", signals=[], thread_rule="ours", text=draft.sent_text,
                                   subject_key=subject_key(draft.subject)))
        _after_sent(app, session, draft, now)
        log.info("sent draft=%s case=%s kind=%s", draft.id, draft.case.reference, draft.kind)
        return draft


def posted(app: App, draft_id: str, by: str, now: datetime) -> DraftRow:
    """An officer confirms an approved letter was posted: it counts as sent then."""
    with app.db.transaction() as session:
        draft = repo.draft_by_id(session, draft_id)
        if not draft.postal:
            raise Refused(f"draft {draft.id} goes by email; `mailcomplaints send` sends it")
        if draft.state != "approved":
            raise Refused(f"draft {draft.id} is {draft.state}; a letter is approved before it is posted")
        draft.state, draft.sent_at, draft.sent_text = "sent", now, current_text(app, draft)
        if draft.mailbox_ref:
            app.mailbox.remove_draft(draft.mailbox_ref)
            draft.mailbox_ref = None
        session.add(EventRow(case=draft.case, kind="posted", at=now, actor=by, stage=draft.stage,
                             detail={"draft": draft.id, "draft_kind": draft.kind, "pdf": draft.pdf_path}))
        _after_sent(app, session, draft, now)
        return draft
