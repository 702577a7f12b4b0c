"""The IMAP backend (imapclient), for any IMAP server: Dovecot, Exchange's
IMAP, Gmail, a hosting company's shared mailbox.

- New mail is found by UID above a cursor kept in the database
  ("UIDVALIDITY:UID" per folder). When UIDVALIDITY changes (a restore, a
  migration) every message is read again and the pipeline recognises what it
  holds by Message-ID, so nothing is duplicated.
- The delivery time is the server's INTERNALDATE, never the Date header.
- Drafts are APPENDed to the approval folder with \\Draft. Officers approve
  one by giving it the keyword `Approved` (a Thunderbird tag) — or
  `Approved-Priya_Shah` to say who — or by moving it into the Approved folder.
- Sending is SMTP submission, then a copy in Sent. The copy is appended
  first with the keyword $MailcomplaintsSending and the keyword is removed
  once the server accepted the message, so after a crash a copy still
  carrying it means "not known to be sent" and the draft is sent again
  (once more at most, with the same Message-ID, which mail clients fold
  into one) rather than lost.
- Deadlines are shown on drafts as keywords such as `Response_due_7_Dec`.
- With CONDSTORE, the approval folders' flags are read again only when their
  HIGHESTMODSEQ moved, so a quiet round costs two STATUS commands.

Every network or server error is raised as MailboxError and drops the
connection; the next call connects afresh.
"""

from __future__ import annotations

import email
import imaplib
import re
import ssl
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from email import policy as email_policy
from typing import Callable, Iterator, Protocol

from mailcomplaints.drafting.compose import DRAFT_HEADER, message_id_of
from mailcomplaints.mailboxes.base import Delivered, MailboxApproval, MailboxError, translating_errors
from mailcomplaints.mailboxes.base import SendRefused
from mailcomplaints.mailboxes.smtp import Deferred, SmtpSender, tls_context

SENDING = "$MailcomplaintsSending"
BATCH = 200  # messages per FETCH: bounded memory, few round trips
IDLE_MAX = 25 * 60  # re-issue IDLE well before the 29 minutes servers allow
OUR_LABELS = re.compile(r"^(ack|response|reply|decision|escalation)_due_|^(overdue|due_today|not_approved)$", re.I)


class Cursors(Protocol):
    """Where the backend keeps its place (the database's cursors table)."""

    def get(self, name: str) -> str | None: ...
    def set(self, name: str, value: str) -> None: ...


@dataclass(frozen=True)
class ImapSettings:
    host: str
    port: int
    username: str
    security: str = "tls"  # tls | starttls | none (loopback only)
    password: str | None = None
    token_command: Callable[[], str] | None = None  # XOAUTH2: returns a fresh access token
    ca_file: str | None = None
    folder: str = "INBOX"
    approval_folder: str = "Drafts"
    approved_folder: str = "Approved"
    approved_keyword: str = "Approved"
    approver: str = "approved in the mailbox"  # the approver's name when the mailbox does not say
    sent_folder: str = "Sent"
    timeout: float = 60.0


def keyword(label: str) -> str:
    """A label as an IMAP keyword atom: "Response due 7 Dec" -> "Response_due_7_Dec"."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", label.strip().replace(" ", "_"))


def _network_errors() -> tuple[type[BaseException], ...]:
    from imapclient.exceptions import IMAPClientError

    return (MailboxError, OSError, ssl.SSLError, imaplib.IMAP4.error, imaplib.IMAP4.abort, EOFError, IMAPClientError)


NETWORK_ERRORS = _network_errors()


_network = translating_errors(lambda err: isinstance(err, NETWORK_ERRORS),
                              lambda self: f"IMAP {self.settings.host}:{self.settings.port}")


class ImapMailbox:
    def __init__(self, settings: ImapSettings, address: str, cursors: Cursors, smtp: SmtpSender):
        self.settings = settings
        self.address = address
        self.cursors = cursors
        self.smtp = smtp
        self._client = None
        self._selected: str | None = None
        self.backlog = 0  # messages found but not yet handed over when the last read stopped
        self._quiet_marks: tuple | None = None  # HIGHESTMODSEQ of the approval folders when they last held no approval
        self._looking_at: tuple | None = None

    # --- connection ------------------------------------------------------------

    def _connect(self):
        from imapclient import IMAPClient

        s = self.settings
        if s.security == "tls":
            client = IMAPClient(s.host, port=s.port, ssl=True, ssl_context=tls_context(s.ca_file), timeout=s.timeout)
        else:
            client = IMAPClient(s.host, port=s.port, ssl=False, timeout=s.timeout)
            if s.security == "starttls":
                client.starttls(tls_context(s.ca_file))
        client.normalise_times = False  # INTERNALDATE with its zone, not naive local time
        if s.token_command is not None:
            client.oauth2_login(s.username, s.token_command())
        else:
            client.login(s.username, s.password or "")
        for folder in (s.approval_folder, s.approved_folder, s.sent_folder):
            if not client.folder_exists(folder):
                client.create_folder(folder)
        return client

    @property
    def client(self):
        if self._client is None:
            self._client = self._connect()
            self._selected = None
        return self._client

    def _select(self, folder: str) -> dict:
        info = self.client.select_folder(folder)
        self._selected = folder
        return info

    def close(self) -> None:
        client, self._client, self._selected = self._client, None, None
        if client is not None:
            try:
                client.shutdown() if getattr(client, "_idle_tag", None) else client.logout()
            except Exception:  # noqa: BLE001 - the connection may already be gone
                try:
                    client.shutdown()
                except Exception:  # noqa: BLE001
                    pass

    # --- reading ---------------------------------------------------------------

    def _since_cursor(self, folder: str, prefix: str, is_known, advance_each: bool) -> Iterator[Delivered]:
        info = self._select(folder)
        validity = int(info[b"UIDVALIDITY"])
        name = f"imap:{folder}"
        stored_validity, _, stored_uid = (self.cursors.get(name) or "0:0").partition(":")
        last = int(stored_uid) if int(stored_validity) == validity else 0  # a new UIDVALIDITY: read all again
        if int(stored_validity) != validity:
            self.cursors.set(name, f"{validity}:0")
        uids = sorted(uid for uid in self.client.search(["UID", f"{last + 1}:*"]) if uid > last)
        if not uids and int(info.get(b"UIDNEXT", 0)) - 1 > last:  # gaps (mail deleted unread): step over them
            self._advance(name, validity, int(info[b"UIDNEXT"]) - 1)
        self.backlog = len(uids)
        handed_over = False  # once a message is handed over, only mark_processed moves the cursor
        for start in range(0, len(uids), BATCH):
            batch = uids[start:start + BATCH]
            ids = {uid: f"{prefix}{validity}:{uid}" for uid in batch}
            known = is_known(list(ids.values()))
            wanted = [uid for uid in batch if ids[uid] not in known]
            fetched = self.client.fetch(wanted, ["BODY.PEEK[]", "INTERNALDATE"]) if wanted else {}
            for uid in batch:
                self.backlog -= 1
                if uid not in fetched:  # already stored: step over it while nothing before it waits
                    if advance_each or not handed_over:
                        self._advance(name, validity, uid)
                    continue
                item = fetched[uid]
                delivered_at = item.get(b"INTERNALDATE") or datetime.now(timezone.utc)
                handed_over = True
                yield Delivered(ids[uid], delivered_at, item[b"BODY[]"])
                if advance_each:
                    self._advance(name, validity, uid)

    def _advance(self, name: str, validity: int, uid: int) -> None:
        stored_validity, _, stored_uid = (self.cursors.get(name) or "0:0").partition(":")
        if int(stored_validity) != validity or uid > int(stored_uid):
            self.cursors.set(name, f"{validity}:{uid}")

    @_network
    def new_messages(self, is_known) -> Iterator[Delivered]:
        # the cursor moves in mark_processed, once each message is stored
        yield from self._since_cursor(self.settings.folder, "", is_known, advance_each=False)

    @_network
    def sent_messages(self, is_known) -> Iterator[Delivered]:
        yield from self._since_cursor(self.settings.sent_folder, "sent:", is_known, advance_each=True)

    def mark_processed(self, backend_id: str) -> None:
        if backend_id.startswith("sent:"):
            return
        validity, _, uid = backend_id.partition(":")
        self._advance(f"imap:{self.settings.folder}", int(validity), int(uid))

    # --- drafts ----------------------------------------------------------------

    @staticmethod
    def _appended_uid(response: bytes | str) -> tuple[int, int] | None:
        found = re.search(rb"APPENDUID (\d+) (\d+)", response if isinstance(response, bytes) else response.encode())
        return (int(found.group(1)), int(found.group(2))) if found else None

    def _find(self, mailbox_ref: str) -> tuple[str, int] | None:
        """(folder, uid) of a draft: by its UID if unchanged, else by our header
        (a mail client that edits a draft saves a new message and deletes the old)."""
        validity, uid, draft_id = mailbox_ref.split(":", 2)
        for folder in (self.settings.approval_folder, self.settings.approved_folder):
            info = self._select(folder)
            if folder == self.settings.approval_folder and int(info[b"UIDVALIDITY"]) == int(validity):
                if self.client.search(["UID", uid, "NOT", "DELETED"]):
                    return folder, int(uid)
            found = self.client.search(["HEADER", DRAFT_HEADER, draft_id, "NOT", "DELETED"])
            if found:
                return folder, max(found)
        return None

    @_network
    def save_draft(self, draft_id: str, raw: bytes) -> str:
        """Idempotent: a draft already there (a crash after the APPEND, before
        the database recorded it) is found by our header, not saved twice."""
        folder = self.settings.approval_folder
        validity = int(self._select(folder)[b"UIDVALIDITY"])
        existing = self.client.search(["HEADER", DRAFT_HEADER, draft_id, "NOT", "DELETED"])
        if existing:
            return f"{validity}:{max(existing)}:{draft_id}"
        response = self.client.append(folder, raw, flags=(b"\\Draft",))
        appended = self._appended_uid(response)
        if appended is None:  # no UIDPLUS: look it up
            self._select(folder)
            appended = (int(self.client.folder_status(folder, ["UIDVALIDITY"])[b"UIDVALIDITY"]),
                        max(self.client.search(["HEADER", DRAFT_HEADER, draft_id])))
        return f"{appended[0]}:{appended[1]}:{draft_id}"

    @_network
    def read_draft(self, mailbox_ref: str) -> bytes | None:
        found = self._find(mailbox_ref)
        if found is None:
            return None
        folder, uid = found
        return self.client.fetch([uid], ["BODY.PEEK[]"])[uid][b"BODY[]"]

    def draft_editor(self, mailbox_ref: str) -> str | None:
        return None  # IMAP records no editor

    @_network
    def replace_draft(self, mailbox_ref: str, raw: bytes) -> None:
        found = self._find(mailbox_ref)
        if found is None:
            raise MailboxError(f"draft {mailbox_ref.split(':', 2)[2]} is no longer in the approval folder")
        folder, uid = found
        flags = [f for f in self.client.get_flags([uid]).get(uid, ()) if f not in (b"\\Recent",)]
        self.client.append(folder, raw, flags=flags or (b"\\Draft",))
        self._delete(folder, uid)

    def _delete(self, folder: str, uid: int) -> None:
        if self._selected != folder:
            self._select(folder)
        self.client.add_flags([uid], [b"\\Deleted"])
        if self.client.has_capability("UIDPLUS"):
            self.client.uid_expunge([uid])
        else:
            self.client.expunge()

    @_network
    def remove_draft(self, mailbox_ref: str) -> None:
        found = self._find(mailbox_ref)
        if found:
            self._delete(*found)

    # --- approval and labels ------------------------------------------------------

    def _approval_folders_unchanged(self) -> bool:
        """With CONDSTORE, nothing in the approval folders changed since a look
        that found no approvals: no need to read their flags again."""
        if not self.client.has_capability("CONDSTORE"):
            return False
        marks = tuple(self.client.folder_status(folder, ["HIGHESTMODSEQ"]).get(b"HIGHESTMODSEQ")
                      for folder in (self.settings.approval_folder, self.settings.approved_folder))
        unchanged = marks == self._quiet_marks
        self._looking_at = marks
        return unchanged

    @_network
    def approvals(self) -> list[MailboxApproval]:
        if self._approval_folders_unchanged():
            return []
        out = self._read_approvals()
        self._quiet_marks = self._looking_at if not out else None
        return out

    def _read_approvals(self) -> list[MailboxApproval]:
        s = self.settings
        wanted = s.approved_keyword.lower()
        out: list[MailboxApproval] = []
        self._select(s.approval_folder)
        uids = self.client.search(["HEADER", DRAFT_HEADER, "", "NOT", "DELETED"])
        if uids:
            validity = int(self.client.folder_status(s.approval_folder, ["UIDVALIDITY"])[b"UIDVALIDITY"])
            for uid, item in self.client.fetch(uids, ["FLAGS", f"BODY.PEEK[HEADER.FIELDS ({DRAFT_HEADER})]"]).items():
                for flag in item[b"FLAGS"]:
                    name = flag.decode(errors="replace") if isinstance(flag, bytes) else str(flag)
                    head, sep, who = name.partition("-") if "-" in name else name.partition("_")
                    if name.lower() == wanted or (sep and head.lower() == wanted and who):
                        draft_id = self._draft_id(item)
                        out.append(MailboxApproval(f"{validity}:{uid}:{draft_id}", draft_id, who.replace("_", " ").strip() or None))
                        break
        self._select(s.approved_folder)
        moved = self.client.search(["HEADER", DRAFT_HEADER, "", "NOT", "DELETED"])
        if moved:
            for uid, item in self.client.fetch(moved, [f"BODY.PEEK[HEADER.FIELDS ({DRAFT_HEADER})]"]).items():
                draft_id = self._draft_id(item)
                out.append(MailboxApproval(f"0:{uid}:{draft_id}", draft_id, None))
        return out

    @staticmethod
    def _draft_id(item: dict) -> str:
        header = next((v for k, v in item.items() if k.startswith(b"BODY[HEADER")), b"")
        return str(email.message_from_bytes(header, policy=email_policy.default).get(DRAFT_HEADER, "")).strip()

    @_network
    def refuse_approval(self, mailbox_ref: str, labels: list[str]) -> None:
        found = self._find(mailbox_ref)
        if found is None:
            return
        folder, uid = found
        if folder == self.settings.approved_folder:  # back to where drafts wait
            self._select(folder)
            raw = self.client.fetch([uid], ["BODY.PEEK[]"])[uid][b"BODY[]"]
            self.client.append(self.settings.approval_folder, raw, flags=(b"\\Draft",))
            self._delete(folder, uid)
            found = self._find(mailbox_ref)
            if found is None:
                return
            folder, uid = found
        wanted = self.settings.approved_keyword.lower()
        flags = self.client.get_flags([uid]).get(uid, ())
        approval = [f for f in flags if (f.decode(errors="replace") if isinstance(f, bytes) else f).lower().split("-")[0].split("_")[0] == wanted]
        if approval:
            self.client.remove_flags([uid], approval)
        self._label(uid, labels)

    @_network
    def set_labels(self, mailbox_ref: str, labels: list[str]) -> None:
        found = self._find(mailbox_ref)
        if found is not None:
            self._label(found[1], labels)

    def _label(self, uid: int, labels: list[str]) -> None:
        """Replace our keywords on the selected message with `labels`."""
        current = {(f.decode(errors="replace") if isinstance(f, bytes) else f) for f in self.client.get_flags([uid]).get(uid, ())}
        wanted = {keyword(label) for label in labels}
        stale = [f for f in current if OUR_LABELS.search(f) and f not in wanted]
        if stale:
            self.client.remove_flags([uid], stale)
        if wanted - current:
            self.client.add_flags([uid], sorted(wanted - current))

    # --- sending ---------------------------------------------------------------

    @_network
    def send(self, mailbox_ref: str | None, raw: bytes) -> str | None:
        sent = self.settings.sent_folder
        response = self.client.append(sent, raw, flags=(b"\\Seen", SENDING.encode()))
        appended = self._appended_uid(response)
        try:
            self.smtp.send(raw)
        except (SendRefused, Deferred):  # the server answered no: not sent, so no copy in Sent
            if appended:
                self._delete(sent, appended[1])
            raise  # a dropped connection leaves the marked copy: was_sent() then says "send again"
        message_id = message_id_of(raw)
        self._select(sent)
        uids = [appended[1]] if appended else self.client.search(["HEADER", "Message-ID", message_id])
        self.client.remove_flags(uids, [SENDING.encode()])
        if mailbox_ref:
            found = self._find(mailbox_ref)
            if found:
                self._delete(*found)
        return f"sent:{appended[0]}:{appended[1]}" if appended else None

    @_network
    def was_sent(self, message_id: str) -> bool:
        """A Sent copy without our 'sending' keyword means the server took it;
        one still carrying the keyword is deleted, and the draft goes again."""
        self._select(self.settings.sent_folder)
        uids = self.client.search(["HEADER", "Message-ID", message_id, "NOT", "DELETED"])
        if not uids:
            return False
        flags = self.client.get_flags(uids)
        if any(SENDING.encode() not in flags.get(uid, ()) for uid in uids):
            return True
        for uid in uids:
            self._delete(self.settings.sent_folder, uid)
        return False

    # --- waiting ---------------------------------------------------------------

    @_network
    def wait_for_mail(self, timeout: float, stop: threading.Event) -> None:
        """IMAP IDLE on the watched folder, in one-second slices so a stop
        request is seen at once; polling where the server has no IDLE."""
        timeout = min(timeout, IDLE_MAX)
        if not self.client.has_capability("IDLE"):
            stop.wait(timeout)
            return
        info = self._select(self.settings.folder)
        validity, _, done = (self.cursors.get(f"imap:{self.settings.folder}") or "0:0").partition(":")
        if int(validity) != int(info[b"UIDVALIDITY"]) or int(info.get(b"UIDNEXT", 0)) > int(done) + 1:
            return  # mail came after the last read and before this wait: IDLE would not tell of it
        deadline = time.monotonic() + timeout
        self.client.idle()
        early_empty = 0  # imapclient reports a closed connection as an immediate empty answer
        try:
            while not stop.is_set() and time.monotonic() < deadline:
                wait = min(1.0, max(0.05, deadline - time.monotonic()))
                started = time.monotonic()
                responses = self.client.idle_check(timeout=wait)
                if any(len(r) > 1 and r[1] in (b"EXISTS", b"RECENT") for r in responses):
                    return
                early_empty = early_empty + 1 if not responses and time.monotonic() - started < wait / 2 else 0
                if early_empty >= 3:
                    raise MailboxError("the IMAP server closed the connection during IDLE")
        finally:
            if self._client is not None:
                self.client.idle_done()
