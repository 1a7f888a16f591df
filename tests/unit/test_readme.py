"""The README is correct on every command: its command table is ``loadsim --help``, and every
``loadsim`` and ``locust`` line of its examples parses with the real parsers."""

from __future__ import annotations

import argparse
import re
import shlex
from pathlib import Path
from typing import Any

import pytest

from simulator import locustfiles
from simulator.cli import build_parser

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def subcommands() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    (action,) = (a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def table_rows() -> list[tuple[str, str]]:
    """(subcommand, its synopsis) of each row of the README's command table."""
    rows = re.findall(r"^\| `loadsim (\w+)([^`]*)` \|", README, flags=re.MULTILINE)
    assert rows, "the README has no command table"
    return [(name, synopsis.replace("\\|", "|")) for name, synopsis in rows]


def example_lines() -> list[str]:
    """Every command line of the README's code blocks that runs loadsim or locust."""
    out = []
    for block in re.findall(r"^```[a-z]*\n(.*?)^```", README, flags=re.MULTILINE | re.DOTALL):
        for line in re.sub(r"\\\n\s*", " ", block).splitlines():
            line = re.sub(r"\s#.*$", "", line).rstrip(" &")
            words = line.split()
            if words and Path(words[0]).name in ("loadsim", "locust"):
                out.append(line)
    return out


def test_the_command_table_is_every_subcommand() -> None:
    assert sorted({name for name, _ in table_rows()}) == sorted(subcommands())


@pytest.mark.parametrize(("name", "synopsis"), table_rows())
def test_every_flag_of_the_command_table_exists(name: str, synopsis: str) -> None:
    parser = subcommands()[name]
    known = {s for a in parser._actions for s in a.option_strings}
    flags = set(re.findall(r"(?<![\w-])--[a-z][\w-]*", synopsis.split(" -- ")[0]))
    assert flags - known == set(), f"loadsim {name}: the README names flags it does not take"


@pytest.mark.parametrize("line", example_lines())
def test_every_example_parses(line: str) -> None:
    # $(loadsim locustfile NAME) is what the shell would put there.
    line = re.sub(r'"\$\(loadsim locustfile ?(\w*)\)"', lambda m: str(locustfiles.path(m.group(1) or "tracking")), line)
    words = shlex.split(line)
    program, args = Path(words[0]).name, words[1:]
    try:
        if program == "loadsim":
            if "--" in args:  # what follows goes to Locust untouched
                args = args[: args.index("--")]
            build_parser().parse_args(args)
        else:
            _locust_parser().parse_args(args)
    except SystemExit as e:
        if e.code:  # --version and --help exit 0
            pytest.fail(f"README: {line!r} does not parse (exit {e.code})")


def _locust_parser() -> Any:
    from locust.argument_parser import get_empty_argument_parser, setup_parser_arguments

    from simulator.loadtest import options

    parser = get_empty_argument_parser()
    setup_parser_arguments(parser)
    options.add_arguments(parser)
    return parser


def test_the_readme_stands_alone() -> None:
    """No pointer to a design document the repository does not hold."""
    for name in re.findall(r"`([\w./-]+\.md)`", README):
        assert (ROOT / name).is_file() or name.startswith("summary"), f"README names {name}, not in the repository"
    assert "shared folder" not in README and "DESIGN.md" not in README


def test_the_replay_example_targets_the_mock_not_locusts_web_ui() -> None:
    web_ui_port = str(_locust_parser().parse_args([]).web_port)
    for line in example_lines():
        if line.split()[:2] == ["loadsim", "replay"] and "--host" in line:
            assert f":{web_ui_port}" not in line, f"{line!r} sends to Locust's web UI port"
