"""URLs without their credentials: what every printed, logged or recorded URL goes through.

A source or endpoint URL may carry credentials, as its userinfo (`http://user:password@host/`)
or as a query parameter (`?token=...`, a signed URL's `X-Amz-Signature=...`); the sync needs
them on the wire but nowhere else. Text is redacted where it is made (error messages, log lines),
and `quest sync` also filters its log handlers, so a message from a library is covered too.
"""

from __future__ import annotations

import logging
import re

# The authority ends at the first '/', '?' or '#'; userinfo runs to its last '@'.
_USERINFO = re.compile(r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.-]*://)[^/?#\s@]*(?:@[^/?#\s@]*)*@")


# A query parameter whose name says it carries a credential: `token`, `access_token`,
# `api_key`, `apikey`, `key`, `sig`, `signature`, `X-Amz-Signature`, `X-Amz-Credential`,
# `X-Amz-Security-Token`, `password`, `secret`, `client_secret`, `auth`... Its value is hidden;
# other parameters (DataUSA's `cube`, `drilldowns`...) stay readable.
_SECRET_PARAMETER = re.compile(
    r"(?P<name>[?&;](?:[^=&;#\s]*[_.-])?"
    r"(?:token|key|apikey|sig|signature|credential|password|passwd|pwd|secret|auth)=)"
    r"[^&;#\s\"'<>]+",
    re.IGNORECASE,
)


def hide_userinfo(text: object) -> str:
    """`text` with the userinfo of every URL in it, and the value of every query parameter
    named for a credential, replaced by `***`."""
    text = _USERINFO.sub(lambda m: f"{m['scheme']}***@", str(text))
    return _SECRET_PARAMETER.sub(lambda m: f"{m['name']}***", text)


class UserinfoFilter(logging.Filter):
    """A log filter that redacts URL userinfo in each record's message and traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = hide_userinfo(message)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = hide_userinfo(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True
