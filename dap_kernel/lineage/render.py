"""Drawings of a lineage graph: indented text, Graphviz dot, and a self-contained SVG."""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from typing import Protocol

# What a drawing reads of a graph; :class:`~dap_kernel.lineage.graph.LineageGraph` (whose
# ``to_svg`` & co. call this module) has it, so the two modules do not import each other.


class LineageNode(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def kind(self) -> str: ...


class _Edge(Protocol):
    @property
    def source(self) -> str: ...
    @property
    def target(self) -> str: ...
    @property
    def process(self) -> str: ...


class LineageGraph(Protocol):
    @property
    def root(self) -> str: ...
    @property
    def nodes(self) -> Sequence[LineageNode]: ...
    @property
    def edges(self) -> Sequence[_Edge]: ...
    @property
    def upstream(self) -> Sequence[LineageNode]: ...
    @property
    def downstream(self) -> Sequence[LineageNode]: ...
    def sources_of(self, name: str) -> list[str]: ...


def render_text(graph: LineageGraph) -> str:
    """Upstream nodes with what feeds each (``←``), then downstream nodes."""
    kinds = {n.name: n.kind for n in graph.nodes}

    def label(name: str) -> str:
        kind = kinds.get(name, "table")
        return f"{kind} {name}" if kind in ("file", "database", "api") else name

    lines = [graph.root, "upstream:"]
    for node in graph.upstream:
        if node.kind in ("file", "database", "api") and graph.root not in _targets(graph, node):
            continue  # shown after the ← of the table it feeds
        sources = graph.sources_of(node.name)
        arrow = f" ← {', '.join(label(s) for s in sources)}" if sources else ""
        lines.append(f"  {label(node.name)}{arrow}")
    if not graph.upstream:
        lines.append("  (none)")
    lines.append("downstream:")
    for node in graph.downstream:
        via = [s for s in graph.sources_of(node.name) if s != graph.root]
        arrow = f" ← {', '.join(label(s) for s in via)}" if via else ""
        lines.append(f"  {label(node.name)}{arrow}")
    if not graph.downstream:
        lines.append("  (none)")
    return "\n".join(lines)


def _targets(graph: LineageGraph, node: LineageNode) -> list[str]:
    return [e.target for e in graph.edges if e.source == node.name]


def render_dot(graph: LineageGraph) -> str:
    """Graphviz source of the graph (the root in bold), for ``dot -Tsvg``."""
    shapes = {"table": "box", "column": "box", "file": "note", "database": "cylinder"}
    lines = ["digraph lineage {", "  rankdir=LR;"]
    for node in graph.nodes:
        style = ', style="bold"' if node.name == graph.root else ""
        shape = shapes.get(node.kind, "ellipse")
        lines.append(f"  {json.dumps(node.name)} [shape={shape}{style}];")
    for edge in graph.edges:
        label = f" [label={json.dumps(edge.process)}]" if edge.process else ""
        lines.append(f"  {json.dumps(edge.source)} -> {json.dumps(edge.target)}{label};")
    lines.append("}")
    return "\n".join(lines)


_COLOURS = {
    "table": ("#e8f1fb", "#3b78c2"),
    "column": ("#eef7ee", "#3f8f4f"),
    "file": ("#fdf3e1", "#c2862b"),
    "database": ("#f3e9f7", "#8a4fa8"),
    "api": ("#e6f6f6", "#2b8f8f"),
    "restricted": ("#eeeeee", "#999999"),
}


def render_svg(graph: LineageGraph) -> str:
    """A layered drawing: sources on the left, the root in the middle, what it feeds on the
    right (no Graphviz needed). Each node sits in the column of its distance from the root."""
    layer = _layers(graph)
    columns: dict[int, list[str]] = {}
    for name, index in layer.items():
        columns.setdefault(index, []).append(name)
    kinds = {n.name: n.kind for n in graph.nodes}
    char_w, node_h, gap_x, gap_y, pad = 7.2, 34, 70, 18, 16
    widths = {
        index: max(120, max(int(len(n) * char_w) + 24 for n in names))
        for index, names in columns.items()
    }
    order = sorted(columns)
    x_of: dict[int, float] = {}
    x = pad
    for index in order:
        x_of[index] = x
        x += widths[index] + gap_x
    width = int(x - gap_x + pad)
    rows = max(len(names) for names in columns.values())
    height = int(rows * (node_h + gap_y) - gap_y + 2 * pad + 18)
    pos: dict[str, tuple[float, float, float]] = {}
    for index in order:
        names = sorted(columns[index], key=lambda n: (kinds.get(n, ""), n))
        top = (height - 18 - len(names) * (node_h + gap_y) + gap_y) / 2 + 18
        for i, name in enumerate(names):
            pos[name] = (x_of[index], top + i * (node_h + gap_y), widths[index])
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="dap-lineage-svg" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" font-family="sans-serif" '
        'font-size="12">',
        '<defs><marker id="dap-arrow" viewBox="0 0 10 10" refX="10" refY="5" '
        'markerWidth="7" markerHeight="7" orient="auto-start-reverse">'
        '<path d="M 0 0 L 10 5 L 0 10 z" fill="#777"/></marker></defs>',
        f'<text x="{pad}" y="{pad}" fill="#555">lineage of {html.escape(graph.root)}: '
        f"{len(graph.upstream)} upstream, {len(graph.downstream)} downstream</text>",
    ]
    for e in graph.edges:
        if e.source not in pos or e.target not in pos:
            continue
        sx, sy, sw = pos[e.source]
        tx, ty, _ = pos[e.target]
        x1, y1, x2, y2 = sx + sw, sy + node_h / 2, tx, ty + node_h / 2
        if x2 <= x1:  # a cycle or a same-layer edge: go round below
            x1, x2 = sx + sw / 2, tx + pos[e.target][2] / 2
            y1, y2 = sy + node_h, ty + node_h
            path = f"M {x1} {y1} C {x1} {y1 + 40}, {x2} {y2 + 40}, {x2} {y2}"
        else:
            mid = (x1 + x2) / 2
            path = f"M {x1} {y1} C {mid} {y1}, {mid} {y2}, {x2} {y2}"
        title = html.escape(f"{e.source} → {e.target} ({e.process})")
        out.append(
            f'<path class="dap-lineage-link" d="{path}" fill="none" stroke="#999" '
            f'stroke-width="1.4" marker-end="url(#dap-arrow)"><title>{title}</title></path>'
        )
    for name, (nx, ny, nw) in pos.items():
        kind = kinds.get(name, "table")
        fill, stroke = _COLOURS.get(kind, _COLOURS["table"])
        bold = ' stroke-width="2.5"' if name == graph.root else ' stroke-width="1.2"'
        label = html.escape(name)
        out.append(
            f'<g class="dap-lineage-node" data-name="{label}" data-kind="{kind}">'
            f'<rect x="{nx}" y="{ny}" width="{nw}" height="{node_h}" rx="6" fill="{fill}" '
            f'stroke="{stroke}"{bold}/>'
            f'<text x="{nx + 10}" y="{ny + 15}" fill="#222">{label}</text>'
            f'<text x="{nx + 10}" y="{ny + 28}" fill="{stroke}" font-size="10">{kind}</text>'
            f"<title>{html.escape(kind)} {label}</title></g>"
        )
    out.append("</svg>")
    return "".join(out)


def _layers(graph: LineageGraph) -> dict[str, int]:
    """Distance from the root: negative upstream, positive downstream (longest path, capped)."""
    layer = {graph.root: 0}
    up = {n.name for n in graph.upstream}
    down = {n.name for n in graph.downstream}
    limit = len(graph.nodes) + 1
    for _ in range(limit):
        changed = False
        for e in graph.edges:
            if e.source in up and e.target in layer and layer[e.target] <= 0:
                want = layer[e.target] - 1
                if want < layer.get(e.source, 1) and want >= -limit:
                    layer[e.source] = want
                    changed = True
            if e.target in down and e.source in layer and layer[e.source] >= 0:
                want = layer[e.source] + 1
                if want > layer.get(e.target, -1) and want <= limit:
                    layer[e.target] = want
                    changed = True
        if not changed:
            break
    for n in graph.nodes:  # anything else (a side source of a downstream table)
        if n.name not in layer:
            feeds = [
                layer[e.target] for e in graph.edges if e.source == n.name and e.target in layer
            ]
            layer[n.name] = min(feeds) - 1 if feeds else 0
    return layer
