"""Nothing a resident writes makes the letter renderer fetch anything
(DESIGN.md, decision 10): a hostile HTML complaint is drafted and rendered to
PDF while a local HTTP server counts requests, and none arrives."""

from __future__ import annotations

import http.server
import threading
from datetime import datetime, timedelta, timezone

import pytest

from databases import database_url
from mailcomplaints.config import load_config
from mailcomplaints.service.app import App
from mailcomplaints.service.pipeline import ingest
from mailcomplaints.service.queries import list_drafts
from mailcomplaints.service.setup import config_text

AT = datetime(2026, 11, 23, 10, 0, tzinfo=timezone.utc)


@pytest.fixture
def listener():
    hits: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (the stdlib's name)
            hits.append(self.path)
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", hits
    server.shutdown()


def landlord_app(folder) -> App:
    (folder / "mailcomplaints.toml").write_text(config_text(landlord="Reliance Housing", policy="reliance",
                                                            address="complaints@landlord.example.org",
                                                            mailbox_path="mailbox", database_url=database_url(folder)))
    return App(load_config(folder / "mailcomplaints.toml"))


def hostile_complaint(base: str) -> bytes:
    html = f"""<html><head><link rel="stylesheet" href="{base}/style.css">
<style>body {{ background: url('{base}/bg.png') }} @import url("{base}/import.css");</style></head>
<body><p>I want to make a complaint, nobody has fixed my roof.</p>
<img src="{base}/pixel.gif"><img src="file:///etc/passwd"><iframe src="{base}/frame"></iframe>
<object data="{base}/object"></object><svg><image href="{base}/svg.png"/></svg></body></html>"""
    subject = f'Roof <img src="{base}/subject.png"> <link href="file:///etc/passwd">'
    return (f"From: Eve Example <eve@example.net>\nTo: complaints@landlord.example.org\nSubject: {subject}\n"
            f"Message-ID: <hostile-1@example.net>\nContent-Type: text/html; charset=utf-8\n\n{html}\n").encode()


def test_a_hostile_html_complaint_renders_with_no_fetch_attempted(tmp_path, listener):
    base, hits = listener
    app = landlord_app(tmp_path)
    (app.mailbox.root / "new" / f"{int(AT.timestamp())}.hostile.test").write_bytes(hostile_complaint(base))
    ingest(app, AT + timedelta(minutes=1))
    (draft,) = list_drafts(app)
    assert draft["pdf"] and open(draft["pdf"], "rb").read(5) == b"%PDF-"
    assert hits == []  # the local server saw nothing
    assert app.pdf.fetcher.refused == []  # the resident's markup never even reached the renderer as markup
    assert all(url.startswith("file://") and "/templates/" in url for url in app.pdf.fetcher.served)
    app.close()


def test_the_fetcher_refuses_anything_outside_its_folders(tmp_path, listener):
    base, hits = listener
    app = landlord_app(tmp_path)
    html = (f'<html><head><link rel="stylesheet" href="{base}/style.css"><style>p {{ background: url("{base}/bg.png") }}</style></head>'
            f'<body><p>x</p><img src="{base}/a.gif"><img src="file:///etc/passwd"><img src="data:image/png;base64,iVBORw0KGgo="></body></html>')
    pdf = app.pdf.render(html)  # even markup that reached the renderer fetches nothing
    assert pdf.startswith(b"%PDF-")
    assert hits == []
    refused = app.pdf.fetcher.refused
    assert any("/a.gif" in url for url in refused) and any("/etc/passwd" in url for url in refused)
    app.close()


def test_an_encoded_word_in_a_subject_an_officer_edits_cannot_add_a_header():
    """compose() is the last gate: a subject that did not come through the parser
    (an officer's edit) with an encoded CR LF stays one inert header."""
    import email
    from email import policy

    from mailcomplaints.drafting.compose import compose

    raw = compose(draft_id="d-1", message_id="<d-1@landlord.example.org>", sender_name="Complaints Team",
                  sender="complaints@landlord.example.org", to=["resident@example.net"], cc=[],
                  subject="Re: =?utf-8?q?Boiler=0D=0ABcc:_thief@example.org?=", body="Thank you.",
                  date=datetime(2026, 11, 23, 10, 0, tzinfo=timezone.utc))
    sent = email.message_from_bytes(raw, policy=policy.default)
    assert sent["Bcc"] is None and "thief@example.org" in sent["Subject"]
    assert b"\r\nBcc:" not in raw and b"\nBcc:" not in raw
