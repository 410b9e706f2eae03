"""What the merchant API may show of a secret: an SMTP URL with its password masked, and how a masked URL sent back
keeps the password it hides."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

PASSWORD_MASK = "********"


def mask_smtp_url(url: str | None) -> str | None:
    """`smtp://user:secret@host:587` -> `smtp://user:********@host:587`: a password never leaves the server."""
    if not url:
        return url
    try:
        parts = urlsplit(url)
        has_password = parts.password is not None
    except ValueError:
        return PASSWORD_MASK if "@" in url else url
    if not has_password:
        return url
    userinfo, _, hostport = parts.netloc.rpartition("@")
    user = userinfo.split(":", 1)[0]
    return urlunsplit(parts._replace(netloc=f"{user}:{PASSWORD_MASK}@{hostport}"))


def unmask_smtp_url(sent: str | None, stored: str | None) -> str | None:
    """The SMTP URL to store when the admin page sends `sent`: the page shows the URL masked and sends it back as
    shown, and then the stored password stays. Blank clears it."""
    url = (sent or "").strip() or None
    if url is not None and stored and url == mask_smtp_url(stored):
        return stored
    return url
