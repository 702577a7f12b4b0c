"""The store on a real PostgreSQL server (the run's throw-away cluster, see
tests/databases.py). Skipped on a developer machine without PostgreSQL; in CI
(CI=true) a missing server is a failure, since scripts/setup installs it.
"""

from datetime import datetime, timezone

import pytest
from sqlalchemy import text

from mailcomplaints.domain.calendar import WorkingCalendar
from mailcomplaints.domain.lifecycle import acknowledgement_sent, open_case
from mailcomplaints.policies import load_policy
from mailcomplaints.store import repository as repo
from mailcomplaints.store.database import MIGRATIONS, Database


@pytest.fixture
def postgres_url(postgres):
    return postgres.fresh_database(migrated=False)


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
