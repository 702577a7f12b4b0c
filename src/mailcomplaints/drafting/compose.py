"""A draft's fields -> RFC 5322 bytes for the mailbox, and back to text.

Header values are single-lined here, and their encoded-word look-alikes made
inert, so nothing a resident wrote (a subject with CR/LF in it, raw or
encoded) can inject a header into our mail, whether it came through the
parser or through an officer's edit.
"""

from __future__ import annotations

import email
import html as html_escape
from datetime import datetime
from email import policy as email_policy
from email.message import EmailMessage
from email.utils import format_datetime, formataddr

from mailcomplaints.mail.parts import inert_header_text

DRAFT_HEADER = "X-Mailcomplaints-Draft"


def one_line(value: str, limit: int = 300) -> str:
    return inert_header_text(value or "")[:limit]


def compose(*, draft_id: str, message_id: str, sender_name: str, sender: str, to: list[str], cc: list[str],
            subject: str, body: str, date: datetime, in_reply_to: str | None = None, html: str | None = None,
            pdf: bytes | None = None, pdf_name: str = "letter.pdf", automatic: bool = False) -> bytes:
    msg = EmailMessage(policy=email_policy.SMTP)
    msg["From"] = formataddr((one_line(sender_name), sender))
    msg["To"] = ", ".join(one_line(a) for a in to)
    if cc:
        msg["Cc"] = ", ".join(one_line(a) for a in cc)
    msg["Subject"] = one_line(subject, 900)
    msg["Date"] = format_datetime(date)
    msg["Message-ID"] = message_id
    if in_reply_to:
        msg["In-Reply-To"] = in_reply_to
        msg["References"] = in_reply_to
    msg[DRAFT_HEADER] = draft_id
    if automatic:  # sent with no person approving it: tell other robots not to answer (RFC 3834)
        msg["Auto-Submitted"] = "auto-replied"
        msg["X-Auto-Response-Suppress"] = "All"
    msg.set_content(body)
    if html:
        msg.add_alternative(html, subtype="html")
    if pdf:
        msg.add_attachment(pdf, maintype="application", subtype="pdf", filename=pdf_name)
    return msg.as_bytes()


def finalise(raw: bytes, message_id: str, date: datetime) -> bytes:
    """The officer's (possibly edited) draft, with the Message-ID we fixed at
    creation and the sending date."""
    msg = email.message_from_bytes(raw, policy=email_policy.SMTP)
    for name in ("Message-ID", "Date"):
        del msg[name]
    msg["Message-ID"] = message_id
    msg["Date"] = format_datetime(date)
    return msg.as_bytes()


def message_id_of(raw: bytes) -> str:
    """The Message-ID of a message we composed (a draft, its sent form)."""
    return str(email.message_from_bytes(raw, policy=email_policy.default).get("Message-ID", "")).strip()


def body_text(raw: bytes) -> str:
    msg = email.message_from_bytes(raw, policy=email_policy.default)
    part = msg.get_body(("plain",))
    text = part.get_content() if part is not None else ""
    return text.replace("\r\n", "\n")  # the mailbox copy has SMTP line endings; compare and store as we wrote it


def with_body(raw: bytes, text: str) -> bytes:
    """The draft with new text, its HTML part rewritten from the same text so
    the two parts cannot say different things."""
    msg = email.message_from_bytes(raw, policy=email_policy.SMTP)
    paragraphs = "".join(f"<p>{html_escape.escape(p.strip()).replace(chr(10), '<br>')}</p>" for p in text.split("\n\n") if p.strip())
    for part in msg.walk():
        if part.get_content_type() == "text/plain" and not part.get_filename():
            part.set_content(text)
        elif part.get_content_type() == "text/html" and not part.get_filename():
            part.set_content(f"<!DOCTYPE html><html><body>{paragraphs}</body></html>", subtype="html")
    return msg.as_bytes()
