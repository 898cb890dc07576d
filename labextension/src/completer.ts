/**
 * Completion of table and column names in `%%dap sql` cells.
 *
 * `completeSql()` and its helpers are pure (text + catalog in, items out);
 * `SqlMetadataCache` keeps catalog metadata for a short time;
 * `DapSqlCompletionProvider` is the `ICompletionProviderManager` provider
 * (`dap:sql`), applicable only while the cell starts with `%%dap sql`.
 */
import type {
  CompletionHandler,
  ICompletionContext,
  ICompletionProvider
} from '@jupyterlab/completer';

import type { ICatalogTable, IColumnInfo } from './catalog';
import { isDapSqlSource } from './sqlcell';
import { bareName, schemaOf } from './tree';

/** Identifier of the completion provider. */
export const PROVIDER_ID = 'dap:sql';

/** What the pure completion functions need to know about the catalog. */
export interface ISqlCatalog {
  tables: ReadonlyArray<ICatalogTable>;
  /** Columns of a table (qualified name), if loaded. */
  columns(table: string): ReadonlyArray<IColumnInfo> | undefined;
}

export interface ISqlCompletionItem {
  label: string;
  insertText: string;
  type: 'table' | 'column';
  documentation?: string;
}

export interface ISqlCompletionReply {
  start: number;
  end: number;
  items: ISqlCompletionItem[];
}

const TOKEN = /[A-Za-z_][A-Za-z0-9_$]*(?:\.[A-Za-z_][A-Za-z0-9_$]*)*\.?$/;

/** The dotted identifier ending at `offset` (may end with a dot, may be empty). */
export function tokenBefore(
  text: string,
  offset: number
): { start: number; token: string } {
  const before = text.slice(0, offset);
  const match = TOKEN.exec(before);
  if (!match) {
    return { start: offset, token: '' };
  }
  return { start: offset - match[0].length, token: match[0] };
}

const NOT_ALIASES = new Set(
  (
    'where join on using left right inner outer full cross natural group ' +
    'order by limit offset having union except intersect window qualify ' +
    'select from as and or not sample tablesample pivot unpivot lateral'
  ).split(' ')
);

const lower = (s: string): string => s.toLowerCase();

/** All matches of a global regular expression (`matchAll` is ES2020). */
function allMatches(re: RegExp, text: string): RegExpExecArray[] {
  const found: RegExpExecArray[] = [];
  const global = new RegExp(re.source, re.flags.includes('g') ? re.flags : `${re.flags}g`);
  let match: RegExpExecArray | null;
  while ((match = global.exec(text)) !== null) {
    found.push(match);
    if (match[0] === '') {
      global.lastIndex++;
    }
  }
  return found;
}

/**
 * The catalog table a name in SQL refers to: `schema.table`, or a bare
 * `table` (preferring the `main` schema when several schemas have one).
 */
export function resolveTable(
  name: string,
  tables: ReadonlyArray<ICatalogTable>
): string | null {
  const wanted = lower(name);
  const exact = tables.find(t => lower(t.name) === wanted);
  if (exact) {
    return exact.name;
  }
  const bare = tables.filter(t => lower(bareName(t)) === wanted);
  if (bare.length === 0) {
    return null;
  }
  return (bare.find(t => schemaOf(t) === 'main') ?? bare[0]).name;
}

/**
 * Tables the SQL mentions (after FROM/JOIN, or anywhere as a known name),
 * and the aliases given to them (`FROM main.customers c` → `c`).
 */
export function referencedTables(
  text: string,
  tables: ReadonlyArray<ICatalogTable>
): { tables: string[]; aliases: Map<string, string> } {
  const found: string[] = [];
  const add = (name: string | null): void => {
    if (name && !found.includes(name)) {
      found.push(name);
    }
  };
  const aliases = new Map<string, string>();
  const body = isDapSqlSource(text) ? text.slice(text.indexOf('\n') + 1) : text;
  const clause =
    /\b(?:from|join)\s+([A-Za-z_][\w$]*(?:\.[A-Za-z_][\w$]*)?)(?:\s+(?:as\s+)?([A-Za-z_][\w$]*))?/gi;
  for (const match of allMatches(clause, body)) {
    const table = resolveTable(match[1], tables);
    add(table);
    const alias = match[2];
    if (table && alias && !NOT_ALIASES.has(lower(alias))) {
      aliases.set(lower(alias), table);
    }
  }
  for (const match of allMatches(/[A-Za-z_][\w$]*(?:\.[A-Za-z_][\w$]*)?/g, body)) {
    add(resolveTable(match[0], tables));
  }
  return { tables: found, aliases };
}

/** The table a dotted prefix (`c`, `customers`, `main.customers`) stands for. */
function tableForPrefix(
  prefix: string,
  text: string,
  tables: ReadonlyArray<ICatalogTable>
): string | null {
  const alias = referencedTables(text, tables).aliases.get(lower(prefix));
  return alias ?? resolveTable(prefix, tables);
}

/** Qualified names of the tables whose columns a completion at `offset` may need. */
export function tablesNeedingColumns(
  text: string,
  offset: number,
  tables: ReadonlyArray<ICatalogTable>
): string[] {
  const names = referencedTables(text, tables).tables;
  const { token } = tokenBefore(text, offset);
  const dot = token.lastIndexOf('.');
  if (dot > 0) {
    const table = tableForPrefix(token.slice(0, dot), text, tables);
    if (table && !names.includes(table)) {
      names.push(table);
    }
  }
  return names;
}

const TABLE_CONTEXT = new Set(['from', 'join', 'into', 'update', 'table']);

function previousWord(text: string, start: number): string {
  const match = /([A-Za-z_]+)\s+$/.exec(text.slice(0, start));
  return match ? lower(match[1]) : '';
}

function columnItem(table: string, column: IColumnInfo): ISqlCompletionItem {
  return {
    label: column.name,
    insertText: column.name,
    type: 'column',
    documentation: `${table}.${column.name} ${column.type}`.trim()
  };
}

/**
 * Completion items for the SQL of a `%%dap sql` cell.
 *
 * - `schema.` / `schema.ta` → tables of that schema, as `schema.table`
 * - `table.` / `alias.` / `schema.table.` → that table's columns
 * - a bare word → tables (`schema.table` and `table`) and the columns of
 *   the tables the cell mentions (tables first right after FROM/JOIN)
 *
 * Matching is a case-insensitive prefix match; nothing is offered on the
 * magic line itself.
 */
export function completeSql(
  text: string,
  offset: number,
  catalog: ISqlCatalog
): ISqlCompletionReply {
  const { start, token } = tokenBefore(text, offset);
  const none: ISqlCompletionReply = { start, end: offset, items: [] };
  const firstNewline = text.indexOf('\n');
  if (firstNewline < 0 || offset <= firstNewline) {
    return none;
  }
  const tables = catalog.tables;
  const dot = token.lastIndexOf('.');
  if (dot > 0) {
    const prefix = token.slice(0, dot);
    const partial = lower(token.slice(dot + 1));
    const schemaTables = tables.filter(t => lower(schemaOf(t)) === lower(prefix));
    if (schemaTables.length > 0 && !prefix.includes('.')) {
      return {
        start,
        end: offset,
        items: schemaTables
          .filter(t => lower(bareName(t)).startsWith(partial))
          .map(t => ({
            label: `${prefix}.${bareName(t)}`,
            insertText: `${prefix}.${bareName(t)}`,
            type: 'table' as const,
            documentation: t.description || t.name
          }))
      };
    }
    const table = tableForPrefix(prefix, text, tables);
    const columns = table ? catalog.columns(table) : undefined;
    if (!table || !columns) {
      return none;
    }
    return {
      start: offset - partial.length,
      end: offset,
      items: columns
        .filter(c => lower(c.name).startsWith(partial))
        .map(c => columnItem(table, c))
    };
  }

  const partial = lower(token);
  const tableItems: ISqlCompletionItem[] = [];
  for (const t of tables) {
    const bare = bareName(t);
    if (lower(t.name).startsWith(partial) || lower(bare).startsWith(partial)) {
      const documentation = t.description || t.name;
      tableItems.push({ label: t.name, insertText: t.name, type: 'table', documentation });
      if (!tableItems.some(i => i.label === bare)) {
        tableItems.push({ label: bare, insertText: bare, type: 'table', documentation });
      }
    }
  }
  const columnItems: ISqlCompletionItem[] = [];
  for (const table of referencedTables(text, tables).tables) {
    for (const column of catalog.columns(table) ?? []) {
      if (
        lower(column.name).startsWith(partial) &&
        !columnItems.some(i => i.label === column.name)
      ) {
        columnItems.push(columnItem(table, column));
      }
    }
  }
  const items = TABLE_CONTEXT.has(previousWord(text, start))
    ? tableItems
    : [...columnItems, ...tableItems];
  return { start, end: offset, items };
}

/** Options of {@link SqlMetadataCache}. */
export interface ISqlMetadataCacheOptions {
  loadTables: () => Promise<ICatalogTable[]>;
  loadColumns: (table: string) => Promise<IColumnInfo[]>;
  /** How long loaded metadata is reused (default 30 s). */
  ttlMs?: number;
  now?: () => number;
}

interface IEntry<T> {
  at: number;
  promise: Promise<T>;
}

/**
 * Catalog metadata for completion, reused for `ttlMs`. Concurrent requests
 * share one fetch; a failed fetch is not cached.
 */
export class SqlMetadataCache {
  constructor(options: ISqlMetadataCacheOptions) {
    this._options = options;
    this._ttl = options.ttlMs ?? 30_000;
    this._now = options.now ?? Date.now;
  }

  tables(): Promise<ICatalogTable[]> {
    return this._get('\u0000tables', () => this._options.loadTables());
  }

  /** Columns of a table; `undefined` if they cannot be loaded (e.g. no access). */
  async columns(table: string): Promise<IColumnInfo[] | undefined> {
    try {
      return await this._get(table, () => this._options.loadColumns(table));
    } catch {
      return undefined;
    }
  }

  /** Everything needed to complete at `offset` in `text`. */
  async catalogFor(text: string, offset: number): Promise<ISqlCatalog> {
    const tables = await this.tables();
    const names = tablesNeedingColumns(text, offset, tables);
    const loaded = new Map<string, IColumnInfo[]>();
    await Promise.all(
      names.map(async name => {
        const columns = await this.columns(name);
        if (columns) {
          loaded.set(name, columns);
        }
      })
    );
    return { tables, columns: name => loaded.get(name) };
  }

  clear(): void {
    this._entries.clear();
  }

  private _get<T>(key: string, load: () => Promise<T>): Promise<T> {
    const now = this._now();
    const entry = this._entries.get(key) as IEntry<T> | undefined;
    if (entry && now - entry.at < this._ttl) {
      return entry.promise;
    }
    const promise = load();
    this._entries.set(key, { at: now, promise });
    promise.catch(() => {
      if (this._entries.get(key)?.promise === promise) {
        this._entries.delete(key);
      }
    });
    return promise;
  }

  private _options: ISqlMetadataCacheOptions;
  private _ttl: number;
  private _now: () => number;
  private _entries = new Map<string, IEntry<unknown>>();
}

/**
 * The `dap:sql` completion provider: tables and columns from the catalog,
 * in cells whose first line is `%%dap sql` only.
 */
export class DapSqlCompletionProvider implements ICompletionProvider {
  readonly identifier = PROVIDER_ID;
  /** Above the kernel (550) and context (500) providers: catalog names first. */
  readonly rank = 700;
  readonly renderer = null;

  constructor(cache: SqlMetadataCache) {
    this._cache = cache;
  }

  async isApplicable(context: ICompletionContext): Promise<boolean> {
    const source = context.editor?.model.sharedModel.getSource();
    return typeof source === 'string' && isDapSqlSource(source);
  }

  async fetch(
    request: CompletionHandler.IRequest,
    context: ICompletionContext
  ): Promise<CompletionHandler.ICompletionItemsReply> {
    if (!isDapSqlSource(request.text)) {
      return { start: request.offset, end: request.offset, items: [] };
    }
    try {
      const catalog = await this._cache.catalogFor(request.text, request.offset);
      return completeSql(request.text, request.offset, catalog);
    } catch (error) {
      console.warn('DAP: SQL completion unavailable', error);
      return { start: request.offset, end: request.offset, items: [] };
    }
  }

  private _cache: SqlMetadataCache;
}
