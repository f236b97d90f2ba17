"""A local store whose bodies answer short reads, as a socket may (botocore's body passes on
what urllib3 returns)."""

from __future__ import annotations

from quest.store import LocalStore


class ShortReads(LocalStore):
    """A store whose bodies answer at most `most` bytes a read."""

    most = 1000

    def open(self, key):
        handle = super().open(key)
        read = handle.read
        handle.read = lambda n=-1: read(self.most if n is None or n < 0 else min(n, self.most))
        return handle
