"""Source-test fixtures live in `support.py` so the fault tests can share them."""

from .support import *  # noqa: F403
