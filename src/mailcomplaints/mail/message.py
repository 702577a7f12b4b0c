"""Raw RFC 5322 bytes -> a `Message` the rest of the pipeline can trust.

Tolerant: a header the strict parser rejects is read again by the lenient
one; a message with no Message-ID gets a stable one made from its content.
Only a message that cannot be read at all raises `UnreadableMessage`, which
the pipeline quarantines with its reason.
"""

from __future__ import annotations

import email
import hashlib
import html
import re
from dataclasses import dataclass, field
from datetime import datetime
from email import policy as email_policy
from email.header import decode_header, make_header
from email.message import Message as RawMessage
from email.utils import getaddresses, parseaddr

MACHINE_HEADERS = (
    "auto-submitted", "precedence", "x-autoreply", "x-autorespond", "x-auto-response-suppress",
    "x-ms-exchange-inbox-rules-loop", "list-id", "list-unsubscribe", "return-path",
    "x-mailcomplaints-draft", "content-type",
)


class UnreadableMessage(ValueError):
    """The bytes are not a message we can read; the reason goes to quarantine."""


@dataclass(frozen=True)
class Address:
    name: str
    email: str

    def __str__(self) -> str:
        return f"{self.name} <{self.email}>" if self.name else self.email


@dataclass(frozen=True)
class Attachment:
    filename: str
    content_type: str
    size: int


@dataclass(frozen=True)
class Message:
    message_id: str
    subject: str
    sender: Address | None
    to: tuple[Address, ...]
    cc: tuple[Address, ...]
    delivered_at: datetime
    text: str
    in_reply_to: str | None = None
    references: tuple[str, ...] = ()
    headers: dict[str, str] = field(default_factory=dict)  # the few the machine-mail rules read
    attachments: tuple[Attachment, ...] = ()
    size: int = 0

    @property
    def thread_ids(self) -> tuple[str, ...]:
        """Message-IDs this message answers, nearest first."""
        ids = ([self.in_reply_to] if self.in_reply_to else []) + list(reversed(self.references))
        return tuple(dict.fromkeys(ids))


_ID = re.compile(r"<[^<>\s]+>")


def _ids(value: str) -> list[str]:
    return _ID.findall(value or "")


def _decoded(raw: RawMessage, name: str) -> str:
    """A header as text, whatever encoding mess it arrived in."""
    try:
        value = raw.get(name)
    except Exception:  # the strict parser can raise on a malformed header
        value = None
    if value is None:
        return ""
    try:
        text = str(make_header(decode_header(str(value))))
    except Exception:
        text = str(value)
    return " ".join(text.split())


def _addresses(raw: RawMessage, name: str) -> tuple[Address, ...]:
    values = [_decoded(raw, name)] if raw.get(name) is not None else []
    out = []
    for display, addr in getaddresses(values):
        addr = addr.strip().lower()
        if "@" in addr:
            out.append(Address(display.strip(), addr))
    return tuple(out)


def _text_of(part: RawMessage) -> str:
    payload = part.get_payload(decode=True) or b""
    charset = part.get_content_charset() or "utf-8"
    for candidate in (charset, "utf-8", "windows-1252"):
        try:
            return payload.decode(candidate)
        except (LookupError, UnicodeDecodeError):
            continue
    return payload.decode("utf-8", errors="replace")


_TAGS = re.compile(r"<(script|style)\b.*?</\1>|<[^>]+>", re.S | re.I)
_BREAKS = re.compile(r"<\s*(br|/p|/div|/tr|/li|/h\d)\b[^>]*>", re.I)


def html_to_text(markup: str) -> str:
    text = _BREAKS.sub("\n", markup)
    text = html.unescape(_TAGS.sub("", text))
    lines = [" ".join(line.split()) for line in text.splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def _body_and_attachments(raw: RawMessage) -> tuple[str, tuple[Attachment, ...]]:
    plain, markup, attachments = [], [], []
    for part in raw.walk():
        if part.is_multipart():
            continue
        ctype = part.get_content_type()
        filename = part.get_filename()
        disposition = (part.get("Content-Disposition") or "").lower()
        if filename or "attachment" in disposition:
            payload = part.get_payload(decode=True) or b""
            attachments.append(Attachment(_decoded(part, "x") or filename or "unnamed", ctype, len(payload)))
            continue
        if ctype == "text/plain":
            plain.append(_text_of(part))
        elif ctype == "text/html":
            markup.append(_text_of(part))
    text = "\n".join(plain) if plain else html_to_text("\n".join(markup))
    return text.replace("\r\n", "\n").strip(), tuple(attachments)


def stable_message_id(raw: bytes) -> str:
    return f"<{hashlib.sha256(raw).hexdigest()[:32]}@no-message-id.mailcomplaints.invalid>"


def parse_message(raw: bytes, delivered_at: datetime) -> Message:
    """Parse bytes delivered at `delivered_at` (the backend's time, never the Date header)."""
    if not raw or not raw.strip():
        raise UnreadableMessage("the message is empty")
    try:
        parsed = email.message_from_bytes(raw, policy=email_policy.compat32)
    except Exception as err:  # compat32 almost never raises; keep the reason if it does
        raise UnreadableMessage(f"the message cannot be parsed: {type(err).__name__}: {err}") from None
    if not parsed.keys():
        raise UnreadableMessage("the message has no headers")
    ids = _ids(_decoded(parsed, "Message-ID"))
    message_id = ids[0] if ids else stable_message_id(raw)
    in_reply_to = next(iter(_ids(_decoded(parsed, "In-Reply-To"))), None)
    senders = _addresses(parsed, "From")
    if not senders:
        name, addr = parseaddr(_decoded(parsed, "From"))
        senders = (Address(name, addr.lower()),) if addr else ()
    try:
        text, attachments = _body_and_attachments(parsed)
    except Exception as err:
        raise UnreadableMessage(f"the message body cannot be decoded: {type(err).__name__}") from None
    headers = {name: _decoded(parsed, name) for name in MACHINE_HEADERS if parsed.get(name) is not None}
    return Message(
        message_id=message_id,
        subject=_decoded(parsed, "Subject"),
        sender=senders[0] if senders else None,
        to=_addresses(parsed, "To"),
        cc=_addresses(parsed, "Cc"),
        delivered_at=delivered_at,
        text=text,
        in_reply_to=in_reply_to,
        references=tuple(_ids(_decoded(parsed, "References"))),
        headers=headers,
        attachments=attachments,
        size=len(raw),
    )
