/**
 * The lineage graph as a model and its layered layout, pure for tests:
 * the edges (the server's, or the star an older server implies), the
 * column of every node (upstream left of the table, downstream right of
 * it, by longest path), node positions that keep most edges from crossing,
 * and the text an edge tells on hover.
 */

import type { ILineage, ILineageEdge, ILineageNode } from './api';

export type LineageRole = 'center' | 'upstream' | 'downstream';

export interface ILineageGraphNode {
  id: string;
  name: string;
  kind: string;
  role: LineageRole;
  /** Column of the drawing: negative upstream, 0 the table, positive downstream. */
  layer: number;
  x: number;
  y: number;
  clickable: boolean;
}

export interface ILineageGraphLink {
  source: ILineageGraphNode;
  target: ILineageGraphNode;
  /** Processes that made this edge (several when different runs did). */
  processes: string[];
  edges: ILineageEdge[];
  /** Goes right to left or within a column (a cycle): drawn below the nodes. */
  back: boolean;
}

export interface ILineageLayout {
  nodes: ILineageGraphNode[];
  links: ILineageGraphLink[];
  /** Node names per column, left to right. */
  layers: string[][];
  width: number;
  height: number;
}

export const NODE_WIDTH = 210;
export const NODE_HEIGHT = 40;
const ROW = 60;
const GAP_X = 70;
const PAD = 10;
/** Room for edges drawn under the nodes (cycles, see `ILineageGraphLink.back`). */
export const BELOW = 28;

/**
 * A node re-centres the graph only if it is a catalog table: restricted,
 * file, database, API and column nodes are shown but not clickable.
 */
export function isClickable(node: ILineageNode): boolean {
  return node.kind === 'table';
}

/** Name of the graph's root: the table, or `table.column` for column lineage. */
export function rootName(lineage: ILineage): string {
  return lineage.column ? `${lineage.table}.${lineage.column}` : lineage.table;
}

/**
 * The graph's edges; without `edges` (older server) every upstream node
 * feeds the root and the root feeds every downstream node.
 */
export function lineageEdges(lineage: ILineage): ILineageEdge[] {
  if (lineage.edges) {
    return lineage.edges;
  }
  const root = rootName(lineage);
  return [
    ...lineage.upstream.map(n => ({ source: n.name, target: root, process: '' })),
    ...lineage.downstream.map(n => ({ source: root, target: n.name, process: '' }))
  ];
}

/**
 * Column of every node: the root at 0, upstream nodes at minus the longest
 * path from them to the root, downstream nodes at the longest path from the
 * root (cycles capped). Nodes that reach the root neither way sit left of
 * the nodes they feed (a side source), else beside their kind's side.
 */
export function lineageLayers(lineage: ILineage): Map<string, number> {
  const root = rootName(lineage);
  const edges = lineageEdges(lineage).filter(e => e.source !== e.target);
  const up = new Set(lineage.upstream.map(n => n.name));
  const down = new Set(lineage.downstream.map(n => n.name).filter(n => !up.has(n)));
  up.delete(root);
  down.delete(root);
  const names = allNames(lineage, edges);
  const limit = names.length + 1;
  const layer = new Map<string, number>([[root, 0]]);
  for (let i = 0; i < limit; i++) {
    let changed = false;
    for (const e of edges) {
      const t = layer.get(e.target);
      if (up.has(e.source) && t !== undefined && t <= 0) {
        const want = t - 1;
        if (want < (layer.get(e.source) ?? 1) && want >= -limit) {
          layer.set(e.source, want);
          changed = true;
        }
      }
      const s = layer.get(e.source);
      if (down.has(e.target) && s !== undefined && s >= 0) {
        const want = s + 1;
        if (want > (layer.get(e.target) ?? -1) && want <= limit) {
          layer.set(e.target, want);
          changed = true;
        }
      }
    }
    if (!changed) {
      break;
    }
  }
  // Anything else: a source of a placed node sits left of it, a node fed
  // by a placed one right of it; an unconnected one by its side.
  for (let pass = 0; pass < 2; pass++) {
    for (const name of names) {
      if (layer.has(name)) {
        continue;
      }
      const feeds = edges
        .filter(e => e.source === name && layer.has(e.target))
        .map(e => layer.get(e.target)!);
      const fedBy = edges
        .filter(e => e.target === name && layer.has(e.source))
        .map(e => layer.get(e.source)!);
      if (feeds.length) {
        layer.set(name, Math.min(...feeds) - 1);
      } else if (fedBy.length) {
        layer.set(name, Math.max(...fedBy) + 1);
      } else if (pass === 1) {
        layer.set(name, up.has(name) ? -1 : 1);
      }
    }
  }
  return layer;
}

function allNames(lineage: ILineage, edges: ILineageEdge[]): string[] {
  const names: string[] = [];
  const seen = new Set<string>();
  const add = (name: string): void => {
    if (!seen.has(name)) {
      seen.add(name);
      names.push(name);
    }
  };
  add(rootName(lineage));
  lineage.upstream.forEach(n => add(n.name));
  lineage.downstream.forEach(n => add(n.name));
  (lineage.nodes ?? []).forEach(n => add(n.name));
  edges.forEach(e => {
    add(e.source);
    add(e.target);
  });
  return names;
}

/** Kind of every named node (`table`, `file`, `column`, …), first answer wins. */
export function kindsOf(lineage: ILineage): Map<string, string> {
  const kinds = new Map<string, string>();
  for (const n of [...(lineage.nodes ?? []), ...lineage.upstream, ...lineage.downstream]) {
    if (n.kind && !kinds.has(n.name)) {
      kinds.set(n.name, n.kind);
    }
  }
  return kinds;
}

/**
 * Positions (node centres) of the layered drawing; pure, for tests. Within
 * a column nodes start in the server's order (nearest first) and are then
 * sorted by the mean row of their neighbours towards the root, which keeps
 * most edges from crossing.
 */
export function layoutLineage(lineage: ILineage): ILineageLayout {
  const root = rootName(lineage);
  const edges = lineageEdges(lineage);
  const layerOf = lineageLayers(lineage);
  const kinds = kindsOf(lineage);
  const up = new Set(lineage.upstream.map(n => n.name));
  const names = allNames(lineage, edges);
  const order = new Map(names.map((n, i) => [n, i]));

  const byLayer = new Map<number, string[]>();
  for (const name of names) {
    const l = layerOf.get(name) ?? 0;
    byLayer.set(l, [...(byLayer.get(l) ?? []), name]);
  }
  const indices = [...byLayer.keys()].sort((a, b) => a - b);
  const rowOf = new Map<string, number>();
  const setRows = (l: number): void => byLayer.get(l)!.forEach((n, i) => rowOf.set(n, i));
  setRows(0);
  const outward = [
    ...indices.filter(l => l > 0),
    ...indices.filter(l => l < 0).reverse()
  ];
  for (const l of outward) {
    const inner = l > 0 ? l - 1 : l + 1;
    const neighbours = (name: string): number[] =>
      edges
        .filter(e =>
          l > 0
            ? e.target === name && layerOf.get(e.source) === inner
            : e.source === name && layerOf.get(e.target) === inner
        )
        .map(e => rowOf.get(l > 0 ? e.source : e.target))
        .filter((r): r is number => r !== undefined);
    const key = new Map(
      byLayer.get(l)!.map((name, i) => {
        const rows = neighbours(name);
        const mean = rows.length ? rows.reduce((a, b) => a + b, 0) / rows.length : i;
        return [name, mean] as [string, number];
      })
    );
    byLayer
      .get(l)!
      .sort((a, b) => key.get(a)! - key.get(b)! || order.get(a)! - order.get(b)!);
    setRows(l);
  }

  const rows = Math.max(1, ...indices.map(l => byLayer.get(l)!.length));
  const height = rows * ROW + 40 + BELOW;
  const width = 2 * PAD + indices.length * NODE_WIDTH + (indices.length - 1) * GAP_X;
  const nodes: ILineageGraphNode[] = [];
  const byName = new Map<string, ILineageGraphNode>();
  indices.forEach((l, column) => {
    const list = byLayer.get(l)!;
    const top = (height - BELOW) / 2 - ((list.length - 1) * ROW) / 2;
    list.forEach((name, i) => {
      const isRoot = name === root;
      const kind = isRoot
        ? lineage.column
          ? 'column'
          : 'table'
        : kinds.get(name) ?? (lineage.column ? 'column' : 'table');
      const role: LineageRole = isRoot
        ? 'center'
        : l < 0 || (l === 0 && up.has(name))
          ? 'upstream'
          : 'downstream';
      const node: ILineageGraphNode = {
        id: isRoot ? `center:${name}` : `${role}:${kind}:${name}`,
        name,
        kind,
        role,
        layer: l,
        x: PAD + NODE_WIDTH / 2 + column * (NODE_WIDTH + GAP_X),
        y: top + i * ROW,
        clickable: !isRoot && isClickable({ name, kind })
      };
      nodes.push(node);
      byName.set(name, node);
    });
  });

  const merged = new Map<string, ILineageGraphLink>();
  for (const e of edges) {
    const source = byName.get(e.source);
    const target = byName.get(e.target);
    if (!source || !target || source === target) {
      continue;
    }
    const key = `${e.source}\u0000${e.target}`;
    const link = merged.get(key) ?? {
      source,
      target,
      processes: [],
      edges: [],
      back: target.layer <= source.layer
    };
    if (e.process && !link.processes.includes(e.process)) {
      link.processes.push(e.process);
    }
    link.edges.push(e);
    merged.set(key, link);
  }
  return {
    nodes,
    links: [...merged.values()],
    layers: indices.map(l => [...byLayer.get(l)!]),
    width,
    height
  };
}

/** `main.orders → main.daily (sql:ann)`: what hovering an edge tells. */
export function describeLink(link: ILineageGraphLink): string {
  const how = link.processes.length ? link.processes.join(', ') : 'process not recorded';
  const times = link.edges
    .map(e => e.recorded_at)
    .filter((t): t is string => !!t)
    .sort();
  const when = times.length ? `, recorded ${utc(times[times.length - 1])}` : '';
  return `${link.source.name} → ${link.target.name}: ${how}${when}`;
}

function utc(iso: string): string {
  const at = Date.parse(iso);
  if (!Number.isFinite(at)) {
    return iso;
  }
  return new Date(at).toISOString().slice(0, 16).replace('T', ' ') + ' UTC';
}
