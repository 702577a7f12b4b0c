"""Hostile mail (issue #8's list): each message is processed or quarantined
with its reason, in bounded time and memory, never blocking the mail behind
it; nothing a resident writes reaches a header of our reply, nor the HTML or
PDF of our letter unescaped; and a sender whose domain imitates ours or the
Housing Ombudsman's is flagged, never taken for either.

Memory is measured as the peak resident set of the `ingest` process, read
with getrusage(RUSAGE_CHILDREN) by a small Python process started fresh for
each case, so neither pytest's memory nor another case's child is counted."""

from __future__ import annotations

import base64
import email
import email.policy
import gzip
import io
import itertools
import json
import random
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from typing import Iterable, Iterator

import pytest
from pypdf import PdfReader

from conftest import OUR_ADDRESS, Landlord, make_email
from databases import rows

START = datetime(2026, 11, 23, 9, 0, tzinfo=timezone.utc)


def nested(depth: int) -> bytes:
    """Multiparts inside multiparts, `depth` deep (zip-bomb-like structure)."""
    head = b"From: Deep <deep@example.net>\nTo: " + OUR_ADDRESS.encode() + b"\nSubject: nested\nMessage-ID: <deep@example.net>\nMIME-Version: 1.0\n"
    body = b"I want to make a complaint about the lift.\n"
    for level in range(depth):
        boundary = f"b{level}".encode()
        body = (b'Content-Type: multipart/mixed; boundary="' + boundary + b'"\n\n--' + boundary + b"\n" + body
                + b"\n--" + boundary + b"--\n")
    return head + body


HOSTILE = {
    "a 1 MB subject": make_email("Long <long@example.net>", "Complaint " + "x" * 1_000_000, "I want to make a complaint about the noise."),
    "10,000 recipients": make_email("Many <many@example.net>", "Complaint about the bins", "I want to make a complaint about the bins.",
                                    headers={"Cc": ", ".join(f"person{n}@example.org" for n in range(10_000))}),
    "nested 200 deep": nested(200),
    "NUL bytes": make_email("Nul <nul@example.net>", "Complaint", "I want to make a complaint\x00 about the \x00damp.").replace(b"damp", b"da\x00mp"),
    "invalid base64": (b"From: B64 <b64@example.net>\nTo: " + OUR_ADDRESS.encode() + b"\nSubject: Complaint\nMessage-ID: <b64@example.net>\n"
                       b"MIME-Version: 1.0\nContent-Type: text/plain\nContent-Transfer-Encoding: base64\n\n!!!not base64 at all***\n=\n"),
    "invalid quoted-printable": (b"From: QP <qp@example.net>\nTo: " + OUR_ADDRESS.encode() + b"\nSubject: Complaint\nMessage-ID: <qp@example.net>\n"
                                 b"MIME-Version: 1.0\nContent-Type: text/plain\nContent-Transfer-Encoding: quoted-printable\n\n"
                                 b"I want to make a complaint =ZZ =\n=4 broken =C3\n"),
    "header injection": (b"From: =?utf-8?q?Evil=0D=0ABcc:_victim@example.org?= <evil@example.net>\nTo: " + OUR_ADDRESS.encode()
                         + b"\nSubject: =?utf-8?q?Complaint=0D=0ABcc:_another@example.org?=\nMessage-ID: <inject@example.net>\n\n"
                         b"I want to make a complaint: the repair was never done.\n"),  # encoded words that decode to CR LF
}


def test_each_hostile_message_is_processed_or_quarantined_quickly_and_the_next_one_still_arrives(landlord):
    for n, raw in enumerate(HOSTILE.values()):
        landlord.deliver(raw, START + timedelta(minutes=n))
    after = make_email("Jane Doe <jane@example.net>", "Damp", "I want to make a complaint about the damp in my flat.")
    landlord.deliver(after, START + timedelta(minutes=30))
    started = time.monotonic()
    result = landlord.json("ingest", now=START + timedelta(hours=1))
    assert time.monotonic() - started < 120
    assert result["processed"] + result["quarantined"] + result["duplicates"] == len(HOSTILE) + 1  # every one accounted for
    cases = landlord.json("cases")
    assert any(c["complainant"]["email"] == "jane@example.net" for c in cases if isinstance(c.get("complainant"), dict)) \
        or any("jane@example.net" in str(c) for c in cases)  # the mail behind them was not blocked


def test_nothing_a_resident_writes_reaches_a_header_of_our_reply(landlord):
    landlord.deliver(HOSTILE["header injection"], START)
    landlord.json("ingest", now=START + timedelta(minutes=5))
    for draft in landlord.json("drafts"):
        landlord.ok("approve", draft["id"], "--by", "Priya Shah")
    landlord.json("send", now=START + timedelta(minutes=10))
    for path in landlord.sent_files():
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        assert message["Bcc"] is None
        assert all("\n" not in str(value) and "\r" not in str(value) for value in message.values())
        assert "another@example.org" not in str(message.get("To", "")) + str(message.get("Cc", ""))
        assert "victim@example.org" not in str(message.get("To", "")) + str(message.get("Cc", ""))



# --- memory and time: 30 MB attachments, zip-bomb-like structure ---------------------------

MB = 1024 * 1024
PEAK = """
import json, resource, subprocess, sys, time
started = time.monotonic()
done = subprocess.run(sys.argv[1:], capture_output=True, text=True)
print(json.dumps({"rc": done.returncode, "out": done.stdout, "err": done.stderr[-3000:], "seconds": time.monotonic() - started,
                  "peak": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024}))
"""


def measured_ingest(landlord: Landlord, now: datetime) -> dict:
    """`ingest --json` in a fresh process whose only child is the CLI: its peak
    resident memory in bytes, how long it took, and what it printed."""
    command = [sys.executable, "-c", PEAK, sys.executable, "-m", "mailcomplaints.cli", "--config", str(landlord.config),
               "--now", now.isoformat(), "ingest", "--json"]
    done = subprocess.run(command, cwd=landlord.root, env=landlord.env, capture_output=True, text=True, timeout=600)
    run = json.loads(done.stdout)
    assert run["rc"] == 0, run["err"]
    run["result"] = json.loads(run["out"])
    return run


Body = bytes | Iterable[bytes]


def write_mail(landlord: Landlord, when: datetime, head: str, parts: list[tuple[str, Body]], boundary: str = "b") -> int:
    """A multipart message written straight into new/, a slice at a time (a
    120 MB message is never held here, so pytest stays small: a process it
    starts would inherit its peak memory). Returns the message's size."""
    name = f"{int(when.timestamp())}.M{random.randrange(10**9)}.hostile"
    path = landlord.maildir / "tmp" / name
    with path.open("wb") as out:
        out.write(head.replace("\n", "\r\n").encode() + f'\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="{boundary}"\r\n\r\n'.encode())
        for headers, body in parts:
            out.write(f"--{boundary}\r\n{headers}\r\n\r\n".encode())
            for piece in ([body] if isinstance(body, bytes) else body):
                out.write(piece)
            out.write(b"\r\n")
        out.write(f"--{boundary}--\r\n".encode())
    size = path.stat().st_size
    path.rename(landlord.maildir / "new" / name)
    return size


def photo(size: int, seed: int) -> tuple[str, Iterator[bytes]]:
    """A JPEG-sized attachment of incompressible bytes, base64 in 76-character lines, made a slice at a time."""
    def lines() -> Iterator[bytes]:
        generator, left = random.Random(seed), size
        while left:
            piece = generator.randbytes(min(left, 57 * 20_000))  # whole 57-byte lines of base64
            left -= len(piece)
            yield base64.encodebytes(piece).replace(b"\n", b"\r\n")
    return ('Content-Type: image/jpeg; name="damp.jpg"\r\nContent-Disposition: attachment; filename="damp-%d.jpg"\r\n'
            "Content-Transfer-Encoding: base64" % seed, lines())


TEXT_PART = ("Content-Type: text/plain; charset=utf-8", b"I want to make a complaint about the damp in my bedroom. Photos attached.\r\n")


def head(sender: str, subject: str, message_id: str) -> str:
    return f"From: {sender}\nTo: {OUR_ADDRESS}\nSubject: {subject}\nMessage-ID: <{message_id}>\nDate: Mon, 23 Nov 2026 08:00:00 +0000"


@pytest.fixture
def baseline(make_landlord) -> dict:
    """The peak of ingesting one ordinary complaint (imports, database, a PDF letter)."""
    landlord = make_landlord()
    landlord.deliver(make_email("Jane Doe <jane@example.net>", "Damp", "I want to make a complaint about the damp."), START)
    return measured_ingest(landlord, START + timedelta(minutes=5))


def stored_raw_sizes(landlord: Landlord) -> list[int]:
    return [row[0] for row in rows(landlord.database_url, "SELECT length(raw) FROM messages WHERE direction = 'in' ORDER BY id")]


def stored_texts(landlord: Landlord) -> list[tuple[str, str]]:
    return rows(landlord.database_url, "SELECT from_addr, text FROM messages WHERE direction = 'in' ORDER BY id")


def assert_within(run: dict, baseline: dict, size: int, factor: float, seconds: float, what: str) -> None:
    grown = run["peak"] - baseline["peak"]
    print(f"{what}: {size / MB:.1f} MB in, peak {run['peak'] / MB:.0f} MB (baseline {baseline['peak'] / MB:.0f} MB, "
          f"+{grown / MB:.0f} MB = {grown / max(size, 1):.2f}x the message), {run['seconds']:.1f} s")
    assert run["peak"] < baseline["peak"] + factor * size + 40 * MB, f"{what}: peak {run['peak'] / MB:.0f} MB"
    assert run["seconds"] < seconds, f"{what}: {run['seconds']:.1f} s"


def test_a_30_mb_photo_is_stored_whole_and_read_in_bounded_memory(make_landlord, baseline):
    """A 30 MB attachment (41 MB as base64) used to peak at 7.5 times its size
    (the stdlib parser's StringIO, then a whole decode only to measure it);
    now at most about three times. It is kept in the database as it arrived
    and never copied into our reply."""
    landlord = make_landlord()
    size = write_mail(landlord, START, head("Jane Doe <jane@example.net>", "Damp in my bedroom", "photo30@example.net"),
                      [TEXT_PART, photo(30 * MB, 1)])
    run = measured_ingest(landlord, START + timedelta(minutes=5))
    assert run["result"]["processed"] == 1 and len(run["result"]["new_cases"]) == 1
    assert_within(run, baseline, size, 4, 60, "one 30 MB photo")
    assert stored_raw_sizes(landlord) == [size]  # kept whole, as it arrived
    (draft,) = landlord.draft_files()
    assert draft.stat().st_size < 1 * MB  # the reply carries our letter, not the resident's photo


def test_three_30_mb_photos_in_one_mail_are_read_in_bounded_memory(make_landlord, baseline):
    landlord = make_landlord()
    size = write_mail(landlord, START, head("Jane Doe <jane@example.net>", "Damp photos", "photos90@example.net"),
                      [TEXT_PART, photo(30 * MB, 2), photo(30 * MB, 3), photo(30 * MB, 4)])
    run = measured_ingest(landlord, START + timedelta(minutes=5))
    assert run["result"]["processed"] == 1 and len(run["result"]["new_cases"]) == 1
    assert_within(run, baseline, size, 4, 120, "three 30 MB photos")
    assert stored_raw_sizes(landlord) == [size]


def test_a_forwarded_mail_carrying_a_30_mb_photo_is_read_in_bounded_memory(make_landlord, baseline):
    """The photo inside a forward attached as .eml (message/rfc822): measuring
    that attachment once serialised the whole 41 MB forward again."""
    landlord = make_landlord()
    inner_headers, inner_body = photo(30 * MB, 5)
    inner = itertools.chain(
        [head("Jane Doe <jane@example.net>", "Damp", "inner30@example.net").replace("\n", "\r\n").encode()
         + b'\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="i"\r\n\r\n--i\r\n' + inner_headers.encode() + b"\r\n\r\n"],
        inner_body, [b"\r\n--i--\r\n"])
    size = write_mail(landlord, START, head("Jane Doe <jane@example.net>", "Fwd: Damp", "forward30@example.net"),
                      [TEXT_PART, ('Content-Type: message/rfc822; name="damp.eml"', inner)])
    run = measured_ingest(landlord, START + timedelta(minutes=5))
    assert run["result"]["processed"] == 1
    assert_within(run, baseline, size, 4, 60, "a forward carrying a 30 MB photo")


def test_zip_bomb_like_mail_is_read_in_bounded_time_and_memory(make_landlord, baseline):
    """Structure that multiplies: 200,000 empty MIME parts in 1 MB (each part
    cost the stdlib parser ~300 bytes and our walk a fraction of a
    millisecond: 56 MB and seconds per MB of mail, gigabytes for 30 MB), a
    gzip that would inflate to 1 GB, 30 MB of text, 1 MB of HTML that made
    the old HTML reader rescan the rest of the message at every tag, and
    multiparts 3,000 deep. Each is read, as much of it as a person could
    have written, fast, and the mail behind arrives."""
    landlord = make_landlord()
    sizes = []
    sizes.append(write_mail(landlord, START, head("Parts <parts@example.net>", "Complaint about the lift", "parts@example.net"),
                            [("", b"")] * 200_000))
    squeezer = gzip.GzipFile(fileobj=(packed := io.BytesIO()), mode="wb", compresslevel=9)
    for _ in range(1024):
        squeezer.write(bytes(MB))
    squeezer.close()
    bomb = packed.getvalue()  # 1 MB of gzip that inflates to 1 GB
    sizes.append(write_mail(landlord, START + timedelta(minutes=1), head("Gzip <gzip@example.net>", "Complaint", "gzip@example.net"),
                            [TEXT_PART, ('Content-Type: application/gzip; name="log.gz"\r\nContent-Transfer-Encoding: base64',
                                         base64.encodebytes(bomb))]))
    sizes.append(write_mail(landlord, START + timedelta(minutes=2), head("Text <text@example.net>", "Complaint", "text@example.net"),
                            [("Content-Type: text/plain", (b"I am not happy with the repairs service at all.\r\n" * 6000 for _ in range(100)))]))
    sizes.append(write_mail(landlord, START + timedelta(minutes=3), head("Html <html@example.net>", "Complaint", "html@example.net"),
                            [("Content-Type: text/html", b"<p>I am not happy</p>" + b"<!--<br" * 150_000)]))
    deep = nested(3000).replace(b"Message-ID: <deep@example.net>", b"Message-ID: <deep3000@example.net>")
    landlord.deliver(deep, START + timedelta(minutes=4))
    sizes.append(len(deep))
    landlord.deliver(make_email("Jane Doe <jane@example.net>", "Damp", "I want to make a complaint about the damp."),
                     START + timedelta(minutes=10))
    run = measured_ingest(landlord, START + timedelta(minutes=20))
    result = run["result"]
    assert result["processed"] == 6 and result["quarantined"] == 0, result
    assert_within(run, baseline, max(sizes), 6, 90, f"five zip-bomb-like messages ({', '.join(f'{s / MB:.1f}' for s in sizes)} MB)")
    cases = {c["complainant"]["email"]: c for c in landlord.json("cases")}
    assert "jane@example.net" in cases  # the mail behind them arrived
    assert cases["parts@example.net"]["subject"] == "Complaint about the lift"  # its headers were read, its parts were not
    texts = dict(stored_texts(landlord))
    assert "more than 2,000 MIME parts" in texts["parts@example.net"]  # and the officer is told why
    assert len(texts["text@example.net"]) < 201_000 and "the text stops here" in texts["text@example.net"]
    assert texts["html@example.net"].startswith("I am not happy")
    assert "nested too deep" in texts["deep@example.net"]  # 3,000 deep: the parser's recursion gave out; the headers are read


# --- CR/LF and markup in the subject: the drafted reply, its HTML and its PDF ---------------

INJECTIONS = {  # before the fix, "unknown charset" and "encoded twice" gave our draft a Bcc header
    "encoded words": "=?utf-8?q?Broken_boiler=0D=0ABcc:_bcc-victim@example.org=0D=0AX-Evil:_1?=",
    "bare CR": "Broken boiler\rBcc: cr-victim@example.org",
    "unicode line breaks": "=?utf-8?b?" + base64.b64encode("Broken boiler\u2028Bcc: ls-victim@example.org\x85X-Evil: 2\x0b\x0c".encode()).decode() + "?=",
    "unknown charset": "=?utf-9?q?Broken_boiler=0D=0ABcc:_charset-victim@example.org?=",  # found by the fuzzer
    "encoded twice": "=?utf-8?q?=3D=3Futf-8=3Fq=3FBroken_boiler=3D0D=3D0ABcc=3A=5Ftwice-victim=40example=2Eorg=3F=3D?=",
    "markup": "Broken boiler <script>alert(1)</script> <img src=x onerror=alert(2)> {{ 7*191 }} {% raw %}",
}


def test_a_subject_that_tries_to_inject_headers_or_markup_stays_one_line_of_text_in_our_draft(landlord):
    for n, (name, subject) in enumerate(INJECTIONS.items()):
        raw = (f"From: Resident {n} <resident{n}@example.net>\r\nTo: {OUR_ADDRESS}\r\nSubject: {subject}\r\n"
               f"Message-ID: <inject{n}@example.net>\r\n\r\nI want to make a complaint: my boiler is still broken.\r\n").encode()
        landlord.deliver(raw, START + timedelta(minutes=n))
    result = landlord.json("ingest", now=START + timedelta(hours=1))
    assert result["processed"] == len(INJECTIONS) and result["drafts"] == len(INJECTIONS)
    drafts = landlord.draft_files()
    assert len(drafts) == len(INJECTIONS)
    for path in drafts:
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        assert not message.defects, message.defects
        for name, value in message.items():
            assert "\r" not in str(value) and "\n" not in str(value), (name, value)
            assert name.lower() == "subject" or "victim" not in str(value), (name, value)  # only ever words in the subject
        assert message["Bcc"] is None and message["X-Evil"] is None
        (to,) = message["To"].addresses
        assert to.addr_spec.startswith("resident") and to.addr_spec.endswith("@example.net")
        assert sorted(k.lower() for k in message.keys()) == sorted(
            ["from", "to", "subject", "date", "message-id", "in-reply-to", "references", "x-mailcomplaints-draft",
             "content-type", "mime-version"]), message.keys()
        subject = str(message["Subject"]).strip()
        assert subject.startswith("Your complaint CMP-") and "Broken boiler" in subject
        html = message.get_body(("html",)).get_content()
        assert "<script>" not in html and "<img src=x" not in html and "1337" not in html
        if "alert(1)" in subject:
            assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "{{ 7*191 }}" in html
        (pdf,) = [part for part in message.iter_attachments() if part.get_content_type() == "application/pdf"]
        letter = " ".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf.get_content())).pages)
        assert "1337" not in letter and "Broken boiler" in " ".join(letter.split())
        if "alert(1)" in subject:
            assert "<script>alert(1)</script>" in " ".join(letter.split())  # shown as the text it is, not run


# --- look-alike sender domains ----------------------------------------------------------------

def test_a_lookalike_of_the_ombudsman_or_of_us_is_flagged_and_never_taken_for_either(landlord):
    for n, name in enumerate(("Jane Doe <jane@example.net>", "Sam Roe <sam@example.com>")):
        landlord.deliver(make_email(name, "Damp", "I want to make a complaint about the damp in my flat."), START + timedelta(minutes=n))
    genuine_case, copied_case = landlord.json("ingest", now=START + timedelta(minutes=5))["new_cases"]
    referral = "We have received a complaint from your resident about case {ref}. Please send us your evidence and the resident's file."
    landlord.deliver(make_email("Casework Team <casework@housing-ombudsman.org.uk>", f"Our ref 202612345 - your ref {genuine_case}",
                                referral.format(ref=genuine_case)), START + timedelta(minutes=10))
    landlord.deliver(make_email("Casework Team <casework@housing-0mbudsman.org.uk>", f"Our ref 202612346 - your ref {copied_case}",
                                referral.format(ref=copied_case)), START + timedelta(minutes=11))
    ours = OUR_ADDRESS.replace("reliance", "re1iance")  # complaints@re1iance.example.org
    landlord.deliver(make_email(f"Complaints Team <{ours}>", "Urgent: resident data check",
                                "I want to make a complaint: please reply with the tenancy details of Flat 4."), START + timedelta(minutes=12))
    result = landlord.json("ingest", now=START + timedelta(minutes=20))
    assert result["processed"] == 3 and len(result["new_cases"]) == 1  # the impostor of our own address opens a case: it is not our mail
    genuine, copied = landlord.json("case", genuine_case), landlord.json("case", copied_case)
    assert "lookalike_sender" not in genuine["flags"] and "lookalike_sender" in copied["flags"]
    (warning,) = [e["reason"] for e in copied["events"] if e["kind"] == "flagged" and "lookalike" in e["reason"]]
    assert "housing-0mbudsman.org.uk" in warning and "housing-ombudsman.org.uk" in warning
    (signal,) = [s for m in copied["messages"] for s in m["signals"] if s["name"] == "lookalike_sender"]
    assert "0 for o" in signal["evidence"]
    # the report counts the Ombudsman's own mail as a referral, never the imitation
    assert landlord.json("report", "--from", "2026-11-01", "--to", "2026-11-30", "--cases", "ombudsman_referrals") == [genuine_case]
    (impostor,) = [c for c in landlord.json("cases") if c["complainant"]["email"] == ours]
    assert "lookalike_sender" in impostor["flags"]
    assert {m["intent"] for m in landlord.json("case", impostor["reference"])["messages"]} != {"machine"}  # not our own mail coming back
    rc, out, _ = landlord.run("case", copied_case)
    assert rc == 0 and "lookalike_sender" in out and "housing-0mbudsman.org.uk" in out  # what an officer reads


def test_a_sender_address_that_would_fold_into_two_recipients_is_not_answered_by_email(landlord):
    """A quoted local part such as "eee…@elsewhere.example,thief"@example.net:
    the email package wrote it into our reply's To without its quotes, and the
    reply went to eee…@elsewhere.example and thief@example.net. Such an
    address is not one we reply to: the case is opened, and its letter is for post."""
    sender = '"' + "e" * 80 + '@elsewhere.example,thief"@example.net'
    raw = (f"From: Odd <{sender}>\r\nTo: {OUR_ADDRESS}\r\nSubject: Broken boiler\r\nMessage-ID: <quoted@example.net>\r\n\r\n"
           "I want to make a complaint: my boiler is broken.\r\n")  # written by hand: make_email's EmailMessage would fold it
    landlord.deliver(raw.encode(), START)
    result = landlord.json("ingest", now=START + timedelta(minutes=5))
    assert result["processed"] == 1 and len(result["new_cases"]) == 1
    for path in landlord.draft_files():
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        recipients = [a.addr_spec for name in ("To", "Cc", "Bcc") if message[name] for a in message[name].addresses]
        assert not any("thief" in r or "elsewhere" in r for r in recipients), recipients
