"""`run`: ingest, tick and send in a loop until SIGTERM or SIGINT.

The foundation's daemon polls; IMAP IDLE, back-off and health metrics come
with the IMAP issue. A signal lets the round in hand finish before it stops.
"""

from __future__ import annotations

import logging
import signal
import threading
from datetime import datetime, timezone

from mailcomplaints.mailboxes.base import MailboxError
from mailcomplaints.service.app import App
from mailcomplaints.service.approval import send_approved
from mailcomplaints.service.pipeline import ingest
from mailcomplaints.service.scheduler import tick

log = logging.getLogger("mailcomplaints.daemon")


def one_round(app: App, now: datetime) -> None:
    result = ingest(app, now)
    ticked = tick(app, now)
    sent = send_approved(app, now)
    log.info("round processed=%d quarantined=%d closed=%d reminders=%d sent=%d",
             result.processed, result.quarantined, len(ticked.closed), ticked.reminders, len(sent))


def run_forever(app: App, interval: int = 60, once: bool = False, fixed_now: datetime | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    while not stop.is_set():
        try:
            one_round(app, fixed_now or datetime.now(timezone.utc))
        except MailboxError as err:
            log.error("mailbox error: %s", err)
        if once:
            return
        stop.wait(interval)
    log.info("stopped")
