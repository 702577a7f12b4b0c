"""A crash between any two steps loses nothing and duplicates nothing: the
process is killed at each failpoint (as SIGKILL would), run again, and the
cases, drafts and mailbox must equal those of a run that was never stopped."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta, timezone

import pytest

from conftest import make_email, message_id_of

AT = datetime(2026, 11, 23, 10, 0, tzinfo=timezone.utc)
KILLED = 137


def mailbox() -> list[bytes]:
    return [
        make_email("Jane Doe <jane@example.net>", "Damp in bedroom",
                   "I want to make a complaint: nobody has fixed the damp in my son's bedroom.", message_id="<jane-1@example.net>"),
        make_email("Tom Lee <tom@example.net>", "Boiler", "The boiler has broken for the third time and nobody has come.",
                   message_id="<tom-1@example.net>"),
        make_email("Jane Doe <jane@example.net>", "Photos for CMP-000001", "Here are the photos of the damp you asked for.",
                   message_id="<jane-2@example.net>"),
        make_email("Ann Cole <ann@example.net>", "Thank you", "Please pass on my thanks to the plumber, brilliant job.",
                   message_id="<ann-1@example.net>"),
        make_email("Office <auto@example.net>", "Automatic reply: Boiler", "I am out of the office.",
                   message_id="<ooo-1@example.net>", headers={"Auto-Submitted": "auto-replied"}),
        b"\x00\x01 this is not an email at all",
    ]


def snapshot(landlord) -> dict:
    cases = landlord.json("cases")
    detail = [landlord.json("case", c["reference"]) for c in cases]
    pending = [d for d in landlord.json("drafts") if d["state"] == "pending"]
    in_folder = Counter(message_id_of(p.read_bytes()) for p in landlord.draft_files())
    return {
        "cases": [(c["reference"], c["kind"], c["stage"], c["state"], sorted(m["message_id"] for m in c["messages"]),
                   sorted((d["kind"], d["stage"], d["state"]) for d in c["drafts"])) for c in detail],
        "status": {k: v for k, v in landlord.json("status").items() if k in ("messages", "quarantined", "cases", "pending_drafts")},
        "drafts_in_mailbox": sorted(in_folder.values()),
        "every_pending_draft_in_mailbox_once": all(in_folder[d["message_id"]] == 1 for d in pending) and len(in_folder) == len(pending),
    }


def deliver_all(landlord) -> None:
    for offset, raw in enumerate(mailbox()):
        landlord.deliver(raw, AT + timedelta(minutes=offset))


def run_uninterrupted(make_landlord) -> dict:
    landlord = make_landlord()
    deliver_all(landlord)
    landlord.json("ingest", now=AT + timedelta(hours=1))
    return snapshot(landlord)


@pytest.mark.parametrize("point", [
    "ingest.stored:1", "ingest.stored:3", "ingest.stored:6", "ingest.marked:2", "ingest.marked:5",
    "ingest.before_drafts", "drafts.saved:1", "drafts.saved:3",
])
def test_a_crash_during_ingest_changes_nothing_in_the_end(make_landlord, point):
    reference = run_uninterrupted(make_landlord)
    landlord = make_landlord()
    deliver_all(landlord)
    landlord.env["MAILCOMPLAINTS_FAILPOINT"] = point
    rc, _, _ = landlord.run("ingest", now=AT + timedelta(hours=1))
    del landlord.env["MAILCOMPLAINTS_FAILPOINT"]
    assert rc == KILLED, f"the failpoint {point} was never reached"
    landlord.json("ingest", now=AT + timedelta(hours=1))
    assert snapshot(landlord) == reference
    landlord.json("ingest", now=AT + timedelta(hours=2))  # and once more, for good measure
    assert snapshot(landlord) == reference


@pytest.mark.parametrize("point", ["send.recorded:1", "send.recorded:2", "send.sent:1", "send.sent:2"])
def test_a_crash_while_sending_sends_each_approved_draft_exactly_once(make_landlord, point):
    landlord = make_landlord()
    deliver_all(landlord)
    landlord.json("ingest", now=AT + timedelta(hours=1))
    approved = [d for d in landlord.json("drafts") if d["state"] == "pending"]
    for draft in approved:
        landlord.ok("approve", draft["id"], "--by", "Priya Shah")
    landlord.env["MAILCOMPLAINTS_FAILPOINT"] = point
    rc, _, _ = landlord.run("send", now=AT + timedelta(hours=2))
    del landlord.env["MAILCOMPLAINTS_FAILPOINT"]
    assert rc == KILLED
    landlord.json("send", now=AT + timedelta(hours=3))
    landlord.json("send", now=AT + timedelta(hours=4))
    sent = Counter(message_id_of(p.read_bytes()) for p in landlord.sent_files())
    assert sent == Counter({d["message_id"]: 1 for d in approved})
    assert all(d["state"] == "sent" for d in landlord.json("drafts") if d["id"] in {a["id"] for a in approved})
    assert landlord.draft_files() == []
    assert landlord.json("ingest", now=AT + timedelta(hours=5))["officer_replies"] == 0  # our Sent copies are not read back as officers' mail


def test_processing_the_same_mailbox_twice_gives_the_same_cases(make_landlord):
    first, second = make_landlord(), make_landlord()
    for landlord in (first, second):
        deliver_all(landlord)
        landlord.json("ingest", now=AT + timedelta(hours=1))
    first.json("ingest", now=AT + timedelta(hours=2))
    assert snapshot(first) == snapshot(second)


def test_send_killed_at_random_moments_sends_each_draft_exactly_once(make_landlord):
    import random
    import signal
    import subprocess
    import sys
    import time

    landlord = make_landlord()
    for n in range(8):
        landlord.deliver(make_email(f"Resident {n} <r{n}@example.net>", f"Repair {n}",
                                    f"I want to make a complaint: repair {n} has not been done and nobody has come.",
                                    message_id=f"<kill-{n}@example.net>"), AT + timedelta(minutes=n))
    landlord.json("ingest", now=AT + timedelta(hours=1))
    approved = [d for d in landlord.json("drafts") if d["state"] == "pending"]
    for draft in approved:
        landlord.ok("approve", draft["id"], "--by", "Priya Shah")
    chance = random.Random(20261123)
    command = [sys.executable, "-m", "mailcomplaints.cli", "--config", str(landlord.config),
               "--now", (AT + timedelta(hours=2)).isoformat(), "send"]
    for _ in range(12):
        process = subprocess.Popen(command, cwd=landlord.root, env=landlord.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(chance.uniform(0.3, 1.2))  # start-up is ~0.5 s: most kills land somewhere inside the sending
        process.send_signal(signal.SIGKILL)
        process.wait()
    landlord.json("send", now=AT + timedelta(hours=3))
    sent = Counter(message_id_of(p.read_bytes()) for p in landlord.sent_files())
    assert sent == Counter({d["message_id"]: 1 for d in approved})
    assert {d["state"] for d in landlord.json("drafts")} == {"sent"}
