"""Raw RFC 5322 bytes -> a `Message` the rest of the pipeline can trust.

Tolerant: headers are read by the lenient parser and decoded whatever their
charset; each MIME part is read on its own; a message with no Message-ID gets
a stable one made from its content. Only bytes that are not a message at all
raise `UnreadableMessage`, which the pipeline quarantines with its reason.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import datetime
from email.message import Message as RawMessage
from email.utils import getaddresses, parseaddr

from mailcomplaints.mail.html import html_to_text  # noqa: F401  (re-exported for callers)
from mailcomplaints.mail.parts import (MAX_PARTS, Attachment, Embedded, PartBudget, TooManyParts, Walk, first_id, header_text,
                                       read_bytes, walk_parts)
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


def _written(raw: RawMessage, name: str) -> object:
    """The first `name` header as written. Raw 8-bit bytes (RFC 6532 UTF-8,
    or a Windows-1252 mailer) are decoded here: left to the email package
    they came back as U+FFFD, and a UTF-8 address could not be read at all."""
    value = raw.get(name)
    if value is None or isinstance(value, str):
        return value
    written = next((v for k, v in raw.raw_items() if k.lower() == name.lower()), None)
    if not isinstance(written, str):
        return value
    data = written.encode("ascii", "surrogateescape")
    for charset in ("utf-8", "windows-1252"):
        try:
            return data.decode(charset)
        except UnicodeDecodeError:
            continue
    return data.decode("utf-8", "replace")


def _header(raw: RawMessage, name: str) -> str:
    try:
        return header_text(_written(raw, name))
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
        written = str(_written(raw, name) or "")
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
        found = _one_address(display, addr)
        if found:
            out.append(found)
    return tuple(out)


# One addr-spec we can write back into a header: a dot-atom local part, "@", a
# host name (letters, digits, hyphens; IDNA for a Unicode one). Not a quoted
# local part ("a,b"@example.net, which RFC 5322 says should not be used): a long
# one was folded by the email package so that its comma split our reply's To in
# two. Not ".394@example.org" either: the email package raised TypeError
# writing it into a Cc after another address, and the draft could not be made.
_ATEXT = r"[a-z0-9!#$%&'*+/=?^_`{|}~-]+"
_ADDR_SPEC = re.compile(rf"{_ATEXT}(?:\.{_ATEXT})*@[a-z0-9_-]+(?:\.[a-z0-9_-]+)*")


def _one_address(display: str, addr: str) -> Address | None:
    """The address a reply could go to, or None. "Weiß foo@bar.com" (a name
    with no angle brackets) is read as the name Weiß and foo@bar.com; a
    Unicode domain is written in its IDNA form. "a@b@c", "@c", a quoted or
    non-ASCII local part and anything with a line break or an undecodable
    byte are no address: replying to "@c" made a draft To: <>, and a non-ASCII domain was
    folded by the email package into a To: line whose continuation lost its
    indent, ending our draft's headers there (Message-ID and all)."""
    words = addr.split()
    if len(words) > 1:
        at = [word for word in words if "@" in word]
        if len(at) != 1:
            return None
        display, addr = " ".join([display, *(w for w in words if w != at[0])]), at[0]
    addr = addr.strip().lower()
    local, _, domain = addr.rpartition("@")
    if not domain.isascii():  # written in Unicode: the ASCII (IDNA) form is what a reply header can carry
        try:
            addr = f"{local}@{domain.encode('idna').decode('ascii')}"
        except (UnicodeError, ValueError):
            return None
    if not addr.isascii():  # a non-ASCII local part needs SMTPUTF8, which our drafts do not use
        return None
    if len(addr) > 320 or not _ADDR_SPEC.fullmatch(addr) or "=?" in addr:  # no encoded word for the email package to decode
        return None
    return Address(" ".join(display.split())[:300], addr)


TOO_MANY_PARTS = ("[mailcomplaints: this message has {why}, more than any person writes; "
                  "only its headers were read. The message is kept whole as it arrived.]")


def _headers_only(raw: bytes) -> RawMessage:
    """The header block alone, up to the first blank line."""
    ends = [at for at in (raw.find(b"\n\n"), raw.find(b"\r\n\r\n")) if at >= 0]
    return read_bytes(raw[:min(ends)] + b"\n\n" if ends else raw, PartBudget(10))


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
    if not raw or raw.isspace():  # not raw.strip(): that copies a 40 MB message to look at its ends
        raise UnreadableMessage("the message is empty")
    budget = PartBudget()
    try:
        try:
            parsed, walk = read_bytes(raw, budget), None
        except (TooManyParts, RecursionError) as err:  # a zip-bomb of a message: its headers are read, its parts are not
            why = f"more than {MAX_PARTS:,} MIME parts" if isinstance(err, TooManyParts) else "MIME parts nested too deep to read"
            parsed, walk = _headers_only(raw), Walk(plain=[TOO_MANY_PARTS.format(why=why)], attachments=[
                Attachment(f"the message's parts ({why}, not read)", "multipart/mixed", len(raw))])
    except Exception as err:  # compat32 almost never raises; keep the reason if it does
        raise UnreadableMessage(f"the message cannot be parsed: {type(err).__name__}: {err}") from None
    if not parsed.keys() or not any(re.fullmatch(r"[A-Za-z][A-Za-z0-9-]*", key) for key in parsed.keys()):
        raise UnreadableMessage("the message has no headers")
    ids = _ids(_header(parsed, "Message-ID"))
    senders = _addresses(parsed, "From")
    walk = walk or walk_parts(parsed, Walk(budget=budget))
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
