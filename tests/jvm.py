"""For the tests that start a JVM of their own (the `jvm` marker), beside the suite's Spark.

`make test` runs every Spark test on one xdist worker, in the suite's one SparkSession: that
worker is the suite's critical path, and it uses most of the two cores. A test on the other
worker that starts a JVM of its own (a cold load, a session's start) made three JVMs share
them, slowing the Spark tests by minutes in all. Started with `preexec_fn=beside_the_suite`,
such a JVM (and the Python process that starts it) runs at a lower priority: it takes the
cores the Spark tests leave, and finishes later, off the critical path.
"""

from __future__ import annotations

import os

# Ten steps lower: the kernel then gives it about a tenth of a core the Spark tests want.
NICENESS = 10


def beside_the_suite() -> None:
    """`preexec_fn` of a test's own JVM-starting process: a lower CPU priority."""
    os.nice(NICENESS)
