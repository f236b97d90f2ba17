"""The e-mail notifications a workflow declares, delivered locally.

Printed by default; sent through SMTP when `QUEST_SMTP_URL` is set (`smtp://user:pass@host:port`,
upgraded with STARTTLS when the server offers it, or `smtps://` for TLS from the first byte).
Passwords are never printed: every line that leaves the runner goes through `redact`.
"""

from __future__ import annotations

import os
import re
import smtplib
import socket
import ssl
from dataclasses import asdict, dataclass
from email.message import EmailMessage
from urllib.parse import unquote, urlparse

from quest.config import Settings, smtp_url_problem
from quest.sources.http import is_loopback

# Environment variables whose values must never reach a log line, record or message.
SECRET_VARS = (
    "AWS_SECRET_ACCESS_KEY",
    "AWS_ACCESS_KEY_ID",
    "AWS_SESSION_TOKEN",
    "DATABRICKS_TOKEN",
    "DATABRICKS_CLIENT_SECRET",
    "QUEST_SMTP_URL",
)
_URL_PASSWORD = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://)(?P<user>[^:/@\s]*):(?P<pw>[^@/\s]+)@")
_MIN_SECRET_LEN = 6  # shorter values ("test", "1") would blank out ordinary words


@dataclass(frozen=True)
class Notification:
    """One e-mail the workflow declares for an event."""

    event: str  # e.g. "on_failure"
    scope: str  # "workflow" or the task name
    to: tuple[str, ...]
    subject: str
    body: str

    def to_dict(self) -> dict:
        return {**asdict(self), "to": list(self.to)}


def secret_values(settings: Settings | None = None) -> list[str]:
    """The secret strings known to this process (environment and settings)."""
    values = {
        v for v in (os.environ.get(name, "") for name in SECRET_VARS) if len(v) >= _MIN_SECRET_LEN
    }
    if settings is not None and settings.smtp_url:
        values.add(settings.smtp_url)
        password = urlparse(settings.smtp_url).password or ""
        # A password is secret whatever its length; only one or two characters would blank text.
        values |= {p for p in (password, unquote(password)) if len(p) >= 3}
    return sorted(values, key=len, reverse=True)


def redact(text: str, settings: Settings | None = None) -> str:
    """`text` with URL passwords and every known secret value replaced by `***`."""
    text = _URL_PASSWORD.sub(lambda m: f"{m['scheme']}{m['user']}:***@", str(text))
    for value in secret_values(settings):
        text = text.replace(value, "***")
    return text


def deliver(notifications: list[Notification], settings: Settings, out=print) -> list[dict]:
    """Print or send each notification; returns what happened to each (for the run record)."""
    results = []
    for note in notifications:
        if not note.to:
            continue
        if settings.smtp_url:
            status = _send(note, settings)
        else:
            status = "printed (QUEST_SMTP_URL is not set)"
            out(
                f"  notification {note.event} [{note.scope}] to {', '.join(note.to)}: {note.subject}"
            )
            if note.event == "on_failure":
                for line in note.body.splitlines():
                    out(f"    | {line}")
        if settings.smtp_url:
            out(f"  notification {note.event} [{note.scope}] to {', '.join(note.to)}: {status}")
        results.append({**note.to_dict(), "delivery": status})
    return results


def _send(note: Notification, settings: Settings) -> str:
    if problem := smtp_url_problem(settings.smtp_url):
        return f"not sent: QUEST_SMTP_URL {problem}"
    url = urlparse(settings.smtp_url)
    message = EmailMessage()
    message["From"] = settings.contact or f"quest@{socket.gethostname()}"
    message["To"] = ", ".join(note.to)
    message["Subject"] = note.subject
    message.set_content(note.body)
    user, password = unquote(url.username or ""), unquote(url.password or "")
    if not (user + password).isascii():
        # smtplib's error would name a character of the password and its place.
        return (
            "not sent: the SMTP user or password in QUEST_SMTP_URL is not ASCII, which smtplib "
            "cannot send"
        )
    port = url.port or (465 if url.scheme == "smtps" else 25)
    # The server's certificate is checked (smtplib's default checks none: anyone on the way could
    # pose as the server and read the password).
    context = ssl.create_default_context()
    try:
        if url.scheme == "smtps":
            client = smtplib.SMTP_SSL(
                url.hostname, port, timeout=settings.http_timeout, context=context
            )
        else:
            client = smtplib.SMTP(url.hostname, port, timeout=settings.http_timeout)
        with client as smtp:
            smtp.ehlo()
            encrypted = url.scheme == "smtps"
            if not encrypted and smtp.has_extn("starttls"):
                smtp.starttls(context=context)
                smtp.ehlo()
                encrypted = True
            if url.username:
                # Never a password in clear text, but to a server on this machine.
                if not encrypted and not is_loopback(settings.smtp_url):
                    return (
                        f"not sent: {url.hostname}:{port} offers no STARTTLS, and the password "
                        "of QUEST_SMTP_URL is never sent in clear text (use smtps://, or a "
                        "server that offers STARTTLS)"
                    )
                smtp.login(user, password)
            smtp.send_message(message)
    # ValueError: UnicodeEncodeError among them (an address outside ASCII, a server without
    # SMTPUTF8), which escaped here and ended the run before its record was saved.
    except (OSError, smtplib.SMTPException, ValueError) as exc:
        return redact(f"not sent: {type(exc).__name__}: {exc}", settings)
    return f"sent through {url.hostname}:{port}"
