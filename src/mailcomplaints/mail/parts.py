"""Walking a message's MIME parts: the body text, the attachments, and the
messages carried inside it (forwards as attachments, bounced originals,
winmail.dat, Outlook .msg files).

Every part is read on its own: a part that cannot be decoded becomes an
attachment named for what went wrong, never a reason to lose the message.
"""

from __future__ import annotations

import base64
import copy
import io
import quopri
import re
from dataclasses import dataclass, field
from email import policy as email_policy
from email.feedparser import BytesFeedParser, FeedParser
from email.header import decode_header, make_header
from email.message import Message as RawMessage
from email.utils import collapse_rfc2231_value

from mailcomplaints.mail.html import html_to_text

_ID = re.compile(r"<[^<>\s]+>")
TNEF_TYPES = ("application/ms-tnef", "application/vnd.ms-tnef")
MSG_TYPES = ("application/vnd.ms-outlook", "application/x-msg")
MAX_TEXT = 200_000  # characters of body text read from one message
MAX_HTML = 2_000_000  # characters of HTML converted to that text
MAX_ENCODED_TEXT = 4 * MAX_HTML  # characters of one text part's body decoded (base64 or UTF-8 of that much)
MAX_PARTS = 2_000  # MIME parts in one message, those of the messages inside it included


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


class TooManyParts(ValueError):
    """More MIME parts than any mail a person writes: stop reading them."""


class PartBudget:
    """How many MIME parts one message may still make the parser build. A few
    bytes ("--b" and a blank line) make a part of about 300 bytes in memory: a
    1 MB message of empty parts took 56 MB and 2.6 s to parse, 30 MB of them
    would take gigabytes. The count covers the messages carried inside too."""

    def __init__(self, limit: int = 0) -> None:
        self.left = limit or MAX_PARTS

    def factory(self, *args, **kwargs) -> RawMessage:
        self.left -= 1
        if self.left < 0:
            raise TooManyParts(f"more than {MAX_PARTS:,} MIME parts")
        return RawMessage(*args, **kwargs)


FEED = 1 << 16


def read_bytes(raw: bytes | str, budget: PartBudget | None = None) -> RawMessage:
    """`email.message_from_bytes(raw, policy=compat32)`, fed a slice at a time
    and counting parts. The stdlib's version copies the whole message into a
    StringIO of four bytes a character: a 41 MB message with a 30 MB
    attachment peaked at 318 MB; fed in slices it peaks at about 115 MB.
    Raises TooManyParts when the message holds more than the budget allows."""
    reader = FeedParser if isinstance(raw, str) else BytesFeedParser
    parser = reader((budget or PartBudget()).factory, policy=email_policy.compat32)
    view = raw if isinstance(raw, str) else memoryview(raw)
    for start in range(0, len(raw), FEED):
        parser.feed(view[start:start + FEED] if isinstance(raw, str) else bytes(view[start:start + FEED]))
    return parser.close()


@dataclass
class Walk:
    plain: list[str] = field(default_factory=list)
    html: list[str] = field(default_factory=list)
    attachments: list[Attachment] = field(default_factory=list)
    embedded: list[Embedded] = field(default_factory=list)
    budget: PartBudget = field(default_factory=PartBudget)

    @property
    def text(self) -> str:
        """The body as text, at most MAX_TEXT characters of it (the raw message
        is kept whole; nobody writes 200,000 characters to their landlord, and
        reading 30 MB of text would hold up the mail behind it for minutes)."""
        text = "\n".join(self.plain) if any(p.strip() for p in self.plain) else html_to_text("\n".join(self.html)[:MAX_HTML])
        text = text.replace("\r\n", "\n").replace("\r", "\n").strip()
        if len(text) > MAX_TEXT:
            text = text[:MAX_TEXT] + f"\n\n[mailcomplaints: the text stops here, after {MAX_TEXT:,} of its {len(text):,} characters; the message is kept whole as it arrived]"
        return text


# What the email package takes for an RFC 2047 encoded word when it writes a
# header, wherever it stands: "=?charset?q-or-b?".
_ENCODED_WORD_START = re.compile(r"=\?(?=[^?\s]*\?[bBqQ]\?)")


def _decoded(value: str) -> str:
    """Each encoded word decoded, in its charset if Python knows it, else as
    UTF-8 or Windows-1252 (a mail client shows "=?utf-9?q?…?=" as its words)."""
    try:
        return str(make_header(decode_header(value)))
    except Exception:
        pass
    try:
        chunks = decode_header(value)
    except Exception:
        return value
    out = []
    for chunk, charset in chunks:
        if isinstance(chunk, str):
            out.append(chunk)
            continue
        for candidate in (charset, "utf-8", "windows-1252"):
            try:
                out.append(chunk.decode(candidate or "ascii"))
                break
            except (LookupError, UnicodeDecodeError):
                continue
        else:
            out.append(chunk.decode("utf-8", "replace"))
    return "".join(out)


def header_text(value: object) -> str:
    """A header value as readable text, whatever encoding mess it arrived in:
    one line, and holding no encoded word. A subject whose words decode to
    "=?utf-8?q?Boiler=0D=0ABcc:_x@example.org?=" (encoded twice), or written
    in a charset Python does not know, kept that encoded word after one
    decoding; the email package decoded it again when it wrote our reply's
    Subject, CR LF and all, and our draft had a "Bcc: x@example.org" header.
    "=?" followed by the shape of an encoded word becomes "= ?"."""
    if value is None:
        return ""
    return inert_header_text(_decoded(str(value)))


def inert_header_text(text: str) -> str:
    """`text` on one line, with no encoded word the email package would
    decode when it writes the text into a header of ours."""
    return _ENCODED_WORD_START.sub("= ?", " ".join(text.split()))


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


MEASURE_SLICE = 1 << 20
_NOT_BASE64 = bytes(set(range(256)) - set(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"))


def payload_size(part: RawMessage) -> int:
    """The decoded size of an attachment, counted a slice at a time. Decoding a
    30 MB photo whole only to measure it held four copies of it at once (the
    stdlib splits the base64 into lines, joins them, decodes): 226 MB."""
    payload = part.get_payload()
    encoding = str(part.get("Content-Transfer-Encoding") or "").strip().lower()
    if not isinstance(payload, str) or len(payload) <= MEASURE_SLICE or encoding not in ("base64", "quoted-printable", "7bit", "8bit", "binary", ""):
        return len(part.get_payload(decode=True) or b"")
    size = 0
    start = 0
    while start < len(payload):
        end = payload.find("\n", start + MEASURE_SLICE)  # whole lines: a QP soft break never straddles two slices
        end = len(payload) if end < 0 else end + 1
        piece = payload[start:end].encode("ascii", "surrogateescape")
        if encoding == "base64":
            size += len(piece.translate(None, _NOT_BASE64))  # characters of the alphabet, padding and junk left out
        elif encoding == "quoted-printable":
            size += len(quopri.decodestring(piece))
        else:
            size += len(piece)
        start = end
    return size * 3 // 4 if encoding == "base64" else size


def _body_size(part: RawMessage) -> int:
    """About how big a forwarded message is: its parts' bodies as they came
    (serialising it again only to measure it copied a 40 MB forward twice)."""
    return sum(len(p.get_payload()) for p in part.walk() if isinstance(p.get_payload(), str))


def _first_of(part: RawMessage, limit: int) -> RawMessage:
    """The part, or a copy holding only the first `limit` characters of its
    encoded body: no more of a 30 MB text part is decoded than can be read."""
    payload = part.get_payload()
    if not isinstance(payload, str) or len(payload) <= limit:
        return part
    cut = copy.copy(part)
    cut._payload = payload[:limit]  # the body alone (set_payload would also reset the charset)
    return cut


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
    payload = part.get_payload()
    inner = payload[0] if isinstance(payload, list) and len(payload) == 1 else None
    if encoding == "base64" and inner is not None and not inner.keys() and isinstance(inner.get_payload(), str):
        body = inner.get_payload().encode("ascii", "surrogateescape")  # base64 has no header line: it is all body
    else:  # serialise it again to find its body (copies the whole part: fine for the rare QP-encoded forward)
        body = re.split(rb"\r?\n\r?\n", part.as_bytes(), maxsplit=1)[-1]
    return base64.b64decode(body, validate=False) if encoding == "base64" else quopri.decodestring(body)


def _embedded_rfc822(part: RawMessage, budget: PartBudget) -> Embedded | None:
    payload = part.get_payload()
    inner = payload[0] if isinstance(payload, list) and payload else None
    decoded = _encoded_body(part)
    if decoded:
        inner = read_bytes(decoded, budget)
    if inner is None:
        raw = part.get_payload(decode=True)
        if not raw:
            return None
        inner = read_bytes(raw, budget)
    sub = Walk(budget=budget)
    walk_parts(inner, sub)
    return Embedded(first_id(header_text(inner.get("Message-ID"))), header_text(inner.get("Subject")),
                    header_text(inner.get("From")), sub.text, "rfc822")


def _embedded_headers(part: RawMessage, budget: PartBudget) -> Embedded:
    headers = read_bytes(decode_payload(part), budget)
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
            found = _embedded_rfc822(part, walk.budget)
            if found:
                walk.embedded.append(found)
            walk.attachments.append(Attachment(filename or "forwarded message.eml", ctype, _body_size(part)))
            return
        if ctype == "text/rfc822-headers":
            walk.embedded.append(_embedded_headers(part, walk.budget))
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
            walk.attachments.append(Attachment(filename or "unnamed", ctype, payload_size(part)))
            return
        text = decode_payload(_first_of(part, MAX_ENCODED_TEXT))
        (walk.html if ctype == "text/html" else walk.plain).append(text)
    except Exception as err:  # one bad part never loses the message
        walk.attachments.append(Attachment(f"unreadable part ({type(err).__name__})", "application/octet-stream", 0))
