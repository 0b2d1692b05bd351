"""The database tables. Money is integer cents; times are naive UTC."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects import mysql, postgresql
from sqlalchemy.dialects.mysql import VARBINARY
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


# Raw token bytes (1..32); a real VARBINARY on MySQL so that a unique index fits.
TokenBytes = LargeBinary(32).with_variant(VARBINARY(32), "mysql", "mariadb")


def utcnow() -> datetime:
    """Now in UTC, without tzinfo (all columns store UTC)."""
    return datetime.now(UTC).replace(tzinfo=None)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


# A member's sort key, compared as code points on every backend whatever the server's
# collation (a locale would reorder its separators), so all three list members alike.
MemberSortKey = (
    String(700)
    .with_variant(
        mysql.VARCHAR(700, charset="utf8mb4", collation="utf8mb4_bin"), "mysql", "mariadb"
    )
    .with_variant(postgresql.VARCHAR(700, collation="C"), "postgresql")
)


class Member(Base):
    __tablename__ = "members"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(10), unique=True)
    first_name: Mapped[str] = mapped_column(String(255))
    last_name: Mapped[str] = mapped_column(String(255))
    email: Mapped[str | None] = mapped_column(String(255), unique=True)
    password_hash: Mapped[str | None] = mapped_column(String(255))
    comment: Mapped[str] = mapped_column(String(1000), default="")
    locked: Mapped[bool] = mapped_column(Boolean, default=False)
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    must_change_password: Mapped[bool] = mapped_column(Boolean, default=False)
    # None: the global minimum from the settings applies.
    min_balance_cents: Mapped[int | None] = mapped_column(BigInteger)
    # Materialised sum of this member's journal, updated in the same transaction.
    balance_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    # Raised on logout-everywhere, password change and lock; sessions carry it.
    session_version: Mapped[int] = mapped_column(Integer, default=1)
    # E-mail notifications the member opted into, and their own low-balance threshold.
    notify_bookings: Mapped[bool] = mapped_column(Boolean, default=False)
    notify_zero: Mapped[bool] = mapped_column(Boolean, default=False)
    notify_low_balance: Mapped[bool] = mapped_column(Boolean, default=False)
    low_balance_threshold_cents: Mapped[int | None] = mapped_column(BigInteger)
    # A self-registration that no admin has approved yet (the account is locked until then).
    approval_pending: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)
    # Kept by fvh.core.members from the names (rules in fvh.core.names): what a search looks
    # in (names, e-mail, comment, folded) and the German order of last and first name.
    search_key: Mapped[str] = mapped_column(String(2000), server_default="")
    sort_key: Mapped[str] = mapped_column(MemberSortKey, server_default="", index=True)

    tokens: Mapped[list[Token]] = relationship(
        back_populates="member", cascade="all, delete-orphan", passive_deletes=True
    )

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()


class Token(Base):
    """An NFC token: the raw bytes of a card UID or a phone's ATS."""

    __tablename__ = "tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"), index=True)
    data: Mapped[bytes] = mapped_column(TokenBytes, unique=True)
    name: Mapped[str] = mapped_column(String(255), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime)

    member: Mapped[Member] = relationship(back_populates="tokens")


class Transaction(Base):
    """One journal entry. A member's balance is the sum of their entries."""

    __tablename__ = "transactions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"), index=True)
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    description: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)
    # Who booked it: "api_key", "member" (an admin) or "system"; the label survives deletion.
    booked_by_kind: Mapped[str] = mapped_column(String(16))
    booked_by_label: Mapped[str] = mapped_column(String(255), default="")
    booked_by_member_id: Mapped[int | None] = mapped_column(
        ForeignKey("members.id", ondelete="SET NULL")
    )
    booked_by_api_key_id: Mapped[int | None] = mapped_column(
        ForeignKey("api_keys.id", ondelete="SET NULL")
    )
    # Set on a reversing entry: the entry it cancels. Unique, so nothing is reversed twice.
    reverses_id: Mapped[int | None] = mapped_column(
        ForeignKey("transactions.id", ondelete="SET NULL"), unique=True
    )
    # Made by the server for every booking (random, unique): after a commit whose answer was
    # lost with the connection, the booking is looked up by it (`ledger.find_booking`).
    ref: Mapped[str | None] = mapped_column(String(32), unique=True, index=True)

    member: Mapped[Member] = relationship(foreign_keys=[member_id])


class ApiClient(Base):
    """A terminal or integration that holds one or more API keys."""

    __tablename__ = "api_clients"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    keys: Mapped[list[ApiKey]] = relationship(
        back_populates="client", cascade="all, delete-orphan", passive_deletes=True
    )


class ApiKey(Base):
    """An API key; only its SHA-256 hash is stored."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    client_id: Mapped[int] = mapped_column(
        ForeignKey("api_clients.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(255), default="")
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # The first characters of the key, enough to recognise it in a list.
    display_prefix: Mapped[str] = mapped_column(String(16))
    scope: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime)

    client: Mapped[ApiClient] = relationship(back_populates="keys")


class Setting(Base):
    """A system setting as text; `fvh.core.system_settings` gives it a type and a default."""

    __tablename__ = "settings"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(String(1000))


class AuditEntry(Base):
    """An admin action: who, what, when, and the state before and after (JSON)."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)
    actor_kind: Mapped[str] = mapped_column(String(16))
    actor_label: Mapped[str] = mapped_column(String(255))
    actor_member_id: Mapped[int | None] = mapped_column(
        ForeignKey("members.id", ondelete="SET NULL")
    )
    action: Mapped[str] = mapped_column(String(64), index=True)
    target: Mapped[str] = mapped_column(String(255), default="")
    before: Mapped[str | None] = mapped_column(Text)
    after: Mapped[str | None] = mapped_column(Text)


class IdempotencyRecord(Base):
    """The first answer to a booking request sent with an `Idempotency-Key`."""

    __tablename__ = "idempotency_keys"
    __table_args__ = (UniqueConstraint("api_key_id", "key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    api_key_id: Mapped[int] = mapped_column(ForeignKey("api_keys.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(255))
    request_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int] = mapped_column(Integer)
    response_body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)


class UnknownTokenScan(Base):
    """A token that a terminal presented but no member owns, for admins to assign."""

    __tablename__ = "unknown_token_scans"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    data: Mapped[bytes] = mapped_column(TokenBytes, unique=True)
    first_seen_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)
    scan_count: Mapped[int] = mapped_column(Integer, default=1)
    last_terminal: Mapped[str] = mapped_column(String(255), default="")
    notified_at: Mapped[datetime | None] = mapped_column(DateTime)


class RefusedTap(Base):
    """A tap a terminal was refused (below the minimum, account locked, unknown token or
    code): who, where and why, so the treasurer sees who is being turned away."""

    __tablename__ = "refused_taps"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)
    reason: Mapped[str] = mapped_column(String(16))  # "blocked", "locked" or "unknown"
    member_id: Mapped[int | None] = mapped_column(
        ForeignKey("members.id", ondelete="CASCADE"), index=True
    )
    # The terminal: its API client's name, kept when the key or client is deleted.
    terminal: Mapped[str] = mapped_column(String(255), default="")
    api_key_id: Mapped[int | None] = mapped_column(ForeignKey("api_keys.id", ondelete="SET NULL"))
    description: Mapped[str] = mapped_column(String(255), default="")
    # What the tap would have booked; none for an unknown token or code.
    amount_cents: Mapped[int | None] = mapped_column(BigInteger)
    balance_cents: Mapped[int | None] = mapped_column(BigInteger)  # the balance then (blocked)
    # What was presented when nobody owns it: the token in hex or the code.
    presented: Mapped[str] = mapped_column(String(64), default="")


class LoginAttempt(Base):
    """One GUI login attempt (never the password): the log and the source of the throttle."""

    __tablename__ = "login_attempts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)
    # What was typed as the account (code or e-mail), normalised and cut to 255 characters.
    identifier: Mapped[str] = mapped_column(String(255), index=True)
    member_id: Mapped[int | None] = mapped_column(
        ForeignKey("members.id", ondelete="SET NULL"), index=True
    )
    ip_address: Mapped[str] = mapped_column(String(45), index=True)
    # "success", "failed", "locked" or "throttled".
    outcome: Mapped[str] = mapped_column(String(16))


class OutboxMessage(Base):
    """An e-mail written in the transaction of its event and sent after commit by a worker."""

    __tablename__ = "mail_outbox"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    template: Mapped[str] = mapped_column(String(64))
    # An address, or "@responsible": the addresses in RESPONSIBLE_EMAIL at sending time.
    recipient: Mapped[str] = mapped_column(String(255))
    subject: Mapped[str] = mapped_column(String(255))
    body_text: Mapped[str] = mapped_column(Text)
    body_html: Mapped[str] = mapped_column(Text)
    # "pending" until sent ("sent") or given up after too many attempts ("failed").
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    # A worker that claims the message leases it until then (so two never send it twice).
    locked_until: Mapped[datetime | None] = mapped_column(DateTime)
    last_error: Mapped[str] = mapped_column(String(500), default="")
    sent_at: Mapped[datetime | None] = mapped_column(DateTime)

    __table_args__ = (Index("ix_mail_outbox_status_next_attempt_at", "status", "next_attempt_at"),)


class AccountToken(Base):
    """A single-use token, only its hash stored: a link sent by e-mail (password reset, new
    address) or a form's one-time token (`core.form_tokens`: a booking form sent twice books
    once)."""

    __tablename__ = "account_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"), index=True)
    # "reset", "verify" or "form".
    purpose: Mapped[str] = mapped_column(String(16))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)
    expires_at: Mapped[datetime] = mapped_column(DateTime)
    used_at: Mapped[datetime | None] = mapped_column(DateTime)
    # For "verify": the address that becomes the member's when the link is opened.
    new_email: Mapped[str | None] = mapped_column(String(255))


class RateLimitCounter(Base):
    """A fixed-window request counter of Flask-Limiter (see fvh.db.ratelimit_store)."""

    __tablename__ = "rate_limits"

    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    count: Mapped[int] = mapped_column(Integer)
    expires_at: Mapped[datetime] = mapped_column(DateTime, index=True)
