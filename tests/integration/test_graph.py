"""The Microsoft Graph backend through the whole pipeline, against a double
of Graph and the identity platform that answers as Microsoft documents them
(tests/graph_server.py): new mail to cases, drafts in Outlook's Drafts with
their deadlines as categories, approval by category with the approver Exchange
records, sending the draft itself, throttling, an expired delta, large letters
through an upload session, and a wrong secret reported plainly."""

from __future__ import annotations

import email
import os
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from email import policy as email_policy
from pathlib import Path

import pytest

from conftest import make_email, message_id_of
from databases import database_url
from graph_server import FakeGraph

from mailcomplaints.config import load_config
from mailcomplaints.drafting.compose import compose
from mailcomplaints.service import casework
from mailcomplaints.service.app import App
from mailcomplaints.service.approval import send_approved
from mailcomplaints.service.pipeline import ingest
from mailcomplaints.service.queries import show_case
from mailcomplaints.service.scheduler import tick
from mailcomplaints.service.setup import config_text
from mailcomplaints.service.status import status

SECRET_ENV = "MAILCOMPLAINTS_GRAPH_SECRET"
NOW = datetime(2026, 11, 23, 10, 0, tzinfo=timezone.utc)


@pytest.fixture
def graph(tmp_path):
    with FakeGraph(tmp_path / "graph") as fake:
        yield fake
        assert fake.errors == []  # the double itself never failed


def write_config(root: Path, fake: FakeGraph, secret_env: str = SECRET_ENV) -> Path:
    """What `init --backend graph` writes, pointed at the double (its authority, URL and CA)."""
    text = config_text(landlord="Reliance Housing", policy="reliance", address=fake.mailbox, database_url=database_url(root),
                       graph=(fake.tenant, fake.client_id))
    text = text.replace(f'client_secret_env = "{SECRET_ENV}"',
                        f'client_secret_env = "{secret_env}"\nauthority = "{fake.authority}"\n'
                        f'graph_url = "{fake.graph_url}"\nca_file = "{fake.ca_file}"')
    config = root / "mailcomplaints.toml"
    config.write_text(text)
    return config


@pytest.fixture
def app(tmp_path, graph, monkeypatch):
    monkeypatch.setenv(SECRET_ENV, graph.client_secret)
    write_config(tmp_path, graph)
    made = App(load_config(tmp_path / "mailcomplaints.toml"))
    yield made
    made.close()


def complaint(n: int, to: str) -> bytes:
    return make_email(f"Resident {n} <resident{n}@example.net>", f"Complaint {n}: repairs not done",
                      f"I want to make a complaint: repair number {n} has not been done after three visits.",
                      headers={"To": to})


def resident_drafts(graph: FakeGraph) -> list[dict]:
    return [m for m in graph.messages("drafts") if b"example.net" in m["mime"].split(b"\r\n\r\n", 1)[0]]


def test_mail_to_case_to_an_approved_draft_sent_from_outlook(graph, app):
    raw = complaint(1, graph.mailbox)
    graph.deliver(raw, received=NOW - timedelta(hours=1))
    (reference,) = ingest(app, NOW).new_cases
    tick(app, NOW)
    (draft,) = resident_drafts(graph)
    assert draft["isDraft"] and any(name.endswith(".pdf") for name in draft["attachments"])
    assert "Ack due 25 Nov" in draft["categories"] and "Response due 7 Dec" in draft["categories"]
    case = show_case(app, reference, NOW)
    assert case["messages"][0]["received_at"].startswith("2026-11-23T09:00")  # receivedDateTime, not the Date header

    graph.set_categories(draft["id"], draft["categories"] + ["Approved"], modified_by="Priya Shah")  # in Outlook
    assert [d.kind for d in send_approved(app, NOW + timedelta(minutes=5))] == ["acknowledgement"]
    (sent,) = graph.sent_mime()
    message = email.message_from_bytes(sent, policy=email_policy.default)
    assert message["In-Reply-To"] == message_id_of(raw) and reference in message["Subject"]
    assert [m["internetMessageId"] for m in graph.messages("sentitems")] == [message["Message-ID"]]
    assert any(e["kind"] == "approved" and e["actor"] == "Priya Shah" for e in show_case(app, reference, NOW)["events"])
    result = ingest(app, NOW + timedelta(minutes=10))
    assert (result.processed, result.officer_replies, result.new_cases) == (0, 0, [])  # our copy in Sent Items is ours
    assert send_approved(app, NOW + timedelta(minutes=11)) == [] and len(graph.sent_mime()) == 1


def test_whoever_wrote_a_response_cannot_approve_it_by_category(graph, app):
    graph.deliver(complaint(2, graph.mailbox), received=NOW)
    (reference,) = ingest(app, NOW).new_cases
    response = casework.plan_draft(app, reference, "response", NOW, "Tom Okafor", outcome="upheld")
    ingest(app, NOW)
    (draft,) = [m for m in resident_drafts(graph) if "response" in m["attachments"][0]]
    graph.set_categories(draft["id"], ["Approved"], modified_by="Tom Okafor")  # the author tags his own
    assert send_approved(app, NOW + timedelta(minutes=5)) == []
    (after,) = [m for m in graph.messages("drafts") if m["id"] == draft["id"]]
    assert "Approved" not in after["categories"] and "Not approved" in after["categories"]
    refused = [e for e in show_case(app, reference, NOW)["events"] if e["kind"] == "approval_refused"]
    assert refused and "Tom Okafor wrote this response" in refused[0]["reason"]
    assert graph.sent_mime() == [] and response.id


def test_throttling_waits_as_long_as_graph_asks(graph, app):
    graph.deliver(complaint(3, graph.mailbox), received=NOW)
    graph.fail_next(429, count=2, retry_after=1)
    started = time.monotonic()
    assert ingest(app, NOW).processed == 1
    assert time.monotonic() - started >= 2
    assert [r.status for r in graph.requests if r.path.startswith("/v1.0")][:3] == [429, 429, 200]


def test_an_expired_delta_reads_the_folder_again_without_duplicates(graph, app):
    for n in (4, 5, 6):
        graph.deliver(complaint(n, graph.mailbox), received=NOW)
    assert ingest(app, NOW).processed == 3
    graph.expire_delta_tokens()
    graph.deliver(complaint(7, graph.mailbox), received=NOW + timedelta(minutes=1))
    result = ingest(app, NOW + timedelta(minutes=2))
    assert (result.processed, len(result.new_cases)) == (1, 1)
    assert status(app)["messages"] == 4 and status(app)["cases"] == 4
    assert ingest(app, NOW + timedelta(minutes=3)).processed == 0


def test_a_letter_over_three_megabytes_goes_by_upload_session(graph, app):
    big = os.urandom(4 * 1024 * 1024)
    raw = compose(draft_id="d-big", message_id="<d-big@mailcomplaints.example.test>", sender_name="Complaints Team",
                  sender=graph.mailbox, to=["jane@example.net"], cc=[], subject="Your complaint CMP-000001",
                  body="Dear Ms Doe, our letter and the survey are attached.", date=NOW, pdf=big, pdf_name="survey.pdf")
    ref = app.mailbox.save_draft("d-big", raw)
    (draft,) = [m for m in graph.messages("drafts") if m["id"] == ref]
    assert draft["attachments"] == ["survey.pdf"]
    attached = [p for p in email.message_from_bytes(draft["mime"], policy=email_policy.default).iter_attachments()]
    assert attached[0].get_content() == big
    assert any("createUploadSession" in r.path for r in graph.requests)
    assert app.mailbox.save_draft("d-big", raw) == ref  # saved once, whatever a crash makes us repeat


def test_a_wrong_client_secret_is_one_plain_line(tmp_path, graph):
    config = write_config(tmp_path, graph)
    done = subprocess.run([sys.executable, "-m", "mailcomplaints.cli", "--config", str(config), "ingest"],
                          capture_output=True, text=True, timeout=60, env=os.environ | {SECRET_ENV: "not-the-secret"})
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "invalid_client" in done.stderr and "not-the-secret" not in done.stderr
