/**
 * Main-area widget showing the lineage of one table at a time: a table
 * picker with Back, the drawn graph, the related tables again as text
 * (table nodes as real buttons), and a column picker that highlights one
 * column's path.
 */

import { Widget } from '@lumino/widgets';

import {
  describeError,
  restApi,
  type IBuilderApi,
  type ILineage,
  type ILineageNode
} from './api';
import { button, h, labeled, select } from './dom';
import { drawLineage } from './lineagedraw';
import { describeLink, isClickable, lineageEdges } from './lineagegraph';
import {
  columnPath,
  describeColumnPath,
  mergeColumns,
  type IColumnPath
} from './lineagepath';

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
