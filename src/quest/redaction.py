"""URLs without their userinfo: what every printed, logged or recorded URL goes through.

A source or endpoint URL may carry credentials (`http://user:password@host/`); the sync needs
them on the wire but nowhere else. Text is redacted where it is made (error messages, log lines),
and `quest sync` also filters its log handlers, so a message from a library is covered too.
"""

from __future__ import annotations

import logging
import re

# The authority ends at the first '/', '?' or '#'; userinfo runs to its last '@'.
_USERINFO = re.compile(r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.-]*://)[^/?#\s@]*(?:@[^/?#\s@]*)*@")


def hide_userinfo(text: object) -> str:
    """`text` with the userinfo of every URL in it replaced by `***`."""
    return _USERINFO.sub(lambda m: f"{m['scheme']}***@", str(text))


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
