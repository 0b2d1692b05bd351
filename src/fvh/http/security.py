"""Security plumbing of the app: response headers, the secret key rule, proxy and sub-path."""

from __future__ import annotations

from flask import Flask, Response, request
from werkzeug.middleware.proxy_fix import ProxyFix

from fvh.config import DEFAULT_SECRET, Config
from fvh.core import passwords

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; form-action 'self'; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)

# Answers without personal data that a cache may keep: static files, the API's health,
# version and documentation. Every other answer (names, balances, journal, one-time
# secrets, and errors) gets `Cache-Control: no-store`.
CACHEABLE_ENDPOINTS = frozenset(
    {
        "static",
        "web.asset",
        "api.health",
        "api.version",
        "api.openapi",
        "api.docs",
        "api.docs_static",
    }
)


class InsecureConfiguration(RuntimeError):
    """Start-up refused: the configuration is not safe for production."""


def check_secret(config: Config, *, testing: bool = False) -> None:
    """Production needs a real secret; debug and test runs may do without."""
    if config.debug or testing:
        return
    secret = config.app_secret
    if not secret or secret == DEFAULT_SECRET or len(secret) < 16:
        raise InsecureConfiguration(
            "APP_SECRET is missing, the placeholder or too short (< 16 characters). "
            "Set a long random value in .env, or run `fvh db upgrade`, which creates one in "
            "DATA_DIR."
        )


def check_password_method(config: Config, *, testing: bool = False) -> None:
    """Production hashes passwords at least as strongly as PBKDF2-SHA256 × 600,000."""
    if config.debug or testing:
        return
    if not passwords.is_strong_method(config.password_hash_method):
        raise InsecureConfiguration(
            f"PASSWORD_HASH_METHOD {config.password_hash_method!r} is too weak: use "
            "pbkdf2:sha256:600000 (or more iterations) or scrypt:131072:8:1."
        )


def init_headers(app: Flask) -> None:
    """Security headers on every response, errors included; a view may set its own CSP.

    Personal data is never cached: only `CACHEABLE_ENDPOINTS` keep their own Cache-Control.
    """

    @app.after_request
    def _headers(response: Response) -> Response:
        headers = response.headers
        headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("Referrer-Policy", "same-origin")
        headers.setdefault("X-Frame-Options", "DENY")
        if request.is_secure:
            headers.setdefault("Strict-Transport-Security", "max-age=31536000")
        if request.endpoint not in CACHEABLE_ENDPOINTS:
            headers["Cache-Control"] = "no-store"
        return response


class PrefixMiddleware:
    """Serve the app below BASE_URL (e.g. /fvh) when the proxy passes the full path on."""

    def __init__(self, app: object, prefix: str) -> None:
        self.app = app
        self.prefix = prefix

    def __call__(self, environ: dict, start_response: object) -> object:
        path = environ.get("PATH_INFO", "")
        if path == self.prefix or path.startswith(self.prefix + "/"):
            environ["SCRIPT_NAME"] = environ.get("SCRIPT_NAME", "") + self.prefix
            environ["PATH_INFO"] = path[len(self.prefix) :] or "/"
        elif not environ.get("SCRIPT_NAME"):
            # Outside the prefix and not already mounted by a proxy header: not ours.
            start_response("404 Not Found", [("Content-Type", "text/plain; charset=utf-8")])
            return [b"Not Found"]
        return self.app(environ, start_response)


def normalise_prefix(value: str) -> str:
    """'/fvh/' -> '/fvh', '/' or '' -> ''."""
    return "/" + value.strip("/") if value.strip("/") else ""


def init_proxy(app: Flask, config: Config) -> None:
    """Trust X-Forwarded-* from `PROXY_FIX_HOPS` proxies; mount the app under BASE_URL."""
    prefix = normalise_prefix(config.base_url)
    if prefix:
        app.config["APPLICATION_ROOT"] = prefix
        app.wsgi_app = PrefixMiddleware(app.wsgi_app, prefix)  # type: ignore[method-assign]
    hops = config.proxy_fix_hops
    if hops > 0:
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops, x_port=hops, x_prefix=hops
        )
