/**
 * The data model behind the result grid (@lumino/datagrid).
 *
 * The bundle holds the first page. When the kernel still holds the rest
 * (a handle and a page source), other pages are fetched as the grid asks for
 * them and kept (up to `MAX_PAGES`); until one arrives its cells read as
 * not loaded. Sorting a paged result asks the kernel (it holds all rows);
 * a result whose rows are all in the bundle is sorted here. If the kernel no
 * longer knows the handle (a restart, a saved notebook opened later), the
 * grid shows the saved page and says why.
 */
import { DataModel } from '@lumino/datagrid';

import {
  CellValue,
  IResultBundle,
  IResultColumn,
  compareValues,
  delimited,
  formatNumber,
  typeLine
} from './format';

export interface ISortKey {
  column: number;
  desc: boolean;
}

export interface IPage {
  offset: number;
  row_count: number;
  rows: CellValue[][];
}

export interface ICsvChunk {
  csv: string;
  next: number | null;
}

/** Where further pages come from: the kernel that ran the query. */
export interface IPageSource {
  page(
    handle: string,
    offset: number,
    limit: number,
    sort: ISortKey[]
  ): Promise<IPage>;
  csv(handle: string, offset: number, sort: ISortKey[]): Promise<ICsvChunk>;
}

/** Column header rows: name, type, sparkline. */
export const HEADER_ROWS = 3;
export const SPARKLINE_ROW = 2;
export const MAX_PAGES = 64;

export class ResultModel extends DataModel {
  readonly columns: IResultColumn[];

  constructor(
    bundle: IResultBundle,
    private readonly source: IPageSource | null,
    onStatus?: (text: string) => void
  ) {
    super();
    this.columns = bundle.columns;
    this._bundle = bundle;
    this._pageSize = Math.max(1, bundle.page_size || bundle.rows.length || 1);
    this._onStatus = onStatus ?? (() => undefined);
    this._remote =
      source !== null &&
      bundle.handle !== null &&
      bundle.row_count > bundle.rows.length;
    this._rowCount = this._remote ? bundle.row_count : bundle.rows.length;
    this._local = bundle.rows;
    this._pages.set(0, bundle.rows);
    this._status = this._describe();
  }

  /** True while further pages come from the kernel. */
  get remote(): boolean {
    return this._remote;
  }

  get sort(): ISortKey | null {
    return this._sort;
  }

  get status(): string {
    return this._status;
  }

  get sortKeys(): ISortKey[] {
    return this._sort ? [this._sort] : [];
  }

  rowCount(region: DataModel.RowRegion): number {
    return region === 'body' ? this._rowCount : HEADER_ROWS;
  }

  columnCount(region: DataModel.ColumnRegion): number {
    return region === 'body' ? this.columns.length : 1;
  }

  data(region: DataModel.CellRegion, row: number, column: number): any {
    switch (region) {
      case 'corner-header':
        return row === 0 ? '#' : '';
      case 'row-header':
        return formatNumber(row + 1, 0);
      case 'column-header':
        return this._header(row, column);
      default:
        return this.value(row, column);
    }
  }

  /** A body value; `undefined` while its page is on its way. */
  value(row: number, column: number): CellValue | undefined {
    const values = this.rowValues(row);
    return values === undefined ? undefined : values[column];
  }

  /** The values of one row, or undefined if not loaded (a fetch starts). */
  rowValues(row: number): CellValue[] | undefined {
    if (!this._remote) {
      return this._local[row];
    }
    const index = Math.floor(row / this._pageSize);
    const page = this._pages.get(index);
    if (page === undefined) {
      void this._fetch(index);
      return undefined;
    }
    return page[row - index * this._pageSize];
  }

  /** Cycle the sort of `column`: ascending → descending → unsorted. */
  async toggleSort(column: number): Promise<void> {
    const current = this._sort;
    let next: ISortKey | null;
    if (!current || current.column !== column) {
      next = { column, desc: false };
    } else if (!current.desc) {
      next = { column, desc: true };
    } else {
      next = null;
    }
    await this.setSort(next);
  }

  async setSort(sort: ISortKey | null): Promise<void> {
    this._sort = sort;
    this._generation++;
    if (this._remote) {
      this._pages.clear();
      this._pending.clear();
      this.emitChanged({ type: 'model-reset' });
      await this._fetch(0);
    } else {
      this._local = this._sortedLocal();
      this._setStatus(this._describe());
      this.emitChanged({ type: 'model-reset' });
    }
  }

  /** The whole result as CSV: from the kernel in chunks, or the rows here. */
  async csv(): Promise<string> {
    if (!this._remote || !this.source || !this._bundle.handle) {
      return delimited(this.columns, this._local, ',');
    }
    const parts: string[] = [];
    let offset: number | null = 0;
    while (offset !== null) {
      const chunk: ICsvChunk = await this.source.csv(
        this._bundle.handle,
        offset,
        this.sortKeys
      );
      parts.push(chunk.csv);
      offset = chunk.next;
    }
    return parts.join('');
  }

  private _header(row: number, column: number): any {
    const col = this.columns[column];
    if (!col) {
      return '';
    }
    if (row === 0) {
      const sort = this._sort;
      const arrow =
        sort && sort.column === column ? (sort.desc ? ' ▼' : ' ▲') : '';
      return col.name + arrow;
    }
    if (row === 1) {
      return typeLine(col);
    }
    return col.sparkline;
  }

  private _sortedLocal(): CellValue[][] {
    const sort = this._sort;
    const rows = this._bundle.rows;
    if (!sort) {
      return rows;
    }
    const column = this.columns[sort.column];
    const indexed = rows.map((r, i) => [r, i] as [CellValue[], number]);
    indexed.sort(([a, i], [b, j]) => {
      const nullA = a[sort.column] === null;
      const nullB = b[sort.column] === null;
      if (nullA || nullB) {
        return nullA === nullB ? i - j : nullA ? 1 : -1; // nulls last, both ways
      }
      const c = compareValues(a[sort.column], b[sort.column], column);
      return (sort.desc ? -c : c) || i - j;
    });
    return indexed.map(([r]) => r);
  }

  private async _fetch(index: number): Promise<void> {
    if (!this.source || !this._bundle.handle || this._pending.has(index)) {
      return;
    }
    const generation = this._generation;
    this._pending.add(index);
    this._setStatus(`${this._describe()} · loading…`);
    try {
      const page = await this.source.page(
        this._bundle.handle,
        index * this._pageSize,
        this._pageSize,
        this.sortKeys
      );
      if (generation !== this._generation) {
        return; // the sort changed meanwhile
      }
      this._store(index, page.rows);
      this._setStatus(this._describe());
      this.emitChanged({
        type: 'cells-changed',
        region: 'body',
        row: index * this._pageSize,
        rowSpan: page.rows.length,
        column: 0,
        columnSpan: this.columns.length
      });
    } catch (error) {
      if (generation !== this._generation) {
        return;
      }
      this._fallBack(error instanceof Error ? error.message : String(error));
    } finally {
      this._pending.delete(index);
    }
  }

  private _store(index: number, rows: CellValue[][]): void {
    this._pages.set(index, rows);
    while (this._pages.size > MAX_PAGES) {
      // forget the page farthest from the one just fetched
      let far = index;
      for (const key of this._pages.keys()) {
        if (Math.abs(key - index) > Math.abs(far - index)) {
          far = key;
        }
      }
      this._pages.delete(far);
    }
  }

  /** The kernel cannot serve pages: show the saved first page only. */
  private _fallBack(reason: string): void {
    this._remote = false;
    this._rowCount = this._bundle.rows.length;
    this._local = this._sortedLocal();
    this._reason = reason;
    this._setStatus(this._describe());
    this.emitChanged({ type: 'model-reset' });
  }

  private _describe(): string {
    const total = this._bundle.row_count;
    const rows = `${formatNumber(total, 0)} row${total === 1 ? '' : 's'}`;
    if (this._remote || this._bundle.rows.length >= total) {
      return rows;
    }
    const shown = formatNumber(this._bundle.rows.length, 0);
    const why = this._reason ? ` (${this._reason})` : '';
    return `first ${shown} of ${rows}, as saved with the notebook${why}; run the cell again to see all`;
  }

  private _setStatus(text: string): void {
    if (text !== this._status) {
      this._status = text;
      this._onStatus(text);
    }
  }

  private _bundle: IResultBundle;
  private _pageSize: number;
  private _remote: boolean;
  private _rowCount: number;
  private _local: CellValue[][];
  private _pages = new Map<number, CellValue[][]>();
  private _pending = new Set<number>();
  private _sort: ISortKey | null = null;
  private _generation = 0;
  private _status = '';
  private _reason = '';
  private _onStatus: (text: string) => void;
}
