/**
 * The REST calls of the catalog browser, the table view and the SQL
 * completer. Every request goes through `requestAPI()` (handler.ts).
 */
import { ServerConnection } from '@jupyterlab/services';

import {
  ICatalogTable,
  ILineage,
  ITableDetail,
  parseCatalogResponse,
  parseLineage,
  parseTableDetail
} from './catalog';
import { requestAPI } from './handler';
import { IQualityStatus, parseQuality } from './quality';

// JupyterLab adds a `?<timestamp>` cache-buster to GETs; the DAP API ignores it.
const GET: RequestInit = { method: 'GET' };

async function call<T>(endPoint: string): Promise<T> {
  try {
    return await requestAPI<T>(endPoint, GET);
  } catch (error) {
    if (error instanceof ServerConnection.NetworkError) {
      // Lets `userErrorMessage()` tell "server unreachable" apart.
      error.name = 'NetworkError';
    }
    throw error;
  }
}

export interface ICatalogQuery {
  /** Server-side search term (name, description, tags). */
  q?: string;
  /** Also list tables the caller may not read (`readable: false`). */
  includeDenied?: boolean;
}

/** `GET catalog?q=&include_denied=` */
export async function fetchCatalog(
  query: ICatalogQuery = {}
): Promise<ICatalogTable[]> {
  const params = new URLSearchParams();
  if (query.q && query.q.trim()) {
    params.set('q', query.q.trim());
  }
  if (query.includeDenied) {
    params.set('include_denied', 'true');
  }
  const search = params.toString();
  const data = await call<unknown>(search ? `catalog?${search}` : 'catalog');
  return parseCatalogResponse(data);
}

/** `GET catalog/{table}?sample=N` (sample rows are governed by the server). */
export async function fetchTableDetail(
  table: string,
  sample = 0
): Promise<ITableDetail> {
  const data = await call<unknown>(
    `catalog/${encodeURIComponent(table)}?sample=${sample}`
  );
  return parseTableDetail(data);
}

/** `GET lineage/{table}` (or `lineage/{table}?column=COL` for one column). */
export async function fetchLineage(
  table: string,
  column?: string
): Promise<ILineage> {
  const query = column ? `?column=${encodeURIComponent(column)}` : '';
  const data = await call<unknown>(
    `lineage/${encodeURIComponent(table)}${query}`
  );
  return parseLineage(data);
}

/** HTTP status of a failed `requestAPI()` call, if it got an answer. */
export function errorStatus(error: unknown): number | null {
  const status = (error as { response?: { status?: unknown } } | null)
    ?.response?.status;
  return typeof status === 'number' ? status : null;
}

/**
 * `GET quality/{table}`: the table's quality and freshness badge. `null`
 * when there is nothing to show: the caller may not read the table (403) or
 * the server has no quality data or endpoint (404).
 */
export async function fetchQuality(
  table: string
): Promise<IQualityStatus | null> {
  try {
    return parseQuality(
      await call<unknown>(`quality/${encodeURIComponent(table)}`)
    );
  } catch (error) {
    const status = errorStatus(error);
    if (status === 403 || status === 404) {
      return null;
    }
    throw error;
  }
}
