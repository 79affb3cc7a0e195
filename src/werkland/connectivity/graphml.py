"""GraphML of an undirected patch graph, written straight from the tables.

The bytes are those of ``networkx.write_graphml`` with the standard-library XML writer
(networkx 3.x without lxml: key ids ``d0, d1, ...`` in order of first use, keys listed newest
first, two-space indentation, the graph's own data after its edges), tested byte for byte against
it. Writing the text directly instead of building a networkx graph and an ElementTree takes a
fraction of the time for graphs of 100,000 links, and the output no longer depends on whether
lxml happens to be installed (networkx then writes other bytes).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from werkland._errors import WerklandInputError
from werkland.raster.io import atomic_path

#: GraphML type of each Python value type (networkx's mapping without type inference).
XML_TYPES: dict[type, str] = {bool: "boolean", int: "long", float: "double", str: "string"}

Value = bool | int | float | str


def _text(s: str) -> str:
    """Escaped element text (ElementTree's rules)."""
    if "&" in s or "<" in s or ">" in s:
        s = s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return s


def _attr(s: str) -> str:
    """Escaped attribute value (ElementTree's rules)."""
    if any(c in s for c in '&<>"\r\n\t'):
        s = (s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
             .replace("\r", "&#13;").replace("\n", "&#10;").replace("\t", "&#09;"))
    return s


class _Keys:
    """GraphML keys in order of first use: ``(name, type, scope) -> d<i>``."""

    def __init__(self) -> None:
        self.ids: dict[tuple[str, str, str], str] = {}

    def get(self, name: str, value: Value, scope: str) -> str:
        xml_type = XML_TYPES.get(type(value))
        if xml_type is None:
            raise WerklandInputError(
                f"GraphML attribute {name!r} has a value of type {type(value).__name__}",
                path=f"{scope} attribute {name}", fix="give bool, int, float or str values",
            )
        k = (name, xml_type, scope)
        key_id = self.ids.get(k)
        if key_id is None:
            key_id = self.ids[k] = f"d{len(self.ids)}"
        return key_id


def _element(tag_attrs: str, data: Mapping[str, Value], scope: str, keys: _Keys, indent: str, tail: str) -> str:
    """One ``<node>`` / ``<edge>`` element with its data children, followed by ``tail``."""
    if not data:
        return f"<{tag_attrs} />{tail}"
    inner = indent + "  "
    parts = [f"<{tag_attrs}>"]
    for k, v in data.items():
        parts.append(f'\n{inner}<data key="{keys.get(str(k), v, scope)}">{_text(str(v))}</data>')
    tag = tag_attrs.split(" ", 1)[0]
    parts.append(f"\n{indent}</{tag}>{tail}")
    return "".join(parts)


def write_graphml(
    path: str | os.PathLike[str],
    graph_data: Mapping[str, Value],
    nodes: Sequence[tuple[Any, Mapping[str, Value]]],
    edges: Iterable[tuple[Any, Any, Mapping[str, Value]]],
) -> None:
    """Write an undirected graph as GraphML (atomically).

    Parameters
    ----------
    path : path-like
        Output ``.graphml`` file.
    graph_data : mapping
        The graph's attributes (bool, int, float or str values).
    nodes : sequence of (id, mapping)
        Nodes in order with their attributes.
    edges : iterable of (u, v, mapping)
        Edges in networkx's iteration order (see :func:`networkx_edge_order`), ``u`` the endpoint
        that comes first among the nodes.

    Raises
    ------
    WerklandInputError
        An attribute value of another type.
    """
    keys = _Keys()
    for k, v in graph_data.items():  # the graph's keys come first (networkx registers them first)
        keys.get(str(k), v, "graph")
    body: list[str] = []
    items: list[str] = []
    for node, data in nodes:
        items.append(_element(f'node id="{_attr(str(node))}"', data, "node", keys, "    ", ""))
    for u, v, data in edges:
        items.append(_element(f'edge source="{_attr(str(u))}" target="{_attr(str(v))}"', data, "edge", keys,
                              "    ", ""))
    for k, v in graph_data.items():
        items.append(f'<data key="{keys.get(str(k), v, "graph")}">{_text(str(v))}</data>')
    graph_open = '<graph edgedefault="undirected"'
    if items:
        body.append(graph_open + ">\n    " + "\n    ".join(items) + "\n  </graph>")
    else:
        body.append(graph_open + " />")
    key_lines = [
        f'<key id="{kid}" for="{scope}" attr.name="{_attr(name)}" attr.type="{xml_type}" />'
        for (name, xml_type, scope), kid in reversed(list(keys.ids.items()))
    ]
    head = ('<?xml version=\'1.0\' encoding=\'utf-8\'?>\n<graphml xmlns="http://graphml.graphdrawing.org/xmlns" '
            'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:schemaLocation="http://graphml.graphdrawing.org'
            '/xmlns http://graphml.graphdrawing.org/xmlns/1.0/graphml.xsd">')
    text = head + "\n  " + "\n  ".join(key_lines + body) + "\n</graphml>\n"
    with atomic_path(path) as tmp:
        Path(tmp).write_bytes(text.encode("utf-8"))


def networkx_edge_order(node_ids: np.ndarray, u: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Edges of an edge list in the order networkx's ``Graph.edges`` gives them.

    Nodes added in ``node_ids`` order, then edges row by row (``add_edge``): each edge is reported
    from its endpoint that comes first among the nodes, at the place of the first row that joined
    the pair, with the values of the last such row. Returns ``(rows, swap, data_rows)``: per edge
    the first row (its place), whether ``v`` comes before ``u`` in that row, and the row whose
    values it keeps.

    Raises
    ------
    WerklandInputError
        An edge end that is not a node.
    """
    n = node_ids.size
    if u.size == 0:
        empty = np.empty(0, np.int64)
        return empty, np.empty(0, bool), empty
    if n == 0:
        raise WerklandInputError("edges without nodes", path="graphml")
    order = np.argsort(node_ids, kind="stable")
    a = order[np.minimum(np.searchsorted(node_ids, u, sorter=order), n - 1)]
    b = order[np.minimum(np.searchsorted(node_ids, v, sorter=order), n - 1)]
    if np.any(node_ids[a] != u) or np.any(node_ids[b] != v):
        raise WerklandInputError("an edge joins an unknown node", path="graphml", fix="write the patches first")
    first = np.minimum(a, b)
    pair = first.astype(np.int64) * n + np.maximum(a, b)
    _, first_row, inverse = np.unique(pair, return_index=True, return_inverse=True)
    last_row = np.zeros(first_row.size, np.int64)
    last_row[inverse] = np.arange(u.size)  # later rows overwrite earlier ones: the last row of each pair
    k = np.lexsort((first_row, first[first_row]))
    rows = first_row[k]
    return rows, b[rows] < a[rows], last_row[k]
