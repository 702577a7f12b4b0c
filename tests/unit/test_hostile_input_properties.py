"""Property tests (Hypothesis): whatever bytes arrive, parsing either gives a
message or says the mail is unreadable (to be quarantined) — nothing else —
and classification and threading of any parsed message return an answer.
Bounded: a few hundred examples each, seeded by Hypothesis's database."""

from datetime import datetime, timezone

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mailcomplaints.domain.classify import Context, classify
from mailcomplaints.domain.threading import thread
from mailcomplaints.mail.message import UnreadableMessage, parse_message

AT = datetime(2026, 11, 23, 10, 0, tzinfo=timezone.utc)
HEADERS = st.sampled_from(["From", "To", "Cc", "Subject", "Message-ID", "In-Reply-To", "References", "Content-Type",
                           "Content-Transfer-Encoding", "Auto-Submitted", "Date", "X-Spam", "MIME-Version"])
VALUES = st.one_of(st.text(max_size=120), st.sampled_from([
    'multipart/mixed; boundary="b"', "multipart/alternative", "text/html; charset=utf-8", "text/plain; charset=x-unknown",
    "base64", "quoted-printable", "<a@b>", "=?utf-8?b?w6k=?=", "=?bogus?q?x?=", "auto-replied", "Jane <jane@example.net>"]))


@st.composite
def emails(draw) -> bytes:
    """Mail-shaped bytes: headers (some malformed, some repeated), then a body of anything."""
    lines = [f"{draw(HEADERS)}: {draw(VALUES)}" for _ in range(draw(st.integers(0, 12)))]
    body = draw(st.one_of(st.binary(max_size=600), st.text(max_size=600).map(lambda t: t.encode("utf-8", "surrogatepass"))))
    separator = draw(st.sampled_from([b"\n\n", b"\r\n\r\n", b"\n", b""]))
    return "\n".join(lines).encode("utf-8", "surrogatepass") + separator + body


class NoCases:
    def case_exists(self, reference): return False
    def case_of_message(self, message_id): return None
    def case_of_conversation(self, conversation_id): return None
    def case_of_fingerprint(self, value, sender=None): return None
    def open_case_of(self, sender, key): return None
    def case_is_closed(self, reference): return False
    def subjects_of(self, reference): return set()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(emails(), st.binary(max_size=2000)))
def test_any_bytes_are_read_or_declared_unreadable_and_then_understood(raw: bytes):
    try:
        message = parse_message(raw, AT)
    except UnreadableMessage:
        return  # quarantined whole, with its reason
    assert message.delivered_at == AT and isinstance(message.message_id, str) and message.message_id
    verdict = classify(message, Context(ours="complaints@landlord.example.org", time_limit_months=12))
    assert verdict.intent(threaded=False) and verdict.intent(threaded=True)
    decision = thread(message, NoCases())
    assert decision.reference is None and decision.rule == "new_thread"  # nothing known: always a new thread
