"""The database tables, as typed SQLAlchemy 2 models.

Times are stored as UTC and always come back timezone-aware, on SQLite and
PostgreSQL alike. Deadlines are stored as derived (recomputed from the case's
facts whenever the case changes) so that reports and SQL users can read them.
"""

from __future__ import annotations

from datetime import date, datetime, timezone
from typing import Any

from sqlalchemy import JSON, Boolean, Date, DateTime, ForeignKey, Integer, LargeBinary, String, Text, TypeDecorator, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class UTCDateTime(TypeDecorator):
    """Aware datetimes in, aware UTC datetimes out."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored: pass a timezone-aware time")
        return value.astimezone(timezone.utc).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return value.replace(tzinfo=timezone.utc) if value is not None else None


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UTCDateTime, dict[str, Any]: JSON, list[Any]: JSON}


class CaseRow(Base):
    __tablename__ = "cases"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    reference: Mapped[str] = mapped_column(String(20), unique=True)
    kind: Mapped[str] = mapped_column(String(30))
    stage: Mapped[int] = mapped_column(Integer, default=1)
    state: Mapped[str] = mapped_column(String(30))
    outcome: Mapped[str | None] = mapped_column(String(30))
    handler: Mapped[str | None] = mapped_column(String(200))
    complainant_name: Mapped[str] = mapped_column(String(300), default="")
    complainant_email: Mapped[str] = mapped_column(String(320), default="")
    subject: Mapped[str] = mapped_column(Text, default="")
    channel: Mapped[str] = mapped_column(String(30), default="email")
    flags: Mapped[list[Any]] = mapped_column(JSON, default=list)
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    pending_escalation_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    escalation_decision: Mapped[str | None] = mapped_column(String(20))
    window_ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    linked_to: Mapped[str | None] = mapped_column(String(20))  # an earlier case this one follows on from
    copy_to: Mapped[list[Any]] = mapped_column(JSON, default=list)  # others answered too (a group, the resident an MP wrote for)
    topics: Mapped[list[Any] | None] = mapped_column(JSON)  # what it is about (domain.topics), for the report
    postal_address: Mapped[str] = mapped_column(Text, default="")  # for letters to post (complaints logged by phone or letter)
    anonymised_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # when its people were taken out (retention or erasure)

    stages: Mapped[list["StageRow"]] = relationship(back_populates="case", cascade="all, delete-orphan", order_by="StageRow.stage")
    messages: Mapped[list["MessageRow"]] = relationship(back_populates="case", order_by="MessageRow.received_at")
    events: Mapped[list["EventRow"]] = relationship(back_populates="case", order_by="EventRow.id")
    deadlines: Mapped[list["DeadlineRow"]] = relationship(back_populates="case", cascade="all, delete-orphan", order_by="DeadlineRow.id")
    drafts: Mapped[list["DraftRow"]] = relationship(back_populates="case", order_by="DraftRow.created_at")


class StageRow(Base):
    __tablename__ = "case_stages"
    __table_args__ = (UniqueConstraint("case_id", "stage"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"))
    stage: Mapped[int] = mapped_column(Integer)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    responded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    extensions: Mapped[list[Any]] = mapped_column(JSON, default=list)
    outcome: Mapped[str | None] = mapped_column(String(30))

    case: Mapped[CaseRow] = relationship(back_populates="stages")


class MessageRow(Base):
    __tablename__ = "messages"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    message_id: Mapped[str] = mapped_column(String(998), unique=True)
    backend_id: Mapped[str | None] = mapped_column(String(500), unique=True)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"))
    direction: Mapped[str] = mapped_column(String(3))  # in | out
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    from_addr: Mapped[str] = mapped_column(String(320), default="")
    from_name: Mapped[str] = mapped_column(String(300), default="")
    subject: Mapped[str] = mapped_column(Text, default="")
    intent: Mapped[str] = mapped_column(String(30))
    signals: Mapped[list[Any]] = mapped_column(JSON, default=list)
    thread_rule: Mapped[str] = mapped_column(String(50), default="")
    subject_key: Mapped[str] = mapped_column(String(200), default="", index=True)  # normalised subject, for threading
    fingerprint: Mapped[str | None] = mapped_column(String(40), index=True)  # of the new text, for re-sends and forwards
    conversation_id: Mapped[str | None] = mapped_column(String(500), index=True)
    text: Mapped[str] = mapped_column(Text, default="")
    raw: Mapped[bytes | None] = mapped_column(LargeBinary, deferred=True)  # loaded only when asked for: a 30 MB message stays out of every case query
    removed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # when its text, raw bytes and sender were removed

    case: Mapped[CaseRow | None] = relationship(back_populates="messages")


class EventRow(Base):
    """Append-only history: who did what to a case, when and why."""

    __tablename__ = "events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"))
    kind: Mapped[str] = mapped_column(String(30))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    actor: Mapped[str] = mapped_column(String(200))
    stage: Mapped[int | None] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(Text, default="")
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    case: Mapped[CaseRow] = relationship(back_populates="events")


class DeadlineRow(Base):
    __tablename__ = "deadlines"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"))
    kind: Mapped[str] = mapped_column(String(30))
    stage: Mapped[int] = mapped_column(Integer)
    due: Mapped[date] = mapped_column(Date)
    met_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    provisional: Mapped[bool] = mapped_column(Boolean, default=False)
    ref: Mapped[str] = mapped_column(String(200), default="")

    case: Mapped[CaseRow] = relationship(back_populates="deadlines")


class DraftRow(Base):
    __tablename__ = "drafts"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"))
    kind: Mapped[str] = mapped_column(String(30))
    stage: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(20), default="pending")
    message_id: Mapped[str] = mapped_column(String(998), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    to_addrs: Mapped[list[Any]] = mapped_column(JSON, default=list)
    cc_addrs: Mapped[list[Any]] = mapped_column(JSON, default=list)
    subject: Mapped[str] = mapped_column(Text, default="")
    body_text: Mapped[str] = mapped_column(Text, default="")
    outcome: Mapped[str | None] = mapped_column(String(30))
    in_reply_to: Mapped[str | None] = mapped_column(String(998))
    mailbox_ref: Mapped[str | None] = mapped_column(String(500))  # where the draft sits in the mailbox
    approved_by: Mapped[str | None] = mapped_column(String(200))
    approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    override_reason: Mapped[str | None] = mapped_column(Text)
    rejected_by: Mapped[str | None] = mapped_column(String(200))
    reject_reason: Mapped[str | None] = mapped_column(Text)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sent_text: Mapped[str | None] = mapped_column(Text)  # what actually went, after any officer edits
    author: Mapped[str | None] = mapped_column(String(200))  # who asked for it (four-eyes: not its approver)
    edited_by: Mapped[str | None] = mapped_column(String(200))  # who last changed its text, where known
    labels: Mapped[list[Any] | None] = mapped_column(JSON)  # the deadline labels last shown on it in the mailbox
    failure: Mapped[str | None] = mapped_column(Text)  # why the mail server refused it, when state is "failed"
    postal: Mapped[bool] = mapped_column(Boolean, default=False)  # a letter to post: "sent" when an officer confirms posting
    pdf_path: Mapped[str | None] = mapped_column(Text)  # the letter, as rendered for the mailbox copy

    case: Mapped[CaseRow] = relationship(back_populates="drafts")


class OutboxRow(Base):
    """Sending is recorded before and after the backend call (exactly-once)."""

    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    draft_id: Mapped[str] = mapped_column(ForeignKey("drafts.id"), unique=True)
    message_id: Mapped[str] = mapped_column(String(998))
    state: Mapped[str] = mapped_column(String(20))  # sending | sent
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class CursorRow(Base):
    __tablename__ = "cursors"

    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class DuplicateDeliveryRow(Base):
    """A second delivery of a Message-ID already stored: remembered, so it is
    recognised once and not read again on every run."""

    __tablename__ = "duplicate_deliveries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    backend_id: Mapped[str] = mapped_column(String(500), unique=True)
    message_id: Mapped[str] = mapped_column(String(998))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)


class QuarantineRow(Base):
    """Mail that could not be read, kept whole with the reason."""

    __tablename__ = "quarantine"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    backend_id: Mapped[str] = mapped_column(String(500), unique=True)
    reason: Mapped[str] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    raw: Mapped[bytes] = mapped_column(LargeBinary, deferred=True)


class ErasureRow(Base):
    """A permanent record of personal data removed: by a person's request
    (`erase`) or because its retention period ended. It holds no personal
    data itself: the person only as a hash of their address, and counts."""

    __tablename__ = "erasures"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))  # erasure | retention
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    actor: Mapped[str] = mapped_column(String(200))
    reason: Mapped[str] = mapped_column(Text, default="")
    person_hash: Mapped[str | None] = mapped_column(String(80), index=True)  # sha256 of the address, for an erasure
    cases: Mapped[list[Any]] = mapped_column(JSON, default=list)  # the references anonymised
    counts: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # messages, drafts, letters... removed
