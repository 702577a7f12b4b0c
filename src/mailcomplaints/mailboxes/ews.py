"""The Exchange Web Services backend (exchangelib), for Exchange Server on
premises. (Exchange Online is retiring EWS; use the Graph backend there.)

- The shared mailbox is reached by delegate access or impersonation as the
  configured service account (basic or NTLM), at the configured EWS URL or by
  autodiscover.
- New mail: SyncFolderItems; the sync state is the cursor, kept once every
  message read was stored. An invalid sync state starts a full sync; messages
  held are known by their ItemId, so nothing is duplicated. Delivery time is
  datetime_received and the conversation id goes to threading.
- Drafts are created from our MIME in the approval folder; officers see them
  in Outlook. Approval is the "Approved" category (the approver is the name
  Exchange records as the item's last modifier) or a move into the Approved
  folder. Deadlines are categories ("Ack due 25 Nov", "Overdue").
- Sending is the draft's own SendItem with a copy in Sent Items, so what goes
  is what the officer left.
- ErrorServerBusy is honoured: exchangelib's fault-tolerant retry policy waits
  for the back-off the server asks for (up to `max_wait` seconds).
- Wake-up: a pull subscription asked for new-mail events every two seconds,
  else (a server that refuses subscriptions) polling every `poll_seconds`.
"""

from __future__ import annotations

import email
import logging
import threading
import time
from dataclasses import dataclass
from email import policy as email_policy
from typing import Iterator

from mailcomplaints.drafting.compose import DRAFT_HEADER, message_id_of
from mailcomplaints.mailboxes.base import Delivered, MailboxApproval, MailboxError, SendRefused, translating_errors
from mailcomplaints.mailboxes.categories import relabelled, split_approval

log = logging.getLogger("mailcomplaints.ews")
FETCHED = ("mime_content", "datetime_received", "conversation_id")
PULL_SECONDS = 2.0  # how often a pull subscription is asked for new-mail events


@dataclass(frozen=True)
class EwsSettings:
    username: str
    password: str
    server_url: str | None = None  # https://mail.example.org/EWS/Exchange.asmx; None: autodiscover
    auth_type: str = "NTLM"  # NTLM | basic
    access: str = "delegate"  # delegate | impersonation
    ca_file: str | None = None
    folder: str = "inbox"
    approval_folder: str = "drafts"
    approved_folder: str = "Approved"
    approved_category: str = "Approved"
    approver: str = "approved in the mailbox"
    sent_folder: str = "sentitems"
    max_wait: int = 120  # the longest wait for a busy server before giving up this round


_network = translating_errors(
    lambda err: isinstance(err, (MailboxError, OSError)) or type(err).__module__.split(".")[0] in ("exchangelib", "requests", "urllib3"),
    lambda self: f"EWS {self.settings.server_url or 'autodiscover'}")


class EwsMailbox:
    def __init__(self, settings: EwsSettings, address: str, cursors):
        self.settings = settings
        self.address = address
        self.cursors = cursors
        self._account = None
        self._folders: dict[str, object] = {}
        self._unmarked: set[str] = set()
        self._pull: list | bool | None = None  # [subscription id, watermark]; False where the server refuses
        self.backlog = 0

    # --- connection ------------------------------------------------------------

    @property
    def account(self):
        if self._account is None:
            self._account = self._connect()
            self._folders = {}
        return self._account

    def _connect(self):
        from exchangelib import BASIC, DELEGATE, IMPERSONATION, NTLM, Account, Configuration, Credentials
        from exchangelib.protocol import BaseProtocol

        s = self.settings
        if s.ca_file:
            BaseProtocol.HTTP_ADAPTER_CLS = _adapter_for(s.ca_file)
        credentials = Credentials(s.username, s.password)
        config = Configuration(service_endpoint=s.server_url, credentials=credentials,
                               auth_type=BASIC if s.auth_type.lower() == "basic" else NTLM,
                               retry_policy=_retry_policy(s.max_wait)) if s.server_url else \
            Configuration(credentials=credentials, retry_policy=_retry_policy(s.max_wait))
        return Account(primary_smtp_address=self.address, config=config, autodiscover=not s.server_url,
                       access_type=IMPERSONATION if s.access == "impersonation" else DELEGATE)

    def close(self) -> None:
        account, pull, self._account, self._pull = self._account, self._pull, None, None
        if account is not None:
            try:
                if pull:  # Exchange asks clients to unsubscribe rather than let subscriptions lapse
                    self._folders.get(self.settings.folder, account.inbox).unsubscribe(pull[0])
            except Exception:  # noqa: BLE001 - the connection may be why we are closing
                pass
            try:
                account.protocol.close()
            except Exception:  # noqa: BLE001 - it may be gone already
                pass

    def _folder(self, name: str):
        """A distinguished folder, or one under the message folder root by name (created if missing)."""
        from exchangelib import Folder

        if name not in self._folders:
            known = {"inbox": "inbox", "drafts": "drafts", "sentitems": "sent", "deleteditems": "trash"}
            if name.lower() in known:
                self._folders[name] = getattr(self.account, known[name.lower()])
            else:
                root = self.account.msg_folder_root
                found = [f for f in root.children if f.name == name]
                if not found:
                    folder = Folder(parent=root, name=name)
                    folder.save()
                    found = [folder]
                self._folders[name] = found[0]
        return self._folders[name]

    # --- reading ---------------------------------------------------------------

    def _sync(self, folder_name: str, is_known, wait_for_marks: bool) -> Iterator[Delivered]:
        from exchangelib.errors import ErrorInvalidSyncStateData

        folder = self._folder(folder_name)
        name = f"ews:sync:{folder_name}"
        folder.item_sync_state = self.cursors.get(name)  # exchangelib reads None as "the state you hold", so set it
        try:
            created = [item for change, item in folder.sync_items(only_fields=["id", "changekey"]) if change == "create"]
        except ErrorInvalidSyncStateData:
            log.warning("ews sync state invalid folder=%s: reading the folder again", folder_name)
            folder.item_sync_state = None
            created = [item for change, item in folder.sync_items(only_fields=["id", "changekey"]) if change == "create"]
        new_state = folder.item_sync_state
        known = is_known([item.id for item in created]) if created else set()
        wanted = [item for item in created if item.id not in known]
        self.backlog = len(wanted)
        for start in range(0, len(wanted), 50):
            batch = wanted[start:start + 50]
            for item in self.account.fetch(ids=[(i.id, i.changekey) for i in batch], only_fields=list(FETCHED)):
                if isinstance(item, Exception):
                    continue  # gone meanwhile (moved or deleted): nothing to read
                if wait_for_marks:
                    self._unmarked.add(item.id)
                conversation = item.conversation_id.id if item.conversation_id else None
                yield Delivered(item.id, item.datetime_received, bytes(item.mime_content), conversation)
                self.backlog -= 1
        if not self._unmarked and new_state:
            self.cursors.set(name, new_state)

    def _subscribe(self) -> None:
        """A pull subscription on the watched folder, taken before a read so no
        mail falls between the read and the wait; False where the server refuses."""
        from exchangelib.errors import EWSError

        try:
            types = ["NewMailEvent", "CreatedEvent", "MovedEvent"]
            self._pull = list(self._folder(self.settings.folder).subscribe_to_pull(event_types=types, timeout=30))
        except EWSError as err:
            log.warning("ews pull notifications refused (%s): polling instead", type(err).__name__)
            self._pull = False

    @_network
    def new_messages(self, is_known) -> Iterator[Delivered]:
        self._unmarked = set()
        self._folder(self.settings.approved_folder)  # made on the first round, so officers can move drafts into it
        if self._pull is None:
            self._subscribe()
        yield from self._sync(self.settings.folder, is_known, wait_for_marks=True)

    @_network
    def sent_messages(self, is_known) -> Iterator[Delivered]:
        yield from self._sync(self.settings.sent_folder, is_known, wait_for_marks=False)

    def mark_processed(self, backend_id: str) -> None:
        self._unmarked.discard(backend_id)

    # --- drafts ----------------------------------------------------------------

    @staticmethod
    def _ref(item_id: str, message_id: str) -> str:
        """The ItemId (which changes when an officer moves the draft) and the Message-ID (which does not)."""
        return f"{item_id} {message_id}"

    def _draft(self, mailbox_ref: str, only: tuple[str, ...] = ("id", "changekey", "is_draft")):
        """The draft, by ItemId, else by Message-ID in the approval folders; None once gone or sent."""
        item_id, _, message_id = mailbox_ref.partition(" ")
        for item in self.account.fetch(ids=[item_id], only_fields=list(only)):
            if not isinstance(item, Exception) and item.is_draft:
                return item
        for folder in (self.settings.approval_folder, self.settings.approved_folder):
            found = list(self._folder(folder).filter(message_id=message_id).only(*only)) if message_id else []
            if found:
                return found[0]
        return None

    @_network
    def save_draft(self, draft_id: str, raw: bytes) -> str:
        """Idempotent: a draft already created (a crash before the database
        recorded it) is found by its Message-ID."""
        from exchangelib import Message

        message_id = message_id_of(raw)
        folder = self._folder(self.settings.approval_folder)
        existing = list(folder.filter(message_id=message_id).only("id")) if message_id else []
        if existing:
            return self._ref(existing[0].id, message_id)
        draft = Message(account=self.account, folder=folder, mime_content=raw)
        draft.save()
        return self._ref(draft.id, message_id)

    @_network
    def read_draft(self, mailbox_ref: str) -> bytes | None:
        item = self._draft(mailbox_ref, ("id", "changekey", "is_draft", "mime_content"))
        return bytes(item.mime_content) if item is not None else None

    @_network
    def draft_editor(self, mailbox_ref: str) -> str | None:
        item = self._draft(mailbox_ref, ("id", "changekey", "is_draft", "last_modified_name"))
        return item.last_modified_name if item is not None else None

    @_network
    def replace_draft(self, mailbox_ref: str, raw: bytes) -> None:
        """EWS cannot replace an item's MIME: the body is set and the PDF letter
        swapped, leaving the officer's other changes alone."""
        from exchangelib import Body, FileAttachment, HTMLBody

        item = self._draft(mailbox_ref, ("id", "changekey", "is_draft", "attachments"))
        if item is None:
            raise MailboxError("the draft is no longer in the approval folder")
        message = email.message_from_bytes(raw, policy=email_policy.default)
        html, text = message.get_body(("html",)), message.get_body(("plain",))
        item.body = HTMLBody(html.get_content()) if html else Body(text.get_content())
        item.save(update_fields=["body"])
        letters = {part.get_filename(): part for part in message.iter_attachments() if part.get_filename()}
        for attachment in list(item.attachments or []):
            if attachment.name in letters:
                item.detach(attachment)
        for name, part in letters.items():
            item.attach(FileAttachment(name=name, content=part.get_payload(decode=True), content_type=part.get_content_type()))

    @_network
    def remove_draft(self, mailbox_ref: str) -> None:
        item = self._draft(mailbox_ref)
        if item is not None:
            item.delete()

    # --- approval and labels ------------------------------------------------------

    @_network
    def approvals(self) -> list[MailboxApproval]:
        wanted = self.settings.approved_category.lower()
        out = []
        for item in self._folder(self.settings.approval_folder).all().only("id", "categories", "last_modified_name", "message_id"):
            for category in item.categories or []:
                head, who = split_approval(category)
                if head.lower() == wanted:
                    out.append(MailboxApproval(self._ref(item.id, item.message_id or ""), None, who or item.last_modified_name))
                    break
        for item in self._folder(self.settings.approved_folder).all().only("id", "last_modified_name", "message_id", "mime_content"):
            draft_id = str(email.message_from_bytes(bytes(item.mime_content or b""), policy=email_policy.default)
                           .get(DRAFT_HEADER, "")).strip() or None
            out.append(MailboxApproval(self._ref(item.id, item.message_id or ""), draft_id, item.last_modified_name))
        return out

    @_network
    def refuse_approval(self, mailbox_ref: str, labels: list[str]) -> None:
        item = self._draft(mailbox_ref, ("id", "changekey", "is_draft", "categories", "parent_folder_id"))
        if item is None:
            return
        approved = self._folder(self.settings.approved_folder)
        if item.parent_folder_id and item.parent_folder_id.id == approved.id:
            item.move(self._folder(self.settings.approval_folder))
            item = self._draft(mailbox_ref, ("id", "changekey", "is_draft", "categories"))
        item.categories = relabelled(list(item.categories or []), labels, drop_approval=self.settings.approved_category)
        item.save(update_fields=["categories"])

    @_network
    def set_labels(self, mailbox_ref: str, labels: list[str]) -> None:
        item = self._draft(mailbox_ref, ("id", "changekey", "is_draft", "categories"))
        if item is None:
            return
        current = list(item.categories or [])
        wanted = relabelled(current, labels)
        if wanted != current:
            item.categories = wanted
            item.save(update_fields=["categories"])

    # --- sending ---------------------------------------------------------------

    @_network
    def send(self, mailbox_ref: str | None, raw: bytes) -> str | None:
        from exchangelib import Message
        from exchangelib.errors import ErrorInvalidRecipients, ErrorMessageSizeExceeded

        try:
            item = self._draft(mailbox_ref) if mailbox_ref else None
            if item is not None:
                item.send(save_copy=True, copy_to_folder=self.account.sent)
            else:
                Message(account=self.account, folder=self.account.sent, mime_content=raw).send_and_save()
        except (ErrorInvalidRecipients, ErrorMessageSizeExceeded) as err:
            raise SendRefused(f"Exchange refused the message: {type(err).__name__}: {err}") from None
        message_id = message_id_of(raw)
        copies = list(self.account.sent.filter(message_id=message_id).only("id")) if message_id else []
        return copies[0].id if copies else None  # Exchange may file it a moment later: then known by its Message-ID

    @_network
    def was_sent(self, message_id: str) -> bool:
        return self.account.sent.filter(message_id=message_id).exists()

    @_network
    def wait_for_mail(self, timeout: float, stop: threading.Event) -> None:
        """A pull subscription on the watched folder, asked for events every
        few seconds (a cheap call, unlike a sync); where the server will not
        subscribe us, plain polling."""
        from exchangelib.errors import EWSError
        from exchangelib.properties import CreatedEvent, MovedEvent, NewMailEvent

        if self._pull is False:
            stop.wait(timeout)
            return
        folder = self._folder(self.settings.folder)
        if self._pull is None:  # lost: subscribe again, and read now, since mail may have come meanwhile
            self._subscribe()
            return
        deadline = time.monotonic() + timeout
        while not stop.is_set() and time.monotonic() < deadline:
            subscription, watermark = self._pull
            try:
                notifications = list(folder.get_events(subscription, watermark))
            except EWSError:
                self._pull = None  # expired or lost: subscribe again next time, and read now in case
                return
            for notification in notifications:
                for event in notification.events:
                    self._pull[1] = event.watermark or self._pull[1]
            if any(isinstance(e, (NewMailEvent, CreatedEvent, MovedEvent)) for n in notifications for e in n.events):
                return
            stop.wait(min(PULL_SECONDS, max(0.0, deadline - time.monotonic())))



def _retry_policy(max_wait: int):
    """exchangelib's fault tolerance (waiting out ErrorServerBusy for the
    back-off the server asks), except that a 401 is a wrong password on
    Exchange Server, reported at once rather than waited on as throttling."""
    from exchangelib.errors import UnauthorizedError
    from exchangelib.protocol import FaultTolerance

    class BusyOnly(FaultTolerance):
        def raise_response_errors(self, response):
            if response.status_code == 401:
                raise UnauthorizedError(f"invalid credentials for {response.url}")
            return super().raise_response_errors(response)

    return BusyOnly(max_wait=max_wait)


def _adapter_for(ca_file: str):
    """requests' adapter verifying the server against a private CA (exchangelib's documented hook)."""
    import requests.adapters

    class RootCAAdapter(requests.adapters.HTTPAdapter):
        def cert_verify(self, conn, url, verify, cert):
            super().cert_verify(conn=conn, url=url, verify=ca_file, cert=cert)

    return RootCAAdapter
