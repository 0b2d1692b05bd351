"""Names people type in (first and last names, API clients, tokens): one rule for all.

A name loses its outer spaces and fits its column (255 characters). Whether it may be empty
and the words of the refusal differ per name, so the caller passes its own marked messages.
"""

from __future__ import annotations

from fvh.core.errors import ValidationError

MAX_LENGTH = 255


def validate_name(
    value: object,
    field: str,
    *,
    too_long: str,
    missing: str | None = None,
    max_length: int = MAX_LENGTH,
) -> str:
    """`value` without outer spaces, or a ValidationError naming `field`.

    Empty (or not a string) is refused with `missing`, or allowed as "" when `missing` is
    None; more than `max_length` characters are refused with `too_long`, which may use
    `%(max)d` for `max_length`.
    """
    text = value.strip() if isinstance(value, str) else ""
    if not text and missing is not None:
        raise ValidationError(missing, field)
    if len(text) > max_length:
        raise ValidationError(too_long, field, max=max_length)
    return text
