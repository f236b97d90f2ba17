"""`make bench`: the figures behind the performance claims, measured side by side in one run.

`python -m bench` runs four benchmarks, each in child processes so a crash, a leak or an engine
that runs out of memory cannot take the others (or the machine) down:

1. sync: the BLS republish against the local mirror of the real snapshot (`bench.sync_bench`);
2. workflow: `quest run` cold, unchanged and after one changed value, both in one warm process
   (`bench.workflow_bench`) and each run a new process, beside plain Spark answering the same
   in a new process (`bench.process_bench`);
3. scale: our pipeline against plain Spark, pandas and DuckDB on generated files (`bench.engines`);
4. memory: republishing a 1 GiB file to a local folder and to S3 (`bench.memory_bench`).

It prints a table, checks the performance targets and writes `bench/results/<timestamp>.json`
(plus a PNG chart of the scale figures beside it). See docs/performance.md.
"""
