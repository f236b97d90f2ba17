"""Task values and dynamic value references, as Databricks Jobs passes them between tasks.

A task publishes a few small strings (`publish`); later tasks name them in their parameters and
condition tasks in their operands as `{{tasks.<task>.values.<key>}}`, job parameters as
`{{job.parameters.<name>}}`. On Databricks the Jobs service resolves these references. The local
runner does the same with `resolve`, from the values the tasks returned, and decides an if/else
condition task with `evaluate`, by the Jobs service's comparison rules.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from quest.errors import ConfigError

_REFERENCE = re.compile(
    r"\{\{\s*(?:tasks\.(?P<task>[\w-]+)\.values\.(?P<key>[\w-]+)"
    r"|job\.parameters\.(?P<param>[\w.-]+)|job\.(?P<job>run_id|name|id))\s*\}\}"
)
# The Jobs service compares with == and != as strings, and with the others as numbers.
_STRING_OPS = {"EQUAL_TO": lambda a, b: a == b, "NOT_EQUAL": lambda a, b: a != b}
_NUMERIC_OPS = {
    "GREATER_THAN": lambda a, b: a > b,
    "GREATER_THAN_OR_EQUAL": lambda a, b: a >= b,
    "LESS_THAN": lambda a, b: a < b,
    "LESS_THAN_OR_EQUAL": lambda a, b: a <= b,
}
_SYMBOLS = {
    "EQUAL_TO": "==",
    "NOT_EQUAL": "!=",
    "GREATER_THAN": ">",
    "GREATER_THAN_OR_EQUAL": ">=",
    "LESS_THAN": "<",
    "LESS_THAN_OR_EQUAL": "<=",
}


# The parameters every task of the workflow has that name its job run and job (`{{job.run_id}}`,
# `{{job.name}}`): where a notebook's context cannot be read, or lacks the job run's id or the
# job's name, a job's task is still told from a hand run (`quest.ops.task_hook.run_context`).
JOB_RUN_WIDGET, JOB_NAME_WIDGET = "job_run_id", "job_name"


def task_value_ref(task: str, key: str) -> str:
    """The reference to the value `key` published by `task`."""
    return f"{{{{tasks.{task}.values.{key}}}}}"


def job_parameter_ref(name: str) -> str:
    """The reference to the job parameter `name`."""
    return f"{{{{job.parameters.{name}}}}}"


def job_ref(field: str) -> str:
    """The reference to the running job's `run_id`, `name` or `id`."""
    return f"{{{{job.{field}}}}}"


def publish(dbutils, values: Mapping[str, object]) -> dict[str, str]:
    """Publish `values` as the running task's task values; returns them as the strings published.

    On Databricks they are set with `dbutils.jobs.taskValues`, as plain strings (BrickFlow's own
    return value is pickled, which no reference can compare). Locally `dbutils` has no `jobs`:
    the task's result carries them (`TaskResult.task_values`) and the runner reads them there.
    """
    text = {key: _text(value) for key, value in values.items()}
    jobs = getattr(dbutils, "jobs", None)
    if jobs is not None:
        for key, value in text.items():
            jobs.taskValues.set(key=key, value=value)
    return text


def resolve(
    text: str,
    task_values: Mapping[str, Mapping[str, str]],
    job_parameters: Mapping[str, str],
    job: Mapping[str, str] | None = None,
) -> str:
    """`text` with every task value and job parameter reference replaced by its value.

    Args:
        text: a parameter or an operand, possibly holding references.
        task_values: per task that ran in this run, the values it published.
        job_parameters: the run's job parameters.
        job: the run's `run_id`, `name` and `id` for `{{job.run_id}}` and the like (without
            it they are left as they are).

    Returns:
        The resolved text. A value of a task that did not run in this run (not selected)
        reads as an empty string.

    Raises:
        ConfigError: a task that ran published no such value, or no such job parameter exists.
    """

    def value(match: re.Match) -> str:
        if match["job"] is not None:
            return match[0] if job is None else str(job.get(match["job"], ""))
        if match["param"] is not None:
            if match["param"] not in job_parameters:
                known = ", ".join(sorted(job_parameters)) or "none"
                raise ConfigError(
                    f"{match[0]} names no job parameter of this workflow (it has: {known})"
                )
            return job_parameters[match["param"]]
        task, key = match["task"], match["key"]
        if task not in task_values:
            return ""
        if key not in task_values[task]:
            known = ", ".join(sorted(task_values[task])) or "none"
            raise ConfigError(
                f"{match[0]}: task {task} published no value {key!r} (it published: {known})"
            )
        return task_values[task][key]

    return _REFERENCE.sub(value, text)


def referenced_tasks(*texts: str) -> set[str]:
    """The tasks whose values `texts` name (`{{tasks.<task>.values.<key>}}`)."""
    return {m["task"] for text in texts for m in _REFERENCE.finditer(str(text)) if m["task"]}


@dataclass(frozen=True)
class Outcome:
    """An evaluated if/else condition: its operands as resolved, and the branch taken."""

    left: str
    op: str
    right: str
    value: bool

    @property
    def branch(self) -> str:
        """`"true"` or `"false"`: the outcome dependants name in `depends_on`."""
        return "true" if self.value else "false"

    def __str__(self) -> str:
        return f"{self.branch} ({self.left!r} {_SYMBOLS.get(self.op, self.op)} {self.right!r})"


def evaluate(
    condition,
    task_values: Mapping[str, Mapping[str, str]],
    job_parameters: Mapping[str, str],
) -> Outcome:
    """Decide an if/else condition task (BrickFlow's `IfElseConditionTask`) as Databricks does.

    Raises:
        ConfigError: an unknown operator, a numeric comparison of an operand that is not a
            number, or a reference that cannot be resolved.
    """
    left = resolve(condition.left, task_values, job_parameters)
    right = resolve(condition.right, task_values, job_parameters)
    op = str(condition.op)
    if op in _STRING_OPS:
        return Outcome(left, op, right, _STRING_OPS[op](left, right))
    if op not in _NUMERIC_OPS:
        raise ConfigError(f"condition operator {op!r} is not one of {', '.join(_SYMBOLS)}")
    numbers = []
    for side, operand in (("left", left), ("right", right)):
        try:
            numbers.append(float(operand))
        except ValueError:
            raise ConfigError(
                f"condition {condition.left!r} {_SYMBOLS[op]} {condition.right!r}: the {side} "
                f"operand {operand!r} is not a number, and {_SYMBOLS[op]} compares numbers"
            ) from None
    return Outcome(left, op, right, _NUMERIC_OPS[op](*numbers))


def _text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
