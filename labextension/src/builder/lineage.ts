/**
 * Lineage graph: upstream sources on the left, the table in the middle,
 * downstream tables on the right, drawn with d3 as SVG. A table node
 * re-centres the graph on that table (click, Enter or Space); file and
 * database nodes are shown but not clickable.
 */

import { Widget } from '@lumino/widgets';
import * as d3 from 'd3';

import { describeError, restApi, type IBuilderApi, type ILineage, type ILineageNode } from './api';
import { button, h, labeled, select } from './dom';

export type LineageRole = 'center' | 'upstream' | 'downstream';

export interface ILineageGraphNode {
  id: string;
  name: string;
  kind: string;
  role: LineageRole;
  x: number;
  y: number;
  clickable: boolean;
}

export interface ILineageGraphLink {
  source: ILineageGraphNode;
  target: ILineageGraphNode;
}

export const NODE_WIDTH = 210;
export const NODE_HEIGHT = 40;
const ROW = 60;
const WIDTH = 760;

/** A node re-centres the graph only if it is a catalog table. */
export function isClickable(node: ILineageNode): boolean {
  return node.kind === 'table';
}

/** Positions (node centres) of the graph; pure, for tests. */
export function layoutLineage(lineage: ILineage): {
  nodes: ILineageGraphNode[];
  links: ILineageGraphLink[];
  width: number;
  height: number;
} {
  const rows = Math.max(1, lineage.upstream.length, lineage.downstream.length);
  const height = rows * ROW + 40;
  const place = (list: ILineageNode[], role: LineageRole, x: number): ILineageGraphNode[] => {
    const top = height / 2 - ((list.length - 1) * ROW) / 2;
    return list.map((n, i) => ({
      id: `${role}:${n.kind}:${n.name}:${i}`,
      name: n.name,
      kind: n.kind,
      role,
      x,
      y: top + i * ROW,
      clickable: isClickable(n)
    }));
  };
  const center: ILineageGraphNode = {
    id: `center:${lineage.table}`,
    name: lineage.table,
    kind: 'table',
    role: 'center',
    x: WIDTH / 2,
    y: height / 2,
    clickable: false
  };
  const up = place(lineage.upstream, 'upstream', NODE_WIDTH / 2 + 10);
  const down = place(lineage.downstream, 'downstream', WIDTH - NODE_WIDTH / 2 - 10);
  return {
    nodes: [...up, center, ...down],
    links: [
      ...up.map(n => ({ source: n, target: center })),
      ...down.map(n => ({ source: center, target: n }))
    ],
    width: WIDTH,
    height
  };
}

function ellipsis(text: string, max = 26): string {
  return text.length > max ? `…${text.slice(text.length - max + 1)}` : text;
}

/** Draw the graph into `host`; `onSelect` gets clickable table names. */
export function drawLineage(host: HTMLElement, lineage: ILineage, onSelect: (table: string) => void): void {
  const { nodes, links, width, height } = layoutLineage(lineage);
  const root = d3.select(host);
  root.selectAll('*').remove();
  const svg = root
    .append('svg')
    .attr('class', 'dap-lineage-svg')
    .attr('viewBox', `0 0 ${width} ${height}`)
    .attr('role', 'group')
    .attr('aria-label', `Lineage of ${lineage.table}`);
  const link = d3
    .linkHorizontal<ILineageGraphLink, [number, number]>()
    .source(l => [l.source.x + NODE_WIDTH / 2, l.source.y])
    .target(l => [l.target.x - NODE_WIDTH / 2, l.target.y]);
  svg
    .append('g')
    .selectAll('path')
    .data(links)
    .join('path')
    .attr('class', 'dap-lineage-link')
    .attr('d', l => link(l) ?? '');
  const node = svg
    .append('g')
    .selectAll<SVGGElement, ILineageGraphNode>('g')
    .data(nodes)
    .join('g')
    .attr('class', n => `dap-lineage-node dap-lineage-${n.role} dap-lineage-kind-${n.kind}${n.clickable ? ' dap-mod-clickable' : ''}`)
    .attr('data-name', n => n.name)
    .attr('data-kind', n => n.kind)
    .attr('transform', n => `translate(${n.x - NODE_WIDTH / 2},${n.y - NODE_HEIGHT / 2})`);
  node
    .append('rect')
    .attr('width', NODE_WIDTH)
    .attr('height', NODE_HEIGHT)
    .attr('rx', 6);
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
    .text(n => (n.role === 'center' ? `${n.kind} · this table` : `${n.kind} · ${n.role}`));
  node.append('title').text(n => (n.clickable ? `${n.name}: show its lineage` : `${n.name} (${n.kind})`));
  const clickable = node.filter(n => n.clickable);
  clickable
    .attr('tabindex', 0)
    .attr('role', 'button')
    .attr('aria-label', n => `Show the lineage of ${n.name}`)
    .on('click', (_e: Event, n: ILineageGraphNode) => onSelect(n.name))
    .on('keydown', (e: KeyboardEvent, n: ILineageGraphNode) => {
      if (e.key === 'Enter' || e.key === ' ') {
        e.preventDefault();
        onSelect(n.name);
      }
    });
}

export interface ILineageOptions {
  api?: IBuilderApi;
  table?: string;
}

export const LINEAGE_ID = 'dap-lineage';

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
    this._back = button(doc, 'Back', () => void this.back(), { title: 'Back to the previous table' });
    this._back.disabled = true;
    this._status = h(doc, 'span', { className: 'dap-lineage-status', 'aria-live': 'polite' });
    this._error = h(doc, 'div', { className: 'dap-builder-error dap-lineage-error', role: 'alert' });
    this._graph = h(doc, 'div', { className: 'dap-lineage-graph' });
    this._related = h(doc, 'div', { className: 'dap-lineage-related' });
    this.node.append(
      h(doc, 'div', { className: 'dap-lineage-header' }, this._picker, this._back, this._status),
      this._error,
      this._graph,
      this._related
    );
    this.ready = this._start(options.table ?? '');
  }

  readonly ready: Promise<void>;

  get table(): string {
    return this._table;
  }

  get lineage(): ILineage | null {
    return this._lineage;
  }

  /** Show the lineage of `table`, remembering the current one for Back. */
  async showTable(table: string, remember = true): Promise<void> {
    if (remember && this._table && table !== this._table) {
      this._history.push(this._table);
    }
    this._table = table;
    this.title.label = table ? `Lineage: ${table.split('.').pop()}` : 'Lineage';
    this._renderPicker();
    this._back.disabled = this._history.length === 0;
    if (!table) {
      this._graph.replaceChildren();
      this._related.replaceChildren();
      return;
    }
    const token = ++this._token;
    this._status.textContent = 'Loading…';
    this._error.textContent = '';
    try {
      const lineage = await this._api.lineage(table);
      if (token !== this._token || this.isDisposed) {
        return;
      }
      this._lineage = lineage;
      this._status.textContent =
        `${lineage.upstream.length} upstream, ${lineage.downstream.length} downstream`;
      drawLineage(this._graph, lineage, t => void this.showTable(t));
      this._renderRelated(lineage);
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

  /** The graph's table nodes again as real buttons, for keyboards and screen readers. */
  private _renderRelated(lineage: ILineage): void {
    const doc = this.node.ownerDocument;
    const group = (title: string, list: ILineageNode[]): HTMLElement => {
      const items = list.map(n => {
        const li = h(doc, 'li');
        if (isClickable(n)) {
          li.append(button(doc, n.name, () => void this.showTable(n.name), { title: `Show the lineage of ${n.name}` }));
        } else {
          li.append(h(doc, 'span', { className: 'dap-lineage-source' }, `${n.name} (${n.kind})`));
        }
        return li;
      });
      if (!items.length) {
        items.push(h(doc, 'li', { className: 'dap-builder-note' }, 'none known'));
      }
      return h(doc, 'section', {}, h(doc, 'h3', { className: 'dap-builder-heading' }, title), h(doc, 'ul', {}, ...items));
    };
    this._related.replaceChildren(group('Upstream', lineage.upstream), group('Downstream', lineage.downstream));
  }

  private _api: IBuilderApi;
  private _table = '';
  private _tables: string[] = [];
  private _history: string[] = [];
  private _lineage: ILineage | null = null;
  private _token = 0;
  private _picker: HTMLSpanElement;
  private _back: HTMLButtonElement;
  private _status: HTMLSpanElement;
  private _error: HTMLDivElement;
  private _graph: HTMLDivElement;
  private _related: HTMLDivElement;
}
