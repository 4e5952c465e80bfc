"""Secrets never leave in an error. Every value that came from a Connection (a cloud's password or
application-credential secret, a group's pool token, key and certificate) is replaced by ``***`` in
every error message an adapter raises or reports, and in template errors, before anything stores,
logs or shows it: a cloud or a Jinja error may echo what it was sent (``{{ {}[cs_condor_token] }}``
names the token in its message).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import replace
from typing import Any
from urllib.parse import quote, quote_plus

from include.providers.base import ProviderError

MASK = "***"
SHORTEST = 4  # shorter values (a port, "yes") would mask ordinary words; no credential is that short
SECRET_WORDS = ("password", "secret", "token", "key", "cert", "credential")


class Redactor:
    def __init__(self, values: Iterable[str | None] = ()):
        forms: set[str] = set()
        for value in values:
            if isinstance(value, str) and len(value) >= SHORTEST:
                forms |= {value, json.dumps(value)[1:-1], quote(value, safe=""), quote_plus(value)}
        self._forms = sorted(forms, key=len, reverse=True)  # the longest first: no partial masks left

    def __bool__(self) -> bool:
        return bool(self._forms)

    def text(self, text: str) -> str:
        for form in self._forms:
            text = text.replace(form, MASK)
        return text

    def error(self, err: ProviderError) -> ProviderError:
        clean = self.text(err.message)
        return err if clean == err.message else type(err)(err.cloud, clean)

    def __add__(self, other: Redactor) -> Redactor:
        joined = Redactor()
        joined._forms = sorted(set(self._forms) | set(other._forms), key=len, reverse=True)
        return joined


def secret_values(password: str | None, extra: dict[str, Any] | None) -> list[str]:
    """A Connection's password and the extras whose names say they are secret."""
    values = [password] if password else []
    for key, value in (extra or {}).items():
        if any(word in key.lower() for word in SECRET_WORDS) and isinstance(value, str) and "name" not in key:
            values.append(value)
    return values


class RedactingAdapter:
    """A cloud adapter whose errors, raised or reported per VM, carry no secret."""

    def __init__(self, inner: Any, redactor: Redactor):
        self._inner, self._redactor = inner, redactor

    @property
    def inner(self) -> Any:
        return self._inner

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._inner, name)
        if not callable(attr):
            return attr

        def call(*args: Any, **kwargs: Any) -> Any:
            try:
                result = attr(*args, **kwargs)
            except ProviderError as err:
                raise self._redactor.error(err) from None
            if name == "create_vms":
                return [
                    r if r.error is None else replace(r, error=self._redactor.error(r.error)) for r in result
                ]
            return result

        return call
