"""The stores are tested with the source tests' fixtures: a mirror, moto's S3 server, and a
`store` parametrised over a local folder and an S3 bucket (`tests/sources/support.py`)."""

from tests.sources.support import *  # noqa: F403
