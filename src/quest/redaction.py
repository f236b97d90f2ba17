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
# A scheme of at most 32 characters: unbounded, each `a-a-a-...` of a source's text (a query a
# hostile listing links) was tried as a scheme from each of its characters, in quadratic time.
_USERINFO = re.compile(r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.-]{0,31}://)[^/?#\s@]*(?:@[^/?#\s@]*)*@")


# A query parameter whose name says it carries a credential has its value hidden; the others
# (DataUSA's `cube`, `drilldowns`...) stay readable. A name says so when it ends with one of
# `_ENDINGS` in any case (`token`, `access_token`, `sessionToken`, `accesstoken`,
# `X-Amz-Signature`, `X-Amz-Credential`, `X-Amz-Security-Token`, `client_secret`, `Authorization`,
# `api_key`, `apikey`...), or when its last word (after `_`, `.`, `-`, or a lower-case letter
# followed by a capital) is one of `_SHORT_WORDS` (`key`, `apiKey`, `sig`, `auth`, `pwd`): those
# short words end too many other names (`monkey`, `hockey`) to be taken at the end of any name.
_PARAMETER_NAME = re.compile(r"[?&;](?P<key>[^=&;#\s?]*)=")
_VALUE_END = re.compile(r"[&;#\s\"'<>]|$")
_ENDINGS = (
    "token",
    "tokens",
    "secret",
    "password",
    "passwd",
    "passphrase",
    "signature",
    "credential",
    "credentials",
    "authorization",
    "apikey",
    "accesskey",
    "secretkey",
    "sessionkey",
    "privatekey",
)
_SHORT_WORDS = frozenset({"key", "sig", "auth", "pwd"})
_LAST_WORD = re.compile(r"[_.-]|(?<=[a-z0-9])(?=[A-Z])")


def names_a_credential(name: str) -> bool:
    """Whether a query parameter called `name` carries a credential (see `_ENDINGS`)."""
    return name.lower().endswith(_ENDINGS) or _LAST_WORD.split(name)[-1].lower() in _SHORT_WORDS


def _hide_values(text: str) -> str:
    """`text` with the value of each query parameter named for a credential replaced by `***`
    (a parameter's name is looked for after every `?`, `&` or `;`, even inside another's value)."""
    kept, done = [], 0
    for name in _PARAMETER_NAME.finditer(text):
        # A name may start inside a value hidden already and run past its end (a quote or
        # `<` ends a value, not a name): its own value is hidden still.
        if name.end() <= done or not names_a_credential(name["key"]):
            continue
        end = _VALUE_END.search(text, name.end()).start()
        if end > name.end():
            kept += [text[done : name.end()], "***"]
            done = end
    return "".join(kept) + text[done:]


def hide_userinfo(text: object) -> str:
    """`text` with the userinfo of every URL in it, and the value of every query parameter
    named for a credential, replaced by `***`."""
    text = _USERINFO.sub(lambda m: f"{m['scheme']}***@", str(text))
    return _hide_values(text)


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
