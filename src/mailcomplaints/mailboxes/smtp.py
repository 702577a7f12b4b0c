"""Sending by SMTP submission, for the IMAP backend (Exchange and Graph send
through their own APIs).

TLS is verified by default: implicit TLS (port 465) or STARTTLS (587); plain
text only to a loopback host, which the config check enforces. A 4xx reply
is transient — the draft stays approved and goes next round — while a 5xx
reply is the server refusing this message for good, raised as SendRefused
so the draft is marked failed with the server's words instead of being
tried for ever.
"""

from __future__ import annotations

import email
import logging
import smtplib
import ssl
from dataclasses import dataclass
from email import policy as email_policy
from email.utils import getaddresses

from mailcomplaints.mailboxes.base import MailboxError, SendRefused

log = logging.getLogger("mailcomplaints.smtp")


class Deferred(MailboxError):
    """The server answered 4xx: not sent now, to be tried again."""


def tls_context(ca_file: str | None) -> ssl.SSLContext:
    """Certificate and host name verified; a private CA may be named in config."""
    return ssl.create_default_context(cafile=ca_file or None)


def recipients(raw: bytes) -> tuple[bytes, list[str]]:
    """The message without any Bcc header, and everyone it goes to."""
    msg = email.message_from_bytes(raw, policy=email_policy.SMTP)
    to = [addr for _, addr in getaddresses(msg.get_all("To", []) + msg.get_all("Cc", []) + msg.get_all("Bcc", [])) if addr]
    del msg["Bcc"]
    return msg.as_bytes(), to


@dataclass
class SmtpSender:
    host: str
    port: int
    sender: str  # the envelope sender: the shared mailbox
    security: str = "starttls"  # tls | starttls | none (loopback only)
    username: str = ""
    password: str | None = None
    ca_file: str | None = None
    timeout: float = 60.0

    def send(self, raw: bytes) -> None:
        message, to = recipients(raw)
        if not to:
            raise SendRefused("the message has no recipients")
        try:
            with self._connect() as smtp:
                refused = smtp.sendmail(self.sender, to, message)
        except smtplib.SMTPRecipientsRefused as err:
            codes = [code for code, _ in err.recipients.values()]
            reply = "; ".join(f"{addr}: {code} {text.decode(errors='replace')}" for addr, (code, text) in err.recipients.items())
            if all(code >= 500 for code in codes):
                raise SendRefused(f"the mail server refused every recipient: {reply}") from None
            raise Deferred(f"the mail server deferred the recipients: {reply}") from None
        except smtplib.SMTPResponseException as err:
            reply = f"{err.smtp_code} {err.smtp_error.decode(errors='replace') if isinstance(err.smtp_error, bytes) else err.smtp_error}"
            if 500 <= err.smtp_code < 600:
                raise SendRefused(f"the mail server refused the message: {reply}") from None
            raise Deferred(f"the mail server deferred the message: {reply}") from None
        except (smtplib.SMTPException, OSError) as err:
            raise MailboxError(f"could not send through {self.host}:{self.port}: {err}") from None
        if refused:  # some recipients accepted, some refused: the message went
            log.warning("sent with recipients refused count=%d", len(refused))

    def _connect(self) -> smtplib.SMTP:
        if self.security == "tls":
            smtp: smtplib.SMTP = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout, context=tls_context(self.ca_file))
        else:
            smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
            if self.security == "starttls":
                smtp.starttls(context=tls_context(self.ca_file))
        if self.username and self.password:
            smtp.login(self.username, self.password)
        return smtp
