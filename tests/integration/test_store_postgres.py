"""The store on a real PostgreSQL server: a throw-away cluster for this test run.

Skipped on a developer machine without PostgreSQL; in CI (CI=true) a missing
server is a failure, since scripts/setup installs it.
"""

import os
import shutil
import socket
import subprocess
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest
from sqlalchemy import text

from mailcomplaints.domain.calendar import WorkingCalendar
from mailcomplaints.domain.lifecycle import acknowledgement_sent, open_case
from mailcomplaints.policies import load_policy
from mailcomplaints.store import repository as repo
from mailcomplaints.store.database import MIGRATIONS, Database


def _pg_bin() -> Path | None:
    for candidate in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (candidate / "initdb").exists():
            return candidate
    found = shutil.which("initdb")
    return Path(found).parent if found else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def postgres_url():
    pg = _pg_bin()
    if pg is None:
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL is not installed, and CI must test on it (scripts/setup installs it)")
        pytest.skip("PostgreSQL is not installed here")
    folder = Path(tempfile.mkdtemp(prefix="mailcomplaints-pg-"))  # pytest's tmp_path is not reachable by the postgres user
    run_as = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    if run_as:
        shutil.chown(folder, "postgres")
    port = _free_port()
    subprocess.run([*run_as, str(pg / "initdb"), "-D", str(folder / "data"), "-A", "trust", "-U", "postgres"],
                   check=True, capture_output=True)
    subprocess.run([*run_as, str(pg / "pg_ctl"), "-D", str(folder / "data"), "-l", str(folder / "log"), "-o",
                    f"-k {folder} -c listen_addresses=127.0.0.1 -p {port}", "start"], check=True, capture_output=True)
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.1)
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*run_as, str(pg / "pg_ctl"), "-D", str(folder / "data"), "-m", "fast", "stop"], capture_output=True)
        shutil.rmtree(folder, ignore_errors=True)


def test_schema_migrates_once_and_a_case_round_trips(postgres_url):
    db = Database(postgres_url)
    Database(postgres_url).close()  # a second open finds the schema at head and changes nothing
    policy, cal = load_policy("reliance"), WorkingCalendar()
    received = datetime(2026, 11, 23, 10, 0, tzinfo=timezone.utc)
    with db.transaction() as session:
        case, events = open_case("new", "complaint", received)
        events += acknowledgement_sent(case, 1, datetime(2026, 11, 24, 9, 0, tzinfo=timezone.utc))
        row = repo.new_case_row(session, case)
        repo.save_case(session, row, case, events, policy, cal)
    with db.transaction() as session:
        row = repo.case_by_reference(session, "CMP-000001")
        back = repo.to_casefile(row)
        assert back.state == "investigating"
        assert back.stages[1].received_at == received and back.stages[1].received_at.tzinfo is not None
        # Reliance: 2 working days to acknowledge (Wed 25 Nov), 10 to respond from receipt (Mon 7 Dec)
        assert {(d.kind, d.due.isoformat()) for d in row.deadlines} == {("acknowledge", "2026-11-25"), ("respond", "2026-12-07")}
        assert [e.kind for e in row.events] == ["received", "acknowledged"]
        newest = sorted(p.name[:4] for p in (MIGRATIONS / "versions").glob("0*.py"))[-1]
        assert session.execute(text("select version_num from alembic_version")).scalar() == newest  # every migration ran
    db.close()
