"""The Maildir backend: the embedded default, used by the demo and the acceptance checks.

Maildir++ layout: INBOX at the root (new/, cur/, tmp/), other folders as
`.Name`. Delivery time is the leading Unix timestamp of the file name, else
the file's mtime. Drafts go to the approval folder (default `.Drafts`);
sending moves the final message to `.Sent`. There is no SMTP here: the Sent
copy *is* the sending, which is what makes the demo self-contained.
"""

from __future__ import annotations

import os
import re
import socket
import threading
import time
from datetime import datetime, timezone
from email.parser import BytesHeaderParser
from pathlib import Path
from typing import Callable, Iterator

from mailcomplaints.mailboxes.base import Delivered, MailboxApproval, MailboxError

_LEADING_TS = re.compile(r"^(\d{9,11})(?:\.|$)")
_counter = 0


def _unique_name() -> str:
    global _counter
    _counter += 1
    return f"{int(time.time())}.M{time.time_ns() % 1_000_000}P{os.getpid()}Q{_counter}.{socket.gethostname().replace('/', '_')}"


def base_name(filename: str) -> str:
    """The file name without the `:2,FLAGS` info part: stable across flag changes."""
    return filename.split(":", 1)[0]


class MaildirMailbox:
    def __init__(self, path: str | Path, address: str, approval_folder: str = "Drafts", sent_folder: str = "Sent"):
        self.root = Path(path)
        self.address = address
        self.approval = self._folder(approval_folder)
        self.sent = self._folder(sent_folder)
        for folder in (self.root, self.approval, self.sent):
            for sub in ("new", "cur", "tmp"):
                try:
                    (folder / sub).mkdir(parents=True, exist_ok=True)
                except OSError as err:
                    raise MailboxError(f"the Maildir {folder} cannot be created: {err.strerror}") from None

    def _folder(self, name: str) -> Path:
        return self.root / ("." + name.replace("/", "."))

    # --- reading -------------------------------------------------------------

    @staticmethod
    def delivered_at(path: Path) -> datetime:
        found = _LEADING_TS.match(path.name)
        seconds = int(found.group(1)) if found else int(path.stat().st_mtime)
        return datetime.fromtimestamp(seconds, tz=timezone.utc)

    def _inbox_files(self) -> list[Path]:
        files = [p for sub in ("new", "cur") for p in (self.root / sub).iterdir() if p.is_file() and not p.name.startswith(".")]
        return sorted(files, key=lambda p: (self.delivered_at(p), p.name))

    def new_messages(self, is_known: Callable[[list[str]], set[str]]) -> Iterator[Delivered]:
        try:
            files = self._inbox_files()
        except OSError as err:
            raise MailboxError(f"the Maildir {self.root} cannot be read: {err.strerror}") from None
        known = is_known([base_name(p.name) for p in files])
        for path in files:
            backend_id = base_name(path.name)
            if backend_id in known:
                if path.parent.name == "new":
                    self.mark_processed(backend_id)
                continue
            try:
                raw = path.read_bytes()
            except FileNotFoundError:
                continue  # moved by someone else meanwhile; it will be seen again
            yield Delivered(backend_id, self.delivered_at(path), raw)

    def sent_messages(self, is_known: Callable[[list[str]], set[str]]) -> Iterator[Delivered]:
        """Mail in Sent that we have not stored: what officers wrote by hand."""
        files = sorted((p for sub in ("new", "cur") for p in (self.sent / sub).iterdir() if p.is_file()),
                       key=lambda p: (self.delivered_at(p), p.name))
        ids = {f"sent:{base_name(p.name)}": p for p in files}
        known = is_known(list(ids))
        for backend_id, path in ids.items():
            if backend_id not in known:
                try:
                    yield Delivered(backend_id, self.delivered_at(path), path.read_bytes())
                except FileNotFoundError:
                    continue

    def mark_processed(self, backend_id: str) -> None:
        for path in (self.root / "new").glob(f"{backend_id}*"):
            if base_name(path.name) == backend_id:
                os.replace(path, self.root / "cur" / f"{backend_id}:2,S")

    # --- drafts and sending ----------------------------------------------------

    def _find(self, folder: Path, ref: str) -> Path | None:
        for sub in ("cur", "new"):
            for path in (folder / sub).glob(f"{ref}*"):
                if base_name(path.name) == ref:
                    return path
        return None

    def _deliver(self, folder: Path, raw: bytes, flags: str, name: str | None = None) -> str:
        name = name or _unique_name()
        tmp = folder / "tmp" / name
        with open(tmp, "wb") as handle:
            handle.write(raw)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, folder / "cur" / f"{name}:2,{flags}")
        return name

    def save_draft(self, draft_id: str, raw: bytes) -> str:
        ref = f"{draft_id}.mailcomplaints"  # deterministic, so saving twice leaves one copy
        if self._find(self.approval, ref) is None:
            self._deliver(self.approval, raw, "D", ref)
        return ref

    def read_draft(self, mailbox_ref: str) -> bytes | None:
        path = self._find(self.approval, mailbox_ref)
        return path.read_bytes() if path else None

    def draft_editor(self, mailbox_ref: str) -> str | None:
        return None  # files record no author

    def replace_draft(self, mailbox_ref: str, raw: bytes) -> None:
        """What an officer's mail client does when they edit and save a draft."""
        path = self._find(self.approval, mailbox_ref)
        if path is None:
            raise MailboxError(f"draft {mailbox_ref} is no longer in the approval folder")
        tmp = self.approval / "tmp" / path.name
        tmp.write_bytes(raw)
        os.replace(tmp, path)

    def remove_draft(self, mailbox_ref: str) -> None:
        path = self._find(self.approval, mailbox_ref)
        if path:
            path.unlink(missing_ok=True)

    def send(self, mailbox_ref: str | None, raw: bytes) -> str:
        """Returns the Sent copy's backend id, so it is never read back as new."""
        name = self._deliver(self.sent, raw, "S")
        if mailbox_ref:
            self.remove_draft(mailbox_ref)
        return f"sent:{name}"

    def was_sent(self, message_id: str) -> bool:
        parser = BytesHeaderParser()
        for sub in ("cur", "new"):
            for path in (self.sent / sub).iterdir():
                with open(path, "rb") as handle:
                    if (parser.parse(handle).get("Message-ID") or "").strip() == message_id:
                        return True
        return False

    def approvals(self) -> list[MailboxApproval]:
        return []  # Maildir has no keywords a mail client shares: approve with `mailcomplaints approve`

    def refuse_approval(self, mailbox_ref: str, labels: list[str]) -> None:
        pass

    def set_labels(self, mailbox_ref: str, labels: list[str]) -> None:
        pass  # no keywords: `mailcomplaints drafts` and `cases` show the deadlines

    def wait_for_mail(self, timeout: float, stop: threading.Event) -> None:
        """Poll new/ each second (a delivering MTA adds a file there)."""
        deadline = time.monotonic() + timeout
        before = set(os.listdir(self.root / "new"))
        while not stop.is_set() and time.monotonic() < deadline:
            if set(os.listdir(self.root / "new")) - before:
                return
            stop.wait(min(1.0, max(0.0, deadline - time.monotonic())))

    def close(self) -> None:
        pass
