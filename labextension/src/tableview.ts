/**
 * The table panel, opened in the main area from the catalog browser:
 * description, owner, row count, freshness, quality/freshness badges (from
 * `quality/{table}`, filled in when they arrive), column statistics,
 * governed sample rows, lineage summary, and the actions "Query in builder"
 * and "Insert %%dap sql cell".
 *
 * The rendering functions are pure DOM builders (tested with jsdom); the
 * `TableView` widget loads data through injectable loaders.
 */
import { Message } from '@lumino/messaging';
import { Widget } from '@lumino/widgets';

import {
  IColumnInfo,
  ILineage,
  ITableDetail,
  formatRowCount,
  hasPii
} from './catalog';
import { userErrorMessage } from './errors';
import { catalogIcon } from './panel';
import { IQualityStatus, QUALITY_CSS, renderQualityBadges } from './quality';
import { renderMaskedBadge, renderTags } from './tree';

export const VIEW_CSS = {
  view: 'dap-table-view',
  header: 'dap-table-header',
  title: 'dap-table-title',
  description: 'dap-table-description',
  meta: 'dap-table-meta',
  actions: 'dap-table-actions',
  builder: 'dap-action-builder',
  insert: 'dap-action-insert',
  reload: 'dap-action-reload',
  body: 'dap-table-body',
  section: 'dap-table-section',
  columns: 'dap-table-columns',
  sample: 'dap-table-sample',
  lineage: 'dap-table-lineage',
  grid: 'dap-grid',
  null: 'dap-null',
  status: 'dap-table-status',
  error: 'dap-catalog-error'
} as const;

export const ROW_FILTER_TEXT = 'hidden by a row filter';
export const INSERT_DISABLED_TOOLTIP =
  'Open a notebook first: the cell is inserted below its active cell';
export const BUILDER_DISABLED_TOOLTIP =
  'The visual query builder is not available in this JupyterLab';

/** What the table panel's buttons do; provided by the plugin. */
export interface ITableActions {
  canOpenBuilder(): boolean;
  openBuilder(table: string): void;
  canInsertCell(): boolean;
  insertCell(table: string): void;
}

/** Row count as the caller may know it. */
export function rowCountText(detail: ITableDetail): string {
  if (detail.row_filtered) {
    return ROW_FILTER_TEXT;
  }
  if (detail.row_count === null || detail.row_count === undefined) {
    return 'unknown';
  }
  return formatRowCount(detail.row_count);
}

function pad(n: number): string {
  return String(n).padStart(2, '0');
}

/**
 * Freshness: `2026-11-03 14:05 UTC (3 hours ago)`; `unknown` if absent or
 * unparsable.
 */
export function formatFreshness(
  iso: string | null | undefined,
  now: number = Date.now()
): string {
  const at = iso ? Date.parse(iso) : NaN;
  if (!Number.isFinite(at)) {
    return 'unknown';
  }
  const d = new Date(at);
  const stamp =
    `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ` +
    `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())} UTC`;
  const seconds = Math.round((now - at) / 1000);
  let ago: string;
  if (seconds < 0) {
    ago = 'in the future';
  } else if (seconds < 60) {
    ago = 'just now';
  } else {
    const units: Array<[number, string]> = [
      [86400 * 365, 'year'],
      [86400 * 30, 'month'],
      [86400, 'day'],
      [3600, 'hour'],
      [60, 'minute']
    ];
    const [size, unit] = units.find(([s]) => seconds >= s)!;
    const n = Math.floor(seconds / size);
    ago = `${n} ${unit}${n === 1 ? '' : 's'} ago`;
  }
  return `${stamp} (${ago})`;
}

/** Text of one sample value, exactly as the server sent it (masks included). */
export function formatCell(value: unknown): string {
  if (value === null || value === undefined) {
    return 'NULL';
  }
  if (typeof value === 'string') {
    return value;
  }
  if (typeof value === 'number' || typeof value === 'boolean') {
    return String(value);
  }
  return JSON.stringify(value);
}

function el<K extends keyof HTMLElementTagNameMap>(
  doc: Document,
  tag: K,
  className = '',
  text?: string
): HTMLElementTagNameMap[K] {
  const node = doc.createElement(tag);
  if (className) {
    node.className = className;
  }
  if (text !== undefined) {
    node.textContent = text;
  }
  return node;
}

function section(doc: Document, className: string, heading: string): HTMLElement {
  const s = el(doc, 'section', `${VIEW_CSS.section} ${className}`);
  s.setAttribute('aria-label', heading);
  s.appendChild(el(doc, 'h3', '', heading));
  return s;
}

function grid(
  doc: Document,
  caption: string,
  headers: string[],
  rows: Array<Array<string | Node>>
): HTMLTableElement {
  const table = el(doc, 'table', VIEW_CSS.grid);
  const cap = el(doc, 'caption', '', caption);
  table.appendChild(cap);
  const head = el(doc, 'thead');
  const tr = el(doc, 'tr');
  for (const h of headers) {
    const th = el(doc, 'th', '', h);
    th.scope = 'col';
    tr.appendChild(th);
  }
  head.appendChild(tr);
  table.appendChild(head);
  const body = el(doc, 'tbody');
  for (const row of rows) {
    const r = el(doc, 'tr');
    for (const cell of row) {
      const td = el(doc, 'td');
      if (typeof cell === 'string') {
        td.textContent = cell;
      } else {
        td.appendChild(cell);
      }
      r.appendChild(td);
    }
    body.appendChild(r);
  }
  table.appendChild(body);
  return table;
}

const stat = (n: number | null): string => (n === null ? '—' : n.toLocaleString('en-US'));

/** A distinct count: `≈` marks an estimate (the server counts exactly up to a size). */
export function distinctText(c: IColumnInfo): string {
  return c.distinct_count !== null && c.distinct_approx
    ? `≈${stat(c.distinct_count)}`
    : stat(c.distinct_count);
}

/** Header: name, description, and the facts list (owner, rows, freshness …). */
export function renderHeader(detail: ITableDetail, doc: Document = document): HTMLElement {
  const header = el(doc, 'header', VIEW_CSS.header);
  const title = el(doc, 'h2', VIEW_CSS.title, detail.name);
  header.appendChild(title);
  const tags = renderTags(detail.tags ?? [], doc);
  if (tags) {
    header.appendChild(tags);
  }
  header.appendChild(
    el(doc, 'p', VIEW_CSS.description, detail.description || 'No description.')
  );
  const dl = el(doc, 'dl', VIEW_CSS.meta);
  const facts: Array<[string, string]> = [
    ['Owner', detail.owner || 'unknown'],
    ['Kind', detail.kind || 'unknown'],
    ['Rows', rowCountText(detail)],
    ['Updated', formatFreshness(detail.updated_at)],
    ['Version', detail.version === null || detail.version === undefined ? '—' : String(detail.version)]
  ];
  for (const [term, value] of facts) {
    const wrap = el(doc, 'div');
    wrap.dataset.fact = term.toLowerCase();
    wrap.append(el(doc, 'dt', '', term), el(doc, 'dd', '', value));
    dl.appendChild(wrap);
  }
  header.appendChild(dl);
  return header;
}

/** Column list with types, tags (PII badge), masking and statistics. */
export function renderColumns(detail: ITableDetail, doc: Document = document): HTMLElement {
  const s = section(doc, VIEW_CSS.columns, `Columns (${detail.columns.length})`);
  const rows = detail.columns.map(c => {
    const name = el(doc, 'span', '', c.name);
    const badges = el(doc, 'span');
    const tags = renderTags(c.tags, doc);
    if (tags) {
      badges.appendChild(tags);
    }
    if (c.masked) {
      badges.appendChild(renderMaskedBadge(doc));
    }
    const nameCell = el(doc, 'span');
    nameCell.append(name, badges);
    if (hasPii(c.tags)) {
      nameCell.dataset.pii = 'true';
    }
    return [
      nameCell,
      c.type,
      c.description,
      stat(c.null_count),
      distinctText(c),
      c.min_value ?? '—',
      c.max_value ?? '—'
    ];
  });
  s.appendChild(
    grid(
      doc,
      'Column statistics (hidden where a row filter or mask applies)',
      ['Column', 'Type', 'Description', 'Nulls', 'Distinct', 'Min', 'Max'],
      rows
    )
  );
  return s;
}

/** Governed sample rows, values shown exactly as they came (masked or not). */
export function renderSample(detail: ITableDetail, doc: Document = document): HTMLElement {
  const s = section(doc, VIEW_CSS.sample, 'Sample rows');
  if (detail.sample_rows.length === 0) {
    s.appendChild(el(doc, 'p', VIEW_CSS.status, 'No rows you may see.'));
    return s;
  }
  const rows = detail.sample_rows.map(row =>
    detail.sample_columns.map((_, i) => {
      const value = row[i];
      if (value === null || value === undefined) {
        return el(doc, 'span', VIEW_CSS.null, 'NULL');
      }
      return formatCell(value);
    })
  );
  const note = detail.row_filtered
    ? `First ${rows.length} rows you may see (a row filter applies)`
    : `First ${rows.length} rows`;
  s.appendChild(grid(doc, note, detail.sample_columns, rows));
  return s;
}

/** Upstream sources and downstream tables, or why they are missing. */
export function renderLineage(
  lineage: ILineage | { error: string },
  doc: Document = document
): HTMLElement {
  const s = section(doc, VIEW_CSS.lineage, 'Lineage');
  if ('error' in lineage) {
    s.appendChild(el(doc, 'p', VIEW_CSS.status, `Lineage unavailable: ${lineage.error}`));
    return s;
  }
  const list = (label: string, nodes: ILineage['upstream']): HTMLElement => {
    const wrap = el(doc, 'div');
    wrap.appendChild(el(doc, 'h4', '', label));
    if (nodes.length === 0) {
      wrap.appendChild(el(doc, 'p', VIEW_CSS.status, 'none recorded'));
      return wrap;
    }
    const ul = el(doc, 'ul');
    for (const node of nodes) {
      const li = el(doc, 'li', '', node.name);
      if (node.kind) {
        li.appendChild(el(doc, 'span', 'dap-catalog-item-kind', ` ${node.kind}`));
      }
      ul.appendChild(li);
    }
    wrap.appendChild(ul);
    return wrap;
  };
  s.append(
    list(`Upstream (${lineage.upstream.length})`, lineage.upstream),
    list(`Downstream (${lineage.downstream.length})`, lineage.downstream)
  );
  return s;
}

/**
 * Enable or disable an action button. `aria-disabled` rather than
 * `disabled` keeps the button focusable and its tooltip readable (hover and
 * keyboard); the click handlers check the action again.
 */
export function setEnabled(
  button: HTMLButtonElement,
  enabled: boolean,
  title: string,
  disabledTitle: string
): void {
  button.setAttribute('aria-disabled', String(!enabled));
  button.classList.toggle('dap-mod-disabled', !enabled);
  button.title = enabled ? title : disabledTitle;
}

export type DetailLoader = (table: string) => Promise<ITableDetail>;
export type LineageLoader = (table: string) => Promise<ILineage>;
/** The table's quality badge; `null` when there is none to show. */
export type QualityLoader = (table: string) => Promise<IQualityStatus | null>;

/**
 * Put the quality/freshness pills under the table's title (replacing older
 * ones); nothing when there is no badge.
 */
export function showQuality(
  body: HTMLElement,
  status: IQualityStatus | null,
  now: number = Date.now()
): void {
  body.querySelector(`.${QUALITY_CSS.badges}`)?.remove();
  const title = body.querySelector(`.${VIEW_CSS.title}`);
  if (!status || !title) {
    return;
  }
  title.after(renderQualityBadges(status, body.ownerDocument, now));
}

/** DOM id of the panel of a table. */
export function tableViewId(table: string): string {
  return `dap-table-${table.replace(/[^A-Za-z0-9_-]/g, '_')}`;
}

/**
 * One table in the main area. Loads on first show and on "Reload".
 */
export class TableView extends Widget {
  constructor(
    readonly table: string,
    options: {
      loadDetail: DetailLoader;
      loadLineage: LineageLoader;
      loadQuality?: QualityLoader;
      actions: ITableActions;
    }
  ) {
    super();
    this._options = options;
    this.id = tableViewId(table);
    this.addClass(VIEW_CSS.view);
    this.title.label = table;
    this.title.caption = `DAP table ${table}`;
    this.title.icon = catalogIcon;
    this.title.closable = true;
    this.node.dataset.table = table;
    this.node.tabIndex = -1;

    const doc = this.node.ownerDocument;
    const bar = el(doc, 'div', VIEW_CSS.actions);
    bar.setAttribute('role', 'toolbar');
    bar.setAttribute('aria-label', `Actions for ${table}`);
    const button = (className: string, text: string): HTMLButtonElement => {
      const b = el(doc, 'button', `${className} jp-Button jp-mod-styled`, text);
      b.type = 'button';
      return b;
    };
    this._builder = button(`${VIEW_CSS.builder} jp-mod-accept`, 'Query in builder');
    this._builder.addEventListener('click', () => {
      if (this._options.actions.canOpenBuilder()) {
        this._options.actions.openBuilder(this.table);
      }
    });
    this._insert = button(VIEW_CSS.insert, 'Insert %%dap sql cell');
    this._insert.addEventListener('click', () => {
      if (this._options.actions.canInsertCell()) {
        this._options.actions.insertCell(this.table);
      }
    });
    this._reload = button(`${VIEW_CSS.reload} jp-mod-reject`, 'Reload');
    this._reload.addEventListener('click', () => void this.load());
    bar.append(this._builder, this._insert, this._reload);

    this._status = el(doc, 'div', VIEW_CSS.status);
    this._status.setAttribute('aria-live', 'polite');
    this._body = el(doc, 'div', VIEW_CSS.body);
    this.node.append(bar, this._status, this._body);
    this.updateActions();
  }

  /** The detail last loaded, if any. */
  get detail(): ITableDetail | null {
    return this._detail;
  }

  /** The quality badge last loaded (`null`: none). */
  get quality(): IQualityStatus | null {
    return this._quality;
  }

  /** Enable/disable the buttons (a notebook opened or closed, builder registered). */
  updateActions(): void {
    const actions = this._options.actions;
    setEnabled(
      this._builder,
      actions.canOpenBuilder(),
      `Open ${this.table} in the visual query builder`,
      BUILDER_DISABLED_TOOLTIP
    );
    setEnabled(
      this._insert,
      actions.canInsertCell(),
      `Insert "%%dap sql SELECT * FROM ${this.table} LIMIT 100" below the active cell`,
      INSERT_DISABLED_TOOLTIP
    );
  }

  /** (Re)load detail and lineage; only the latest load renders. */
  async load(): Promise<void> {
    const token = ++this._requestId;
    this._loaded = true;
    this._reload.disabled = true;
    this._status.textContent = `Loading ${this.table}…`;
    const doc = this.node.ownerDocument;
    const lineage = this._options
      .loadLineage(this.table)
      .catch((error: unknown) => ({ error: userErrorMessage(error) }));
    // The badge never holds the panel up, and its failure only hides it.
    const quality: Promise<IQualityStatus | null> = this._options.loadQuality
      ? this._options.loadQuality(this.table).catch(() => null)
      : Promise.resolve(null);
    try {
      const detail = await this._options.loadDetail(this.table);
      const lin = await lineage;
      if (token !== this._requestId || this.isDisposed) {
        return;
      }
      this._detail = detail;
      this._body.replaceChildren(
        renderHeader(detail, doc),
        renderColumns(detail, doc),
        renderSample(detail, doc),
        renderLineage(lin, doc)
      );
      this._status.textContent = '';
      void quality.then(status => {
        if (token === this._requestId && !this.isDisposed) {
          this._quality = status;
          showQuality(this._body, status);
        }
      });
    } catch (error) {
      if (token !== this._requestId || this.isDisposed) {
        return;
      }
      console.error(`DAP: failed to load ${this.table}`, error);
      this._detail = null;
      this._status.textContent = '';
      const box = el(doc, 'div', VIEW_CSS.error, userErrorMessage(error));
      box.setAttribute('role', 'alert');
      this._body.replaceChildren(box);
    } finally {
      if (token === this._requestId && !this.isDisposed) {
        this._reload.disabled = false;
      }
    }
  }

  protected onAfterShow(msg: Message): void {
    super.onAfterShow(msg);
    if (!this._loaded) {
      void this.load();
    }
  }

  protected onAfterAttach(msg: Message): void {
    super.onAfterAttach(msg);
    if (!this._loaded && this.isVisible) {
      void this.load();
    }
  }

  protected onActivateRequest(msg: Message): void {
    super.onActivateRequest(msg);
    if (!this.node.contains(this.node.ownerDocument.activeElement)) {
      this.node.focus();
    }
  }

  private _options: {
    loadDetail: DetailLoader;
    loadLineage: LineageLoader;
    loadQuality?: QualityLoader;
    actions: ITableActions;
  };
  private _quality: IQualityStatus | null = null;
  private _builder: HTMLButtonElement;
  private _insert: HTMLButtonElement;
  private _reload: HTMLButtonElement;
  private _status: HTMLDivElement;
  private _body: HTMLDivElement;
  private _detail: ITableDetail | null = null;
  private _requestId = 0;
  private _loaded = false;
}
