"""The JSON bodies of a dataset's commonest requests as cached text fragments, joined per request.

The journey engine decides each step (``JourneyEngine.walk``) and, for a load test, builds the body
as a dict that orjson serialises. A dataset writes hundreds of thousands of bodies whose parts
repeat: the app id, a session's ids, a step's event name and properties, a product's price line.
Here each part is serialised once (by orjson, so escaping and number formatting are orjson's) and a
body is the parts with its ``added_at`` between them: the same bytes as ``orjson.dumps`` of the
engine's dict (tests/unit/test_dataset_engine.py holds the two together, body for body).

Fragments are ``str`` (orjson's output decoded) so a record is built by one f-string and encoded
once; each carries its length in bytes, which a non-ASCII product name makes differ from its length
in characters.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import orjson

from simulator.commerce import Prices
from simulator.journey import JourneyEngine, Node
from simulator.payloads import EVENT_SOURCE

#: Property fragments kept (products x currencies x quantities of the catalogue: a few thousand).
_MAX_CACHED = 100_000


def _json(value: Any) -> str:
    return orjson.dumps(value).decode()


class Text(NamedTuple):
    """A fragment and its length in UTF-8 bytes."""

    text: str
    size: int


def _text(text: str) -> Text:
    return Text(text, len(text.encode()))


class Props(NamedTuple):
    """What a fast step's record takes from its state and product, looked up once per request: the
    state's ``event_name`` fragment (``Fragments.step``), its ``properties`` (and ``products``) as
    they follow ``"properties":``, and the values the events table and the statistics read."""

    #: The state's ``event_name`` up to the ``added_at`` text.
    named: str
    text: str
    #: Bytes of ``named`` and ``text``.
    size: int
    step: str
    #: The state's row part (``Generator._step_part``).
    part: Any
    props: dict[str, Any]
    products: list[dict[str, Any]] | None
    #: The table's commerce columns (``value`` .. ``coupon``).
    commerce: str
    #: ``properties.value`` (None: no value).
    value: Any


class Fragments:
    """Cached parts of the events webhook body (``payloads.event``'s key order):

    ``{"id":…,"uid":…,"sid":…,"event_name":`` (``head``) + the step's name up to ``"added_at":"``
    (``step``) + the ``added_at`` text + ``","identify_by":…,"properties":`` (``by``) + the
    properties (``plain``, ``view``, ``search``, ``cart``) + ``}`` or the ``utm_params`` and ``}``
    (``end``), then a newline."""

    def __init__(
        self,
        engine: JourneyEngine,
        *,
        commerce: Callable[[dict[str, Any], list[dict[str, Any]] | None], str],
        part: Callable[[Node], Any],
    ) -> None:
        self._engine = engine
        self._commerce = commerce
        self._part = part
        self._id = '{"id":' + _json(engine.scenario.app.app_id) + ',"uid":'
        self._props: dict[tuple[Any, ...], Props] = {}

    def head(self, uid: str, sid: str) -> Text:
        return _text(f'{self._id}{_json(uid)},"sid":{_json(sid)},"event_name":')

    @staticmethod
    def step(node: Node) -> Text:
        """The state's ``event_name`` up to the ``added_at`` text."""
        return _text(f'{_json(node.event)},"event_source":{_json(EVENT_SOURCE)},"added_at":"')

    @staticmethod
    def by(by: dict[str, str]) -> Text:
        return _text(f'","identify_by":{_json(by)},"properties":')

    @staticmethod
    def end(utm: dict[str, str] | None) -> Text:
        return _text(f',"utm_params":{_json(utm)}}}\n' if utm else "}\n")

    def plain(self, node: Node) -> Props:
        """An ``event`` state's body: its configured properties."""
        key = (id(node),)
        props = self._props.get(key)
        return props if props is not None else self._make(key, node, node.properties, None)

    def view(self, node: Node, prices: Prices, k: int) -> Props:
        key = (id(node), prices.currency, k)
        props = self._props.get(key)
        return props if props is not None else self._make(key, node, *self._engine.view_props(prices, k))

    def search(self, node: Node, k: int) -> Props:
        key = (id(node), k)
        props = self._props.get(key)
        return props if props is not None else self._make(key, node, self._engine.search_props(k), None)

    def cart(self, node: Node, prices: Prices, k: int, qty: int) -> Props:
        key = (id(node), prices.currency, k, qty)
        props = self._props.get(key)
        return props if props is not None else self._make(key, node, *self._engine.cart_props(prices, k, qty))

    def _make(
        self, key: tuple[Any, ...], node: Node, props: dict[str, Any], products: list[dict[str, Any]] | None
    ) -> Props:
        if node.properties and props is not node.properties:
            props.update(node.properties)  # as the engine's _emit does
        text = _json(props) + (f',"products":{_json(products)}' if products else "")
        named = self.step(node)
        made = Props(
            named.text,
            text,
            named.size + len(text.encode()),
            node.step,
            self._part(node),
            props,
            products,
            self._commerce(props, products),
            props.get("value"),
        )
        if len(self._props) < _MAX_CACHED:  # bounded: a scenario's huge max_quantity makes many cart lines
            self._props[key] = made
        return made
