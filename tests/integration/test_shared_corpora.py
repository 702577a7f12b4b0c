"""Real-world mail from public projects (../shared/corpora, read in place):
every message is parsed or quarantined, none crashes ingest or stops the mail
behind it, and replies from common clients lose their quoted history."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from mailcomplaints.mail.html import html_to_text
from mailcomplaints.mail.message import parse_message
from mailcomplaints.mail.quotes import split_reply

CORPORA = Path(__file__).resolve().parents[3] / "shared" / "corpora"
TALON = CORPORA / "talon"
NOT_MAIL = {"LICENSE", "LICENSE.txt", "README.md", ".gitignore"}
START = datetime(2026, 11, 23, 9, 0, tzinfo=timezone.utc)


def corpus_files() -> list[Path]:
    files = sorted(p for p in CORPORA.rglob("*") if p.is_file() and p.name not in NOT_MAIL)
    assert len(files) > 150, f"expected the shared corpora beside the repository at {CORPORA}"
    return files


def looks_like_mail(path: Path) -> bool:
    head = path.read_bytes().replace(b"\r\n", b"\n").split(b"\n\n", 1)[0].lower()
    return any(line.startswith((b"from:", b"subject:", b"message-id:")) for line in head.split(b"\n"))


@pytest.mark.parametrize("path", sorted(TALON.glob("standard_replies/*.eml")), ids=lambda p: p.name)
def test_client_replies_lose_their_quoted_history(path: Path):
    message = parse_message(path.read_bytes(), START)
    expected_file = path.with_name(path.stem + "_reply_text")
    # talon's expected reply text keeps the signature; we remove it too ("-- " and "Sent from my …")
    expected = expected_file.read_text().split("\n-- \n")[0].split("\n\nSent from")[0].strip() if expected_file.exists() else "Hello"
    assert message.new_text == expected
    assert message.quoted  # the history was found, not just dropped


@pytest.mark.parametrize("path", sorted(TALON.glob("html_replies/*.html")), ids=lambda p: p.name)
def test_html_replies_lose_their_quoted_history(path: Path):
    reply = split_reply(html_to_text(path.read_text(errors="replace")))
    assert reply.new_text.startswith("Hi. I am fine.")
    assert "How are you" not in reply.new_text and "Hello!" not in reply.new_text
    assert reply.new_text.splitlines()[-1].strip() == "Alex"


def test_every_corpus_message_is_parsed_or_quarantined_and_none_blocks_the_next(landlord):
    files = corpus_files()
    for offset, path in enumerate(files):
        landlord.deliver(path.read_bytes(), START + timedelta(seconds=offset))
    complaint = (
        b"From: Jane Doe <jane.doe@example.net>\nTo: complaints@reliance.example.org\n"
        b"Subject: Damp in my bedroom\nMessage-ID: <after-the-corpus@example.net>\n\n"
        b"I want to make a complaint: nobody has fixed the damp in my bedroom.\n"
    )
    landlord.deliver(complaint, START + timedelta(hours=1))
    result = landlord.json("ingest", now=START + timedelta(hours=2))
    assert result["processed"] + result["quarantined"] + result["duplicates"] == len(files) + 1
    status = landlord.json("status", now=START + timedelta(hours=2))
    assert status["quarantined"] == result["quarantined"]
    # only what is not mail at all (bare HTML and text fragments of the fixtures) may be quarantined
    assert status["quarantined"] <= len(files) - sum(1 for path in files if looks_like_mail(path))
    cases = landlord.json("cases", now=START + timedelta(hours=2))
    assert any(c["complainant"]["email"] == "jane.doe@example.net" for c in cases)
    again = landlord.json("ingest", now=START + timedelta(hours=3))
    assert again["processed"] == again["quarantined"] == again["duplicates"] == 0
    assert len(landlord.json("cases", now=START + timedelta(hours=3))) == len(cases)
