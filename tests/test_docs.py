"""README documents every command and every option (sqlite-utils' test_docs habit): a new flag without
a line in README fails here."""

import re
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from shotdex.cli import app

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()
ROOT = typer.main.get_command(app)
COMMANDS = {name: cmd for name, cmd in ROOT.commands.items() if not cmd.hidden}
SKIP = {"--help", "-h", "--install-completion", "--show-completion"}


def test_every_command_is_listed():
    assert set(COMMANDS) == {"render", "index", "search", "serve", "status", "ls", "remove", "reembed", "models", "eval"}


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_command_help_runs_and_is_documented(name):
    r = CliRunner().invoke(app, [name, "--help"])
    assert r.exit_code == 0 and "Usage" in r.output, r.output
    assert re.search(rf"`shotdex {name}\b|^shotdex {name}\b", README, re.M), f"`shotdex {name}` is not in README"
    missing = []
    for param in COMMANDS[name].params:
        for opt in [*param.opts, *param.secondary_opts]:
            if opt.startswith("-") and opt not in SKIP and not re.search(rf"`[^`]*{re.escape(opt)}\b[^`]*`", README):
                missing.append(opt)
    assert not missing, f"shotdex {name}: options missing from README: {missing}"


def test_root_options_are_documented():
    for opt in ("--version", "-h", "--install-completion"):
        assert f"`shotdex {opt}" in README or f"`{opt}`" in README, opt
