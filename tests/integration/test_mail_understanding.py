"""Reading mail as a complaints officer would, end to end through the CLI:
policy-aware kinds, winmail.dat and attached forwards, bounces of our
letters, officers' hand-written replies, and moving and merging."""

from __future__ import annotations

import struct
from datetime import datetime, timedelta, timezone
from email.message import EmailMessage
from email.policy import SMTP

from conftest import OUR_ADDRESS, make_email

MONDAY = datetime(2026, 11, 23, 10, 0, tzinfo=timezone.utc)
COMPLAINT = "I want to make a complaint. The damp in my bedroom has been reported three times and nobody has come out."


def ingest(landlord, at):
    return landlord.json("ingest", now=at)


def only_case(landlord, at=None):
    cases = landlord.json("cases", now=at)
    assert len(cases) == 1, cases
    return cases[0]


def send_acknowledgement(landlord, reference, at):
    case = landlord.json("case", reference, now=at)
    draft = next(d for d in case["drafts"] if d["kind"] == "acknowledgement" and d["state"] == "pending")
    landlord.ok("approve", draft["id"], "--by", "Priya Shah", now=at)
    landlord.ok("send", now=at)
    return draft["message_id"]


# --- what a message is for this landlord ----------------------------------------------

def test_connect_does_not_handle_anonymous_complaints(make_landlord):
    connect = make_landlord(policy="connect", landlord="Connect Housing")
    connect.deliver(make_email("anon4471@mail.example", "Rubbish on the estate",
                               "Nobody has cleared the rubbish for weeks, it is disgusting. A concerned resident"), MONDAY)
    ingest(connect, MONDAY + timedelta(minutes=5))
    case = only_case(connect)
    assert (case["kind"], "anonymous" in case["flags"]) == ("not_a_complaint", True)
    received = connect.json("case", case["reference"])["events"][0]
    assert "1.10" in received["reason"]  # the policy section that decided it


def test_an_mp_letter_is_an_enquiry_at_connect_and_a_complaint_at_southway_copied_to_the_resident(make_landlord):
    letter = make_email("Office of Jane Example MP <caseworker@mp-office.example.org>", "Constituent: leaking roof",
                        "I am writing on behalf of my constituent Mr Nwosu, whose roof has leaked for a month. "
                        "He is not happy that nobody has come out.",
                        headers={"Cc": "robert.nwosu@example.net"})
    connect = make_landlord(policy="connect", landlord="Connect Housing")
    connect.deliver(letter, MONDAY)
    ingest(connect, MONDAY + timedelta(minutes=5))
    assert only_case(connect)["kind"] == "enquiry"

    southway = make_landlord(policy="southway", landlord="Southway Housing Trust")
    southway.deliver(letter, MONDAY)
    ingest(southway, MONDAY + timedelta(minutes=5))
    case = only_case(southway)
    assert case["kind"] == "complaint" and "representative" in case["flags"]
    draft = southway.json("drafts")[0]
    assert (draft["to"], draft["cc"]) == (["caseworker@mp-office.example.org"], ["robert.nwosu@example.net"])


# --- what is inside a message ----------------------------------------------------------

def _tnef(body: bytes, name: str, data: bytes) -> bytes:
    """A minimal winmail.dat: a body and one attached file (TNEF attribute records)."""
    def attr(level: int, tag: int, kind: int, value: bytes) -> bytes:
        return struct.pack("<BHHI", level, tag, kind, len(value)) + value + struct.pack("<H", sum(value) & 0xFFFF)
    return (struct.pack("<IH", 0x223E9F78, 1) + attr(1, 0x800C, 0x0001, body)
            + attr(2, 0x9002, 0x0006, b"\x01\x00\xff\xff\xff\xff\x01\x00\x01\x00\x00\x00\x00\x00")
            + attr(2, 0x8010, 0x0001, name.encode() + b"\x00") + attr(2, 0x800F, 0x0006, data))


def test_a_winmail_dat_is_read_for_its_text_and_files(landlord):
    msg = EmailMessage(policy=SMTP)
    msg["From"], msg["To"], msg["Subject"] = "Sam Okoro <sam@example.net>", OUR_ADDRESS, "Kitchen ceiling"
    msg["Message-ID"] = "<tnef-1@example.net>"
    msg.set_content(" ")
    msg.add_attachment(_tnef(b"The ceiling in my kitchen has collapsed and nobody has come. I am furious.",
                             "ceiling.jpg", b"\xff\xd8\xff" + bytes(300)),
                       maintype="application", subtype="ms-tnef", filename="winmail.dat")
    landlord.deliver(msg.as_bytes(), MONDAY)
    ingest(landlord, MONDAY + timedelta(minutes=5))
    case = landlord.json("case", only_case(landlord)["reference"])
    assert case["kind"] == "complaint" and "health_and_safety" in case["flags"]
    assert case["messages"][0]["intent"] == "new_complaint"


def test_a_forward_of_a_message_we_hold_joins_its_case(landlord):
    first = make_email("Jane Doe <jane@example.net>", "Damp", COMPLAINT, message_id="<jane-1@example.net>")
    landlord.deliver(first, MONDAY)
    ingest(landlord, MONDAY + timedelta(minutes=5))
    forward = EmailMessage(policy=SMTP)
    forward["From"], forward["To"], forward["Subject"] = "Jane Doe <jane@example.net>", OUR_ADDRESS, "Fwd: my email from Monday"
    forward["Message-ID"] = "<jane-2@example.net>"
    forward.set_content("Forwarding this again as I have heard nothing.")
    forward.add_attachment(first, maintype="message", subtype="rfc822")
    landlord.deliver(forward.as_bytes(), MONDAY + timedelta(days=1))
    ingest(landlord, MONDAY + timedelta(days=1, minutes=5))
    case = only_case(landlord)
    messages = landlord.json("case", case["reference"])["messages"]
    assert [m["message_id"] for m in messages if m["direction"] == "in"] == ["<jane-1@example.net>", "<jane-2@example.net>"]
    assert any(s["name"] == "thread:forward_of_known" for s in messages[-1]["signals"])


def test_a_bounce_of_our_letter_flags_the_case_undeliverable_and_drafts_nothing(landlord):
    landlord.deliver(make_email("Jane Doe <jane@mistyped.example>", "Damp", COMPLAINT), MONDAY)
    reference = ingest(landlord, MONDAY + timedelta(minutes=5))["new_cases"][0]
    ours = send_acknowledgement(landlord, reference, MONDAY + timedelta(hours=1))
    bounce = EmailMessage(policy=SMTP)
    bounce["From"], bounce["To"], bounce["Subject"] = "MAILER-DAEMON@mx.example.net", OUR_ADDRESS, "Undelivered Mail Returned to Sender"
    bounce["Message-ID"] = "<bounce-1@mx.example.net>"
    bounce.set_content("This is the mail system. Your message could not be delivered.")
    bounce.add_attachment(f"Message-ID: {ours}\nTo: jane@mistyped.example\nSubject: Your complaint\n".encode(),
                          maintype="text", subtype="rfc822-headers")
    landlord.deliver(bounce.as_bytes(), MONDAY + timedelta(hours=2))
    ingest(landlord, MONDAY + timedelta(hours=2, minutes=5))
    case = landlord.json("case", reference)
    assert "undeliverable" in case["flags"]
    assert case["messages"][-1]["intent"] == "machine"
    assert [d for d in case["drafts"] if d["state"] == "pending"] == []


def test_our_own_letter_coming_back_is_machine_mail_and_opens_no_case(landlord):
    landlord.deliver(make_email(f"Complaints Team <{OUR_ADDRESS}>", "Your complaint CMP-000009 - Damp", "Dear Jane, thank you."), MONDAY)
    result = ingest(landlord, MONDAY + timedelta(minutes=5))
    assert result["new_cases"] == [] and landlord.json("cases") == []
    assert landlord.json("status")["messages"] == 1


# --- officers' own work -------------------------------------------------------------------

def test_a_reply_an_officer_wrote_by_hand_joins_its_case_and_can_meet_the_deadline(landlord):
    first = make_email("Jane Doe <jane@example.net>", "Damp", COMPLAINT, message_id="<jane-1@example.net>")
    landlord.deliver(first, MONDAY)
    reference = ingest(landlord, MONDAY + timedelta(minutes=5))["new_cases"][0]
    by_hand = make_email(f"Priya Shah <{OUR_ADDRESS}>", "RE: Damp", "Dear Jane, I am sorry to hear about the damp; I will visit on Thursday.",
                         message_id="<officer-1@landlord.example.org>", headers={"In-Reply-To": "<jane-1@example.net>", "To": "jane@example.net"})
    sent = landlord.maildir / ".Sent" / "cur"
    (sent / f"{int((MONDAY + timedelta(hours=3)).timestamp())}.officer.test:2,S").write_bytes(by_hand)
    result = ingest(landlord, MONDAY + timedelta(hours=4))
    assert result["officer_replies"] == 1 and result["new_cases"] == []
    case = landlord.json("case", reference)
    assert case["messages"][-1]["direction"] == "out"
    assert case["questions"][0]["message_id"] == "<officer-1@landlord.example.org>"
    confirmed = landlord.json("confirm", "<officer-1@landlord.example.org>", "acknowledgement", now=MONDAY + timedelta(hours=5))
    ack = next(d for d in confirmed["deadlines"] if d["kind"] == "acknowledge")
    assert (ack["status"], ack["met_at"]) == ("met", (MONDAY + timedelta(hours=3)).isoformat())
    assert confirmed["state"] == "investigating" and confirmed["questions"] == []
    assert all(d["state"] != "pending" for d in confirmed["drafts"] if d["kind"] == "acknowledgement")
    assert ingest(landlord, MONDAY + timedelta(hours=6))["officer_replies"] == 0  # read once


def test_move_and_merge_are_recorded_on_both_cases(landlord):
    landlord.deliver(make_email("Jane Doe <jane@example.net>", "Damp in bedroom", COMPLAINT), MONDAY)
    landlord.deliver(make_email("Jane Doe <jane@example.net>", "Also the boiler",
                                "My boiler is broken too and nobody has come. Not happy."), MONDAY + timedelta(minutes=1))
    landlord.deliver(make_email("Jane Doe <jane@example.net>", "The damp again",
                                "More about the damp: it is worse, I have had enough.", message_id="<jane-3@example.net>"),
                     MONDAY + timedelta(minutes=2))
    first, second, third = ingest(landlord, MONDAY + timedelta(minutes=5))["new_cases"]
    moved = landlord.json("move", "<jane-3@example.net>", first, now=MONDAY + timedelta(hours=1))
    assert "<jane-3@example.net>" in [m["message_id"] for m in moved["messages"]]
    retired = landlord.json("case", third)
    assert (retired["state"], "duplicate" in retired["flags"], retired["linked_to"]) == ("closed", True, first)
    merged = landlord.json("merge", second, first, now=MONDAY + timedelta(hours=2))
    assert len([m for m in merged["messages"] if m["direction"] == "in"]) == 3
    assert [e["reason"] for e in merged["events"] if e["kind"] == "corrected"][-1] == f"{second} merged into this case"
    rc, _, err = landlord.run("move", "<nope@example.net>", first)
    assert rc == 2 and "no message" in err


def test_a_landlords_own_reference_format(landlord):
    text = landlord.config.read_text() + '\n[cases]\nreference_prefix = "HSG"\nreference_digits = 5\n'
    landlord.config.write_text(text)
    landlord.deliver(make_email("Jane Doe <jane@example.net>", "Damp", COMPLAINT), MONDAY)
    assert ingest(landlord, MONDAY + timedelta(minutes=5))["new_cases"] == ["HSG-00001"]
    landlord.deliver(make_email("Jane Doe <jane@example.net>", "New subject", "More about HSG-00001: photos attached."),
                     MONDAY + timedelta(hours=1))
    ingest(landlord, MONDAY + timedelta(hours=1, minutes=5))
    assert len(landlord.json("case", "HSG-00001")["messages"]) == 2


def test_an_officer_corrects_an_intent_and_the_case_follows(landlord):
    landlord.deliver(make_email("Jane Doe <jane@example.net>", "Gate", "Could someone come and fix the garden gate please?",
                                message_id="<gate-1@example.net>"), MONDAY)
    reference = ingest(landlord, MONDAY + timedelta(minutes=5))["new_cases"][0]
    assert landlord.json("case", reference)["kind"] == "service_request"
    corrected = landlord.json("reclassify", "<gate-1@example.net>", "new_complaint", now=MONDAY + timedelta(hours=1))
    assert (corrected["kind"], corrected["state"]) == ("complaint", "awaiting_acknowledgement")
    # the complaint counts from the message's receipt: Reliance acknowledges in 2 working days
    assert next(d for d in corrected["deadlines"] if d["kind"] == "acknowledge")["due"] == "2026-11-25"
    assert {(d["kind"], d["state"]) for d in corrected["drafts"]} == {("not_a_complaint", "superseded"), ("acknowledgement", "pending")}
    assert corrected["events"][-1]["reason"] == "first message re-read as new_complaint"
    rc, _, err = landlord.run("reclassify", "<gate-1@example.net>", "machine")
    assert rc == 2 and "not an intent" in err
