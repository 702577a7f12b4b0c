"""The daemon's pure parts: how long it waits after errors, and the deadline
labels officers see on drafts in their mail client."""

import random
from datetime import date, datetime, timezone

from mailcomplaints.domain.deadlines import Deadline
from mailcomplaints.mailboxes.imap import keyword
from mailcomplaints.service.daemon import backoff
from mailcomplaints.service.labels import deadline_labels


def test_backoff_doubles_up_to_the_cap_with_jitter():
    rng = random.Random(7)
    for failures, ceiling in ((1, 1), (2, 2), (3, 4), (6, 32), (12, 300), (40, 300)):
        waits = [backoff(failures, 300, rng) for _ in range(200)]
        assert all(ceiling / 2 <= w <= ceiling for w in waits)
        assert max(waits) - min(waits) > ceiling / 10  # spread out, so daemons do not return in step


def test_labels_name_each_open_deadline_and_say_when_one_is_late():
    ack = Deadline("acknowledge", 1, date(2026, 11, 24))
    respond = Deadline("respond", 1, date(2026, 12, 7))
    monday = datetime(2026, 11, 23, 10, tzinfo=timezone.utc)
    assert deadline_labels([ack, respond], monday) == ["Ack due 24 Nov", "Response due 7 Dec"]
    assert deadline_labels([ack, respond], datetime(2026, 11, 24, 10, tzinfo=timezone.utc))[-1] == "Due today"
    assert deadline_labels([ack, respond], datetime(2026, 11, 25, 10, tzinfo=timezone.utc))[-1] == "Overdue"
    met = Deadline("acknowledge", 1, date(2026, 11, 24), met_at=monday)
    assert deadline_labels([met, respond], datetime(2026, 11, 25, 10, tzinfo=timezone.utc)) == ["Response due 7 Dec"]
    assert [keyword(label) for label in deadline_labels([ack], monday)] == ["Ack_due_24_Nov"]  # an IMAP keyword atom


def test_an_oauth2_token_comes_from_the_configured_command_and_a_failure_names_no_secret(tmp_path):
    import pytest

    from mailcomplaints.mailboxes.base import MailboxError
    from mailcomplaints.mailboxes.connect import token_command

    script = tmp_path / "token"
    script.write_text("#!/bin/sh\necho '  eyJ0eXAi.token.value  '\n")
    script.chmod(0o700)
    assert token_command(str(script))() == "eyJ0eXAi.token.value"  # fetched afresh at each login
    failing = tmp_path / "fails"
    failing.write_text("#!/bin/sh\necho 'secret-in-output' >&2\nexit 3\n")
    failing.chmod(0o700)
    with pytest.raises(MailboxError) as raised:
        token_command(str(failing))()
    assert "secret-in-output" not in str(raised.value)
