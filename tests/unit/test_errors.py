"""`brief`: an error in a line or a few, without the Java stack trace a Spark error carries."""

from __future__ import annotations

import threading
import time

import pytest

from quest.errors import ConfigError, brief

# The text of a Py4JJavaError as Py4J makes it: its call, then the Java exception's stack trace
# (shortened here; a cancelled Spark job's has 36 frames, a failed task's a cause or two).
CANCELLED = (
    "An error occurred while calling o64.sql.\n"
    ": org.apache.spark.SparkException: [SPARK_JOB_CANCELLED] Job 8 cancelled as part of "
    "cancellation of all jobs SQLSTATE: XXKDA\n"
    "\tat org.apache.spark.errors.SparkCoreErrors$.sparkJobCancelled(SparkCoreErrors.scala:222)\n"
    "\tat org.apache.spark.scheduler.DAGScheduler.handleJobCancellation(DAGScheduler.scala:3088)\n"
)
CAUSED = (
    "An error occurred while calling o71.saveAsTable.\n"
    ": org.apache.spark.SparkException: Job aborted due to stage failure: Task 0 in stage 3.0 "
    "failed 1 times\n"
    "\tat org.apache.spark.scheduler.DAGScheduler.failJobAndIndependentStages(DAGScheduler.scala:2935)\n"
    "Caused by: org.apache.spark.SparkFileNotFoundException: File does not exist\n"
    "\tat org.apache.spark.sql.errors.QueryExecutionErrors$.fileNotFoundError(QueryExecutionErrors.scala:781)\n"
    "\t... 20 more\n"
    "Caused by: java.io.IOException: No space left on device\n"
    "\tat java.base/java.io.FileOutputStream.writeBytes(Native Method)\n"
    "\t... 31 more\n"
)


class Py4JJavaError(Exception):
    """Stands in for py4j's (which needs a JVM to say its text): the same name and text."""


def test_a_java_stack_is_left_out_keeping_the_exception_and_its_deepest_cause():
    assert brief(Py4JJavaError(CANCELLED)) == (
        "Py4JJavaError: org.apache.spark.SparkException: [SPARK_JOB_CANCELLED] Job 8 cancelled "
        "as part of cancellation of all jobs SQLSTATE: XXKDA"
    )
    assert brief(Py4JJavaError(CAUSED)) == (
        "Py4JJavaError: org.apache.spark.SparkException: Job aborted due to stage failure: "
        "Task 0 in stage 3.0 failed 1 times; caused by java.io.IOException: No space left on "
        "device"
    )


def test_pysparks_own_error_loses_the_jvm_stack_it_was_asked_to_add():
    text = (
        "[TABLE_OR_VIEW_NOT_FOUND] The table or view `nope` cannot be found.\n\n"
        "JVM stacktrace:\norg.apache.spark.sql.AnalysisException: [TABLE_OR_VIEW_NOT_FOUND] ...\n"
        "\tat org.apache.spark.sql.errors.QueryCompilationErrors$.tableOrViewNotFound(Q.scala:1)\n"
    )
    assert brief(RuntimeError(text)) == (
        "RuntimeError: [TABLE_OR_VIEW_NOT_FOUND] The table or view `nope` cannot be found."
    )


@pytest.mark.parametrize(
    "exc",
    [
        ConfigError("QUEST_CONTACT is not set"),
        ValueError("two lines\n  at the second, indented as a frame is not"),
        ValueError(""),
    ],
)
def test_any_other_error_is_said_whole(exc):
    assert brief(exc) == f"{type(exc).__name__}: {exc}"


def test_with_a_limit_it_is_the_first_line_cut_short():
    assert brief(ValueError("first\nsecond"), limit=3) == "ValueError: fir"
    assert brief(ValueError("  "), limit=300) == "ValueError: "
    assert brief(Py4JJavaError(CAUSED), limit=300).endswith("No space left on device")


def test_an_error_whose_text_cannot_be_had_is_named_by_what_it_holds():
    class Gone(Exception):
        errmsg = "An error occurred while calling o9.sql.\n"

        def __str__(self):
            raise ConnectionRefusedError("the JVM has exited")

    assert brief(Gone()) == "Gone: An error occurred while calling o9.sql."


@pytest.mark.spark
def test_a_spark_job_cancelled_is_said_without_its_java_stack(spark):
    """What `quest run` met on Ctrl-C: the cancelled job of a running statement raises a
    Py4JJavaError whose text is its Java stack (README, "Commands": a failure is one line)."""
    tracker = spark.sparkContext.statusTracker()

    def cancel_once_running():
        deadline = time.monotonic() + 60
        while not tracker.getActiveJobsIds() and time.monotonic() < deadline:
            time.sleep(0.05)
        spark.sparkContext.cancelAllJobs()

    canceller = threading.Thread(target=cancel_once_running)
    canceller.start()
    try:
        with pytest.raises(Exception) as caught:
            spark.sql("SELECT sum(id % 7) FROM range(100000000000)").collect()
    finally:
        canceller.join()
    text = str(caught.value)
    assert "\tat org.apache.spark" in text  # the stack was there to leave out
    said = brief(caught.value)
    assert "SPARK_JOB_CANCELLED" in said
    assert "\tat " not in said and len(said.splitlines()) == 1, said
