"""The demo's story, checked as a complaints manager would read it."""

import email
import email.policy
import io

import pypdf
from datetime import datetime

import pytest
from rich.console import Console

from mailcomplaints.config import load_config
from mailcomplaints.domain.calendar import LONDON
from mailcomplaints.service.app import App
from mailcomplaints.service.demo import run_demo
from mailcomplaints.service.queries import list_cases, list_drafts, show_case
from mailcomplaints.service.status import status

END = datetime(2026, 12, 21, 10, 5, tzinfo=LONDON)


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    folder = tmp_path_factory.mktemp("demo") / "run"
    out = io.StringIO()
    run_demo(folder, Console(file=out, width=200))
    app = App(load_config(folder / "mailcomplaints.toml"))
    yield app, out.getvalue(), folder
    app.close()


def by_reference(app):
    return {c["reference"]: c for c in list_cases(app, END)}


def test_every_human_message_is_in_exactly_one_case_and_the_auto_reply_in_none(demo):
    app, _, _ = demo
    figures = status(app)
    assert figures["messages"] == 13 and figures["quarantined"] == 0
    machine = [m for c in by_reference(app) for m in show_case(app, c, END)["messages"] if m["intent"] == "machine"]
    assert machine == []  # the out-of-office joined no case
    assert figures["cases"] == 7


def test_the_story_of_each_case(demo):
    app, _, _ = demo
    cases = by_reference(app)
    damp = cases["CMP-000001"]
    assert (damp["stage"], damp["state"]) == (1, "escalation_review")
    assert {"late_escalation", "vulnerability", "health_and_safety"} <= set(damp["flags"])
    boiler = cases["CMP-000002"]
    assert (boiler["stage"], boiler["state"], boiler["handler"]) == (2, "investigating", "Tom Okafor")
    assert "representative" in boiler["flags"]
    contractor = cases["CMP-000003"]
    assert (contractor["state"], contractor["outcome"]) == ("closed", "not_upheld")
    assert "premature_escalation" in contractor["flags"]
    assert [c["kind"] for c in (cases["CMP-000004"], cases["CMP-000005"])] == ["compliment", "service_request"]
    assert cases["CMP-000004"]["state"] == cases["CMP-000005"]["state"] == "closed"
    mp = cases["CMP-000006"]
    assert {"representative", "response_overdue"} <= set(mp["flags"])
    assert [d["status"] for d in mp["deadlines"] if d["kind"] == "respond"] == ["overdue"]
    withdrawn = cases["CMP-000007"]
    assert (withdrawn["state"], withdrawn["outcome"]) == ("closed", "withdrawn")


def test_friday_evening_complaint_counts_from_monday(demo):
    app, _, _ = demo
    # delivered Friday 6 November 2026 at 17:40, after the 17:00 cut-off: counts from Monday 9th;
    # Reliance acknowledges in 2 working days -> Wednesday 11th; responds in 10 -> Monday 23rd, +5 extension -> 30th.
    deadlines = {(d["kind"], d["stage"]): d for d in by_reference(app)["CMP-000003"]["deadlines"]}
    assert deadlines[("acknowledge", 1)]["due"] == "2026-11-11"
    assert deadlines[("respond", 1)]["due"] == "2026-11-30"
    assert deadlines[("respond", 1)]["status"] == "met"


def test_late_escalation_waits_for_a_person_with_both_letters_drafted(demo):
    app, _, _ = demo
    waiting = {(d["case"], d["kind"], d["stage"]) for d in list_drafts(app) if d["state"] == "pending"}
    assert ("CMP-000001", "acknowledgement", 2) in waiting
    assert ("CMP-000001", "escalation_declined", 1) in waiting


def test_the_response_sent_is_the_one_the_officer_wrote(demo):
    app, _, folder = demo
    sent = [d for d in list_drafts(app) if d["kind"] == "response" and d["state"] == "sent"]
    assert len(sent) == 3
    letters = 0
    for path in (folder / "mailbox" / ".Sent" / "cur").iterdir():
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        assert "OFFICER TO COMPLETE" not in message.get_body(("plain",)).get_content()
        for part in message.iter_attachments():
            if part.get_content_type() == "application/pdf":
                letters += 1
                text = " ".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(part.get_content())).pages)
                assert "OFFICER TO COMPLETE" not in text  # the letter says what the officer wrote
    assert letters >= 10


def test_nothing_is_sent_twice(demo):
    app, _, folder = demo
    ids = []
    for path in (folder / "mailbox" / ".Sent" / "cur").iterdir():
        ids += [line for line in path.read_bytes().splitlines() if line.lower().startswith(b"message-id:")]
    assert len(ids) == len(set(ids)) == sum(1 for d in list_drafts(app) if d["state"] == "sent")


def test_summary_is_printed(demo):
    _, printed, _ = demo
    assert "Cases on Monday 21 December 2026" in printed
    assert "drafts wait for approval" in printed
