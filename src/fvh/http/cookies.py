"""Flask's signed-cookie sessions, minus the work for requests that carry no session cookie."""

from __future__ import annotations

from flask import Flask, Request
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface


class CookieSessionInterface(SecureCookieSessionInterface):
    """Builds no signer for requests without a session cookie (every terminal request): a
    fresh, empty session is all they get anyway."""

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        if "HTTP_COOKIE" not in request.environ:  # terminals send none: spare the parsing
            return self.session_class()
        if not request.cookies.get(self.get_cookie_name(app)):
            return self.session_class()
        return super().open_session(app, request)
