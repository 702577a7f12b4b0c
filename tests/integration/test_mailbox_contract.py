"""One contract, every backend: what the pipeline relies on a mailbox for,
checked the same way against the Maildir, a real Dovecot (IMAP + SMTP), and
the documented HTTP exchanges of Microsoft Graph and of Exchange Web Services.

Each backend comes with a small test driver that does what the outside
world does to a mailbox: a server delivering mail, an officer tagging a draft
approved in their mail client, a mail client saving an edited draft.
"""

from __future__ import annotations

import email
import itertools
import os
from datetime import datetime, timedelta, timezone
from email import policy as email_policy
from pathlib import Path

import pytest

from conftest import make_email, message_id_of

from mailcomplaints.drafting.compose import DRAFT_HEADER, compose
from mailcomplaints.mailboxes.base import Mailbox
from mailcomplaints.mailboxes.imap import ImapMailbox, ImapSettings
from mailcomplaints.mailboxes.maildir import MaildirMailbox
from mailcomplaints.mailboxes.smtp import SmtpSender

WHEN = datetime(2026, 11, 20, 9, 30, tzinfo=timezone.utc)
_users = itertools.count(1)


class MemoryCursors:
    def __init__(self):
        self.values: dict[str, str] = {}

    def get(self, name):
        return self.values.get(name)

    def set(self, name, value):
        self.values[name] = value


class MaildirDriver:
    approvals_in_client = False

    def __init__(self, root: Path):
        self.root = root

    def open(self) -> Mailbox:
        return MaildirMailbox(self.root, "complaints@example.test")

    def deliver(self, raw: bytes, when: datetime) -> None:
        name = f"{int(when.timestamp())}.{next(_users)}.contract"
        (self.root / "new" / name).write_bytes(raw)

    def sent(self) -> list[bytes]:
        return [p.read_bytes() for sub in ("cur", "new") for p in (self.root / ".Sent" / sub).iterdir()]


class ImapDriver:
    approvals_in_client = True

    def __init__(self, dovecot, sink):
        self.dovecot, self.sink = dovecot, sink
        self.user = f"contract{next(_users)}-{os.getpid()}@example.test"
        dovecot.add_user(self.user)
        self.cursors = MemoryCursors()

    def open(self) -> Mailbox:
        settings = ImapSettings(host="127.0.0.1", port=self.dovecot.port, username=self.user, security="none", password="secret")
        return ImapMailbox(settings, self.user, self.cursors, SmtpSender("127.0.0.1", self.sink.port, self.user, security="none"))

    def deliver(self, raw: bytes, when: datetime) -> None:
        self.dovecot.deliver(self.user, raw, when=when)

    def sent(self) -> list[bytes]:
        client = self.dovecot.client(self.user)
        client.select_folder("Sent")
        uids = client.search(["NOT", "DELETED"])
        found = [item[b"BODY[]"] for item in client.fetch(uids, ["BODY.PEEK[]"]).values()] if uids else []
        client.logout()
        return found

    def approve_in_client(self, draft_id: str, keyword: str) -> None:
        client = self.dovecot.client(self.user)
        client.select_folder("Drafts")
        client.add_flags(client.search(["HEADER", DRAFT_HEADER, draft_id]), [keyword])
        client.logout()


class GraphDriver:
    """Exchange Online, through a double of Microsoft Graph that answers as
    its documentation says (tests/graph_server.py)."""

    approvals_in_client = True

    def __init__(self, root: Path):
        from graph_server import FakeGraph

        self.fake = FakeGraph(root)
        self.fake.start()
        self.cursors = MemoryCursors()

    def open(self) -> Mailbox:
        from mailcomplaints.mailboxes.graph import GraphMailbox, GraphSettings

        fake = self.fake
        settings = GraphSettings(tenant_id=fake.tenant, client_id=fake.client_id, client_secret=fake.client_secret,
                                 authority=fake.authority, graph_url=fake.graph_url, ca_file=str(fake.ca_file))
        return GraphMailbox(settings, fake.mailbox, self.cursors)

    def deliver(self, raw: bytes, when: datetime) -> None:
        self.fake.deliver(raw, "inbox", when)

    def sent(self) -> list[bytes]:
        return [m["mime"] for m in self.fake.messages("sentitems")]

    def approve_in_client(self, draft_id: str, keyword: str) -> None:
        (found,) = [m for m in self.fake.messages("drafts") if f"{DRAFT_HEADER}: {draft_id}".encode() in m["mime"]]
        self.fake.set_categories(found["id"], [keyword], modified_by="Priya Shah")

    def close(self) -> None:
        self.fake.stop()


class EwsDriver:
    """Exchange Server, through a double of EWS that answers as its
    documentation says (tests/ews_server.py)."""

    approvals_in_client = True

    def __init__(self, root: Path):
        from ews_server import FakeEws

        self.fake = FakeEws(root)
        self.fake.start()
        self.cursors = MemoryCursors()

    def open(self) -> Mailbox:
        from mailcomplaints.mailboxes.ews import EwsMailbox, EwsSettings

        fake = self.fake
        settings = EwsSettings(username=fake.username, password=fake.password, server_url=fake.url, auth_type="basic",
                               ca_file=str(fake.ca_file))
        return EwsMailbox(settings, fake.mailbox, self.cursors)

    def deliver(self, raw: bytes, when: datetime) -> None:
        self.fake.deliver(raw, "inbox", when)

    def sent(self) -> list[bytes]:
        return [item["mime"] for item in self.fake.items("sentitems")]

    def approve_in_client(self, draft_id: str, keyword: str) -> None:
        (found,) = [i for i in self.fake.items("drafts") if f"{DRAFT_HEADER}: {draft_id}".encode() in i["mime"]]
        self.fake.set_categories(found["id"], [keyword], modified_by="Priya Shah")

    def close(self) -> None:
        import exchangelib

        self.fake.stop()
        exchangelib.close_connections()


@pytest.fixture(params=["maildir", "imap", "graph", "ews"])
def driver(request, tmp_path):
    if request.param == "maildir":
        yield MaildirDriver(tmp_path / "maildir")
    elif request.param == "imap":
        yield ImapDriver(request.getfixturevalue("dovecot"), request.getfixturevalue("sink"))
    else:
        made = (GraphDriver if request.param == "graph" else EwsDriver)(tmp_path / request.param)
        yield made
        assert made.fake.errors == []  # the double itself never failed
        made.close()


def draft(draft_id: str, body: str = "Dear Ms Doe, we have logged your complaint.") -> bytes:
    return compose(draft_id=draft_id, message_id=f"<{draft_id}@mailcomplaints.example.test>", sender_name="Complaints Team",
                   sender="complaints@example.test", to=["jane@example.net"], cc=[], subject="Your complaint CMP-000001",
                   body=body, date=WHEN, pdf=b"%PDF-1.4 letter", pdf_name="CMP-000001-acknowledgement.pdf")


def body(raw: bytes) -> str:
    return email.message_from_bytes(raw, policy=email_policy.default).get_body(("plain",)).get_content().strip()


def test_new_mail_is_listed_once_with_its_delivery_time(driver):
    box = driver.open()
    first, second = (make_email(f"R{n} <r{n}@example.net>", f"Complaint {n}", f"Complaint number {n}.") for n in (1, 2))
    driver.deliver(first, WHEN)
    driver.deliver(second, WHEN + timedelta(minutes=5))
    listed = list(box.new_messages(lambda ids: set()))
    assert [message_id_of(d.raw) for d in listed] == [message_id_of(first), message_id_of(second)]  # oldest first
    assert listed[0].delivered_at == WHEN  # the server's delivery time, not the Date header
    box.mark_processed(listed[0].backend_id)
    again = list(box.new_messages(lambda ids: {listed[0].backend_id} & set(ids)))
    assert [d.backend_id for d in again] == [listed[1].backend_id]
    box.mark_processed(listed[1].backend_id)
    box.close()
    reopened = driver.open()  # a restart: the place is kept
    known = {d.backend_id for d in listed}
    assert list(reopened.new_messages(lambda ids: known & set(ids))) == []


def test_a_draft_is_saved_once_read_back_as_edited_and_removed(driver):
    box = driver.open()
    ref = box.save_draft("d-contract1", draft("d-contract1"))
    assert box.save_draft("d-contract1", draft("d-contract1")) == ref  # a crash before recording it saves no second copy
    assert body(box.read_draft(ref)) == "Dear Ms Doe, we have logged your complaint."
    box.replace_draft(ref, draft("d-contract1", "Dear Ms Doe, edited by an officer."))
    box.close()
    reopened = driver.open()
    assert body(reopened.read_draft(ref)) == "Dear Ms Doe, edited by an officer."
    reopened.set_labels(ref, ["Ack due 24 Nov", "Overdue"])  # shown where the backend can; never breaks reading
    assert body(reopened.read_draft(ref)) == "Dear Ms Doe, edited by an officer."
    reopened.remove_draft(ref)
    assert reopened.read_draft(ref) is None


def test_sending_leaves_one_copy_in_sent_found_by_message_id(driver):
    box = driver.open()
    ref = box.save_draft("d-contract2", draft("d-contract2"))
    message_id = "<d-contract2@mailcomplaints.example.test>"
    assert not box.was_sent(message_id)
    copy = box.send(ref, box.read_draft(ref))
    assert box.was_sent(message_id) and box.read_draft(ref) is None
    assert [message_id_of(raw) for raw in driver.sent()] == [message_id]
    listed = list(box.sent_messages(lambda ids: {copy} & set(ids)))
    assert listed == []  # our own copy, known by the id send() returned, is not taken for an officer's reply


def test_an_approval_given_in_the_mail_client_is_read_with_the_approver(driver):
    box = driver.open()
    ref = box.save_draft("d-contract3", draft("d-contract3"))
    assert box.approvals() == []
    if not driver.approvals_in_client:
        pytest.skip("this backend has no shared keywords: approval is by `mailcomplaints approve`")
    driver.approve_in_client("d-contract3", "Approved-Priya_Shah")
    (given,) = box.approvals()
    assert given.draft_id == "d-contract3" or (given.draft_id is None and given.mailbox_ref == ref)  # the draft, either way
    assert given.approver == "Priya Shah"
    box.refuse_approval(given.mailbox_ref, ["Not approved"])
    assert box.approvals() == []
    assert body(box.read_draft(ref)) == "Dear Ms Doe, we have logged your complaint."
