"""SIGKILL at random moments while mail is read, drafted, approved and sent
(issue #8): after every restart nothing is lost and nothing is doubled.

Each round delivers a few messages of a realistic mix (new complaints,
compliments and repair requests from new senders, replies and escalation
requests quoting a case reference, a withdrawal, an auto-reply, unreadable
bytes, a second delivery of an earlier Message-ID), then runs "an officer's
session": the real CLI entry point, `ingest`, `drafts`, `decide`, `approve`,
`reject`, `draft ... response`, `close`, sometimes `tick`, then `send`, in a
child forked from this process (mailcomplaints, WeasyPrint and the holidays
tables are loaded here once, so a child starts in milliseconds, not in half a
second). The parent SIGKILLs the child at a seeded random moment, sometimes
restarts and kills it again, then lets one more session run to the end and
checks, reading the database named by the landlord's config and the Maildir:

- the database passes its integrity check (SQLite: integrity_check and
  foreign_key_check; PostgreSQL: amcheck's bt_index_check where the server
  has it) and no row points at a row that is not there;
- every delivered message is stored exactly once (in the case it quotes, in
  none if it is machine mail), or quarantined, or recorded as a second
  delivery of a Message-ID already stored; no case was opened twice;
- no draft is doubled: one live draft per case, kind, stage and triggering
  message (reminders aside), at most one of a kind and stage waiting
  (create_draft supersedes the older one);
- every approved draft is sent exactly once (one copy in Sent, one outbox
  row, one "sent" event, one stored outgoing message), an outbox row exists
  exactly for drafts sending or sent, and every waiting draft is in Drafts
  exactly once, with nothing else there.

The safety half of these (nothing doubled, nothing in Sent twice or before
it was recorded as sending) is also checked right after every kill.

Kills are aimed: a seeded draw picks a phase (reading mail, rendering
letters, approving, sending, the other officer commands) and a fraction of
that phase's measured length, and the parent kills that long after the child
announces the phase (markers on a pipe). A kill counts only if the child had
not finished its work. 200 counted kills when CI is set, 25 otherwise, shared
between two landlords driven at once (one per core). MAILCOMPLAINTS_KILLS,
MAILCOMPLAINTS_KILL_SEED and MAILCOMPLAINTS_KILL_LANES override. The summary
goes to test-output/crash/summary.json (summary-postgresql.json on PostgreSQL).

The tests at the end replay exactly the windows the random kills found.
"""

from __future__ import annotations

import json
import os
import random
import select
import signal
import sys
import time
import tomllib
import traceback
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from email.parser import BytesHeaderParser
from pathlib import Path

import pytest
from conftest import make_email

KILLS = int(os.environ.get("MAILCOMPLAINTS_KILLS") or (200 if os.environ.get("CI") else 25))
SEED = int(os.environ.get("MAILCOMPLAINTS_KILL_SEED") or 20261123)
LANES = int(os.environ.get("MAILCOMPLAINTS_KILL_LANES") or min(2, os.cpu_count() or 1))  # landlords driven at once
START = datetime(2026, 11, 23, 9, 0, tzinfo=timezone.utc)  # a Monday
ROUND_EVERY = timedelta(minutes=100)
OUTPUT = Path(__file__).resolve().parents[2] / "test-output" / "crash"
CHILD_TIMEOUT = 120.0  # seconds: a session that takes longer is hung

# What the parent can aim a kill at, and the markers (written by the child as
# it goes) that belong to each phase. The weights say how often each is aimed at.
PHASES = {
    "ingest": ("ingest",),
    "render": ("render",),
    "approve": ("approve",),
    "send": ("send", "send_one"),
    "officer": ("decide", "draft", "reject", "close", "tick"),
}
AIM = {"ingest": 0.24, "render": 0.28, "approve": 0.24, "send": 0.12, "officer": 0.12}  # a missed phase falls to "send"
GROUP_OF = {marker: phase for phase, markers in PHASES.items() for marker in markers}
LIVE = ("pending", "approved", "sending", "sent")


# --- the officer's session, in the forked child ---------------------------------------

class Session:
    """What a complaints officer's script does each time it runs, through the CLI."""

    def __init__(self, config: Path, now: datetime, rng: random.Random, markers: int, scratch: Path, outcomes: list[str],
                 settle: bool):
        self.config, self.now, self.rng, self.markers = str(config), now.isoformat(), rng, markers
        self.scratch, self.outcomes, self.settle = scratch, outcomes, settle

    def mark(self, name: str, what: str = "") -> None:
        os.write(self.markers, f"{name} {what}".strip().encode() + b"\n")

    def cli(self, *args: str) -> str:
        from mailcomplaints.cli import main

        out = self.scratch / "stdout"
        sys.argv = ["mailcomplaints", "--config", self.config, "--now", self.now, *args]
        with open(out, "w", encoding="utf-8") as handle:
            sys.stdout = handle
            try:
                main()
                code = 0
            except SystemExit as stop:
                code = stop.code if isinstance(stop.code, int) else 1
            finally:
                sys.stdout = sys.__stdout__
        if code != 0:
            raise RuntimeError(f"`mailcomplaints {' '.join(args)}` exited {code} (see the session log)")
        return out.read_text(encoding="utf-8")

    def json(self, *args: str):
        return json.loads(self.cli(*args, "--json"))

    def work(self) -> None:
        rng = self.rng
        self.mark("ingest")
        self.cli("ingest", "--json")
        if rng.random() < 0.12:
            self.mark("tick")
            self.cli("tick", "--json")
        self.mark("list")
        pending = self.json("drafts", "--state", "pending")
        undecided = self._awaiting_decision(pending)
        decided = False
        for reference in sorted(undecided):
            if rng.random() < 0.6:
                self.mark("decide", reference)
                self.cli("decide", reference, rng.choice(["accept-escalation", "decline-escalation"]), "--by", "Sam Okafor", "--json")
                decided = True
        if decided:
            self.mark("list")
            pending = self.json("drafts", "--state", "pending")
            undecided = self._awaiting_decision(pending)
        for draft in pending:
            if draft["case"] in undecided:
                continue  # `approve` refuses these until someone decides
            roll = rng.random()
            if roll < 0.04:
                self.mark("reject", draft["id"])
                self.cli("reject", draft["id"], "--by", "Sam Okafor", "--reason", "Not needed after a phone call")
            elif roll < 0.72:
                self.mark("approve", draft["id"])
                self.cli("approve", draft["id"], "--by", "Priya Shah", "--override", "approved by the kill harness")
        if rng.random() < 0.5:
            self.casework()
        self.mark("send")
        self.cli("send", "--json")
        if self.settle:  # a last ingest takes out of Drafts what sending superseded, as the daemon's next round would
            self.mark("ingest")
            self.cli("ingest", "--json")

    def casework(self) -> None:
        """Write responses for cases being investigated; close answered stage 2 cases."""
        rng = self.rng
        self.mark("list")
        for case in self.json("cases", "--state", "investigating"):
            live = [d for d in case["drafts"] if d["kind"] == "response" and d["stage"] == case["stage"] and d["state"] in LIVE]
            if case["kind"] == "complaint" and not live and rng.random() < 0.35:
                self.mark("draft", case["reference"])
                self.cli("draft", case["reference"], "response", "--outcome", rng.choice(self.outcomes), "--by", "Ola Adeyemi", "--json")
        for case in self.json("cases", "--state", "responded"):
            if case["stage"] == 2 and rng.random() < 0.5:
                self.mark("close", case["reference"])
                self.cli("close", case["reference"], "--outcome", rng.choice(self.outcomes), "--by", "Ola Adeyemi", "--json")

    @staticmethod
    def _awaiting_decision(pending: list[dict]) -> set[str]:
        """Cases with both letters of a late or premature escalation waiting."""
        declined = {(d["case"], d["stage"]) for d in pending if d["kind"] == "escalation_declined"}
        return {d["case"] for d in pending if d["kind"] == "acknowledgement" and (d["case"], d["stage"] - 1) in declined}


def _child(config: Path, now: datetime, seed: int, markers: int, scratch: Path, outcomes: list[str], settle: bool) -> None:
    """The forked child: run one session, then leave at once (never return into pytest)."""
    code = 99
    try:
        log = os.open(scratch / "session.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        os.dup2(log, 1)
        os.dup2(log, 2)
        sys.stderr = open(2, "w", closefd=False, buffering=1)  # noqa: SIM115 - the child's stderr until os._exit
        os.environ.pop("MAILCOMPLAINTS_FAILPOINT", None)
        session = Session(config, now, random.Random(seed), markers, scratch, outcomes, settle)
        _announce_inner_phases(session)
        session.work()
        session.mark("done")
        code = 0
    except BaseException:  # noqa: BLE001 - reported through the log and the exit code
        traceback.print_exc()
    finally:
        os._exit(code)


def _announce_inner_phases(session: Session) -> None:
    """Markers inside commands: each PDF letter rendered, each draft sent.
    The wrappers only write a marker, then call the real function."""
    from mailcomplaints.drafting.pdf import PdfRenderer
    from mailcomplaints.service import approval

    render, send_one = PdfRenderer.render, approval._send_one

    def rendering(self, html):
        session.mark("render")
        return render(self, html)

    def sending(app, draft_id, *args, **kwargs):
        session.mark("send_one", draft_id)
        return send_one(app, draft_id, *args, **kwargs)

    PdfRenderer.render = rendering
    approval._send_one = sending


# --- the parent: running, aiming, killing --------------------------------------------------

@dataclass
class Aim:
    phase: str
    fraction: float
    offset: float = 0.0  # seconds after the phase began, set when it begins
    missed: str | None = None  # the phase first aimed at, when the session had none

    def describe(self) -> str:
        instead = f" (there was no {self.missed})" if self.missed else ""
        return f"{self.phase} + {self.offset:.3f}s ({self.fraction:.2f} of its usual length){instead}"


@dataclass
class Run:
    killed: bool
    interrupted: bool
    last_marker: str | None
    seconds: float
    markers: list[tuple[float, str]]
    log: str

    @property
    def phase(self) -> str:
        name = (self.last_marker or "start").split()[0]
        return GROUP_OF.get(name, name)


class Harness:
    def __init__(self, landlord, seed: int):
        self.landlord, self.seed = landlord, seed
        self.rng = random.Random(seed)
        self.config = Path(landlord.config)
        self.url = database_url_of(self.config)
        self.scratch = Path(landlord.root) / "harness"
        self.scratch.mkdir(exist_ok=True)
        from mailcomplaints.policies import load_policy

        kept = [o for o in load_policy("reliance").outcomes if o not in ("withdrawn", "resolved")]
        self.outcomes = kept or ["upheld"]
        self.time_in: Counter = Counter()  # seconds children spent in each phase
        self.length = {"ingest": 0.12, "render": 0.35, "approve": 0.1, "send": 0.1, "officer": 0.15}  # learnt as it goes

    def run(self, now: datetime, aim: Aim | None) -> Run:
        read_end, write_end = os.pipe()
        seed = self.rng.getrandbits(32)
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child
            os.close(read_end)
            _child(self.config, now, seed, write_end, self.scratch, self.outcomes, settle=aim is None)
        os.close(write_end)
        started = time.monotonic()
        markers: list[tuple[float, str]] = []
        pending, kill_at, killed, hung = b"", None, False, False
        try:
            while True:
                deadline = started + CHILD_TIMEOUT if kill_at is None else min(kill_at, started + CHILD_TIMEOUT)
                ready, _, _ = select.select([read_end], [], [], max(0.0, deadline - time.monotonic()))
                if ready:
                    data = os.read(read_end, 65536)
                    if not data:
                        break  # the child has gone
                    at = time.monotonic() - started
                    pending += data
                    *lines, pending = pending.split(b"\n")
                    for line in lines:
                        markers.append((at, line.decode()))
                        name = line.decode().split()[0]
                        if aim and kill_at is None and name == "send" and aim.phase != "send":
                            aim.missed, aim.phase = aim.phase, "send"  # the phase aimed at never came: the last one will do
                        if aim and kill_at is None and GROUP_OF.get(name) == aim.phase:
                            aim.offset = aim.fraction * self.length[aim.phase]
                            kill_at = time.monotonic() + aim.offset
                    if kill_at is None or time.monotonic() < kill_at:
                        continue
                hung = kill_at is None or time.monotonic() >= started + CHILD_TIMEOUT
                os.kill(pid, signal.SIGKILL)
                killed = True
                break
            _, status = os.waitpid(pid, 0)
            if killed:  # what it wrote before it died tells where it was
                while data := os.read(read_end, 65536):
                    pending += data
                markers += [(time.monotonic() - started, line.decode()) for line in pending.split(b"\n") if line]
        finally:
            os.close(read_end)
        seconds = time.monotonic() - started
        log_file = self.scratch / "session.log"
        log = log_file.read_text(errors="replace") if log_file.exists() else ""
        log_file.unlink(missing_ok=True)
        last = markers[-1][1] if markers else None
        if hung:
            raise AssertionError(f"a session ran for more than {CHILD_TIMEOUT:.0f}s: {log[-2000:]}")
        if not killed and os.waitstatus_to_exitcode(status) != 0:
            raise AssertionError(f"a session failed (exit {os.waitstatus_to_exitcode(status)}):\n{log[-4000:]}")
        self._learn(markers)
        return Run(killed, killed and last != "done", last, seconds, markers, log)

    def _learn(self, markers: list[tuple[float, str]]) -> None:
        """How long each phase usually lasts, from the markers of a session."""
        runs: list[tuple[str, float]] = [("start", 0.0)]
        for at, marker in markers:
            name = marker.split()[0]
            phase = GROUP_OF.get(name, name)
            if not runs or runs[-1][0] != phase:
                runs.append((phase, at))
        ends = [at for _, at in runs[1:]]
        for (phase, began), ended in zip(runs, ends):
            self.time_in[phase] += ended - began
            if phase in self.length and ended > began:
                self.length[phase] = 0.7 * self.length[phase] + 0.3 * (ended - began)

    def aim(self) -> Aim:
        phase = self.rng.choices(list(AIM), weights=list(AIM.values()))[0]
        return Aim(phase, self.rng.random())


def database_url_of(config: Path) -> str:
    """[database] url from the landlord's config, a relative SQLite path taken from the config's folder."""
    url = tomllib.loads(config.read_text())["database"]["url"]
    if url.startswith("sqlite:///") and not url.startswith("sqlite:////") and ":memory:" not in url:
        url = "sqlite:///" + str(config.parent / url.removeprefix("sqlite:///"))
    return url


# --- the mail ----------------------------------------------------------------------------------

PROBLEMS = ["damp in the bedroom", "a broken boiler", "a leaking roof", "mould in the bathroom", "a broken front door lock",
            "no hot water", "a blocked drain", "rats in the bin store", "a cracked window", "a collapsed ceiling"]
NAMES = ["Jane Doe", "Tom Lee", "Ann Cole", "Raj Patel", "Mary Byrne", "Kofi Mensah", "Ewa Nowak", "Li Wei", "Sara Khan",
         "Dai Jones", "Fiona Ross", "Ben Ade"]


@dataclass
class Delivery:
    backend_id: str
    kind: str  # complaint, compliment, service, reply, escalation, withdrawal, auto, unreadable, duplicate
    message_id: str | None
    round: int
    reference: str | None = None  # the case it must join (replies, escalations, withdrawals)
    raw: bytes = b""


@dataclass
class Mailroom:
    """Delivers each round's mail into the Maildir and remembers what it delivered."""

    maildir: Path
    rng: random.Random
    deliveries: list[Delivery] = field(default_factory=list)
    serial: int = 0

    def deliver(self, raw: bytes, when: datetime, kind: str, message_id: str | None, round_no: int, reference: str | None = None) -> None:
        self.serial += 1
        name = f"{int(when.timestamp())}.M{self.serial}R{round_no}.harness"
        (self.maildir / "tmp" / name).write_bytes(raw)
        os.replace(self.maildir / "tmp" / name, self.maildir / "new" / name)
        self.deliveries.append(Delivery(name, kind, message_id, round_no, reference, raw))

    def round(self, round_no: int, since: datetime, now: datetime, open_cases: list[dict], sent_ids: list[str]) -> None:
        rng = self.rng
        count = rng.choice([2, 3, 3, 4, 5])
        targets = rng.sample(open_cases, k=min(len(open_cases), count))  # a case gets at most one message a round
        times = sorted(since + (now - since) * rng.uniform(0.05, 0.95) for _ in range(count))
        for n, when in enumerate(times):
            kind = rng.choices(["complaint", "compliment", "service", "reply", "escalation", "withdrawal", "auto", "unreadable", "duplicate"],
                               weights=[30, 5, 5, 18, 12, 2, 8, 6, 8])[0]
            if kind in ("reply", "escalation", "withdrawal") and not targets:
                kind = "complaint"
            if kind == "duplicate" and not any(d.message_id for d in self.deliveries):
                kind = "complaint"
            self.serial += 1
            token = f"{round_no}-{n}-{self.serial}"
            message_id = f"<harness-{token}@resident.example.net>"
            if kind in ("complaint", "compliment", "service"):
                name = rng.choice(NAMES)
                sender = f"{name} <{name.split()[0].lower()}.{token}@resident.example.net>"
                problem = rng.choice(PROBLEMS)
                subject, body = {
                    "complaint": (f"Complaint about {problem} at flat {token}",
                                  (f"I want to make a complaint: nobody has fixed {problem} at flat {token}, "
                                   f"and I reported it weeks ago. I am very unhappy with the service.")),
                    "compliment": (f"Thank you from flat {token}",
                                   f"Please pass on my thanks to the plumber who came to flat {token}, brilliant job, really helpful."),
                    "service": (f"Repair request for flat {token}",
                                f"Please can someone come and look at {problem} at flat {token}? Any day next week is fine."),
                }[kind]
                raw = make_email(sender, subject, body, message_id=message_id)
                self.deliver(raw, when, kind, message_id, round_no)
            elif kind in ("reply", "escalation", "withdrawal"):
                case = targets.pop()
                sender = f"{case['name']} <{case['email']}>" if case["email"] else "Resident <resident@example.net>"
                ref = case["reference"]
                subject, body = {
                    "reply": (f"Re: {ref} more information ({token})",
                              f"Further to my complaint {ref}, here are the dates the contractor did not turn up: 3, 10 and 17 November. ({token})"),
                    "escalation": (f"Re: {ref} ({token})",
                                   (f"I am not happy with how my complaint {ref} is being handled. Please escalate it to stage 2 "
                                    f"and have a manager review my complaint. ({token})")),
                    "withdrawal": (f"Re: {ref} ({token})",
                                   f"The repair has now been done, so I want to withdraw my complaint {ref}. Thank you. ({token})"),
                }[kind]
                raw = make_email(sender, subject, body, message_id=message_id)
                self.deliver(raw, when, kind, message_id, round_no, reference=ref)
            elif kind == "auto":
                headers = {"Auto-Submitted": "auto-replied"}
                if sent_ids:
                    headers["In-Reply-To"] = rng.choice(sent_ids)
                raw = make_email(f"Out of office <ooo.{token}@resident.example.net>", f"Automatic reply: your complaint ({token})",
                                 "I am out of the office until Monday and will reply when I return.", message_id=message_id, headers=headers)
                self.deliver(raw, when, kind, message_id, round_no)
            elif kind == "unreadable":
                raw = rng.choice([b"\x00\x01 this is not an email at all " + token.encode(),
                                  b"", b"   \r\n\r\n  ", bytes(rng.randrange(256) for _ in range(64)).replace(b":", b"") + b"\x00"])
                self.deliver(raw, when, kind, None, round_no)
            else:  # the same message delivered again (a retrying MTA, a re-forward by a rule)
                earlier = rng.choice([d for d in self.deliveries if d.message_id])
                self.deliver(earlier.raw, when, "duplicate", earlier.message_id, round_no, reference=earlier.reference)


# --- the checks -----------------------------------------------------------------------------------

_HEADERS = BytesHeaderParser()


def message_ids_in(folder: Path, cache: dict[str, str] | None = None) -> Counter:
    """Message-IDs of the files in a Maildir++ folder (cur and new). Sent
    copies never change, so their ids may be cached by file name."""
    found: Counter = Counter()
    for sub in ("cur", "new"):
        base = folder / sub
        if not base.is_dir():
            continue
        for path in base.iterdir():
            if cache is not None and path.name in cache:
                found[cache[path.name]] += 1
                continue
            try:
                with open(path, "rb") as handle:
                    value = (_HEADERS.parse(handle).get("Message-ID") or "").strip()
            except FileNotFoundError:
                continue
            if cache is not None:
                cache[path.name] = value
            found[value] += 1
    return found


class Checker:
    def __init__(self, url: str, maildir: Path):
        self.url, self.maildir = url, maildir
        self.sent_cache: dict[str, str] = {}
        self.seconds = 0.0
        self.amcheck: bool | None = None
        self.integrity = "the SQL checks (no amcheck on this server)"

    def _engine(self):
        from mailcomplaints.store.database import make_engine

        return make_engine(self.url)

    def check(self, deliveries: list[Delivery], final: bool) -> tuple[list[str], dict]:
        """Problems found (empty when every invariant holds), and facts for the next round."""
        from sqlalchemy import text

        problems: list[str] = []
        started = time.monotonic()
        engine = self._engine()
        try:
            with engine.connect() as db:
                problems += self._integrity(db)
                rows = {name: [dict(r._mapping) for r in db.execute(text(sql))] for name, sql in {
                    "messages": "SELECT id, message_id, backend_id, case_id, direction, intent FROM messages",
                    "cases": "SELECT id, reference, state, stage, kind, complainant_email, complainant_name FROM cases",
                    "drafts": "SELECT id, case_id, kind, stage, state, message_id, in_reply_to, mailbox_ref, postal FROM drafts",
                    "outbox": "SELECT draft_id, message_id, state FROM outbox",
                    "quarantine": "SELECT backend_id FROM quarantine",
                    "duplicates": "SELECT backend_id, message_id FROM duplicate_deliveries",
                    "events": "SELECT case_id, kind, detail FROM events WHERE kind IN ('sent', 'approved')",
                }.items()}
        finally:
            engine.dispose()
        problems += self._messages(rows, deliveries, final)
        problems += self._cases(rows, deliveries, final)
        problems += self._drafts(rows, final)
        problems += self._mailbox(rows, final)
        by_id = {c["id"]: c for c in rows["cases"]}
        open_cases = [{"reference": c["reference"], "email": c["complainant_email"], "name": c["complainant_name"] or "Resident"}
                      for c in rows["cases"] if c["state"] != "closed" and c["kind"] == "complaint" and c["complainant_email"]]
        facts = {
            "open_cases": sorted(open_cases, key=lambda c: c["reference"]),
            "sent_ids": sorted(d["message_id"] for d in rows["drafts"] if d["state"] == "sent"),
            "cases": len(by_id),
            "drafts_sent": sum(d["state"] == "sent" for d in rows["drafts"]),
            "drafts": len(rows["drafts"]),
        }
        self.seconds += time.monotonic() - started
        return problems, facts

    def _integrity(self, db) -> list[str]:
        from sqlalchemy import text

        out = []
        if db.dialect.name == "sqlite":
            self.integrity = "PRAGMA integrity_check and foreign_key_check, and the SQL checks"
            verdict = [r[0] for r in db.execute(text("PRAGMA integrity_check"))]
            if verdict != ["ok"]:
                out.append(f"PRAGMA integrity_check: {verdict[:5]}")
            broken = list(db.execute(text("PRAGMA foreign_key_check")))
            if broken:
                out.append(f"PRAGMA foreign_key_check: {broken[:5]}")
        elif db.dialect.name == "postgresql":
            if self.amcheck is None:  # installed once if the server has it (contrib) and we may
                try:
                    with db.begin_nested():
                        db.execute(text("CREATE EXTENSION IF NOT EXISTS amcheck"))
                    db.commit()
                except Exception:  # noqa: BLE001 - not available here: the SQL checks below still run
                    db.rollback()
                self.amcheck = bool(db.execute(text("SELECT count(*) FROM pg_extension WHERE extname = 'amcheck'")).scalar())
            if self.amcheck:
                indexes = list(db.execute(text(
                    "SELECT c.relname, c.oid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
                    "JOIN pg_am am ON am.oid = c.relam JOIN pg_namespace n ON n.oid = c.relnamespace "
                    "WHERE am.amname = 'btree' AND n.nspname = current_schema()")))
                self.integrity = f"amcheck bt_index_check on {len(indexes)} indexes, and the SQL checks"
                for name, oid in indexes:
                    try:
                        db.execute(text("SELECT bt_index_check(:oid)"), {"oid": oid})
                    except Exception as err:  # noqa: BLE001 - a corrupt index is a finding, not a crash
                        out.append(f"bt_index_check({name}): {err}")
        # what the foreign keys promise, checked by hand on every database
        for child, column, parent, key in (("messages", "case_id", "cases", "id"), ("drafts", "case_id", "cases", "id"),
                                           ("events", "case_id", "cases", "id"), ("deadlines", "case_id", "cases", "id"),
                                           ("case_stages", "case_id", "cases", "id"), ("outbox", "draft_id", "drafts", "id")):
            orphans = db.execute(text(f"SELECT count(*) FROM {child} c LEFT JOIN {parent} p ON p.{key} = c.{column} "
                                      f"WHERE c.{column} IS NOT NULL AND p.{key} IS NULL")).scalar()
            if orphans:
                out.append(f"{orphans} rows of {child} point at no row of {parent}")
        for table, column in (("messages", "message_id"), ("messages", "backend_id"), ("drafts", "message_id"),
                              ("outbox", "draft_id"), ("cases", "reference"), ("quarantine", "backend_id"),
                              ("duplicate_deliveries", "backend_id")):
            doubled = db.execute(text(f"SELECT {column}, count(*) FROM {table} WHERE {column} IS NOT NULL "
                                      f"GROUP BY {column} HAVING count(*) > 1")).first()
            if doubled:
                out.append(f"{table}.{column} {doubled[0]!r} is stored {doubled[1]} times")
        return out

    def _messages(self, rows: dict, deliveries: list[Delivery], final: bool) -> list[str]:
        out = []
        stored = {m["message_id"]: m for m in rows["messages"]}
        stored_backend = {m["backend_id"] for m in rows["messages"]}
        quarantined = {q["backend_id"] for q in rows["quarantine"]}
        duplicates = {d["backend_id"]: d["message_id"] for d in rows["duplicates"]}
        references = {c["id"]: c["reference"] for c in rows["cases"]}
        by_message_id: dict[str, list[Delivery]] = defaultdict(list)
        for d in deliveries:
            places = [d.backend_id in stored_backend, d.backend_id in quarantined, d.backend_id in duplicates]
            if sum(places) > 1:
                out.append(f"delivered file {d.backend_id} ({d.kind}) is recorded in more than one place")
            if d.kind == "unreadable":
                if final and not places[1]:
                    out.append(f"unreadable file {d.backend_id} is not in quarantine")
                continue
            by_message_id[d.message_id].append(d)
        for message_id, copies in by_message_id.items():
            row = stored.get(message_id)
            first = copies[0]
            if row is None:
                if final:
                    out.append(f"delivered message {message_id} ({first.kind}, round {first.round}) is not stored")
                continue
            if row["direction"] != "in":
                out.append(f"delivered message {message_id} is stored as {row['direction']!r}")
            if row["backend_id"] not in {c.backend_id for c in copies}:
                out.append(f"message {message_id} is stored under backend id {row['backend_id']}, which was never delivered")
            for copy in copies:
                if copy.backend_id != row["backend_id"] and final and duplicates.get(copy.backend_id) != message_id:
                    out.append(f"second delivery {copy.backend_id} of {message_id} is neither stored nor recorded as a duplicate")
            if first.kind == "auto":
                if row["intent"] != "machine":
                    out.append(f"auto-reply {message_id} was read as {row['intent']}")
            elif row["case_id"] is None:
                out.append(f"message {message_id} ({first.kind}) belongs to no case")
            elif first.reference and references.get(row["case_id"]) != first.reference:
                out.append(f"{first.kind} {message_id} quoting {first.reference} joined {references.get(row['case_id'])}")
        if final:
            inbox_new = [p.name for p in (self.maildir / "new").iterdir()]
            if inbox_new:
                out.append(f"{len(inbox_new)} delivered files are still in new/ after a complete run: {inbox_new[:3]}")
            stray = [b for b in stored_backend if b and not b.startswith("sent:") and b not in {d.backend_id for d in deliveries}]
            if stray:
                out.append(f"messages stored from files never delivered: {stray[:3]}")
        return out

    def _cases(self, rows: dict, deliveries: list[Delivery], final: bool) -> list[str]:
        out = []
        stored = {m["message_id"]: m for m in rows["messages"]}
        with_messages = Counter(m["case_id"] for m in rows["messages"] if m["direction"] == "in")
        for case in rows["cases"]:
            if not with_messages[case["id"]]:
                out.append(f"case {case['reference']} has no message: opened twice, or opened without its message")
            if case["reference"].startswith("NEW-"):
                out.append(f"case {case['reference']} never got its reference")
        openers = [d for d in deliveries if d.kind in ("complaint", "compliment", "service") and d.message_id in stored]
        opened = Counter(stored[d.message_id]["case_id"] for d in openers)
        for case_id, n in opened.items():
            if n > 1:
                out.append(f"{n} first messages share case id {case_id}")
        if final and len(rows["cases"]) != len(openers):
            out.append(f"{len(rows['cases'])} cases for {len(openers)} messages that open one")
        return out

    def _drafts(self, rows: dict, final: bool) -> list[str]:
        out = []
        drafts = rows["drafts"]
        waiting = Counter((d["case_id"], d["kind"], d["stage"]) for d in drafts if d["state"] == "pending")
        for key, n in waiting.items():
            if n > 1:
                out.append(f"{n} pending drafts of one kind and stage for a case: {key}")
        triggered = Counter((d["case_id"], d["kind"], d["stage"], d["in_reply_to"]) for d in drafts
                            if d["state"] in LIVE and d["kind"] != "reminder")
        for key, n in triggered.items():
            if n > 1:
                out.append(f"{n} live drafts for one case, kind, stage and triggering message: {key}")
        events: dict[str, Counter] = defaultdict(Counter)
        for e in rows["events"]:
            detail = e["detail"] if isinstance(e["detail"], dict) else json.loads(e["detail"] or "{}")
            if detail.get("draft"):
                events[e["kind"]][detail["draft"]] += 1
        for kind in ("sent", "approved"):
            for draft_id, n in events[kind].items():
                if n > 1:
                    out.append(f"draft {draft_id} has {n} {kind!r} events")
        outbox = {o["draft_id"]: o for o in rows["outbox"]}
        stored_out = {m["message_id"] for m in rows["messages"] if m["direction"] == "out"}
        for d in drafts:
            if (d["id"] in outbox) != (d["state"] in ("sending", "sent", "failed")) and not d["postal"]:
                out.append(f"draft {d['id']} is {d['state']} with outbox row {outbox.get(d['id'])}: sending is recorded before it starts")
            if final and d["state"] == "sent" and not d["postal"] and d["message_id"] not in stored_out:
                out.append(f"sent draft {d['id']} is not stored among the messages sent")
            if d["state"] == "sent" and not d["postal"]:
                if events["sent"][d["id"]] != 1:
                    out.append(f"sent draft {d['id']} has {events['sent'][d['id']]} 'sent' events")
                if outbox.get(d["id"], {}).get("state") != "sent":
                    out.append(f"sent draft {d['id']} has outbox {outbox.get(d['id'])}")
            if final and d["state"] in ("approved", "sending") and not d["postal"]:
                out.append(f"draft {d['id']} ({d['kind']}) is still {d['state']} after a complete run")
        return out

    def _mailbox(self, rows: dict, final: bool) -> list[str]:
        out = []
        drafts = {d["message_id"]: d for d in rows["drafts"]}
        sent = message_ids_in(self.maildir / ".Sent", self.sent_cache)
        waiting = message_ids_in(self.maildir / ".Drafts")
        for message_id, n in sent.items():
            draft = drafts.get(message_id)
            if n > 1:
                out.append(f"{message_id} ({draft['kind'] if draft else '?'}) is in Sent {n} times")
            if draft is None:
                out.append(f"{message_id} is in Sent, and no draft has that Message-ID")
            elif draft["state"] not in ("sending", "sent"):
                out.append(f"draft {draft['id']} is in Sent while it is {draft['state']}")
        for message_id, n in waiting.items():
            if n > 1:
                out.append(f"{message_id} is in Drafts {n} times")
        for d in rows["drafts"]:
            if d["state"] == "sent" and not d["postal"] and sent[d["message_id"]] != 1:
                out.append(f"sent draft {d['id']} ({d['kind']}) is in Sent {sent[d['message_id']]} times")
        if final:
            for d in rows["drafts"]:
                if d["state"] == "pending" and waiting[d["message_id"]] != 1:
                    out.append(f"pending draft {d['id']} ({d['kind']}) is in Drafts {waiting[d['message_id']]} times")
                if d["state"] == "pending" and not d["mailbox_ref"]:
                    out.append(f"pending draft {d['id']} ({d['kind']}) has no mailbox copy recorded")
            for message_id in waiting:
                draft = drafts.get(message_id)
                if draft is None or draft["state"] != "pending":
                    out.append(f"Drafts holds {message_id}, a draft that is {draft['state'] if draft else 'unknown'}")
        return out


# --- the test ----------------------------------------------------------------------------------------

PRELOADED = (
    "mailcomplaints.cli", "mailcomplaints.drafting.pdf", "mailcomplaints.drafting.render", "mailcomplaints.mailboxes.connect",
    "mailcomplaints.mailboxes.maildir", "mailcomplaints.service.approval", "mailcomplaints.service.casework",
    "mailcomplaints.service.corrections", "mailcomplaints.service.daemon", "mailcomplaints.service.pipeline",
    "mailcomplaints.service.queries", "mailcomplaints.service.scheduler", "mailcomplaints.store.models",
    "alembic.command", "alembic.config", "sqlalchemy.dialects.sqlite", "sqlalchemy.dialects.postgresql",
)


def _preload() -> None:
    """Import and warm what every session uses (SQLAlchemy's mapper set-up,
    fontconfig), so each forked child starts as a long-running daemon would
    be. No database is opened here: a child must not inherit a connection."""
    import importlib

    import weasyprint
    from sqlalchemy.orm import configure_mappers

    from mailcomplaints.domain.calendar import WorkingCalendar
    from mailcomplaints.policies import redress_bodies

    for module in PRELOADED:
        importlib.import_module(module)
    configure_mappers()
    redress_bodies()
    WorkingCalendar().is_working_day(START.date())  # the holidays package imports some 270 modules on first use
    weasyprint.HTML(string="<p>warm</p>").write_pdf()  # fontconfig reads its cache once, here (no thread is left running)


def _cpu_seconds() -> float:
    """CPU time of this process and its reaped children (a figure the machine's other load does not inflate much)."""
    import resource

    return sum(getattr(resource.getrusage(who), field) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
               for field in ("ru_utime", "ru_stime"))


def drive(landlord, lane: int, kills_wanted: int) -> dict:
    """One landlord's rounds until `kills_wanted` kills interrupted work;
    raises AssertionError naming the round, seed, lane and kill on the first broken invariant."""
    harness = Harness(landlord, SEED * 100 + lane)
    mailroom = Mailroom(Path(landlord.maildir), harness.rng)
    checker = Checker(harness.url, Path(landlord.maildir))
    kills, attempts, finished_first = 0, 0, 0
    by_phase: Counter = Counter()
    facts = {"open_cases": [], "sent_ids": [], "cases": 0, "drafts": 0, "drafts_sent": 0}
    round_no, now = 0, START
    max_rounds = kills_wanted * 3 + 10
    while kills < kills_wanted:
        round_no += 1
        assert round_no <= max_rounds, f"lane {lane}: only {kills} of {kills_wanted} kills interrupted work in {max_rounds} rounds (seed {SEED})"
        since, now = now, now + ROUND_EVERY
        mailroom.round(round_no, since, now, facts["open_cases"], facts["sent_ids"])
        history = []  # this round's sessions, for a failure to tell
        for attempt in range(harness.rng.choices([1, 2, 3], weights=[30, 45, 25])[0]):
            aim = harness.aim()
            run = harness.run(now, aim)
            attempts += 1
            trail = " > ".join(name for _, name in run.markers[-4:])
            history.append(f"session {attempt + 1}: aimed at {aim.describe()}; "
                           + (f"killed {run.seconds:.3f}s after it started, markers ... {trail}" if run.interrupted
                              else "it had finished first"))
            if not run.interrupted:
                finished_first += 1
                continue
            kills += 1
            by_phase[run.phase] += 1
            problems, _ = checker.check(mailroom.deliveries, final=False)
            assert not problems, _failure(f"right after a kill in round {round_no}", lane, history, problems)
        recovery = harness.run(now, None)
        assert not recovery.killed
        problems, facts = checker.check(mailroom.deliveries, final=True)
        assert not problems, _failure(f"after the session that completed round {round_no}", lane, history, problems)
    return {
        "kills": kills, "kill_attempts": attempts, "finished_before_the_kill": finished_first, "rounds": round_no,
        "messages": len(mailroom.deliveries), "kinds": dict(Counter(d.kind for d in mailroom.deliveries)),
        "cases": facts["cases"], "drafts": facts["drafts"], "drafts_sent": facts["drafts_sent"],
        "kills_by_phase": dict(by_phase), "seconds_by_phase": dict(harness.time_in), "seconds_checking": checker.seconds,
        "database": harness.url.split(":", 1)[0].split("+")[0], "integrity": checker.integrity,
    }


def _failure(when: str, lane: int, history: list[str], problems: list[str]) -> str:
    return (f"{when} (seed {SEED}, lane {lane}; replay: MAILCOMPLAINTS_KILL_SEED={SEED} MAILCOMPLAINTS_KILL_LANES={LANES}):\n  "
            + "\n  ".join(problems[:20]) + "\nthe round's sessions:\n  " + "\n  ".join(history))


def _lane(landlord, lane: int, kills_wanted: int, result: Path) -> None:
    """A forked process driving one landlord; it reports through `result` and never returns into pytest."""
    code = 1
    try:
        outcome = {"ok": True, **drive(landlord, lane, kills_wanted)}
    except AssertionError as failure:
        outcome = {"ok": False, "error": str(failure)}
    except BaseException:  # noqa: BLE001 - a harness bug, reported like a failure
        outcome = {"ok": False, "error": f"lane {lane} crashed:\n{traceback.format_exc()}"}
    try:
        result.write_text(json.dumps(outcome, default=str))
        code = 0
    finally:
        os._exit(code)


def test_kill_minus_nine_at_random_moments_loses_and_doubles_nothing(make_landlord):
    _preload()
    lanes = max(1, min(LANES, KILLS))
    landlords = [make_landlord() for _ in range(lanes)]
    print(f"\nkill harness: seed {SEED}, {KILLS} kills over {lanes} landlords at once "
          f"(replay: MAILCOMPLAINTS_KILL_SEED={SEED} MAILCOMPLAINTS_KILLS={KILLS} MAILCOMPLAINTS_KILL_LANES={lanes})")
    began, cpu_before = time.monotonic(), _cpu_seconds()
    running = {}
    for lane, landlord in enumerate(landlords):
        result = Path(landlord.root) / f"lane-{lane}.json"
        share = KILLS // lanes + (lane < KILLS % lanes)
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the lane, in a process group of its own with its sessions
            os.setpgid(0, 0)
            _lane(landlord, lane, share, result)
        running[pid] = result
    outcomes = []
    try:
        while running:
            pid, status = os.wait()
            result = running.pop(pid, None)
            if result is None:
                continue
            assert result.exists(), f"a lane of the kill harness died (status {status}) without a word"
            outcomes.append(json.loads(result.read_text()))
            if not outcomes[-1]["ok"]:
                break  # the first failure is the report: stop the other lanes
    finally:
        for pid in running:  # the lanes still going, and their sessions
            for kill in (os.killpg, os.kill):
                try:
                    kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            os.waitpid(pid, 0)
    seconds = time.monotonic() - began
    failures = [o["error"] for o in outcomes if not o["ok"]]
    assert not failures, "\n\n".join(failures)
    total = Counter()
    for o in outcomes:
        total.update({k: o[k] for k in ("kills", "kill_attempts", "finished_before_the_kill", "rounds", "messages", "cases",
                                        "drafts", "drafts_sent", "seconds_checking")})
    summary = {
        "seed": SEED, "landlords": lanes, **{k: round(v, 1) if isinstance(v, float) else v for k, v in total.items()},
        "kills_by_phase": dict(sum((Counter(o["kills_by_phase"]) for o in outcomes), Counter())),
        "kinds": dict(sum((Counter(o["kinds"]) for o in outcomes), Counter())),
        "seconds_by_phase": {k: round(v, 1) for k, v in sum((Counter(o["seconds_by_phase"]) for o in outcomes), Counter()).most_common()},
        "database": outcomes[0]["database"], "integrity": outcomes[0]["integrity"], "seconds": round(seconds, 1), "cpu_seconds": round(_cpu_seconds() - cpu_before, 1),
    }
    line = (f"kill harness: {summary['kills']} kills that interrupted work ({summary['finished_before_the_kill']} more "
            f"landed after the session had finished), {summary['rounds']} rounds, {summary['messages']} messages, "
            f"{summary['drafts_sent']} drafts sent, {seconds:.0f}s ({summary['cpu_seconds']}s CPU), seed {SEED}")
    print(line)
    print(f"kill harness: kills by phase {summary['kills_by_phase']}; session time by phase {summary['seconds_by_phase']}; "
          f"checking {summary['seconds_checking']}s")
    OUTPUT.mkdir(parents=True, exist_ok=True)
    name = "summary.json" if summary["database"] == "sqlite" else f"summary-{summary['database']}.json"
    (OUTPUT / name).write_text(json.dumps(summary | {"line": line}, indent=2) + "\n")
    assert summary["kills"] >= KILLS


# --- the windows the random kills found, replayed exactly ----------------------------------------

def cli(landlord, now: datetime, *args: str, die_at: tuple | None = None):
    """`mailcomplaints --config CFG --now NOW ARGS` in a forked child (fast: no
    interpreter start-up). With die_at=(cls, method, "before"|"after") the child
    dies, as SIGKILL would (no commit, no cleanup), at the first call of
    cls.method. Returns the exit code, and what --json printed when it exited 0."""
    _preload()
    out = Path(landlord.root) / "cli.out"
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        code = 99
        try:
            if die_at:
                cls, method, when = die_at
                real = getattr(cls, method)

                def dying(*a, **kw):
                    if when == "after":
                        real(*a, **kw)
                    os._exit(137)

                setattr(cls, method, dying)
            log = os.open(Path(landlord.root) / "cli.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
            os.dup2(log, 2)
            from mailcomplaints.cli import main

            sys.argv = ["mailcomplaints", "--config", str(landlord.config), "--now", now.isoformat(), *args]
            with open(out, "w", encoding="utf-8") as sys.stdout:
                try:
                    main()
                except SystemExit as stop:
                    code = stop.code if isinstance(stop.code, int) else 1
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    code = os.waitstatus_to_exitcode(status)
    if die_at is None:
        assert code == 0, f"mailcomplaints {' '.join(args)} exited {code}: {(Path(landlord.root) / 'cli.log').read_text()[-2000:]}"
        text = out.read_text(encoding="utf-8")
        return json.loads(text) if "--json" in args else text
    return code


def _a_complaint(landlord) -> tuple[datetime, dict]:
    """A complaint ingested at 10:05 on Monday 23 November; its acknowledgement drafted."""
    day = START.replace(hour=10)
    landlord.deliver(make_email("Jane Doe <jane@example.net>", "Damp in bedroom",
                                "I want to make a complaint: nobody has fixed the damp in my son's bedroom.",
                                message_id="<jane-1@example.net>"), day)
    cli(landlord, day + timedelta(minutes=5), "ingest", "--json")
    return day, cli(landlord, day + timedelta(minutes=5), "drafts", "--state", "pending", "--json")[0]


def _in(landlord, folder: str) -> Counter:
    return message_ids_in(Path(landlord.maildir) / folder)


@pytest.mark.parametrize("when", ["before", "after"])
def test_a_kill_while_approval_replaces_an_out_of_date_draft_leaves_it_in_the_mailbox(landlord, when):
    """Found by the harness (seed 20261123): approving a draft a day after it
    was written re-drafts it with today's dates and takes its old copy out of
    Drafts. Killed after the copy went but before the approval committed, the
    draft stayed waiting, recorded as in the mailbox, and was never copied
    there again: invisible to officers working in Outlook. Killed just before
    or just after the copy is removed, the draft is in Drafts exactly once
    while it waits, and is sent exactly once."""
    from mailcomplaints.mailboxes.maildir import MaildirMailbox

    day, ack = _a_complaint(landlord)
    cli(landlord, day + timedelta(minutes=10), "approve", ack["id"], "--by", "Priya Shah", "--json")
    cli(landlord, day + timedelta(minutes=15), "send", "--json")
    response = cli(landlord, day + timedelta(hours=1), "draft", ack["case"], "response", "--outcome", "upheld",
                   "--by", "Ola Adeyemi", "--json")
    next_day = day + timedelta(days=1)
    approving = ("approve", response["id"], "--by", "Priya Shah", "--override", "as written")
    code = cli(landlord, next_day, *approving, die_at=(MaildirMailbox, "remove_draft", when))
    assert code == 137, f"approving did not replace the out-of-date copy (exit {code}): the test needs a draft out of date"
    cli(landlord, next_day, "ingest", "--json")  # the restart
    state = {d["id"]: d["state"] for d in cli(landlord, next_day, "drafts", "--json")}[response["id"]]
    assert (state, _in(landlord, ".Drafts")[response["message_id"]]) == ("pending", 1)
    cli(landlord, next_day, *approving, "--json")
    cli(landlord, next_day, "send", "--json")
    assert _in(landlord, ".Sent")[response["message_id"]] == 1 and _in(landlord, ".Drafts") == Counter()


def test_a_kill_between_the_sent_copy_and_the_draft_removal_leaves_no_copy_in_drafts(landlord):
    """Found while aiming kills at sending: Maildir sends by filing the final
    message in Sent, then removing the draft from Drafts. Killed in between,
    the restart finds the message in Sent and rightly does not send it again,
    but the draft's copy stayed in Drafts for good, where officers would take
    it for a letter still waiting."""
    from mailcomplaints.mailboxes.maildir import MaildirMailbox

    day, ack = _a_complaint(landlord)
    cli(landlord, day + timedelta(minutes=10), "approve", ack["id"], "--by", "Priya Shah", "--json")
    assert cli(landlord, day + timedelta(minutes=15), "send", die_at=(MaildirMailbox, "_deliver", "after")) == 137
    assert _in(landlord, ".Sent") == _in(landlord, ".Drafts") == Counter({ack["message_id"]: 1})  # died in between
    cli(landlord, day + timedelta(minutes=20), "send", "--json")  # the restart
    assert _in(landlord, ".Sent") == Counter({ack["message_id"]: 1})
    assert _in(landlord, ".Drafts") == Counter()
    assert {d["id"]: d["state"] for d in cli(landlord, day + timedelta(minutes=20), "drafts", "--json")}[ack["id"]] == "sent"


def test_a_kill_while_assigning_an_officer_leaves_the_waiting_drafts_in_the_mailbox(landlord):
    """The same window in `assign`: waiting drafts are re-drafted to name the
    officer, and their old copies removed before the commit."""
    from mailcomplaints.mailboxes.maildir import MaildirMailbox

    day, ack = _a_complaint(landlord)
    code = cli(landlord, day + timedelta(minutes=10), "assign", ack["case"], "Ola Adeyemi", die_at=(MaildirMailbox, "remove_draft", "after"))
    assert code == 137
    cli(landlord, day + timedelta(minutes=15), "ingest", "--json")  # the restart
    assert _in(landlord, ".Drafts")[ack["message_id"]] == 1
