"""`run`: the daemon a landlord leaves running for months.

Each round ingests new mail, runs the scheduled work (`tick`) and sends what
was approved; between rounds it waits for mail (IMAP IDLE, else polling) for
at most `[daemon] poll_seconds`. After any network, server or database error
it drops the connection and tries again after an exponential back-off with
jitter; work is never lost or repeated, because every step resumes from what
the database recorded. SIGTERM or SIGINT lets the message in hand finish,
then stops. Health — last successful round, backlog, errors — is kept in the
database for `mailcomplaints status`, and served to Prometheus when
`[daemon] metrics_port` is set.

Several daemons may share one database and mailbox for fail-over: each round
starts only once this daemon holds the leader lock (store/leadership.py);
the others wait, trying every STANDBY_SECONDS, and the first to find the lock
free after the leader dies takes over where the database says it stopped.
"""

from __future__ import annotations

import logging
import os
import random
import signal
import socket
import threading
from datetime import datetime, timezone

from sqlalchemy.exc import OperationalError

from mailcomplaints.mailboxes.base import MailboxError
from mailcomplaints.service.app import App
from mailcomplaints.service.approval import send_approved
from mailcomplaints.service.pipeline import ingest
from mailcomplaints.service.scheduler import tick
from mailcomplaints.store import repository as repo
from mailcomplaints.store.leadership import Leadership

log = logging.getLogger("mailcomplaints.daemon")
RECOVERABLE = (MailboxError, OperationalError, OSError)
STANDBY_SECONDS = 5  # how often a waiting daemon tries for the lead: take-over within this plus one round


class Metrics:
    """Counters for Prometheus, in a registry of our own."""

    def __init__(self, host: str, port: int):
        from prometheus_client import CollectorRegistry, Counter, Gauge, start_http_server

        self.registry = CollectorRegistry()
        self.processed = Counter("mailcomplaints_messages_processed", "Messages stored in a case", registry=self.registry)
        self.quarantined = Counter("mailcomplaints_messages_quarantined", "Messages quarantined", registry=self.registry)
        self.sent = Counter("mailcomplaints_drafts_sent", "Approved drafts sent", registry=self.registry)
        self.errors = Counter("mailcomplaints_errors", "Rounds that failed (network, server, database)", registry=self.registry)
        self.last_success = Gauge("mailcomplaints_last_success_timestamp_seconds", "When a round last completed", registry=self.registry)
        self.backlog = Gauge("mailcomplaints_backlog", "Messages found but not yet processed", registry=self.registry)
        self.server, self.thread = start_http_server(port, addr=host, registry=self.registry)

    def close(self) -> None:
        self.server.shutdown()


def backoff(failures: int, cap: float, rng: random.Random = random.Random()) -> float:
    """1, 2, 4 … seconds up to `cap`, each with jitter (half to all of it), so
    many daemons restarting with one server do not return in step."""
    delay = min(cap, 2.0 ** max(0, failures - 1))
    return rng.uniform(delay / 2, delay)


def one_round(app: App, now: datetime, stop: threading.Event | None = None, metrics: Metrics | None = None) -> None:
    result = ingest(app, now, stop=stop.is_set if stop else None)
    ticked = tick(app, now)
    sent = send_approved(app, now)
    log.info("round processed=%d quarantined=%d duplicates=%d drafts=%d closed=%d reminders=%d sent=%d",
             result.processed, result.quarantined, result.duplicates, result.drafts, len(ticked.closed), ticked.reminders, len(sent))
    if metrics:
        metrics.processed.inc(result.processed)
        metrics.quarantined.inc(result.quarantined)
        metrics.sent.inc(len(sent))


def _health(app: App, now: datetime, **values: str) -> None:
    try:
        with app.db.transaction() as session:
            for name, value in values.items():
                repo.set_cursor(session, f"daemon.{name}", value, now)
    except OperationalError:
        pass  # the database is what failed: nowhere to record it


def _lead(app: App, leadership: Leadership, now: datetime, waiting: bool) -> bool:
    """True when this daemon leads (taking the lead if it is free)."""
    if leadership.held:
        if leadership.still_held():
            return True
        log.error("lost the lead: the database session that held it ended; waiting to lead again")
        app.mailbox.close()
    if not leadership.try_acquire():
        if not waiting:
            log.info("standby: another daemon leads; trying every %ds", STANDBY_SECONDS)
        return False
    leader = f"{socket.gethostname()} pid {os.getpid()} since {now.isoformat()}"
    log.info("leading: %s", leader)
    _health(app, now, leader=leader)
    return True


def run_forever(app: App, interval: int | None = None, once: bool = False, fixed_now: datetime | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    for chatty in ("weasyprint", "fontTools", "alembic", "imapclient"):  # one line per action of ours, not theirs
        logging.getLogger(chatty).setLevel(logging.WARNING)
    settings = app.settings.daemon
    interval = interval or settings.poll_seconds
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    metrics = Metrics(settings.metrics_host, settings.metrics_port) if settings.metrics_port else None
    failures, errors = 0, 0
    leadership, waiting = Leadership(app.db.engine), False
    log.info("started backend=%s poll_seconds=%d", app.settings.mailbox.backend, interval)
    try:
        while not stop.is_set():
            now = fixed_now or datetime.now(timezone.utc)
            try:
                waiting = not _lead(app, leadership, now, waiting)
                if waiting:
                    if once:
                        break
                    stop.wait(STANDBY_SECONDS)
                    continue
                one_round(app, now, stop, metrics)
                failures = 0
                backlog = getattr(app.mailbox, "backlog", 0)
                _health(app, now, last_success=now.isoformat(), backlog=str(backlog))
                if metrics:
                    metrics.last_success.set(now.timestamp())
                    metrics.backlog.set(backlog)
                if once or stop.is_set():
                    break
                app.mailbox.wait_for_mail(interval, stop)
            except RECOVERABLE as err:
                failures, errors = failures + 1, errors + 1
                app.mailbox.close()
                delay = backoff(failures, settings.backoff_max_seconds)
                log.error("round failed error=%s retry_in=%.1fs failures=%d: %s", type(err).__name__, delay, failures, str(err)[:200])
                _health(app, now, errors=str(errors), last_error=f"{now.isoformat()} {type(err).__name__}: {str(err)[:200]}")
                if metrics:
                    metrics.errors.inc()
                if once:
                    raise
                stop.wait(delay)
    finally:
        app.mailbox.close()
        leadership.release()
        if metrics:
            metrics.close()
    log.info("stopped")
