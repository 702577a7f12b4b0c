"""The IMAP backend and the daemon against a real Dovecot and a real SMTP
server (aiosmtpd), over the network on 127.0.0.1: new mail becomes cases,
drafts wait in the approval folder with their deadlines as keywords, an
officer's tag approves one, it goes out through SMTP once with a copy in
Sent — and dropped connections, a restarted server, a changed UIDVALIDITY and
an SMTP server saying "later" or "no" lose nothing and duplicate nothing.

Without Dovecot (a developer's machine) these tests skip with the package to
install; in CI (`scripts/setup test` installs it) they must run.
"""

from __future__ import annotations

import email
import itertools
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from email import policy as email_policy
from pathlib import Path

import pytest

from conftest import OUR_ADDRESS, make_email, message_id_of, wait_until
from servers import Dovecot, FaultProxy, SmtpSink, available, imap_config

from mailcomplaints.config import load_config
from mailcomplaints.drafting.compose import DRAFT_HEADER, finalise
from mailcomplaints.mailboxes.base import MailboxError
from mailcomplaints.mailboxes.imap import SENDING
from mailcomplaints.service import casework
from mailcomplaints.service.app import App
from mailcomplaints.service.approval import approve, send_approved
from mailcomplaints.service.pipeline import ingest
from mailcomplaints.service.queries import show_case
from mailcomplaints.service.scheduler import tick
from mailcomplaints.service.status import status
from mailcomplaints.store import repository as repo

PASSWORD_ENV = "MAILCOMPLAINTS_TEST_IMAP_PASSWORD"
_users = itertools.count(1)


def complaint(n: int, body: str | None = None, **headers: str) -> bytes:
    return make_email(f"Resident {n} <resident{n}@example.net>", f"Complaint {n}: repairs not done",
                      body or f"I want to make a complaint: repair number {n} has not been done after three visits.",
                      headers=headers or None)


@dataclass
class Desk:
    """One landlord whose shared mailbox is a Dovecot user."""

    root: Path
    dovecot: Dovecot
    sink: SmtpSink
    user: str
    port: int

    def write_config(self, extra: str = "", port: int | None = None, security: str = "none") -> Path:
        return imap_config(self.root, user=self.user, imap_port=port or self.port, smtp_port=self.sink.port,
                           password_env=PASSWORD_ENV, security=security,
                           extra=f"[daemon]\npoll_seconds = 3\nbackoff_max_seconds = 2\n{extra}")

    def app(self) -> App:
        return App(load_config(self.root / "mailcomplaints.toml"))

    def deliver(self, raw: bytes, when: datetime | None = None) -> int:
        """Deliver to this desk's mailbox, addressed to it (make_email writes the conftest address)."""
        raw = raw.replace(OUR_ADDRESS.encode(), self.user.encode())
        return self.dovecot.deliver(self.user, raw, when=when or datetime.now(timezone.utc))

    def folder(self, name: str) -> dict[int, tuple[set[str], email.message.EmailMessage]]:
        """UID -> (keywords and flags, message) of every message in a folder."""
        client = self.dovecot.client(self.user)
        try:
            client.select_folder(name)
            uids = client.search(["NOT", "DELETED"])
            fetched = client.fetch(uids, ["FLAGS", "BODY.PEEK[]"]) if uids else {}
            return {uid: ({f.decode() for f in item[b"FLAGS"]}, email.message_from_bytes(item[b"BODY[]"], policy=email_policy.default))
                    for uid, item in fetched.items()}
        finally:
            client.logout()

    def tag(self, folder: str, uid: int, keyword: str) -> None:
        client = self.dovecot.client(self.user)
        try:
            client.select_folder(folder)
            client.add_flags([uid], [keyword])
        finally:
            client.logout()

    def cli(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "mailcomplaints.cli", "--config", str(self.root / "mailcomplaints.toml"), *args],
                              capture_output=True, text=True, timeout=timeout, env=os.environ | {PASSWORD_ENV: "secret"})


@pytest.fixture
def desk(tmp_path, dovecot, sink, monkeypatch) -> Desk:
    monkeypatch.setenv(PASSWORD_ENV, "secret")
    user = f"complaints{next(_users)}-{os.getpid()}@example.test"
    dovecot.add_user(user)
    made = Desk(tmp_path, dovecot, sink, user, dovecot.port)
    made.write_config()
    return made


def drafts_in(desk: Desk) -> list[tuple[int, set[str], email.message.EmailMessage]]:
    """Our drafts to residents in the approval folder (not the team's reminders)."""
    return [(uid, flags, msg) for uid, (flags, msg) in desk.folder("Drafts").items()
            if msg[DRAFT_HEADER] and "example.net" in str(msg["To"] or "")]


# --- the backend -------------------------------------------------------------------------------

def test_new_mail_becomes_cases_with_drafts_in_the_approval_folder_and_deadlines_as_keywords(desk: Desk):
    friday = datetime(2026, 11, 20, 9, 30, tzinfo=timezone.utc)
    desk.deliver(complaint(1, Date="Mon, 01 Jan 2024 10:00:00 +0000"), when=friday)  # a wrong Date header: INTERNALDATE counts
    app = desk.app()
    monday = datetime(2026, 11, 23, 10, 0, tzinfo=timezone.utc)
    result = ingest(app, monday)
    assert result.processed == 1 and len(result.new_cases) == 1
    case = show_case(app, result.new_cases[0], monday)
    # Reliance acknowledges within 2 working days of receipt: Friday 20 -> Tuesday 24 November
    assert next(d["due"] for d in case["deadlines"] if d["kind"] == "acknowledge") == "2026-11-24"

    tick(app, monday)
    ((uid, flags, draft),) = drafts_in(desk)
    assert "\\Draft" in flags and "Ack_due_24_Nov" in flags and "Response_due_4_Dec" in flags
    assert any(part.get_content_type() == "application/pdf" for part in draft.iter_attachments())
    assert ingest(app, monday + timedelta(minutes=1)).processed == 0  # read once, whatever runs again
    assert app.db and repo.DbCursors(app.db).get("imap:INBOX").endswith(":1")

    tick(app, datetime(2026, 11, 25, 10, 0, tzinfo=timezone.utc))  # Wednesday: the acknowledgement is late
    ((_, flags, _),) = drafts_in(desk)
    assert "Overdue" in flags and "Ack_due_24_Nov" in flags
    app.close()


def test_an_officer_tag_approves_and_it_goes_by_smtp_once_with_a_copy_in_sent(desk: Desk):
    raw = complaint(2)
    desk.deliver(raw)
    app = desk.app()
    now = datetime.now(timezone.utc)
    (reference,) = ingest(app, now).new_cases
    ((uid, _, _),) = drafts_in(desk)
    desk.tag("Drafts", uid, "Approved")  # a Thunderbird tag; an acknowledgement needs no named approver
    sent = send_approved(app, now + timedelta(minutes=1))
    assert [d.kind for d in sent] == ["acknowledgement"]
    (received,) = desk.sink.messages
    message = email.message_from_bytes(received.content, policy=email_policy.default)
    assert received.rcpt_tos == ["resident2@example.net"] and reference in message["Subject"]
    assert message["In-Reply-To"] == message_id_of(raw)
    copies = [(flags, m) for flags, m in desk.folder("Sent").values() if m["Message-ID"] == message["Message-ID"]]
    assert len(copies) == 1 and SENDING not in copies[0][0]
    assert drafts_in(desk) == []  # gone from the approval folder
    assert send_approved(app, now + timedelta(minutes=2)) == [] and len(desk.sink.messages) == 1
    ack = next(d for d in show_case(app, reference, now)["deadlines"] if d["kind"] == "acknowledge")
    assert ack["status"] == "met"
    assert ingest(app, now + timedelta(minutes=3)).officer_replies == 0  # our own Sent copy is not an officer's reply
    app.close()


def test_a_move_into_the_approved_folder_approves_and_a_response_needs_a_named_approver(desk: Desk):
    desk.deliver(complaint(3))
    app = desk.app()
    now = datetime.now(timezone.utc)
    (reference,) = ingest(app, now).new_cases
    ((uid, _, _),) = drafts_in(desk)
    client = desk.dovecot.client(desk.user)
    client.select_folder("Drafts")
    client.move([uid], "Approved")
    client.logout()
    assert [d.kind for d in send_approved(app, now)] == ["acknowledgement"]

    response = casework.plan_draft(app, reference, "response", now, "Tom Okafor", outcome="upheld")
    ingest(app, now)  # copies the new draft into the mailbox
    ((uid, _, _),) = drafts_in(desk)
    desk.tag("Drafts", uid, "Approved")  # nobody named: not enough for a response
    assert send_approved(app, now) == []
    ((_, flags, _),) = drafts_in(desk)
    assert "Approved" not in flags and "Not_approved" in flags
    refused = [e for e in show_case(app, reference, now)["events"] if e["kind"] == "approval_refused"]
    assert refused and "named approver" in refused[0]["reason"]
    with app.db.transaction() as session:
        assert repo.draft_by_id(session, response.id).state == "pending"
    app.close()


def test_a_reply_an_officer_writes_by_hand_in_sent_joins_its_case(desk: Desk):
    raw = complaint(4)
    desk.deliver(raw)
    app = desk.app()
    now = datetime.now(timezone.utc)
    (reference,) = ingest(app, now).new_cases
    reply = make_email(f"Complaints <{desk.user}>", "Re: Complaint 4: repairs not done",
                       "Dear Resident 4, we have booked the repair for Friday.", headers={"In-Reply-To": message_id_of(raw)})
    desk.dovecot.deliver(desk.user, reply, folder="Sent")
    result = ingest(app, now + timedelta(minutes=5))
    assert result.officer_replies == 1 and result.new_cases == [] and result.processed == 0
    outgoing = [m for m in show_case(app, reference, now)["messages"] if m["message_id"] == message_id_of(reply)]
    assert outgoing and outgoing[0]["direction"] == "out"
    app.close()


def test_idle_wakes_the_wait_as_soon_as_mail_arrives_and_a_stop_ends_it(desk: Desk):
    app = desk.app()
    ingest(app, datetime.now(timezone.utc))
    threading.Timer(0.5, lambda: desk.deliver(complaint(5))).start()
    started = time.monotonic()
    app.mailbox.wait_for_mail(30, threading.Event())
    assert time.monotonic() - started < 3  # IDLE, not the 30 s poll
    stop = threading.Event()
    threading.Timer(0.5, stop.set).start()
    started = time.monotonic()
    app.mailbox.wait_for_mail(30, stop)
    assert time.monotonic() - started < 3
    app.close()


def test_mail_that_comes_between_a_read_and_the_wait_is_not_left_for_the_next_poll(desk: Desk):
    app = desk.app()
    ingest(app, datetime.now(timezone.utc))
    desk.deliver(complaint(22))  # after the read, before the wait: IDLE alone would not report it
    started = time.monotonic()
    app.mailbox.wait_for_mail(30, threading.Event())
    assert time.monotonic() - started < 2
    ingest(app, datetime.now(timezone.utc))
    client = desk.dovecot.client(desk.user)  # a message deleted unread leaves a gap in the UIDs
    client.select_folder("INBOX")
    client.append("INBOX", complaint(23))
    client.add_flags(client.search(["HEADER", "Subject", "Complaint 23"]), [b"\\Deleted"])
    client.expunge()
    client.logout()
    ingest(app, datetime.now(timezone.utc))
    stop = threading.Event()
    threading.Timer(1.5, stop.set).start()
    started = time.monotonic()
    app.mailbox.wait_for_mail(30, stop)
    assert time.monotonic() - started > 1  # waited: the gap is not taken for new mail
    app.close()


@pytest.mark.parametrize("policy", ["housing-solutions", "reliance"])
def test_new_complaints_and_escalations_over_imap_are_processed_for_every_policy(desk: Desk, policy: str):
    """INTERNALDATE comes with imapclient's own time zone, which the case history must survive."""
    config = desk.root / "mailcomplaints.toml"
    config.write_text(config.read_text().replace('policy = "reliance"', f'policy = "{policy}"'))
    raw = complaint(24)
    desk.deliver(raw, when=datetime(2026, 11, 2, 9, 0, tzinfo=timezone(timedelta(hours=1))))
    app = desk.app()
    now = datetime(2026, 11, 2, 12, 0, tzinfo=timezone.utc)
    (reference,) = ingest(app, now).new_cases
    with app.db.transaction() as session:
        ack = repo.case_by_reference(session, reference).drafts[0].id
    approve(app, ack, "Priya Shah", now)
    send_approved(app, now)
    response = casework.plan_draft(app, reference, "response", now, "Tom Okafor", outcome="not upheld")
    approve(app, response.id, "Priya Shah", now, override="findings written for the test")
    send_approved(app, now + timedelta(days=1))
    desk.deliver(make_email("Resident 24 <resident24@example.net>", f"Re: Your complaint {reference}",
                            "I am not happy with your response, please escalate my complaint to stage 2."),
                 when=now + timedelta(days=2))
    result = ingest(app, now + timedelta(days=2, minutes=5))
    assert (result.processed, result.quarantined) == (1, 0)
    assert show_case(app, reference, now + timedelta(days=2))["stage"] == 2
    assert status(app)["quarantined"] == 0
    app.close()


# --- faults ------------------------------------------------------------------------------------

def test_a_connection_dropped_mid_fetch_loses_and_duplicates_nothing(desk: Desk):
    big = make_email("Resident 9 <resident9@example.net>", "Photos of the damp",
                     "I want to make a complaint about the damp, photos attached.\n" + "x" * 2_000_000)
    for raw in (complaint(6), big, complaint(7), complaint(8)):
        desk.deliver(raw)
    with FaultProxy(desk.dovecot.host, desk.dovecot.port) as proxy:
        desk.write_config(port=proxy.port)
        app = desk.app()
        now = datetime.now(timezone.utc)
        proxy.cut_when(b"FETCH (")
        with pytest.raises(MailboxError):
            ingest(app, now)
        assert proxy.triggered.is_set()
        first = status(app)["messages"]
        again = ingest(app, now + timedelta(minutes=1))  # connects afresh and carries on
        assert status(app)["messages"] == 4 and first + again.processed == 4
        assert status(app)["quarantined"] == 0 and status(app)["cases"] == 4
        assert ingest(app, now + timedelta(minutes=2)).processed == 0
        app.close()


def test_a_connection_dropped_mid_idle_is_noticed_and_the_next_round_reconnects(desk: Desk):
    with FaultProxy(desk.dovecot.host, desk.dovecot.port) as proxy:
        desk.write_config(port=proxy.port)
        app = desk.app()
        ingest(app, datetime.now(timezone.utc))
        proxy.cut_when(b"+ idling")
        started = time.monotonic()
        with pytest.raises(MailboxError):
            app.mailbox.wait_for_mail(30, threading.Event())
        assert proxy.triggered.is_set() and time.monotonic() - started < 10
        desk.deliver(complaint(10))
        assert ingest(app, datetime.now(timezone.utc)).processed == 1
        app.close()


def test_a_new_uidvalidity_reads_the_folder_again_without_duplicates(desk: Desk):
    for n in (11, 12, 13):
        desk.deliver(complaint(n))
    app = desk.app()
    now = datetime.now(timezone.utc)
    assert ingest(app, now).processed == 3
    app.close()
    desk.dovecot.reset_uidvalidity(desk.user)  # a restore from backup: every UID is new
    desk.deliver(complaint(14))
    app = desk.app()
    result = ingest(app, now + timedelta(minutes=1))
    assert (result.processed, result.duplicates, len(result.new_cases)) == (1, 3, 1)
    assert status(app)["messages"] == 4 and status(app)["cases"] == 4
    assert ingest(app, now + timedelta(minutes=2)).duplicates == 0  # and recognised once, not on every run
    app.close()


def test_smtp_saying_later_then_no_is_surfaced_and_nothing_is_lost_or_sent_twice(desk: Desk):
    for n in (15, 16):
        desk.deliver(complaint(n))
    app = desk.app()
    now = datetime.now(timezone.utc)
    first, second = ingest(app, now).new_cases
    with app.db.transaction() as session:
        ids = {ref: repo.case_by_reference(session, ref).drafts[0].id for ref in (first, second)}
    approve(app, ids[first], "Priya Shah", now)
    desk.sink.replies.append("451 4.3.0 Try again later")
    with pytest.raises(MailboxError, match="451"):
        send_approved(app, now)
    assert desk.sink.messages == [] and not [m for _, m in desk.folder("Sent").values() if m[DRAFT_HEADER]]
    assert [d.id for d in send_approved(app, now + timedelta(minutes=5))] == [ids[first]]  # it goes next round
    assert len(desk.sink.messages) == 1

    approve(app, ids[second], "Priya Shah", now)
    desk.sink.replies.append("554 5.7.1 Message refused")
    assert send_approved(app, now + timedelta(minutes=6)) == []
    drafts = {d["id"]: d for d in json.loads(desk.cli("drafts", "--all", "--json").stdout)}
    assert drafts[ids[second]]["state"] == "failed" and "554" in drafts[ids[second]]["failure"]
    assert any(e["kind"] == "send_failed" for e in show_case(app, second, now)["events"])
    assert send_approved(app, now + timedelta(minutes=7)) == [] and len(desk.sink.messages) == 1  # not tried again
    sent_copies = [m["Message-ID"] for _, m in desk.folder("Sent").values()]
    assert len(sent_copies) == 1 and status(app)["failed_drafts"] == 1
    app.close()


def test_after_a_crash_mid_send_the_sent_folder_decides_and_nothing_goes_twice(desk: Desk):
    for n in (17, 18):
        desk.deliver(complaint(n))
    app = desk.app()
    now = datetime.now(timezone.utc)
    references = ingest(app, now).new_cases
    drafts = {}
    for reference in references:
        with app.db.transaction() as session:
            draft = repo.case_by_reference(session, reference).drafts[0]
            drafts[reference] = (draft.id, draft.message_id)
        approve(app, drafts[reference][0], "Priya Shah", now)
    (unsure, done) = references
    for reference, flags in ((unsure, [SENDING]), (done, [])):  # the crash: Sent copy made; SMTP unknown / finished
        draft_id, message_id = drafts[reference]
        with app.db.transaction() as session:
            row = repo.draft_by_id(session, draft_id)
            row.state = "sending"
            raw = app.mailbox.read_draft(row.mailbox_ref)
        desk.dovecot.deliver(desk.user, finalise(raw, message_id, now), folder="Sent")
        if flags:
            desk.tag("Sent", max(desk.folder("Sent")), flags[0])
    sent = send_approved(app, now + timedelta(minutes=1))
    assert sorted(d.id for d in sent) == sorted(d for d, _ in drafts.values())  # both recorded as sent
    assert [message_id_of(m.content) for m in desk.sink.messages] == [drafts[unsure][1]]  # only the unsure one went again
    copies = [(flags, m["Message-ID"]) for flags, m in desk.folder("Sent").values()]
    assert sorted(mid for _, mid in copies) == sorted(mid for _, mid in drafts.values())  # one copy each
    assert all(SENDING not in flags for flags, _ in copies)
    app.close()


# --- the daemon --------------------------------------------------------------------------------

def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_daemon(desk: Desk) -> subprocess.Popen:
    log = open(desk.root / "daemon.log", "w")
    return subprocess.Popen([sys.executable, "-m", "mailcomplaints.cli", "--config", str(desk.root / "mailcomplaints.toml"), "run"],
                            stdout=log, stderr=subprocess.STDOUT, env=os.environ | {PASSWORD_ENV: "secret"})


def daemon_status(desk: Desk) -> dict:
    return json.loads(desk.cli("status", "--json").stdout)


def stop_daemon(process: subprocess.Popen) -> int:
    process.send_signal(signal.SIGTERM)
    return process.wait(timeout=15)


def test_the_daemon_watches_drafts_sends_what_officers_approve_and_stops_cleanly(desk: Desk):
    metrics_port = free_port()
    desk.write_config(extra=f"metrics_port = {metrics_port}\n")
    process = start_daemon(desk)
    try:
        wait_until(lambda: daemon_status(desk)["daemon"]["last_success"], what="the daemon's first round")
        body = "I want to make a complaint: my boiler has been broken for two weeks and I have a baby at home."
        desk.deliver(make_email("Ann Cole <ann@example.net>", "Boiler broken", body))
        ((uid, flags, _),) = wait_until(lambda: [d for d in drafts_in(desk) if any(f.startswith("Ack_due_") for f in d[1])],
                                        what="the acknowledgement draft with its deadline keyword")
        desk.tag("Drafts", uid, "Approved-Priya_Shah")
        (received,) = desk.sink.wait_for(1, timeout=15)
        assert received.rcpt_tos == ["ann@example.net"]
        wait_until(lambda: daemon_status(desk)["sent_drafts"] == 1, what="the send to be recorded")
        (case,) = json.loads(desk.cli("cases", "--json").stdout)
        assert any(e["kind"] == "approved" and e["actor"] == "Priya Shah" for e in json.loads(desk.cli("case", case["reference"], "--json").stdout)["events"])
        metrics = urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5).read().decode()
        assert "mailcomplaints_messages_processed_total 1.0" in metrics and "mailcomplaints_drafts_sent_total 1.0" in metrics
    finally:
        rc = stop_daemon(process)
    assert rc == 0
    log = (desk.root / "daemon.log").read_text()
    assert "stopped" in log and "Traceback" not in log
    assert "boiler" not in log.lower() and "secret" not in log  # no message bodies, no passwords


def test_the_daemon_rides_out_a_dovecot_restart_and_reports_the_error(desk: Desk):
    process = start_daemon(desk)
    try:
        wait_until(lambda: daemon_status(desk)["daemon"]["last_success"], what="the daemon's first round")
        desk.deliver(complaint(20))
        wait_until(lambda: daemon_status(desk)["messages"] == 1, what="the first message")
        desk.dovecot.restart()
        desk.deliver(complaint(21))
        wait_until(lambda: daemon_status(desk)["messages"] == 2, timeout=30, what="the message after the restart")
        health = daemon_status(desk)
        assert health["cases"] == 2 and health["quarantined"] == 0
        assert health["daemon"]["errors"] >= 1 and "IMAP" in health["daemon"]["last_error"]
    finally:
        assert stop_daemon(process) == 0


# --- TLS ---------------------------------------------------------------------------------------

def test_tls_is_verified_and_a_private_ca_can_be_named(tmp_path, sink, monkeypatch):
    if not available():
        pytest.skip("Dovecot is not installed (apt-get install dovecot-imapd)")
    monkeypatch.setenv(PASSWORD_ENV, "secret")
    with Dovecot(tmp_path / "tls-server", tls=True) as server:
        server.add_user("tls@example.test")
        server.deliver("tls@example.test", complaint(30))
        desk = Desk(tmp_path / "desk", server, sink, "tls@example.test", server.port)
        desk.root.mkdir()
        desk.write_config(port=server.tls_port, security="tls")
        with pytest.raises(MailboxError, match="(?i)certificate"):
            ingest(desk.app(), datetime.now(timezone.utc))
        desk.write_config(extra="", port=server.tls_port, security="tls")
        config = desk.root / "mailcomplaints.toml"
        config.write_text(config.read_text().replace('security = "tls" ', f'ca_file = "{server.ca_file}"\nsecurity = "tls" ', 1))
        assert ingest(desk.app(), datetime.now(timezone.utc)).processed == 1
        config.write_text(config.read_text().replace(f"port = {server.tls_port}", f"port = {server.port}", 1)
                          .replace('security = "tls" ', 'security = "starttls" ', 1))
        app = desk.app()
        assert ingest(app, datetime.now(timezone.utc)).processed == 0  # STARTTLS on the plain port, verified too
        app.close()
