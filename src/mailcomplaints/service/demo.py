"""`demo`: replay seven weeks of Reliance Housing's complaints mailbox.

Thirteen resident emails (src/mailcomplaints/demo/messages) arrive in a
Maildir at their real delivery times; between them the demo plays the
officers — approving acknowledgements, writing a response into its draft in
the mailbox, extending, deciding a premature escalation — with `now` moving
forward, through exactly the services the CLI calls. At the end it prints
what the tool made of it all.
"""

from __future__ import annotations

import email
import os
import re
import sys
import shutil
import tomllib
from dataclasses import dataclass
from datetime import datetime
from email import policy as email_policy
from pathlib import Path

from rich.console import Console
from sqlalchemy import select

from mailcomplaints.config import load_config
from mailcomplaints.domain.calendar import LONDON
from mailcomplaints.mail.message import parse_message
from mailcomplaints.service import casework
from mailcomplaints.service.app import App
from mailcomplaints.service.approval import approve, send_approved
from mailcomplaints.service.pipeline import ingest
from mailcomplaints.service.queries import list_cases, list_drafts
from mailcomplaints.service.scheduler import tick
from mailcomplaints.service.setup import config_text
from mailcomplaints.store import repository as repo
from mailcomplaints.store.models import DraftRow
from mailcomplaints.resources import shipped_dir

MARKER = ".mailcomplaints-demo"
MANAGER, OFFICER = "Priya Shah", "Tom Okafor"

# The officers' side of the story, as data: (London time, action, arguments).
# Cases are named by the number of the message that opened them.
TIMELINE: list[tuple[str, str, tuple]] = [
    ("2026-11-02T09:30", "ingest", ()),
    ("2026-11-02T11:00", "approve_and_send", ("acknowledgement",)),
    ("2026-11-03T14:00", "ingest", ()),
    ("2026-11-04T09:15", "assign", (2, OFFICER)),
    ("2026-11-04T09:20", "approve_and_send", ("acknowledgement",)),
    ("2026-11-09T08:30", "ingest", ()),
    ("2026-11-09T10:30", "ingest", ()),
    ("2026-11-09T11:00", "approve_and_send", ("acknowledgement", "compliment_thanks")),
    ("2026-11-11T08:30", "ingest", ()),
    ("2026-11-11T09:00", "approve_and_send", ("not_a_complaint",)),
    ("2026-11-11T12:00", "ingest", ()),
    ("2026-11-11T14:00", "approve_and_send", ("acknowledgement",)),
    ("2026-11-12T09:00", "ingest", ()),
    ("2026-11-12T10:00", "decide", (3, "decline-escalation")),
    ("2026-11-12T10:05", "approve_and_send", ("escalation_declined",)),
    ("2026-11-16T12:00", "respond", (1, "upheld")),
    ("2026-11-16T13:00", "ingest", ()),
    ("2026-11-16T13:30", "approve_and_send", ("acknowledgement",)),
    ("2026-11-16T15:00", "respond", (2, "partly upheld")),
    ("2026-11-18T10:00", "extend", (3, 5, "we are waiting for the contractor's job records for both appointments")),
    ("2026-11-18T10:10", "approve_and_send", ("extension",)),
    ("2026-11-24T15:00", "ingest", ()),
    ("2026-11-25T09:00", "approve_and_send", ("acknowledgement",)),
    ("2026-11-25T16:30", "ingest", ()),
    ("2026-11-27T07:00", "tick", ()),
    ("2026-11-30T11:00", "respond", (3, "not upheld")),
    ("2026-12-21T10:00", "ingest", ()),
    ("2026-12-21T10:05", "tick", ()),
]

FILLED_IN = {
    "the complaint as defined and agreed with the resident": "You told us about the problem set out in your email, and the outcome you wanted.",
    "each point, and whether it is upheld": "We looked at each point you raised with the repairs team and the contractor's records.",
    "the reasons, with reference to the relevant policy, law and good practice": "Our records show where we met our repair standards and where we did not.",
    "the remedy offered": "We apologise where we fell short and have booked the outstanding work.",
    "any actions still to be done, with dates": "The repairs team will confirm the appointment within five working days.",
}


@dataclass(frozen=True)
class DemoMessage:
    number: int
    path: Path
    delivered: datetime
    shows: str


def london(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=LONDON)


def load_messages() -> list[DemoMessage]:
    folder = shipped_dir("demo") / "messages"
    manifest = tomllib.loads((folder / "manifest.toml").read_text())
    items = [DemoMessage(int(m["file"][:2]), folder / m["file"], london(m["delivered"]), m.get("shows", ""))
             for m in manifest["message"]]
    return sorted(items, key=lambda m: m.delivered)


class Replay:
    def __init__(self, folder: Path, console: Console):
        self.folder, self.console = folder, console
        self.app = App(load_config(folder / "mailcomplaints.toml"))
        self.messages = load_messages()
        self.delivered: set[int] = set()
        self.case_of: dict[int, str] = {}  # message number -> the case reference it opened or joined

    def say(self, now: datetime, text: str) -> None:
        self.console.print(f"[dim]{now:%a %d %b %H:%M}[/]  {text}")

    def reference(self, number: int) -> str:
        return self.case_of[number]

    # --- the resident's side -----------------------------------------------------------

    def deliver_until(self, now: datetime) -> None:
        inbox = self.app.mailbox.root / "new"
        for message in self.messages:
            if message.number in self.delivered or message.delivered > now:
                continue
            raw = message.path.read_bytes()
            raw = re.sub(rb"\{ref:(\d+)\}", lambda m: self.case_of[int(m.group(1))].encode(), raw)
            name = f"{int(message.delivered.timestamp())}.demo{message.number:02d}.mailcomplaints-demo"
            (inbox / name).write_bytes(raw)
            self.delivered.add(message.number)

    def learn_references(self) -> None:
        with self.app.db.transaction() as session:
            for message in self.messages:
                if message.number in self.delivered and message.number not in self.case_of:
                    raw = message.path.read_bytes()
                    parsed = parse_message(raw, message.delivered)
                    found = repo.case_of_message(session, parsed.message_id)
                    if found:
                        self.case_of[message.number] = found

    # --- the officers' side ---------------------------------------------------------------

    def ingest(self, now: datetime) -> None:
        self.deliver_until(now)
        result = ingest(self.app, now)
        self.learn_references()
        parts = [f"{result.processed} message(s) read"]
        if result.new_cases:
            parts.append("new: " + ", ".join(result.new_cases))
        self.say(now, "ingest — " + "; ".join(parts))

    def approve_and_send(self, now: datetime, *kinds: str) -> None:
        with self.app.db.transaction() as session:
            waiting = [(d.id, d.kind, d.case.reference) for d in session.scalars(
                select(DraftRow).where(DraftRow.state == "pending", DraftRow.kind.in_(kinds)).order_by(DraftRow.created_at))]
        for draft_id, kind, reference in waiting:
            approve(self.app, draft_id, MANAGER, now)
        sent = send_approved(self.app, now)
        if sent:
            self.say(now, f"{MANAGER} approved and sent: " + ", ".join(f"{d.kind.replace('_', ' ')} {d.case.reference}" for d in sent))

    def assign(self, now: datetime, number: int, officer: str) -> None:
        casework.assign(self.app, self.reference(number), officer, now, MANAGER)
        self.say(now, f"{self.reference(number)} assigned to {officer} (the waiting acknowledgement now names them)")

    def decide(self, now: datetime, number: int, decision: str) -> None:
        casework.decide(self.app, self.reference(number), decision, now, MANAGER, "stage 1 is still within its timescale")
        self.say(now, f"{MANAGER} decided {decision} on {self.reference(number)}")

    def extend(self, now: datetime, number: int, days: int, reason: str) -> None:
        casework.extend(self.app, self.reference(number), days, reason, now, OFFICER)
        self.say(now, f"{OFFICER} extended {self.reference(number)} by {days} working days")

    def respond(self, now: datetime, number: int, outcome: str) -> None:
        """The officer asks for a response draft, writes the findings into it in
        the mailbox, a manager approves it and it is sent as edited."""
        reference = self.reference(number)
        draft = casework.plan_draft(self.app, reference, "response", now, OFFICER, outcome=outcome)
        box = self.app.mailbox
        message = email.message_from_bytes(box.read_draft(draft.mailbox_ref), policy=email_policy.SMTP)
        for part in message.walk():  # as a mail client does: the text and the HTML part
            if part.get_content_type() in ("text/plain", "text/html"):
                body = part.get_content()
                for label, text in FILLED_IN.items():
                    body = body.replace(f"[[OFFICER TO COMPLETE: {label}]]", text)
                part.set_content(body, subtype=part.get_content_subtype())
        box.replace_draft(draft.mailbox_ref, message.as_bytes())
        approve(self.app, draft.id, MANAGER, now)
        send_approved(self.app, now)
        self.say(now, f"{OFFICER} wrote the stage response to {reference} ({outcome}); {MANAGER} approved it; sent")

    def tick(self, now: datetime) -> None:
        result = tick(self.app, now)
        bits = []
        if result.closed:
            bits.append("closed (escalation window ended): " + ", ".join(result.closed))
        if result.flagged:
            bits.append("response overdue: " + ", ".join(result.flagged))
        if result.reminders:
            bits.append(f"{result.reminders} reminder(s) drafted for the team")
        self.say(now, "tick — " + ("; ".join(bits) or "nothing due"))

    def play(self) -> datetime:
        now = london(TIMELINE[0][0])
        for when, action, args in TIMELINE:
            now = london(when)
            getattr(self, action)(now, *args)
        return now


def prepare(folder: Path) -> None:
    if folder.exists():
        if not (folder / MARKER).exists():
            raise FileExistsError(f"{folder} exists and is not a demo folder; choose another with --dir")
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    (folder / MARKER).write_text("made by `mailcomplaints demo`; safe to delete\n")
    (folder / "mailcomplaints.toml").write_text(config_text(
        landlord="Reliance Housing", policy="reliance", address="complaints@reliance.example.org",
        mailbox_path="mailbox", database_path="mailcomplaints.db"))


def run_demo(folder: Path, console: Console) -> None:
    prepare(folder)
    replay = Replay(folder, console)
    console.print(f"[bold]mailcomplaints demo[/] — Reliance Housing, policy 'reliance' (England), in {folder}/\n")
    now = replay.play()
    summarise(replay.app, now, folder, console)
    replay.app.close()


def _deadline_line(d: dict) -> str:
    due = datetime.fromisoformat(d["due"])
    return f"{d['kind'].replace('_', ' ')} {d['stage']} {due:%a %d %b}: {d['status'].replace('_', ' ')}"


def summarise(app: App, now: datetime, folder: Path, console: Console) -> None:
    console.print(f"\n[bold]Cases on {now:%A %d %B %Y}[/]")
    for c in list_cases(app, now):
        outcome = f", {c['outcome'].replace('_', ' ')}" if c["outcome"] else ""
        console.print(f"[bold]{c['reference']}[/] {c['kind'].replace('_', ' ')} from {c['complainant']['email']}: "
                      f"stage {c['stage']}, {c['state'].replace('_', ' ')}{outcome}")
        console.print(f"    {c['subject']}")
        if c["deadlines"]:
            console.print("    " + " · ".join(_deadline_line(d) for d in c["deadlines"]))
        if c["flags"]:
            console.print("    flags: " + ", ".join(c["flags"]))
    drafts = list_drafts(app)
    waiting = [d for d in drafts if d["state"] == "pending"]
    console.print(f"\n[bold]{len(waiting)} drafts wait for approval[/] in {folder}/mailbox/.Drafts:")
    for d in waiting:
        console.print(f"  {d['id']}  {d['case']}  {d['kind'].replace('_', ' ')} (stage {d['stage']}) to {', '.join(d['to'])}")
    sent = sum(1 for d in drafts if d["state"] == "sent")
    letters = sorted(app.letters_dir.rglob("*.pdf"))
    console.print(f"\n{sent} replies were sent (copies in {folder}/mailbox/.Sent), each with its PDF letter;")
    console.print(f"{len(letters)} PDF letters are in {app.letters_dir}/ (one folder per case). Explore with:")
    config = folder / "mailcomplaints.toml"
    command = os.path.relpath(sys.argv[0]) if Path(sys.argv[0]).name == "mailcomplaints" else "mailcomplaints"
    for args in ("case CMP-000001", "drafts", "cases --json"):
        console.print(f"  {command} --config {config} --now {now.isoformat()} {args}", soft_wrap=True)
