"""The README and docs/ name every command and every `QUEST_*` variable the code has."""

from __future__ import annotations

import argparse
import re

import pytest

from quest.cli import build_parser
from quest.config import ENV_VARS
from tests.realdata import REPO

DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
CODE = [REPO / "src", REPO / "workflows", REPO / "notebooks"]
VARIABLE = re.compile(r"\bQUEST_[A-Z][A-Z0-9_]*[A-Z0-9]\b")
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


def _text() -> str:
    return "\n".join(path.read_text(encoding="utf-8") for path in DOCS)


def _subcommands(parser: argparse.ArgumentParser, prefix: str = "quest") -> list[str]:
    """Every command line a user can type, down to the leaves (`quest sync bls`)."""
    commands = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                nested = _subcommands(child, f"{prefix} {name}")
                commands.extend(nested or [f"{prefix} {name}"])
    return commands


def _variables_in_code() -> set[str]:
    found = set(ENV_VARS)
    for root in CODE:
        for path in root.rglob("*.py"):
            found.update(VARIABLE.findall(path.read_text(encoding="utf-8")))
    return found


def test_the_scan_sees_the_commands_and_variables_it_must():
    commands = _subcommands(build_parser())
    assert {"quest sync bls", "quest sample", "quest spark-setup"} <= set(commands)
    assert {"QUEST_ENV", "QUEST_SPARK_MASTER", "QUEST_S3_ENDPOINT_URL"} <= _variables_in_code()


@pytest.mark.parametrize("command", _subcommands(build_parser()))
def test_every_command_is_documented(command):
    assert f"`{command}" in _text(), f"{command} is in quest.cli but not in README.md or docs/"


@pytest.mark.parametrize("variable", sorted(_variables_in_code()))
def test_every_quest_variable_the_code_reads_is_documented(variable):
    assert re.search(rf"`{variable}\b", _text()), f"{variable} is not in README.md or docs/"


@pytest.mark.parametrize("doc", DOCS, ids=lambda path: path.name)
def test_docs_point_only_inside_the_repository_at_files_that_exist(doc):
    text = doc.read_text(encoding="utf-8")
    assert "../shared" not in text, f"{doc.name} points outside the repository"
    for target in LINK.findall(text):
        if "://" in target or target.startswith("mailto:"):
            continue
        path = (doc.parent / target).resolve()
        assert path.is_relative_to(REPO), f"{doc.name} links outside the repository: {target}"
        assert path.exists(), f"{doc.name} links to a missing file: {target}"


# A test the docs cite, `tests/x/test_y.py::test_z`, or `::test_z` after one (the same file).
CITED = re.compile(r"`(tests/[\w/]+\.py)(?:::(\w+))?|`::(\w+)")


@pytest.mark.parametrize("doc", DOCS, ids=lambda path: path.name)
def test_every_test_the_docs_cite_exists(doc):
    text, current, missing = doc.read_text(encoding="utf-8"), None, []
    for path, name, same_file in CITED.findall(text):
        if path:
            current = REPO / path
            assert current.is_file(), f"{doc.name} cites a missing test file: {path}"
        name = name or same_file
        if not name:
            continue
        assert current is not None, f"{doc.name} cites ::{name} before any test file"
        if not re.search(rf"^\s*(async )?def {name}\(|^class {name}\b", current.read_text(), re.M):
            missing.append(f"{current.relative_to(REPO)}::{name}")
    assert not missing, f"{doc.name} cites tests that do not exist: {missing}"
