/**
 * Lineage graph drawn with d3 as SVG, layered left → right: what the table
 * is made from (nearest sources next to it), the table, what is made from
 * it. Edges follow the server's `edges` (the real chain, not everything
 * wired to the centre) and show their process (`pipeline:orders_daily`,
 * `sql:ann`) on hover. A table node re-centres the graph (click, Enter or
 * Space); restricted, file, database and API nodes are shown, styled by
 * kind, but not clickable. A column picker asks `lineage/{table}?column=`
 * and highlights that column's path through the graph.
 *
 * An older server sends no `edges`: every node is then linked straight to
 * the table, as before.
 */

import { Widget } from '@lumino/widgets';
import * as d3 from 'd3';

import {
  describeError,
  restApi,
  type IBuilderApi,
  type ILineage,
  type ILineageEdge,
  type ILineageNode
} from './api';
import { button, h, labeled, select } from './dom';

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
const BELOW = 28; // room for edges drawn under the nodes

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

function kindsOf(lineage: ILineage): Map<string, string> {
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

/**
 * The path of one column through the table graph, from the answer of
 * `lineage/{table}?column=COL`: the tables it passes (with their columns on
 * the path) and the table-to-table edges it takes.
 */
export interface IColumnPath {
  column: string;
  /** Table (or source) name → columns of it on the path. */
  tables: Map<string, string[]>;
  /** `source\0target` of table edges on the path. */
  edges: Set<string>;
  /** Column nodes up and down, nearest first, for the text summary. */
  upstream: string[];
  downstream: string[];
}

export function edgeKey(source: string, target: string): string {
  return `${source}\u0000${target}`;
}

/** Split a column graph into the tables and table edges it goes through. */
export function columnPath(columnLineage: ILineage): IColumnPath {
  const kinds = kindsOf(columnLineage);
  const root = rootName(columnLineage);
  kinds.set(root, 'column');
  const tableOf = (name: string): [string, string | null] => {
    const kind = kinds.get(name) ?? 'column';
    if (kind !== 'column') {
      return [name, null];
    }
    const dot = name.lastIndexOf('.');
    return dot > 0 ? [name.slice(0, dot), name.slice(dot + 1)] : [name, null];
  };
  const tables = new Map<string, string[]>();
  const mark = (name: string): string => {
    const [table, column] = tableOf(name);
    const list = tables.get(table) ?? [];
    if (column && !list.includes(column)) {
      list.push(column);
    }
    tables.set(table, list);
    return table;
  };
  mark(root);
  const edges = new Set<string>();
  for (const e of columnLineage.edges ?? []) {
    const s = mark(e.source);
    const t = mark(e.target);
    if (s !== t) {
      edges.add(edgeKey(s, t));
    }
  }
  return {
    column: columnLineage.column ?? '',
    tables,
    edges,
    upstream: columnLineage.upstream.map(n => n.name),
    downstream: columnLineage.downstream.map(n => n.name)
  };
}

/** One sentence for the column picker's live region. */
export function describeColumnPath(table: string, path: IColumnPath): string {
  const name = `${table}.${path.column}`;
  if (!path.upstream.length && !path.downstream.length) {
    return `No column lineage recorded for ${name}.`;
  }
  const parts = [`Column ${name}`];
  parts.push(path.upstream.length ? `comes from ${path.upstream.join(', ')}` : 'has no recorded sources');
  parts.push(path.downstream.length ? `feeds ${path.downstream.join(', ')}` : 'feeds nothing recorded');
  return `${parts[0]} ${parts[1]}; ${parts[2]}.`;
}

function ellipsis(text: string, max = 26): string {
  return text.length > max ? `…${text.slice(text.length - max + 1)}` : text;
}

function linkPath(l: ILineageGraphLink): string {
  if (l.back) {
    const x1 = l.source.x;
    const y1 = l.source.y + NODE_HEIGHT / 2;
    const x2 = l.target.x;
    const y2 = l.target.y + NODE_HEIGHT / 2;
    return `M ${x1} ${y1} C ${x1} ${y1 + BELOW + 10}, ${x2} ${y2 + BELOW + 10}, ${x2} ${y2}`;
  }
  const x1 = l.source.x + NODE_WIDTH / 2;
  const x2 = l.target.x - NODE_WIDTH / 2;
  const mid = (x1 + x2) / 2;
  return `M ${x1} ${l.source.y} C ${mid} ${l.source.y}, ${mid} ${l.target.y}, ${x2} ${l.target.y}`;
}

function kindLine(n: ILineageGraphNode, path: IColumnPath | null): string {
  const columns = path?.tables.get(n.name);
  if (columns && columns.length) {
    return `column ${columns.join(', ')}`;
  }
  if (n.role === 'center') {
    return `${n.kind} · this table`;
  }
  return `${n.kind} · ${n.role}`;
}

function nodeTitle(n: ILineageGraphNode): string {
  if (n.clickable) {
    return `${n.name}: show its lineage`;
  }
  if (n.kind === 'restricted') {
    return `${n.name}: a table you may not read`;
  }
  return `${n.name} (${n.kind})`;
}

export interface IDrawOptions {
  /** Gets clickable table names. */
  onSelect: (table: string) => void;
  /** Gets the edge under the pointer, `null` when it leaves. */
  onHover?: (link: ILineageGraphLink | null) => void;
  /** Highlight this column's path. */
  path?: IColumnPath | null;
}

let markerCount = 0;

/** Draw the graph into `host`. */
export function drawLineage(
  host: HTMLElement,
  lineage: ILineage,
  options: IDrawOptions | ((table: string) => void)
): ILineageLayout {
  const opts: IDrawOptions = typeof options === 'function' ? { onSelect: options } : options;
  const path = opts.path ?? null;
  const layout = layoutLineage(lineage);
  const { nodes, links, width, height } = layout;
  const root = d3.select(host);
  root.selectAll('*').remove();
  const svg = root
    .append('svg')
    .attr('class', `dap-lineage-svg${path ? ' dap-lineage-has-path' : ''}`)
    .attr('width', width)
    .attr('height', height)
    .attr('viewBox', `0 0 ${width} ${height}`)
    .attr('role', 'group')
    .attr('aria-label', `Lineage of ${rootName(lineage)}`);
  const marker = `dap-lineage-arrow-${++markerCount}`;
  svg
    .append('defs')
    .append('marker')
    .attr('id', marker)
    .attr('viewBox', '0 0 10 10')
    .attr('refX', 10)
    .attr('refY', 5)
    .attr('markerWidth', 7)
    .attr('markerHeight', 7)
    .attr('orient', 'auto-start-reverse')
    .append('path')
    .attr('class', 'dap-lineage-arrow')
    .attr('d', 'M 0 0 L 10 5 L 0 10 z');
  const onPath = (l: ILineageGraphLink): boolean =>
    !!path && path.edges.has(edgeKey(l.source.name, l.target.name));
  const edge = svg
    .append('g')
    .attr('class', 'dap-lineage-edges')
    .selectAll<SVGGElement, ILineageGraphLink>('g')
    .data(links)
    .join('g')
    .attr('class', l => `dap-lineage-edge${onPath(l) ? ' dap-mod-path' : ''}${l.back ? ' dap-mod-back' : ''}`)
    .attr('data-source', l => l.source.name)
    .attr('data-target', l => l.target.name)
    .attr('data-process', l => l.processes.join(', '));
  edge
    .append('path')
    .attr('class', 'dap-lineage-link')
    .attr('d', linkPath)
    .attr('marker-end', `url(#${marker})`);
  edge.append('path').attr('class', 'dap-lineage-hit').attr('d', linkPath);
  edge.append('title').text(describeLink);
  edge
    .on('mouseenter', (_e: Event, l: ILineageGraphLink) => opts.onHover?.(l))
    .on('mouseleave', () => opts.onHover?.(null));

  const node = svg
    .append('g')
    .attr('class', 'dap-lineage-nodes')
    .selectAll<SVGGElement, ILineageGraphNode>('g')
    .data(nodes)
    .join('g')
    .attr('class', n => {
      const classes = [
        'dap-lineage-node',
        `dap-lineage-${n.role}`,
        `dap-lineage-kind-${n.kind}`
      ];
      if (n.clickable) {
        classes.push('dap-mod-clickable');
      }
      if (path?.tables.has(n.name)) {
        classes.push('dap-mod-path');
      }
      return classes.join(' ');
    })
    .attr('data-name', n => n.name)
    .attr('data-kind', n => n.kind)
    .attr('data-layer', n => n.layer)
    .attr('transform', n => `translate(${n.x - NODE_WIDTH / 2},${n.y - NODE_HEIGHT / 2})`);
  node
    .append('rect')
    .attr('width', NODE_WIDTH)
    .attr('height', NODE_HEIGHT)
    .attr('rx', n => (n.kind === 'api' ? 18 : 6));
  node
    .append('text')
    .attr('class', 'dap-lineage-name')
    .attr('x', 10)
    .attr('y', 17)
    .text(n => ellipsis(n.name));
  node
    .append('text')
    .attr('class', 'dap-lineage-kind')
    .attr('x', 10)
    .attr('y', 32)
    .text(n => kindLine(n, path));
  node.append('title').text(nodeTitle);
  node
    .filter(n => !n.clickable && n.role !== 'center')
    .attr('aria-label', n => `${n.kind} ${n.name}, ${n.role}`);
  const clickable = node.filter(n => n.clickable);
  clickable
    .attr('tabindex', 0)
    .attr('role', 'button')
    .attr('aria-label', n => `Show the lineage of ${n.name}`)
    .on('click', (_e: Event, n: ILineageGraphNode) => opts.onSelect(n.name))
    .on('keydown', (e: KeyboardEvent, n: ILineageGraphNode) => {
      if (e.key === 'Enter' || e.key === ' ') {
        e.preventDefault();
        opts.onSelect(n.name);
      }
    });
  return layout;
}

export interface ILineageOptions {
  api?: IBuilderApi;
  table?: string;
}

export const LINEAGE_ID = 'dap-lineage';
const EDGE_HINT = 'Point at an edge to see the process that made it.';

/** Main-area widget showing the lineage of one table at a time. */
export class LineageWidget extends Widget {
  constructor(options: ILineageOptions = {}) {
    super();
    this._api = options.api ?? restApi;
    this.id = LINEAGE_ID;
    this.addClass('dap-lineage');
    this.title.label = 'Lineage';
    this.title.caption = 'DAP lineage graph';
    this.title.closable = true;
    const doc = this.node.ownerDocument;
    this._picker = h(doc, 'span', { className: 'dap-lineage-picker' });
    this._columnPicker = h(doc, 'span', { className: 'dap-lineage-column-picker' });
    this._back = button(doc, 'Back', () => void this.back(), { title: 'Back to the previous table' });
    this._back.disabled = true;
    this._status = h(doc, 'span', { className: 'dap-lineage-status', 'aria-live': 'polite' });
    this._error = h(doc, 'div', { className: 'dap-builder-error dap-lineage-error', role: 'alert' });
    this._graph = h(doc, 'div', { className: 'dap-lineage-graph' });
    this._edgeInfo = h(doc, 'div', { className: 'dap-lineage-edge-info' }, EDGE_HINT);
    this._pathInfo = h(doc, 'div', { className: 'dap-lineage-column-path', 'aria-live': 'polite' });
    this._related = h(doc, 'div', { className: 'dap-lineage-related' });
    this.node.append(
      h(
        doc,
        'div',
        { className: 'dap-lineage-header' },
        this._picker,
        this._columnPicker,
        this._back,
        this._status
      ),
      this._error,
      this._pathInfo,
      this._graph,
      this._edgeInfo,
      this._related
    );
    this.ready = this._start(options.table ?? '');
  }

  readonly ready: Promise<void>;

  get table(): string {
    return this._table;
  }

  /** The column whose path is highlighted (`''`: none). */
  get column(): string {
    return this._column;
  }

  get lineage(): ILineage | null {
    return this._lineage;
  }

  /** The highlighted column path, if any. */
  get path(): IColumnPath | null {
    return this._path;
  }

  /** Show the lineage of `table`, remembering the current one for Back. */
  async showTable(table: string, remember = true): Promise<void> {
    if (remember && this._table && table !== this._table) {
      this._history.push(this._table);
    }
    this._table = table;
    this._column = '';
    this._path = null;
    this._columns = [];
    this._pathInfo.textContent = '';
    this.title.label = table ? `Lineage: ${table.split('.').pop()}` : 'Lineage';
    this._renderPicker();
    this._renderColumnPicker();
    this._back.disabled = this._history.length === 0;
    if (!table) {
      this._lineage = null;
      this._graph.replaceChildren();
      this._related.replaceChildren();
      return;
    }
    const token = ++this._token;
    this._status.textContent = 'Loading…';
    this._error.textContent = '';
    const columns = this._loadColumns(table);
    try {
      const lineage = await this._api.lineage(table);
      if (token !== this._token || this.isDisposed) {
        return;
      }
      this._lineage = lineage;
      this._status.textContent =
        `${lineage.upstream.length} upstream, ${lineage.downstream.length} downstream`;
      this._draw();
      this._renderRelated(lineage);
      this._columns = mergeColumns(await columns, lineage);
      if (token === this._token && !this.isDisposed) {
        this._renderColumnPicker();
      }
    } catch (error) {
      if (token !== this._token || this.isDisposed) {
        return;
      }
      this._lineage = null;
      this._status.textContent = '';
      this._graph.replaceChildren();
      this._related.replaceChildren();
      this._error.textContent = describeError(error);
    }
  }

  /** Highlight the path of one column of the table (`''` clears it). */
  async showColumn(column: string): Promise<void> {
    this._column = column;
    const token = ++this._columnToken;
    this._renderColumnPicker();
    if (!column || !this._table) {
      this._path = null;
      this._pathInfo.textContent = '';
      this._draw();
      return;
    }
    this._pathInfo.textContent = `Loading the lineage of ${column}…`;
    try {
      const answer = await this._api.lineage(this._table, column);
      if (token !== this._columnToken || this.isDisposed || column !== this._column) {
        return;
      }
      if (!answer.column || !answer.edges) {
        this._path = null;
        this._pathInfo.textContent = 'This DAP server does not report column lineage.';
      } else {
        this._path = columnPath(answer);
        this._pathInfo.textContent = describeColumnPath(this._table, this._path);
      }
    } catch (error) {
      if (token !== this._columnToken || this.isDisposed) {
        return;
      }
      this._path = null;
      this._pathInfo.textContent = `Column lineage unavailable: ${describeError(error)}`;
    }
    this._draw();
  }

  async back(): Promise<void> {
    const previous = this._history.pop();
    if (previous !== undefined) {
      await this.showTable(previous, false);
    }
  }

  private async _start(table: string): Promise<void> {
    const shown = this.showTable(table);
    try {
      this._tables = (await this._api.tables()).map(t => t.name);
    } catch {
      this._tables = []; // the picker then offers the current table only
    }
    if (!this.isDisposed) {
      this._renderPicker();
    }
    await shown;
  }

  private async _loadColumns(table: string): Promise<string[]> {
    try {
      const columns = await this._api.columns(table);
      return Array.isArray(columns) ? columns.map(c => c.name) : [];
    } catch {
      return []; // the lineage's own column edges still name some
    }
  }

  private _draw(): void {
    if (!this._lineage) {
      return;
    }
    this._edgeInfo.textContent = EDGE_HINT;
    drawLineage(this._graph, this._lineage, {
      onSelect: t => void this.showTable(t),
      onHover: link => {
        this._edgeInfo.textContent = link ? describeLink(link) : EDGE_HINT;
        this._edgeInfo.classList.toggle('dap-mod-active', !!link);
      },
      path: this._path
    });
  }

  private _renderPicker(): void {
    const doc = this.node.ownerDocument;
    const names = this._tables.includes(this._table) || !this._table ? this._tables : [this._table, ...this._tables];
    const s = select(
      doc,
      [['', 'Choose a table…'], ...names.map(n => [n, n] as [string, string])],
      this._table,
      v => void this.showTable(v),
      { className: 'dap-lineage-table' }
    );
    this._picker.replaceChildren(labeled(doc, 'Table', s));
  }

  private _renderColumnPicker(): void {
    const doc = this.node.ownerDocument;
    const s = select(
      doc,
      [['', 'Whole table'], ...this._columns.map(c => [c, c] as [string, string])],
      this._column,
      v => void this.showColumn(v),
      { className: 'dap-lineage-column', title: 'Highlight the lineage of one column' }
    );
    s.disabled = !this._table || this._columns.length === 0;
    this._columnPicker.replaceChildren(labeled(doc, 'Column', s));
  }

  /** The graph's nodes again as text, table nodes as real buttons, with the processes. */
  private _renderRelated(lineage: ILineage): void {
    const doc = this.node.ownerDocument;
    const edges = lineageEdges(lineage);
    const via = (name: string, upstream: boolean): string => {
      const processes = [
        ...new Set(
          edges
            .filter(e => (upstream ? e.source === name : e.target === name) && e.process)
            .map(e => e.process)
        )
      ];
      return processes.length ? ` · by ${processes.join(', ')}` : '';
    };
    const group = (title: string, list: ILineageNode[], upstream: boolean): HTMLElement => {
      const items = list.map(n => {
        const li = h(doc, 'li');
        if (isClickable(n)) {
          li.append(button(doc, n.name, () => void this.showTable(n.name), { title: `Show the lineage of ${n.name}` }));
        } else {
          li.append(h(doc, 'span', { className: `dap-lineage-source dap-lineage-kind-${n.kind}` }, `${n.name} (${n.kind})`));
        }
        const how = via(n.name, upstream);
        if (how) {
          li.append(h(doc, 'span', { className: 'dap-lineage-via' }, how));
        }
        return li;
      });
      if (!items.length) {
        items.push(h(doc, 'li', { className: 'dap-builder-note' }, 'none known'));
      }
      return h(doc, 'section', {}, h(doc, 'h3', { className: 'dap-builder-heading' }, title), h(doc, 'ul', {}, ...items));
    };
    this._related.replaceChildren(
      group('Upstream', lineage.upstream, true),
      group('Downstream', lineage.downstream, false)
    );
  }

  private _api: IBuilderApi;
  private _table = '';
  private _column = '';
  private _columns: string[] = [];
  private _path: IColumnPath | null = null;
  private _tables: string[] = [];
  private _history: string[] = [];
  private _lineage: ILineage | null = null;
  private _token = 0;
  private _columnToken = 0;
  private _picker: HTMLSpanElement;
  private _columnPicker: HTMLSpanElement;
  private _back: HTMLButtonElement;
  private _status: HTMLSpanElement;
  private _error: HTMLDivElement;
  private _graph: HTMLDivElement;
  private _edgeInfo: HTMLDivElement;
  private _pathInfo: HTMLDivElement;
  private _related: HTMLDivElement;
}

/** The table's columns, plus any its column edges name that the catalog did not list. */
export function mergeColumns(columns: string[], lineage: ILineage): string[] {
  const all = [...columns];
  for (const c of lineage.columns ?? []) {
    if (c.target_table === lineage.table && !all.includes(c.target_column)) {
      all.push(c.target_column);
    }
    if (c.source_table === lineage.table && !all.includes(c.source_column)) {
      all.push(c.source_column);
    }
  }
  return all;
}
