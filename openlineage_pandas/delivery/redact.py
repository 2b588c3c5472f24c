"""Scrubs credentials out of any text the delivery layer writes to logs, the spool or the rejected file.

URLs lose `user:password@` and secret query parameters (via `naming.redact_url`); known secret values are masked.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from typing import Any

import attr

from openlineage_pandas.naming import redact_url

MASK = "***"

# Anything that looks like an absolute URL inside free text (exception messages, server answers).
_URL_IN_TEXT = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://[^\s'\"<>()\[\]{},]+")
_BEARER = re.compile(r"(?i)\b(bearer|basic|token)\s+[A-Za-z0-9._~+/=\-]{6,}")
_SECRET_NAME = re.compile(r"(?i)key|secret|token|password|passwd|credential|bearer|authorization")
# Secrets shorter than this are not masked literally: masking "a" would shred every message.
_MIN_SECRET_LEN = 4


def _url_secrets(url: str) -> list[str]:
    """The user-info part of a URL (both the whole `user:pass` and the password)."""
    match = re.match(r"[A-Za-z][A-Za-z0-9+.\-]*://([^/@\s]+)@", url)
    if not match:
        return []
    userinfo = match.group(1)
    found = [userinfo]
    if ":" in userinfo:
        found.append(userinfo.split(":", 1)[1])
    return found


def _attributes(obj: Any) -> list[tuple[str, Any]]:
    if attr.has(type(obj)):
        return [(a.name, getattr(obj, a.name, None)) for a in attr.fields(type(obj))]
    try:
        return list(vars(obj).items())
    except TypeError:
        return []


def secrets_of(obj: Any, depth: int = 0) -> list[str]:
    """Secret-looking strings in a transport config: URL user-info, auth fields, secret-named headers."""
    if depth > 4 or obj is None or isinstance(obj, (bool, int, float, bytes)):
        return []
    if isinstance(obj, str):
        return _url_secrets(obj)
    if isinstance(obj, (list, tuple, set)):
        return [s for item in obj for s in secrets_of(item, depth + 1)]
    # Sessions, adapters and locks hold no configured secrets and are costly to walk.
    if type(obj).__module__.split(".")[0] in {"requests", "urllib3", "ssl", "threading", "_thread"}:
        return []
    items = list(obj.items()) if isinstance(obj, dict) else _attributes(obj)
    found: list[str] = []
    for name, value in items:
        if isinstance(value, str):
            if _SECRET_NAME.search(str(name)):
                found.append(value)
            found.extend(_url_secrets(value))
        elif not callable(value) or isinstance(value, dict):
            found.extend(secrets_of(value, depth + 1))
    return found


class Redactor:
    """Masks credentials in text: URL user-info, secret query parameters, bearer tokens, known secret values."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        env_key = os.environ.get("OPENLINEAGE_API_KEY", "")
        values = {s for s in (*secrets, env_key) if isinstance(s, str) and len(s) >= _MIN_SECRET_LEN}
        # Longest first so a secret that contains another is masked whole.
        self._secrets = sorted(values, key=len, reverse=True)

    def add(self, secrets: Iterable[str]) -> None:
        values = set(self._secrets) | {s for s in secrets if isinstance(s, str) and len(s) >= _MIN_SECRET_LEN}
        self._secrets = sorted(values, key=len, reverse=True)

    @property
    def secrets(self) -> tuple[str, ...]:
        return tuple(self._secrets)

    def __call__(self, text: object) -> str:
        out = _URL_IN_TEXT.sub(lambda m: redact_url(m.group(0)), str(text))
        out = _BEARER.sub(lambda m: f"{m.group(1)} {MASK}", out)
        for secret in self._secrets:
            out = out.replace(secret, MASK)
        return out


def redact_text(text: object) -> str:
    """Redact with no known secrets (URLs, bearer tokens, OPENLINEAGE_API_KEY only)."""
    return Redactor()(text)
