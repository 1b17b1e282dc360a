"""Phone numbers: real numbers only (libphonenumber's metadata, not a regex), stored as E.164."""

from __future__ import annotations

import phonenumbers

from core.errors import BusinessRuleBroken


def to_e164(value: str, field: str) -> str:
    """The number in E.164 form; 422 `invalid_phone_number` naming `field` if it is not a valid number."""
    try:
        number = phonenumbers.parse(value, None)
    except phonenumbers.NumberParseException:
        number = None
    if number is None or not phonenumbers.is_valid_number(number):
        raise BusinessRuleBroken("invalid_phone_number", f"{value[:20]} is not a valid phone number.", field=field)
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def country_of(e164: str) -> str | None:
    """ISO 3166-1 alpha-2 code of a valid E.164 number (None for non-geographic numbers)."""
    region = phonenumbers.region_code_for_number(phonenumbers.parse(e164, None))
    return region if region and region != "001" else None
