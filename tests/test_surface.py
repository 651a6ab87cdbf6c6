"""The public surface: exported names, documented commands, the error tree."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest
import typer

import heldout.errors as errors
from heldout.cli import app

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()
PUBLIC_PACKAGES = ["heldout.datasets", "heldout.evaluate", "heldout.classes", "heldout.errors"]


def _commands(group, prefix=()):
    for name, command in group.commands.items():
        if hasattr(command, "commands"):
            yield from _commands(command, (*prefix, name))
        else:
            yield " ".join((*prefix, name)), command


COMMANDS = dict(_commands(typer.main.get_command(app)))


@pytest.mark.parametrize("module", PUBLIC_PACKAGES)
def test_all_lists_every_public_name_sorted(module):
    mod = importlib.import_module(module)
    public = sorted(
        n
        for n, obj in vars(mod).items()
        if not n.startswith("_")
        and getattr(obj, "__module__", "").startswith(module)
        and not isinstance(obj, type(importlib))
    )
    assert sorted(mod.__all__) == sorted(set(public) | set(mod.__all__))
    assert all(hasattr(mod, name) for name in mod.__all__)


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_command_help_has_an_example(name):
    assert "Example:" in (COMMANDS[name].help or ""), f"`heldout {name}` needs an Example: in its help"


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_command_is_documented_in_readme(name):
    assert f"heldout {name}" in README, f"`heldout {name}` is not shown in README.md"


def test_every_error_is_a_heldout_error_named_in_the_tree():
    classes = [obj for obj in vars(errors).values() if isinstance(obj, type) and issubclass(obj, Exception)]
    for cls in classes:
        assert issubclass(cls, errors.HeldoutError)
        assert cls.__name__ in errors.__doc__


def test_error_message_says_what_where_and_fix():
    error = errors.ManifestError("2 ids repeated", where="b.json", fix="remove them")
    assert error.message == "b.json: 2 ids repeated\n  fix: remove them"
    assert str(error) == error.message
