"""The Mailbox protocol every backend (Maildir, IMAP, EWS, Graph) implements.

Backends move bytes and say when mail was delivered; they hold no business
rules and leak no library types into the core.
"""

from __future__ import annotations

from dataclasses import dataclass
import threading
import inspect
from datetime import datetime, timezone
from functools import wraps
from typing import Any, Callable, Iterator, Protocol


class MailboxError(RuntimeError):
    """The mailbox could not be reached or changed (an operational failure, exit 1).
    Transient: the work is tried again next round."""


class SendRefused(MailboxError):
    """The server refused this message for good (an SMTP 5xx): the draft is
    marked failed with the server's words, not tried again."""


@dataclass(frozen=True)
class MailboxApproval:
    """A draft an officer approved in their mail client (a keyword or tag, a
    category, or a move into the Approved folder)."""

    mailbox_ref: str
    draft_id: str | None  # from our X-Mailcomplaints-Draft header where the backend reads it; else found by mailbox_ref
    approver: str | None  # who, where the mailbox records it


@dataclass(frozen=True)
class Delivered:
    """One message as the backend holds it."""

    backend_id: str  # stable for the life of the message (Maildir base name, UIDVALIDITY:UID, ItemId, Graph id)
    delivered_at: datetime  # from the backend, never from the Date header
    raw: bytes
    conversation_id: str | None = None  # the server's thread id, where it has one (Exchange)

    def __post_init__(self) -> None:
        # A plain UTC datetime whatever the library gave (imapclient's FixedOffset,
        # exchangelib's EWSDateTime): the case history copies and compares it.
        at = self.delivered_at if self.delivered_at.tzinfo else self.delivered_at.replace(tzinfo=timezone.utc)
        object.__setattr__(self, "delivered_at", datetime.fromtimestamp(at.timestamp(), tz=timezone.utc))


class Mailbox(Protocol):
    address: str

    def new_messages(self, is_known: "callable[[list[str]], set[str]]") -> Iterator[Delivered]:
        """Messages not yet processed, oldest first; `is_known` filters ids already stored."""

    def sent_messages(self, is_known: "callable[[list[str]], set[str]]") -> Iterator[Delivered]:
        """Messages in Sent not yet stored: replies officers wrote by hand."""

    def mark_processed(self, backend_id: str) -> None:
        """Tell the mailbox a message is stored (Maildir: new/ -> cur/ as Seen)."""

    def save_draft(self, draft_id: str, raw: bytes) -> str:
        """Put a draft where officers see it; returns where it is (mailbox_ref)."""

    def read_draft(self, mailbox_ref: str) -> bytes | None:
        """The draft as it is now — an officer may have edited it — or None if gone."""

    def draft_editor(self, mailbox_ref: str) -> str | None:
        """Who last changed the draft, where the backend records it (Exchange's
        last-modified name); None where it does not (Maildir, IMAP)."""

    def replace_draft(self, mailbox_ref: str, raw: bytes) -> None:
        """Put a new version of a draft in place of the old (its letter re-rendered)."""

    def remove_draft(self, mailbox_ref: str) -> None:
        """Take a rejected or superseded draft out of the approval folder."""

    def send(self, mailbox_ref: str | None, raw: bytes) -> str | None:
        """Send the final message and keep a copy in Sent; returns the copy's backend id."""

    def was_sent(self, message_id: str) -> bool:
        """Whether a message with this Message-ID is already in Sent (crash recovery)."""

    def approvals(self) -> list[MailboxApproval]:
        """Drafts approved in the mail client since they were saved ([] where approval is by command only)."""

    def refuse_approval(self, mailbox_ref: str, labels: list[str]) -> None:
        """Take back an approval the rules refused (lint, four-eyes), showing `labels` on the draft."""

    def set_labels(self, mailbox_ref: str, labels: list[str]) -> None:
        """Show a draft's deadlines ("Response due 7 Dec", "Overdue") as keywords or categories,
        replacing those we set before; the officers' own labels are kept."""

    def wait_for_mail(self, timeout: float, stop: "threading.Event") -> None:
        """Return when new mail may have come (IMAP IDLE), `timeout` seconds passed, or `stop` is set."""

    def close(self) -> None:
        """Log out; the next call connects again (also how the daemon recovers from an error)."""


def translating_errors(failed: Callable[[BaseException], bool], where: Callable[[Any], str]):
    """A decorator for a network backend's methods: an error `failed` accepts
    (the library's, the socket's) becomes MailboxError naming `where(self)`,
    and the connection is closed so the next call starts clean. Generators
    are wrapped too, since their errors come while the caller iterates."""

    def decorate(method):
        def translated(self, err: BaseException) -> MailboxError:
            self.close()
            if isinstance(err, MailboxError):
                return err
            return MailboxError(f"{where(self)}: {type(err).__name__}: {str(err)[:200]}")

        if inspect.isgeneratorfunction(method):
            @wraps(method)
            def generator(self, *args, **kwargs):
                try:
                    yield from method(self, *args, **kwargs)
                except Exception as err:  # noqa: BLE001 - only what `failed` accepts is translated
                    if not failed(err):
                        raise
                    raise translated(self, err) from None
            return generator

        @wraps(method)
        def wrapper(self, *args, **kwargs):
            try:
                return method(self, *args, **kwargs)
            except Exception as err:  # noqa: BLE001 - only what `failed` accepts is translated
                if not failed(err):
                    raise
                raise translated(self, err) from None

        return wrapper

    return decorate
