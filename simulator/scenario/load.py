"""Loading scenario files: bundled names, ``extends``, and the list of bundled scenarios."""

from __future__ import annotations

import sys
import tomllib
from importlib import resources
from pathlib import Path
from typing import Any

from simulator.errors import ScenarioError, ScenarioProblem
from simulator.scenario.model import Scenario
from simulator.scenario.reader import _Reader, _show, hint
from simulator.scenario.rules import _read


def scenario_dir() -> Path:
    """The bundled scenarios, shipped in the package (``simulator/scenarios/``): a wheel install has them too."""
    return Path(str(resources.files("simulator") / "scenarios"))


def shown_file(path: Path) -> str:
    """How problems name a scenario file: a bundled one by its file name, any other by its path."""
    return path.name if path.parent == scenario_dir() else str(path)


# --- problems ------------------------------------------------------------------------------------


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """``over`` on top of ``base``: tables merge key by key, anything else (arrays too) replaces."""
    out = dict(base)
    for k, v in over.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def _extend(data: dict[str, Any], file: str, here: Path | None, seen: tuple[Path, ...]) -> dict[str, Any]:
    """Resolve ``extends = "ecommerce"``: the named scenario's tables under this file's."""
    parent = data.pop("extends", None)
    if parent is None:
        return data
    if not isinstance(parent, str):
        raise ScenarioError(
            [ScenarioProblem(file, "extends", f"expected a scenario name or path, got {_show(parent)}")]
        )
    candidate = (here / parent) if here is not None and (here / parent).is_file() else parent
    try:
        path = _resolve(candidate).resolve()
    except ScenarioError as e:
        raise ScenarioError([ScenarioProblem(file, "extends", p.message) for p in e.problems]) from None
    if path in seen or len(seen) > 8:
        raise ScenarioError([ScenarioProblem(file, "extends", f"scenarios extend each other in a loop ({parent})")])
    try:
        base = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise ScenarioError([ScenarioProblem(file, "extends", f"cannot read {path.name}: {e}")]) from None
    base = _extend(base, path.name, path.parent, (*seen, path))
    for k in ("name", "description"):
        base.pop(k, None)  # a scenario names and describes itself
    return _merge(base, data)


def parse_scenario(text: str, *, file: str = "<string>", path: Path | None = None) -> Scenario:
    """A Scenario from TOML text; ScenarioError lists every problem, each prefixed with ``file``."""
    r = _Reader(file)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ScenarioError([ScenarioProblem(file, "", f"not valid TOML: {e}")]) from None
    here = path.resolve().parent if path is not None else None
    data = _extend(data, file, here, (path.resolve(),) if path is not None else ())
    default_name = Path(file).stem if file != "<string>" else "scenario"
    scenario = _read(r, data, default_name, path)
    if scenario is None:
        raise ScenarioError(r.problems)
    return scenario


def _resolve(name_or_path: str | Path) -> Path:
    p = Path(name_or_path)
    if isinstance(name_or_path, str) and p.suffix != ".toml" and len(p.parts) == 1:
        bundled = scenario_dir() / f"{name_or_path}.toml"
        if bundled.is_file():
            return bundled
    if p.is_file():
        return p
    if p.exists():  # there, but nothing a scenario is read from
        what = "is a folder, not a scenario file" if p.is_dir() else "is not a scenario file"
        raise ScenarioError([ScenarioProblem(str(name_or_path), "", f"{what} (a TOML file, or a bundled name)")])
    names = [n for n, _ in bundled_scenarios()]
    close = hint(name_or_path, names, f"bundled scenarios are {', '.join(names)}")
    raise ScenarioError([ScenarioProblem(str(name_or_path), "", f"no such scenario file or bundled name; {close}")])


def load_scenario(name_or_path: str | Path) -> Scenario:
    """A scenario by bundled name (``smoke``) or path; ScenarioError lists every problem found."""
    path = _resolve(name_or_path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise ScenarioError([ScenarioProblem(str(path), "", f"cannot read: {e}")]) from None
    return parse_scenario(text, file=shown_file(path), path=path)


def say_warnings(scenario: Scenario) -> None:
    """The scenario's warnings on stderr, a line each: what a command that plays it says before it starts."""
    for w in scenario.warnings:
        sys.stderr.write(f"loadsim: {w}\n")


def bundled_scenarios() -> list[tuple[str, str]]:
    """(name, one-line description) of each bundled scenario, sorted by name."""
    out = []
    for p in sorted(scenario_dir().glob("*.toml")):
        try:
            desc = tomllib.loads(p.read_text(encoding="utf-8")).get("description", "")
        except (OSError, tomllib.TOMLDecodeError):
            desc = "(unreadable: run loadsim validate)"
        out.append((p.stem, str(desc).strip().splitlines()[0] if str(desc).strip() else ""))
    return out
