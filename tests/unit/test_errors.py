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


def test_pysparks_own_error_keeps_the_cause_its_jvm_stack_names():
    text = (
        "[PATH_NOT_FOUND] Path does not exist: file:/data/x.csv.\n\nJVM stacktrace:\n"
        "org.apache.spark.sql.AnalysisException: [PATH_NOT_FOUND] ...\n\tat a.B.c(B.java:1)\n"
        "Caused by: java.io.FileNotFoundException: permission denied on /data\n"
        "\tat d.E.f(E.java:2)\n"
    )
    assert brief(RuntimeError(text)) == (
        "RuntimeError: [PATH_NOT_FOUND] Path does not exist: file:/data/x.csv.; caused by "
        "java.io.FileNotFoundException: permission denied on /data"
    )


def test_a_python_workers_traceback_is_said_by_its_error():
    # PySpark's PythonException for a failed UDF: the worker's traceback, no Java frames.
    text = 'Traceback (most recent call last):\n  File "w.py", line 1, in f\n    1 / 0\n'
    said = brief(RuntimeError(text + "ZeroDivisionError: division by zero\n"), limit=300)
    assert said == "RuntimeError: ZeroDivisionError: division by zero"


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
    ("text", "said"),
    [
        # a static method's call (`z:`), and a Java exception the JVM gave no frames
        (
            "An error occurred while calling z:org.apache.spark.api.python.PythonRDD.collect.\n"
            ": org.apache.spark.SparkException: boom\n\tat a.B.c(B.java:1)\n",
            "org.apache.spark.SparkException: boom",
        ),
        (
            "An error occurred while calling o5.sql.\n: java.lang.NullPointerException\n",
            "java.lang.NullPointerException",
        ),
        # Py4J's own error (a method that is not there)
        (
            "An error occurred while calling o12.foo. Trace:\npy4j.Py4JException: Method foo([]) "
            "does not exist\n\tat py4j.reflection.ReflectionEngine.getMethod(R.java:321)\n",
            "py4j.Py4JException: Method foo([]) does not exist",
        ),
        # a Delta conflict's message runs over three lines: its first is said
        (
            "An error occurred while calling o1.sql.\r\n: io.delta.exceptions."
            "ConcurrentAppendException: [DELTA_CONCURRENT_APPEND] Files were added\r\n"
            "Conflicting commit: {}\r\nRefer to the docs\r\n\tat a.B.c(B.java:1)\r\n",
            "io.delta.exceptions.ConcurrentAppendException: [DELTA_CONCURRENT_APPEND] Files were "
            "added",
        ),
        # a Python worker's error inside a failed stage: its last line, not "Traceback ..."
        (
            "An error occurred while calling o2.sql.\n: org.apache.spark.SparkException: Job "
            "aborted: org.apache.spark.api.python.PythonException: Traceback (most recent call "
            'last):\n  File "worker.py", line 1, in main\n    raise ValueError("boom")\n'
            "ValueError: boom\n\n\tat org.apache.spark.api.python.Runner.f(R.scala:1)\n"
            "Caused by: org.apache.spark.api.python.PythonException: Traceback (most recent "
            'call last):\n  File "worker.py", line 1, in main\nValueError: boom\n\tat x.Y.z(Y.java:2)\n',
            "org.apache.spark.SparkException: Job aborted: org.apache.spark.api.python."
            "PythonException: ValueError: boom",
        ),
        # ... whose message runs over two lines: its first, with the error's type
        (
            "An error occurred while calling o1.sql.\n: org.apache.spark.api.python."
            'PythonException: Traceback (most recent call last):\n  File "w.py", line 1\n'
            "ValueError: line one\nsecond line\n\n\tat a.B.c(B.java:1)\n",
            "org.apache.spark.api.python.PythonException: ValueError: line one",
        ),
        # a Java message on the line after its class
        (
            "An error occurred while calling o1.sql.\n: org.apache.spark.sql.catalyst.parser."
            "ParseException: \nmismatched input 'FROMM'\n\tat a.B.c(B.java:1)\n",
            "org.apache.spark.sql.catalyst.parser.ParseException: mismatched input 'FROMM'",
        ),
    ],
)
def test_each_shape_of_a_spark_error_is_said_in_its_line(text, said):
    assert brief(Py4JJavaError(text)) == f"Py4JJavaError: {said}"


@pytest.mark.parametrize(
    "exc",
    [
        ConfigError("QUEST_CONTACT is not set"),
        ValueError("two lines\n  at the second, indented as a frame is not"),
        # a line shaped as a Java frame in a Python error's text, under no Java exception's line
        ValueError("x\n    at com.example.Foo.bar(Foo.java:12)\nthe rest"),
        SystemExit(3),
    ],
)
def test_any_other_error_is_said_whole(exc):
    assert brief(exc) == f"{type(exc).__name__}: {exc}"


def test_an_error_with_no_text_is_said_by_its_name():
    assert brief(KeyboardInterrupt()) == "KeyboardInterrupt"
    assert brief(ValueError("  "), limit=300) == "ValueError"


def test_with_a_limit_it_is_the_first_line_cut_short_keeping_room_for_the_cause():
    assert brief(ValueError("first\nsecond"), limit=3) == "ValueError: fir"
    long = CAUSED.replace("failed 1 times", "failed 1 times" + ", and more" * 60)
    said = brief(Py4JJavaError(long), limit=300)
    assert said.endswith("; caused by java.io.IOException: No space left on device"), said
    assert len(said) == len("Py4JJavaError: ") + 300
    # Spark repeats a failed task's error at the end of the job's: under the cut, it moves to
    # the cause's place instead of being cut off.
    lost = "org.apache.spark.SparkFileNotFoundException: File file:/x.parquet does not exist"
    job = (
        "An error occurred while calling o88.collectToPython.\n: org.apache.spark.SparkException: "
        f"Job aborted due to stage failure: {'Lost task 0.0, ' * 20}executor driver): {lost}\n"
        f"\tat a.B.c(B.java:1)\nCaused by: {lost}\n\tat d.E.f(E.java:2)\n"
    )
    said = brief(Py4JJavaError(job), limit=300)
    assert said.endswith(f"; caused by {lost}") and said.count(lost) == 1, said
    assert brief(Py4JJavaError(job)).endswith(f"executor driver): {lost}")  # whole: said once


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
