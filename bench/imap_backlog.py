"""How fast `mailcomplaints ingest` works through a backlog in a Dovecot
mailbox (10,000 messages by default), beside a plain imapclient download of
the same mailbox, and its peak memory (the target: under 300 MB).

The backlog is a deterministic mix (--seed): about 40% new complaints from
distinct residents, 30% replies in those threads, 10% escalation requests,
10% auto-replies, 10% service requests and compliments; 1% carry a 200 KB
photo. INTERNALDATEs are spread over the last four days. Every complaint gets
an acknowledgement with a PDF letter, so ingest is expected to take minutes.

Peak memory is the ingest process's maximum RSS, from `/usr/bin/time -f %M`
where it exists, else from getrusage(RUSAGE_CHILDREN) here (the ingest is the
first child this script waits for; Dovecot runs until the end).

Usage: .venv/bin/python bench/imap_backlog.py [--messages N] [--seed S]
       (--messages 1000 for a quick run)
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from servers import Dovecot, SmtpSink, imap_config  # noqa: E402

USER = "complaints@example.test"
PASSWORD_ENV = "MAILCOMPLAINTS_BENCH_IMAP_PASSWORD"
ENV = os.environ | {PASSWORD_ENV: "secret"}
LIMIT_MB = 300
GNU_TIME = "/usr/bin/time"

PROBLEMS = ["black mould in the bedroom", "a broken boiler and no hot water", "a leaking roof over the kitchen",
            "a front door that will not lock", "rats in the communal bin store", "a broken lift on the 9th floor",
            "a wrong service charge bill", "noise from the flat upstairs every night", "a damp patch spreading in the hall",
            "missed repair appointments", "a rude contractor", "a blocked drain outside the back door"]
DETAILS = ["I have reported this three times since the summer and nobody has come.",
           "My youngest child has asthma and the doctor says the flat is making it worse.",
           "The contractor booked for Tuesday did not turn up and did not call.",
           "I took time off work to wait in for the engineer twice.",
           "I have attached photos so you can see how bad it is.",
           "My neighbour has the same problem and was told it would be fixed in May.",
           "I pay my rent on time and expect the repairs to be done.",
           "Please call me on my mobile, I work shifts and cannot always answer."]


class Backlog:
    """Builds the mix message by message; remembers threads so later replies,
    escalations and auto-replies answer real earlier messages."""

    def __init__(self, count: int, seed: int):
        self.rng = random.Random(seed)
        self.count = count
        self.threads: list[dict] = []  # resident, name, subject, message_id, body
        self.residents = 0
        self.start = datetime.now(timezone.utc) - timedelta(days=4)

    def when(self, i: int) -> datetime:
        return self.start + timedelta(days=4) * (i / self.count)

    def message(self, i: int) -> bytes:
        roll = self.rng.random()
        if not self.threads or roll < 0.40:
            return self._new(i, "complaint")
        if roll < 0.70:
            return self._reply(i, self.rng.choice(self.threads),
                               "Further to my last email: " + " ".join(self.rng.sample(DETAILS, self.rng.randint(1, 3))))
        if roll < 0.80:
            return self._reply(i, self.rng.choice(self.threads),
                               "I am not happy with your response, please escalate my complaint to stage 2.")
        if roll < 0.90:
            return self._auto_reply(i, self.rng.choice(self.threads))
        return self._new(i, self.rng.choice(["service_request", "compliment"]))

    def _mail(self, i: int, resident: int, name: str, subject: str, body: str, **headers: str) -> EmailMessage:
        msg = EmailMessage()
        msg["From"] = f"{name} <resident{resident}@example.net>"
        msg["To"] = f"Complaints <{USER}>"
        msg["Subject"] = subject
        msg["Date"] = format_datetime(self.when(i))
        msg["Message-ID"] = f"<bench-{i}.r{resident}@resident.example.net>"
        for header, value in headers.items():
            msg[header.replace("_", "-")] = value
        msg.set_content(body)
        return msg

    def _new(self, i: int, kind: str) -> bytes:
        self.residents += 1
        n, name = self.residents, f"Resident {self.residents}"
        problem = self.rng.choice(PROBLEMS)
        if kind == "complaint":
            subject = f"Complaint about {problem} (flat {n})"
            body = (f"I want to make a complaint about {problem} at flat {n}, number {i}.\n\n"
                    + "\n\n".join(self.rng.sample(DETAILS, self.rng.randint(1, 5))))
        elif kind == "service_request":
            subject = f"Repair needed at flat {n}"
            body = f"Please could someone fix my tap at flat {n}? It has been dripping since last week."
        else:
            subject = "Thank you"
            body = f"Thank you to the plumber who came to flat {n} on Monday, he was quick and tidy."
        msg = self._mail(i, n, name, subject, body + f"\n\nKind regards,\n{name}\n")
        if kind == "complaint" and self.rng.random() < 0.025:  # ~1% of all messages: a photo of the damage
            msg.add_attachment(self.rng.randbytes(200_000), maintype="image", subtype="jpeg", filename=f"photo-{i}.jpg")
        self.threads.append({"resident": n, "name": name, "subject": subject, "message_id": msg["Message-ID"], "body": body})
        return msg.as_bytes()

    def _reply(self, i: int, earlier: dict, text: str) -> bytes:
        quoted = "\n".join("> " + line for line in earlier["body"].splitlines())
        body = f"{text}\n\n{earlier['name']}\n\nOn {format_datetime(self.when(i - 1))}, {earlier['name']} wrote:\n{quoted}\n"
        msg = self._mail(i, earlier["resident"], earlier["name"], f"Re: {earlier['subject']}", body,
                         In_Reply_To=earlier["message_id"], References=earlier["message_id"])
        earlier.update(message_id=msg["Message-ID"], body=body)
        return msg.as_bytes()

    def _auto_reply(self, i: int, earlier: dict) -> bytes:
        body = "I am out of the office until Monday with limited access to email. For urgent repairs call 0300 123 4567.\n"
        return self._mail(i, earlier["resident"], earlier["name"], f"Out of office: Re: {earlier['subject']}", body,
                          Auto_Submitted="auto-replied", In_Reply_To=earlier["message_id"]).as_bytes()


def write_config(root: Path, imap_port: int, smtp_port: int) -> Path:
    return imap_config(root, user=USER, imap_port=imap_port, smtp_port=smtp_port, password_env=PASSWORD_ENV, extra="")


def plain_download(dovecot: Dovecot) -> tuple[float, int, int]:
    """What any IMAP client must spend to read the mailbox: (seconds, messages, bytes)."""
    start = time.perf_counter()
    with dovecot.client(USER) as client:
        client.select_folder("INBOX", readonly=True)
        uids = client.search(["ALL"])
        size = 0
        for first in range(0, len(uids), 500):
            for item in client.fetch(uids[first:first + 500], ["BODY.PEEK[]", "INTERNALDATE"]).values():
                size += len(item[b"BODY[]"])
    return time.perf_counter() - start, len(uids), size


def our_ingest(root: Path, config: Path) -> tuple[float, float, str, dict]:
    """Run `ingest` once in a child process: (seconds, peak RSS MB, how measured, its JSON)."""
    command = [sys.executable, "-m", "mailcomplaints.cli", "--config", str(config), "ingest", "--json"]
    rss_file = root / "ingest.maxrss"
    if os.path.exists(GNU_TIME):
        command = [GNU_TIME, "-f", "%M", "-o", str(rss_file), *command]
    start = time.perf_counter()
    with open(root / "ingest.log", "w") as log:
        done = subprocess.run(command, stdout=subprocess.PIPE, stderr=log, text=True, env=ENV)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"ingest failed ({done.returncode}):\n{(root / 'ingest.log').read_text()[-3000:]}")
    if rss_file.exists():
        kib, method = int(rss_file.read_text().split()[-1]), "/usr/bin/time -f %M"
    else:
        kib, method = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, "getrusage(RUSAGE_CHILDREN)"
    return seconds, kib / 1024, method, json.loads(done.stdout)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=1)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder, Dovecot(Path(folder) / "dovecot") as dovecot, SmtpSink() as sink:
        root = Path(folder)
        dovecot.add_user(USER)
        config = write_config(root, dovecot.port, sink.port)

        backlog, start = Backlog(options.messages, options.seed), time.perf_counter()
        for i in range(options.messages):
            dovecot.deliver(USER, backlog.message(i), when=backlog.when(i))
        print(f"filled INBOX with {options.messages} messages ({backlog.residents} residents) in {time.perf_counter() - start:.1f} s")

        plain_s, count, size = plain_download(dovecot)
        print(f"baseline, plain imapclient download (BODY.PEEK[] + INTERNALDATE, batches of 500): "
              f"{count} messages, {size / 1e6:.1f} MB in {plain_s:.2f} s = {count / plain_s:.0f} msg/s")

        ours_s, peak_mb, method, result = our_ingest(root, config)
        print(f"ours, `mailcomplaints ingest`: {result['processed']} processed, {result['quarantined']} quarantined, "
              f"{result['duplicates']} duplicates in {ours_s:.1f} s = {options.messages / ours_s:.0f} msg/s "
              f"({ours_s / plain_s:.0f}x the plain download)")
        status = json.loads(subprocess.run([sys.executable, "-m", "mailcomplaints.cli", "--config", str(config), "status", "--json"],
                                           capture_output=True, text=True, env=ENV, check=True).stdout)
        with dovecot.client(USER) as client:
            client.select_folder("Drafts", readonly=True)
            in_drafts = len(client.search(["ALL"]))
        print(f"result: {status['messages']} messages stored, {status['cases']} cases ({len(result['new_cases'])} new), "
              f"{status['pending_drafts']} pending drafts, {result['drafts']} drafts saved, {in_drafts} in the Drafts folder")
        print(f"peak RSS of the ingest process: {peak_mb:.0f} MB ({method}); under {LIMIT_MB} MB: {'yes' if peak_mb < LIMIT_MB else 'NO'}")


if __name__ == "__main__":
    main()
