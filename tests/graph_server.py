"""A TEST DOUBLE of Microsoft's services: Microsoft Graph v1.0 mail and the
Microsoft identity platform token endpoint, as an in-process HTTPS server.

Exchange Online cannot run here, so the Graph mail backend is tested against
this: a small, stateful server on 127.0.0.1 whose requests and responses
follow what Microsoft documents (learn.microsoft.com/graph: message delta,
create message from MIME, send, move, attachments and upload sessions,
throttling; learn.microsoft.com/entra: client-credentials tokens). It is not
Microsoft's code and knows nothing Microsoft does not document; where the
documentation leaves a behaviour open, the choice made is marked "Choice:".

    with FakeGraph(tmp_path) as graph:
        app = msal.ConfidentialClientApplication(
            graph.client_id, client_credential=graph.client_secret,
            authority=graph.authority, verify=str(graph.ca_file), instance_discovery=False)
        token = app.acquire_token_for_client(["https://graph.microsoft.com/.default"])
        graph.deliver(raw_mime)                       # mail arrives in the inbox
        httpx.get(f"{graph.graph_url}/users/{graph.mailbox}/mailFolders/inbox/messages/delta", ...)

Trusting `ca_file`: requests (under MSAL) lets REQUESTS_CA_BUNDLE or
CURL_CA_BUNDLE, when set, win over MSAL's `verify=`; so unset them in the
test (or point them at `ca_file`). httpx takes
`verify=ssl.create_default_context(cafile=str(ca_file))` (a str is
deprecated), or SSL_CERT_FILE=ca_file with its default verify=True.

What the tests can do besides talking HTTP (the outside world, or an officer
in Outlook): `deliver`, `set_categories`, `edit_body`, `move`, `add_folder`,
`fail_next` (429/503), `expire_delta_tokens` (410), `revoke_tokens` (401);
and look: `messages(folder)`, `sent_mime()`, `requests` (every exchange).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from email import policy as email_policy
from email.message import EmailMessage
from email.utils import formataddr, format_datetime, getaddresses, make_msgid, parsedate_to_datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit

from https_double import HOST, Handler, HttpsDouble, Mime, make_certificate

# Documented limits.
MAX_REQUEST_BYTES = 4 * 1024 * 1024      # Graph request size limit (413 above it)
MAX_POSTED_ATTACHMENT = 3 * 1024 * 1024  # POST .../attachments: "under 3 MB", else an upload session
MIN_SESSION_ATTACHMENT = 3 * 1024 * 1024  # createUploadSession: "between 3 MB and 150 MB"
MAX_SESSION_ATTACHMENT = 150 * 1024 * 1024
DEFAULT_PAGE_SIZE = 10                   # messages lists and delta pages
LAST_MODIFIER_NAME = "String 0x3ffa"     # PidTagLastModifierName, as Graph spells it back

WELL_KNOWN = {"inbox": "Inbox", "drafts": "Drafts", "sentitems": "Sent Items",
              "deleteditems": "Deleted Items"}
_FOLDER_PREFIX = "AAMkADg5ZmFrZS1ncmFwaAAuAAAAAAfld-"
_IMMUTABLE_PREFIX = "AAkALgAAAAAAHYQDEapmEc2byACqAC-EWg0A"
_REST_PREFIX = "AAMkADg5ZmFrZS1ncmFwaABGAAAAAA"
_JSON_TYPE = ("application/json;odata.metadata=minimal;odata.streaming=true;"
              "IEEE754Compatible=false;charset=utf-8")
_MESSAGE_PROPERTIES = {
    "id", "createdDateTime", "lastModifiedDateTime", "changeKey", "categories", "receivedDateTime",
    "sentDateTime", "hasAttachments", "internetMessageId", "subject", "bodyPreview", "importance",
    "parentFolderId", "conversationId", "conversationIndex", "isDeliveryReceiptRequested",
    "isReadReceiptRequested", "isRead", "isDraft", "webLink", "inferenceClassification", "body",
    "uniqueBody", "sender", "from", "toRecipients", "ccRecipients", "bccRecipients", "replyTo",
    "flag", "internetMessageHeaders", "singleValueExtendedProperties",
    "multiValueExtendedProperties", "attachments", "extensions"}
_PATCHABLE_ON_DRAFTS_ONLY = {"subject", "body", "toRecipients", "ccRecipients", "bccRecipients",
                             "replyTo", "from", "sender", "internetMessageHeaders"}


def _now() -> datetime:
    return datetime.now(timezone.utc).replace(microsecond=0)


def _iso(when: datetime | None) -> str | None:
    """Graph's date-time format: UTC, whole seconds, a trailing Z."""
    if when is None:
        return None
    return when.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


@dataclass
class Recorded:
    """One HTTP exchange, for assertions. `headers` has lower-case names;
    `path` is the raw request target (path and query, still percent-encoded)."""
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    status: int | None = None


class GraphError(Exception):
    """An error answer in Graph's shape: {"error": {"code", "message", "innerError"}}."""

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None):
        super().__init__(f"{status} {code}: {message}")
        self.status, self.code, self.message = status, code, message
        self.headers = headers or {}


def _not_found() -> GraphError:
    return GraphError(404, "ErrorItemNotFound", "The specified object was not found in the store.")


# --------------------------------------------------------------------------
# MIME: the stored form of every message (Graph's $value), edited in place
# with https_double.Mime; here a JSON message resource made into MIME.
# --------------------------------------------------------------------------

def _mime_from_json(data: dict, mailbox: str) -> bytes:
    """A message resource (subject, body, recipients, attachments...) as MIME."""
    msg = EmailMessage(policy=email_policy.SMTP)
    sender = data.get("from") or data.get("sender")
    if sender:
        msg["From"] = _format_recipient(sender)
    for header, key in (("To", "toRecipients"), ("Cc", "ccRecipients"),
                        ("Bcc", "bccRecipients"), ("Reply-To", "replyTo")):
        if data.get(key):
            msg[header] = ", ".join(_format_recipient(r) for r in data[key])
    msg["Subject"] = data.get("subject") or ""
    msg["Date"] = format_datetime(_now())
    msg["Message-ID"] = make_msgid(domain=mailbox.partition("@")[2] or "example.test")
    for header in data.get("internetMessageHeaders") or []:
        name = str(header.get("name", ""))
        if not name.lower().startswith("x-"):
            raise GraphError(400, "InvalidInternetMessageHeader",
                             f"The internet message header name '{name}' should start with 'x-' or 'X-'.")
        msg[name] = str(header.get("value", ""))
    body = data.get("body") or {}
    kind = str(body.get("contentType", "text")).lower()
    msg.set_content(body.get("content") or "", subtype="html" if kind == "html" else "plain",
                    charset="utf-8")
    raw = Mime.dump(msg)
    for attachment in data.get("attachments") or []:
        content = Attachments.decode_posted(attachment)
        raw = Mime.add_attachment(raw, content, attachment.get("name") or "attachment",
                                  attachment.get("contentType") or "application/octet-stream",
                                  bool(attachment.get("isInline")), attachment.get("contentId"))
    return raw


def _format_recipient(recipient: dict) -> str:
    address = (recipient or {}).get("emailAddress") or {}
    if not address.get("address"):
        raise GraphError(400, "ErrorInvalidRecipients", "At least one recipient isn't valid.")
    return formataddr((address.get("name") or "", address["address"]))


def _recipients(msg: EmailMessage, header: str) -> list[dict]:
    return [{"emailAddress": {"name": name or address, "address": address}}
            for name, address in getaddresses([str(v) for v in msg.get_all(header, [])]) if address]


# --------------------------------------------------------------------------
# The mailbox: folders, messages, and the change log delta queries read.
# --------------------------------------------------------------------------

@dataclass
class Folder:
    id: str
    display_name: str
    well_known: str | None = None


@dataclass
class Message:
    """One stored item. `id` is its immutable id; `seq` is the change number of
    its last change, `arrived_seq` when it entered its current folder."""
    id: str
    folder_id: str
    mime: bytes
    is_draft: bool
    received: datetime
    sent: datetime | None
    created: datetime
    modified: datetime
    conversation_id: str
    seq: int
    arrived_seq: int
    categories: list[str] = field(default_factory=list)
    is_read: bool = False
    extended: dict[str, str] = field(default_factory=dict)
    change: int = 1

    @property
    def parsed(self) -> EmailMessage:
        return Mime.parse(self.mime)

    @property
    def internet_message_id(self) -> str:
        return str(self.parsed.get("Message-ID", "")).strip()


class Mailbox:
    """The state of one mailbox. Every change takes the next change number, and
    leaving a folder is logged, so a delta query can say what changed since."""

    def __init__(self, address: str):
        self.address = address
        self.lock = threading.RLock()
        self.folders: dict[str, Folder] = {}
        self.messages: dict[str, Message] = {}
        self.removals: list[tuple[int, str, str]] = []  # (seq, folder id, message id)
        self.sent: list[bytes] = []
        self.seq = 0
        # Choice: changes made through Graph record this as the last modifier
        # (the docs do not say what Exchange records for app-only access).
        self.graph_modifier_name = address.partition("@")[0]
        for name, display in WELL_KNOWN.items():
            self.folders[_FOLDER_PREFIX + name] = Folder(_FOLDER_PREFIX + name, display, name)

    # -- lookups ---------------------------------------------------------

    def folder(self, key: str, by_name: bool = False) -> Folder:
        """By id or well-known name (as Graph takes them); by display name too for test hooks."""
        if key in self.folders:
            return self.folders[key]
        for folder in self.folders.values():
            if folder.well_known == key.lower() or (by_name and folder.display_name.lower() == key.lower()):
                return folder
        raise _not_found()

    def message(self, message_id: str) -> Message:
        """By immutable id, or by a default (folder-bound) id while it is still in that folder."""
        if message_id in self.messages:
            return self.messages[message_id]
        if message_id.startswith(_REST_PREFIX):
            try:
                encoded = message_id[len(_REST_PREFIX):].rstrip("=")
                decoded = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode()
                immutable, folder_id = decoded.split("|", 1)
            except (ValueError, UnicodeDecodeError):
                raise _not_found() from None
            msg = self.messages.get(immutable)
            if msg is not None and msg.folder_id == folder_id:
                return msg
        raise _not_found()

    def by_internet_id(self, internet_id: str) -> Message | None:
        for msg in self.messages.values():
            if msg.internet_message_id.lower() == internet_id.lower():
                return msg
        return None

    # -- changes ---------------------------------------------------------

    def _bump(self, msg: Message, modifier: str | None) -> None:
        self.seq += 1
        msg.seq = self.seq
        msg.modified = _now()
        msg.change += 1
        if modifier:
            msg.extended[LAST_MODIFIER_NAME] = modifier

    def add_folder(self, display_name: str) -> Folder:
        with self.lock:
            if any(f.display_name.lower() == display_name.lower() for f in self.folders.values()):
                raise GraphError(409, "ErrorFolderExists", "A folder with the specified name already exists.")
            folder = Folder(_FOLDER_PREFIX + secrets.token_hex(6), display_name)
            self.folders[folder.id] = folder
            return folder

    def store(self, raw: bytes, folder: Folder, is_draft: bool, received: datetime | None = None,
              modifier: str | None = None) -> Message:
        with self.lock:
            parsed = Mime.parse(raw)
            if not parsed.get("Message-ID"):
                parsed["Message-ID"] = make_msgid(domain=self.address.partition("@")[2] or "example.test")
                raw = Mime.dump(parsed)
            now = _now()
            try:
                sent = parsedate_to_datetime(str(parsed["Date"])) if parsed.get("Date") else None
                if sent is not None and sent.tzinfo is None:
                    sent = sent.replace(tzinfo=timezone.utc)
            except (TypeError, ValueError):
                sent = None
            self.seq += 1
            msg = Message(id=_IMMUTABLE_PREFIX + _b64(secrets.token_bytes(12)) + "AAA=",
                          folder_id=folder.id, mime=raw, is_draft=is_draft,
                          received=(received or now).astimezone(timezone.utc).replace(microsecond=0),
                          sent=sent or (None if is_draft else now), created=now, modified=now,
                          conversation_id=self._conversation_of(parsed), seq=self.seq,
                          arrived_seq=self.seq, is_read=is_draft)
            if modifier:
                msg.extended[LAST_MODIFIER_NAME] = modifier
            self.messages[msg.id] = msg
            return msg

    def _conversation_of(self, parsed: EmailMessage) -> str:
        """Same id for a thread: that of a stored message it replies to, else one
        derived from the thread's root Message-ID (first References entry)."""
        references = re.findall(r"<[^<>\s]+>", str(parsed.get("References", "")))
        in_reply_to = re.findall(r"<[^<>\s]+>", str(parsed.get("In-Reply-To", "")))
        for ref in in_reply_to + references[::-1]:
            known = self.by_internet_id(ref)
            if known is not None:
                return known.conversation_id
        root = (references or in_reply_to or [str(parsed.get("Message-ID", "")).strip()
                                               or secrets.token_hex(8)])[0]
        return "AAQkADg5ZmFrZS1ncmFwaAAQA" + _b64(hashlib.sha1(root.lower().encode()).digest())

    def move(self, msg: Message, folder: Folder, modifier: str | None) -> None:
        with self.lock:
            if msg.folder_id == folder.id:
                return
            self._bump(msg, modifier)
            self.removals.append((msg.seq, msg.folder_id, msg.id))
            msg.folder_id = folder.id
            msg.arrived_seq = msg.seq

    def delete(self, msg: Message) -> None:
        with self.lock:
            self.seq += 1
            self.removals.append((self.seq, msg.folder_id, msg.id))
            del self.messages[msg.id]

    def update(self, msg: Message, modifier: str | None, *, mime: bytes | None = None,
               categories: list[str] | None = None, is_read: bool | None = None) -> None:
        with self.lock:
            if mime is not None:
                msg.mime = mime
            if categories is not None:
                msg.categories = list(categories)
            if is_read is not None:
                msg.is_read = is_read
            self._bump(msg, modifier)

    def _outgoing(self, raw: bytes) -> bytes:
        """What Exchange submits: needs a recipient; From and Date filled in when missing."""
        parsed = Mime.parse(raw)
        if not any(parsed.get_all(h) for h in ("To", "Cc", "Bcc")):
            raise GraphError(400, "ErrorInvalidRecipients", "At least one recipient is required.")
        changed = False
        if not parsed.get("From"):
            parsed["From"], changed = self.address, True
        if not parsed.get("Date"):
            parsed["Date"], changed = format_datetime(_now()), True
        return Mime.dump(parsed) if changed else raw

    def send(self, msg: Message) -> None:
        """Submit a draft: what goes out is recorded; the item moves to Sent Items
        with the same immutable id (as documented for immutable ids)."""
        with self.lock:
            msg.mime = self._outgoing(msg.mime)
            msg.is_draft, msg.is_read, msg.sent = False, True, _now()
            self.move(msg, self.folder("sentitems"), self.graph_modifier_name)
            self.sent.append(msg.mime)

    def send_new(self, raw: bytes, save: bool) -> None:
        """sendMail: submit at once; a copy goes to Sent Items unless told not to."""
        with self.lock:
            raw = self._outgoing(raw)
            self.sent.append(raw)
            if save:
                msg = self.store(raw, self.folder("sentitems"), is_draft=False,
                                 modifier=self.graph_modifier_name)
                msg.is_read, msg.sent = True, _now()


# --------------------------------------------------------------------------
# Query options: $filter, $select, $expand, Prefer.
# --------------------------------------------------------------------------

_STRING = r"'((?:[^']|'')*)'"
_FILTER_CLAUSES = [
    ("internetMessageId", re.compile(rf"^internetMessageId\s+eq\s+{_STRING}$", re.I)),
    ("category", re.compile(rf"^categories/any\((\w+):\s*\1\s+eq\s+{_STRING}\)$", re.I)),
    ("date", re.compile(r"^(receivedDateTime|sentDateTime|lastModifiedDateTime)\s+(ge|gt|le|lt|eq)\s+(\S+)$",
                        re.I)),
    ("bool", re.compile(r"^(isDraft|isRead|hasAttachments)\s+eq\s+(true|false)$", re.I)),
    ("string", re.compile(rf"^(subject|conversationId|parentFolderId)\s+eq\s+{_STRING}$", re.I)),
]


def _split_and(expression: str) -> list[str]:
    """Split an OData filter on ' and ' outside quoted strings; drop outer brackets."""
    parts, current, quoted, i = [], "", False, 0
    while i < len(expression):
        ch = expression[i]
        if ch == "'":
            quoted = not quoted
        if not quoted and re.match(r"\s+and\s+", expression[i:], re.I):
            parts.append(current)
            current = ""
            i += len(re.match(r"\s+and\s+", expression[i:], re.I).group(0))
            continue
        current += ch
        i += 1
    parts.append(current)
    cleaned = []
    for part in parts:
        part = part.strip()
        while part.startswith("(") and part.endswith(")") and part.count("(") == part.count(")"):
            part = part[1:-1].strip()
        cleaned.append(part)
    return cleaned


def _parse_filter(expression: str) -> list[tuple]:
    """The filters Graph supports on messages that this double understands."""
    clauses = []
    for clause in _split_and(expression):
        for kind, pattern in _FILTER_CLAUSES:
            m = pattern.match(clause)
            if m:
                clauses.append((kind, m.groups()))
                break
        else:
            raise GraphError(400, "ErrorInvalidUrlQueryFilter",
                             f"The query filter contains one or more invalid nodes ({clause!r}).")
    return clauses


def _matches(msg: Message, clauses: list[tuple]) -> bool:
    for kind, groups in clauses:
        if kind == "internetMessageId":
            if msg.internet_message_id.lower() != groups[0].replace("''", "'").lower():
                return False
        elif kind == "category":
            wanted = groups[1].replace("''", "'").lower()
            if wanted not in (c.lower() for c in msg.categories):
                return False
        elif kind == "date":
            prop, op, literal = groups
            try:
                when = datetime.fromisoformat(literal.replace("Z", "+00:00"))
            except ValueError:
                raise GraphError(400, "BadRequest", f"Invalid date-time literal {literal!r}.") from None
            value = {"receiveddatetime": msg.received, "sentdatetime": msg.sent,
                     "lastmodifieddatetime": msg.modified}[prop.lower()]
            if value is None or not {"ge": value >= when, "gt": value > when, "le": value <= when,
                                     "lt": value < when, "eq": value == when}[op.lower()]:
                return False
        elif kind == "bool":
            prop, literal = groups
            value = {"isdraft": msg.is_draft, "isread": msg.is_read,
                     "hasattachments": bool(Mime.attachment_parts(msg.parsed))}[prop.lower()]
            if value != (literal.lower() == "true"):
                return False
        elif kind == "string":
            prop, literal = groups
            value = {"subject": str(msg.parsed.get("Subject", "")), "conversationid": msg.conversation_id,
                     "parentfolderid": msg.folder_id}[prop.lower()]
            if value.lower() != literal.replace("''", "'").lower():
                return False
    return True


@dataclass
class QueryOptions:
    """$select, $expand and the Prefer header, which shape each message's JSON."""
    select: set[str] | None = None
    expand_properties: list[str] | None = None   # ids asked for in singleValueExtendedProperties
    expand_attachments: bool = False
    immutable: bool = False
    body_type: str | None = None

    @classmethod
    def parse(cls, query: dict[str, str], prefer: str) -> QueryOptions:
        options = cls()
        if query.get("$select"):
            options.select = {s.strip() for s in query["$select"].split(",") if s.strip()}
        expand = query.get("$expand", "")
        if expand:
            m = re.search(r"singleValueExtendedProperties\(\$filter=(.*)\)", expand, re.I)
            if m:
                options.expand_properties = [_normalise_property_id(p)
                                             for p in re.findall(r"id\s+eq\s+'([^']*)'", m.group(1), re.I)]
            elif re.search(r"singleValueExtendedProperties", expand, re.I):
                raise GraphError(400, "ErrorInvalidUrlQuery",
                                 "Expanding singleValueExtendedProperties needs a $filter on id.")
            options.expand_attachments = bool(re.search(r"(^|,)\s*attachments\b", expand, re.I))
        options.immutable = bool(re.search(r'IdType\s*=\s*"?ImmutableId"?', prefer, re.I))
        m = re.search(r'outlook\.body-content-type\s*=\s*"?(text|html)"?', prefer, re.I)
        options.body_type = m.group(1).lower() if m else None
        return options


def _normalise_property_id(prop_id: str) -> str:
    """'String 0x3FFA' -> 'String 0x3ffa', as Graph echoes tagged property ids."""
    m = re.match(r"^\s*(\w+)\s+0x([0-9a-fA-F]+)\s*$", prop_id)
    if m:
        kind = next((k for k in ("String", "Integer", "Boolean", "Binary", "SystemTime", "Long", "Double",
                                 "Short", "CLSID", "Object", "Currency", "Float")
                     if k.lower() == m.group(1).lower()), m.group(1))
        return f"{kind} 0x{int(m.group(2), 16):x}"
    return prop_id.strip()


def _page_size(prefer: str, default: int) -> int:
    m = re.search(r"odata\.maxpagesize\s*=\s*(\d+)", prefer, re.I)
    return max(1, int(m.group(1))) if m else default


# --------------------------------------------------------------------------
# Delta query state: opaque skip and delta tokens, all kept server-side.
# --------------------------------------------------------------------------

@dataclass
class DeltaRound:
    """One round of a delta query: a fixed list of entries served page by page."""
    folder_id: str
    entries: list[tuple[str, str]]       # ("message" | "removed", message id)
    seq_end: int
    query: dict[str, str]
    page_size: int
    generation: int


class DeltaTokens:
    """Tokens are random keys to server-side state, so they are opaque and can
    be expired all at once (410 SyncStateNotFound). Tokens stay reusable: a
    retried page gives the same page."""

    def __init__(self) -> None:
        self.generation = 0
        self.rounds: dict[str, DeltaRound] = {}
        self.skip: dict[str, tuple[str, int]] = {}                 # token -> (round key, offset)
        self.delta: dict[str, tuple[str, int, dict, int]] = {}    # token -> (folder, seq, query, generation)

    def expire(self) -> None:
        self.generation += 1

    def new_token(self) -> str:
        return _b64(secrets.token_bytes(24))

    def check(self, generation: int) -> None:
        if generation != self.generation:
            raise GraphError(410, "SyncStateNotFound",
                             "The sync state generation was not found. Restart the synchronization.")


# --------------------------------------------------------------------------
# Identity: the token endpoint (client credentials) and its discovery document.
# --------------------------------------------------------------------------

class Identity:
    """The Microsoft identity platform's v2.0 endpoints MSAL uses for
    client-credentials: OpenID discovery, then POST .../oauth2/v2.0/token."""

    def __init__(self, base: str, tenant: str, client_id: str, client_secret: str):
        self.base, self.tenant = base, tenant
        self.client_id, self.client_secret = client_id, client_secret
        self.tokens: dict[str, datetime] = {}
        self.lock = threading.Lock()

    def configuration(self) -> dict:
        t = f"{self.base}/{self.tenant}"
        return {
            "token_endpoint": f"{t}/oauth2/v2.0/token",
            "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt",
                                                      "client_secret_basic"],
            "jwks_uri": f"{t}/discovery/v2.0/keys",
            "response_modes_supported": ["query", "fragment", "form_post"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "issuer": f"{t}/v2.0",
            "request_uri_parameter_supported": False,
            "userinfo_endpoint": f"{self.base}/oidc/userinfo",
            "authorization_endpoint": f"{t}/oauth2/v2.0/authorize",
            "device_authorization_endpoint": f"{t}/oauth2/v2.0/devicecode",
            "http_logout_supported": True,
            "frontchannel_logout_supported": True,
            "end_session_endpoint": f"{t}/oauth2/v2.0/logout",
            "claims_supported": ["sub", "iss", "aud", "exp", "iat", "auth_time", "acr", "nonce",
                                 "preferred_username", "name", "tid", "ver", "at_hash", "c_hash", "email"],
            "kerberos_endpoint": f"{t}/kerberos",
            "tenant_region_scope": "EU",
            "cloud_instance_name": "microsoftonline.com",
            "cloud_graph_host_name": "graph.windows.net",
            "msgraph_host": "graph.microsoft.com",
            "rbac_url": "https://pas.windows.net",
        }

    @staticmethod
    def _error(status: int, error: str, description: str, codes: list[int]) -> tuple[int, dict, bytes]:
        body = {"error": error, "error_description": f"{description}\r\nTrace ID: {secrets.token_hex(16)}\r\n"
                f"Correlation ID: {secrets.token_hex(16)}\r\nTimestamp: {_now():%Y-%m-%d %H:%M:%SZ}",
                "error_codes": codes, "timestamp": f"{_now():%Y-%m-%d %H:%M:%SZ}"}
        return status, {"Content-Type": "application/json; charset=utf-8"}, json.dumps(body).encode()

    def handle(self, method: str, path: str, headers, body: bytes) -> tuple[int, dict, bytes]:
        m = re.match(r"^/([^/]+)/(v2\.0/\.well-known/openid-configuration|oauth2/v2\.0/token)$", path)
        if not m:
            return self._error(404, "not_found", "AADSTS90000: Unknown endpoint.", [90000])
        if m.group(1).lower() != self.tenant.lower():
            return self._error(400, "invalid_tenant", f"AADSTS90002: Tenant '{m.group(1)}' not found.",
                               [90002])
        if m.group(2).startswith("v2.0"):
            if method != "GET":
                return self._error(405, "invalid_request",
                                   "AADSTS900561: The endpoint only accepts GET requests.", [900561])
            configuration = json.dumps(self.configuration()).encode()
            return 200, {"Content-Type": "application/json; charset=utf-8"}, configuration
        if method != "POST":
            return self._error(405, "invalid_request",
                               "AADSTS900561: The endpoint only accepts POST requests.", [900561])
        if not str(headers.get("Content-Type", "")).lower().startswith("application/x-www-form-urlencoded"):
            return self._error(400, "invalid_request",
                               "AADSTS900144: The request body must contain the following parameter: "
                               "'grant_type'.",
                               [900144])
        form = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
        client_id, secret = form.get("client_id"), form.get("client_secret")
        basic = str(headers.get("Authorization", ""))
        if basic.lower().startswith("basic "):
            try:
                decoded_id, _, decoded_secret = base64.b64decode(basic[6:]).decode().partition(":")
                client_id, secret = client_id or unquote(decoded_id), unquote(decoded_secret)
            except (ValueError, UnicodeDecodeError):
                pass
        if form.get("grant_type") != "client_credentials":
            return self._error(400, "unsupported_grant_type",
                               "AADSTS70003: The app requested an unsupported grant type.", [70003])
        if client_id != self.client_id:
            return self._error(400, "unauthorized_client",
                               f"AADSTS700016: Application with identifier '{client_id}' was not found "
                               f"in the directory '{self.tenant}'.", [700016])
        if secret != self.client_secret:
            return self._error(401, "invalid_client", "AADSTS7000215: Invalid client secret provided.",
                               [7000215])
        if form.get("scope") != "https://graph.microsoft.com/.default":
            return self._error(400, "invalid_scope",
                               f"AADSTS1002012: The provided value for scope {form.get('scope')} is not "
                               "valid. "
                               "Client credential flows must have a scope value with /.default suffixed to "
                               "the resource identifier (application ID URI).", [1002012])
        token = _b64(secrets.token_bytes(48))  # opaque, as clients must treat access tokens
        with self.lock:
            self.tokens[token] = _now() + timedelta(seconds=3599)
        answer = {"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599, "access_token": token}
        return 200, {"Content-Type": "application/json; charset=utf-8", "Cache-Control": "no-store, no-cache",
                     "Pragma": "no-cache"}, json.dumps(answer).encode()

    def valid(self, authorization: str) -> str | None:
        """None if the bearer token is good, else why not."""
        if not authorization:
            return "Access token is empty."
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return "Access token validation failure. Invalid audience."
        with self.lock:
            expires = self.tokens.get(token.strip())
        if expires is None:
            return "Access token validation failure."
        if expires <= _now():
            return "Lifetime validation failed, the token is expired."
        return None

    def revoke(self) -> None:
        with self.lock:
            for token in self.tokens:
                self.tokens[token] = _now() - timedelta(seconds=1)


# --------------------------------------------------------------------------
# Attachments and upload sessions.
# --------------------------------------------------------------------------

@dataclass
class UploadSession:
    id: str
    authtoken: str
    message_id: str
    name: str
    content_type: str
    size: int
    is_inline: bool
    content_id: str | None
    expires: datetime
    data: bytearray = field(default_factory=bytearray)


class Attachments:
    """fileAttachment views of a message's MIME parts. An attachment's id is
    derived from the message id and the part's name and bytes, so it is stable
    while the part is."""

    @staticmethod
    def listing(msg: Message) -> list[tuple[str, EmailMessage]]:
        out, seen = [], {}
        for part in Mime.attachment_parts(msg.parsed):
            name = (part.get_filename() or "").encode()
            digest = hashlib.sha1(name + b"\0" + Mime.part_bytes(part)).digest()
            key = _b64(digest[:12])
            seen[key] = seen.get(key, 0) + 1
            out.append((f"{msg.id[:-4]}BEgAQA{key}{seen[key]}AAA=", part))
        return out

    @staticmethod
    def resource(attachment_id: str, part: EmailMessage, msg: Message) -> dict:
        data = Mime.part_bytes(part)
        cid = str(part.get("Content-ID", "")).strip().strip("<>") or None
        return {"@odata.type": "#microsoft.graph.fileAttachment",
                "@odata.mediaContentType": part.get_content_type(),
                "id": attachment_id, "lastModifiedDateTime": _iso(msg.modified),
                "name": part.get_filename() or "attachment", "contentType": part.get_content_type(),
                "size": len(data), "isInline": part.get_content_disposition() == "inline",
                "contentId": cid, "contentLocation": None,
                "contentBytes": base64.b64encode(data).decode()}

    @staticmethod
    def decode_posted(attachment: dict) -> bytes:
        kind = str(attachment.get("@odata.type", "")).lstrip("#").lower()
        if kind != "microsoft.graph.fileattachment":
            if not kind:
                raise GraphError(400, "ErrorInvalidRequest", "Cannot create an abstract class.")
            raise GraphError(400, "ErrorInvalidRequest",
                             f"This double only takes file attachments, not {kind}.")
        try:
            return base64.b64decode(attachment.get("contentBytes") or "", validate=True)
        except ValueError:
            raise GraphError(400, "ErrorInvalidRequest", "Invalid base64 string for contentBytes.") from None


# --------------------------------------------------------------------------
# The Graph API: routing a request to the mailbox, rendering JSON answers.
# --------------------------------------------------------------------------

class GraphApi:
    """Answers /v1.0/users/{mailbox}/... for the one mailbox; everything else
    about users is 403 (as an application access policy would answer)."""

    def __init__(self, fake: FakeGraph):
        self.fake = fake
        self.box = fake.mailbox_state
        self.deltas = DeltaTokens()
        self.uploads: dict[str, UploadSession] = {}
        self.throttle: list[tuple[int, int | None]] = []
        self.throttle_lock = threading.Lock()

    # -- entry point -----------------------------------------------------

    def handle(self, method: str, target: str, headers, body: bytes) -> tuple[int, dict, bytes]:
        split = urlsplit(target)
        # OData key syntax: mailFolders('x') is mailFolders/x.
        path = re.sub(r"([A-Za-z]+)\('([^']*)'\)", r"\1/\2", unquote(split.path))
        query = dict(parse_qsl(split.query, keep_blank_values=True))
        request_id = secrets.token_hex(16)
        base_headers = {"request-id": request_id,
                        "client-request-id": headers.get("client-request-id") or request_id}
        try:
            if path.startswith("/upload/"):
                with self.box.lock:
                    status, extra, payload = self.upload(method, path, query, headers, body)
            elif path.startswith("/v1.0/"):
                status, extra, payload = self.graph(method, path, query, headers, body)
            else:
                return self.fake.identity.handle(method, path, headers, body)
        except GraphError as error:
            status, extra = error.status, {"Content-Type": _JSON_TYPE, **error.headers}
            payload = json.dumps({"error": {"code": error.code, "message": error.message, "innerError": {
                "date": f"{_now():%Y-%m-%dT%H:%M:%S}", "request-id": request_id,
                "client-request-id": base_headers["client-request-id"]}}}).encode()
        return status, {**base_headers, **extra}, payload

    def graph(self, method: str, path: str, query: dict, headers, body: bytes) -> tuple[int, dict, bytes]:
        with self.throttle_lock:
            failure = self.throttle.pop(0) if self.throttle else None
        if failure is not None:
            status, retry_after = failure
            code, text = (("TooManyRequests", "Please retry again later.") if status == 429 else
                          ("ServiceUnavailable", "The service is temporarily unavailable. Retry later."))
            extra = {"Retry-After": str(retry_after)} if retry_after is not None else {}
            raise GraphError(status, code, text, extra)
        if len(body) > MAX_REQUEST_BYTES:
            raise GraphError(413, "RequestEntityTooLarge",
                             "The request is larger than the 4 MB limit; attach files over 3 MB with "
                             "an upload session.")
        problem = self.fake.identity.valid(str(headers.get("Authorization", "")))
        if problem:
            challenge = (f'Bearer realm="", authorization_uri="{self.fake.authority}/oauth2/authorize", '
                         'client_id="00000003-0000-0000-c000-000000000000"')
            raise GraphError(401, "InvalidAuthenticationToken", problem, {"WWW-Authenticate": challenge})
        segments = [s for s in path.split("/")[2:] if s != ""]
        if segments[:1] == ["me"]:
            raise GraphError(400, "BadRequest",
                             "/me request is only valid with delegated authentication flow.")
        if len(segments) < 2 or segments[0].lower() != "users":
            first = segments[0] if segments else ""
            raise GraphError(400, "BadRequest", f"Resource not found for the segment '{first}'.")
        if segments[1].lower() != self.box.address.lower():
            raise GraphError(403, "ErrorAccessDenied", "Access is denied. Check credentials and try again.")
        prefer = ", ".join(headers.get_all("Prefer") or [])
        options = QueryOptions.parse(query, prefer)
        with self.box.lock:
            status, extra, payload = self.route(method, segments[2:], query, headers, body, options, prefer)
        if options.immutable:
            extra.setdefault("Preference-Applied", 'IdType="ImmutableId"')
        if isinstance(payload, (dict, list)):
            return status, {"Content-Type": _JSON_TYPE, **extra}, json.dumps(payload).encode()
        return status, extra, payload

    # -- routing ---------------------------------------------------------

    def route(self, method: str, rest: list[str], query: dict, headers, body: bytes,
              options: QueryOptions, prefer: str) -> tuple[int, dict, Any]:
        lower = [s.lower() for s in rest]
        if lower == ["sendmail"] and method == "POST":
            return self.send_mail(headers, body)
        if lower[:1] == ["mailfolders"]:
            if len(rest) == 1:
                if method == "GET":
                    return 200, {}, self.list_folders(query)
                if method == "POST":
                    return 201, {}, self.create_folder(body)
            elif len(rest) == 2 and method == "GET":
                return 200, {}, self.folder_json(self.box.folder(rest[1]))
            elif len(rest) >= 3 and lower[2] == "messages":
                folder = self.box.folder(rest[1])
                if len(rest) == 3 and method == "GET":
                    return 200, {}, self.list_messages(folder, query, options, rest)
                if len(rest) == 3 and method == "POST":
                    return 201, {}, self.create_message(folder, headers, body, options)
                if len(rest) == 4 and lower[3] == "delta" and method == "GET":
                    return self.delta(folder, query, options, prefer)
                return self.message_route(method, rest[3:], query, headers, body, options)
        elif lower[:1] == ["messages"]:
            if len(rest) == 1 and method == "GET":
                return 200, {}, self.list_messages(None, query, options, rest)
            if len(rest) == 1 and method == "POST":
                return 201, {}, self.create_message(self.box.folder("drafts"), headers, body, options)
            if len(rest) >= 2:
                return self.message_route(method, rest[1:], query, headers, body, options)
        raise GraphError(400, "BadRequest",
                         f"Resource not found for the segment '{rest[-1] if rest else ''}' ({method}).")

    def message_route(self, method: str, rest: list[str], query: dict, headers, body: bytes,
                      options: QueryOptions) -> tuple[int, dict, Any]:
        msg = self.box.message(rest[0])
        tail = [s.lower() for s in rest[1:]]
        if not tail:
            if method == "GET":
                return 200, {}, self.message_json(msg, options, context=True)
            if method == "PATCH":
                self.patch(msg, _json_body(body))
                return 200, {}, self.message_json(msg, options, context=True)
            if method == "DELETE":
                self.box.delete(msg)
                return 204, {}, b""
        elif tail == ["$value"] and method == "GET":
            return 200, {"Content-Type": "text/plain"}, msg.mime
        elif tail == ["send"] and method == "POST":
            if not msg.is_draft:
                raise GraphError(400, "ErrorInvalidRequest", "Only a draft message can be sent.")
            self.box.send(msg)
            return 202, {}, b""
        elif tail == ["move"] and method == "POST":
            destination = _json_body(body).get("destinationId") or _json_body(body).get("DestinationId")
            if not destination:
                raise GraphError(400, "ErrorInvalidRequest", "The destinationId parameter is required.")
            self.box.move(msg, self.box.folder(str(destination)), self.box.graph_modifier_name)
            return 201, {}, self.message_json(msg, options, context=True)
        elif tail[:1] == ["attachments"]:
            return self.attachments(method, msg, rest[2:], body, options)
        raise GraphError(400, "BadRequest", f"Resource not found for the segment '{rest[-1]}' ({method}).")

    # -- folders ---------------------------------------------------------

    def folder_json(self, folder: Folder) -> dict:
        items = [m for m in self.box.messages.values() if m.folder_id == folder.id]
        return {"id": folder.id, "displayName": folder.display_name,
                "parentFolderId": _FOLDER_PREFIX + "msgfolderroot", "childFolderCount": 0,
                "unreadItemCount": sum(not m.is_read for m in items), "totalItemCount": len(items),
                "sizeInBytes": sum(len(m.mime) for m in items), "isHidden": False}

    def list_folders(self, query: dict) -> dict:
        folders = list(self.box.folders.values())
        if query.get("$filter"):
            m = re.match(rf"^\s*displayName\s+eq\s+{_STRING}\s*$", query["$filter"], re.I)
            if not m:
                raise GraphError(400, "ErrorInvalidUrlQueryFilter",
                                 "The query filter contains one or more invalid nodes.")
            name = m.group(1).replace("''", "'").lower()
            folders = [f for f in folders if f.display_name.lower() == name]
        top = int(query.get("$top", 10) or 10)
        return {"@odata.context": f"{self.fake.graph_url}/$metadata#users('{self.box.address}')/mailFolders",
                "value": [self.folder_json(f) for f in folders[:top]]}

    def create_folder(self, body: bytes) -> dict:
        name = str(_json_body(body).get("displayName") or "").strip()
        if not name:
            raise GraphError(400, "ErrorInvalidRequest", "The displayName property is required.")
        return self.folder_json(self.box.add_folder(name))

    # -- messages --------------------------------------------------------

    def external_id(self, msg: Message, options: QueryOptions) -> str:
        """Without Prefer: IdType="ImmutableId" an id is bound to the folder (it
        changes when the message moves), as documented."""
        return msg.id if options.immutable else _rest_id(msg.id, msg.folder_id)

    def message_json(self, msg: Message, options: QueryOptions, context: bool = False) -> dict:
        parsed = msg.parsed
        kind, content = Mime.body(parsed, options.body_type)
        plain = Mime.html_to_text(content) if kind == "html" else content
        attachments = Mime.attachment_parts(parsed)
        full = {
            "@odata.etag": f'W/"CQAAABYAAAD{msg.change:08d}"',
            "id": self.external_id(msg, options),
            "createdDateTime": _iso(msg.created), "lastModifiedDateTime": _iso(msg.modified),
            "changeKey": f"CQAAABYAAAD{msg.change:08d}", "categories": list(msg.categories),
            "receivedDateTime": _iso(msg.received), "sentDateTime": _iso(msg.sent),
            "hasAttachments": any(p.get_content_disposition() != "inline" for p in attachments),
            "internetMessageId": msg.internet_message_id, "subject": str(parsed.get("Subject", "")),
            "bodyPreview": " ".join(plain.split())[:255], "importance": "normal",
            "parentFolderId": msg.folder_id, "conversationId": msg.conversation_id,
            "isDeliveryReceiptRequested": False, "isReadReceiptRequested": False,
            "isRead": msg.is_read, "isDraft": msg.is_draft, "inferenceClassification": "focused",
            "body": {"contentType": kind, "content": content},
            "sender": (_recipients(parsed, "Sender") or _recipients(parsed, "From") or [None])[0],
            "from": (_recipients(parsed, "From") or [None])[0],
            "toRecipients": _recipients(parsed, "To"), "ccRecipients": _recipients(parsed, "Cc"),
            "bccRecipients": _recipients(parsed, "Bcc"), "replyTo": _recipients(parsed, "Reply-To"),
            "flag": {"flagStatus": "notFlagged"},
        }
        if options.select is not None:
            wanted = {s.lower() for s in options.select}
            out = {k: v for k, v in full.items() if k in ("@odata.etag", "id") or k.lower() in wanted}
            if "internetmessageheaders" in wanted:
                out["internetMessageHeaders"] = [{"name": k, "value": str(v)} for k, v in parsed.items()]
        else:
            out = full
        if options.expand_properties is not None:
            values = [{"id": p, "value": msg.extended[p]}
                      for p in options.expand_properties if p in msg.extended]
            if values:  # Graph leaves the property out when the message has none of them
                out["singleValueExtendedProperties"] = values
        if options.expand_attachments:
            out["attachments"] = [Attachments.resource(aid, part, msg)
                                  for aid, part in Attachments.listing(msg)]
        if context:
            entity = f"{self.fake.graph_url}/$metadata#users('{self.box.address}')/messages/$entity"
            out = {"@odata.context": entity, **out}
        return out

    def list_messages(self, folder: Folder | None, query: dict, options: QueryOptions,
                      rest: list[str]) -> dict:
        clauses = _parse_filter(query["$filter"]) if query.get("$filter") else []
        items = [m for m in self.box.messages.values()
                 if (folder is None or m.folder_id == folder.id) and _matches(m, clauses)]
        order = (query.get("$orderby") or "receivedDateTime desc").strip()
        m = re.match(r"^(receivedDateTime|sentDateTime|lastModifiedDateTime)(?:\s+(asc|desc))?$", order, re.I)
        if not m:
            raise GraphError(400, "ErrorInvalidUrlQueryOrderBy", f"Unsupported $orderby {order!r}.")
        if query.get("$filter") and query.get("$orderby"):
            # Documented: properties in $orderby must also come first in $filter.
            first = _split_and(query["$filter"])[0]
            if not first.lower().startswith(m.group(1).lower()):
                raise GraphError(400, "InefficientFilter",
                                 "The restriction or sort order is too complex for this operation.")
        key = {"receiveddatetime": lambda x: x.received, "sentdatetime": lambda x: x.sent or x.received,
               "lastmodifieddatetime": lambda x: x.modified}[m.group(1).lower()]
        descending = (m.group(2) or ("desc" if not query.get("$orderby") else "asc")).lower() == "desc"
        items.sort(key=lambda x: (key(x), x.seq), reverse=descending)
        top = min(int(query.get("$top") or DEFAULT_PAGE_SIZE), 1000)
        skip = int(query.get("$skip") or 0)
        page = items[skip:skip + top]
        answer: dict[str, Any] = {
            "@odata.context": f"{self.fake.graph_url}/$metadata#users('{self.box.address}')/messages",
            "value": [self.message_json(x, options) for x in page]}
        if skip + top < len(items):
            next_query = {**query, "$top": str(top), "$skip": str(skip + top)}
            answer["@odata.nextLink"] = (f"{self.fake.graph_url}/users/{self.box.address}/"
                                         f"{'/'.join(quote(s, safe='') for s in rest)}?"
                                         + urlencode(next_query, quote_via=quote, safe="$(),:'/"))
        return answer

    def create_message(self, folder: Folder, headers, body: bytes, options: QueryOptions) -> dict:
        """A draft from base64 MIME (Content-Type: text/plain) or from a JSON message resource."""
        content_type = str(headers.get("Content-Type", "")).lower()
        categories: list[str] = []
        if content_type.startswith("text/plain"):
            raw = _decode_mime_body(body)
        elif content_type.startswith("application/json"):
            data = _json_body(body)
            raw = _mime_from_json(data, self.box.address)
            categories = list(data.get("categories") or [])
        else:
            raise GraphError(415, "UnsupportedMediaType",
                             "Use application/json for a message resource or text/plain for base64 MIME.")
        msg = self.box.store(raw, folder, is_draft=True, modifier=self.box.graph_modifier_name)
        msg.categories = categories
        return self.message_json(msg, options, context=True)

    def patch(self, msg: Message, data: dict) -> None:
        unknown = [k for k in data if k not in _MESSAGE_PROPERTIES and not k.startswith("@")]
        if unknown:
            raise GraphError(400, "RequestBodyRead",
                             f"The property '{unknown[0]}' does not exist on type 'microsoft.graph.message'.")
        if not msg.is_draft and _PATCHABLE_ON_DRAFTS_ONLY & set(data):
            # Documented: subject, body and recipients are updatable only if isDraft = true.
            raise GraphError(400, "ErrorInvalidPropertyUpdateSentMessage",
                             "Property can not be updated on a message that is not a draft.")
        mime = msg.mime
        if "subject" in data:
            mime = Mime.set_header(mime, "Subject", str(data["subject"] or ""))
        if "body" in data:
            body = data["body"] or {}
            mime = Mime.set_body(mime, str(body.get("content") or ""), str(body.get("contentType") or "text"))
        for header, key in (("To", "toRecipients"), ("Cc", "ccRecipients"), ("Bcc", "bccRecipients"),
                            ("Reply-To", "replyTo"), ("From", "from")):
            if key in data:
                value = data[key]
                value = [value] if isinstance(value, dict) else (value or [])
                mime = Mime.set_header(mime, header, ", ".join(_format_recipient(r) for r in value))
        categories = data.get("categories")
        if categories is not None and (not isinstance(categories, list)
                                       or not all(isinstance(c, str) for c in categories)):
            raise GraphError(400, "RequestBodyRead", "categories must be a collection of strings.")
        for prop in data.get("singleValueExtendedProperties") or []:
            msg.extended[_normalise_property_id(str(prop.get("id", "")))] = str(prop.get("value", ""))
        self.box.update(msg, self.box.graph_modifier_name, mime=mime, categories=categories,
                        is_read=data.get("isRead"))

    def send_mail(self, headers, body: bytes) -> tuple[int, dict, bytes]:
        content_type = str(headers.get("Content-Type", "")).lower()
        save = True
        if content_type.startswith("text/plain"):
            raw = _decode_mime_body(body)
        elif content_type.startswith("application/json"):
            data = _json_body(body)
            if not isinstance(data.get("message"), dict):
                raise GraphError(400, "ErrorInvalidRequest", "The message parameter is required.")
            raw = _mime_from_json(data["message"], self.box.address)
            save = data.get("saveToSentItems", True) not in (False, "false")
        else:
            raise GraphError(415, "UnsupportedMediaType",
                             "Use application/json for a message resource or text/plain for base64 MIME.")
        self.box.send_new(raw, save)
        return 202, {}, b""

    # -- delta -----------------------------------------------------------

    def delta(self, folder: Folder, query: dict, options: QueryOptions, prefer: str) -> tuple[int, dict, Any]:
        tokens = self.deltas
        if "$skiptoken" in query:
            if query["$skiptoken"] not in tokens.skip:
                raise GraphError(410, "SyncStateNotFound",
                                 "The sync state was not found. Restart the synchronization.")
            round_key, offset = tokens.skip[query["$skiptoken"]]
            state = tokens.rounds[round_key]
            tokens.check(state.generation)
        else:
            since: int | None = None
            original = {k: v for k, v in query.items() if k != "$deltatoken"}
            if "$deltatoken" in query:
                if query["$deltatoken"] not in tokens.delta:
                    raise GraphError(410, "SyncStateNotFound",
                                     "The sync state was not found. Restart the synchronization.")
                folder_id, since, original, generation = tokens.delta[query["$deltatoken"]]
                tokens.check(generation)
                folder = self.box.folders[folder_id]
            clauses = _parse_filter(original["$filter"]) if original.get("$filter") else []
            if any(kind != "date" or groups[0].lower() != "receiveddatetime"
                   or groups[1].lower() not in ("ge", "gt") for kind, groups in clauses):
                raise GraphError(400, "ErrorInvalidUrlQueryFilter",
                                 "Delta queries on messages only support "
                                 "$filter=receivedDateTime ge|gt {value}.")
            change_type = (original.get("changeType") or "").lower()
            entries = self.delta_entries(folder, since, clauses, change_type)
            round_key = tokens.new_token()
            tokens.rounds[round_key] = DeltaRound(folder.id, entries, self.box.seq, original,
                                                  _page_size(prefer, DEFAULT_PAGE_SIZE), tokens.generation)
            state, offset = tokens.rounds[round_key], 0
        page_size = _page_size(prefer, state.page_size)
        options = QueryOptions.parse(state.query, prefer)
        rows = []
        for kind, message_id in state.entries[offset:offset + page_size]:
            msg = self.box.messages.get(message_id)
            if kind == "removed" or msg is None:
                rows.append({"@odata.type": "#microsoft.graph.message",
                             "id": message_id if options.immutable else _rest_id(message_id, state.folder_id),
                             "@removed": {"reason": "deleted"}})
            else:
                rows.append({"@odata.type": "#microsoft.graph.message", **self.message_json(msg, options)})
        link = (f"{self.fake.graph_url}/users/{self.box.address}"
                f"/mailFolders('{state.folder_id}')/messages/delta")
        answer: dict[str, Any] = {"@odata.context": f"{self.fake.graph_url}/$metadata#Collection(message)"}
        if offset + page_size < len(state.entries):
            token = tokens.new_token()
            tokens.skip[token] = (round_key, offset + page_size)
            answer["@odata.nextLink"] = f"{link}?$skiptoken={token}"
        else:
            token = tokens.new_token()
            tokens.delta[token] = (state.folder_id, state.seq_end, state.query, state.generation)
            answer["@odata.deltaLink"] = f"{link}?$deltatoken={token}"
        answer["value"] = rows
        return 200, {"Preference-Applied": f"odata.maxpagesize={page_size}"}, answer

    def delta_entries(self, folder: Folder, since: int | None, clauses: list,
                      change_type: str) -> list[tuple[str, str]]:
        """A round's rows: everything (initial round), or what changed since change number `since`."""
        present = sorted((m for m in self.box.messages.values()
                          if m.folder_id == folder.id and _matches(m, clauses)),
                         key=lambda m: (m.received, m.seq))
        if since is None:
            return [("message", m.id) for m in present]
        entries: list[tuple[str, str]] = []
        if change_type in ("", "created", "updated"):
            for m in present:
                created = m.arrived_seq > since
                if m.seq > since and (change_type == "" or (change_type == "created") == created):
                    entries.append(("message", m.id))
        if change_type in ("", "deleted"):
            still_here = {m.id for m in present}
            gone = dict.fromkeys(mid for seq, fid, mid in self.box.removals
                                 if seq > since and fid == folder.id and mid not in still_here)
            entries.extend(("removed", mid) for mid in gone)
        return entries

    # -- attachments -----------------------------------------------------

    def attachments(self, method: str, msg: Message, rest: list[str], body: bytes,
                    options: QueryOptions) -> tuple[int, dict, Any]:
        listing = Attachments.listing(msg)
        if not rest:
            if method == "GET":
                values = [Attachments.resource(aid, part, msg) for aid, part in listing]
                if options.select is not None:
                    wanted = {s.lower() for s in options.select} | {"id", "@odata.type"}
                    values = [{k: v for k, v in a.items() if k.lower() in wanted} for a in values]
                context = (f"{self.fake.graph_url}/$metadata#users('{self.box.address}')"
                           f"/messages('{msg.id}')/attachments")
                return 200, {}, {"@odata.context": context, "value": values}
            if method == "POST":
                data = _json_body(body)
                content = Attachments.decode_posted(data)
                if len(content) > MAX_POSTED_ATTACHMENT:
                    raise GraphError(413, "RequestEntityTooLarge",
                                     "Attachments over 3 MB need an upload session (createUploadSession).")
                name = str(data.get("name") or "attachment")
                mime = Mime.add_attachment(msg.mime, content, name, str(data.get("contentType") or ""),
                                           bool(data.get("isInline")), data.get("contentId"))
                self.box.update(msg, self.box.graph_modifier_name, mime=mime)
                aid, part = Attachments.listing(msg)[-1]
                return 201, {}, Attachments.resource(aid, part, msg)
        elif rest[0].lower() == "createuploadsession" and method == "POST":
            return 201, {}, self.create_upload_session(msg, _json_body(body))
        else:
            index = next((i for i, (aid, _) in enumerate(listing) if aid == rest[0]), None)
            if index is None:
                raise _not_found()
            if len(rest) == 1 and method == "GET":
                return 200, {}, Attachments.resource(listing[index][0], listing[index][1], msg)
            if len(rest) == 2 and rest[1].lower() == "$value" and method == "GET":
                part = listing[index][1]
                return 200, {"Content-Type": part.get_content_type()}, Mime.part_bytes(part)
            if len(rest) == 1 and method == "DELETE":
                self.box.update(msg, self.box.graph_modifier_name, mime=Mime.remove_part(msg.mime, index))
                return 204, {}, b""
        raise GraphError(400, "BadRequest", f"Resource not found for the segment 'attachments' ({method}).")

    def create_upload_session(self, msg: Message, data: dict) -> dict:
        item = data.get("AttachmentItem") or data.get("attachmentItem") or {}
        if (str(item.get("attachmentType", "")).lower() != "file" or not item.get("name")
                or "size" not in item):
            raise GraphError(400, "ErrorInvalidRequest",
                             "AttachmentItem needs attachmentType 'file', a name and a size.")
        size = int(item["size"])
        if size < MIN_SESSION_ATTACHMENT:
            raise GraphError(400, "ErrorAttachmentSizeShouldNotBeLessThanMinimumSize",
                             "Attachment size should not be less than the minimum size (3 MB); "
                             "POST smaller files to the attachments collection.")
        if size > MAX_SESSION_ATTACHMENT:
            raise GraphError(400, "ErrorAttachmentSizeLimitExceeded", "The attachment is larger than 150 MB.")
        session = UploadSession(id=_b64(secrets.token_bytes(18)) + "AAA=",
                                authtoken=_b64(secrets.token_bytes(32)),
                                message_id=msg.id, name=str(item["name"]),
                                content_type=str(item.get("contentType") or "application/octet-stream"),
                                size=size, is_inline=bool(item.get("isInline")),
                                content_id=item.get("contentId"), expires=_now() + timedelta(hours=6))
        self.uploads[session.id] = session
        return {"@odata.context": f"{self.fake.graph_url}/$metadata#microsoft.graph.uploadSession",
                "uploadUrl": f"{self.fake.base_url}/upload/api/v2.0/Users('{self.box.address}')/Messages"
                             f"('{msg.id}')/AttachmentSessions('{session.id}')?authtoken={session.authtoken}",
                "expirationDateTime": _iso(session.expires), "nextExpectedRanges": ["0-"]}

    def upload(self, method: str, path: str, query: dict, headers, body: bytes) -> tuple[int, dict, bytes]:
        """PUT byte ranges to a pre-authenticated upload URL (outlook.office.com
        in real life: no Authorization header, documented)."""
        m = re.search(r"/AttachmentSessions/([^/]+)$", path)
        session = self.uploads.get(m.group(1)) if m else None
        if session is None or not secrets.compare_digest(query.get("authtoken", ""), session.authtoken):
            raise GraphError(404, "ErrorItemNotFound", "The upload session was not found or has expired.")
        if headers.get("Authorization"):
            # Choice: the documented "do not specify an Authorization header" is
            # enforced the way outlook.office.com answers a Graph token.
            raise GraphError(401, "InvalidAudienceForResource",
                             "The audience claim value is invalid for current resource. Audience claim is "
                             "'https://graph.microsoft.com', request url is "
                             "'https://outlook.office.com/api/v2.0/...'.")
        if method == "DELETE":
            del self.uploads[session.id]
            return 204, {}, b""
        if method != "PUT":
            raise GraphError(405, "ErrorInvalidRequest", "Upload URLs take PUT (or DELETE to cancel).")
        if session.expires <= _now():
            del self.uploads[session.id]
            raise GraphError(404, "ErrorItemNotFound", "The upload session has expired.")
        m = re.match(r"^\s*bytes\s+(\d+)-(\d+)/(\d+)\s*$", str(headers.get("Content-Range", "")))
        if not m:
            raise GraphError(400, "ErrorInvalidRequest",
                             "Content-Range must be 'bytes {start}-{end}/{total}'.")
        start, end, total = map(int, m.groups())
        if total != session.size:
            raise GraphError(400, "ErrorInvalidRequest",
                             f"The total size {total} does not match the session's size {session.size}.")
        if start != len(session.data) or end < start or end >= total:
            raise GraphError(416, "ErrorInvalidRequest",
                             f"The range {start}-{end} is not the next expected range "
                             f"({len(session.data)}-).")
        if len(body) != end - start + 1:
            raise GraphError(400, "ErrorInvalidRequest",
                             f"The body has {len(body)} bytes but Content-Range says {end - start + 1}.")
        last = end == total - 1
        if not last and len(body) % self.fake.upload_chunk_multiple:
            raise GraphError(400, "ErrorInvalidRequest",
                             f"Byte ranges other than the last must be a multiple of "
                             f"{self.fake.upload_chunk_multiple} bytes (320 KiB).")
        session.data.extend(body)
        if not last:
            # As the Outlook walkthrough shows it: "ExpirationDateTime", and the next offset alone.
            return 200, {"Content-Type": _JSON_TYPE}, json.dumps({
                "@odata.context": f"{self.fake.base_url}/api/v2.0/$metadata#Users('{self.box.address}')"
                                  f"/Messages('{session.message_id}')/AttachmentSessions/$entity",
                "ExpirationDateTime": _iso(session.expires),
                "nextExpectedRanges": [str(len(session.data))]}).encode()
        del self.uploads[session.id]
        msg = self.box.messages.get(session.message_id)
        if msg is None:
            raise _not_found()
        mime = Mime.add_attachment(msg.mime, bytes(session.data), session.name, session.content_type,
                                   session.is_inline, session.content_id)
        self.box.update(msg, self.box.graph_modifier_name, mime=mime)
        aid = Attachments.listing(msg)[-1][0]
        location = (f"{self.fake.base_url}/api/v2.0/Users('{self.box.address}')/Messages('{msg.id}')"
                    f"/Attachments('{aid}')")
        return 201, {"Location": location}, b""


def _rest_id(immutable_id: str, folder_id: str) -> str:
    """The default kind of id: bound to the folder the message is in."""
    return _REST_PREFIX + _b64(f"{immutable_id}|{folder_id}".encode())


def _json_body(body: bytes) -> dict:
    try:
        data = json.loads(body or b"{}")
    except ValueError:
        raise GraphError(400, "BadRequest", "Unable to read JSON request payload.") from None
    if not isinstance(data, dict):
        raise GraphError(400, "BadRequest", "The request body must be a JSON object.")
    return data


def _decode_mime_body(body: bytes) -> bytes:
    """MIME posted as documented: base64 text in a text/plain body."""
    try:
        raw = base64.b64decode(b"".join(body.split()), validate=True)
    except ValueError:
        raw = b""
    if not raw:
        raise GraphError(400, "ErrorMimeContentInvalidBase64String",
                         "Invalid base64 string for MIME content.")
    if not Mime.looks_like_mime(raw):
        raise GraphError(400, "ErrorMimeContentInvalid", "The MIME content is not a valid message.")
    return raw


# --------------------------------------------------------------------------
# The double: https_double's server with Graph's answers.
# --------------------------------------------------------------------------

class _Handler(Handler):
    server_version = "FakeGraph/1.0 (test double)"
    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = Handler.dispatch


class FakeGraph(HttpsDouble):
    """A test double of Microsoft Graph mail (v1.0) and the identity platform's
    token endpoint for one mailbox, over HTTPS on 127.0.0.1. A context manager:
    the server runs inside `with`; the port is bound (and known) from __init__."""

    handler = _Handler
    requests: list[Recorded]

    # Choice: OneDrive's documented rule (ranges in multiples of 320 KiB) is
    # applied to attachment upload sessions too; set to 1 to turn it off.
    upload_chunk_multiple = 320 * 1024

    def __init__(self, root: Path, mailbox: str = "complaints@example.test", tenant: str = "contoso-tenant",
                 client_id: str = "app-id", client_secret: str = "app-secret"):
        super().__init__(root, "graph")
        self.mailbox, self.tenant = mailbox, tenant
        self.client_id, self.client_secret = client_id, client_secret
        self.base_url = f"https://{HOST}:{self.port}"
        self.authority = f"{self.base_url}/{tenant}"
        self.graph_url = f"{self.base_url}/v1.0"
        self.identity = Identity(self.base_url, tenant, client_id, client_secret)
        self.mailbox_state = Mailbox(mailbox)
        self.api = GraphApi(self)

    # -- answering (for https_double) --------------------------------------

    def _answer(self, handler: Handler, body: bytes) -> tuple[int, dict[str, str], bytes]:
        return self.api.handle(handler.command, handler.path, handler.headers, body)

    def _internal_error(self) -> tuple[int, dict[str, str], bytes]:
        return 500, {"Content-Type": _JSON_TYPE}, json.dumps(
            {"error": {"code": "InternalServerError", "message": "Test double failed."}}).encode()

    def _record(self, handler: Handler, body: bytes, status: int) -> Recorded:
        return Recorded(handler.command, handler.path, {k.lower(): v for k, v in handler.headers.items()},
                        body, status)

    # -- test hooks: the outside world and officers in Outlook -----------

    def deliver(self, mime: bytes, folder: str = "inbox", received: datetime | None = None) -> str:
        """Mail arrives (as from the Internet); returns the message's immutable id."""
        with self.mailbox_state.lock:
            target = self.mailbox_state.folder(folder, by_name=True)
            return self.mailbox_state.store(mime, target, is_draft=False, received=received).id

    def add_folder(self, display_name: str) -> str:
        """An officer creates a folder in Outlook; returns its id."""
        return self.mailbox_state.add_folder(display_name).id

    def set_categories(self, message_id: str, categories: list[str], modified_by: str | None = None) -> None:
        """An officer sets categories in Outlook (PidTagLastModifierName becomes `modified_by`)."""
        with self.mailbox_state.lock:
            msg = self.mailbox_state.message(message_id)
            self.mailbox_state.update(msg, modified_by, categories=categories)

    def edit_body(self, message_id: str, text: str, modified_by: str | None = None) -> None:
        """An officer edits a draft's text in Outlook: its MIME body parts change."""
        with self.mailbox_state.lock:
            msg = self.mailbox_state.message(message_id)
            self.mailbox_state.update(msg, modified_by, mime=Mime.set_body(msg.mime, text, "text"))

    def move(self, message_id: str, folder: str) -> None:
        """An officer drags a message into another folder (by id, well-known or display name)."""
        with self.mailbox_state.lock:
            msg = self.mailbox_state.message(message_id)
            self.mailbox_state.move(msg, self.mailbox_state.folder(folder, by_name=True), None)

    def messages(self, folder: str) -> list[dict]:
        """What a folder holds now (oldest first), for assertions."""
        with self.mailbox_state.lock:
            target = self.mailbox_state.folder(folder, by_name=True)
            items = sorted((m for m in self.mailbox_state.messages.values() if m.folder_id == target.id),
                           key=lambda m: (m.received, m.seq))
            return [{"id": m.id, "internetMessageId": m.internet_message_id,
                     "subject": str(m.parsed.get("Subject", "")), "categories": list(m.categories),
                     "isDraft": m.is_draft, "isRead": m.is_read, "mime": m.mime,
                     "receivedDateTime": m.received, "sentDateTime": m.sent,
                     "lastModifiedDateTime": m.modified, "conversationId": m.conversation_id,
                     "parentFolderId": m.folder_id, "lastModifierName": m.extended.get(LAST_MODIFIER_NAME),
                     "attachments": [p.get_filename() for p in Mime.attachment_parts(m.parsed)]}
                    for m in items]

    def fail_next(self, status: int, count: int = 1, retry_after: int | None = None) -> None:
        """The next `count` Graph calls (not token requests, not upload PUTs) are
        throttled: 429 TooManyRequests or 503 ServiceUnavailable, with
        `Retry-After: retry_after` when given."""
        if status not in (429, 503):
            raise ValueError("fail_next takes 429 or 503")
        with self.api.throttle_lock:
            self.api.throttle.extend([(status, retry_after)] * count)

    def expire_delta_tokens(self) -> None:
        """Every delta/next link issued so far now answers 410 SyncStateNotFound."""
        with self.mailbox_state.lock:
            self.api.deltas.expire()

    def revoke_tokens(self) -> None:
        """Every access token issued so far is expired: Graph answers 401."""
        self.identity.revoke()

    def sent_mime(self) -> list[bytes]:
        """What went out (send of a draft, sendMail), as MIME, in order."""
        with self.mailbox_state.lock:
            return list(self.mailbox_state.sent)


__all__ = ["FakeGraph", "Recorded", "make_certificate"]
