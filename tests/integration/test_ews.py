"""The EWS backend (Exchange Server) through the whole pipeline, against a
double of Exchange Web Services that answers as Microsoft documents it
(tests/ews_server.py): new mail to cases, drafts in Outlook with deadlines as
categories, approval by category (the approver is Exchange's last modifier)
and by a move into the Approved folder, which gives the item a new ItemId,
a busy server's back-off, an invalid sync state read again, and the wait for
new mail woken by a pull subscription's events."""

from __future__ import annotations

import email
import threading
import time
from datetime import datetime, timedelta, timezone
from email import policy as email_policy
from pathlib import Path

import pytest

from conftest import make_email, message_id_of
from databases import database_url
from ews_server import FakeEws

from mailcomplaints.config import load_config
from mailcomplaints.service.app import App
from mailcomplaints.service.approval import send_approved
from mailcomplaints.service.pipeline import ingest
from mailcomplaints.service.queries import show_case
from mailcomplaints.service.scheduler import tick
from mailcomplaints.service.setup import config_text
from mailcomplaints.service.status import status

PASSWORD_ENV = "MAILCOMPLAINTS_EWS_PASSWORD"
NOW = datetime(2026, 11, 23, 10, 0, tzinfo=timezone.utc)


@pytest.fixture
def ews(tmp_path):
    import exchangelib

    with FakeEws(tmp_path / "ews") as fake:
        yield fake
        assert fake.errors == []  # the double itself never failed
    exchangelib.close_connections()


@pytest.fixture
def app(tmp_path, ews, monkeypatch):
    """What `init --backend ews` writes, pointed at the double (basic auth, its CA)."""
    monkeypatch.setenv(PASSWORD_ENV, ews.password)
    text = config_text(landlord="Reliance Housing", policy="reliance", address=ews.mailbox, database_url=database_url(Path(tmp_path)),
                       ews=(ews.url, ews.username))
    text = text.replace('auth_type = "NTLM"', f'auth_type = "basic"\nca_file = "{ews.ca_file}"')
    (tmp_path / "mailcomplaints.toml").write_text(text)
    made = App(load_config(tmp_path / "mailcomplaints.toml"))
    yield made
    made.close()


def complaint(n: int, to: str) -> bytes:
    return make_email(f"Resident {n} <resident{n}@example.net>", f"Complaint {n}: repairs not done",
                      f"I want to make a complaint: repair number {n} has not been done after three visits.",
                      headers={"To": to})


def resident_drafts(ews: FakeEws, folder: str = "drafts") -> list[dict]:
    return [i for i in ews.items(folder) if b"example.net" in i["mime"].split(b"\r\n\r\n", 1)[0]]


def test_mail_to_case_to_a_draft_approved_by_category_in_outlook(ews, app):
    raw = complaint(1, ews.mailbox)
    ews.deliver(raw, received=NOW - timedelta(hours=1))
    (reference,) = ingest(app, NOW).new_cases
    tick(app, NOW)
    (draft,) = resident_drafts(ews)
    assert draft["is_draft"] and any(name.endswith(".pdf") for name in draft["attachments"])
    assert "Ack due 25 Nov" in draft["categories"] and "Response due 7 Dec" in draft["categories"]
    assert show_case(app, reference, NOW)["messages"][0]["received_at"].startswith("2026-11-23T09:00")

    ews.set_categories(draft["id"], draft["categories"] + ["Approved"], modified_by="Priya Shah")
    assert [d.kind for d in send_approved(app, NOW + timedelta(minutes=5))] == ["acknowledgement"]
    (sent,) = ews.sent_mime()
    message = email.message_from_bytes(sent, policy=email_policy.default)
    assert message["In-Reply-To"] == message_id_of(raw) and reference in message["Subject"]
    assert [i["internet_message_id"] for i in ews.items("sentitems")] == [message["Message-ID"]]
    assert any(e["kind"] == "approved" and e["actor"] == "Priya Shah" for e in show_case(app, reference, NOW)["events"])
    result = ingest(app, NOW + timedelta(minutes=10))
    assert (result.processed, result.officer_replies, result.new_cases) == (0, 0, [])
    assert send_approved(app, NOW + timedelta(minutes=11)) == [] and len(ews.sent_mime()) == 1


def test_a_draft_moved_into_the_approved_folder_is_found_under_its_new_id_and_sent(ews, app):
    ews.deliver(complaint(2, ews.mailbox), received=NOW)
    (reference,) = ingest(app, NOW).new_cases
    (draft,) = resident_drafts(ews)
    new_id = ews.move(draft["id"], "Approved", modified_by="Priya Shah")  # Exchange gives a moved item a new ItemId
    assert new_id != draft["id"]
    assert [d.kind for d in send_approved(app, NOW + timedelta(minutes=5))] == ["acknowledgement"]
    assert len(ews.sent_mime()) == 1 and resident_drafts(ews, "Approved") == []


def test_a_busy_server_is_waited_for_as_long_as_it_asks(ews, app):
    ews.deliver(complaint(3, ews.mailbox), received=NOW)
    ingest(app, NOW)  # connected and past the version probe
    ews.deliver(complaint(4, ews.mailbox), received=NOW + timedelta(minutes=1))
    ews.busy_next(count=1, back_off_ms=1500)
    started = time.monotonic()
    assert ingest(app, NOW + timedelta(minutes=2)).processed == 1
    assert time.monotonic() - started >= 1.5
    assert any(status == 500 for _, _, status in ews.requests)  # the ErrorServerBusy fault was answered


def test_an_invalid_sync_state_reads_the_folder_again_without_duplicates(ews, app):
    for n in (5, 6, 7):
        ews.deliver(complaint(n, ews.mailbox), received=NOW)
    assert ingest(app, NOW).processed == 3
    ews.expire_sync_state()
    ews.deliver(complaint(8, ews.mailbox), received=NOW + timedelta(minutes=1))
    result = ingest(app, NOW + timedelta(minutes=2))
    assert (result.processed, len(result.new_cases)) == (1, 1)
    assert status(app)["messages"] == 4 and status(app)["cases"] == 4
    assert ingest(app, NOW + timedelta(minutes=3)).processed == 0


def test_pull_notifications_wake_the_wait_when_mail_arrives(ews, app):
    def waited(stop: threading.Event | None = None) -> float:
        started = time.monotonic()
        app.mailbox.wait_for_mail(30, stop or threading.Event())
        return time.monotonic() - started

    def operations() -> list[str | None]:
        return [exchange.operation for exchange in ews.requests]

    ingest(app, NOW)
    threading.Timer(1.0, lambda: ews.deliver(complaint(9, ews.mailbox))).start()
    assert waited() < 5  # the NewMailEvent woke it, not the 30 s timeout
    assert "Subscribe" in operations() and "GetEvents" in operations()
    assert ingest(app, NOW + timedelta(minutes=1)).processed == 1

    ews.expire_subscriptions()  # as when the Client Access server restarts
    assert waited() < 2  # ErrorSubscriptionNotFound: the subscription is dropped, and the caller reads now
    subscribed = operations().count("Subscribe")
    assert ingest(app, NOW + timedelta(minutes=2)).processed == 0  # the round subscribes again before it reads
    assert operations().count("Subscribe") == subscribed + 1
    threading.Timer(1.0, lambda: ews.deliver(complaint(10, ews.mailbox))).start()
    assert waited() < 5  # woken as before
    assert ingest(app, NOW + timedelta(minutes=3)).processed == 1  # its drafts are not new mail in the inbox

    app.mailbox.close()  # a reconnect after an error: the next round subscribes before reading, so mail
    ews.deliver(complaint(11, ews.mailbox))  # arriving after that read still wakes the wait at once
    assert ingest(app, NOW + timedelta(minutes=4)).processed == 1
    threading.Timer(0.5, lambda: ews.deliver(complaint(12, ews.mailbox))).start()
    assert waited() < 5
    assert "Unsubscribe" in operations()  # the old subscription was given back on close

    stop = threading.Event()
    threading.Timer(1.0, stop.set).start()
    assert 0.9 < waited(stop) < 3  # nothing came, and a stop ends the wait


def test_a_wrong_password_is_one_plain_line(tmp_path, ews):
    import os
    import subprocess
    import sys

    text = config_text(landlord="Reliance Housing", policy="reliance", address=ews.mailbox, database_url=database_url(Path(tmp_path)),
                       ews=(ews.url, ews.username)).replace('auth_type = "NTLM"', f'auth_type = "basic"\nca_file = "{ews.ca_file}"')
    config = Path(tmp_path) / "wrong.toml"
    config.write_text(text)
    done = subprocess.run([sys.executable, "-m", "mailcomplaints.cli", "--config", str(config), "ingest"],
                          capture_output=True, text=True, timeout=120, env=os.environ | {PASSWORD_ENV: "not-the-password"})
    assert done.returncode == 1 and "Traceback" not in done.stderr and "not-the-password" not in done.stderr
    assert "EWS" in done.stderr
