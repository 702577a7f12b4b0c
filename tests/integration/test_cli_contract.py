"""The CLI and `--json` contract (/work/shared/CONTRACT.md), driven through
subprocesses on a real Maildir and SQLite database.

Dates are worked out by hand. November and December 2026 are GMT, so London
time equals UTC. Monday 23 November 2026; Reliance acknowledges in 2 working
days and responds in 10 working days from receipt; its escalation window is
10 calendar days from the response; stage 2 is acknowledged in 5 working days
(the Code's, inherited) and answered in 20 working days from the request.
England's Christmas bank holidays: Friday 25 December, Monday 28 December
(Boxing Day observed), Friday 1 January 2027.
"""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime, timezone

import pytest

from conftest import Landlord, assert_bad_input, body_of, make_email, message_id_of

KINDS = {"complaint", "compliment", "service_request", "enquiry", "not_a_complaint"}
STATES = {"awaiting_acknowledgement", "investigating", "responded", "escalation_review", "closed"}
OUTCOMES = {None, "upheld", "partly_upheld", "not_upheld", "withdrawn", "resolved"}
DEADLINE_KINDS = {"acknowledge", "respond", "escalation_window"}
DEADLINE_STATUSES = {"pending", "due_today", "overdue", "met", "met_late"}
DRAFT_KINDS = {"acknowledgement", "extension", "response", "escalation_declined", "not_a_complaint",
               "compliment_thanks", "reminder"}
DRAFT_STATES = {"pending", "approved", "sending", "rejected", "sent", "superseded"}
INTENTS = {"new_complaint", "further_information", "escalation_request", "compliment", "service_request",
           "enquiry", "withdrawal", "machine", "other"}
FLAGS = {"late_escalation", "premature_escalation", "response_overdue", "representative", "ombudsman_mentioned",
         "legal_action", "insurance_claim", "health_and_safety", "vulnerability", "reasonable_adjustment", "asb",
         "abusive", "time_limit", "anonymous", "duplicate", "undeliverable"}

CASE_FIELDS = {"reference", "stage", "state", "kind", "outcome", "handler", "complainant", "subject",
               "opened_at", "flags", "deadlines", "drafts"}
DEADLINE_FIELDS = {"kind", "stage", "due", "met_at", "status"}
CASE_DRAFT_FIELDS = {"id", "kind", "stage", "state", "message_id"}
MESSAGE_FIELDS = {"message_id", "direction", "received_at", "from", "subject", "intent", "signals"}


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=timezone.utc)


RECEIVED = utc(2026, 11, 23, 10, 0)  # Monday
RESIDENT = "jane.doe@example.net"
COMPLAINT_SUBJECT = "Damp in my bedroom still not fixed"
COMPLAINT_BODY = (
    "I want to make a complaint. I reported damp in my bedroom in September and nobody has come out.\n"
    "This is unacceptable.\n\nJane Doe\n12 Oak Road\n"
)


def complaint(message_id: str | None = None) -> bytes:
    return make_email(f"Jane Doe <{RESIDENT}>", COMPLAINT_SUBJECT, COMPLAINT_BODY, message_id=message_id)


def open_complaint(landlord: Landlord, received: datetime = RECEIVED) -> dict:
    """Deliver Jane's complaint, ingest it, and return the one case it opened."""
    landlord.deliver(complaint(), received)
    result = landlord.json("ingest", now=received.replace(minute=5))
    assert result["processed"] == 1 and len(result["new_cases"]) == 1, result
    return landlord.json("case", result["new_cases"][0])


def deadline(case: dict, kind: str, stage: int) -> dict:
    found = [d for d in case["deadlines"] if d["kind"] == kind and d["stage"] == stage]
    assert len(found) == 1, f"expected one {kind} {stage} deadline in {case['deadlines']}"
    return found[0]


def one_draft(case: dict, kind: str, stage: int, state: str = "pending") -> dict:
    found = [d for d in case["drafts"] if d["kind"] == kind and d["stage"] == stage and d["state"] == state]
    assert len(found) == 1, f"expected one {state} {kind} stage {stage} draft in {case['drafts']}"
    return found[0]


def check_case_shape(case: dict) -> None:
    assert CASE_FIELDS <= case.keys(), CASE_FIELDS - case.keys()
    assert case["reference"].startswith("CMP-") and len(case["reference"]) == 10
    assert case["stage"] in (1, 2)
    assert case["state"] in STATES
    assert case["kind"] in KINDS
    assert case["outcome"] in OUTCOMES
    assert isinstance(case["handler"], str) and case["handler"]
    assert set(case["complainant"]) >= {"name", "email"}
    assert datetime.fromisoformat(case["opened_at"]).utcoffset() is not None
    assert set(case["flags"]) <= FLAGS, set(case["flags"]) - FLAGS
    for d in case["deadlines"]:
        assert DEADLINE_FIELDS <= d.keys()
        assert d["kind"] in DEADLINE_KINDS and d["stage"] in (1, 2) and d["status"] in DEADLINE_STATUSES
        assert d["due"] == datetime.fromisoformat(d["due"]).date().isoformat()
    for d in case["drafts"]:
        assert CASE_DRAFT_FIELDS <= d.keys()
        assert d["kind"] in DRAFT_KINDS and d["state"] in DRAFT_STATES and d["stage"] in (1, 2)
        assert d["id"] and d["message_id"].startswith("<") and d["message_id"].endswith(">")


# --- the contract's shapes ---------------------------------------------------------------

def test_ingested_complaint_has_the_contract_fields(landlord: Landlord) -> None:
    landlord.deliver(complaint("<first@resident.example.net>"), RECEIVED)
    result = landlord.json("ingest", now=utc(2026, 11, 23, 10, 5))
    assert result["new_cases"] == ["CMP-000001"]

    cases = landlord.json("cases")
    assert isinstance(cases, list) and len(cases) == 1
    case = cases[0]
    check_case_shape(case)
    assert case["reference"] == "CMP-000001"
    assert (case["kind"], case["stage"], case["state"], case["outcome"]) == ("complaint", 1, "awaiting_acknowledgement", None)
    assert case["handler"] == "Complaints Team"
    assert case["complainant"] == {"name": "Jane Doe", "email": RESIDENT}
    assert case["subject"] == COMPLAINT_SUBJECT
    assert datetime.fromisoformat(case["opened_at"]) == RECEIVED
    assert "health_and_safety" in case["flags"]  # "damp"
    ack, respond = deadline(case, "acknowledge", 1), deadline(case, "respond", 1)
    assert (ack["due"], ack["met_at"], ack["status"]) == ("2026-11-25", None, "pending")
    assert (respond["due"], respond["met_at"], respond["status"]) == ("2026-12-07", None, "pending")
    assert [d["kind"] for d in case["drafts"]] == ["acknowledgement"]
    assert case["drafts"][0]["state"] == "pending" and case["drafts"][0]["stage"] == 1

    detail = landlord.json("case", "CMP-000001")
    check_case_shape(detail)
    assert {k: v for k, v in detail.items() if k not in ("messages", "events")} == case
    assert len(detail["messages"]) == 1
    message = detail["messages"][0]
    assert MESSAGE_FIELDS <= message.keys()
    assert message["message_id"] == "<first@resident.example.net>"
    assert message["direction"] == "in"
    assert datetime.fromisoformat(message["received_at"]) == RECEIVED
    assert message["from"] == RESIDENT
    assert message["subject"] == COMPLAINT_SUBJECT
    assert message["intent"] == "new_complaint" and message["intent"] in INTENTS
    assert message["signals"] and all(set(s) >= {"name", "evidence"} and s["evidence"] for s in message["signals"])
    # A signal named like a flag raises that flag on the case.
    flag_signals = {s["name"] for s in message["signals"] if s["name"] in FLAGS}
    assert "health_and_safety" in flag_signals and flag_signals <= set(case["flags"])
    assert isinstance(detail["events"], list) and detail["events"]
    assert "received" in {e["kind"] for e in detail["events"]}

    drafts = landlord.json("drafts")
    assert len(drafts) == 1
    assert drafts[0]["case"] == "CMP-000001"
    assert {k: drafts[0][k] for k in CASE_DRAFT_FIELDS} == case["drafts"][0]


def test_status_json_has_the_contract_fields(landlord: Landlord) -> None:
    status = landlord.json("status")
    assert {"messages", "quarantined", "cases", "pending_drafts", "last_sync"} <= status.keys()
    assert (status["messages"], status["quarantined"], status["cases"], status["pending_drafts"]) == (0, 0, 0, 0)
    assert status["last_sync"] is None

    landlord.deliver(complaint(), RECEIVED)
    landlord.json("ingest", now=utc(2026, 11, 23, 10, 5))
    status = landlord.json("status")
    assert (status["messages"], status["quarantined"], status["cases"], status["pending_drafts"]) == (1, 0, 1, 1)
    assert datetime.fromisoformat(status["last_sync"]) == utc(2026, 11, 23, 10, 5)


# --- a complaint's whole journey -----------------------------------------------------------

def test_full_journey_from_complaint_to_stage_two(landlord: Landlord) -> None:
    case = open_complaint(landlord)
    ref = case["reference"]
    ack = one_draft(case, "acknowledgement", 1)
    assert [p.name for p in landlord.draft_files()] and len(landlord.draft_files()) == 1

    # The planned acknowledgement passes the lint as drafted: no --override needed.
    approved = landlord.json("approve", ack["id"], "--by", "Priya Shah", now=utc(2026, 11, 23, 11, 0))
    assert approved["state"] == "approved" and approved["case"] == ref
    sent = landlord.json("send", now=utc(2026, 11, 23, 11, 5))
    assert [d["id"] for d in sent] == [ack["id"]]

    sent_files = landlord.sent_files()
    assert len(sent_files) == 1
    assert message_id_of(sent_files[0].read_bytes()) == ack["message_id"]
    assert landlord.draft_files() == []  # gone from .Drafts

    case = landlord.json("case", ref)
    assert (case["stage"], case["state"]) == (1, "investigating")
    ack_deadline = deadline(case, "acknowledge", 1)
    assert ack_deadline["status"] == "met"
    assert datetime.fromisoformat(ack_deadline["met_at"]) == utc(2026, 11, 23, 11, 5)
    assert one_draft(case, "acknowledgement", 1, state="sent")["message_id"] == ack["message_id"]
    out_messages = [m for m in case["messages"] if m["direction"] == "out"]
    assert [m["message_id"] for m in out_messages] == [ack["message_id"]]

    # The stage 1 response: the officer must complete it before it may go.
    response = landlord.json("draft", ref, "response", "--outcome", "upheld", "--by", "Tom Okafor",
                             now=utc(2026, 11, 30, 9, 0))  # Monday
    assert (response["kind"], response["stage"], response["state"]) == ("response", 1, "pending")
    refused = landlord.run("approve", response["id"], "--by", "Priya Shah", now=utc(2026, 11, 30, 9, 10))
    line = assert_bad_input(refused)
    assert "placeholder" in line.lower() and "--override" in line
    assert landlord.json("drafts", "--state", "approved") == []

    approved = landlord.json("approve", response["id"], "--by", "Priya Shah", "--override", "findings in the attached letter")
    assert approved["state"] == "approved" and approved["override_reason"] == "findings in the attached letter"
    landlord.json("send", now=utc(2026, 11, 30, 9, 20))
    assert len(landlord.sent_files()) == 2
    assert response["message_id"] in {message_id_of(p.read_bytes()) for p in landlord.sent_files()}

    case = landlord.json("case", ref)
    assert (case["stage"], case["state"]) == (1, "responded")
    assert deadline(case, "respond", 1)["status"] == "met"
    window = deadline(case, "escalation_window", 1)
    # 10 calendar days from Monday 30 November: Thursday 10 December, a working day.
    assert (window["due"], window["status"]) == ("2026-12-10", "pending")

    # Jane asks to escalate inside the window, quoting the reference.
    reply = make_email(f"Jane Doe <{RESIDENT}>", f"Re: Your complaint {ref} - {COMPLAINT_SUBJECT}",
                       "I am not satisfied with your response. Please escalate to stage 2.\n\nJane")
    landlord.deliver(reply, utc(2026, 12, 3, 10, 0))  # Thursday
    result = landlord.json("ingest", now=utc(2026, 12, 3, 10, 5))
    assert result["processed"] == 1 and result["new_cases"] == []

    case = landlord.json("case", ref)
    assert (case["stage"], case["state"]) == (2, "awaiting_acknowledgement")
    assert deadline(case, "escalation_window", 1)["status"] == "met"
    # Stage 2 from the request of Thursday 3 December: acknowledge in 5 working
    # days (Thursday 10 December); respond in 20 working days, over Christmas
    # (25 and 28 December and 1 January are bank holidays): Tuesday 5 January 2027.
    assert (deadline(case, "acknowledge", 2)["due"], deadline(case, "acknowledge", 2)["status"]) == ("2026-12-10", "pending")
    assert deadline(case, "respond", 2)["due"] == "2027-01-05"
    one_draft(case, "acknowledgement", 2)
    escalation = [m for m in case["messages"] if m["subject"].startswith("Re: Your complaint")]
    assert len(escalation) == 1 and escalation[0]["intent"] == "escalation_request"
    assert len(landlord.json("cases")) == 1


def test_send_twice_sends_once(landlord: Landlord) -> None:
    case = open_complaint(landlord)
    ack = one_draft(case, "acknowledgement", 1)
    landlord.json("approve", ack["id"], "--by", "Priya Shah", now=utc(2026, 11, 23, 11, 0))
    first = landlord.json("send", now=utc(2026, 11, 23, 11, 5))
    second = landlord.json("send", now=utc(2026, 11, 23, 11, 10))
    assert len(first) == 1 and second == []
    assert len(landlord.sent_files()) == 1
    assert landlord.json("drafts")[0]["state"] == "sent"


def test_reingest_changes_nothing(landlord: Landlord) -> None:
    open_complaint(landlord)
    before = (landlord.json("status"), landlord.json("cases"), landlord.json("drafts"))
    again = landlord.json("ingest", now=utc(2026, 11, 23, 12, 0))
    assert again["processed"] == 0 and again["new_cases"] == []
    status, cases, drafts = landlord.json("status"), landlord.json("cases"), landlord.json("drafts")
    assert status["messages"] == before[0]["messages"] == 1
    assert status["cases"] == before[0]["cases"] == 1
    assert cases == before[1]
    assert drafts == before[2]
    assert len(landlord.draft_files()) == 1


def test_duplicate_delivery_of_the_same_message_id_is_one_message(landlord: Landlord) -> None:
    raw = complaint("<same-id@resident.example.net>")
    landlord.deliver(raw, RECEIVED)
    landlord.deliver(raw, utc(2026, 11, 23, 10, 1))  # the same message, a second file
    result = landlord.json("ingest", now=utc(2026, 11, 23, 10, 5))
    assert result["processed"] == 1 and result["duplicates"] == 1
    status = landlord.json("status")
    assert (status["messages"], status["cases"]) == (1, 1)
    case = landlord.json("case", "CMP-000001")
    assert [m["message_id"] for m in case["messages"]] == ["<same-id@resident.example.net>"]
    assert len(case["drafts"]) == 1

    # A later delivery of the same Message-ID, after ingest, is not new either.
    landlord.deliver(raw, utc(2026, 11, 23, 11, 0))
    result = landlord.json("ingest", now=utc(2026, 11, 23, 11, 5))
    assert result["processed"] == 0 and result["new_cases"] == []
    assert landlord.json("status")["messages"] == 1
    assert len(landlord.json("case", "CMP-000001")["messages"]) == 1


def test_reingest_does_not_report_an_old_duplicate_again(landlord: Landlord) -> None:
    raw = complaint("<same-id@resident.example.net>")
    landlord.deliver(raw, RECEIVED)
    landlord.deliver(raw, utc(2026, 11, 23, 10, 1))
    assert landlord.json("ingest", now=utc(2026, 11, 23, 10, 5))["duplicates"] == 1
    again = landlord.json("ingest", now=utc(2026, 11, 23, 10, 10))
    assert {k: again[k] for k in ("processed", "quarantined", "duplicates", "new_cases", "drafts")} == {
        "processed": 0, "quarantined": 0, "duplicates": 0, "new_cases": [], "drafts": 0}


def test_out_of_office_is_machine_mail(landlord: Landlord) -> None:
    out_of_office = make_email(
        "Tom Barker <tom.barker@partner.example.org>", "Automatic reply: Repairs", "I am out of the office until Monday.",
        headers={"Auto-Submitted": "auto-replied"},
    )
    landlord.deliver(out_of_office, RECEIVED)
    result = landlord.json("ingest", now=utc(2026, 11, 23, 10, 5))
    assert result["new_cases"] == []
    assert landlord.json("cases") == []
    assert landlord.json("drafts") == []
    assert landlord.draft_files() == []
    status = landlord.json("status")
    assert (status["messages"], status["cases"], status["pending_drafts"]) == (1, 0, 0)

    # The resident's own out-of-office answering our acknowledgement joins the
    # case as machine mail and plans nothing.
    case = open_complaint(landlord, utc(2026, 11, 23, 11, 0))
    ack = one_draft(case, "acknowledgement", 1)
    landlord.json("approve", ack["id"], "--by", "Priya Shah", now=utc(2026, 11, 23, 11, 30))
    landlord.json("send")
    auto = make_email(f"Jane Doe <{RESIDENT}>", f"Automatic reply: Your complaint {case['reference']}",
                      "I am away until Friday.", headers={"Auto-Submitted": "auto-replied", "In-Reply-To": ack["message_id"]})
    landlord.deliver(auto, utc(2026, 11, 23, 11, 40))
    result = landlord.json("ingest", now=utc(2026, 11, 23, 11, 45))
    assert result["new_cases"] == []
    after = landlord.json("case", case["reference"])
    machine = [m for m in after["messages"] if m["subject"].startswith("Automatic reply")]
    assert len(machine) == 1 and machine[0]["intent"] == "machine"
    assert len(after["drafts"]) == 1 and after["state"] == "investigating"
    assert len(landlord.json("cases")) == 1


def test_unreadable_mail_is_quarantined_and_does_not_block(landlord: Landlord) -> None:
    landlord.deliver(b"", utc(2026, 11, 23, 9, 0))
    landlord.deliver(b"\x00\x01\x02 not a message \xff\xfe", utc(2026, 11, 23, 9, 30))
    landlord.deliver(complaint(), RECEIVED)  # after both
    result = landlord.json("ingest", now=utc(2026, 11, 23, 10, 5))
    assert result["quarantined"] == 2 and result["new_cases"] == ["CMP-000001"]
    status = landlord.json("status")
    assert (status["quarantined"], status["messages"], status["cases"]) == (2, 1, 1)
    # They stay quarantined once: a second ingest does not count them again.
    result = landlord.json("ingest", now=utc(2026, 11, 23, 10, 10))
    assert result["quarantined"] == 0
    assert landlord.json("status")["quarantined"] == 2


def test_deadline_statuses_are_reckoned_in_london_time(landlord: Landlord) -> None:
    # Friday 4 June 2027, 16:30 UTC = 17:30 BST: after the 17:00 cut-off, so the
    # complaint counts from Monday 7 June and the acknowledgement is due Wednesday 9 June.
    case = open_complaint(landlord, utc(2027, 6, 4, 16, 30))
    ref = case["reference"]
    assert deadline(case, "acknowledge", 1)["due"] == "2027-06-09"
    assert deadline(case, "respond", 1)["due"] == "2027-06-21"
    # 23:30 UTC on Tuesday 8 June is already Wednesday in London: due today.
    assert deadline(landlord.json("case", ref, now=utc(2027, 6, 8, 23, 30)), "acknowledge", 1)["status"] == "due_today"
    # 23:30 UTC on Wednesday 9 June is Thursday in London: overdue.
    assert deadline(landlord.json("case", ref, now=utc(2027, 6, 9, 23, 30)), "acknowledge", 1)["status"] == "overdue"
    ack = one_draft(case, "acknowledgement", 1)
    landlord.json("approve", ack["id"], "--by", "Priya Shah")
    landlord.json("send", now=utc(2027, 6, 9, 23, 40))
    done = deadline(landlord.json("case", ref), "acknowledge", 1)
    assert done["status"] == "met_late" and datetime.fromisoformat(done["met_at"]) == utc(2027, 6, 9, 23, 40)


# --- officers' commands --------------------------------------------------------------------

def test_assign_names_the_officer_in_the_pending_acknowledgement(landlord: Landlord) -> None:
    case = open_complaint(landlord)
    ref = case["reference"]
    (draft_file,) = landlord.draft_files()
    assert "Complaints Team will investigate" in body_of(draft_file)

    assigned = landlord.json("assign", ref, "Tom Okafor", now=utc(2026, 11, 23, 10, 30))
    assert assigned["handler"] == "Tom Okafor"
    assert landlord.json("case", ref)["handler"] == "Tom Okafor"
    (draft_file,) = landlord.draft_files()
    text = body_of(draft_file)
    assert "Tom Okafor will investigate" in text
    assert "Complaints Team will investigate" not in text
    # The same draft, and it still passes the lint without an override.
    ack = one_draft(landlord.json("case", ref), "acknowledgement", 1)
    assert ack["id"] == one_draft(case, "acknowledgement", 1)["id"]
    landlord.json("approve", ack["id"], "--by", "Priya Shah")
    landlord.json("send", now=utc(2026, 11, 23, 11, 0))
    assert "Tom Okafor will investigate" in body_of(landlord.sent_files()[0])


def test_extend_moves_the_response_date_and_refuses_beyond_the_limit(landlord: Landlord) -> None:
    ref = open_complaint(landlord)["reference"]
    case = landlord.json("extend", ref, "--working-days", "6", "--reason", "awaiting a surveyor's report",
                         now=utc(2026, 11, 24, 10, 0))
    # Monday 7 December + 6 working days = Tuesday 15 December.
    assert deadline(case, "respond", 1)["due"] == "2026-12-15"
    assert one_draft(case, "extension", 1)
    # Reliance allows 10 working days of extension at stage 1: 6 + 5 is too many.
    line = assert_bad_input(landlord.run("extend", ref, "--working-days", "5", "--reason", "more time"))
    assert "10" in line and "--agreed" in line
    assert deadline(landlord.json("case", ref), "respond", 1)["due"] == "2026-12-15"


def test_decide_without_a_pending_escalation_is_refused(landlord: Landlord) -> None:
    ref = open_complaint(landlord)["reference"]
    line = assert_bad_input(landlord.run("decide", ref, "accept-escalation", now=utc(2026, 11, 24, 10, 0)))
    assert ref in line
    assert landlord.json("case", ref)["stage"] == 1


def test_close_with_an_outcome_the_landlord_does_not_use(make_landlord) -> None:
    landlord = make_landlord(policy="housing-solutions", landlord="Housing Solutions")
    ref = open_complaint(landlord)["reference"]
    line = assert_bad_input(landlord.run("close", ref, "--outcome", "partly upheld", now=utc(2026, 11, 24, 10, 0)))
    assert "partly upheld" in line
    assert landlord.json("case", ref)["state"] == "awaiting_acknowledgement"
    closed = landlord.json("close", ref, "--outcome", "Not upheld")
    assert (closed["state"], closed["outcome"]) == ("closed", "not_upheld")


def test_unknown_case_and_unknown_draft(landlord: Landlord) -> None:
    assert "CMP-999999" in assert_bad_input(landlord.run("case", "CMP-999999", "--json"))
    assert "d-nosuchdraft" in assert_bad_input(landlord.run("approve", "d-nosuchdraft", "--by", "Priya Shah"))
    assert_bad_input(landlord.run("reject", "d-nosuchdraft", "--by", "Priya Shah", "--reason", "no"))
    assert_bad_input(landlord.run("draft", "CMP-999999", "response"))


# --- policies, the calendar, setup -------------------------------------------------------------

SHIPPED = ("reliance", "housing-solutions", "connect", "southway", "alliance-homes", "housing-ombudsman-code-2024")


def test_policy_show_reliance_lists_its_timescales(landlord: Landlord) -> None:
    shown = landlord.json("policy", "show", "reliance")
    assert shown["name"] == "reliance" and shown["landlord"] == "Reliance Housing"
    assert shown["nation"] == "england" and shown["cutoff"] == "17:00"
    assert {"upheld", "not_upheld"} <= set(shown["outcomes"])
    rules = {(r["stage"], r["what"]): r for r in shown["rules"]}
    ack1 = rules[(1, "acknowledge")]
    assert (ack1["days"], ack1["unit"], ack1["from"], ack1["ref"], ack1["inherited"]) == (
        2, "working_days", "receipt", "Stage 1 - Investigation", False)
    assert (rules[(1, "respond")]["days"], rules[(1, "respond")]["from"]) == (10, "receipt")
    window = rules[(1, "escalation_window")]
    assert (window["days"], window["unit"], window["from"]) == (10, "calendar_days", "response_sent")
    assert (rules[(1, "time_limit")]["months"], rules[(1, "time_limit")]["unit"]) == (6, "months")
    assert rules[(2, "acknowledge")]["inherited"] is True  # the Code's 5 working days
    assert (rules[(2, "respond")]["days"], rules[(2, "respond")]["from"], rules[(2, "respond")]["inherited"]) == (
        20, "escalation_request", False)


@pytest.mark.parametrize("name", SHIPPED)
def test_policy_show_every_landlord(landlord: Landlord, name: str) -> None:
    shown = landlord.json("policy", "show", name)
    assert {"name", "landlord", "nation", "cutoff", "outcomes", "rules"} <= shown.keys()
    assert shown["name"] == name and shown["rules"]
    for rule in shown["rules"]:
        assert {"stage", "what", "unit", "from", "ref", "inherited"} <= rule.keys(), rule
        assert rule["stage"] in (1, 2)
        assert rule["what"] in ("acknowledge", "respond", "extension", "escalation_window", "time_limit")
        assert rule["from"] in (None, "receipt", "acknowledgement", "escalation_request", "response_sent")
        assert isinstance(rule["inherited"], bool) and str(rule["ref"]).strip()
        if rule.get("unlimited"):
            continue
        assert rule["unit"] in ("working_days", "calendar_days", "weeks", "months")
        amount = rule["months"] if rule["unit"] == "months" else rule["days"]
        assert isinstance(amount, int) and amount > 0


def test_deadline_calculator_over_scottish_christmas(landlord: Landlord) -> None:
    # Wednesday 23 December 2026 + 5 working days in Scotland: Thu 24 (1);
    # Fri 25 Christmas; Mon 28 Boxing Day observed; Tue 29 (2), Wed 30 (3),
    # Thu 31 (4); Fri 1 and Mon 4 January (2 January observed); Tue 5 January (5).
    result = landlord.json("deadline", "2026-12-23", "--working-days", "5", "--nation", "scotland")
    assert result["due"] == "2027-01-05"
    # England works 4 January 2027 (its only New Year bank holiday is the 1st).
    assert landlord.json("deadline", "2026-12-23", "--working-days", "5", "--nation", "england")["due"] == "2027-01-04"


def test_init_writes_a_config_status_accepts(landlord: Landlord) -> None:
    target = landlord.root / "newlandlord" / "mailcomplaints.toml"
    rc, out, err = landlord.run("init", "--path", str(target), "--landlord", "New Homes", config=False)
    assert rc == 0, err
    assert target.is_file()
    rc, out, err = landlord.run("--config", str(target), "status", "--json", config=False)
    assert rc == 0, err
    assert '"messages": 0' in out
    # A second init does not overwrite it.
    assert_bad_input(landlord.run("init", "--path", str(target), config=False))


def test_now_that_is_not_iso_is_bad_input(landlord: Landlord) -> None:
    done = subprocess.run([sys.executable, "-m", "mailcomplaints.cli", "--config", str(landlord.config),
                           "--now", "next tuesday", "status"], cwd=landlord.root, env=landlord.env,
                          capture_output=True, text=True, timeout=60)
    line = assert_bad_input((done.returncode, done.stdout, done.stderr), "--now")
    assert "next tuesday" in line
