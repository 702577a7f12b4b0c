"""The Mailbox protocol every backend (Maildir, IMAP, EWS, Graph) implements.

Backends move bytes and say when mail was delivered; they hold no business
rules and leak no library types into the core.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Iterator, Protocol


class MailboxError(RuntimeError):
    """The mailbox could not be reached or changed (an operational failure, exit 1)."""


@dataclass(frozen=True)
class Delivered:
    """One message as the backend holds it."""

    backend_id: str  # stable for the life of the message (Maildir base name, UIDVALIDITY:UID, ItemId, Graph id)
    delivered_at: datetime  # from the backend, never from the Date header
    raw: bytes


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
