"""A fast "is this body valid?" predicate, generated from ``simulator.contract``'s own tables.

``contract.validate`` walks the field tables generically and builds a JSON path for every
field it visits: about 25 us for an events body, most of the mock's budget of ~35 us per
request at 27,000 requests/s on one core. Here the same tables are compiled once into one
flat Python function per endpoint (no recursion, no path strings) that answers only yes or no.
A "no" always goes to ``contract.validate`` for the message, and a body is accepted whenever
``contract.validate`` finds nothing, so the predicate can only ever cost speed, never change
an answer: if the contract grows a rule this generator does not know, it refuses to generate
and the mock falls back to ``contract.validate`` for every body.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from simulator import contract
from simulator.contract import Field

__all__ = ["RULE_INPUTS", "compile_fast_check", "fast_checks"]

# Field attributes the generator understands; anything else in the contract disables it.
_KNOWN_FIELD_ATTRS = frozenset(
    {
        "name",
        "type",
        "required",
        "description",
        "format",
        "enum",
        "bool_strings",
        "minimum",
        "maximum",
        "fields",
        "items",
        "max_items",
    }
)


#: Distinct strings remembered per format before the memo starts over.
_MEMO_SIZE = 200_000

#: What a rule across fields of the contract reads, as JSON paths: the fast path remembers its
#: verdict per distinct input (a device's ids repeat on every request; the uid rule costs ~4 us).
#: ``tests/unit/test_mock_validation.py`` checks each rule answers the same given only these
#: fields; a rule not listed here is simply called every time.
RULE_INPUTS: dict[str, tuple[tuple[str, ...], ...]] = {
    "_uid_matches_app": (("id",), ("uid",), ("external_ids", "customerlabs_user_id")),
}


_MISSING = ("<missing>",)


def _at(body: Any, path: tuple[str, ...]) -> Any:
    """The value at ``path``, or a marker that also says which step was not an object."""
    node = body
    for key in path:
        if type(node) is not dict:
            return ("<not an object>", type(node).__name__)
        node = node.get(key, _MISSING)
    return node


class _Gen:
    def __init__(self) -> None:
        self.lines: list[str] = []
        self.names: dict[str, Any] = {
            "isfinite": math.isfinite,
            "MAX": contract.MAX_STRING,
            "at": _at,
            "MISSING": _MISSING,
        }
        self.n = 0
        self.memos: dict[str, set[str]] = {}
        self.verdicts: dict[str, dict[tuple[Any, ...], bool]] = {}

    def var(self) -> str:
        self.n += 1
        return f"v{self.n}"

    def memo(self, fmt: str) -> set[str]:
        return self.memos.setdefault(fmt, set())

    def memo_dict(self, name: str) -> dict[tuple[Any, ...], bool]:
        return self.verdicts.setdefault(name, {})

    def const(self, value: Any) -> str:
        name = f"c{len(self.names)}"
        self.names[name] = value
        return name

    def emit(self, depth: int, line: str) -> None:
        self.lines.append("    " * depth + line)

    def value(self, spec: Field, v: str, depth: int) -> None:
        """Code that returns False unless ``v`` (known not None) passes ``spec``."""
        t = spec.type
        if t == "string":
            self.emit(depth, f"if type({v}) is not str or len({v}) > MAX: return False")
            # contract.blank(), inlined (a call would cost the hot path), for a required string.
            no_text = f"not {v} or {v}.isspace()"
            if spec.format is not None:
                match = self.const(contract.FORMATS[spec.format].compiled().match)
                # Values repeat (a user id on every event of a device, one added_at second on
                # thousands of requests): remember the strings that passed, so the regex runs
                # once per distinct value rather than once per request. The blank test sits
                # inside the miss too: a remembered value passed it.
                seen = self.const(self.memo(spec.format))
                self.emit(depth, f"if {v} not in {seen}:")
                self.emit(depth + 1, f"if not {match}({v}): return False")
                if spec.format == "timestamp":
                    ts = self.const(contract._check_valid_timestamp)
                    self.emit(depth + 1, f"if not {ts}({v}): return False")
                if spec.required and spec.enum is None:
                    self.emit(depth + 1, f"if {no_text}: return False")
                self.emit(depth + 1, f"if len({seen}) >= {_MEMO_SIZE}: {seen}.clear()")
                self.emit(depth + 1, f"{seen}.add({v})")
            elif spec.required and spec.enum is None:
                self.emit(depth, f"if {no_text}: return False")
        elif t == "boolean":
            if spec.bool_strings:
                self.emit(depth, f"if type({v}) is not bool and {v} not in ('true', 'false'): return False")
            else:
                self.emit(depth, f"if type({v}) is not bool: return False")
        elif t == "integer":
            self.emit(depth, f"if type({v}) is not int and not (type({v}) is float and {v}.is_integer()): return False")
        elif t == "number":
            self.emit(depth, f"if type({v}) is not int and type({v}) is not float: return False")
            self.emit(depth, f"if not isfinite({v}): return False")
        elif t == "object":
            self.emit(depth, f"if type({v}) is not dict: return False")
            self.members(spec.fields, v, depth)
            return
        elif t == "array":
            self.emit(depth, f"if type({v}) is not list: return False")
            if spec.max_items is not None:
                self.emit(depth, f"if len({v}) > {spec.max_items}: return False")
            if spec.items is not None:
                item = self.var()
                self.emit(depth, f"for {item} in {v}:")
                self.emit(depth + 1, f"if {item} is None: return False")
                self.value(spec.items, item, depth + 1)
            return
        else:
            raise ValueError(f"unknown field type {t!r}")
        if spec.enum is not None:
            self.emit(depth, f"if {v} not in {self.const(spec.enum)}: return False")
        if spec.minimum is not None:
            self.emit(depth, f"if {v} < {spec.minimum!r}: return False")
        if spec.maximum is not None:
            self.emit(depth, f"if {v} > {spec.maximum!r}: return False")

    def members(self, fields: tuple[Field, ...], obj: str, depth: int) -> None:
        for spec in fields:
            unknown = {f for f in spec.__slots__ if getattr(spec, f) not in (None, (), False, "")}
            if unknown - _KNOWN_FIELD_ATTRS:
                raise ValueError(f"contract field {spec.name!r} uses {sorted(unknown - _KNOWN_FIELD_ATTRS)}")
            v = self.var()
            # A missing field and an explicit null read the same: required -> invalid, optional -> absent.
            self.emit(depth, f"{v} = {obj}.get({spec.name!r})")
            if spec.required:
                self.emit(depth, f"if {v} is None: return False")
                self.value(spec, v, depth)
            else:
                self.emit(depth, f"if {v} is not None:")
                self.value(spec, v, depth + 1)


def compile_fast_check(endpoint: str) -> Callable[[Any], bool]:
    """A predicate that is True only for bodies ``contract.validate(endpoint, body)`` accepts."""
    spec = contract.ENDPOINTS[endpoint]
    g = _Gen()
    g.emit(0, "def check(b):")
    g.emit(1, "if type(b) is not dict: return False")
    g.members(spec.body, "b", 1)
    for rule in spec.checks:
        inputs = RULE_INPUTS.get(rule.__name__)
        if inputs is None:
            g.emit(1, f"if {g.const(rule)}(b): return False")
            continue
        # The rule's verdict depends only on ``inputs`` (tests check it): remember it per
        # distinct input. An input that cannot be a dict key is simply not remembered.
        exprs = [f"b.get({path[0]!r}, MISSING)" if len(path) == 1 else f"at(b, {path!r})" for path in inputs]
        verdicts = g.const(g.memo_dict(rule.__name__))
        call = g.const(rule)
        key = g.var()
        g.emit(1, f"{key} = ({', '.join(exprs)},)")
        g.emit(1, "try:")
        g.emit(2, f"ok = {verdicts}.get({key})")
        g.emit(1, "except TypeError:")
        g.emit(2, f"ok = not {call}(b)")
        g.emit(1, "else:")
        g.emit(2, "if ok is None:")
        g.emit(3, f"ok = not {call}(b)")
        g.emit(3, f"if len({verdicts}) >= {_MEMO_SIZE}: {verdicts}.clear()")
        g.emit(3, f"{verdicts}[{key}] = ok")
        g.emit(1, "if not ok: return False")
    g.emit(1, "return True")
    namespace = dict(g.names)
    exec(compile("\n".join(g.lines), f"<fast check for {endpoint}>", "exec"), namespace)
    return namespace["check"]  # type: ignore[no-any-return]  # the function exec() just defined


def fast_checks() -> dict[str, Callable[[Any], bool]]:
    """One predicate per endpoint; an endpoint the generator cannot compile gets ``lambda b: False``."""
    out: dict[str, Callable[[Any], bool]] = {}
    for name in contract.ENDPOINTS:
        try:
            out[name] = compile_fast_check(name)
        except (ValueError, AttributeError):
            out[name] = lambda body: False
    return out
