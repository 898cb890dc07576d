/**
 * Pure helpers for the DAP catalog panel.
 *
 * This module deliberately imports nothing from `@jupyterlab/*` or
 * `@lumino/*` so that it can be unit-tested with jest + jsdom without
 * transpiling JupyterLab's ES modules.
 */

/**
 * One table entry as returned by `GET /dap/api/v1/catalog`.
 */
export interface ICatalogTable {
  /** Fully qualified name, e.g. `main.orders`. */
  name: string;
  schema?: string;
  table?: string;
  /** Storage kind, e.g. `delta`, `parquet`, `view`. */
  kind?: string;
  description?: string | null;
  row_count?: number | null;
  owner?: string | null;
  tags?: string[];
  /** Catalog version of the table (bumped on every write). */
  version?: number | null;
  /** Last write (RFC 3339), the table's freshness. */
  updated_at?: string | null;
  /** `false` when the caller may not query the table (`include_denied=true`). */
  readable?: boolean;
}

/**
 * Body of `GET /dap/api/v1/catalog`.
 */
export interface ICatalogResponse {
  tables: ICatalogTable[];
}

/** CSS class names used by the panel (kept here so tests and CSS agree). */
export const CSS = {
  panel: 'dap-catalog-panel',
  header: 'dap-catalog-header',
  title: 'dap-catalog-title',
  refresh: 'dap-catalog-refresh',
  status: 'dap-catalog-status',
  error: 'dap-catalog-error',
  list: 'dap-catalog-list',
  item: 'dap-catalog-item',
  itemName: 'dap-catalog-item-name',
  itemKind: 'dap-catalog-item-kind',
  itemRows: 'dap-catalog-item-rows',
  itemOwner: 'dap-catalog-item-owner',
  tags: 'dap-catalog-tags',
  tag: 'dap-catalog-tag',
  empty: 'dap-catalog-empty'
} as const;

/** Text shown when the catalog has no tables. */
export const EMPTY_MESSAGE = 'No tables in the catalog yet.';

/**
 * Insert thousands separators (`1234567` -> `1,234,567`) without depending
 * on the runtime's ICU locale data.
 */
function groupThousands(n: number): string {
  return String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

/**
 * Format one decimal place, dropping a trailing `.0` (`1.0` -> `1`).
 */
function oneDecimal(n: number): string {
  const s = (Math.floor(n * 10) / 10).toFixed(1);
  return s.endsWith('.0') ? s.slice(0, -2) : s;
}

/**
 * Human-readable row count.
 *
 * - `null`/`undefined`/non-finite/negative -> `'? rows'` (unknown)
 * - `1` -> `'1 row'`
 * - below 10 000 -> exact with separators, e.g. `'9,999 rows'`
 * - above -> compact, truncated (never rounded up), e.g. `'12.3K rows'`,
 *   `'1.5M rows'`, `'2B rows'`
 */
export function formatRowCount(n: number | null | undefined): string {
  if (n === null || n === undefined || !Number.isFinite(n) || n < 0) {
    return '? rows';
  }
  const count = Math.floor(n);
  if (count === 1) {
    return '1 row';
  }
  if (count < 10_000) {
    return `${groupThousands(count)} rows`;
  }
  const units: Array<[number, string]> = [
    [1e12, 'T'],
    [1e9, 'B'],
    [1e6, 'M'],
    [1e3, 'K']
  ];
  for (const [size, suffix] of units) {
    if (count >= size) {
      return `${oneDecimal(count / size)}${suffix} rows`;
    }
  }
  /* istanbul ignore next: unreachable, count >= 10 000 here */
  return `${groupThousands(count)} rows`;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function optionalString(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

/**
 * Validate and normalise the JSON body of `GET /dap/api/v1/catalog`.
 *
 * Entries without a string `name` are dropped; unknown fields are ignored;
 * `tags` keeps string entries only. Throws if the body is not an object
 * with a `tables` array.
 */
export function parseCatalogResponse(data: unknown): ICatalogTable[] {
  if (!isRecord(data) || !Array.isArray(data.tables)) {
    throw new Error('Unexpected catalog response: missing "tables" array');
  }
  const tables: ICatalogTable[] = [];
  for (const entry of data.tables) {
    if (!isRecord(entry) || typeof entry.name !== 'string' || !entry.name) {
      continue;
    }
    const rowCount = entry.row_count;
    tables.push({
      name: entry.name,
      schema: optionalString(entry.schema),
      table: optionalString(entry.table),
      kind: optionalString(entry.kind),
      description: optionalString(entry.description) ?? null,
      row_count:
        typeof rowCount === 'number' && Number.isFinite(rowCount)
          ? rowCount
          : null,
      owner: optionalString(entry.owner) ?? null,
      tags: stringList(entry.tags),
      version: finiteOrNull(entry.version),
      updated_at: optionalString(entry.updated_at) ?? null,
      readable: entry.readable !== false
    });
  }
  return tables;
}

function stringList(value: unknown): string[] {
  return Array.isArray(value)
    ? value.filter((t): t is string => typeof t === 'string')
    : [];
}

function finiteOrNull(value: unknown): number | null {
  return typeof value === 'number' && Number.isFinite(value) ? value : null;
}

/** True when a tag list marks personal data (tag `pii`, any case). */
export function hasPii(tags: ReadonlyArray<string> | undefined): boolean {
  return (tags ?? []).some(t => t.toLowerCase() === 'pii');
}

/**
 * One column as returned by `GET /dap/api/v1/catalog/{table}`.
 */
export interface IColumnInfo {
  name: string;
  type: string;
  nullable: boolean;
  description: string;
  tags: string[];
  /** Values reach the caller masked. */
  masked: boolean;
  null_count: number | null;
  distinct_count: number | null;
  /** `distinct_count` is an estimate (HyperLogLog), shown as `≈12,345`. */
  distinct_approx?: boolean;
  min_value: string | null;
  max_value: string | null;
}

/**
 * Body of `GET /dap/api/v1/catalog/{table}`.
 */
export interface ITableDetail extends ICatalogTable {
  columns: IColumnInfo[];
  /** A row filter applies to the caller (row counts are hidden). */
  row_filtered: boolean;
  sample_columns: string[];
  /** Governed sample: filtered rows, masked values as the server sent them. */
  sample_rows: unknown[][];
}

/** One node of `GET /dap/api/v1/lineage/{table}`. */
export interface ILineageNode {
  name: string;
  kind: string;
}

/** One edge of the lineage graph: `target` is made from `source` by `process`. */
export interface ILineageEdge {
  source: string;
  target: string;
  /** What made the edge: `pipeline:NAME`, `sql:USER`, `catalog`, … (`''` if unknown). */
  process: string;
  run_id?: string | null;
  /** RFC 3339 time the edge was recorded. */
  recorded_at?: string | null;
}

/** `target_table.target_column` is computed from `source_table.source_column`. */
export interface IColumnEdge {
  source_table: string;
  source_column: string;
  target_table: string;
  target_column: string;
}

/**
 * Body of `GET /dap/api/v1/lineage/{table}`.
 *
 * `upstream`/`downstream` are transitive, nearest first. `nodes`, `edges`
 * and `columns` come from newer servers only: without `edges` the view
 * links every node straight to the table.
 */
export interface ILineage {
  table: string;
  upstream: ILineageNode[];
  downstream: ILineageNode[];
  /** Set for column lineage (`?column=`): node names are then `schema.table.column`. */
  column?: string | null;
  nodes?: ILineageNode[];
  edges?: ILineageEdge[];
  columns?: IColumnEdge[];
}

function parseColumn(entry: unknown): IColumnInfo | null {
  if (!isRecord(entry) || typeof entry.name !== 'string' || !entry.name) {
    return null;
  }
  const text = (v: unknown): string | null =>
    typeof v === 'string' ? v : typeof v === 'number' ? String(v) : null;
  return {
    name: entry.name,
    type: optionalString(entry.type) ?? '',
    nullable: entry.nullable !== false,
    description: optionalString(entry.description) ?? '',
    tags: stringList(entry.tags),
    masked: entry.masked === true,
    null_count: finiteOrNull(entry.null_count),
    distinct_count: finiteOrNull(entry.distinct_count),
    distinct_approx: entry.distinct_approx === true,
    min_value: text(entry.min_value),
    max_value: text(entry.max_value)
  };
}

/**
 * Validate and normalise the JSON body of `GET /dap/api/v1/catalog/{table}`.
 * Throws if the body is not an object with a string `name`.
 */
export function parseTableDetail(data: unknown): ITableDetail {
  if (!isRecord(data) || typeof data.name !== 'string') {
    throw new Error('Unexpected table response: missing "name"');
  }
  const [summary] = parseCatalogResponse({ tables: [data] });
  const columns = Array.isArray(data.columns)
    ? data.columns
        .map(parseColumn)
        .filter((c): c is IColumnInfo => c !== null)
    : [];
  const rows = Array.isArray(data.sample_rows)
    ? data.sample_rows.filter((r): r is unknown[] => Array.isArray(r))
    : [];
  return {
    ...summary,
    columns,
    row_filtered: data.row_filtered === true,
    sample_columns: stringList(data.sample_columns),
    sample_rows: rows
  };
}

/**
 * Validate and normalise the JSON body of `GET /dap/api/v1/lineage/{table}`.
 * Malformed entries are dropped; `nodes`/`edges`/`columns` stay absent when
 * the server did not send them (an older server), so callers can tell.
 */
export function parseLineage(data: unknown): ILineage {
  if (!isRecord(data)) {
    throw new Error('Unexpected lineage response');
  }
  const nodes = (value: unknown): ILineageNode[] =>
    Array.isArray(value)
      ? value
          .filter(
            (n): n is Record<string, unknown> =>
              isRecord(n) && typeof n.name === 'string'
          )
          .map(n => ({
            name: n.name as string,
            kind: optionalString(n.kind) ?? ''
          }))
      : [];
  const lineage: ILineage = {
    table: optionalString(data.table) ?? '',
    upstream: nodes(data.upstream),
    downstream: nodes(data.downstream)
  };
  const column = optionalString(data.column);
  if (column) {
    lineage.column = column;
  }
  if (Array.isArray(data.nodes)) {
    lineage.nodes = nodes(data.nodes);
  }
  if (Array.isArray(data.edges)) {
    lineage.edges = data.edges
      .filter(
        (e): e is Record<string, unknown> =>
          isRecord(e) &&
          typeof e.source === 'string' &&
          typeof e.target === 'string'
      )
      .map(e => ({
        source: e.source as string,
        target: e.target as string,
        process: optionalString(e.process) ?? '',
        run_id: optionalString(e.run_id) ?? null,
        recorded_at: optionalString(e.recorded_at) ?? null
      }));
  }
  if (Array.isArray(data.columns)) {
    const keys = [
      'source_table',
      'source_column',
      'target_table',
      'target_column'
    ] as const;
    lineage.columns = data.columns
      .filter(
        (c): c is Record<string, unknown> =>
          isRecord(c) && keys.every(k => typeof c[k] === 'string')
      )
      .map(c => ({
        source_table: c.source_table as string,
        source_column: c.source_column as string,
        target_table: c.target_table as string,
        target_column: c.target_column as string
      }));
  }
  return lineage;
}

/**
 * Tooltip text for a table: its description, or its name when it has none.
 */
export function tableTooltip(table: ICatalogTable): string {
  const description = (table.description ?? '').trim();
  const lines = [description || table.name];
  if (table.owner) {
    lines.push(`Owner: ${table.owner}`);
  }
  return lines.join('\n');
}

function span(doc: Document, className: string, text: string): HTMLElement {
  const el = doc.createElement('span');
  el.className = className;
  el.textContent = text;
  return el;
}

/**
 * Build the `<li class="dap-catalog-item">` for one table.
 *
 * All text goes through `textContent`, so names/descriptions/tags coming
 * from the server can never inject markup.
 */
export function renderCatalogItem(
  table: ICatalogTable,
  doc: Document = document
): HTMLLIElement {
  const li = doc.createElement('li');
  li.className = CSS.item;
  li.dataset.table = table.name;
  li.title = tableTooltip(table);

  li.appendChild(span(doc, CSS.itemName, table.name));
  if (table.kind) {
    li.appendChild(span(doc, CSS.itemKind, table.kind));
  }
  li.appendChild(span(doc, CSS.itemRows, formatRowCount(table.row_count)));

  const tags = table.tags ?? [];
  if (tags.length > 0) {
    const container = doc.createElement('span');
    container.className = CSS.tags;
    for (const tag of tags) {
      container.appendChild(span(doc, CSS.tag, tag));
    }
    li.appendChild(container);
  }
  return li;
}

/**
 * Build the list items for all tables, sorted by name. An empty catalog
 * yields a single `<li class="dap-catalog-empty">` placeholder.
 */
export function renderCatalogItems(
  tables: ReadonlyArray<ICatalogTable>,
  doc: Document = document
): HTMLLIElement[] {
  if (tables.length === 0) {
    const li = doc.createElement('li');
    li.className = CSS.empty;
    li.textContent = EMPTY_MESSAGE;
    return [li];
  }
  return [...tables]
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
    .map(table => renderCatalogItem(table, doc));
}

/**
 * Replace the children of `list` with the rendered catalog items.
 */
export function renderCatalogList(
  list: HTMLElement,
  tables: ReadonlyArray<ICatalogTable>
): void {
  list.replaceChildren(...renderCatalogItems(tables, list.ownerDocument));
}

/**
 * Build the `<div class="dap-catalog-error">` shown when loading fails.
 */
export function renderError(
  message: string,
  doc: Document = document
): HTMLDivElement {
  const div = doc.createElement('div');
  div.className = CSS.error;
  div.setAttribute('role', 'alert');
  div.textContent = message;
  return div;
}

/**
 * Summary line shown under the header, e.g. `'3 tables'`.
 */
export function formatTableCount(n: number): string {
  return n === 1 ? '1 table' : `${groupThousands(n)} tables`;
}
