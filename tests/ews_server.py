"""A TEST DOUBLE of Exchange Web Services (EWS): one mailbox of an on-premises
Exchange Server 2016, as an in-process HTTPS server on 127.0.0.1.

Exchange cannot run here, so the EWS mailbox backend is tested against this: a
small, stateful server at https://127.0.0.1:PORT/EWS/Exchange.asmx that
answers the SOAP operations exchangelib sends, in the shapes Microsoft
documents (learn.microsoft.com/exchange/client-developer/web-service-reference:
messages.xsd and types.xsd, the operation pages and their error responses;
"EWS throttling in Exchange"; "EWS identifiers in Exchange"). It is not
Microsoft's code and knows nothing Microsoft does not document; where the
documentation leaves a behaviour open, the choice made is marked "Choice:".

    with FakeEws(tmp_path) as ews:
        class Adapter(requests.adapters.HTTPAdapter):       # trust ews.ca_file
            def cert_verify(self, conn, url, verify, cert):
                super().cert_verify(conn, url, str(ews.ca_file), cert)
        BaseProtocol.HTTP_ADAPTER_CLS = Adapter
        config = Configuration(service_endpoint=ews.url, auth_type=BASIC,
                               credentials=Credentials(ews.username, ews.password))
        account = Account(ews.mailbox, config=config, autodiscover=False, access_type=DELEGATE)
        ews.deliver(raw_mime)                                # mail arrives in the inbox
        changes = list(account.inbox.sync_items(only_fields=["message_id", "subject"]))

Trusting `ca_file`: exchangelib's requests sessions take no `verify=`, and
REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE (when set) decide what they trust; an
adapter that passes `ca_file` to cert_verify (exchangelib's documented
"custom HTTP adapter" hook) trusts this server whatever the environment says.
exchangelib caches one Protocol per (endpoint, credentials) for the process
(its retry policy included); `exchangelib.close_connections()` drops them.
Authentication is Basic only: a wrong password is HTTP 401.

Operations (everything else answers the SOAP fault WCF gives an unknown
action, and is noted in `errors`): ConvertId (exchangelib's version probe),
GetFolder, FindFolder, CreateFolder, DeleteFolder, SyncFolderItems, GetItem,
FindItem, CreateItem, UpdateItem, SendItem, DeleteItem, MoveItem, CopyItem,
CreateAttachment, DeleteAttachment, GetAttachment, and pull notifications:
Subscribe (PullSubscriptionRequest), GetEvents, Unsubscribe.

Folders: the distinguished folders root, msgfolderroot ("Top of Information
Store"), inbox, drafts, sentitems and deleteditems; others are made by
CreateFolder (or `add_folder`) and found by FindFolder, shallow or deep, with
or without a Restriction on folder:DisplayName. Other distinguished ids answer
ErrorFolderNotFound (exchangelib asks for some forty and skips those).

Identifiers behave as on Exchange on premises: an ItemId is bound to the
folder the item is in, so moving an item (MoveItem, SendItem's copy, an
officer dragging it, MoveToDeletedItems) gives it a new ItemId and the old one
answers ErrorItemNotFound; a ChangeKey changes with every change; the
ConversationId is shared by a thread (References / In-Reply-To).

Notifications: every change to an item is a row in the mailbox events table,
numbered; a Watermark names a row. A new item is a CreatedEvent (and, when it
came in by transport, a NewMailEvent), a change a ModifiedEvent, a move a
MovedEvent (new and old ItemId), a copy a CopiedEvent, a deletion a
DeletedEvent. A pull subscription on some folders hands its client, on each
GetEvents, the events of the types it asked for that happened in those folders
after the client's watermark, at most 50 at a time (MoreEvents), or a
StatusEvent when there are none. It ends after Timeout minutes without a
GetEvents (ErrorExpiredSubscription, then ErrorSubscriptionNotFound), on
Unsubscribe, or by `expire_subscriptions` (ErrorSubscriptionNotFound).

What the tests can do besides talking HTTP (the outside world, or an officer
in Outlook): `deliver`, `set_categories`, `edit_body`, `move`, `add_folder`,
`busy_next` (ErrorServerBusy), `expire_sync_state` (ErrorInvalidSyncStateData),
`expire_subscriptions` (ErrorSubscriptionNotFound);
and look: `items(folder)`, `sent_mime()`, `requests` (every exchange),
`errors` (this double's own failures).
"""

from __future__ import annotations

import base64
import copy
import gzip
import hashlib
import json
import re
import secrets
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, formataddr, getaddresses, make_msgid, parsedate_to_datetime
from pathlib import Path
from typing import Any, Callable, NamedTuple

from lxml import etree

from https_double import HOST, Handler, HttpsDouble, Mime, make_certificate

EWS_PATH = "/EWS/Exchange.asmx"

S = "http://schemas.xmlsoap.org/soap/envelope/"
M = "http://schemas.microsoft.com/exchange/services/2006/messages"
T = "http://schemas.microsoft.com/exchange/services/2006/types"
E = "http://schemas.microsoft.com/exchange/services/2006/errors"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
XSD = "http://www.w3.org/2001/XMLSchema"
_NS = {"s": S, "m": M, "t": T, "e": E}

# Exchange Server 2016 CU23, as its ServerVersionInfo header reads. "V2017_07_11"
# is what 2016 servers report as Version (exchangelib then keeps the version it asked for).
SERVER_VERSION = {"MajorVersion": "15", "MinorVersion": "1", "MajorBuildNumber": "2507",
                  "MinorBuildNumber": "6", "Version": "V2017_07_11"}
# RequestServerVersion values an Exchange 2016 server accepts.
REQUEST_VERSIONS = {"Exchange2007", "Exchange2007_SP1", "Exchange2010", "Exchange2010_SP1",
                    "Exchange2010_SP2", "Exchange2013", "Exchange2013_SP1", "Exchange2016"}

# Distinguished folders: id -> (display name, folder class, parent).
DISTINGUISHED = {
    "root": ("", None, None),
    "msgfolderroot": ("Top of Information Store", None, "root"),
    "inbox": ("Inbox", "IPF.Note", "msgfolderroot"),
    "drafts": ("Drafts", "IPF.Note", "msgfolderroot"),
    "sentitems": ("Sent Items", "IPF.Note", "msgfolderroot"),
    "deleteditems": ("Deleted Items", "IPF.Note", "msgfolderroot"),
}

_BUSY_TEXT = "The server cannot service this request right now. Try again later."
_NOT_FOUND_TEXT = ("The specified object was not found in the store., The process failed to get the correct "
                   "properties.")
_CONFLICT_TEXT = ("The send or update operation could not be performed because the change key passed in the "
                  "request does not match the current change key for the item.")


def _now() -> datetime:
    return datetime.now(timezone.utc).replace(microsecond=0)


def _ews_time(when: datetime | None) -> str | None:
    """xs:dateTime as Exchange writes it: UTC, whole seconds, a trailing Z."""
    if when is None:
        return None
    return when.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


class Exchange(NamedTuple):
    """One HTTP exchange, for assertions: the SOAP operation (the Body's first
    element, None when the body is not SOAP), the raw request body, the status."""
    operation: str | None
    body: bytes
    status: int


class EwsError(Exception):
    """A failed response message: ResponseClass="Error" with a ResponseCode."""

    def __init__(self, code: str, text: str, message_xml: etree._Element | None = None):
        super().__init__(f"{code}: {text}")
        self.code, self.text, self.message_xml = code, text, message_xml


class SoapFault(Exception):
    """A failure of the whole request: HTTP 500 with an s:Fault (as Exchange
    answers throttling, schema and version errors)."""

    def __init__(self, code: str, text: str, message_xml: etree._Element | None = None,
                 faultcode: str | None = None):
        super().__init__(f"{code}: {text}")
        self.code, self.text, self.message_xml = code, text, message_xml
        self.faultcode = faultcode


# --------------------------------------------------------------------------
# XML: building answers and reading requests.
# --------------------------------------------------------------------------

class Xml:
    """Small helpers over lxml with the s/m/t prefixes EWS uses."""

    parser = etree.XMLParser(resolve_entities=False, no_network=True, remove_blank_text=True,
                             huge_tree=True)

    @staticmethod
    def qname(tag: str) -> str:
        prefix, _, local = tag.partition(":")
        return f"{{{_NS[prefix]}}}{local}"

    @staticmethod
    def el(tag: str, text: Any = None, **attrs: Any) -> etree._Element:
        elem = etree.Element(Xml.qname(tag), nsmap={"m": M, "t": T})
        Xml._fill(elem, text, attrs)
        return elem

    @staticmethod
    def sub(parent: etree._Element, tag: str, text: Any = None, **attrs: Any) -> etree._Element:
        elem = etree.SubElement(parent, Xml.qname(tag))
        Xml._fill(elem, text, attrs)
        return elem

    @staticmethod
    def _fill(elem: etree._Element, text: Any, attrs: dict) -> None:
        for name, value in attrs.items():
            if value is not None:
                elem.set(name, Xml.text(value))
        if text is not None:
            elem.text = Xml.text(text)

    @staticmethod
    def text(value: Any) -> str:
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, datetime):
            return _ews_time(value) or ""
        # XML 1.0 cannot carry most control characters; Exchange drops them too.
        return re.sub(r"[\x00-\x08\x0b\x0c\x0e-\x1f]", "", str(value))

    @staticmethod
    def local(elem: etree._Element) -> str:
        return etree.QName(elem).localname if isinstance(elem.tag, str) else ""

    @staticmethod
    def find(elem: etree._Element | None, path: str) -> etree._Element | None:
        return None if elem is None else elem.find(path, _NS)

    @staticmethod
    def findall(elem: etree._Element | None, path: str) -> list[etree._Element]:
        return [] if elem is None else elem.findall(path, _NS)

    @staticmethod
    def bool(value: str | None, default: bool = False) -> bool:
        if value is None:
            return default
        return value.strip().lower() in ("true", "1")

    @staticmethod
    def datetime(value: str) -> datetime:
        when = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        return when if when.tzinfo else when.replace(tzinfo=timezone.utc)


# --------------------------------------------------------------------------
# Identifiers: opaque, base64, shaped like Exchange's.
# --------------------------------------------------------------------------

class Ids:
    """EwsIds like Exchange's ("AAMkA..."): a header, the mailbox GUID, then a
    store entry id. Entry ids are random per placement, so an item's id
    changes when it moves; ChangeKeys encode the item's version."""

    def __init__(self, mailbox: str):
        self.mailbox_guid = str(uuid.uuid5(uuid.NAMESPACE_DNS, mailbox.lower()))
        self._store = hashlib.sha1(mailbox.lower().encode()).digest()[:16]

    def _ews(self, kind: bytes, entry: bytes) -> str:
        return _b64(kind + b"\x24\x00" + self.mailbox_guid.encode() + b"\x00" + entry)

    def entry_of(self, ews_id: str) -> bytes | None:
        """The entry id inside an EwsId, or None if it is not one of ours."""
        try:
            raw = base64.b64decode(ews_id, validate=True)
        except ValueError:
            return None
        head = b"\x24\x00" + self.mailbox_guid.encode() + b"\x00"
        if len(raw) < 2 + len(head) or raw[2:2 + len(head)] != head:
            return None
        return raw[2 + len(head):]

    @staticmethod
    def well_formed(ews_id: str) -> bool:
        """Base64 of at least a header: what Exchange can parse as an id at all."""
        try:
            return len(base64.b64decode(ews_id, validate=True)) >= 8
        except ValueError:
            return False

    def new_item_id(self) -> tuple[str, bytes]:
        entry = b"\x00\x00\x00\x00" + self._store + b"\x07\x00" + secrets.token_bytes(24)
        return self._ews(b"\x00\x03", b"F\x00\x00\x00\x00" + entry), entry

    def new_folder_id(self) -> tuple[str, bytes]:
        entry = b"\x00\x00\x00\x00" + self._store + b"\x01\x00" + secrets.token_bytes(22)
        return self._ews(b"\x00\x03", b".\x00\x00\x00\x00" + entry), entry

    def conversation_id(self, guid: bytes) -> str:
        return _b64(b"\x00\x04\x24\x00" + self.mailbox_guid.encode() + b"\x00\x10\x00" + guid)

    @staticmethod
    def change_key(kind: int, key: int, version: int) -> str:
        header = bytes([kind, 0, 0, 0, 0x16, 0, 0, 0])
        return _b64(header + key.to_bytes(4, "big") + version.to_bytes(4, "big"))

    def watermark(self, number: int) -> str:
        """A Watermark: a row of this mailbox's events table. Choice: shaped
        like Exchange 2010's (a header, the mailbox GUID, the row as a
        little-endian counter), so one from another mailbox is invalid."""
        return _b64(b"\x01\x00\x00\x00" + uuid.UUID(self.mailbox_guid).bytes + number.to_bytes(8, "little")
                    + b"\x01")

    def watermark_number(self, watermark: str) -> int | None:
        """The row a Watermark names, or None if it is not one of this mailbox's."""
        try:
            raw = base64.b64decode(watermark.strip(), validate=True)
        except ValueError:
            return None
        if (len(raw) != 29 or raw[:4] != b"\x01\x00\x00\x00" or raw[4:20] != uuid.UUID(self.mailbox_guid).bytes
                or raw[28:] != b"\x01"):
            return None
        return int.from_bytes(raw[20:28], "little")

    @staticmethod
    def version_of(change_key: str, kind: int, key: int) -> int | None:
        """The version a ChangeKey names, or None if it is not a ChangeKey of this object."""
        try:
            raw = base64.b64decode(change_key or "", validate=True)
        except ValueError:
            return None
        if len(raw) != 16 or raw[0] != kind or int.from_bytes(raw[8:12], "big") != key:
            return None
        return int.from_bytes(raw[12:16], "big")


# --------------------------------------------------------------------------
# The mailbox: folders, items, and the change numbers sync states read.
# --------------------------------------------------------------------------

@dataclass
class Folder:
    key: str                  # internal; the distinguished id for distinguished folders
    id: str                   # FolderId
    entry: bytes
    display_name: str
    folder_class: str | None
    parent: str | None        # key of the parent folder
    distinguished: str | None = None
    version: int = 1

    @property
    def change_key(self) -> str:
        return Ids.change_key(0x01, int.from_bytes(hashlib.sha1(self.key.encode()).digest()[:4], "big"),
                              self.version)


@dataclass
class Item:
    """One message. `key` is internal and never changes; `id` (the ItemId) is
    new for every folder the item lands in. `seq` is the change number of its
    last change, `content_seq` of its last change other than the read flag."""
    key: int
    id: str
    entry: bytes
    folder: str
    mime: bytes
    is_draft: bool
    is_read: bool
    received: datetime
    sent: datetime | None
    created: datetime
    modified: datetime
    conversation: bytes       # 16-byte GUID shared by a thread
    seq: int
    content_seq: int
    categories: list[str] = field(default_factory=list)
    last_modified_name: str | None = None
    delivered: bool = False   # came in from outside (has transport headers)
    unmodified: bool = True
    version: int = 1
    changed: dict[str, int] = field(default_factory=dict)   # property group -> version changed at
    _parsed: tuple[bytes, EmailMessage] | None = None

    @property
    def parsed(self) -> EmailMessage:
        if self._parsed is None or self._parsed[0] is not self.mime:
            self._parsed = (self.mime, Mime.parse(self.mime))
        return self._parsed[1]

    @property
    def change_key(self) -> str:
        return Ids.change_key(0x09, self.key, self.version)

    @property
    def internet_message_id(self) -> str:
        return str(self.parsed.get("Message-ID", "")).strip()


@dataclass
class MailboxEvent:
    """A row of the mailbox events table: what happened to an item, and where
    (ids as they were then). `old_*` only for MovedEvent and CopiedEvent."""
    number: int
    kind: str                 # CreatedEvent, NewMailEvent, ModifiedEvent, MovedEvent, CopiedEvent, DeletedEvent
    time: datetime
    folder: str               # key of the item's parent folder
    item: tuple[str, str]     # (ItemId, ChangeKey)
    parent: tuple[str, str]   # the parent folder's (FolderId, ChangeKey)
    old_folder: str | None = None
    old_item: tuple[str, str] | None = None
    old_parent: tuple[str, str] | None = None


class Store:
    """The state of one mailbox. Every change takes the next change number; an
    item leaving a folder is logged with the ItemId it had there."""

    def __init__(self, address: str, modifier_name: str):
        self.address = address
        self.modifier_name = modifier_name   # LastModifiedName of changes made through EWS
        self.lock = threading.RLock()
        self.ids = Ids(address)
        self.folders: dict[str, Folder] = {}
        self.items: dict[int, Item] = {}
        self.by_id: dict[str, int] = {}
        self.removals: dict[str, int] = {}   # ItemId an item had in a folder it left -> change number
        self.sent: list[bytes] = []
        self.events: list[MailboxEvent] = []   # the events table: row n is events[n - 1]
        self.seq = 0
        self.sync_generation = 0
        self._next_key = 0
        for key, (name, folder_class, parent) in DISTINGUISHED.items():
            self._add_folder(key, name, folder_class, parent, distinguished=key)

    # -- folders ---------------------------------------------------------

    def _add_folder(self, key: str, name: str, folder_class: str | None, parent: str | None,
                    distinguished: str | None = None) -> Folder:
        folder_id, entry = self.ids.new_folder_id()
        folder = Folder(key, folder_id, entry, name, folder_class, parent, distinguished)
        self.folders[key] = folder
        return folder

    def create_folder(self, parent: Folder, name: str, folder_class: str | None) -> Folder:
        with self.lock:
            if not name.strip():
                raise EwsError("ErrorFolderSave",
                               "The folder save operation failed: the display name is empty.")
            if any(f.parent == parent.key and f.display_name.lower() == name.lower()
                   for f in self.folders.values()):
                raise EwsError("ErrorFolderExists", "A folder with the specified name already exists.")
            self._next_key += 1
            return self._add_folder(f"folder-{self._next_key}", name, folder_class, parent.key)

    def delete_folder(self, folder: Folder) -> None:
        with self.lock:
            if folder.distinguished:
                raise EwsError("ErrorDeleteDistinguishedFolder", "Distinguished folders cannot be deleted.")
            for child in [f for f in self.folders.values() if f.parent == folder.key]:
                self.delete_folder(child)
            for item in [i for i in self.items.values() if i.folder == folder.key]:
                self.delete(item)
            del self.folders[folder.key]

    def folder_by_key(self, key: str) -> Folder:
        return self.folders[key]

    def folder_by_id(self, folder_id: str) -> Folder:
        for folder in self.folders.values():
            if folder.id == folder_id:
                return folder
        if not Ids.well_formed(folder_id):
            raise EwsError("ErrorInvalidIdMalformed", "Id is malformed.")
        raise EwsError("ErrorFolderNotFound", "The specified folder could not be found in the store.")

    def folder_by_name(self, name: str) -> Folder:
        """For test hooks: a distinguished id, a FolderId, or a display name."""
        key = name.lower()
        if key in self.folders:
            return self.folders[key]
        for folder in self.folders.values():
            if folder.id == name or folder.display_name.lower() == key:
                return folder
        raise KeyError(f"no folder {name!r}")

    def children(self, folder: Folder) -> list[Folder]:
        return [f for f in self.folders.values() if f.parent == folder.key]

    def descendants(self, folder: Folder) -> list[Folder]:
        out = []
        for child in self.children(folder):
            out.append(child)
            out.extend(self.descendants(child))
        return out

    def items_in(self, folder: Folder) -> list[Item]:
        return sorted((i for i in self.items.values() if i.folder == folder.key),
                      key=lambda i: (i.received, i.key))

    # -- items -----------------------------------------------------------

    def item(self, item_id: str) -> Item:
        key = self.by_id.get(item_id)
        if key is None:
            if not Ids.well_formed(item_id):
                raise EwsError("ErrorInvalidIdMalformed", "Id is malformed.")
            raise EwsError("ErrorItemNotFound", _NOT_FOUND_TEXT)
        return self.items[key]

    def by_internet_id(self, internet_id: str) -> Item | None:
        wanted = internet_id.strip().lower()
        for item in self.items.values():
            if item.internet_message_id.lower() == wanted:
                return item
        return None

    def _tick(self) -> int:
        self.seq += 1
        return self.seq

    def announce(self, kind: str, item: Item, old: tuple[str, str, str] | None = None) -> None:
        """A row in the events table for `item` where it is now; `old` is
        (ItemId, ChangeKey, folder key) before a move or of a copy's source.
        Choice: only items raise events (a folder created or its counts
        changing raise none)."""
        with self.lock:
            folder = self.folders.get(item.folder)
            parent = (folder.id, folder.change_key) if folder else ("", "")
            event = MailboxEvent(len(self.events) + 1, kind, _now(), item.folder, (item.id, item.change_key), parent)
            if old is not None:
                was = self.folders.get(old[2])
                event.old_folder, event.old_item = old[2], (old[0], old[1])
                event.old_parent = (was.id, was.change_key) if was else ("", "")
            self.events.append(event)

    def store(self, raw: bytes, folder: Folder, is_draft: bool, received: datetime | None = None,
              modifier: str | None = None, delivered: bool = False, announce: bool = True) -> Item:
        """A new item: a CreatedEvent, and a NewMailEvent for mail that came by
        transport. Choice: NewMailEvent wherever the delivery lands (as an inbox
        rule filing it would), after the CreatedEvent."""
        with self.lock:
            parsed = Mime.parse(raw)
            if not parsed.get("Message-ID"):
                # Choice: Exchange gives every new item an Internet message id; this one's shape.
                del parsed["Message-ID"]
                parsed["Message-ID"] = make_msgid(domain=self.address.partition("@")[2] or "example.test")
                raw = Mime.dump(parsed)
            now = _now()
            try:
                sent = parsedate_to_datetime(str(parsed["Date"])) if parsed.get("Date") else None
                if sent is not None and sent.tzinfo is None:
                    sent = sent.replace(tzinfo=timezone.utc)
            except (TypeError, ValueError):
                sent = None
            self._next_key += 1
            item_id, entry = self.ids.new_item_id()
            seq = self._tick()
            item = Item(key=self._next_key, id=item_id, entry=entry, folder=folder.key, mime=raw,
                        is_draft=is_draft, is_read=is_draft,
                        received=(received or now).astimezone(timezone.utc).replace(microsecond=0),
                        sent=sent or (None if is_draft else now), created=now, modified=now,
                        conversation=self._conversation_of(parsed), seq=seq, content_seq=seq,
                        last_modified_name=modifier, delivered=delivered, unmodified=not is_draft)
            self.items[item.key] = item
            self.by_id[item.id] = item.key
            if announce:
                self.announce("CreatedEvent", item)
                if delivered:
                    self.announce("NewMailEvent", item)
            return item

    def _conversation_of(self, parsed: EmailMessage) -> bytes:
        """Same GUID for a thread: that of a stored message it replies to, else
        one derived from the thread's root Message-ID (first References entry)."""
        references = re.findall(r"<[^<>\s]+>", str(parsed.get("References", "")))
        in_reply_to = re.findall(r"<[^<>\s]+>", str(parsed.get("In-Reply-To", "")))
        for ref in in_reply_to + references[::-1]:
            known = self.by_internet_id(ref)
            if known is not None:
                return known.conversation
        root = (references or in_reply_to or [str(parsed.get("Message-ID", "")).strip()
                                               or secrets.token_hex(8)])[0]
        return hashlib.sha1(root.lower().encode()).digest()[:16]

    def bump(self, item: Item, groups: set[str], modifier: str | None) -> None:
        """A change to `groups` of the item's properties ("content", "categories",
        "read", "folder"): new change number, version and ChangeKey."""
        with self.lock:
            item.seq = self._tick()
            if groups - {"read"}:
                item.content_seq = item.seq
            item.version += 1
            for group in groups:
                item.changed[group] = item.version
            item.modified = _now()
            if groups & {"content", "categories"}:
                item.unmodified = False
            if modifier:
                item.last_modified_name = modifier
            if groups != {"folder"}:
                self.announce("ModifiedEvent", item)

    def move(self, item: Item, folder: Folder, modifier: str | None) -> None:
        """Into another folder, with a new ItemId (as on Exchange on premises)."""
        with self.lock:
            if item.folder == folder.key:
                return
            old = (item.id, item.change_key, item.folder)
            self.bump(item, {"folder"}, modifier)
            self.removals[item.id] = item.seq
            del self.by_id[item.id]
            item.id, item.entry = self.ids.new_item_id()
            item.folder = folder.key
            self.by_id[item.id] = item.key
            self.announce("MovedEvent", item, old)

    def copy(self, item: Item, folder: Folder) -> Item:
        with self.lock:
            twin = self.store(item.mime, folder, item.is_draft, item.received, self.modifier_name,
                              item.delivered, announce=False)
            twin.categories, twin.is_read, twin.sent = list(item.categories), item.is_read, item.sent
            twin.conversation = item.conversation
            # Choice: a copy is a CopiedEvent only (no CreatedEvent besides).
            self.announce("CopiedEvent", twin, (item.id, item.change_key, item.folder))
            return twin

    def delete(self, item: Item) -> None:
        with self.lock:
            self.announce("DeletedEvent", item)
            self.removals[item.id] = self._tick()
            del self.by_id[item.id]
            del self.items[item.key]

    def update(self, item: Item, modifier: str | None, *, mime: bytes | None = None,
               categories: list[str] | None = None, is_read: bool | None = None) -> None:
        with self.lock:
            groups = set()
            if mime is not None:
                item.mime, groups = mime, groups | {"content"}
            if categories is not None:
                item.categories, groups = list(categories), groups | {"categories"}
            if is_read is not None:
                item.is_read, groups = is_read, groups | {"read"}
            self.bump(item, groups, modifier)

    def _outgoing(self, raw: bytes) -> bytes:
        """What Exchange submits: needs a recipient; Message-ID, From and Date filled in when missing."""
        parsed = Mime.parse(raw)
        if not any(parsed.get_all(h) for h in ("To", "Cc", "Bcc")):
            raise EwsError("ErrorInvalidRecipients", "At least one recipient isn't valid.")
        changed = False
        if not parsed.get("Message-ID"):
            domain = self.address.partition("@")[2] or "example.test"
            parsed["Message-ID"], changed = make_msgid(domain=domain), True
        if not parsed.get("From"):
            parsed["From"], changed = self.address, True
        if not parsed.get("Date"):
            parsed["Date"], changed = format_datetime(_now()), True
        return Mime.dump(parsed) if changed else raw

    def send(self, item: Item, save_to: Folder | None) -> None:
        """Submit a draft: what goes out is recorded; the item then leaves its
        folder, for `save_to` (with a new ItemId) or for good."""
        with self.lock:
            if not item.is_draft:
                # Choice: only unsent items can be submitted (the docs name no code; this one fits).
                raise EwsError("ErrorInvalidOperation", "Only a draft (unsent) message can be sent.")
            outgoing = self._outgoing(item.mime)
            self.sent.append(outgoing)
            if save_to is None:
                self.delete(item)
                return
            item.mime, item.is_draft, item.is_read, item.sent = outgoing, False, True, _now()
            item.received = item.sent
            self.bump(item, {"content"}, self.modifier_name)
            self.move(item, save_to, self.modifier_name)

    def send_new(self, raw: bytes, save_to: Folder | None, categories: list[str]) -> None:
        """CreateItem with SendOnly / SendAndSaveCopy: submit at once."""
        with self.lock:
            outgoing = self._outgoing(raw)
            self.sent.append(outgoing)
            if save_to is not None:
                item = self.store(outgoing, save_to, is_draft=False, modifier=self.modifier_name)
                item.is_read, item.categories = True, list(categories)

    # -- attachments -----------------------------------------------------

    def attachments(self, item: Item) -> list[tuple[str, EmailMessage]]:
        """(AttachmentId, MIME part) for each attachment. An id is derived from
        the ItemId and the part's name and bytes: stable while both are."""
        out, seen = [], {}
        for part in Mime.attachment_parts(item.parsed):
            digest = hashlib.sha1(item.id.encode() + b"\0" + (part.get_filename() or "").encode()
                                  + b"\0" + Mime.part_bytes(part)).digest()[:12]
            seen[digest] = seen.get(digest, 0) + 1
            raw = b"\x00\x03\x24\x00" + item.entry[-24:] + b"\x01\x10\x00" + digest + bytes([seen[digest]])
            out.append((_b64(raw), part))
        return out

    def attachment(self, attachment_id: str) -> tuple[Item, int, EmailMessage]:
        for item in self.items.values():
            for index, (aid, part) in enumerate(self.attachments(item)):
                if aid == attachment_id:
                    return item, index, part
        if not Ids.well_formed(attachment_id):
            raise EwsError("ErrorInvalidIdMalformed", "Id is malformed.")
        raise EwsError("ErrorItemNotFound", "The specified object was not found in the store.")


# --------------------------------------------------------------------------
# Sync states: opaque, self-contained, gzip+base64 like Exchange's ("H4sI...").
# --------------------------------------------------------------------------

@dataclass
class SyncState:
    """What a client has been told about one folder: the ItemIds it knows and
    the change number it has seen up to."""
    folder: str
    seen: int
    known: set[str]
    generation: int

    def encode(self) -> str:
        data = json.dumps({"f": self.folder, "w": self.seen, "g": self.generation,
                           "k": sorted(self.known)}, separators=(",", ":")).encode()
        return _b64(gzip.compress(data, mtime=0))

    @classmethod
    def decode(cls, text: str, folder: Folder, generation: int) -> SyncState:
        try:
            data = json.loads(gzip.decompress(base64.b64decode(text.strip(), validate=True)))
            state = cls(str(data["f"]), int(data["w"]), set(data["k"]), int(data["g"]))
        except (ValueError, KeyError, TypeError, OSError, EOFError):
            state = None
        # Choice: a state for another folder is as invalid as a corrupt one.
        if state is None or state.generation != generation or state.folder != folder.key:
            raise EwsError("ErrorInvalidSyncStateData",
                           "Synchronization state data is corrupt or otherwise invalid.")
        return state


# --------------------------------------------------------------------------
# Properties: items and folders as XML, and what restrictions compare.
# --------------------------------------------------------------------------

def _mailbox_el(parent: etree._Element, tag: str, name: str, address: str, own: str) -> etree._Element:
    box = Xml.sub(parent, tag)
    Xml.sub(box, "t:Name", name or address)
    Xml.sub(box, "t:EmailAddress", address)
    Xml.sub(box, "t:RoutingType", "SMTP")
    Xml.sub(box, "t:MailboxType", "Mailbox" if address.lower() == own.lower() else "OneOff")
    return box


def _addresses(msg: EmailMessage, header: str) -> list[tuple[str, str]]:
    return [(name, address) for name, address in getaddresses([str(v) for v in msg.get_all(header, [])])
            if address]


def _importance(msg: EmailMessage) -> str:
    importance = str(msg.get("Importance", "")).strip().lower()
    priority = str(msg.get("X-Priority", "")).strip()[:1]
    if importance == "high" or priority in ("1", "2"):
        return "High"
    if importance == "low" or priority in ("4", "5"):
        return "Low"
    return "Normal"


def _topic(msg: EmailMessage) -> str:
    topic = str(msg.get("Thread-Topic", "")).strip()
    if topic:
        return topic
    return re.sub(r"^\s*((re|fw|fwd|aw|wg)\s*:\s*)+", "", str(msg.get("Subject", "")), flags=re.I)


class ItemProperties:
    """An item's properties by FieldURI, rendered in types.xsd's ItemType /
    MessageType order. Absent values are left out, as Exchange leaves them."""

    ORDER = [
        "item:MimeContent", "item:ItemId", "item:ParentFolderId", "item:ItemClass", "item:Subject",
        "item:Sensitivity", "item:Body", "item:Attachments", "item:DateTimeReceived", "item:Size",
        "item:Categories", "item:Importance", "item:InReplyTo", "item:IsSubmitted", "item:IsDraft",
        "item:IsFromMe", "item:IsResend", "item:IsUnmodified", "item:InternetMessageHeaders",
        "item:DateTimeSent", "item:DateTimeCreated", "item:ReminderIsSet", "item:ReminderMinutesBeforeStart",
        "item:DisplayCc", "item:DisplayTo", "item:HasAttachments", "item:Culture", "item:EffectiveRights",
        "item:LastModifiedName", "item:LastModifiedTime", "item:IsAssociated", "item:ConversationId",
        "item:UniqueBody", "item:TextBody",
        "message:Sender", "message:ToRecipients", "message:CcRecipients", "message:BccRecipients",
        "message:IsReadReceiptRequested", "message:IsDeliveryReceiptRequested", "message:ConversationIndex",
        "message:ConversationTopic", "message:From", "message:InternetMessageId", "message:IsRead",
        "message:IsResponseRequested", "message:References", "message:ReplyTo", "message:ReceivedBy",
        "message:ReceivedRepresenting",
    ]
    ID_ONLY = {"item:ItemId"}
    # Choice: the Default shape's message properties, as the ItemShape page lists them.
    DEFAULT = {"item:ItemId", "item:Subject", "item:HasAttachments", "item:IsAssociated",
               "message:ToRecipients", "message:From", "message:IsRead"}
    # AllProperties: everything but the streamed/converted ones, which must be asked for by name.
    ALL = set(ORDER) - {"item:MimeContent", "item:UniqueBody", "item:TextBody"}
    # FindItem cannot return these (ErrorInvalidPropertyRequest); GetItem can.
    NOT_IN_FIND = {"item:MimeContent", "item:Body", "item:UniqueBody", "item:TextBody", "item:Attachments"}

    def __init__(self, store: Store):
        self.store = store

    def render(self, item: Item, fields: set[str], body_type: str = "Best") -> etree._Element:
        elem = Xml.el("t:Message")
        msg = item.parsed
        own = self.store.address
        folder = self.store.folder_by_key(item.folder)
        for uri in self.ORDER:
            if uri not in fields:
                continue
            if uri == "item:MimeContent":
                Xml.sub(elem, "t:MimeContent", _b64(item.mime), CharacterSet="UTF-8")
            elif uri == "item:ItemId":
                Xml.sub(elem, "t:ItemId", Id=item.id, ChangeKey=item.change_key)
            elif uri == "item:ParentFolderId":
                Xml.sub(elem, "t:ParentFolderId", Id=folder.id, ChangeKey=folder.change_key)
            elif uri == "item:ItemClass":
                Xml.sub(elem, "t:ItemClass", "IPM.Note")
            elif uri == "item:Subject":
                if msg.get("Subject") is not None:
                    Xml.sub(elem, "t:Subject", str(msg.get("Subject")))
            elif uri == "item:Sensitivity":
                Xml.sub(elem, "t:Sensitivity", "Normal")
            elif uri in ("item:Body", "item:UniqueBody"):
                prefer = {"html": "html", "text": "text"}.get(body_type.lower())
                kind, content = Mime.body(msg, prefer)
                Xml.sub(elem, "t:" + uri.split(":")[1], content,
                        BodyType="HTML" if kind == "html" else "Text", IsTruncated=False)
            elif uri == "item:TextBody":
                Xml.sub(elem, "t:TextBody", Mime.body(msg, "text")[1], BodyType="Text", IsTruncated=False)
            elif uri == "item:Attachments":
                listing = self.store.attachments(item)
                if listing:
                    container = Xml.sub(elem, "t:Attachments")
                    for aid, part in listing:
                        self.attachment(container, aid, part, item, content=False)
            elif uri == "item:DateTimeReceived":
                Xml.sub(elem, "t:DateTimeReceived", item.received)
            elif uri == "item:Size":
                Xml.sub(elem, "t:Size", len(item.mime))
            elif uri == "item:Categories":
                if item.categories:
                    container = Xml.sub(elem, "t:Categories")
                    for category in item.categories:
                        Xml.sub(container, "t:String", category)
            elif uri == "item:Importance":
                Xml.sub(elem, "t:Importance", _importance(msg))
            elif uri == "item:InReplyTo":
                if msg.get("In-Reply-To"):
                    Xml.sub(elem, "t:InReplyTo", str(msg.get("In-Reply-To")).strip())
            elif uri == "item:IsSubmitted":
                Xml.sub(elem, "t:IsSubmitted", False)
            elif uri == "item:IsDraft":
                Xml.sub(elem, "t:IsDraft", item.is_draft)
            elif uri == "item:IsFromMe":
                Xml.sub(elem, "t:IsFromMe", any(a.lower() == own.lower() for _, a in _addresses(msg, "From")))
            elif uri == "item:IsResend":
                Xml.sub(elem, "t:IsResend", False)
            elif uri == "item:IsUnmodified":
                Xml.sub(elem, "t:IsUnmodified", item.unmodified)
            elif uri == "item:InternetMessageHeaders":
                # Choice: only mail that came through transport has headers (drafts have none).
                if item.delivered or not item.is_draft:
                    container = Xml.sub(elem, "t:InternetMessageHeaders")
                    for name, value in msg.items():
                        if name.lower() != "bcc":
                            Xml.sub(container, "t:InternetMessageHeader", str(value), HeaderName=name)
            elif uri == "item:DateTimeSent":
                Xml.sub(elem, "t:DateTimeSent", item.sent or item.created)
            elif uri == "item:DateTimeCreated":
                Xml.sub(elem, "t:DateTimeCreated", item.created)
            elif uri == "item:ReminderIsSet":
                Xml.sub(elem, "t:ReminderIsSet", False)
            elif uri == "item:ReminderMinutesBeforeStart":
                Xml.sub(elem, "t:ReminderMinutesBeforeStart", 0)
            elif uri in ("item:DisplayCc", "item:DisplayTo"):
                header = "Cc" if uri.endswith("Cc") else "To"
                Xml.sub(elem, "t:" + uri.split(":")[1], "; ".join(n or a for n, a in _addresses(msg, header)))
            elif uri == "item:HasAttachments":
                Xml.sub(elem, "t:HasAttachments", any(p.get_content_disposition() != "inline"
                                                      for _, p in self.store.attachments(item)))
            elif uri == "item:Culture":
                Xml.sub(elem, "t:Culture", "en-US")
            elif uri == "item:EffectiveRights":
                rights = Xml.sub(elem, "t:EffectiveRights")
                for name, value in (("CreateAssociated", False), ("CreateContents", False),
                                    ("CreateHierarchy", False), ("Delete", True), ("Modify", True),
                                    ("Read", True), ("ViewPrivateItems", True)):
                    Xml.sub(rights, "t:" + name, value)
            elif uri == "item:LastModifiedName":
                if item.last_modified_name:
                    Xml.sub(elem, "t:LastModifiedName", item.last_modified_name)
            elif uri == "item:LastModifiedTime":
                Xml.sub(elem, "t:LastModifiedTime", item.modified)
            elif uri == "item:IsAssociated":
                Xml.sub(elem, "t:IsAssociated", False)
            elif uri == "item:ConversationId":
                Xml.sub(elem, "t:ConversationId", Id=self.store.ids.conversation_id(item.conversation))
            elif uri in ("message:Sender", "message:From"):
                header = "From" if uri == "message:From" else ("Sender" if msg.get("Sender") else "From")
                found = _addresses(msg, header)
                if found:
                    holder = Xml.sub(elem, "t:" + uri.split(":")[1])
                    _mailbox_el(holder, "t:Mailbox", found[0][0], found[0][1], own)
            elif uri in ("message:ToRecipients", "message:CcRecipients", "message:BccRecipients",
                         "message:ReplyTo"):
                header = {"message:ToRecipients": "To", "message:CcRecipients": "Cc",
                          "message:BccRecipients": "Bcc", "message:ReplyTo": "Reply-To"}[uri]
                found = _addresses(msg, header)
                if found:
                    holder = Xml.sub(elem, "t:" + uri.split(":")[1])
                    for name, address in found:
                        _mailbox_el(holder, "t:Mailbox", name, address, own)
            elif uri in ("message:IsReadReceiptRequested", "message:IsDeliveryReceiptRequested",
                         "message:IsResponseRequested"):
                Xml.sub(elem, "t:" + uri.split(":")[1], False)
            elif uri == "message:ConversationIndex":
                index = str(msg.get("Thread-Index", "")).strip()
                made = b"\x01" + item.created.strftime("%y%m%d").encode()[:5] + item.conversation
                Xml.sub(elem, "t:ConversationIndex", index or _b64(made))
            elif uri == "message:ConversationTopic":
                Xml.sub(elem, "t:ConversationTopic", _topic(msg))
            elif uri == "message:InternetMessageId":
                if item.internet_message_id:
                    Xml.sub(elem, "t:InternetMessageId", item.internet_message_id)
            elif uri == "message:IsRead":
                Xml.sub(elem, "t:IsRead", item.is_read)
            elif uri == "message:References":
                if msg.get("References"):
                    Xml.sub(elem, "t:References", " ".join(str(msg.get("References")).split()))
            elif uri in ("message:ReceivedBy", "message:ReceivedRepresenting"):
                if item.delivered:
                    holder = Xml.sub(elem, "t:" + uri.split(":")[1])
                    _mailbox_el(holder, "t:Mailbox", "", own, own)
        return elem

    def attachment(self, parent: etree._Element, aid: str, part: EmailMessage, item: Item,
                   content: bool, root: bool = False) -> etree._Element:
        """A FileAttachment (or ItemAttachment, for message/rfc822 parts)."""
        data = Mime.part_bytes(part)
        is_item = part.get_content_type() == "message/rfc822"
        elem = Xml.sub(parent, "t:ItemAttachment" if is_item else "t:FileAttachment")
        if root:
            Xml.sub(elem, "t:AttachmentId", Id=aid, RootItemId=item.id, RootItemChangeKey=item.change_key)
        else:
            Xml.sub(elem, "t:AttachmentId", Id=aid)
        inner = Mime.parse(data) if is_item else None
        subject = str(inner.get("Subject", "")) if inner is not None else ""
        name = part.get_filename() or subject or "attachment"
        Xml.sub(elem, "t:Name", name)
        if not is_item:
            Xml.sub(elem, "t:ContentType", part.get_content_type())
        cid = str(part.get("Content-ID", "")).strip().strip("<>")
        if cid:
            Xml.sub(elem, "t:ContentId", cid)
        Xml.sub(elem, "t:Size", len(data))
        Xml.sub(elem, "t:LastModifiedTime", item.modified)
        Xml.sub(elem, "t:IsInline", part.get_content_disposition() == "inline")
        if is_item:
            if content and inner is not None:
                message = Xml.sub(elem, "t:Message")
                Xml.sub(message, "t:MimeContent", _b64(data), CharacterSet="UTF-8")
                Xml.sub(message, "t:ItemClass", "IPM.Note")
                Xml.sub(message, "t:Subject", str(inner.get("Subject", "")))
        else:
            Xml.sub(elem, "t:IsContactPhoto", False)
            if content:
                Xml.sub(elem, "t:Content", _b64(data))
        return elem

    def value(self, item: Item, uri: str) -> Any:
        """What a restriction or a sort compares: a str, bool, int, datetime or a
        list (multi-valued). Raises for properties Exchange cannot search."""
        msg = item.parsed
        getters: dict[str, Callable[[], Any]] = {
            "item:Subject": lambda: str(msg.get("Subject", "")),
            "item:ItemClass": lambda: "IPM.Note",
            "item:DateTimeReceived": lambda: item.received,
            "item:DateTimeSent": lambda: item.sent or item.created,
            "item:DateTimeCreated": lambda: item.created,
            "item:LastModifiedTime": lambda: item.modified,
            "item:LastModifiedName": lambda: item.last_modified_name or "",
            "item:Categories": lambda: list(item.categories),
            "item:IsDraft": lambda: item.is_draft,
            "item:HasAttachments": lambda: any(p.get_content_disposition() != "inline"
                                               for _, p in self.store.attachments(item)),
            "item:Importance": lambda: _importance(msg),
            "item:Size": lambda: len(item.mime),
            "item:InReplyTo": lambda: str(msg.get("In-Reply-To", "")).strip(),
            "item:DisplayTo": lambda: "; ".join(n or a for n, a in _addresses(msg, "To")),
            "item:DisplayCc": lambda: "; ".join(n or a for n, a in _addresses(msg, "Cc")),
            "item:ConversationId": lambda: self.store.ids.conversation_id(item.conversation),
            "message:InternetMessageId": lambda: item.internet_message_id,
            "message:IsRead": lambda: item.is_read,
            "message:References": lambda: " ".join(str(msg.get("References", "")).split()),
            "message:ConversationTopic": lambda: _topic(msg),
            "message:From": lambda: [a for _, a in _addresses(msg, "From")],
            "message:Sender": lambda: [a for _, a in _addresses(msg, "Sender") or _addresses(msg, "From")],
            "message:ToRecipients": lambda: [a for _, a in _addresses(msg, "To")],
            "message:CcRecipients": lambda: [a for _, a in _addresses(msg, "Cc")],
        }
        if uri not in getters:
            raise EwsError("ErrorUnsupportedPathForQuery",
                           f"The property path {uri} is not supported in a restriction or sort order.")
        return getters[uri]()


class FolderProperties:
    """A folder's properties by FieldURI, in types.xsd's FolderType order."""

    ORDER = ["folder:FolderId", "folder:ParentFolderId", "folder:FolderClass", "folder:DisplayName",
             "folder:TotalCount", "folder:ChildFolderCount", "folder:EffectiveRights",
             "folder:DistinguishedFolderId", "folder:UnreadCount"]
    ID_ONLY = {"folder:FolderId"}
    DEFAULT = {"folder:FolderId", "folder:DisplayName", "folder:TotalCount", "folder:ChildFolderCount",
               "folder:UnreadCount"}
    ALL = {"folder:FolderId", "folder:ParentFolderId", "folder:FolderClass", "folder:DisplayName",
           "folder:TotalCount", "folder:ChildFolderCount", "folder:EffectiveRights", "folder:UnreadCount"}

    def __init__(self, store: Store):
        self.store = store

    def render(self, folder: Folder, fields: set[str]) -> etree._Element:
        elem = Xml.el("t:Folder")
        items = self.store.items_in(folder)
        for uri in self.ORDER:
            if uri not in fields:
                continue
            if uri == "folder:FolderId":
                Xml.sub(elem, "t:FolderId", Id=folder.id, ChangeKey=folder.change_key)
            elif uri == "folder:ParentFolderId":
                if folder.parent:
                    parent = self.store.folder_by_key(folder.parent)
                    Xml.sub(elem, "t:ParentFolderId", Id=parent.id, ChangeKey=parent.change_key)
            elif uri == "folder:FolderClass":
                if folder.folder_class:
                    Xml.sub(elem, "t:FolderClass", folder.folder_class)
            elif uri == "folder:DisplayName":
                Xml.sub(elem, "t:DisplayName", folder.display_name)
            elif uri == "folder:TotalCount":
                Xml.sub(elem, "t:TotalCount", len(items))
            elif uri == "folder:ChildFolderCount":
                Xml.sub(elem, "t:ChildFolderCount", len(self.store.children(folder)))
            elif uri == "folder:EffectiveRights":
                rights = Xml.sub(elem, "t:EffectiveRights")
                for name in ("CreateAssociated", "CreateContents", "CreateHierarchy", "Delete", "Modify",
                             "Read", "ViewPrivateItems"):
                    Xml.sub(rights, "t:" + name, True)
            elif uri == "folder:DistinguishedFolderId":
                if folder.distinguished:
                    Xml.sub(elem, "t:DistinguishedFolderId", folder.distinguished)
            elif uri == "folder:UnreadCount":
                Xml.sub(elem, "t:UnreadCount", sum(not i.is_read for i in items))
        return elem

    def value(self, folder: Folder, uri: str) -> Any:
        getters = {
            "folder:DisplayName": lambda: folder.display_name,
            "folder:FolderClass": lambda: folder.folder_class or "",
            "folder:TotalCount": lambda: len(self.store.items_in(folder)),
            "folder:ChildFolderCount": lambda: len(self.store.children(folder)),
            "folder:UnreadCount": lambda: sum(not i.is_read for i in self.store.items_in(folder)),
        }
        if uri not in getters:
            raise EwsError("ErrorUnsupportedPathForQuery",
                           f"The property path {uri} is not supported in a restriction.")
        return getters[uri]()


def _shape_fields(shape: etree._Element | None, id_only: set[str], default: set[str],
                  all_: set[str]) -> set[str]:
    """BaseShape plus AdditionalProperties (FieldURIs; indexed and extended ones are ignored)."""
    base = (getattr(Xml.find(shape, "t:BaseShape"), "text", None) or "Default").strip()
    fields = set({"IdOnly": id_only, "Default": default, "AllProperties": all_}.get(base, default))
    for uri in Xml.findall(shape, "t:AdditionalProperties/t:FieldURI"):
        fields.add(uri.get("FieldURI", ""))
    if Xml.bool(getattr(Xml.find(shape, "t:IncludeMimeContent"), "text", None)):
        fields.add("item:MimeContent")
    return fields


# --------------------------------------------------------------------------
# Restrictions and sort orders (FindItem, FindFolder).
# --------------------------------------------------------------------------

class Restriction:
    """Evaluates a t:Restriction tree. Choice: string comparisons ignore case
    (as Exchange's default collation does); a multi-valued property matches
    IsEqualTo/Contains when any of its values does."""

    def __init__(self, value: Callable[[Any, str], Any]):
        self.value = value

    def matches(self, obj: Any, elem: etree._Element) -> bool:
        name = Xml.local(elem)
        if name == "Restriction":
            return all(self.matches(obj, child) for child in elem if isinstance(child.tag, str))
        if name == "And":
            return all(self.matches(obj, child) for child in elem if isinstance(child.tag, str))
        if name == "Or":
            return any(self.matches(obj, child) for child in elem if isinstance(child.tag, str))
        if name == "Not":
            return not all(self.matches(obj, child) for child in elem if isinstance(child.tag, str))
        uri_elem = Xml.find(elem, "t:FieldURI")
        if uri_elem is None:
            raise EwsError("ErrorUnsupportedPathForQuery",
                           "Only FieldURI properties can be used in this double's restrictions.")
        uri = uri_elem.get("FieldURI", "")
        actual = self.value(obj, uri)
        if name == "Exists":
            return actual not in (None, "", [])
        if name == "Contains":
            constant = Xml.find(elem, "t:Constant")
            return self._contains(actual, constant.get("Value", "") if constant is not None else "",
                                  elem.get("ContainmentMode", "FullString"),
                                  elem.get("ContainmentComparison", "Exact"))
        constant = Xml.find(elem, "t:FieldURIOrConstant/t:Constant")
        if constant is None:
            raise EwsError("ErrorUnsupportedQueryFilter", "Comparing two properties is not supported.")
        op = {"IsEqualTo": "eq", "IsNotEqualTo": "ne", "IsGreaterThan": "gt", "IsGreaterThanOrEqualTo": "ge",
              "IsLessThan": "lt", "IsLessThanOrEqualTo": "le"}.get(name)
        if op is None:
            raise EwsError("ErrorUnsupportedQueryFilter", f"The restriction {name} is not supported.")
        values = actual if isinstance(actual, list) else [actual]
        if op == "ne":
            return not any(self._compare(v, constant.get("Value", ""), "eq") for v in values)
        return any(self._compare(v, constant.get("Value", ""), op) for v in values)

    @staticmethod
    def _compare(actual: Any, literal: str, op: str) -> bool:
        try:
            if isinstance(actual, bool):
                other: Any = Xml.bool(literal)
            elif isinstance(actual, int):
                other = int(literal)
            elif isinstance(actual, datetime):
                other = Xml.datetime(literal)
            else:
                actual, other = str(actual).lower(), literal.lower()
        except ValueError:
            raise EwsError("ErrorInvalidValueForProperty", f"The value {literal!r} is invalid.") from None
        return {"eq": actual == other, "gt": actual > other, "ge": actual >= other,
                "lt": actual < other, "le": actual <= other}[op]

    @staticmethod
    def _contains(actual: Any, literal: str, mode: str, comparison: str) -> bool:
        values = actual if isinstance(actual, list) else [actual]
        ignore_case = "ignorecase" in comparison.lower()
        for value in values:
            text, wanted = str(value), literal
            if ignore_case:
                text, wanted = text.lower(), wanted.lower()
            if mode == "FullString" and text == wanted:
                return True
            if mode == "Prefixed" and text.startswith(wanted):
                return True
            if mode in ("Substring", "ExactPhrase") and wanted in text:
                return True
            if mode == "PrefixOnWords" and any(w.startswith(wanted) for w in re.split(r"\W+", text)):
                return True
        return False


def _sort(objs: list, sort_order: etree._Element | None, value: Callable[[Any, str], Any]) -> list:
    for order in reversed(Xml.findall(sort_order, "t:FieldOrder")):
        uri = Xml.find(order, "t:FieldURI")
        if uri is None:
            continue

        def key(obj: Any, _uri: str = uri.get("FieldURI", "")) -> Any:
            v = value(obj, _uri)
            v = v[0] if isinstance(v, list) and v else ("" if isinstance(v, list) else v)
            return v.lower() if isinstance(v, str) else v

        objs = sorted(objs, key=key, reverse=order.get("Order", "Ascending") == "Descending")
    return objs


def _page(objs: list, view: etree._Element | None) -> tuple[list, dict]:
    """IndexedPage(Item|Folder)View: a slice and the RootFolder paging attributes."""
    total = len(objs)
    if view is None:
        return objs, {"TotalItemsInView": total, "IncludesLastItemInRange": True}
    offset = int(view.get("Offset", "0") or 0)
    limit = int(view.get("MaxEntriesReturned", "0") or 0) or total
    if view.get("BasePoint", "Beginning") == "End":
        start = max(0, total - offset - limit)
        chunk = objs[start:total - offset] if offset < total else []
        next_offset = offset + len(chunk)
    else:
        chunk = objs[offset:offset + limit]
        next_offset = offset + len(chunk)
    return chunk, {"IndexedPagingOffset": next_offset, "TotalItemsInView": total,
                   "IncludesLastItemInRange": next_offset >= total}


# --------------------------------------------------------------------------
# Writing items: CreateItem's t:Message and UpdateItem's changes, onto MIME.
# --------------------------------------------------------------------------

class MessageFields:
    """The properties a t:Message element in a request sets, and how they land
    in the stored MIME. Choice: properties with no MIME counterpart that the
    double does not model (Sensitivity, reminders, receipt requests, Culture,
    extended properties) are accepted and ignored."""

    HEADERS = {"Subject": "Subject", "ToRecipients": "To", "CcRecipients": "Cc", "BccRecipients": "Bcc",
               "ReplyTo": "Reply-To", "From": "From", "Sender": "Sender", "InReplyTo": "In-Reply-To",
               "References": "References", "InternetMessageId": "Message-ID", "Importance": "Importance"}
    # Read-only once sent (types.xsd notes; exchangelib's is_read_only_after_send).
    FIXED_AFTER_SEND = {"MimeContent", "ToRecipients", "CcRecipients", "BccRecipients", "From", "Sender",
                        "ReplyTo", "InternetMessageId"}
    READ_ONLY = {"ItemId", "ParentFolderId", "DateTimeReceived", "Size", "IsDraft", "IsSubmitted", "IsFromMe",
                 "IsResend", "IsUnmodified", "DateTimeSent", "DateTimeCreated", "LastModifiedName",
                 "LastModifiedTime", "ConversationId", "HasAttachments", "DisplayTo", "DisplayCc",
                 "InternetMessageHeaders", "ConversationIndex", "ConversationTopic", "ReceivedBy",
                 "ReceivedRepresenting", "EffectiveRights", "IsAssociated", "UniqueBody", "TextBody"}

    @staticmethod
    def read(elem: etree._Element) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for child in elem:
            name = Xml.local(child)
            if name == "MimeContent":
                try:
                    out[name] = base64.b64decode("".join((child.text or "").split()), validate=True)
                except ValueError:
                    raise EwsError("ErrorMimeContentInvalidBase64String",
                                   "Invalid base64 string for MIME content.") from None
                if not Mime.looks_like_mime(out[name]):
                    raise EwsError("ErrorMimeContentConversionFailed", "Unable to convert MIME content.")
            elif name == "Body":
                out[name] = (child.get("BodyType", "Text"), child.text or "")
            elif name in ("ToRecipients", "CcRecipients", "BccRecipients", "ReplyTo"):
                out[name] = [MessageFields._mailbox(box) for box in Xml.findall(child, "t:Mailbox")]
            elif name in ("From", "Sender"):
                box = Xml.find(child, "t:Mailbox")
                out[name] = [MessageFields._mailbox(box)] if box is not None else []
            elif name == "Categories":
                out[name] = [s.text or "" for s in Xml.findall(child, "t:String")]
            elif name == "IsRead":
                out[name] = Xml.bool(child.text)
            elif name == "Attachments":
                out[name] = [MessageFields.attachment(a) for a in child if isinstance(a.tag, str)]
            else:
                out[name] = child.text or ""
        return out

    @staticmethod
    def _mailbox(box: etree._Element) -> tuple[str, str]:
        address = (getattr(Xml.find(box, "t:EmailAddress"), "text", "") or "").strip()
        if not address or "@" not in address:
            raise EwsError("ErrorInvalidRecipients", "At least one recipient isn't valid.")
        return ((getattr(Xml.find(box, "t:Name"), "text", "") or "").strip(), address)

    @staticmethod
    def attachment(elem: etree._Element) -> dict[str, Any]:
        if Xml.local(elem) != "FileAttachment":
            raise EwsError("ErrorInvalidRequest",
                           f"This double only takes file attachments, not {Xml.local(elem)}.")
        try:
            text = getattr(Xml.find(elem, "t:Content"), "text", "") or ""
            content = base64.b64decode("".join(text.split()), validate=True)
        except ValueError:
            raise EwsError("ErrorInvalidRequest", "Invalid base64 string for attachment content.") from None
        return {"name": getattr(Xml.find(elem, "t:Name"), "text", None) or "attachment",
                "content_type": getattr(Xml.find(elem, "t:ContentType"), "text", None)
                or "application/octet-stream",
                "content_id": getattr(Xml.find(elem, "t:ContentId"), "text", None),
                "inline": Xml.bool(getattr(Xml.find(elem, "t:IsInline"), "text", None)),
                "content": content}

    @staticmethod
    def apply(raw: bytes | None, fields: dict[str, Any], deleted: set[str] = frozenset()) -> bytes:
        """New MIME: `raw` (or an empty message) with `fields` set and `deleted` removed."""
        if "MimeContent" in fields:
            raw = fields["MimeContent"]
        fresh = raw is None
        if fresh:
            msg = EmailMessage(policy=SMTP)
            kind, text = fields.get("Body", ("Text", ""))
            msg.set_content(text, subtype="html" if kind.lower() == "html" else "plain", charset="utf-8")
            raw = Mime.dump(msg)
        msg = Mime.parse(raw)
        for name, header in MessageFields.HEADERS.items():
            if name in deleted:
                del msg[header]
            if name not in fields or name == "MimeContent":
                continue
            value = fields[name]
            if name == "Importance" and str(value).lower() == _importance(msg).lower():
                continue   # exchangelib always sends Importance; Normal adds no header
            del msg[header]
            if isinstance(value, list):
                if value:
                    # A Name that only repeats the address adds nothing (Exchange echoes it so).
                    msg[header] = ", ".join(formataddr(("" if n.lower() == a.lower() else n, a))
                                            for n, a in value)
            elif value:
                msg[header] = value if name != "Importance" else value.lower()
        if fresh:
            msg["Date"] = format_datetime(_now())
        raw = Mime.dump(msg)
        if "Body" in fields and "MimeContent" not in fields:
            kind, text = fields["Body"]
            raw = Mime.set_body(raw, text, "html" if kind.lower() == "html" else "text")
        elif "Body" in deleted:
            raw = Mime.set_body(raw, "", "text")
        for attachment in fields.get("Attachments", []):
            raw = Mime.add_attachment(raw, attachment["content"], attachment["name"],
                                      attachment["content_type"], attachment["inline"],
                                      attachment["content_id"])
        return raw


# --------------------------------------------------------------------------
# Pull subscriptions: what the Client Access server holds for a client.
# --------------------------------------------------------------------------

# What EventTypes may ask for (types.xsd NotificationEventTypeType).
EVENT_TYPES = {"CopiedEvent", "CreatedEvent", "DeletedEvent", "ModifiedEvent", "MovedEvent", "NewMailEvent",
               "FreeBusyChangedEvent"}
GET_EVENTS_BATCH = 50   # "the first 50 events from the queue" (GetEvents operation, Remarks)


@dataclass
class Subscription:
    """A pull subscription: its folders (None: SubscribeToAllFolders), the
    event types asked for, the events-table row handed out up to, and when
    it was last used (Subscribe or GetEvents), against its Timeout."""
    id: str
    folders: set[str] | None
    event_types: set[str]
    timeout_minutes: int
    position: int
    used: float

    def wants(self, event: MailboxEvent) -> bool:
        """Choice: a move or copy is reported to subscriptions on either folder."""
        if event.kind not in self.event_types:
            return False
        return self.folders is None or event.folder in self.folders or event.old_folder in self.folders

    def expired(self) -> bool:
        return time.monotonic() - self.used > self.timeout_minutes * 60


# --------------------------------------------------------------------------
# The EWS service: one SOAP request in, one SOAP envelope out.
# --------------------------------------------------------------------------

class EwsService:
    """Parses the envelope, checks RequestServerVersion, runs the operation and
    wraps the answer with a ServerVersionInfo header. Batch operations answer
    one response message per input, each Success or Error on its own."""

    OPERATIONS = ("ConvertId", "GetFolder", "FindFolder", "CreateFolder", "DeleteFolder", "SyncFolderItems",
                  "GetItem", "FindItem", "CreateItem", "UpdateItem", "SendItem", "DeleteItem", "MoveItem",
                  "CopyItem", "CreateAttachment", "DeleteAttachment", "GetAttachment", "Subscribe", "GetEvents",
                  "Unsubscribe")

    def __init__(self, fake: FakeEws):
        self.fake = fake
        self.store: Store = fake.store
        self.item_props = ItemProperties(self.store)
        self.folder_props = FolderProperties(self.store)
        self.busy: list[tuple[int, str]] = []   # (back off ms, style) for the next operations
        self.busy_lock = threading.Lock()
        self.subscriptions: dict[str, Subscription] = {}   # by SubscriptionId; kept under the store's lock

    # -- envelope --------------------------------------------------------

    @staticmethod
    def operation_of(body: bytes) -> str | None:
        try:
            root = etree.fromstring(body, Xml.parser)
        except etree.XMLSyntaxError:
            return None
        first = next((c for c in Xml.findall(root, "s:Body/*")), None)
        return Xml.local(first) if first is not None else None

    def handle(self, body: bytes) -> tuple[int, bytes]:
        try:
            try:
                root = etree.fromstring(body, Xml.parser)
            except etree.XMLSyntaxError as error:
                raise SoapFault("ErrorSchemaValidation",
                                f"The request failed schema validation: {error}.") from None
            if root.tag != f"{{{S}}}Envelope" or Xml.find(root, "s:Body") is None:
                raise SoapFault("ErrorSchemaValidation",
                                "The request failed schema validation: no SOAP envelope.")
            version = Xml.find(root, "s:Header/t:RequestServerVersion")
            if version is not None and version.get("Version") not in REQUEST_VERSIONS:
                raise SoapFault("ErrorInvalidServerVersion", "The specified server version is invalid.")
            if Xml.find(root, "s:Header/t:ExchangeImpersonation") is not None:
                # Choice: the service account has no impersonation right (it is a delegate).
                raise SoapFault("ErrorImpersonationDenied",
                                "The account does not have permission to impersonate the requested user.")
            request = next((c for c in Xml.findall(root, "s:Body/*")), None)
            name = Xml.local(request) if request is not None else ""
            with self.busy_lock:
                busy = self.busy.pop(0) if self.busy else None
            if busy is not None:
                return self.throttled(name, *busy)
            if request is None or request.tag != f"{{{M}}}{name}" or name not in self.OPERATIONS:
                self.fake.errors.append(f"ews_server: unsupported EWS operation {name!r}")
                # What WCF answers for an action the service does not have.
                raise SoapFault("ActionNotSupported",
                                f"The message with Action '{name}' cannot be processed at the receiver, due "
                                "to a ContractFilter mismatch at the EndpointDispatcher.",
                                faultcode="a:ActionNotSupported")
            with self.store.lock:
                messages = getattr(self, "op_" + name)(request)
            response = Xml.el(f"m:{name}Response")
            container = Xml.sub(response, "m:ResponseMessages")
            for message in messages:
                container.append(message)
            return 200, self.envelope(response)
        except SoapFault as fault:
            return 500, self.fault(fault)

    def envelope(self, response: etree._Element | None, header: bool = True) -> bytes:
        env = etree.Element(f"{{{S}}}Envelope", nsmap={"s": S})
        if header:
            head = etree.SubElement(env, f"{{{S}}}Header")
            info = etree.SubElement(head, f"{{{T}}}ServerVersionInfo", nsmap={"h": T, "xsd": XSD, "xsi": XSI})
            for name, value in SERVER_VERSION.items():
                info.set(name, value)
        body = etree.SubElement(env, f"{{{S}}}Body", nsmap={"xsi": XSI, "xsd": XSD})
        if response is not None:
            body.append(response)
        return etree.tostring(env, xml_declaration=True, encoding="utf-8")

    def fault(self, fault: SoapFault) -> bytes:
        """An s:Fault as Exchange sends it (faultcode in the types namespace, the
        ResponseCode and Message in the errors namespace, MessageXml in types)."""
        env = etree.Element(f"{{{S}}}Envelope", nsmap={"s": S})
        body = etree.SubElement(env, f"{{{S}}}Body")
        elem = etree.SubElement(body, f"{{{S}}}Fault")
        code = etree.SubElement(elem, "faultcode", nsmap={"a": T})
        code.text = fault.faultcode or f"a:{fault.code}"
        text = etree.SubElement(elem, "faultstring")
        text.set("{http://www.w3.org/XML/1998/namespace}lang", "en-US")
        text.text = fault.text
        if fault.faultcode is None:
            detail = etree.SubElement(elem, "detail")
            etree.SubElement(detail, f"{{{E}}}ResponseCode", nsmap={"e": E}).text = fault.code
            etree.SubElement(detail, f"{{{E}}}Message", nsmap={"e": E}).text = fault.text
            if fault.message_xml is not None:
                detail.append(copy.deepcopy(fault.message_xml))
        return etree.tostring(env, xml_declaration=True, encoding="utf-8")

    def throttled(self, name: str, back_off_ms: int, style: str) -> tuple[int, bytes]:
        """ErrorServerBusy with BackOffMilliseconds. As Exchange sends it (and as
        exchangelib reads the back-off): an HTTP 500 s:Fault. With style
        "response": a ResponseClass="Error" response message instead."""
        message_xml = etree.Element(f"{{{T}}}MessageXml", nsmap={"t": T})
        value = etree.SubElement(message_xml, f"{{{T}}}Value")
        value.set("Name", "BackOffMilliseconds")
        value.text = str(back_off_ms)
        if style == "fault":
            return 500, self.fault(SoapFault("ErrorServerBusy", _BUSY_TEXT, message_xml))
        response = Xml.el(f"m:{name or 'Unknown'}Response")
        container = Xml.sub(response, "m:ResponseMessages")
        container.append(self.error_message(name, EwsError("ErrorServerBusy", _BUSY_TEXT, message_xml)))
        return 200, self.envelope(response)

    # -- response messages -----------------------------------------------

    # The container an operation's error response messages still carry (empty).
    EMPTY_ON_ERROR = {"GetItem": "m:Items", "CreateItem": "m:Items", "UpdateItem": "m:Items",
                      "MoveItem": "m:Items", "CopyItem": "m:Items", "GetFolder": "m:Folders",
                      "CreateFolder": "m:Folders", "GetAttachment": "m:Attachments",
                      "CreateAttachment": "m:Attachments"}

    def ok(self, name: str) -> etree._Element:
        message = Xml.el(f"m:{name}ResponseMessage", ResponseClass="Success")
        Xml.sub(message, "m:ResponseCode", "NoError")
        return message

    def error_message(self, name: str, error: EwsError) -> etree._Element:
        message = Xml.el(f"m:{name}ResponseMessage", ResponseClass="Error")
        Xml.sub(message, "m:MessageText", error.text)
        Xml.sub(message, "m:ResponseCode", error.code)
        Xml.sub(message, "m:DescriptiveLinkKey", 0)
        if error.message_xml is not None:
            holder = Xml.sub(message, "m:MessageXml")
            for child in (error.message_xml if Xml.local(error.message_xml) == "MessageXml"
                          else [error.message_xml]):
                holder.append(copy.deepcopy(child))
        if name == "SyncFolderItems":
            # As the SyncFolderItems error example shows it.
            Xml.sub(message, "m:SyncState")
            Xml.sub(message, "m:IncludesLastItemInRange", True)
        elif name in self.EMPTY_ON_ERROR:
            Xml.sub(message, self.EMPTY_ON_ERROR[name])
        return message

    def each(self, name: str, things: list,
             fn: Callable[[etree._Element, Any], None]) -> list[etree._Element]:
        out = []
        for thing in things:
            message = self.ok(name)
            try:
                fn(message, thing)
            except EwsError as error:
                message = self.error_message(name, error)
            out.append(message)
        return out

    # -- ids in requests ---------------------------------------------------

    def folder(self, elem: etree._Element) -> Folder:
        """A t:FolderId or t:DistinguishedFolderId (with an optional t:Mailbox)."""
        if Xml.local(elem) == "DistinguishedFolderId":
            address = getattr(Xml.find(elem, "t:Mailbox/t:EmailAddress"), "text", None)
            if address and address.strip().lower() != self.store.address.lower():
                raise EwsError("ErrorNonExistentMailbox",
                               "The SMTP address has no mailbox associated with it.")
            key = elem.get("Id", "")
            if key not in DISTINGUISHED:
                raise EwsError("ErrorFolderNotFound", "The specified folder could not be found in the store.")
            return self.store.folder_by_key(key)
        if Xml.local(elem) == "FolderId":
            return self.store.folder_by_id(elem.get("Id", ""))
        raise EwsError("ErrorInvalidRequest", f"Unexpected folder id element {Xml.local(elem)}.")

    def folders_under(self, elem: etree._Element | None) -> list[etree._Element]:
        return [c for c in (elem if elem is not None else []) if isinstance(c.tag, str)]

    def check_change_key(self, item: Item, change_key: str | None, groups: set[str], resolution: str) -> None:
        """Choice: a stale ChangeKey is a conflict under NeverOverwrite; under
        AutoResolve only when a property being written was changed since that
        version (non-overlapping changes merge); AlwaysOverwrite ignores it."""
        if not change_key or resolution == "AlwaysOverwrite":
            return
        version = Ids.version_of(change_key, 0x09, item.key)
        if version is None:
            raise EwsError("ErrorInvalidChangeKey", "ChangeKey is invalid.")
        if version == item.version:
            return
        overlapping = any(item.changed.get(g, 0) > version for g in groups)
        if resolution == "NeverOverwrite" or overlapping or version > item.version:
            raise EwsError("ErrorIrresolvableConflict", _CONFLICT_TEXT)

    def saved_folder(self, request: etree._Element, default: str | None) -> Folder | None:
        target = Xml.find(request, "m:SavedItemFolderId")
        inner = self.folders_under(target)
        if inner:
            return self.folder(inner[0])
        return self.store.folder_by_key(default) if default else None

    # -- operations: ids and folders -------------------------------------

    def op_ConvertId(self, request: etree._Element) -> list[etree._Element]:
        """EwsId <-> EntryId / HexEntryId for our items and folders. exchangelib's
        version probe sends Id="DUMMY": ErrorInvalidIdMalformed (with the header
        it came for)."""
        destination = request.get("DestinationFormat", "EwsId")

        def convert(message: etree._Element, source: etree._Element) -> None:
            fmt, value = source.get("Format", "EwsId"), source.get("Id", "")
            entry = None
            if fmt == "EwsId":
                entry = self.store.ids.entry_of(value)
                entry = entry[5:] if entry and len(entry) > 5 else None
            elif fmt in ("EntryId", "HexEntryId"):
                try:
                    entry = (bytes.fromhex(value) if fmt == "HexEntryId"
                             else base64.b64decode(value, validate=True))
                except ValueError:
                    entry = None
            else:
                raise EwsError("ErrorInvalidIdMalformed",
                               f"The id format {fmt} is not supported by this double.")
            if not entry:
                raise EwsError("ErrorInvalidIdMalformed", "Id is malformed.")
            owner = next((o for o in [*self.store.items.values(), *self.store.folders.values()]
                          if o.entry == entry), None)
            if owner is None:
                raise EwsError("ErrorItemNotFound", "The specified object was not found in the store.")
            out = {"EwsId": owner.id, "EntryId": _b64(owner.entry), "HexEntryId": owner.entry.hex().upper()}
            if destination not in out:
                raise EwsError("ErrorInvalidIdMalformed", f"The id format {destination} is not supported.")
            alt = Xml.sub(message, "m:AlternateId", Format=destination, Id=out[destination],
                          Mailbox=source.get("Mailbox") or self.store.address)
            alt.set(f"{{{XSI}}}type", "t:AlternateIdType")

        return self.each("ConvertId", self.folders_under(Xml.find(request, "m:SourceIds")), convert)

    def op_GetFolder(self, request: etree._Element) -> list[etree._Element]:
        fields = _shape_fields(Xml.find(request, "m:FolderShape"), FolderProperties.ID_ONLY,
                               FolderProperties.DEFAULT, FolderProperties.ALL)

        def get(message: etree._Element, elem: etree._Element) -> None:
            folder = self.folder(elem)
            Xml.sub(message, "m:Folders").append(self.folder_props.render(folder, fields))

        return self.each("GetFolder", self.folders_under(Xml.find(request, "m:FolderIds")), get)

    def op_FindFolder(self, request: etree._Element) -> list[etree._Element]:
        fields = _shape_fields(Xml.find(request, "m:FolderShape"), FolderProperties.ID_ONLY,
                               FolderProperties.DEFAULT, FolderProperties.ALL)
        traversal = request.get("Traversal", "Shallow")
        restriction = Xml.find(request, "m:Restriction")
        view = Xml.find(request, "m:IndexedPageFolderView")

        def find(message: etree._Element, elem: etree._Element) -> None:
            parent = self.folder(elem)
            if traversal == "SoftDeleted":
                raise EwsError("ErrorInvalidRequest", "This double keeps no soft-deleted folders.")
            found = self.store.descendants(parent) if traversal == "Deep" else self.store.children(parent)
            if restriction is not None:
                test = Restriction(self.folder_props.value)
                found = [f for f in found if test.matches(f, restriction)]
            chunk, paging = _page(found, view)
            root = Xml.sub(message, "m:RootFolder", **paging)
            holder = Xml.sub(root, "t:Folders")
            for folder in chunk:
                holder.append(self.folder_props.render(folder, fields))

        return self.each("FindFolder", self.folders_under(Xml.find(request, "m:ParentFolderIds")), find)

    def op_CreateFolder(self, request: etree._Element) -> list[etree._Element]:
        parent_elems = self.folders_under(Xml.find(request, "m:ParentFolderId"))

        def create(message: etree._Element, elem: etree._Element) -> None:
            if not parent_elems:
                raise EwsError("ErrorInvalidRequest", "ParentFolderId is required.")
            parent = self.folder(parent_elems[0])
            name = getattr(Xml.find(elem, "t:DisplayName"), "text", None) or ""
            # Choice: a folder made without a FolderClass is a mail folder (as Outlook makes them).
            folder_class = getattr(Xml.find(elem, "t:FolderClass"), "text", None) or "IPF.Note"
            folder = self.store.create_folder(parent, name, folder_class)
            holder = Xml.sub(message, "m:Folders")
            holder.append(self.folder_props.render(folder, FolderProperties.ID_ONLY))

        return self.each("CreateFolder", self.folders_under(Xml.find(request, "m:Folders")), create)

    def op_DeleteFolder(self, request: etree._Element) -> list[etree._Element]:
        def delete(message: etree._Element, elem: etree._Element) -> None:
            self.store.delete_folder(self.folder(elem))

        return self.each("DeleteFolder", self.folders_under(Xml.find(request, "m:FolderIds")), delete)

    # -- operations: reading items ---------------------------------------

    def op_SyncFolderItems(self, request: etree._Element) -> list[etree._Element]:
        """Create / Update / ReadFlagChange / Delete since the SyncState, oldest
        change first, at most MaxChangesReturned (1-512) per call."""
        fields = _shape_fields(Xml.find(request, "m:ItemShape"), ItemProperties.ID_ONLY,
                               ItemProperties.DEFAULT, ItemProperties.ALL)
        body_type = getattr(Xml.find(request, "m:ItemShape/t:BodyType"), "text", None) or "Best"
        target = self.folders_under(Xml.find(request, "m:SyncFolderId"))
        state_text = (getattr(Xml.find(request, "m:SyncState"), "text", None) or "").strip()
        ignore = {e.get("Id") for e in Xml.findall(request, "m:Ignore/t:ItemId")}
        limit_text = getattr(Xml.find(request, "m:MaxChangesReturned"), "text", None) or "0"

        def sync(message: etree._Element, elem: etree._Element) -> None:
            limit = int(limit_text)
            if not 1 <= limit <= 512:
                raise EwsError("ErrorInvalidRequest", "MaxChangesReturned must be between 1 and 512.")
            folder = self.folder(elem)
            if state_text:
                state = SyncState.decode(state_text, folder, self.store.sync_generation)
            else:
                state = SyncState(folder.key, 0, set(), self.store.sync_generation)
            present = {i.id: i for i in self.store.items_in(folder) if i.id not in ignore}
            changes: list[tuple[int, str, Any]] = []
            for item_id, item in present.items():
                if item_id not in state.known:
                    changes.append((item.seq, "Create", item))
                elif item.seq > state.seen:
                    kind = "ReadFlagChange" if item.content_seq <= state.seen else "Update"
                    changes.append((item.seq, kind, item))
            for item_id in state.known - present.keys():
                if item_id not in ignore:
                    changes.append((self.store.removals.get(item_id, 0), "Delete", item_id))
            changes.sort(key=lambda c: c[0])
            chunk, more = changes[:limit], len(changes) > limit
            known = set(state.known)
            for _, kind, what in chunk:
                if kind == "Delete":
                    known.discard(what)
                else:
                    known.add(what.id)
            seen = chunk[-1][0] if more else self.store.seq
            new_state = SyncState(folder.key, max(seen, state.seen), known, self.store.sync_generation)
            Xml.sub(message, "m:SyncState", new_state.encode())
            Xml.sub(message, "m:IncludesLastItemInRange", not more)
            holder = Xml.sub(message, "m:Changes")
            for _, kind, what in chunk:
                change = Xml.sub(holder, f"t:{kind}")
                if kind == "Delete":
                    Xml.sub(change, "t:ItemId", Id=what)
                elif kind == "ReadFlagChange":
                    Xml.sub(change, "t:ItemId", Id=what.id, ChangeKey=what.change_key)
                    Xml.sub(change, "t:IsRead", what.is_read)
                else:
                    change.append(self.item_props.render(what, fields, body_type))

        return self.each("SyncFolderItems", target[:1], sync)

    def op_GetItem(self, request: etree._Element) -> list[etree._Element]:
        fields = _shape_fields(Xml.find(request, "m:ItemShape"), ItemProperties.ID_ONLY,
                               ItemProperties.DEFAULT, ItemProperties.ALL)
        body_type = getattr(Xml.find(request, "m:ItemShape/t:BodyType"), "text", None) or "Best"

        def get(message: etree._Element, elem: etree._Element) -> None:
            item = self.store.item(elem.get("Id", ""))
            Xml.sub(message, "m:Items").append(self.item_props.render(item, fields, body_type))

        return self.each("GetItem", self.folders_under(Xml.find(request, "m:ItemIds")), get)

    def op_FindItem(self, request: etree._Element) -> list[etree._Element]:
        """Items of each folder, filtered, sorted and paged. Choice: without a
        SortOrder, newest DateTimeReceived first (the default view's order)."""
        fields = _shape_fields(Xml.find(request, "m:ItemShape"), ItemProperties.ID_ONLY,
                               ItemProperties.DEFAULT, ItemProperties.ALL)
        explicit = {u.get("FieldURI")
                    for u in Xml.findall(request, "m:ItemShape/t:AdditionalProperties/t:FieldURI")}
        restriction = Xml.find(request, "m:Restriction")
        sort_order = Xml.find(request, "m:SortOrder")
        view = Xml.find(request, "m:IndexedPageItemView")
        traversal = request.get("Traversal", "Shallow")
        other_views = ("FractionalPageItemView", "CalendarView", "ContactsView",
                       "SeekToConditionPageItemView")
        other_view = next((c for c in request if Xml.local(c) in other_views), None)

        def find(message: etree._Element, elem: etree._Element) -> None:
            bad = sorted(explicit & ItemProperties.NOT_IN_FIND)
            if bad:
                uri = etree.Element(f"{{{T}}}FieldURI", nsmap={"t": T})
                uri.set("FieldURI", bad[0])
                raise EwsError("ErrorInvalidPropertyRequest",
                               "The property can't be used in FindItem requests.", uri)
            if other_view is not None:
                raise EwsError("ErrorInvalidRequest", f"This double pages with IndexedPageItemView only, "
                               f"not {Xml.local(other_view)}.")
            if Xml.find(request, "m:QueryString") is not None:
                raise EwsError("ErrorInvalidRequest", "This double does not search with QueryString (AQS).")
            folder = self.folder(elem)
            # Choice: no soft-deleted and no associated (FAI) items are kept.
            items = [] if traversal in ("SoftDeleted", "Associated") else self.store.items_in(folder)
            if restriction is not None:
                test = Restriction(self.item_props.value)
                items = [i for i in items if test.matches(i, restriction)]
            if sort_order is not None:
                items = _sort(items, sort_order, self.item_props.value)
            else:
                items = sorted(items, key=lambda i: (i.received, i.key), reverse=True)
            chunk, paging = _page(items, view)
            root = Xml.sub(message, "m:RootFolder", **paging)
            holder = Xml.sub(root, "t:Items")
            for item in chunk:
                holder.append(self.item_props.render(item, fields - ItemProperties.NOT_IN_FIND))

        return self.each("FindItem", self.folders_under(Xml.find(request, "m:ParentFolderIds")), find)

    def op_GetAttachment(self, request: etree._Element) -> list[etree._Element]:
        def get(message: etree._Element, elem: etree._Element) -> None:
            item, _, part = self.store.attachment(elem.get("Id", ""))
            holder = Xml.sub(message, "m:Attachments")
            self.item_props.attachment(holder, elem.get("Id", ""), part, item, content=True)

        return self.each("GetAttachment", self.folders_under(Xml.find(request, "m:AttachmentIds")), get)

    # -- operations: writing items ---------------------------------------

    def op_CreateItem(self, request: etree._Element) -> list[etree._Element]:
        """SaveOnly: an unsent item (IsDraft) in SavedItemFolderId, default
        drafts. SendOnly / SendAndSaveCopy: submitted at once, the copy in
        SavedItemFolderId, default sentitems; nothing returned in Items."""
        disposition = request.get("MessageDisposition", "SaveOnly")
        items = self.folders_under(Xml.find(request, "m:Items"))

        def create(message: etree._Element, elem: etree._Element) -> None:
            if Xml.local(elem) != "Message":
                raise EwsError("ErrorInvalidRequest",
                               f"This double stores messages only, not {Xml.local(elem)}.")
            fields = MessageFields.read(elem)
            raw = MessageFields.apply(None, fields)
            holder = Xml.sub(message, "m:Items")
            if disposition == "SaveOnly":
                folder = self.saved_folder(request, "drafts")
                item = self.store.store(raw, folder, is_draft=True, modifier=self.store.modifier_name)
                item.categories = list(fields.get("Categories", []))
                if "IsRead" in fields:
                    item.is_read = fields["IsRead"]
                answer = Xml.sub(holder, "t:Message")
                Xml.sub(answer, "t:ItemId", Id=item.id, ChangeKey=item.change_key)
                listing = self.store.attachments(item)
                if listing:
                    container = Xml.sub(answer, "t:Attachments")
                    for aid, part in listing:
                        self.item_props.attachment(container, aid, part, item, content=False)
            elif disposition in ("SendOnly", "SendAndSaveCopy"):
                save_to = (self.saved_folder(request, "sentitems") if disposition == "SendAndSaveCopy"
                           else None)
                self.store.send_new(raw, save_to, fields.get("Categories", []))
            else:
                raise EwsError("ErrorInvalidRequest", f"Unknown MessageDisposition {disposition}.")

        return self.each("CreateItem", items, create)

    # FieldURIs UpdateItem writes (see MessageFields), by the element name that carries their value.
    FIELD_NAMES = {uri: uri.split(":")[1] for uri in (
        "item:MimeContent", "item:Subject", "item:Body", "item:Categories", "item:Importance",
        "item:InReplyTo", "message:ToRecipients", "message:CcRecipients", "message:BccRecipients",
        "message:ReplyTo", "message:From", "message:Sender", "message:References",
        "message:InternetMessageId", "message:IsRead")}

    def op_UpdateItem(self, request: etree._Element) -> list[etree._Element]:
        """SetItemField / AppendToItemField / DeleteItemField on messages; the
        answer carries the new ChangeKey. MessageDisposition SendOnly /
        SendAndSaveCopy then submits the draft (and answers no Items)."""
        disposition = request.get("MessageDisposition", "SaveOnly")
        resolution = request.get("ConflictResolution", "AutoResolve")

        def update(message: etree._Element, change: etree._Element) -> None:
            id_elem = Xml.find(change, "t:ItemId")
            if id_elem is None:
                raise EwsError("ErrorInvalidRequest", "ItemChange needs an ItemId.")
            item = self.store.item(id_elem.get("Id", ""))
            fields: dict[str, Any] = {}
            deleted: set[str] = set()
            for op in Xml.findall(change, "t:Updates/*"):
                uri_elem = Xml.find(op, "t:FieldURI")
                uri = uri_elem.get("FieldURI", "") if uri_elem is not None else ""
                name = self.FIELD_NAMES.get(uri)
                short = uri.split(":")[-1]
                if short in MessageFields.READ_ONLY:
                    raise EwsError("ErrorInvalidPropertySet", "Set action is invalid for property.",
                                   uri_elem)
                if name is None:
                    continue   # see MessageFields: accepted, not modelled
                if not item.is_draft and name in MessageFields.FIXED_AFTER_SEND:
                    raise EwsError("ErrorInvalidPropertyUpdateSentMessage",
                                   "Properties of a sent message can't be updated.", uri_elem)
                kind = Xml.local(op)
                if kind == "DeleteItemField":
                    deleted.add(name)
                    fields.pop(name, None)
                    continue
                holder = next((c for c in op if Xml.local(c) in ("Message", "Item")), None)
                values = MessageFields.read(holder) if holder is not None else {}
                if name not in values:
                    raise EwsError("ErrorInvalidRequest", f"The update for {uri} carries no {name} value.")
                if kind == "AppendToItemField":
                    if name == "Body":
                        _, current = Mime.body(Mime.parse(MessageFields.apply(item.mime, fields)), None)
                        values[name] = (values[name][0], current + values[name][1])
                    elif isinstance(values[name], list):
                        current = (fields.get(name) if name in fields else
                                   item.categories if name == "Categories" else
                                   _addresses(item.parsed, MessageFields.HEADERS.get(name, name)))
                        values[name] = list(current or []) + values[name]
                fields[name] = values[name]
                deleted.discard(name)
            groups = set()
            if fields.keys() - {"Categories", "IsRead"} or deleted - {"Categories", "IsRead"}:
                groups.add("content")
            if "Categories" in fields or "Categories" in deleted:
                groups.add("categories")
            if "IsRead" in fields:
                groups.add("read")
            self.check_change_key(item, id_elem.get("ChangeKey"), groups, resolution)
            categories = ([] if "Categories" in deleted else fields.get("Categories"))
            mime_fields = {k: v for k, v in fields.items() if k not in ("Categories", "IsRead")}
            mime_deleted = deleted - {"Categories", "IsRead"}
            mime = None
            if mime_fields or mime_deleted:
                mime = MessageFields.apply(item.mime, mime_fields, mime_deleted)
            if groups:
                self.store.update(item, self.store.modifier_name, mime=mime, categories=categories,
                                  is_read=fields.get("IsRead"))
            if disposition in ("SendOnly", "SendAndSaveCopy"):
                save_to = (self.saved_folder(request, "sentitems") if disposition == "SendAndSaveCopy"
                           else None)
                self.store.send(item, save_to)
                Xml.sub(message, "m:Items")
            else:
                holder = Xml.sub(message, "m:Items")
                answer = Xml.sub(holder, "t:Message")
                Xml.sub(answer, "t:ItemId", Id=item.id, ChangeKey=item.change_key)
            results = Xml.sub(message, "m:ConflictResults")
            Xml.sub(results, "t:Count", 0)

        return self.each("UpdateItem", self.folders_under(Xml.find(request, "m:ItemChanges")), update)

    def op_SendItem(self, request: etree._Element) -> list[etree._Element]:
        """Submit drafts. SaveItemToFolder="true": the item goes to
        SavedItemFolderId (default sentitems) with a new ItemId, same
        InternetMessageId. A stale ChangeKey is ErrorIrresolvableConflict."""
        save = Xml.bool(request.get("SaveItemToFolder"), default=True)

        def send(message: etree._Element, elem: etree._Element) -> None:
            item = self.store.item(elem.get("Id", ""))
            change_key = elem.get("ChangeKey")
            if change_key and Ids.version_of(change_key, 0x09, item.key) != item.version:
                raise EwsError("ErrorIrresolvableConflict", _CONFLICT_TEXT)
            self.store.send(item, self.saved_folder(request, "sentitems") if save else None)

        return self.each("SendItem", self.folders_under(Xml.find(request, "m:ItemIds")), send)

    def op_DeleteItem(self, request: etree._Element) -> list[etree._Element]:
        """HardDelete and SoftDelete remove the item (this double keeps no
        Recoverable Items); MoveToDeletedItems moves it to deleteditems."""
        delete_type = request.get("DeleteType", "MoveToDeletedItems")

        def delete(message: etree._Element, elem: etree._Element) -> None:
            item = self.store.item(elem.get("Id", ""))
            trash = self.store.folder_by_key("deleteditems")
            if delete_type == "MoveToDeletedItems" and item.folder != trash.key:
                self.store.move(item, trash, self.store.modifier_name)
            else:
                self.store.delete(item)

        return self.each("DeleteItem", self.folders_under(Xml.find(request, "m:ItemIds")), delete)

    def op_MoveItem(self, request: etree._Element) -> list[etree._Element]:
        return self._move_or_copy("MoveItem", request)

    def op_CopyItem(self, request: etree._Element) -> list[etree._Element]:
        return self._move_or_copy("CopyItem", request)

    def _move_or_copy(self, name: str, request: etree._Element) -> list[etree._Element]:
        """The answer names the item in its new folder (ItemId and ChangeKey)."""
        target = self.folders_under(Xml.find(request, "m:ToFolderId"))

        def act(message: etree._Element, elem: etree._Element) -> None:
            if not target:
                raise EwsError("ErrorInvalidRequest", "ToFolderId is required.")
            folder = self.folder(target[0])
            item = self.store.item(elem.get("Id", ""))
            if name == "MoveItem":
                self.store.move(item, folder, self.store.modifier_name)
            else:
                item = self.store.copy(item, folder)
            holder = Xml.sub(message, "m:Items")
            Xml.sub(Xml.sub(holder, "t:Message"), "t:ItemId", Id=item.id, ChangeKey=item.change_key)

        return self.each(name, self.folders_under(Xml.find(request, "m:ItemIds")), act)

    def op_CreateAttachment(self, request: etree._Element) -> list[etree._Element]:
        """File attachments onto an item's MIME; each answer names the new
        AttachmentId with the item's new ChangeKey (RootItemChangeKey)."""
        parent = Xml.find(request, "m:ParentItemId")

        def attach(message: etree._Element, elem: etree._Element) -> None:
            if parent is None:
                raise EwsError("ErrorInvalidRequest", "ParentItemId is required.")
            item = self.store.item(parent.get("Id", ""))
            if not item.is_draft:
                # Choice: only unsent items take new attachments (the client only attaches to drafts).
                raise EwsError("ErrorInvalidPropertyUpdateSentMessage",
                               "Attachments of a sent message can't be changed.")
            data = MessageFields.attachment(elem)
            mime = Mime.add_attachment(item.mime, data["content"], data["name"], data["content_type"],
                                       data["inline"], data["content_id"])
            self.store.update(item, self.store.modifier_name, mime=mime)
            aid, part = self.store.attachments(item)[-1]
            holder = Xml.sub(message, "m:Attachments")
            self.item_props.attachment(holder, aid, part, item, content=False, root=True)

        return self.each("CreateAttachment", self.folders_under(Xml.find(request, "m:Attachments")), attach)

    def op_DeleteAttachment(self, request: etree._Element) -> list[etree._Element]:
        def detach(message: etree._Element, elem: etree._Element) -> None:
            item, index, _ = self.store.attachment(elem.get("Id", ""))
            if not item.is_draft:
                raise EwsError("ErrorInvalidPropertyUpdateSentMessage",
                               "Attachments of a sent message can't be changed.")
            self.store.update(item, self.store.modifier_name, mime=Mime.remove_part(item.mime, index))
            Xml.sub(message, "m:RootItemId", RootItemId=item.id, RootItemChangeKey=item.change_key)

        return self.each("DeleteAttachment", self.folders_under(Xml.find(request, "m:AttachmentIds")), detach)

    # -- operations: pull notifications ----------------------------------

    @staticmethod
    def _invalid(text: str) -> SoapFault:
        return SoapFault("ErrorSchemaValidation", f"The request failed schema validation: {text}")

    def op_Subscribe(self, request: etree._Element) -> list[etree._Element]:
        """A pull subscription on FolderIds (or SubscribeToAllFolders) for
        EventTypes, from now on, or from the row after a t:Watermark; answers
        its SubscriptionId and the watermark to ask GetEvents from. What the
        schema forbids (no or unknown EventTypes, a Timeout outside 1-1440
        minutes, an m:Watermark) is ErrorSchemaValidation."""
        pull = Xml.find(request, "m:PullSubscriptionRequest")
        types = [(e.text or "").strip() for e in Xml.findall(pull, "t:EventTypes/t:EventType")]
        timeout_text = (getattr(Xml.find(pull, "t:Timeout"), "text", None) or "").strip()
        if pull is not None:
            if not types or set(types) - EVENT_TYPES:
                raise self._invalid(f"The EventTypes {types} are not a non-empty list of "
                                    f"NotificationEventTypeType values.")
            if Xml.find(pull, "m:Watermark") is not None:
                # The types schema has Watermark (as FolderIds, EventTypes and Timeout) in its namespace;
                # exchangelib 5.6's subscribe_to_pull(watermark=...) writes it in the messages namespace.
                raise self._invalid(f"The element 'PullSubscriptionRequest' in namespace '{M}' has invalid "
                                    f"child element 'Watermark' in namespace '{M}'. List of possible elements "
                                    f"expected: 'Watermark, Timeout' in namespace '{T}'.")
            if not re.fullmatch(r"[0-9]+", timeout_text) or not 1 <= int(timeout_text) <= 1440:
                raise self._invalid(f"The 'Timeout' element is invalid - the value '{timeout_text}' is not an "
                                    f"integer from 1 to 1440.")
        all_folders = pull is not None and Xml.bool(pull.get("SubscribeToAllFolders"))

        def subscribe(message: etree._Element, _: etree._Element) -> None:
            if pull is None:
                other = next((Xml.local(c) for c in request if isinstance(c.tag, str)), "nothing")
                raise EwsError("ErrorInvalidRequest", f"This double takes pull subscriptions only, not {other}.")
            folder_elems = self.folders_under(Xml.find(pull, "t:FolderIds"))
            if not all_folders and not folder_elems:
                # Choice: the docs name no code for a subscription on no folder at all.
                raise EwsError("ErrorInvalidSubscriptionRequest",
                               "FolderIds is required unless SubscribeToAllFolders is true.")
            folders = None if all_folders else {self.folder(elem).key for elem in folder_elems}
            start = len(self.store.events)
            watermark = Xml.find(pull, "t:Watermark")
            if watermark is not None:
                start = self.store.ids.watermark_number(watermark.text or "")
                if start is None or start > len(self.store.events):
                    raise EwsError("ErrorInvalidWatermark", "The watermark is not in the mailbox events table.")
            # Choice: an opaque id (Exchange 2007's were GUIDs; later ones base64 of server and GUID).
            subscription_id = _b64(b"\x06\x00EXCH01" + uuid.uuid4().bytes)
            self.subscriptions[subscription_id] = Subscription(subscription_id, folders, set(types),
                                                               int(timeout_text), start, time.monotonic())
            Xml.sub(message, "m:SubscriptionId", subscription_id)
            Xml.sub(message, "m:Watermark", self.store.ids.watermark(start))

        return self.each("Subscribe", [request], subscribe)

    def _subscription(self, request: etree._Element) -> tuple[str, Subscription | None]:
        elem = Xml.find(request, "m:SubscriptionId")
        if elem is None or not (elem.text or "").strip():
            raise self._invalid(f"The element '{Xml.local(request)}' in namespace '{M}' has incomplete content. "
                                f"List of possible elements expected: 'SubscriptionId' in namespace '{M}'.")
        subscription_id = (elem.text or "").strip()
        return subscription_id, self.subscriptions.get(subscription_id)

    def op_GetEvents(self, request: etree._Element) -> list[etree._Element]:
        """The subscription's events after the Watermark (or after those handed
        out already: Choice, as a queue the docs describe, events handed out
        are not handed out again), oldest first, at most 50 with MoreEvents;
        none is a StatusEvent with the current watermark. Resets the Timeout.
        Idle past its Timeout: ErrorExpiredSubscription, and it is gone."""
        subscription_id, subscription = self._subscription(request)
        watermark_elem = Xml.find(request, "m:Watermark")
        if watermark_elem is None:
            raise self._invalid(f"The element 'GetEvents' in namespace '{M}' has incomplete content. List of "
                                f"possible elements expected: 'Watermark' in namespace '{M}'.")

        def get(message: etree._Element, _: etree._Element) -> None:
            if subscription is None:
                raise EwsError("ErrorSubscriptionNotFound", "The specified subscription was not found.")
            if subscription.expired():
                del self.subscriptions[subscription_id]
                raise EwsError("ErrorExpiredSubscription",
                               "Subscription information is not available. Subscription is expired.")
            given = self.store.ids.watermark_number(watermark_elem.text or "")
            if given is None or given > len(self.store.events):
                # Choice: the subscription survives a bad watermark.
                raise EwsError("ErrorInvalidWatermark", "The watermark is not in the mailbox events table.")
            start = max(given, subscription.position)
            pending = [e for e in self.store.events[start:] if subscription.wants(e)]
            batch, more = pending[:GET_EVENTS_BATCH], len(pending) > GET_EVENTS_BATCH
            notification = Xml.sub(message, "m:Notification")
            Xml.sub(notification, "t:SubscriptionId", subscription_id)
            Xml.sub(notification, "t:PreviousWatermark", self.store.ids.watermark(start))
            Xml.sub(notification, "t:MoreEvents", more)
            for event in batch:
                self.event_xml(notification, event)
            subscription.position = batch[-1].number if more else len(self.store.events)
            if not batch:
                status = Xml.sub(notification, "t:StatusEvent")
                Xml.sub(status, "t:Watermark", self.store.ids.watermark(subscription.position))
            subscription.used = time.monotonic()

        return self.each("GetEvents", [request], get)

    def event_xml(self, parent: etree._Element, event: MailboxEvent) -> etree._Element:
        """types.xsd's BaseObjectChangedEventType (MovedCopiedEventType for moves and copies)."""
        elem = Xml.sub(parent, f"t:{event.kind}")
        Xml.sub(elem, "t:Watermark", self.store.ids.watermark(event.number))
        Xml.sub(elem, "t:TimeStamp", event.time)
        Xml.sub(elem, "t:ItemId", Id=event.item[0], ChangeKey=event.item[1])
        Xml.sub(elem, "t:ParentFolderId", Id=event.parent[0], ChangeKey=event.parent[1])
        if event.old_item is not None and event.old_parent is not None:
            Xml.sub(elem, "t:OldItemId", Id=event.old_item[0], ChangeKey=event.old_item[1])
            Xml.sub(elem, "t:OldParentFolderId", Id=event.old_parent[0], ChangeKey=event.old_parent[1])
        return elem

    def op_Unsubscribe(self, request: etree._Element) -> list[etree._Element]:
        subscription_id, _ = self._subscription(request)

        def unsubscribe(message: etree._Element, _: etree._Element) -> None:
            if self.subscriptions.pop(subscription_id, None) is None:
                raise EwsError("ErrorSubscriptionNotFound", "The specified subscription was not found.")

        return self.each("Unsubscribe", [request], unsubscribe)


# --------------------------------------------------------------------------
# The double: https_double's server with Basic authentication and EWS's answers.
# --------------------------------------------------------------------------

class _Handler(Handler):
    server_version = "Microsoft-IIS/10.0 (FakeEws test double)"
    do_GET = do_POST = do_PUT = do_DELETE = Handler.dispatch


def _operation(body: bytes) -> str | None:
    """The SOAP operation a request asks for (None when the body is not SOAP)."""
    return EwsService.operation_of(body) if body else None


def _soap_headers() -> dict[str, str]:
    return {"Content-Type": "text/xml; charset=utf-8", "request-id": str(uuid.uuid4()),
            "X-FEServer": "EXCH01", "X-BEServer": "EXCH01"}


class FakeEws(HttpsDouble):
    """A test double of Exchange Web Services for one mailbox of an
    Exchange 2016 server, over HTTPS on 127.0.0.1 with Basic authentication. A
    context manager: the server runs inside `with`; the port is bound (and
    known) from __init__."""

    handler = _Handler
    requests: list[Exchange]

    def __init__(self, root: Path, mailbox: str = "complaints@example.test",
                 username: str = "EXAMPLE\\svc-complaints", password: str = "secret"):
        super().__init__(root, "ews")
        self.mailbox, self.username, self.password = mailbox, username, password
        # Choice: changes made through EWS record the service account's name
        # (its account part) as LastModifiedName; Exchange records the display name.
        self.service_display_name = username.rpartition("\\")[2]
        self.store = Store(mailbox, self.service_display_name)
        self.service = EwsService(self)
        self.url = f"https://{HOST}:{self.port}{EWS_PATH}"

    # -- answering (for https_double) --------------------------------------

    def _answer(self, handler: Handler, body: bytes) -> tuple[int, dict[str, str], bytes]:
        if handler.path.split("?")[0].lower() != EWS_PATH.lower():
            return 404, {"Content-Type": "text/html"}, (b"<html><body>404 - File or directory not found."
                                                         b"</body></html>")
        if not self._authorised(str(handler.headers.get("Authorization", ""))):
            # Choice: only Basic is offered (Negotiate and NTLM are not). No "Connection: close":
            # exchangelib takes that as ErrorServerBusy.
            return 401, {"WWW-Authenticate": f'Basic realm="{HOST}"', "Content-Type": "text/html"}, b""
        if handler.command != "POST":
            return 405, {"Allow": "POST", "Content-Type": "text/html"}, b""
        status, payload = self.service.handle(body)
        headers = _soap_headers()
        if str(handler.headers.get("X-PreferServerAffinity", "")).strip().lower() == "true":
            # "How to: Maintain affinity between a group of subscriptions and the Mailbox server":
            # the answer names the backend in a cookie the client sends back. Choice: its value.
            headers["Set-Cookie"] = f"X-BackEndOverrideCookie=EXCH01.example.test~{self.port}; path=/; secure; HttpOnly"
        return status, headers, payload

    def _authorised(self, authorization: str) -> bool:
        scheme, _, value = authorization.partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            raw = base64.b64decode(value.strip(), validate=True)
        except ValueError:
            return False
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            text = raw.decode("latin-1")
        user, _, password = text.partition(":")
        # Choice: Windows account names compare without case; passwords exactly.
        return user.lower() == self.username.lower() and secrets.compare_digest(password, self.password)

    def _internal_error(self) -> tuple[int, dict[str, str], bytes]:
        return 500, _soap_headers(), self.service.fault(SoapFault(
            "ErrorInternalServerError", "An internal server error occurred. The operation failed."))

    def _record(self, handler: Handler, body: bytes, status: int) -> Exchange:
        return Exchange(_operation(body), body, status)

    def _describe(self, handler: Handler, body: bytes) -> str:
        return str(_operation(body))

    # -- test hooks: the outside world and officers in Outlook -----------

    def deliver(self, mime: bytes, folder: str = "inbox", received: datetime | None = None) -> str:
        """Mail arrives (as from the Internet); returns its ItemId."""
        with self.store.lock:
            target = self.store.folder_by_name(folder)
            return self.store.store(mime, target, is_draft=False, received=received, delivered=True).id

    def add_folder(self, display_name: str, parent: str = "msgfolderroot") -> str:
        """An officer creates a mail folder in Outlook; returns its FolderId."""
        with self.store.lock:
            return self.store.create_folder(self.store.folder_by_name(parent), display_name, "IPF.Note").id

    def set_categories(self, item_id: str, categories: list[str], modified_by: str | None = None) -> None:
        """An officer sets categories in Outlook (LastModifiedName becomes `modified_by`)."""
        with self.store.lock:
            self.store.update(self.store.item(item_id), modified_by, categories=categories)

    def edit_body(self, item_id: str, text: str, modified_by: str | None = None) -> None:
        """An officer edits a draft's text in Outlook: its MIME body parts change."""
        with self.store.lock:
            item = self.store.item(item_id)
            self.store.update(item, modified_by, mime=Mime.set_body(item.mime, text, "text"))

    def move(self, item_id: str, folder: str, modified_by: str | None = None) -> str:
        """An officer drags an item into another folder (a distinguished id, a
        FolderId or a display name). Returns the item's new ItemId."""
        with self.store.lock:
            item = self.store.item(item_id)
            self.store.move(item, self.store.folder_by_name(folder), modified_by)
            return item.id

    def items(self, folder: str) -> list[dict]:
        """What a folder holds now (oldest first), for assertions."""
        with self.store.lock:
            target = self.store.folder_by_name(folder)
            return [{"id": i.id, "change_key": i.change_key, "mime": i.mime, "categories": list(i.categories),
                     "is_draft": i.is_draft, "is_read": i.is_read,
                     "internet_message_id": i.internet_message_id,
                     "subject": str(i.parsed.get("Subject", "")),
                     "conversation_id": self.store.ids.conversation_id(i.conversation),
                     "last_modified_name": i.last_modified_name,
                     "attachments": [p.get_filename() for p in Mime.attachment_parts(i.parsed)],
                     "datetime_received": i.received, "datetime_sent": i.sent}
                    for i in self.store.items_in(target)]

    def sent_mime(self) -> list[bytes]:
        """What went out (SendItem, CreateItem or UpdateItem that send), as MIME, in order."""
        with self.store.lock:
            return list(self.store.sent)

    def busy_next(self, count: int = 1, back_off_ms: int = 1000, style: str = "fault") -> None:
        """The next `count` operations (of any kind, exchangelib's version probe
        included) answer ErrorServerBusy with BackOffMilliseconds, changing
        nothing. style "fault" (what Exchange sends: HTTP 500, s:Fault) or
        "response" (a ResponseClass="Error" response message)."""
        if style not in ("fault", "response"):
            raise ValueError("style is 'fault' or 'response'")
        with self.service.busy_lock:
            self.service.busy.extend([(back_off_ms, style)] * count)

    def expire_sync_state(self) -> None:
        """Every SyncState issued so far now answers ErrorInvalidSyncStateData
        (a sync without a state starts over)."""
        with self.store.lock:
            self.store.sync_generation += 1

    def expire_subscriptions(self) -> None:
        """Every pull subscription is gone (as when the Client Access server
        restarts): their next GetEvents answers ErrorSubscriptionNotFound."""
        with self.store.lock:
            self.service.subscriptions.clear()


__all__ = ["Exchange", "FakeEws", "make_certificate"]
