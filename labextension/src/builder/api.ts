/**
 * The REST calls of the query builder and the lineage graph, all through
 * the one `requestAPI()`; widgets take an {@link IBuilderApi} so tests can
 * hand them a fake.
 */

import { requestAPI } from '../handler';
import { parseLineage, type ILineage } from '../catalog';
import type { IColumnInfo, IQuerySpec } from './types';

export interface ITableSummary {
  name: string;
  kind?: string;
  readable?: boolean;
}

export interface IBuiltQuery {
  sql: string;
  params: Record<string, unknown>;
  display_sql: string;
  columns: string[];
}

export interface IQueryPage {
  query_id: string;
  status: string;
  columns: IColumnInfo[];
  rows: unknown[][];
  row_count: number;
  offset: number;
  next_offset: number | null;
  truncated: boolean;
  elapsed_ms?: number | null;
  error?: { error: string; message: string } | null;
}

/** What "Save as dashboard" sends (REST `POST dashboards`). */
export interface IDashboardRequest {
  name: string;
  title: string;
  spec: IQuerySpec;
  chart: { kind: string; x: string; y: string } | null;
}

/** A published dashboard, as REST `dashboards/{name}` describes it. */
export interface IPublishedDashboard {
  name: string;
  title: string;
  owner: string;
  url: string;
}

export type { IColumnEdge, ILineage, ILineageEdge, ILineageNode } from '../catalog';

export interface IBuilderApi {
  /** Readable tables of the catalog. */
  tables(): Promise<ITableSummary[]>;
  /** Columns of one table. */
  columns(table: string): Promise<IColumnInfo[]>;
  build(spec: IQuerySpec): Promise<IBuiltQuery>;
  run(built: IBuiltQuery, pageSize: number, queryId?: string): Promise<IQueryPage>;
  /** Percent done of a running query of the caller's; `null` without an estimate. */
  progress(queryId: string): Promise<number | null>;
  page(queryId: string, offset: number, pageSize: number): Promise<IQueryPage>;
  /** Lineage of a table, or of one of its columns (`?column=`). */
  lineage(table: string, column?: string): Promise<ILineage>;
  /** Publish a builder query as a dashboard the caller owns. */
  publishDashboard(request: IDashboardRequest): Promise<IPublishedDashboard>;
}

function get<T>(endPoint: string): Promise<T> {
  return requestAPI<T>(endPoint, { method: 'GET' });
}

function post<T>(endPoint: string, body: unknown): Promise<T> {
  return requestAPI<T>(endPoint, { method: 'POST', body: JSON.stringify(body) });
}

/** The real API. */
export const restApi: IBuilderApi = {
  async tables() {
    const data = await get<{ tables?: ITableSummary[] }>('catalog');
    return (data?.tables ?? []).filter(t => t.readable !== false);
  },
  async columns(table) {
    const data = await get<{ columns?: IColumnInfo[] }>(
      `catalog/${encodeURIComponent(table)}?sample=0`
    );
    return (data?.columns ?? []).map(c => ({ name: c.name, type: c.type }));
  },
  build(spec) {
    return post<IBuiltQuery>('query/build', spec);
  },
  async run(built, pageSize, queryId) {
    return checkPage(
      await post<IQueryPage>('query', {
        sql: built.sql,
        params: built.params,
        page_size: pageSize,
        ...(queryId ? { query_id: queryId } : {})
      })
    );
  },
  async progress(queryId) {
    const page = await get<IQueryPage & { progress?: number | null }>(
      `query/${encodeURIComponent(queryId)}?page_size=1`
    );
    return page.status === 'running' && typeof page.progress === 'number' ? page.progress : null;
  },
  async page(queryId, offset, pageSize) {
    return checkPage(
      await get<IQueryPage>(
        `query/${encodeURIComponent(queryId)}?offset=${offset}&page_size=${pageSize}`
      )
    );
  },
  publishDashboard(request) {
    return post<IPublishedDashboard>('dashboards', request);
  },
  async lineage(table, column) {
    const query = column ? `?column=${encodeURIComponent(column)}` : '';
    return parseLineage(
      await get<unknown>(`lineage/${encodeURIComponent(table)}${query}`)
    );
  }
};

function checkPage(page: IQueryPage): IQueryPage {
  if (page.status !== 'finished' && page.error) {
    throw new Error(page.error.message);
  }
  return page;
}

/**
 * A failed call as one line for the widget: the server cannot be reached,
 * access is refused, or the server's own message (query errors).
 */
export function describeError(error: unknown): string {
  const status = (error as { response?: { status?: unknown } } | null)
    ?.response?.status;
  const message =
    error instanceof Error && error.message ? error.message : String(error);
  if (typeof status === 'number') {
    if (status === 403) {
      return `Access denied: ${message}`;
    }
    return message;
  }
  if (
    error instanceof TypeError ||
    (error instanceof Error && error.name === 'NetworkError')
  ) {
    // ServerConnection.NetworkError: nothing answered
    return `Cannot reach the DAP server: ${message}`;
  }
  return message || 'Unknown error';
}

/** Results of the values query: the first column as text. */
export function valuesFromPage(page: IQueryPage): string[] {
  return page.rows
    .map(r => r[0])
    .filter(v => v !== null && v !== undefined)
    .map(v => String(v));
}
