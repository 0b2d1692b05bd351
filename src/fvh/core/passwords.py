"""The password policy: what a password must be, how it is hashed, when a hash is renewed.

The hash method comes from PASSWORD_HASH_METHOD: the app factory and the CLI hand it to
`configure` once at start-up, so callers never pass it around. It holds for the whole
process (the last app or command configured wins); until then the default (PBKDF2-SHA256,
600,000 iterations) applies.
"""

from __future__ import annotations

import functools
from importlib import resources

from werkzeug.security import (
    DEFAULT_PBKDF2_ITERATIONS,
    check_password_hash,
    generate_password_hash,
)

from fvh.core.errors import N_, ValidationError

DEFAULT_METHOD = "pbkdf2:sha256:600000"
MIN_LENGTH = 10
MAX_LENGTH = 128
MIN_PBKDF2_ITERATIONS = 600_000
MIN_SCRYPT_N = 2**17

_method = DEFAULT_METHOD


def configure(method: str) -> None:
    """Hash new passwords with `method` from now on (called at start-up with the config's)."""
    global _method
    _method = method


def configured_method() -> str:
    return _method


def validate(password: str) -> str:
    """10..128 characters and none of the most common passwords (in any case)."""
    if not isinstance(password, str) or not (MIN_LENGTH <= len(password) <= MAX_LENGTH):
        raise ValidationError(
            N_("Das Passwort muss %(min)d bis %(max)d Zeichen lang sein."),
            "password",
            min=MIN_LENGTH,
            max=MAX_LENGTH,
        )
    if is_common(password):
        raise ValidationError(
            N_("Dieses Passwort gehört zu den häufigsten Passwörtern. Bitte ein anderes wählen."),
            "password",
        )
    return password


@functools.cache
def _common_passwords() -> frozenset[str]:
    """The shipped list (data/common_passwords.txt), read once."""
    text = resources.files("fvh.core").joinpath("data/common_passwords.txt").read_text("utf-8")
    return frozenset(
        line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")
    )


def is_common(password: str) -> bool:
    return password.strip().casefold() in _common_passwords()


def hash_password(password: str, method: str | None = None) -> str:
    """A salted hash of `password` with `method` (default: the configured one)."""
    return generate_password_hash(password, method=method or _method)


def verify(password_hash: str | None, password: str) -> bool:
    """Whether `password` matches the stored hash; no hash or no password never matches."""
    if not password_hash or not password:
        return False
    return check_password_hash(password_hash, password)


def is_strong_method(method: str) -> bool:
    """At least PBKDF2-SHA256 with 600,000 iterations or scrypt with N = 2^17."""
    parts = method.split(":")
    try:
        if parts[0] == "pbkdf2":
            digest = parts[1] if len(parts) > 1 else "sha256"
            iterations = int(parts[2]) if len(parts) > 2 else DEFAULT_PBKDF2_ITERATIONS
            return digest in ("sha256", "sha512") and iterations >= MIN_PBKDF2_ITERATIONS
        if parts[0] == "scrypt":
            return int(parts[1]) >= MIN_SCRYPT_N if len(parts) > 1 else False
    except ValueError:
        return False
    return False


def needs_rehash(password_hash: str, method: str | None = None) -> bool:
    """Whether a verified hash should be replaced by one made with `method` (default: the
    configured one): when its parameters differ, but never a strong hash by a weak one."""
    method = method or _method
    stored = password_hash.split("$", 1)[0]
    return stored != method and (is_strong_method(method) or not is_strong_method(stored))


_dummy_hashes: dict[str, str] = {}


def burn_time(password: str) -> None:
    """Check against a throwaway hash, so unknown accounts answer as slowly as known ones."""
    method = _method  # read once: `configure` may run in between
    dummy = _dummy_hashes.get(method)
    if dummy is None:
        dummy = _dummy_hashes.setdefault(method, hash_password("not a real password", method))
    check_password_hash(dummy, password)
