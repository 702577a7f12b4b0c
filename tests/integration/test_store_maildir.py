"""The SQLite store and the Maildir backend on disk, without the CLI."""

from __future__ import annotations

import os
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import inspect, select, text

from conftest import make_email, message_id_of
from mailcomplaints.domain import lifecycle
from mailcomplaints.domain.calendar import WorkingCalendar
from mailcomplaints.mailboxes.maildir import MaildirMailbox
from mailcomplaints.policies import load_policy
from mailcomplaints.store import repository as repo
from mailcomplaints.store.database import Database
from mailcomplaints.store.models import CaseRow, EventRow

LONDON = ZoneInfo("Europe/London")
TABLES = {"cases", "case_stages", "messages", "events", "deadlines", "drafts", "outbox", "cursors", "quarantine"}


@pytest.fixture
def db(tmp_path: Path):
    database = Database(f"sqlite:///{tmp_path / 'store.sqlite'}")
    yield database
    database.close()


# --- the database ----------------------------------------------------------------------

def test_database_creates_the_schema_and_reopening_is_a_no_op(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'sub' / 'store.sqlite'}"  # the folder is created too
    first = Database(url)
    tables = set(inspect(first.engine).get_table_names())
    assert TABLES <= tables and "alembic_version" in tables
    with first.engine.connect() as conn:
        version = conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
    assert len(version) == 1
    with first.transaction() as session:
        repo.set_cursor(session, "last_sync", "kept", datetime(2026, 11, 23, tzinfo=timezone.utc))
    first.close()

    second = Database(url)  # migrating again changes nothing and keeps the data
    assert set(inspect(second.engine).get_table_names()) == tables
    with second.engine.connect() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all() == version
    with second.transaction() as session:
        assert repo.get_cursor(session, "last_sync") == "kept"
    second.close()


def test_processes_starting_together_create_the_schema_once(landlord) -> None:
    """The daemon and a `status` started at the same moment on a new database."""
    import subprocess
    import sys

    command = [sys.executable, "-m", "mailcomplaints.cli", "--config", str(landlord.config), "status", "--json"]
    running = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(5)]
    results = [(p.wait(timeout=120), p.stderr.read()) for p in running]
    assert [rc for rc, _ in results] == [0] * 5, [err for _, err in results]


def test_sqlite_runs_in_wal_mode(db: Database) -> None:
    with db.engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar().lower() == "wal"
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1


def test_a_case_round_trips_with_its_facts(db: Database) -> None:
    policy, cal = load_policy("reliance"), WorkingCalendar("england")
    # Friday 4 June 2027, 17:30 in London (BST, UTC+1): after the cut-off.
    received = datetime(2027, 6, 4, 17, 30, tzinfo=LONDON)
    case, events = lifecycle.open_case("NEW", "complaint", received)
    acknowledged = datetime(2027, 6, 7, 9, 15, tzinfo=LONDON)
    events += lifecycle.acknowledgement_sent(case, 1, acknowledged, "Priya Shah")
    events += lifecycle.extend(case, 5, "awaiting a survey", datetime(2027, 6, 8, 10, 0, tzinfo=LONDON), policy, "Tom Okafor")
    events += lifecycle.flag(case, "vulnerability", received, "asthma")

    with db.transaction() as session:
        row = repo.new_case_row(session, case)
        row.complainant_name, row.complainant_email, row.subject = "Jane Doe", "jane@example.net", "Damp"
        repo.save_case(session, row, case, events, policy, cal)
        reference = row.reference
    assert reference == case.reference == "CMP-000001"

    with db.transaction() as session:
        row = repo.case_by_reference(session, reference)
        back = repo.to_casefile(row)
        stored_events = session.scalars(select(EventRow).where(EventRow.case_id == row.id).order_by(EventRow.id)).all()
        deadlines = {(d.kind, d.stage): d.due for d in row.deadlines}

    assert back == case  # the same facts: stage, state, flags, stages, extensions
    assert (back.kind, back.stage, back.state) == ("complaint", 1, "investigating")
    assert back.flags == {"vulnerability"}
    assert back.stages[1].extensions == [5]
    for moment in (back.opened_at, back.stages[1].received_at, back.stages[1].acknowledged_at):
        assert moment.tzinfo is not None and moment.utcoffset() == timedelta(0)
    assert back.stages[1].received_at == received and back.stages[1].received_at.hour == 16  # 17:30 BST
    assert back.stages[1].acknowledged_at == acknowledged
    assert [e.kind for e in stored_events] == [e.kind for e in events]
    assert all(e.at.utcoffset() == timedelta(0) for e in stored_events)
    # Received after the cut-off on Friday: counted from Monday 7 June; 2 working
    # days -> Wednesday 9 June; respond 10 working days -> Monday 21 June, + 5 -> 28 June.
    assert deadlines[("acknowledge", 1)].isoformat() == "2027-06-09"
    assert deadlines[("respond", 1)].isoformat() == "2027-06-28"


def test_naive_times_are_refused(db: Database) -> None:
    with pytest.raises(Exception, match="naive"):
        with db.transaction() as session:
            session.add(CaseRow(reference="CMP-X", kind="complaint", state="closed", opened_at=datetime(2026, 11, 23), flags=[]))


# --- the Maildir backend --------------------------------------------------------------------

@pytest.fixture
def box(tmp_path: Path) -> MaildirMailbox:
    return MaildirMailbox(tmp_path / "mailbox", "complaints@reliance.example.org")


def _put(box: MaildirMailbox, name: str, raw: bytes, sub: str = "new") -> Path:
    path = box.root / sub / name
    path.write_bytes(raw)
    return path


def _all(box: MaildirMailbox) -> list:
    return list(box.new_messages(lambda ids: set()))


def test_maildir_layout_is_created(box: MaildirMailbox) -> None:
    for folder in (box.root, box.root / ".Drafts", box.root / ".Sent"):
        assert all((folder / sub).is_dir() for sub in ("new", "cur", "tmp"))


def test_delivery_time_comes_from_the_file_name_else_mtime(box: MaildirMailbox) -> None:
    named = _put(box, "1795428000.M1P1.host", make_email("a@example.net", "one", "one"))
    unnamed = _put(box, "msg-without-timestamp", make_email("b@example.net", "two", "two"))
    mtime = datetime(2026, 11, 20, 8, 0, tzinfo=timezone.utc).timestamp()
    os.utime(unnamed, (mtime, mtime))
    os.utime(named, (0, 0))  # the name wins over the mtime

    delivered = {d.backend_id: d for d in _all(box)}
    assert delivered["1795428000.M1P1.host"].delivered_at == datetime.fromtimestamp(1795428000, tz=timezone.utc)
    assert delivered["msg-without-timestamp"].delivered_at == datetime(2026, 11, 20, 8, 0, tzinfo=timezone.utc)
    # Oldest first: 20 November (mtime) before 23 November (name).
    assert [d.backend_id for d in _all(box)] == ["msg-without-timestamp", "1795428000.M1P1.host"]


def test_mark_processed_moves_new_to_cur_as_seen(box: MaildirMailbox) -> None:
    raw = make_email("a@example.net", "hello", "body")
    _put(box, "1795428000.M1P1.host", raw)
    (delivered,) = _all(box)
    assert delivered.raw == raw
    box.mark_processed(delivered.backend_id)
    assert list((box.root / "new").iterdir()) == []
    assert [p.name for p in (box.root / "cur").iterdir()] == ["1795428000.M1P1.host:2,S"]
    # Still the same message, by the same id, and a known one is not yielded again.
    assert [d.backend_id for d in _all(box)] == ["1795428000.M1P1.host"]
    assert list(box.new_messages(lambda ids: set(ids))) == []


def test_save_draft_twice_leaves_one_file(box: MaildirMailbox) -> None:
    raw = make_email("complaints@reliance.example.org", "Your complaint", "Dear Jane", message_id="<d-1@x>")
    ref = box.save_draft("d-1", raw)
    assert box.save_draft("d-1", raw) == ref
    files = [p for sub in ("new", "cur") for p in (box.approval / sub).iterdir()]
    assert len(files) == 1
    assert box.read_draft(ref) == raw
    assert box.read_draft("d-unknown.mailcomplaints") is None


def test_send_files_in_sent_and_removes_the_draft(box: MaildirMailbox) -> None:
    raw = make_email("complaints@reliance.example.org", "Your complaint", "Dear Jane", message_id="<d-2.abc@x>")
    ref = box.save_draft("d-2", raw)
    assert not box.was_sent("<d-2.abc@x>")
    box.send(ref, raw)
    assert box.read_draft(ref) is None
    assert [p for sub in ("new", "cur") for p in (box.approval / sub).iterdir()] == []
    sent = [p for sub in ("new", "cur") for p in (box.sent / sub).iterdir()]
    assert len(sent) == 1 and message_id_of(sent[0].read_bytes()) == "<d-2.abc@x>"
    assert box.was_sent("<d-2.abc@x>")
    assert not box.was_sent("<other@x>")
