"""Walking a message's MIME parts: the body text, the attachments, and the
messages carried inside it (forwards as attachments, bounced originals,
winmail.dat, Outlook .msg files).

Every part is read on its own: a part that cannot be decoded becomes an
attachment named for what went wrong, never a reason to lose the message.
"""

from __future__ import annotations

import base64
import email
import io
import quopri
import re
from dataclasses import dataclass, field
from email import policy as email_policy
from email.header import decode_header, make_header
from email.message import Message as RawMessage
from email.utils import collapse_rfc2231_value

from mailcomplaints.mail.html import html_to_text

_ID = re.compile(r"<[^<>\s]+>")
TNEF_TYPES = ("application/ms-tnef", "application/vnd.ms-tnef")
MSG_TYPES = ("application/vnd.ms-outlook", "application/x-msg")


@dataclass(frozen=True)
class Attachment:
    filename: str
    content_type: str
    size: int


@dataclass(frozen=True)
class Embedded:
    """A message inside the message: what threading needs to know of it."""

    message_id: str | None
    subject: str
    sender: str
    text: str
    how: str  # rfc822 | rfc822-headers | tnef | outlook-msg


@dataclass
class Walk:
    plain: list[str] = field(default_factory=list)
    html: list[str] = field(default_factory=list)
    attachments: list[Attachment] = field(default_factory=list)
    embedded: list[Embedded] = field(default_factory=list)

    @property
    def text(self) -> str:
        text = "\n".join(self.plain) if any(p.strip() for p in self.plain) else html_to_text("\n".join(self.html))
        return text.replace("\r\n", "\n").replace("\r", "\n").strip()


def header_text(value: object) -> str:
    """A header value as readable text, whatever encoding mess it arrived in."""
    if value is None:
        return ""
    try:
        text = str(make_header(decode_header(str(value))))
    except Exception:
        text = str(value)
    return " ".join(text.split())


def decode_payload(part: RawMessage) -> str:
    payload = part.get_payload(decode=True) or b""
    if isinstance(payload, str):
        payload = payload.encode("utf-8", "replace")
    try:
        charset = part.get_content_charset() or "utf-8"
    except Exception:
        charset = "utf-8"
    for candidate in (charset, "utf-8", "windows-1252"):
        try:
            return payload.decode(candidate)
        except (LookupError, UnicodeDecodeError):
            continue
    return payload.decode("utf-8", errors="replace")


def filename_of(part: RawMessage) -> str | None:
    for getter in (lambda: part.get_param("filename", header="content-disposition"), lambda: part.get_param("name")):
        try:
            value = getter()
        except Exception:
            continue
        if value:
            if isinstance(value, tuple):
                value = collapse_rfc2231_value(value)
            if isinstance(value, bytes):
                value = value.decode("utf-8", "replace")
            return header_text(value).replace("\ufffd", "?") or None
    return None


def first_id(text: str) -> str | None:
    found = _ID.findall(text or "")
    return found[0] if found else None


def _encoded_body(part: RawMessage) -> bytes | None:
    """A message/rfc822 part that a mailer base64- or QP-encoded (RFC 2046
    forbids it, mailers do it): the decoded bytes of the message inside."""
    encoding = str(part.get("Content-Transfer-Encoding") or "").strip().lower()
    if encoding not in ("base64", "quoted-printable"):
        return None
    body = re.split(rb"\r?\n\r?\n", part.as_bytes(), maxsplit=1)[-1]
    return base64.b64decode(body, validate=False) if encoding == "base64" else quopri.decodestring(body)


def _embedded_rfc822(part: RawMessage) -> Embedded | None:
    payload = part.get_payload()
    inner = payload[0] if isinstance(payload, list) and payload else None
    decoded = _encoded_body(part)
    if decoded:
        inner = email.message_from_bytes(decoded, policy=email_policy.compat32)
    if inner is None:
        raw = part.get_payload(decode=True)
        if not raw:
            return None
        inner = email.message_from_bytes(raw, policy=email_policy.compat32)
    sub = Walk()
    walk_parts(inner, sub)
    return Embedded(first_id(header_text(inner.get("Message-ID"))), header_text(inner.get("Subject")),
                    header_text(inner.get("From")), sub.text, "rfc822")


def _embedded_headers(part: RawMessage) -> Embedded:
    headers = email.message_from_string(decode_payload(part), policy=email_policy.compat32)
    return Embedded(first_id(header_text(headers.get("Message-ID"))), header_text(headers.get("Subject")),
                    header_text(headers.get("From")), "", "rfc822-headers")


def _tnef(data: bytes, walk: Walk) -> None:
    """winmail.dat: Outlook's rich-text wrapper. Its body becomes the text; its files become attachments."""
    import tnefparse

    tnef = tnefparse.TNEF(data, do_checksum=False)
    for value, bucket in ((tnef.body, walk.plain), (tnef.htmlbody, walk.html)):
        if value:
            bucket.append(value if isinstance(value, str) else value.decode("windows-1252", "replace"))
    for item in tnef.attachments:
        try:
            name = item.long_filename() or item.name or "unnamed"
        except Exception:
            name = "unnamed"
        walk.attachments.append(Attachment(name, "application/octet-stream", len(item.data or b"")))


def _outlook_msg(data: bytes) -> Embedded:
    """An Outlook .msg file (a forward saved from Outlook): the MAPI properties
    we need, read with olefile (BSD) rather than a GPL .msg library."""
    import olefile

    with olefile.OleFileIO(io.BytesIO(data)) as ole:
        def prop(tag: str) -> str:
            for suffix, encoding in (("001F", "utf-16-le"), ("001E", "windows-1252")):
                name = f"__substg1.0_{tag}{suffix}"
                if ole.exists(name):
                    return ole.openstream(name).read().decode(encoding, "replace").rstrip("\x00")
            return ""
        in_headers = re.search(r"(?im)^message-id:\s*(<[^>]+>)", prop("007D"))  # PR_TRANSPORT_MESSAGE_HEADERS
        message_id = first_id(prop("1035")) or (in_headers.group(1) if in_headers else None)
        sender = prop("0C1F") or prop("0065") or prop("0C1A")
        return Embedded(message_id, prop("0037"), sender, prop("1000"), "outlook-msg")


def walk_parts(message: RawMessage, walk: Walk) -> Walk:
    for part in _children(message):
        _read_part(part, walk)
    return walk


def _children(message: RawMessage):
    """Parts to read, not descending into message/rfc822 (read as one embedded message)."""
    stack = [message]
    while stack:
        part = stack.pop(0)
        if part.get_content_type() == "message/rfc822":
            yield part
        elif part.is_multipart():
            payload = part.get_payload()
            stack = [p for p in payload if isinstance(p, RawMessage)] + stack
        else:
            yield part


def _read_part(part: RawMessage, walk: Walk) -> None:
    try:
        ctype = part.get_content_type()
        filename = filename_of(part)
        if ctype == "message/rfc822":
            found = _embedded_rfc822(part)
            if found:
                walk.embedded.append(found)
            walk.attachments.append(Attachment(filename or "forwarded message.eml", ctype, len(part.as_bytes())))
            return
        if ctype == "text/rfc822-headers":
            walk.embedded.append(_embedded_headers(part))
            return
        if ctype in ("message/delivery-status", "message/disposition-notification"):
            return
        disposition = str(part.get("Content-Disposition") or "").lower()  # 8-bit values come back as Header objects
        is_file = bool(filename) or "attachment" in disposition
        lower = (filename or "").lower()
        if ctype in TNEF_TYPES or lower == "winmail.dat":
            _tnef(part.get_payload(decode=True) or b"", walk)
            return
        if ctype in MSG_TYPES or lower.endswith(".msg"):
            data = part.get_payload(decode=True) or b""
            walk.attachments.append(Attachment(filename or "message.msg", ctype, len(data)))
            walk.embedded.append(_outlook_msg(data))
            return
        if is_file or not ctype.startswith("text/"):
            data = part.get_payload(decode=True) or b""
            walk.attachments.append(Attachment(filename or "unnamed", ctype, len(data)))
            return
        if ctype == "text/html":
            walk.html.append(decode_payload(part))
        else:
            walk.plain.append(decode_payload(part))
    except Exception as err:  # one bad part never loses the message
        walk.attachments.append(Attachment(f"unreadable part ({type(err).__name__})", "application/octet-stream", 0))
