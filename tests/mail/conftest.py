"""A real SMTP server on loopback (aiosmtpd) for the e-mail tests."""

from __future__ import annotations

import socket
import time
from email import message_from_bytes, policy
from email.message import EmailMessage

import pytest
from aiosmtpd.controller import Controller

from fvh.app import create_app
from tests.conftest import ALLOWED_SMTP
from tests.mail.mails import PUBLIC_URL
from tests.web.conftest import Browser


class Inbox:
    """Collects what the server received."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []

    async def handle_DATA(self, server, session, envelope):
        message = message_from_bytes(envelope.content, policy=policy.default)
        message["X-Envelope-To"] = ", ".join(envelope.rcpt_tos)
        self.messages.append(message)
        return "250 OK"

    def wait_for(self, count: int, timeout: float = 10.0) -> list[EmailMessage]:
        deadline = time.monotonic() + timeout
        while len(self.messages) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.messages


class SmtpServer:
    def __init__(self) -> None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.inbox = Inbox()
        self.controller: Controller | None = None
        ALLOWED_SMTP.add(("127.0.0.1", self.port))

    def start(self) -> None:
        self.controller = Controller(self.inbox, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None


@pytest.fixture
def smtp_server():
    server = SmtpServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def mail_config(config, smtp_server):
    return {
        **config,
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": smtp_server.port,
        "SMTP_TLS": "none",
        "SMTP_SENDER": "fvh@feuerwehr.example",
        "SMTP_TIMEOUT": 3,
        "RESPONSIBLE_EMAIL": "kasse@feuerwehr.example, wart@feuerwehr.example",
    }


@pytest.fixture
def account_app(mail_config):
    """An app that mails links (PUBLIC_URL set) through the test server."""
    app = create_app({**mail_config, "PUBLIC_URL": PUBLIC_URL})
    yield app
    app.extensions["fvh_db"].dispose()


@pytest.fixture
def browser(account_app) -> Browser:
    return Browser(account_app.test_client())
