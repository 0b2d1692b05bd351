"""Housekeeping: forget what is no longer needed (old login attempts, idempotency records,
sent mails). Run hourly by the server and on demand by `fvh maintenance`."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete

from fvh.config import Config
from fvh.core import account_links, idempotency, logins, refusals
from fvh.db import Database
from fvh.db.models import OutboxMessage, RateLimitCounter, utcnow

log = logging.getLogger(__name__)

LOGIN_ATTEMPTS_KEPT = timedelta(days=90)
SENT_MAIL_KEPT = timedelta(days=30)


@dataclass(frozen=True)
class Purged:
    login_attempts: int
    idempotency_records: int
    sent_mails: int
    rate_limit_counters: int = 0
    account_tokens: int = 0
    refused_taps: int = 0


def run(database: Database, config: Config) -> Purged:
    with database.session() as session:
        attempts = logins.purge(session, LOGIN_ATTEMPTS_KEPT)
        records = idempotency.purge_expired(session, timedelta(hours=config.idempotency_ttl_hours))
        mails = session.execute(
            delete(OutboxMessage)
            .where(
                OutboxMessage.status == "sent", OutboxMessage.sent_at < utcnow() - SENT_MAIL_KEPT
            )
            .execution_options(synchronize_session=False)
        ).rowcount
        counters = session.execute(
            delete(RateLimitCounter)
            .where(RateLimitCounter.expires_at <= utcnow())
            .execution_options(synchronize_session=False)
        ).rowcount
        tokens = account_links.purge_expired(session)
        refused = refusals.purge(session)
    return Purged(attempts, records, mails, counters, tokens, refused)


class MaintenanceThread(threading.Thread):
    """Runs `run` every `interval` seconds in the background of a server process."""

    def __init__(self, database: Database, config: Config, interval: float = 3600.0) -> None:
        super().__init__(name="fvh-maintenance", daemon=True)
        self.database = database
        self.config = config
        self.interval = interval
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.wait(self.interval):
            try:
                run(self.database, self.config)
            except Exception:  # housekeeping must never take the server down
                log.exception("maintenance round failed")

    def stop(self) -> None:
        self.stopping.set()
        self.join(timeout=5)
