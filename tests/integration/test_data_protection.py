"""Data protection (UK GDPR) from the command line, as a landlord's data
protection officer would check it: `export` gives everything held about a
case or a person as a ZIP that opens; `erase --person` leaves nothing of them
that `case`, `cases`, `export` or a look at the database file itself can find,
keeps a record of the erasure that does not hold what it erased, and still
recognises their old mail as a duplicate; retention removes the people from
cases closed long enough ago, and no figure of the report changes."""

from __future__ import annotations

import hashlib
import json
import os
import zipfile
from datetime import datetime, timezone
from pathlib import Path

from conftest import assert_bad_input, make_email
from mailcomplaints.config import load_config

JANE = "jane.doe@example.net"
JANE_WORDS = "purple mould behind the wardrobe"  # distinctive: found nowhere else
BOB = "bob.smith@example.org"
BOB_WORDS = "the lift at Elm Court has been broken"
T0 = datetime(2026, 11, 23, 9, 0, tzinfo=timezone.utc)  # Monday


def at(*args: int) -> datetime:
    return datetime(*args, tzinfo=timezone.utc)


def database_bytes(landlord) -> bytes | None:
    """The SQLite database file and its WAL, as bytes (the raw look a forensic
    reader would take); None on PostgreSQL, whose files are the server's."""
    url = load_config(landlord.config).database_url
    if not url.startswith("sqlite:///"):
        return None
    path = Path(url.removeprefix("sqlite:///"))
    return b"".join(p.read_bytes() for p in (path, Path(f"{path}-wal")) if p.exists())


PLAIN_SQLITE = """# SQLite as most builds ship it: freed space is not zeroed (Debian's is built with SECURE_DELETE)
import sqlite3, sqlite3.dbapi2
_connect = sqlite3.dbapi2.connect
def connect(*args, **kwargs):
    connection = _connect(*args, **kwargs)
    connection.execute("PRAGMA secure_delete=OFF")
    return connection
sqlite3.connect = sqlite3.dbapi2.connect = connect
"""


def like_most_sqlite_builds(landlord) -> None:
    """Run the CLI with an SQLite that leaves deleted bytes in free pages, as
    python.org's and macOS's do (Debian's zeroes them itself), so the raw-file
    check proves that `erase` removes them, not the platform."""
    folder = landlord.root / ".plain-sqlite"
    folder.mkdir()
    (folder / "sitecustomize.py").write_text(PLAIN_SQLITE)
    landlord.env["PYTHONPATH"] = os.pathsep.join(p for p in (str(folder), landlord.env.get("PYTHONPATH", "")) if p)


def zip_text(path: Path) -> str:
    """Every file in the ZIP, decoded, as one text to search."""
    with zipfile.ZipFile(path) as archive:
        return "\n".join(archive.read(name).decode("utf-8", "replace") for name in archive.namelist())


def open_complaint(landlord, sender: str, words: str, when: datetime) -> str:
    landlord.deliver(make_email(sender, "Complaint about my flat", f"I want to make a complaint: {words}. Nobody has come."), when)
    (reference,) = landlord.json("ingest", now=when.replace(minute=5))["new_cases"]
    return reference


def draft_of(landlord, reference: str, kind: str) -> str:
    return next(d["id"] for d in landlord.json("case", reference)["drafts"] if d["kind"] == kind and d["state"] == "pending")


def respond_and_close(landlord, reference: str, when: datetime) -> None:
    """Acknowledge, respond (upheld) and close: a case the report counts."""
    landlord.json("approve", draft_of(landlord, reference, "acknowledgement"), "--by", "Manager One", now=when)
    landlord.json("send", now=when)
    later = when.replace(hour=when.hour + 2)
    response = landlord.json("draft", reference, "response", "--outcome", "upheld", "--by", "Officer One", now=later)["id"]
    landlord.json("approve", response, "--by", "Manager One", "--override", "findings written in the mailbox", now=later)
    landlord.json("send", now=later)
    landlord.json("close", reference, "--outcome", "upheld", "--by", "Officer One", now=later.replace(hour=later.hour + 1))


# --- export ---------------------------------------------------------------------------

def test_export_of_a_case_is_a_zip_with_the_residents_email_the_letter_and_the_history(landlord):
    reference = open_complaint(landlord, f"Jane Doe <{JANE}>", JANE_WORDS, T0)
    out = landlord.json("export", reference, now=at(2026, 11, 23, 10, 0))
    path = Path(out["path"])
    assert path == landlord.root / f"{reference}-export.zip" and out["cases"] == [reference]
    assert out["messages"] == 1 and out["letters"] == 1  # the complaint, and the acknowledgement letter's PDF
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        index = json.loads(archive.read("index.json"))
        assert {"index.json", "index.txt"} <= set(names)
        assert sorted(entry["path"] for entry in index["files"]) == sorted(n for n in names if not n.startswith("index."))
        listing = archive.read("index.txt").decode()
        assert all(entry["path"] in listing for entry in index["files"])  # every file named for a person too
        (eml,) = [n for n in names if n.endswith(".eml")]
        assert JANE_WORDS in archive.read(eml).decode() and JANE in archive.read(eml).decode()  # the bytes as received
        (pdf,) = [n for n in names if n.endswith(".pdf")]
        assert archive.read(pdf).startswith(b"%PDF")
        case = json.loads(archive.read(f"{reference}/case.json"))
        assert case["reference"] == reference and case["complainant"]["email"] == JANE
        assert [e["kind"] for e in case["events"]][0] == "received" and {d["kind"] for d in case["deadlines"]} >= {"acknowledge", "respond"}
        assert any("Jane Doe" in d["body_text"] for d in case["drafts"])  # the draft's text, as well as its letter
        assert any(n.endswith(".txt") and "/drafts/" in n for n in names)

    chosen = landlord.json("export", "--person", JANE.upper(), "--output", "sar.zip")
    assert Path(chosen["path"]) == landlord.root / "sar.zip" and chosen["cases"] == [reference]
    assert JANE_WORDS in zip_text(landlord.root / "sar.zip")

    assert_bad_input(landlord.run("export", "CMP-999999"), "CMP-999999")
    assert_bad_input(landlord.run("export", "--person", "nobody@example.net"), "nobody@example.net", "nothing")
    assert_bad_input(landlord.run("export"), "--person")
    assert_bad_input(landlord.run("export", reference, "--output", "no/such/folder/x.zip"), "does not exist")


def test_export_of_a_person_holds_their_mail_in_others_cases_but_not_the_others_complaint(landlord):
    bobs = open_complaint(landlord, f"Bob Smith <{BOB}>", BOB_WORDS, T0)
    landlord.deliver(make_email(f"Jane Doe <{JANE}>", f"Re: Complaint about my flat {bobs}",
                                f"I live next door to Bob; {JANE_WORDS} is spreading to us too."), at(2026, 11, 23, 11, 0))
    landlord.json("ingest", now=at(2026, 11, 23, 11, 5))
    out = landlord.json("export", "--person", JANE)
    assert out["cases"] == [bobs] and out["messages"] == 1
    text = zip_text(Path(out["path"]))
    assert JANE_WORDS in text and BOB_WORDS not in text  # her message, not his complaint


# --- erasure ----------------------------------------------------------------------------

def test_erase_leaves_nothing_of_the_person_and_keeps_a_record_that_holds_none_of_it(landlord):
    like_most_sqlite_builds(landlord)
    janes = open_complaint(landlord, f"Jane Doe <{JANE}>", JANE_WORDS, T0)
    bobs = open_complaint(landlord, f"Bob Smith <{BOB}>", BOB_WORDS, at(2026, 11, 23, 9, 30))
    original = make_email(f"Jane Doe <{JANE}>", "More about my flat", f"Also, the {JANE_WORDS} smells.",
                          headers={"In-Reply-To": "<unknown@example.net>"})
    landlord.deliver(original, at(2026, 11, 23, 10, 0))
    landlord.json("ingest", now=at(2026, 11, 23, 10, 5))
    landlord.deliver(f"!!! not a mail: {JANE} wrote about the {JANE_WORDS}\n".encode(), at(2026, 11, 23, 10, 10))
    assert landlord.json("ingest", now=at(2026, 11, 23, 10, 15))["quarantined"] == 1
    before = database_bytes(landlord)
    assert before is None or (JANE.encode() in before and JANE_WORDS.encode() in before)  # the check below can see them

    # Her case is open: erasing it is refused unless the officer says to close it.
    refusal = assert_bad_input(landlord.run("erase", "--person", JANE, "--reason", "her request of 20 Nov", "--by", "DPO"),
                               janes, "--force")
    assert JANE in refusal

    # A dry run lists it all and changes nothing.
    cases_before = landlord.json("cases")
    dry = landlord.json("erase", "--person", JANE, "--reason", "her request of 20 Nov", "--by", "DPO", "--dry-run")
    assert dry["dry_run"] is True and dry["record"] is None and janes in dry["open_cases"] and dry["needs_force"] is True
    assert {c["reference"]: c["role"] for c in dry["cases"]}[janes] == "complainant"
    assert dry["counts"]["messages"] >= 2 and dry["counts"]["quarantined"] == 1 and dry["counts"]["letters"] >= 1
    assert landlord.json("cases") == cases_before and landlord.json("erasures") == []
    assert landlord.json("export", "--person", JANE, "--output", "before.zip")["messages"] == 2  # still all there

    done = landlord.json("erase", "--person", JANE, "--reason", "her request of 20 Nov", "--by", "DPO", "--force",
                         now=at(2026, 11, 24, 9, 0))
    assert done["dry_run"] is False and done["record"] and done["closed"] == dry["open_cases"]
    assert done["counts"] == dry["counts"] | {"events": done["counts"]["events"]}  # what the dry run said

    shown = landlord.json("case", janes)
    assert shown["state"] == "closed" and shown["outcome"] == "withdrawn"
    assert shown["complainant"] == {"name": "[removed]", "email": ""}
    assert {"closed", "anonymised"} <= {e["kind"] for e in shown["events"]}
    for text in (json.dumps(shown), json.dumps(landlord.json("cases")), json.dumps(landlord.json("drafts"))):
        assert JANE not in text and JANE_WORDS not in text and "Jane Doe" not in text
    exported = landlord.json("export", janes, "--output", "after.zip")
    assert exported["messages"] == 0 and exported["letters"] == 0
    assert JANE not in zip_text(Path(exported["path"])) and JANE_WORDS not in zip_text(Path(exported["path"]))
    assert_bad_input(landlord.run("export", "--person", JANE), "nothing")
    assert not list((landlord.root / "letters").glob(f"{janes}/*")) and list((landlord.root / "letters").glob(f"{bobs}/*.pdf"))

    after = database_bytes(landlord)
    if after is not None:  # SQLite: freed pages and the WAL hold none of it either
        for needle in (JANE, JANE_WORDS, "Jane Doe"):
            assert needle.encode() not in after, f"{needle!r} is still in the database file"
        assert BOB_WORDS.encode() in after
    assert landlord.json("case", bobs)["complainant"]["email"] == BOB  # others untouched

    (record,) = landlord.json("erasures")
    assert record["kind"] == "erasure" and record["actor"] == "DPO" and record["reason"] == "her request of 20 Nov"
    assert record["person_hash"] == "sha256:" + hashlib.sha256(JANE.encode()).hexdigest() and janes in record["cases"]
    assert record["counts"]["messages"] >= 2 and JANE not in json.dumps(record)

    # Her old mail delivered again is a duplicate, not a new complaint.
    landlord.deliver(original, at(2026, 11, 24, 10, 0))
    again = landlord.json("ingest", now=at(2026, 11, 24, 10, 5))
    assert again["duplicates"] == 1 and again["new_cases"] == [] and again["processed"] == 0

    assert_bad_input(landlord.run("erase", "--person", JANE, "--reason", "again", "--by", "DPO"), "nothing")
    assert_bad_input(landlord.run("erase", "--person", "not-an-address", "--reason", "x", "--by", "DPO"), "not an email address")


def test_erase_of_a_correspondent_keeps_the_complainants_case_running(landlord):
    bobs = open_complaint(landlord, f"Bob Smith <{BOB}>", BOB_WORDS, T0)
    landlord.deliver(make_email(f"Jane Doe <{JANE}>", f"Re: Complaint about my flat {bobs}",
                                f"I live next door; the {JANE_WORDS} is ours too."), at(2026, 11, 23, 11, 0))
    landlord.deliver(make_email(f"Bob Smith <{BOB}>", f"Re: Complaint about my flat {bobs}",
                                f"My neighbour ({JANE}) can tell you how long it has been."), at(2026, 11, 23, 12, 0))
    landlord.json("ingest", now=at(2026, 11, 23, 12, 5))
    done = landlord.json("erase", "--person", JANE, "--reason", "asked by phone", "--by", "DPO")  # not her case: no --force
    assert done["cases"] == [{"reference": bobs, "role": "correspondent"}] and done["counts"]["messages"] == 1
    assert done["mentioned_in"] == [bobs]  # Bob's own words quote her address: listed for an officer, not changed
    case = landlord.json("case", bobs)
    assert case["state"] != "closed" and case["complainant"]["email"] == BOB and len(case["messages"]) == 3
    assert JANE not in json.dumps(case) and JANE_WORDS not in json.dumps(case) and "Jane Doe" not in json.dumps(case)
    assert BOB_WORDS in zip_text(Path(landlord.json("export", bobs)["path"]))


# --- retention --------------------------------------------------------------------------

def test_retention_removes_people_from_cases_closed_long_enough_ago_and_the_report_does_not_change(landlord):
    like_most_sqlite_builds(landlord)
    old = open_complaint(landlord, f"Jane Doe <{JANE}>", JANE_WORDS, T0)
    respond_and_close(landlord, old, at(2026, 11, 23, 10, 0))
    landlord.deliver(make_email("Casework Team <casework@housing-ombudsman.org.uk>", f"Our ref 202612345 - your ref {old}",
                                f"We have received a complaint about case {old}."), at(2026, 11, 24, 9, 0))
    landlord.json("ingest", now=at(2026, 11, 24, 9, 5))
    newer = open_complaint(landlord, f"Bob Smith <{BOB}>", BOB_WORDS, at(2029, 1, 8, 9, 0))  # a Monday
    respond_and_close(landlord, newer, at(2029, 1, 8, 10, 0))

    years = [("--from", "2026-04-01", "--to", "2027-03-31"), ("--from", "2028-04-01", "--to", "2029-03-31")]
    now = at(2032, 12, 1, 9, 0)  # six years after the first closed, not the second
    reports = [landlord.json("report", *period, now=now) for period in years]
    assert reports[0]["stage1"]["received"] == 1 and reports[0]["stage1"]["responded"] == 1
    assert reports[0]["ombudsman_referrals"] == 1 and reports[0]["ombudsman_details"]["overridden"] == 1

    dry = landlord.json("retention", "--dry-run")
    assert dry["dry_run"] is True and dry["cases"] == [old] and dry["rules"]["closed_case_years"] == 6
    assert landlord.json("case", old)["complainant"]["email"] == JANE  # nothing changed

    ticked = landlord.json("tick")
    assert ticked["retention"]["cases"] == [old] and ticked["retention"]["counts"]["messages"] >= 3
    gone = landlord.json("case", old)
    assert gone["complainant"] == {"name": "[removed]", "email": ""} and gone["subject"] == "[removed]"
    assert JANE not in json.dumps(gone) and JANE_WORDS not in json.dumps(gone)
    assert gone["outcome"] == "upheld" and gone["topics"] and [s["stage"] for s in gone["stages"]] == [1]
    assert {d["kind"] for d in gone["deadlines"]} >= {"acknowledge", "respond"} and "responded" in [e["kind"] for e in gone["events"]]
    raw = database_bytes(landlord)
    assert raw is None or (JANE.encode() not in raw and JANE_WORDS.encode() not in raw and BOB_WORDS.encode() in raw)
    kept = landlord.json("case", newer)
    assert kept["complainant"]["email"] == BOB and BOB_WORDS in zip_text(Path(landlord.json("export", newer)["path"]))
    assert [landlord.json("report", *period) for period in years] == reports  # every figure as it was
    assert landlord.json("retention")["cases"] == []  # done once
    assert [r["kind"] for r in landlord.json("erasures")] == ["retention"]

    # The landlord keeps three years instead: the second case goes too, and still no figure moves.
    landlord.config.write_text(landlord.config.read_text() + "\n[retention]\nclosed_case_years = 3\n")
    assert landlord.json("retention")["cases"] == [newer]
    assert [landlord.json("report", *period) for period in years] == reports


def test_retention_settings_are_checked(landlord):
    text = landlord.config.read_text()
    landlord.config.write_text(text + "\n[retention]\nclosed_case_years = 0\n")
    assert_bad_input(landlord.run("retention", "--json"), "closed_case_years")
    landlord.config.write_text(text + "\n[retention]\nmessage_bodies_years = 6\n")
    assert_bad_input(landlord.run("retention", "--json"), "message_bodies_years", "closed_case_years")


def test_quarantined_mail_goes_after_its_days_and_is_not_read_again(landlord):
    landlord.deliver(b"!!! not a mail at all\n", T0)
    assert landlord.json("ingest", now=at(2026, 11, 23, 9, 5))["quarantined"] == 1
    assert landlord.json("retention", now=at(2027, 1, 1, 9, 0))["counts"]["quarantined"] == 0
    assert landlord.json("retention", now=at(2027, 3, 1, 9, 0))["counts"]["quarantined"] == 1
    assert landlord.json("status")["quarantined"] == 0
    assert landlord.json("ingest")["quarantined"] == 0  # the mailbox's copy is not quarantined again
