"""Store URLs in messages and shared files: the one place a password is taken out of a URL."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit


def redact_uri(uri: str) -> str:
    """Drop a password from a store URL (postgresql://user:secret@host) before it lands in a message or file."""
    try:
        parts = urlsplit(uri)
        password = parts.password
    except ValueError:
        return uri
    if password is None:
        return uri
    host = parts.hostname or ""
    netloc = f"{parts.username}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))
