"""Replay a corpus scenario through the real pipeline and compare with its expectations.

Usage: python tests/corpus/runner.py tests/corpus/NAME [NAME ...]
"""

from __future__ import annotations

import re
import sys
import tempfile
import tomllib
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import select

from databases import database_url
from mailcomplaints.config import load_config
from mailcomplaints.domain.lifecycle import LifecycleError
from mailcomplaints.domain.calendar import LONDON
from mailcomplaints.mail.message import parse_message
from mailcomplaints.service import casework
from mailcomplaints.service.app import App
from mailcomplaints.service.approval import Refused, approve, send_approved
from mailcomplaints.service.pipeline import ingest
from mailcomplaints.service.queries import show_case
from mailcomplaints.service.scheduler import tick
from mailcomplaints.service.setup import config_text
from mailcomplaints.store.models import CaseRow, DraftRow, MessageRow

CORPUS = Path(__file__).resolve().parent
AUTO_KINDS = ("acknowledgement", "compliment_thanks", "not_a_complaint")
PLACEHOLDER = re.compile(r"\[\[OFFICER TO COMPLETE: [^\]]*\]\]")
OFFICER = "Corpus Officer"


@dataclass
class Outcome:
    """One message: what was expected, what happened, and what did not match."""

    scenario: str
    file: str
    expected_intent: str
    actual_intent: str | None
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def scenarios() -> list[Path]:
    return sorted(p.parent for p in CORPUS.glob("*/scenario.toml"))


def london(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=LONDON)


class Replay:
    def __init__(self, folder: Path, workdir: Path):
        self.folder = folder
        self.spec = tomllib.loads((folder / "scenario.toml").read_text())
        (workdir / "mailcomplaints.toml").write_text(config_text(
            landlord="Corpus Landlord", policy=self.spec.get("landlord", "reliance"),
            address=self.spec.get("address", "complaints@landlord.example.org"),
            mailbox_path="mailbox", database_url=database_url(workdir)))
        self.app = App(load_config(workdir / "mailcomplaints.toml"))
        self.labels: dict[str, str] = {}  # case label -> reference
        self.theirs: dict[str, str] = {}  # file -> Message-ID as delivered
        self.outcomes: list[Outcome] = []
        self.counter = 0

    # --- placeholders -------------------------------------------------------------

    def _ours(self, label: str) -> str:
        reference = self.labels[label]
        with self.app.db.transaction() as session:
            case = session.scalar(select(CaseRow).where(CaseRow.reference == reference))
            found = session.scalar(select(MessageRow.message_id).where(MessageRow.case_id == case.id, MessageRow.direction == "out")
                                   .order_by(MessageRow.received_at.desc(), MessageRow.id.desc()))
        if found is None:
            raise AssertionError(f"{{ours:{label}}}: we have sent nothing on case {label} yet")
        return found

    def fill(self, raw: bytes) -> bytes:
        def replace(match: re.Match) -> bytes:
            kind, key = match.group(1).decode(), match.group(2).decode()
            if kind == "ref":
                return self.labels[key].encode()
            if kind == "ours":
                return self._ours(key).encode()
            return self.theirs[key].encode()
        return re.sub(rb"\{(ref|ours|theirs):([^}]+)\}", replace, raw)

    # --- steps ------------------------------------------------------------------------

    def play(self) -> list[Outcome]:
        for step in self.spec["step"]:
            at = london(step["at"])
            if "message" in step:
                self.message(step, at)
                continue
            try:
                getattr(self, "do_" + step["action"])(step, at)
            except (LifecycleError, KeyError) as err:  # the tool refused: most likely a message before it was misread
                target = self.outcomes[-1] if self.outcomes else Outcome(self.folder.name, "(start)", "-", None)
                target.problems.append(f"then `{step['action']}` at {step['at']} failed: {err}")
        return self.outcomes

    def message(self, step: dict, at: datetime) -> None:
        raw = self.fill((self.folder / step["message"]).read_bytes())
        self.counter += 1
        inbox = self.app.mailbox.root / "new"
        (inbox / f"{int(at.timestamp())}.corpus{self.counter:04d}.test").write_bytes(raw)
        self.theirs[step["message"]] = parse_message(raw, at).message_id
        ingest(self.app, at + timedelta(minutes=1))
        self.check(step, raw, at)
        if self.spec.get("auto_acknowledge", True):
            self.do_send_acknowledgements(step, at + timedelta(hours=1))

    def check(self, step: dict, raw: bytes, at: datetime) -> None:
        expect = step.get("expect", {})
        message_id = parse_message(raw, at).message_id
        with self.app.db.transaction() as session:
            row = session.scalar(select(MessageRow).where(MessageRow.message_id == message_id))
            stored = None if row is None else (row.intent, row.case.reference if row.case else None,
                                               {s["name"] for s in row.signals or []})
        outcome = Outcome(self.folder.name, step["message"], expect.get("intent", "?"), stored[0] if stored else None)
        self.outcomes.append(outcome)
        if stored is None:
            outcome.problems.append("not stored (quarantined?)")
            return
        intent, reference, signals = stored
        if "intent" in expect and intent != expect["intent"]:
            outcome.problems.append(f"intent {intent}, expected {expect['intent']}")
        label = expect.get("case")
        if label == "none":
            if reference is not None:
                outcome.problems.append(f"joined {reference}, expected no case")
        elif label is not None:
            if reference is None:
                outcome.problems.append(f"in no case, expected case {label}")
            elif label in self.labels and self.labels[label] != reference:
                outcome.problems.append(f"joined {reference}, expected case {label} ({self.labels[label]})")
            elif label not in self.labels:
                other = [k for k, v in self.labels.items() if v == reference]
                if other:
                    outcome.problems.append(f"joined {reference} (case {other[0]}), expected a new case {label}")
                else:
                    self.labels[label] = reference
        for name in expect.get("signals", []):
            if name not in signals:
                outcome.problems.append(f"signal {name} missing")
        for name in expect.get("not_signals", []):
            if name in signals:
                outcome.problems.append(f"signal {name} should not fire")
        if reference and any(k in expect for k in ("kind", "stage", "state", "flags", "not_flags", "linked_to")):
            case = show_case(self.app, reference, at + timedelta(minutes=1))
            for key in ("kind", "stage", "state"):
                if key in expect and case[key] != expect[key]:
                    outcome.problems.append(f"case {key} {case[key]}, expected {expect[key]}")
            for name in expect.get("flags", []):
                if name not in case["flags"]:
                    outcome.problems.append(f"case flag {name} missing")
            for name in expect.get("not_flags", []):
                if name in case["flags"]:
                    outcome.problems.append(f"case flag {name} should not be raised")
            if "linked_to" in expect and case.get("linked_to") != self.labels.get(expect["linked_to"]):
                outcome.problems.append(f"case linked to {case.get('linked_to')}, expected {expect['linked_to']}")

    def do_send_acknowledgements(self, step: dict, at: datetime) -> None:
        with self.app.db.transaction() as session:
            ids = list(session.scalars(select(DraftRow.id).where(DraftRow.state == "pending", DraftRow.kind.in_(AUTO_KINDS))))
        for draft_id in ids:
            try:
                approve(self.app, draft_id, OFFICER, at)
            except Refused:
                continue  # e.g. a stage 2 acknowledgement waiting for a decision on the escalation
        send_approved(self.app, at)

    def do_respond(self, step: dict, at: datetime) -> None:
        draft = casework.plan_draft(self.app, self.labels[step["case"]], "response", at, OFFICER, outcome=step.get("outcome"))
        approve(self.app, draft.id, OFFICER, at, override="corpus: findings written elsewhere")
        send_approved(self.app, at)

    def do_tick(self, step: dict, at: datetime) -> None:
        tick(self.app, at)

    def do_decide(self, step: dict, at: datetime) -> None:
        casework.decide(self.app, self.labels[step["case"]], step["decision"], at, OFFICER)

    def do_extend(self, step: dict, at: datetime) -> None:
        casework.extend(self.app, self.labels[step["case"]], step["days"], "corpus extension", at, OFFICER)


def run_scenario(folder: Path) -> list[Outcome]:
    with tempfile.TemporaryDirectory(prefix="corpus-") as work:
        replay = Replay(folder, Path(work))
        try:
            return replay.play()
        finally:
            replay.app.close()


def precision_recall(outcomes: list[Outcome]) -> dict[str, dict[str, float | int]]:
    """Per intent: precision, recall and support over every message of the corpus."""
    intents = sorted({o.expected_intent for o in outcomes} | {o.actual_intent for o in outcomes if o.actual_intent})
    table = {}
    for intent in intents:
        tp = sum(1 for o in outcomes if o.expected_intent == intent and o.actual_intent == intent)
        fp = sum(1 for o in outcomes if o.expected_intent != intent and o.actual_intent == intent)
        fn = sum(1 for o in outcomes if o.expected_intent == intent and o.actual_intent != intent)
        table[intent] = {
            "precision": tp / (tp + fp) if tp + fp else 1.0,
            "recall": tp / (tp + fn) if tp + fn else 1.0,
            "support": tp + fn,
        }
    return table


def main(paths: list[str]) -> int:
    folders = [Path(p) for p in paths] or scenarios()
    outcomes = []
    for folder in folders:
        found = run_scenario(folder)
        outcomes += found
        for o in found:
            if not o.ok:
                print(f"{o.scenario}/{o.file}: " + "; ".join(o.problems))
    print(f"{sum(o.ok for o in outcomes)} passed, {sum(not o.ok for o in outcomes)} failed")
    for intent, row in precision_recall(outcomes).items():
        print(f"  {intent:<22} precision {row['precision']:.2f}  recall {row['recall']:.2f}  ({row['support']} messages)")
    return 0 if all(o.ok for o in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
