"""`export REF` and `export --person EMAIL`: everything held about a case or a
person, as one ZIP file — for a subject access request (UK GDPR Article 15),
or to hand a case file to the Ombudsman.

The ZIP holds, per case: the messages as .eml (the bytes as received where
they are stored, else rebuilt from the stored text and marked so), the
letters as PDF, every draft's text and the text as sent, and the case with
its deadlines and history as JSON; and index.json and index.txt listing
every file. With --person: the cases they complained in whole; in others'
cases only their own messages and what was addressed to them; their mail
that joined no case; quarantined mail that names them. Read-only: an export
changes nothing. Someone else's data in a complainant's own case (a
neighbour named in a letter) is for an officer to redact before disclosure.
"""

from __future__ import annotations

import json
import os
import zipfile
from dataclasses import dataclass, field
from datetime import datetime
from email import policy as email_policy
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import Any

from mailcomplaints.domain.calendar import local
from mailcomplaints.domain.retention import person_hash
from mailcomplaints.service.app import App
from mailcomplaints.service.privacy import PrivacyError, check_person, held_about
from mailcomplaints.service.views import case_dict, draft_dict
from mailcomplaints.store import repository as repo
from mailcomplaints.store.models import CaseRow, DraftRow, MessageRow


@dataclass
class Bundle:
    """The files of one export, in order, each with a line for the index."""

    now: datetime
    files: list[tuple[str, bytes, dict[str, Any]]] = field(default_factory=list)
    not_included: list[dict[str, Any]] = field(default_factory=list)

    def add(self, path: str, data: bytes, what: str, **info: Any) -> None:
        self.files.append((path, data, {"path": path, "what": what, "bytes": len(data), **info}))

    def count(self, what: str) -> int:
        return sum(1 for _, _, entry in self.files if entry["what"] == what)


def _json(data: Any) -> bytes:
    return (json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n").encode("utf-8")


def _rebuilt(message: MessageRow) -> bytes:
    """A message whose bytes were not stored (our own sent letters): rebuilt from what was."""
    msg = EmailMessage(policy=email_policy.SMTP)
    msg["From"] = f"{message.from_name} <{message.from_addr}>" if message.from_name and message.from_addr else message.from_addr
    msg["Subject"] = message.subject
    msg["Date"] = format_datetime(message.received_at)
    msg["Message-ID"] = message.message_id
    msg["X-Mailcomplaints-Rebuilt"] = "from the stored text; the bytes as sent were not kept"
    msg.set_content(message.text or "")
    return msg.as_bytes()


def _message(bundle: Bundle, folder: str, number: int, message: MessageRow, reference: str | None) -> None:
    when = local(message.received_at)
    if message.removed_at is not None:
        bundle.not_included.append({"case": reference, "what": "message", "received_at": message.received_at.isoformat(),
                                    "removed_at": message.removed_at.isoformat(), "why": "its personal data was removed"})
        return
    name = f"{folder}/messages/{number:02d}-{when:%Y-%m-%d-%H%M}-{message.direction}.eml"
    data, rebuilt = (message.raw, False) if message.raw else (_rebuilt(message), True)
    description = f"{'an email to' if message.direction == 'in' else 'an email from'} the complaints mailbox"
    bundle.add(name, data, "message", case=reference, direction=message.direction, received_at=message.received_at.isoformat(),
               message_id=message.message_id, rebuilt=rebuilt, description=description)


def _draft(bundle: Bundle, folder: str, draft: DraftRow, reference: str) -> None:
    stem = f"{folder}/drafts/{draft.id}-{draft.kind}"
    info = {"case": reference, "draft": draft.id, "kind": draft.kind, "state": draft.state}
    if draft.body_text:
        bundle.add(f"{stem}.txt", draft.body_text.encode("utf-8"), "draft", **info, description=f"the {draft.kind.replace('_', ' ')} as drafted")
    if draft.sent_text:
        bundle.add(f"{stem}-as-sent.txt", draft.sent_text.encode("utf-8"), "sent_text", **info,
                   sent_at=draft.sent_at.isoformat() if draft.sent_at else None, description=f"the {draft.kind.replace('_', ' ')} as sent")
    if draft.pdf_path and Path(draft.pdf_path).is_file():
        bundle.add(f"{folder}/letters/{draft.id}-{draft.kind}.pdf", Path(draft.pdf_path).read_bytes(), "letter", **info,
                   description=f"the {draft.kind.replace('_', ' ')} letter (PDF)")


def _whole_case(app: App, bundle: Bundle, row: CaseRow, role: str) -> None:
    ref = row.reference
    record = case_dict(row, bundle.now, app.settings.team.default_officer, detail=True)
    record["drafts"] = [draft_dict(d) | {"body_text": d.body_text, "sent_text": d.sent_text} for d in row.drafts]
    record["anonymised_at"] = row.anonymised_at.isoformat() if row.anonymised_at else None
    record["role"] = role
    bundle.add(f"{ref}/case.json", _json(record), "case", case=ref,
               description="the case, its stages, deadlines, drafts and history (events)")
    for number, message in enumerate(row.messages, 1):
        _message(bundle, ref, number, message, ref)
    for draft in row.drafts:
        _draft(bundle, ref, draft, ref)


def _part_of_case(app: App, bundle: Bundle, row: CaseRow, role: str, messages: list[MessageRow], drafts: list[DraftRow]) -> None:
    """Someone else's case: only the person's own messages and what was addressed to them."""
    ref = row.reference
    summary = {"reference": ref, "role": role, "kind": row.kind, "state": row.state,
               "opened_at": row.opened_at.isoformat(), "closed_at": row.closed_at.isoformat() if row.closed_at else None,
               "note": "another person's case: only this person's own messages and what was addressed to them are included"}
    bundle.add(f"{ref}/case.json", _json(summary), "case", case=ref, description="what the case is (another person's complaint)")
    for number, message in enumerate(messages, 1):
        _message(bundle, ref, number, message, ref)
    for draft in drafts:
        _draft(bundle, ref, draft, ref)


def export_case(app: App, reference: str, output: str | None, now: datetime) -> dict[str, Any]:
    bundle = Bundle(now)
    with app.db.transaction() as session:
        row = repo.case_by_reference(session, reference)
        ref = row.reference
        _whole_case(app, bundle, row, "case")
    return _write(app, bundle, _target(output, f"{ref}-export.zip"), {"case": ref}, [{"reference": ref, "role": "case"}])


def export_person(app: App, person: str, output: str | None, now: datetime) -> dict[str, Any]:
    address = check_person(app, person)
    bundle = Bundle(now)
    with app.db.transaction() as session:
        held = held_about(session, address)
        if held.empty():
            raise PrivacyError(f"nothing is held about {address}: no case, message, draft or quarantined mail has that address")
        cases: list[dict[str, str]] = []
        for row in held.own:
            _whole_case(app, bundle, row, "complainant")
            cases.append({"reference": row.reference, "role": "complainant"})
        own = {row.reference for row in held.own}
        others: dict[str, tuple[CaseRow, list[MessageRow], list[DraftRow], str]] = {}
        for message in held.messages:
            if message.case is not None and message.case.reference not in own:
                others.setdefault(message.case.reference, (message.case, [], [], "correspondent"))[1].append(message)
        for row in held.copied:
            others.setdefault(row.reference, (row, [], [], "copied"))
        for draft in held.drafts:
            others.setdefault(draft.case.reference, (draft.case, [], [], "copied"))[2].append(draft)
        for ref, (row, messages, drafts, role) in sorted(others.items()):
            _part_of_case(app, bundle, row, role, messages, drafts)
            cases.append({"reference": ref, "role": role})
        for number, message in enumerate((m for m in held.messages if m.case is None), 1):
            _message(bundle, "no-case", number, message, None)
        for number, row in enumerate(held.quarantined, 1):
            bundle.add(f"quarantine/{number:02d}-{local(row.received_at):%Y-%m-%d-%H%M}.eml", row.raw, "quarantined",
                       received_at=row.received_at.isoformat(), reason=row.reason, description="mail that could not be read, as received")
    digest = person_hash(address).removeprefix("sha256:")[:10]
    return _write(app, bundle, _target(output, f"person-{digest}-export.zip"), {"person": address}, cases)


def _target(output: str | None, default: str) -> Path:
    path = Path(output).expanduser() if output else Path(default)
    if path.is_dir():
        path = path / default
    if not path.parent.is_dir():
        raise PrivacyError(f"--output {output}: the folder {path.parent} does not exist")
    return path


def _index_text(app: App, scope: dict[str, str], bundle: Bundle, cases: list[dict[str, str]]) -> str:
    what = f"case {scope['case']}" if "case" in scope else f"the person with the address {scope['person']}"
    lines = [f"Everything {app.settings.landlord.name} holds about {what}",
             f"exported {local(bundle.now):%d %B %Y at %H:%M} (London time) by mailcomplaints", "",
             "Cases:"] + [f"  {c['reference']} ({c['role']})" for c in cases] + ["", "Files:",
             "  index.json  this list, for programs", "  index.txt  this list"]
    for _, _, entry in bundle.files:
        extra = " (rebuilt from the stored text)" if entry.get("rebuilt") else ""
        lines.append(f"  {entry['path']}  {entry.get('description') or entry['what'].replace('_', ' ')}{extra}, {entry['bytes']} bytes")
    if bundle.not_included:
        lines += ["", "Held no longer (personal data removed under the retention rules or on request):"]
        lines += [f"  {n['what']} of {n['received_at'][:10]} in {n['case'] or 'no case'}, removed {n['removed_at'][:10]}" for n in bundle.not_included]
    return "\n".join(lines) + "\n"


def _write(app: App, bundle: Bundle, path: Path, scope: dict[str, str], cases: list[dict[str, str]]) -> dict[str, Any]:
    index = {"exported_at": bundle.now.isoformat(), "landlord": app.settings.landlord.name, "scope": scope, "cases": cases,
             "files": [entry for _, _, entry in bundle.files], "not_included": bundle.not_included}
    stamp = local(bundle.now).timetuple()[:6]
    partial = path.with_name(path.name + ".part")
    try:
        with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as archive:
            for name, data in [("index.json", _json(index)), ("index.txt", _index_text(app, scope, bundle, cases).encode("utf-8")),
                               *((name, data) for name, data, _ in bundle.files)]:
                archive.writestr(zipfile.ZipInfo(name, date_time=max(stamp, (1980, 1, 1, 0, 0, 0))), data, zipfile.ZIP_DEFLATED)
        os.replace(partial, path)
    except OSError as err:
        partial.unlink(missing_ok=True)
        raise PrivacyError(f"the export cannot be written to {path}: {err.strerror}") from None
    return {"path": str(path.resolve()), "scope": scope, "cases": [c["reference"] for c in cases],
            "files": len(bundle.files) + 2, "messages": bundle.count("message"), "letters": bundle.count("letter"),
            "drafts": bundle.count("draft"), "sent_texts": bundle.count("sent_text"), "quarantined": bundle.count("quarantined"),
            "not_included": len(bundle.not_included), "bytes": path.stat().st_size}

