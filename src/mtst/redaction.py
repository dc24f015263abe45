"""Credentials out of URIs before they are logged, compiled into a pipeline or printed.

A tracking URI may carry credentials (``https://user:password@mlflow.example``, ``postgresql://u:p@db/mlflow``,
``...?token=...``). The URI itself must reach the code that connects, but every copy meant for people or
for storage (log lines, error messages, the compiled pipeline's ``<component>_params``, command output, the KFP
run's parameters) goes through :func:`redact_uri` first. The user name stays (it says whose credentials
were used); passwords, bare tokens in the user part and secret-looking query values become ``***``.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

MASK = "***"
SECRET_QUERY_KEY = re.compile(r"pass|secret|token|key|signature|credential|auth", re.IGNORECASE)
# user:password@ inside any scheme://authority, for URIs embedded in free text (error messages, logs)
_USERINFO_IN_TEXT = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<user>[^\s:/@]*)(?::[^\s/@]*)?@")


def redact_uri(uri: str) -> str:
    """``uri`` with its credentials masked; a URI without any comes back unchanged."""
    if not isinstance(uri, str) or "://" not in uri:
        return uri
    parts = urlsplit(uri)
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, host = netloc.rsplit("@", 1)
        user, has_password, _ = userinfo.partition(":")
        # user:password -> user:***; a bare user part (often a token) -> ***
        netloc = f"{user}:{MASK}@{host}" if has_password else f"{MASK}@{host}"
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        if any(SECRET_QUERY_KEY.search(k) for k, _ in pairs):
            query = urlencode([(k, MASK if SECRET_QUERY_KEY.search(k) else v) for k, v in pairs], safe="*")
    if (netloc, query) == (parts.netloc, parts.query):
        return uri  # nothing to mask: the URI as written (urlunsplit would normalise sqlite:////abs paths)
    prefix = uri[:uri.index("://") + 3]
    rest = uri[len(prefix) + len(parts.netloc):]
    if query != parts.query:
        rest = rest.replace(f"?{parts.query}", f"?{query}", 1)
    return prefix + netloc + rest


def redact_text(text: str) -> str:
    """Mask the password (or bare token) of every ``scheme://user:password@`` found in free text."""
    def mask(match: re.Match[str]) -> str:
        full = match.group(0)
        has_password = ":" in full[len(match.group("scheme")):]
        return f"{match.group('scheme')}{match.group('user')}:{MASK}@" if has_password \
            else f"{match.group('scheme')}{MASK}@"

    return _USERINFO_IN_TEXT.sub(mask, text)


def redact_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of a params mapping with ``tracking.uri`` redacted (what may be compiled, printed or sent)."""
    redacted = copy.deepcopy(dict(params))
    tracking = redacted.get("tracking")
    if isinstance(tracking, dict) and isinstance(tracking.get("uri"), str):
        tracking["uri"] = redact_uri(tracking["uri"])
    return redacted


def has_credentials(uri: str) -> bool:
    return redact_uri(uri) != uri
