"""Every draft kind, for every landlord's policy, as email and as PDF letter:
each holds what its kind must (reference, the case's own dates, the
Ombudsman's details, the escalation route) — checked on the text extracted
from the PDF and from the email. Page one of each is saved as a PNG under
test-output/letters/ so a person can look at it."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pypdf
import pypdfium2
import pytest

from databases import database_url
from mailcomplaints.config import load_config
from mailcomplaints.domain.calendar import LONDON
from mailcomplaints.drafting.lint import lint
from mailcomplaints.drafting.render import PLACEHOLDER, longdate
from mailcomplaints.policies import redress_bodies
from mailcomplaints.service import casework
from mailcomplaints.service.app import App
from mailcomplaints.service.approval import approve, send_approved
from mailcomplaints.service.drafts import lint_facts
from mailcomplaints.service.pipeline import ingest
from mailcomplaints.service.queries import show_case
from mailcomplaints.service.scheduler import tick
from mailcomplaints.service.setup import config_text
from mailcomplaints.store import repository as repo

LANDLORDS = ["reliance", "housing-solutions", "connect", "southway", "alliance-homes"]
OUTPUT = Path(__file__).resolve().parents[2] / "test-output" / "letters"
OMBUDSMAN = redress_bodies()["housing-ombudsman"]
START = datetime(2026, 11, 2, 9, 30, tzinfo=LONDON)  # a Monday


def email(number: int, sender: str, subject: str, body: str) -> bytes:
    return (f"From: {sender}\nTo: complaints@landlord.example.org\nSubject: {subject}\n"
            f"Message-ID: <letters-{number}@example.net>\nContent-Type: text/plain; charset=utf-8\n\n{body}\n").encode()


class History:
    """One landlord's mailbox, played until it has a draft of every kind."""

    def __init__(self, policy: str, folder: Path):
        folder.mkdir(parents=True)
        (folder / "mailcomplaints.toml").write_text(config_text(
            landlord=f"{policy.title()} Homes", policy=policy, address="complaints@landlord.example.org",
            mailbox_path="mailbox", database_url=database_url(folder)))
        self.app = App(load_config(folder / "mailcomplaints.toml"))
        self.count = 0
        self.drafts: dict[tuple[str, int], str] = {}

    def deliver(self, at: datetime, sender: str, subject: str, body: str) -> list[str]:
        self.count += 1
        (self.app.mailbox.root / "new" / f"{int(at.timestamp())}.l{self.count}.test").write_bytes(email(self.count, sender, subject, body))
        return ingest(self.app, at + timedelta(minutes=2)).new_cases

    def keep(self, reference: str, kind: str, stage: int) -> str:
        with self.app.db.transaction() as session:
            draft = next(d for d in reversed(repo.case_by_reference(session, reference).drafts) if d.kind == kind and d.stage == stage)
            self.drafts[(kind, stage)] = draft.id
            return draft.id

    def send(self, draft_id: str, at: datetime) -> None:
        approve(self.app, draft_id, "Manager Two", at, override="test: findings written")
        send_approved(self.app, at)

    def play(self) -> "History":
        t = START
        (damp,) = self.deliver(t, "Jane Doe <jane@example.net>", "Damp and mould in the bedroom",
                               "I want to make a complaint: the damp in my bedroom has been reported three times and nobody has come. "
                               "I have dyslexia, please use large print.")
        ack1 = self.keep(damp, "acknowledgement", 1)
        self.large_print = ack1  # she asked for large print
        casework.extend(self.app, damp, 5, "we are waiting for the damp survey", t + timedelta(hours=3), "Officer One")
        self.keep(damp, "extension", 1)
        self.send(ack1, t + timedelta(hours=4))
        casework.plan_draft(self.app, damp, "response", t + timedelta(days=7), "Officer One", outcome="upheld")
        response1 = self.keep(damp, "response", 1)
        self.send(response1, t + timedelta(days=7))
        self.deliver(t + timedelta(days=8), "Jane Doe <jane@example.net>", f"Re: Your complaint {damp}",
                     "I am not happy with your response, please escalate my complaint to stage 2.")
        ack2 = self.keep(damp, "acknowledgement", 2)
        self.send(ack2, t + timedelta(days=8, hours=2))
        casework.plan_draft(self.app, damp, "response", t + timedelta(days=15), "Officer Three", outcome="not upheld")
        self.keep(damp, "response", 2)

        (late,) = self.deliver(t + timedelta(days=1), "Tom Lee <tom@example.net>", "Missed appointments",
                               "I am complaining because the contractor missed two appointments and nobody rang me.")
        self.send(self.keep(late, "acknowledgement", 1), t + timedelta(days=1, hours=2))
        casework.plan_draft(self.app, late, "response", t + timedelta(days=3), "Officer One", outcome="not upheld")
        self.send(self.keep(late, "response", 1), t + timedelta(days=3))
        self.deliver(t + timedelta(days=60), "Tom Lee <tom@example.net>", f"Re: Your complaint {late}",
                     "I want this escalated to stage 2 please.")
        with self.app.db.transaction() as session:
            pending = repo.case_by_reference(session, late).pending_escalation_at
        if pending:  # a late request: both letters drafted; decline it
            casework.decide(self.app, late, "decline-escalation", t + timedelta(days=61), "Manager Two", "outside the window")
        else:  # Southway sets no window: use a premature request on a fresh case instead
            (early,) = self.deliver(t + timedelta(days=62), "Ann Cole <ann@example.net>", "Fence",
                                    "I am not happy, the fence has been broken for weeks and nobody has come.")
            self.deliver(t + timedelta(days=63), "Ann Cole <ann@example.net>", f"Re: Your complaint {early}", "Please escalate this to stage 2 now.")
            late = early
        self.keep(late, "escalation_declined", 1)

        (tap,) = self.deliver(t + timedelta(days=2), "Sam Okoro <sam@example.net>", "Dripping tap",
                              "Please could someone come and fix my kitchen tap, it is dripping.")
        self.keep(tap, "not_a_complaint", 1)
        (thanks,) = self.deliver(t + timedelta(days=2, hours=1), "Pat Hill <pat@example.net>", "Thank you",
                                 "Please pass on my thanks to the plumber, brilliant job.")
        self.keep(thanks, "compliment_thanks", 1)
        (soon,) = self.deliver(t + timedelta(days=70), "Lee Ray <lee@example.net>", "Broken window",
                               "I am not happy: my window has been broken for a month and nobody has come.")
        tick(self.app, t + timedelta(days=73))  # Thu 14 Jan 2027: every policy has an acknowledgement due within two working days
        self.keep(soon, "reminder", 1)
        return self


@pytest.fixture(scope="module", params=LANDLORDS)
def history(request, tmp_path_factory) -> History:
    played = History(request.param, tmp_path_factory.mktemp(request.param) / "run").play()
    played.policy = request.param
    yield played
    played.app.close()


KINDS = [("acknowledgement", 1), ("extension", 1), ("response", 1), ("acknowledgement", 2), ("response", 2),
         ("escalation_declined", 1), ("not_a_complaint", 1), ("compliment_thanks", 1), ("reminder", 1)]


@pytest.mark.parametrize("kind, stage", KINDS, ids=[f"{k}-{s}" for k, s in KINDS])
def test_each_draft_holds_what_its_kind_must(history: History, kind: str, stage: int):
    with history.app.db.transaction() as session:
        draft = repo.draft_by_id(session, history.drafts[(kind, stage)])
        facts = lint_facts(history.app, draft)
        text, pdf_path, reference = draft.body_text, draft.pdf_path, draft.case.reference
        case = show_case(history.app, reference, draft.created_at)
    expected_missing = {"response": [f"{text.count(PLACEHOLDER)} [[OFFICER TO COMPLETE]] placeholders still to fill in"]}.get(kind, [])
    assert lint(text, facts) == expected_missing  # planned drafts are complete but for what an officer must write
    if kind == "reminder":
        assert pdf_path is None  # an internal note: no letter
        return
    pdf_text = " ".join(page.extract_text() for page in pypdf.PdfReader(pdf_path).pages)
    for where in (text, pdf_text):
        flat = " ".join(where.split())
        assert reference in flat
        if kind in ("acknowledgement", "extension"):
            due = next(d["due"] for d in case["deadlines"] if d["kind"] == "respond" and d["stage"] == stage)
            assert longdate(datetime.fromisoformat(due).date()) in flat
        if kind in ("extension", "response", "escalation_declined", "not_a_complaint"):
            assert OMBUDSMAN["telephone"] in flat and "housing-ombudsman.org.uk" in flat
            assert "PO Box 152" not in flat and "Liverpool" not in flat
        if kind == "response" and stage == 1 and facts.window_end:
            assert longdate(facts.window_end) in flat
    if kind in ("acknowledgement", "extension"):
        assert lint(pdf_text, facts) == []  # the letter says the same as the email
    for number, page in enumerate(pypdf.PdfReader(pdf_path).pages, start=1):
        assert f"Our reference {reference}" in page.extract_text()  # the footer of every page, if the pages part
    OUTPUT.mkdir(parents=True, exist_ok=True)
    page = pypdfium2.PdfDocument(pdf_path)[0]
    page.render(scale=1).to_pil().save(OUTPUT / f"{history.policy}-{kind}-{stage}.png")


def test_large_print_letters_for_a_reasonable_adjustment(history: History):
    with history.app.db.transaction() as session:
        draft = repo.draft_by_id(session, history.large_print)
        assert "reasonable_adjustment" in draft.case.flags
        path = draft.pdf_path
    sizes = set()
    for page in pypdf.PdfReader(path).pages:
        page.extract_text(visitor_text=lambda text, cm, tm, font, size: sizes.add(round(size * tm[0])) if text.strip() else None)
    assert max(sizes) >= 16
    OUTPUT.mkdir(parents=True, exist_ok=True)
    pypdfium2.PdfDocument(path)[0].render(scale=1).to_pil().save(OUTPUT / f"{history.policy}-large-print.png")


def test_a_letter_that_will_not_render_holds_up_no_other_draft(tmp_path: Path):
    history = History("reliance", tmp_path / "run")
    render, calls = history.app.pdf.render, []

    def first_fails(html: str) -> bytes:
        calls.append(html)
        if len(calls) == 1:
            raise RuntimeError("the renderer broke on this letter")
        return render(html)

    history.app.pdf.render = first_fails
    for number, (sender, subject) in enumerate((("Jane Doe <jane@example.net>", "Damp"), ("Tom Lee <tom@example.net>", "Repairs")), 1):
        (history.app.mailbox.root / "new" / f"{int(START.timestamp()) + number}.f{number}.test").write_bytes(
            email(number, sender, subject, f"I want to make a complaint: nobody has come to fix the {subject.lower()}."))
    first, second = ingest(history.app, START + timedelta(minutes=5)).new_cases  # both cases made, one letter failed

    def in_mailbox() -> dict[str, bool]:
        with history.app.db.transaction() as session:
            return {ref: repo.case_by_reference(session, ref).drafts[0].mailbox_ref is not None for ref in (first, second)}

    assert in_mailbox() == {first: False, second: True}  # the failed letter held up no other draft
    assert len(list((history.app.mailbox.root / ".Drafts" / "cur").iterdir())) + len(list((history.app.mailbox.root / ".Drafts" / "new").iterdir())) == 1
    ingest(history.app, START + timedelta(minutes=10))
    assert in_mailbox() == {first: True, second: True}  # tried again on the next round
    history.app.close()
