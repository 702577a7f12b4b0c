"""Raw RFC 5322 bytes -> a `Message` the rest of the pipeline can trust.

Tolerant: headers are read by the lenient parser and decoded whatever their
charset; each MIME part is read on its own; a message with no Message-ID gets
a stable one made from its content. Only bytes that are not a message at all
raise `UnreadableMessage`, which the pipeline quarantines with its reason.
"""

from __future__ import annotations

import email
import hashlib
import re
from dataclasses import dataclass, field
from datetime import datetime
from email import policy as email_policy
from email.message import Message as RawMessage
from email.utils import getaddresses, parseaddr

from mailcomplaints.mail.html import html_to_text  # noqa: F401  (re-exported for callers)
from mailcomplaints.mail.parts import Attachment, Embedded, Walk, first_id, header_text, walk_parts
from mailcomplaints.mail.quotes import split_reply

MACHINE_HEADERS = (
    "auto-submitted", "precedence", "x-autoreply", "x-autorespond", "x-auto-response-suppress",
    "x-ms-exchange-inbox-rules-loop", "list-id", "list-unsubscribe", "return-path",
    "x-mailcomplaints-draft", "content-type", "x-ms-exchange-generated-message-source",
)
MAX_ID = 900  # longer Message-IDs are replaced by a stable hash (a 1 MB id fits no index)
_ID = re.compile(r"<[^<>\s]+>")
_FORWARD_FROM = re.compile(r"^\s*\*?(from|von|de)\s*:\*?\s*(.+)$", re.I | re.M)
_FORWARD_SUBJECT = re.compile(r"^\s*((fw|fwd|tr|wg)\s*:\s*)", re.I)


class UnreadableMessage(ValueError):
    """The bytes are not a message we can read; the reason goes to quarantine."""


@dataclass(frozen=True)
class Address:
    name: str
    email: str

    def __str__(self) -> str:
        return f"{self.name} <{self.email}>" if self.name else self.email


@dataclass(frozen=True)
class Message:
    message_id: str
    subject: str
    sender: Address | None
    to: tuple[Address, ...]
    cc: tuple[Address, ...]
    delivered_at: datetime
    text: str  # the whole body as text (from HTML when there is no text part)
    in_reply_to: str | None = None
    references: tuple[str, ...] = ()
    headers: dict[str, str] = field(default_factory=dict)  # the few the machine-mail rules read
    attachments: tuple[Attachment, ...] = ()
    size: int = 0
    new_text: str = ""  # what the sender wrote now: quoted history and signature removed
    quoted: str = ""  # the quoted or forwarded history
    quote_marker: str = ""  # which rule found where the quote starts
    forwarded_from: str = ""  # the address in a forwarded block's From: line, if any
    embedded: tuple[Embedded, ...] = ()  # messages carried inside this one
    conversation_id: str | None = None  # the backend's, where it has one (EWS, Graph)
    id_was_made: bool = False  # the message had no Message-ID; ours is made from its content

    @property
    def thread_ids(self) -> tuple[str, ...]:
        """Message-IDs this message answers, nearest first."""
        ids = ([self.in_reply_to] if self.in_reply_to else []) + list(reversed(self.references))
        return tuple(dict.fromkeys(ids))

    @property
    def embedded_ids(self) -> tuple[str, ...]:
        return tuple(e.message_id for e in self.embedded if e.message_id)

    @property
    def is_forward(self) -> bool:
        return bool(_FORWARD_SUBJECT.match(self.subject)) or self.quote_marker == "forwarded" or any(
            e.how in ("rfc822", "outlook-msg") for e in self.embedded)


def _ids(value: str) -> list[str]:
    return [i if len(i) <= MAX_ID else f"<{hashlib.sha256(i.encode()).hexdigest()}@long-id.invalid>" for i in _ID.findall(value or "")]


def _header(raw: RawMessage, name: str) -> str:
    try:
        return header_text(raw.get(name))
    except Exception:  # a malformed header value
        return ""


_ENCODED_WORD = re.compile(r"=\?[^?\s]+\?[bqBQ]\?[^?\s]*\?=")
_ADDRESS_SPECIALS = re.compile(r'[,:;<>@"()\[\]\\\r\n]')


def _neutral_words(written: str) -> str:
    """The header as written, each encoded word decoded with the characters
    that structure addresses taken out: a name that decodes to
    "Evil\r\nBcc: victim@example.org" stays a name and never becomes the
    address we reply to."""
    return _ENCODED_WORD.sub(lambda m: _ADDRESS_SPECIALS.sub(" ", header_text(m.group(0))), written)


def _addresses(raw: RawMessage, name: str) -> tuple[Address, ...]:
    value = _header(raw, name)
    if not value:
        return ()
    try:
        written = str(raw.get(name) or "")
    except Exception:  # a malformed header value
        written = ""
    if "=?" in written:  # parse the structure first, decode the names after
        value = " ".join(_neutral_words(written).split())
    out = []
    try:
        pairs = getaddresses([value])
    except Exception:
        pairs = []
    for display, addr in pairs:
        addr = addr.strip().lower()
        if "@" in addr and "\n" not in addr and "\r" not in addr:
            out.append(Address(" ".join(display.split())[:300], addr[:320]))
    return tuple(out)


def stable_message_id(raw: bytes) -> str:
    return f"<{hashlib.sha256(raw).hexdigest()[:32]}@no-message-id.mailcomplaints.invalid>"


def _forwarded_from(quoted: str) -> str:
    found = _FORWARD_FROM.search(quoted[:2000])
    if not found:
        return ""
    _, addr = parseaddr(found.group(2).replace("[mailto:", "<").replace("]", ">"))
    if "@" not in addr:
        match = re.search(r"[\w.+-]+@[\w.-]+", found.group(2))
        addr = match.group(0) if match else ""
    return addr.lower()


def parse_message(raw: bytes, delivered_at: datetime, conversation_id: str | None = None) -> Message:
    """Parse bytes delivered at `delivered_at` (the backend's time, never the Date header)."""
    if not raw or not raw.strip():
        raise UnreadableMessage("the message is empty")
    try:
        parsed = email.message_from_bytes(raw, policy=email_policy.compat32)
    except Exception as err:  # compat32 almost never raises; keep the reason if it does
        raise UnreadableMessage(f"the message cannot be parsed: {type(err).__name__}: {err}") from None
    if not parsed.keys() or not any(re.fullmatch(r"[A-Za-z][A-Za-z0-9-]*", key) for key in parsed.keys()):
        raise UnreadableMessage("the message has no headers")
    ids = _ids(_header(parsed, "Message-ID"))
    senders = _addresses(parsed, "From")
    walk = walk_parts(parsed, Walk())
    text = walk.text
    reply = split_reply(text)
    return Message(
        message_id=ids[0] if ids else stable_message_id(raw),
        subject=_header(parsed, "Subject")[:2000],
        sender=senders[0] if senders else None,
        to=_addresses(parsed, "To")[:500],
        cc=_addresses(parsed, "Cc")[:500],
        delivered_at=delivered_at,
        text=text,
        in_reply_to=next(iter(_ids(_header(parsed, "In-Reply-To"))), None),
        references=tuple(_ids(_header(parsed, "References")))[-50:],
        headers={name: _header(parsed, name)[:1000] for name in MACHINE_HEADERS if parsed.get(name) is not None},
        attachments=tuple(walk.attachments),
        size=len(raw),
        new_text=reply.new_text,
        quoted=reply.quoted,
        quote_marker=reply.marker,
        forwarded_from=_forwarded_from(reply.quoted) if reply.marker else "",
        embedded=tuple(walk.embedded),
        conversation_id=conversation_id,
        id_was_made=not ids,
    )


__all__ = ["Address", "Attachment", "Embedded", "Message", "UnreadableMessage", "parse_message", "first_id"]
