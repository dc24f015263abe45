"""Credentials out of URIs before they are logged, compiled into a pipeline or printed.

A tracking URI may carry credentials (``https://user:password@mlflow.example``, ``postgresql://u:p@db/mlflow``,
``...?token=...``). The URI itself must reach the code that connects, but every copy meant for people or
for storage (log lines, error messages, the compiled pipeline's ``<component>_params``, command output, the KFP
run's parameters) goes through :func:`redact_uri` first. The user name stays (it says whose credentials
were used); passwords, bare tokens in the user part and secret-looking query and fragment values become
``***``, whatever a password holds (``:``, ``@``, or ``/``, ``?``, ``#`` left unencoded, which end the authority
for a URI parser: :func:`_userinfo_end`).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

MASK = "***"
# query (or fragment) keys whose values are secrets: passwords, tokens, keys, signatures (X-Amz-Signature, an
# Azure SAS's sig), credentials, sessions
SECRET_QUERY_KEY = re.compile(r"pass|pwd|secret|token|key|signature|credential|auth|session|jwt|^sig$", re.IGNORECASE)
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")
_URI_IN_TEXT = re.compile(_SCHEME.pattern + r"\S+")
_AUTHORITY_END = re.compile(r"[/?#]")


def _userinfo_end(rest: str) -> int | None:
    """Where the userinfo of ``rest`` (a URI after ``scheme://``) ends: the index of its ``@``, or None.

    The authority is what precedes the first ``/``, ``?`` or ``#``, and its userinfo everything before the last
    ``@`` in it. A password may hold those characters unencoded (``user:pa/ss@host``), which cuts the authority
    short: when the part before the first ``@`` or delimiter holds ``:`` (a password follows) and an ``@``
    comes later, the userinfo runs to the last ``@`` of the whole URI. That masks too much of a URI with an
    ``@`` in its path (``http://host:5000/a@b`` prints as ``http://host:***@b``) rather than print a password."""
    cut = _AUTHORITY_END.search(rest)
    authority = rest[:cut.start()] if cut else rest
    if ":" in authority.split("@", 1)[0] and "@" in rest:
        return rest.rindex("@")
    return authority.rindex("@") if "@" in authority else None


def _mask_pairs(text: str) -> str:
    """``key=value&...`` with the values of secret-looking keys masked; ``text`` itself when there are none."""
    pairs = parse_qsl(text, keep_blank_values=True)
    if not any(SECRET_QUERY_KEY.search(k) for k, _ in pairs):
        return text
    return urlencode([(k, MASK if SECRET_QUERY_KEY.search(k) else v) for k, v in pairs], safe="*")


def redact_uri(uri: str) -> str:
    """``uri`` with its credentials masked; a URI without any comes back unchanged (as written: urlunsplit would
    normalise ``sqlite:////abs`` paths). The user name stays; a password becomes ``***`` and a user part
    without one (often a bare token) ``***``; so do the values of secret-looking query and fragment keys."""
    if not isinstance(uri, str) or not _SCHEME.match(uri):
        return uri
    prefix_end = uri.index("://") + 3
    prefix, rest = uri[:prefix_end], uri[prefix_end:]
    at = _userinfo_end(rest)
    if at is not None:
        user, has_password, _ = rest[:at].partition(":")
        rest = (f"{user}:{MASK}" if has_password else MASK) + rest[at:]
    parts = urlsplit(prefix + rest)
    query, fragment = _mask_pairs(parts.query), _mask_pairs(parts.fragment)
    if (query, fragment) != (parts.query, parts.fragment):
        head = rest.split("#", 1)[0].split("?", 1)[0]
        rest = head + (f"?{query}" if "?" in rest.split("#", 1)[0] else "") + (f"#{fragment}" if "#" in rest else "")
    return prefix + rest


def redact_text(text: str) -> str:
    """Every URI in free text (a ``scheme://`` up to the next white space) through :func:`redact_uri`."""
    return _URI_IN_TEXT.sub(lambda match: redact_uri(match.group(0)), text)


def redact_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of a params mapping with ``tracking.uri`` redacted (what may be compiled, printed or sent)."""
    redacted = copy.deepcopy(dict(params))
    tracking = redacted.get("tracking")
    if isinstance(tracking, dict) and isinstance(tracking.get("uri"), str):
        tracking["uri"] = redact_uri(tracking["uri"])
    return redacted


def has_credentials(uri: str) -> bool:
    return redact_uri(uri) != uri
