"""Data protection (UK GDPR): retention, run by `tick` and by `retention`, and
`erase --person`.

Personal data is kept no longer than needed (Article 5(1)(e)) and erased on
request (Article 17). What is due is decided in domain.retention; this
applies it in one transaction and keeps a permanent record of what was done
(the `erasures` table: counts, case references and a hash of the address,
never the data itself). A case keeps its facts, so the report for past years
does not change. Letter PDFs are deleted once the transaction has committed;
then the database is made to forget the old bytes too (SQLite keeps freed
pages and old WAL frames; PostgreSQL keeps dead rows until a VACUUM).

A dry run does the same work in a transaction that is rolled back, so what it
lists is exactly what a real run would do.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from mailcomplaints.domain import lifecycle
from mailcomplaints.domain.retention import (
    HeldCase, cases_due, hashed_id, mail_cutoff, marker, mentions, neutral_address, normal_address,
    person_hash, scrub_detail, scrub_signals,
)
from mailcomplaints.service.app import App
from mailcomplaints.service.drafts import sync_mailbox
from mailcomplaints.service.report import OMBUDSMAN_DOMAIN
from mailcomplaints.store import repository as repo
from mailcomplaints.store.models import (
    CaseRow, DraftRow, DuplicateDeliveryRow, ErasureRow, EventRow, MessageRow, QuarantineRow,
)

log = logging.getLogger("mailcomplaints.privacy")
NEVER_SENT = ("pending", "approved", "sending", "failed")  # a draft of an anonymised case must not go out
KEEP_DOMAINS = (OMBUDSMAN_DOMAIN,)  # the report counts the Ombudsman's referrals by its domain


class PrivacyError(ValueError):
    """`erase` or `export` asked for something that cannot be done (bad input, exit 2)."""


@dataclass
class Removed:
    """What one run removed (or, in a dry run, would remove)."""

    cases: list[str] = field(default_factory=list)
    messages: int = 0
    drafts: int = 0
    letters: int = 0
    events: int = 0
    quarantined: int = 0
    unlinked_messages: int = 0
    files: set[Path] = field(default_factory=set)  # letters to delete once committed
    mailbox: bool = False  # drafts taken back whose copies are still in the mailbox

    def counts(self) -> dict[str, int]:
        return {"cases": len(self.cases), "messages": self.messages, "drafts": self.drafts, "letters": self.letters,
                "events": self.events, "quarantined": self.quarantined, "unlinked_messages": self.unlinked_messages}

    def anything(self) -> bool:
        return any(self.counts().values())


class _DryRun(Exception):
    """Raised inside the transaction to roll a dry run back."""

    def __init__(self, result: dict[str, Any]):
        super().__init__("dry run")
        self.result = result


class Scrubber:
    """Takes the people out of rows, keeping the facts (domain.retention)."""

    def __init__(self, app: App, session: Session, now: datetime, removed: Removed):
        self.app, self.session, self.now, self.removed = app, session, now, removed
        self.ours = tuple(normal_address(a) for a in (app.settings.mailbox.address, app.settings.team.email) if a)
        self.ids: dict[str, str] = {}  # original Message-ID -> its hash, for the events that name them
        self.in_mailbox = False  # a draft taken back has a copy in the mailbox to remove

    def message(self, row: MessageRow, unlinked: bool = False) -> None:
        if row.removed_at is not None:
            return
        original, sender = row.message_id, row.from_addr
        if not (row.direction == "out" and self.session.scalar(select(func.count()).select_from(DraftRow)
                                                                .where(DraftRow.message_id == original))):
            row.message_id = self.ids[original] = hashed_id(original)  # ours (a draft's) stays: it names no one
        row.text, row.raw = "", None
        row.from_addr = neutral_address(sender, self.ours, KEEP_DOMAINS)
        if row.from_addr != sender or not sender:
            row.from_name = marker(row.from_name)
        row.subject, row.subject_key, row.fingerprint = marker(row.subject), "", None
        row.signals = scrub_signals(row.signals or [])
        row.removed_at = self.now
        if original in self.ids:
            for duplicate in self.session.scalars(select(DuplicateDeliveryRow).where(DuplicateDeliveryRow.message_id == original)):
                duplicate.message_id = row.message_id
        if unlinked:
            self.removed.unlinked_messages += 1
        else:
            self.removed.messages += 1

    def draft(self, row: DraftRow) -> None:
        held = bool(row.body_text or row.sent_text or row.pdf_path or row.cc_addrs
                    or any(normal_address(a) not in self.ours for a in row.to_addrs or []))
        if row.state in NEVER_SENT:
            row.state = "superseded"
            self.in_mailbox |= row.mailbox_ref is not None  # its copy leaves the approval folder after the commit
        row.to_addrs = [a for a in row.to_addrs or [] if normal_address(a) in self.ours]  # a reminder to the team stays addressed to it
        row.cc_addrs = []
        row.subject, row.body_text = marker(row.subject), ""
        row.sent_text = "" if row.sent_text is not None else None
        row.in_reply_to = hashed_id(row.in_reply_to) if row.in_reply_to else None
        row.override_reason = marker(row.override_reason) or None  # the report counts overrides: kept as a marker
        row.reject_reason = marker(row.reject_reason) or None
        row.failure = marker(row.failure) or None
        if row.pdf_path:
            self.letter(Path(row.pdf_path))
            row.pdf_path = None
        self.removed.drafts += held

    def letter(self, path: Path) -> None:
        if path.is_file() and path not in self.removed.files:
            self.removed.files.add(path)
            self.removed.letters += 1

    def event(self, row: EventRow) -> None:
        detail = dict(row.detail or {})
        kept, reason = scrub_detail(detail, self.ids), marker(row.reason)
        if reason != row.reason or kept != detail:
            row.reason, row.detail = reason, kept
            self.removed.events += 1

    def rehash(self, row: EventRow) -> None:
        """In someone else's case: only the Message-IDs of the messages taken out."""
        detail = dict(row.detail or {})
        if detail.get("message_id") in self.ids:
            row.detail = {**detail, "message_id": self.ids[detail["message_id"]]}

    def case(self, row: CaseRow) -> None:
        """Every person out of a case: its messages, letters, names, subject, history's words."""
        for message in row.messages:
            self.message(message)
        for draft in row.drafts:
            self.draft(draft)
        folder = self.app.letters_dir / row.reference
        if folder.is_dir():
            for path in folder.iterdir():
                self.letter(path)
        for event in row.events:
            self.event(event)
        row.complainant_name, row.complainant_email = marker(row.complainant_name), ""
        row.subject, row.postal_address, row.copy_to = marker(row.subject), "", []
        row.anonymised_at = self.now
        self.removed.cases.append(row.reference)

    def quarantined(self, row: QuarantineRow) -> None:
        """Mail that could not be read goes whole; its mailbox id is remembered,
        so the mailbox's copy is not read (and quarantined) again."""
        self.session.add(DuplicateDeliveryRow(backend_id=row.backend_id, message_id="", received_at=row.received_at))
        self.session.delete(row)
        self.removed.quarantined += 1


def _note(session: Session, row: CaseRow, now: datetime, by: str, why: str, record: ErasureRow, reason: str) -> None:
    session.add(EventRow(case=row, kind="anonymised", at=now, actor=by, stage=row.stage, reason=reason,
                         detail={"why": why, "record": record.id}))


def _secure(session: Session) -> None:
    """SQLite: overwrite what this transaction frees with zeros, not leave it in free pages."""
    if session.get_bind().dialect.name == "sqlite":
        session.connection().exec_driver_sql("PRAGMA secure_delete=ON")


def _finish(app: App, removed: Removed, vacuum: bool) -> bool | None:
    """After the commit: delete the letter files, and make the database forget
    the old bytes. Returns whether the database file was compacted (None: not tried)."""
    for path in sorted(removed.files):
        path.unlink(missing_ok=True)
        try:
            path.parent.rmdir()  # the case's letters folder, once empty
        except OSError:
            pass
    return forget(app, vacuum) if removed.anything() else None


def forget(app: App, vacuum: bool) -> bool:
    """SQLite: VACUUM rewrites the file from live rows only (old versions of rows
    updated long ago linger in free space otherwise, on every SQLite not built
    with SECURE_DELETE), and a TRUNCATE checkpoint empties the WAL, which still
    holds old pages. PostgreSQL: VACUUM makes dead row versions unreadable and
    their space reusable. False when another process kept the database busy:
    the data is gone from every table; its old bytes go at the next run."""
    engine = app.db.engine
    try:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            if engine.dialect.name == "sqlite":
                if vacuum:
                    connection.exec_driver_sql("VACUUM")
                return connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0] == 0
            if engine.dialect.name == "postgresql" and vacuum:
                connection.exec_driver_sql("VACUUM cases, messages, drafts, events, quarantine, duplicate_deliveries")
            return True
    except OperationalError as err:
        log.warning("database not compacted after removing personal data: %s", type(err).__name__)
        return False


# --- retention ---------------------------------------------------------------------

def retention(app: App, now: datetime, by: str = lifecycle.SYSTEM, dry_run: bool = False) -> dict[str, Any]:
    """Remove what has been kept long enough ([retention]): the people in cases
    closed `closed_case_years` ago, quarantined and unlinked mail after their days."""
    rules = app.settings.retention
    try:
        with app.db.transaction() as session:
            removed = Removed()
            record = _retain(app, session, now, by, removed, dry_run)
            result = {"dry_run": dry_run, "rules": rules.as_dict(), "cases": list(removed.cases), "counts": removed.counts(),
                      "record": record.id if record and not dry_run else None}
            if dry_run:
                raise _DryRun(result)
    except _DryRun as done:
        return done.result
    if removed.mailbox:
        sync_mailbox(app, now)
    result["database_compacted"] = _finish(app, removed, vacuum=True)  # tick runs this once a day at most
    if record is not None:
        log.info("retention record=%s cases=%d messages=%d", record.id, len(removed.cases), removed.messages)
    return result


def _retain(app: App, session: Session, now: datetime, by: str, removed: Removed, dry_run: bool) -> ErasureRow | None:
    rules = app.settings.retention
    held = [HeldCase(*row) for row in session.execute(
        select(CaseRow.reference, CaseRow.state, CaseRow.closed_at, CaseRow.anonymised_at)
        .where(CaseRow.state == "closed", CaseRow.closed_at.is_not(None)).order_by(CaseRow.id))]
    due = cases_due(held, now, rules)
    quarantined = session.scalars(select(QuarantineRow).where(QuarantineRow.received_at <= mail_cutoff(now, rules.quarantine_days))).all()
    unlinked = session.scalars(select(MessageRow).where(
        MessageRow.case_id.is_(None), MessageRow.removed_at.is_(None),
        MessageRow.received_at <= mail_cutoff(now, rules.unlinked_mail_days))).all()
    if not (due or quarantined or unlinked):
        return None
    if not dry_run:
        _secure(session)
    record = ErasureRow(kind="retention", at=now, actor=by, reason=(
        f"retention: cases closed {rules.closed_case_years} years ago, quarantined mail after {rules.quarantine_days} days, "
        f"mail with no case after {rules.unlinked_mail_days} days"), person_hash=None, cases=[], counts={})
    session.add(record)
    session.flush()
    scrub = Scrubber(app, session, now, removed)
    for reference in due:
        row = repo.case_by_reference(session, reference)
        scrub.case(row)
        _note(session, row, now, by, "retention", record,
              f"personal data removed {rules.closed_case_years} years after the case closed ([retention] closed_case_years)")
    for message in unlinked:
        scrub.message(message, unlinked=True)
    for row in quarantined:
        scrub.quarantined(row)
    removed.mailbox = scrub.in_mailbox
    record.cases, record.counts = list(removed.cases), removed.counts()
    return record


# --- erasure -------------------------------------------------------------------------

@dataclass
class Held:
    """Everything held about one address."""

    own: list[CaseRow]  # they are the complainant
    messages: list[MessageRow]  # they wrote
    copied: list[CaseRow]  # others' cases that answer them too
    drafts: list[DraftRow]  # others' drafts addressed or copied to them
    quarantined: list[QuarantineRow]

    def empty(self) -> bool:
        return not (self.own or self.messages or self.copied or self.drafts or self.quarantined)


def held_about(session: Session, address: str) -> Held:
    own = session.scalars(select(CaseRow).where(func.lower(CaseRow.complainant_email) == address).order_by(CaseRow.id)).all()
    own_ids = {c.id for c in own}
    messages = session.scalars(select(MessageRow).where(func.lower(MessageRow.from_addr) == address, MessageRow.removed_at.is_(None))
                               .order_by(MessageRow.received_at)).all()
    copied = [c for c in session.scalars(select(CaseRow).order_by(CaseRow.id))
              if c.id not in own_ids and any(normal_address(a) == address for a in c.copy_to or [])]
    drafts = [d for d in session.scalars(select(DraftRow).order_by(DraftRow.created_at))
              if d.case_id not in own_ids and any(normal_address(a) == address for a in [*(d.to_addrs or []), *(d.cc_addrs or [])])]
    quarantined = [q for q in session.scalars(select(QuarantineRow).order_by(QuarantineRow.id)) if mentions(q.raw, address)]
    return Held(list(own), list(messages), copied, drafts, quarantined)


def check_person(app: App, person: str) -> str:
    address = normal_address(person)
    if "@" not in address or any(ch.isspace() for ch in address):
        raise PrivacyError(f"--person {person!r} is not an email address")
    if address in (app.settings.mailbox.address, app.settings.team.email.lower()):
        raise PrivacyError(f"{address} is the complaints team's own address, not a person's")
    return address


def erase(app: App, person: str, reason: str, by: str, now: datetime, dry_run: bool = False, force: bool = False) -> dict[str, Any]:
    """Remove every personal datum held about the person with this address.

    Cases they complained in are anonymised whole; in others' cases only their
    own messages go and their address leaves the copy lists. A case of theirs
    still open is refused, unless `force`: then it is closed as withdrawn first
    (no one can go on answering a complaint whose words and address are gone).
    Someone else's message that quotes the address is listed, not changed: it
    is that person's data too, for an officer to judge."""
    address = check_person(app, person)
    if not reason.strip():
        raise PrivacyError("give the --reason for the erasure (it is kept in the record)")
    if not by.strip():
        raise PrivacyError("give --by, who is erasing (it is kept in the record)")
    try:
        with app.db.transaction() as session:
            removed = Removed()
            result = _erase(app, session, address, reason.strip(), by.strip(), now, removed, dry_run, force)
            if dry_run:
                raise _DryRun(result)
    except _DryRun as done:
        return done.result
    if removed.mailbox:
        sync_mailbox(app, now)  # the closed cases' waiting drafts leave the approval folder
    result["database_compacted"] = _finish(app, removed, vacuum=True)
    log.info("erasure record=%s cases=%d messages=%d", result["record"], len(removed.cases), removed.messages)
    return result


def _erase(app: App, session: Session, address: str, reason: str, by: str, now: datetime, removed: Removed,
           dry_run: bool, force: bool) -> dict[str, Any]:
    held = held_about(session, address)
    if held.empty():
        raise PrivacyError(f"nothing is held about {address}: no case, message, draft or quarantined mail has that address")
    open_cases = [c.reference for c in held.own if c.state != "closed"]
    if open_cases and not (force or dry_run):
        raise PrivacyError(f"{address} is the complainant in open case {', '.join(open_cases)}: close it first, "
                           "or add --force to close it as withdrawn and erase")
    roles = {c.reference: "complainant" for c in held.own}
    for message in held.messages:
        if message.case is not None:
            roles.setdefault(message.case.reference, "correspondent")
    for row in [*held.copied, *(d.case for d in held.drafts)]:
        roles.setdefault(row.reference, "copied")
    in_mailbox = sum(1 for m in held.messages if m.backend_id)
    if not dry_run:
        _secure(session)
    record = ErasureRow(kind="erasure", at=now, actor=by, reason=reason, person_hash=person_hash(address), cases=[], counts={})
    session.add(record)
    session.flush()
    scrub = Scrubber(app, session, now, removed)
    closed = []
    for row in held.own:
        scrub.case(row)  # its waiting drafts are taken back here
        if row.state != "closed":
            repo.change_case(session, row, lambda c: lifecycle.close(
                c, "withdrawn", now, by, "closed so that the complainant's personal data could be erased"), app.policy, app.calendar)
            closed.append(row.reference)
    others: dict[str, CaseRow] = {}
    for message in held.messages:
        if message.case is None:
            scrub.message(message, unlinked=True)
        elif message.case.reference not in removed.cases:
            scrub.message(message)
            others[message.case.reference] = message.case
    for row in held.copied:
        row.copy_to = [a for a in row.copy_to or [] if normal_address(a) != address]
        others[row.reference] = row
    for draft in held.drafts:
        draft.to_addrs = [a for a in draft.to_addrs or [] if normal_address(a) != address]
        draft.cc_addrs = [a for a in draft.cc_addrs or [] if normal_address(a) != address]
        removed.drafts += 1
        others[draft.case.reference] = draft.case
    for row in held.quarantined:
        scrub.quarantined(row)
    removed.mailbox = scrub.in_mailbox
    for reference in removed.cases:
        _note(session, repo.case_by_reference(session, reference), now, by, "erasure", record,
              f"personal data erased on request (erasure record {record.id})")
    for row in others.values():
        for event in row.events:
            scrub.rehash(event)
        _note(session, row, now, by, "erasure", record,
              f"a correspondent's personal data erased on request (erasure record {record.id})")
    session.flush()
    mentioned = sorted({(m.case.reference if m.case else "no case") for m in session.scalars(
        select(MessageRow).where(MessageRow.removed_at.is_(None), func.lower(MessageRow.text).contains(address, autoescape=True)))})
    record.cases = sorted(set(removed.cases) | set(others))
    record.counts = removed.counts()
    return {
        "person": address, "person_hash": record.person_hash, "dry_run": dry_run, "record": None if dry_run else record.id,
        "cases": [{"reference": ref, "role": role} for ref, role in sorted(roles.items())],
        "open_cases": open_cases, "closed": closed, "needs_force": bool(open_cases) and not force,
        "counts": removed.counts(), "mentioned_in": mentioned, "left_in_mailbox": in_mailbox,
    }


def erasure_records(app: App) -> list[dict[str, Any]]:
    """The permanent record of erasures and retention runs, oldest first."""
    with app.db.transaction() as session:
        return [{"id": r.id, "kind": r.kind, "at": r.at.isoformat(), "actor": r.actor, "reason": r.reason,
                 "person_hash": r.person_hash, "cases": list(r.cases or []), "counts": dict(r.counts or {})}
                for r in session.scalars(select(ErasureRow).order_by(ErasureRow.id))]

