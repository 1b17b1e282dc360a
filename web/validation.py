"""Request validators plugged into Connexion: the spec decides, these only report better.

Connexion's own validators stop at the first error, report `str(ValidationError)` (which dumps the
schema), skip `format: uuid`, and let a non-UTF-8 body escape as a 500. These collect every invalid
field into `errors`, check every format jsonschema knows, and raise our problem types.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncGenerator, Iterable
from datetime import UTC, datetime
from typing import Any, NoReturn

from connexion.datastructures import MediaTypeDict
from connexion.json_schema import Draft4RequestValidator
from connexion.validators import VALIDATOR_MAP, FormDataValidator, JSONRequestBodyValidator, ParameterValidator
from jsonschema import Draft4Validator, FormatChecker, ValidationError
from rfc3339_validator import validate_rfc3339
from starlette.types import Scope

from core.errors import FieldError, MalformedRequest, ValidationFailed

FORMAT_CHECKER = FormatChecker()  # all known formats; Draft 4's own checker has no `uuid`
_OFFSET_WITHOUT_COLON = re.compile(r"([+-][0-9]{2})([0-9]{2})$")


@FORMAT_CHECKER.checks("date-time")  # type: ignore[untyped-decorator]
def _rfc3339_time(value: object) -> bool:
    """RFC 3339, also with the offset's colon left out (`+0000`), as openapi-generator's clients write it."""
    return not isinstance(value, str) or validate_rfc3339(_OFFSET_WITHOUT_COLON.sub(r"\1:\2", value))


_compiled: dict[tuple[int, type], tuple[dict[str, Any], Draft4Validator]] = {}


def _validator(schema: dict[str, Any], kind: type[Draft4Validator] = Draft4Validator) -> Draft4Validator:
    """One validator per schema of the spec, built on first use: Connexion builds its validators anew for
    every request, and a jsonschema validator is far dearer to build than to run."""
    entry = _compiled.get((id(schema), kind))
    if entry is None or entry[0] is not schema:  # the schema kept alongside, so a reused id cannot match
        entry = _compiled[id(schema), kind] = (schema, kind(schema, format_checker=FORMAT_CHECKER))
    return entry[1]


def _raise_validation_failed(errors: list[FieldError]) -> NoReturn:
    first = errors[0]
    raise ValidationFailed(f"{first['field']}: {first['message']}", errors=errors)


def utc_instant(value: str, field: str) -> datetime:
    """A `date-time` the spec already checked, in UTC. Offsets PostgreSQL cannot store (beyond ±15:59) and
    instants outside years 1-9999 once in UTC are a 400 naming the field, never a database error."""
    try:
        return datetime.fromisoformat(value).astimezone(UTC)
    except (ValueError, OverflowError):
        _raise_validation_failed([FieldError(field=field, message="is not a time this API can represent")])


def _body_field_errors(errors: Iterable[ValidationError]) -> list[FieldError]:
    found = [
        FieldError(field=".".join(str(part) for part in error.absolute_path) or "body", message=error.message)
        for error in errors
    ]
    return sorted(found, key=lambda e: e["field"])


class FieldParameterValidator(ParameterValidator):
    @staticmethod
    def validate_parameter(parameter_type: str, value: Any, param: dict[str, Any], param_name: Any = None) -> Any:
        if value is None:
            return f"is a required {parameter_type} parameter" if param.get("required") else None
        errors = _validator(param.get("schema", param)).iter_errors(value)
        return next((error.message for error in errors), None)

    def validate_request(self, request: Any) -> None:
        errors: list[FieldError] = []
        if self.strict_validation:
            unknown = self.validate_query_parameter_list(request, security_params=self.security_query_params)
            errors += [FieldError(field=name, message="is not a parameter of this operation") for name in unknown]
        checks = {
            "query": self.validate_query_parameter,
            "path": self.validate_path_parameter,
            "header": self.validate_header_parameter,
            "cookie": self.validate_cookie_parameter,
        }
        for location, check in checks.items():
            for param in self.parameters.get(location, []):
                message = check(param, request)
                if message:
                    errors.append(FieldError(field=param["name"], message=message))
        if errors:
            _raise_validation_failed(sorted(errors, key=lambda e: e["field"]))


def _reject_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not valid JSON")


MAX_JSON_DEPTH = 32  # far deeper than any body the spec describes
_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_BRACKET = re.compile(r"[\[\]{}]")
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")  # NUL, and the halves of a UTF-16 pair standing alone


def _nests_too_deep(text: str) -> bool:
    """Whether the JSON text opens more than MAX_JSON_DEPTH arrays or objects at once: counted on the text,
    before the parser's (and the validator's) recursion meets it."""
    depth = 0
    for bracket in _BRACKET.findall(_JSON_STRING.sub("", text)):
        depth += 1 if bracket in "[{" else -1
        if depth > MAX_JSON_DEPTH:
            return True
    return False


def _contains_unstorable(value: Any) -> bool:
    """NUL, which PostgreSQL text cannot hold, or an unpaired surrogate, which no encoding can write."""
    if isinstance(value, str):
        return _UNSTORABLE.search(value) is not None
    if isinstance(value, dict):
        return any(_contains_unstorable(k) or _contains_unstorable(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_contains_unstorable(item) for item in value)
    return False


_ABSENT = object()  # an empty body, as opposed to the JSON value null


class FieldJSONBodyValidator(JSONRequestBodyValidator):
    @property
    def _validator(self) -> Draft4Validator:
        return _validator(self._schema, Draft4RequestValidator)

    async def _parse(self, stream: AsyncGenerator[bytes, None], scope: Scope) -> Any:
        raw = b"".join([chunk async for chunk in stream])
        try:
            text = raw.decode(self._encoding)
        except (UnicodeDecodeError, LookupError):
            raise MalformedRequest(f"The request body is not valid {self._encoding} text") from None
        if not text:
            return _ABSENT
        if _nests_too_deep(text):
            raise MalformedRequest(f"The request body nests deeper than {MAX_JSON_DEPTH} levels")
        try:
            body = json.loads(text, parse_constant=_reject_constant)
        except json.JSONDecodeError as error:
            raise MalformedRequest(f"The request body is not valid JSON: {error.msg} at position {error.pos}") from None
        except ValueError as error:
            raise MalformedRequest(f"The request body is not valid JSON: {error}") from None
        if _contains_unstorable(body):
            raise MalformedRequest(
                "Strings in the request body must not contain NUL (\\u0000) or unpaired surrogates (\\ud800-\\udfff)"
            )
        return body

    def _validate(self, body: Any) -> dict[str, Any] | None:
        if body is _ABSENT:
            if self._required:
                _raise_validation_failed([FieldError(field="body", message="is required")])
            return None  # an optional body left out (an explicit JSON null is checked like any value)
        if body is None and not self._nullable:
            _raise_validation_failed([FieldError(field="body", message="is required")])
        errors = _body_field_errors(self._validator.iter_errors(body))
        if errors:
            _raise_validation_failed(errors)
        return None


class FieldFormDataValidator(FormDataValidator):
    """Form bodies (the RFC 6749 token endpoint) like JSON ones: every invalid field reported, and a client's
    mistake never logged as an error (Connexion's own logs each one at ERROR)."""

    def _validate(self, body: Any) -> dict[str, Any] | None:
        # A schema that takes more fields than it names (Twilio's callbacks, which grow) is not strict.
        if self._strict_validation and not self._schema.get("additionalProperties"):
            self._validate_params_strictly(body)
        errors = _body_field_errors(_validator(self._schema, Draft4RequestValidator).iter_errors(body))
        if errors:
            _raise_validation_failed(errors)
        return None


VALIDATORS = {
    **VALIDATOR_MAP,
    "parameter": FieldParameterValidator,
    "body": MediaTypeDict(
        {
            **VALIDATOR_MAP["body"],
            "*/*json": FieldJSONBodyValidator,
            "application/x-www-form-urlencoded": FieldFormDataValidator,
        }
    ),
}
