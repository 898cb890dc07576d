/**
 * Columns of the query: qualified references (`schema.table.column`), the
 * columns of the tables loaded so far, and what kind of value a column's
 * SQL or Arrow type takes (which decides the filter input and operators).
 *
 * Refs are stored qualified so a column present in two tables
 * (`customer_id`) is never ambiguous; see `specColumn` in `queryspec.ts`
 * for how the spec writes them.
 */

import type { IBuilderState } from './types';

/** `schema.table.column`. */
export function columnRef(table: string, column: string): string {
  return `${table}.${column}`;
}

/**
 * Split a ref into table and column. Catalog tables are `schema.table`, so
 * the table is the first two dot-separated parts.
 */
export function parseRef(ref: string): { table: string; column: string } {
  const parts = ref.split('.');
  if (parts.length < 3) {
    return { table: '', column: ref };
  }
  return {
    table: parts.slice(0, 2).join('.'),
    column: parts.slice(2).join('.')
  };
}

/** The tables of the query: the main one, then the joined ones. */
export function queryTables(state: IBuilderState): string[] {
  if (!state.table) {
    return [];
  }
  return [state.table, ...state.joins.map(j => j.table).filter(t => t)];
}

export interface IColumnChoice {
  ref: string;
  table: string;
  column: string;
  type: string;
  /** Label for a select option: bare with one table, `table.column` otherwise. */
  label: string;
}

/** `main.orders` → `orders`: labels and join-key guesses use the bare name. */
export function shortName(table: string): string {
  return table.split('.').pop() ?? table;
}

/** Every column of the query's tables whose schema is loaded. */
export function availableColumns(state: IBuilderState): IColumnChoice[] {
  const tables = queryTables(state);
  const many = tables.length > 1;
  const out: IColumnChoice[] = [];
  for (const table of tables) {
    for (const c of state.schemas[table] ?? []) {
      out.push({
        ref: columnRef(table, c.name),
        table,
        column: c.name,
        type: c.type,
        label: many ? `${shortName(table)}.${c.name}` : c.name
      });
    }
  }
  return out;
}

/** SQL type of a column ref, `''` if unknown. */
export function columnType(state: IBuilderState, ref: string): string {
  const { table, column } = parseRef(ref);
  return state.schemas[table]?.find(c => c.name === column)?.type ?? '';
}

// --------------------------------------------------------------------------
// Types → value kinds

export type ValueKind = 'number' | 'date' | 'boolean' | 'text' | 'other';

const NUMERIC =
  /^(u?int|uinteger|integer|bigint|smallint|tinyint|hugeint|ubigint|usmallint|utinyint|int\d+|uint\d+|float|double|real|decimal|numeric|halffloat)/i;
const TEMPORAL = /^(date|timestamp|time|datetime)/i;
const TEXT = /^(varchar|char|text|string|large_string|utf8|large_utf8|bpchar|enum|uuid|dictionary)/i;
const BOOL = /^(bool|boolean)$/i;

/** True for SQL (`BIGINT`, `DECIMAL(10,2)`) and Arrow (`int64`, `double`) numbers. */
export function isNumericType(type: string): boolean {
  return NUMERIC.test(type.trim());
}

/** How a filter value of a column of this type is entered. */
export function valueKind(type: string): ValueKind {
  const t = type.trim();
  if (NUMERIC.test(t)) {
    return 'number';
  }
  if (TEMPORAL.test(t)) {
    return 'date';
  }
  if (BOOL.test(t)) {
    return 'boolean';
  }
  if (TEXT.test(t)) {
    return 'text';
  }
  return 'other';
}
