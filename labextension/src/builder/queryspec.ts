/**
 * What the builder hands on: the `POST /dap/api/v1/query/build` spec of a
 * state, the spec that lists a column's distinct values, and the notebook
 * cell "Insert as cell" adds.
 *
 * Columns are written bare when the query has one table and qualified
 * (`schema.table.column`) when it has joins, so a column present in two
 * tables is never ambiguous for the server.
 */

import { columnType, parseRef } from './columns';
import { filterValue } from './filters';
import { aggregateAliases, isGrouped } from './outputs';
import { ALL_ROWS, type IBuilderState, type IQuerySpec } from './types';

/** The column as the spec writes it: bare with one table, qualified with joins. */
export function specColumn(state: IBuilderState, ref: string): string {
  return state.joins.length ? ref : parseRef(ref).column;
}

/**
 * The `query/build` spec for the state, `null` while no table is chosen.
 * Unfinished parts (a filter without a value, an aggregate without a
 * column) are left out rather than sent.
 */
export function specFromState(state: IBuilderState): IQuerySpec | null {
  if (!state.table) {
    return null;
  }
  const col = (ref: string): string => specColumn(state, ref);
  const grouped = isGrouped(state);
  const aliases = aggregateAliases(state);
  const spec: IQuerySpec = {
    table: state.table,
    joins: state.joins
      .filter(j => j.table && j.left && j.right)
      .map(j => ({
        table: j.table,
        type: j.type,
        on: [{ left: col(j.left), right: col(j.right) }]
      })),
    columns: grouped ? [] : state.columns.map(col),
    filters: [],
    group_by: state.groupBy.filter(r => r).map(col),
    aggregates: [],
    order_by: []
  };
  for (const f of state.filters) {
    if (!f.column) {
      continue;
    }
    const value = filterValue(f, columnType(state, f.column));
    if (value !== undefined) {
      spec.filters.push({ column: col(f.column), op: f.op, ...value });
    }
  }
  for (const a of state.aggregates) {
    if (a.column === ALL_ROWS) {
      if (a.func === 'count') {
        spec.aggregates.push({ func: 'count', alias: aliases.get(a.id)! });
      }
    } else if (a.column) {
      spec.aggregates.push({
        func: a.func,
        column: col(a.column),
        alias: aliases.get(a.id)!
      });
    }
  }
  const sentAggs = new Set(
    state.aggregates
      .filter(a => (a.column === ALL_ROWS ? a.func === 'count' : a.column))
      .map(a => `agg:${a.id}`)
  );
  for (const o of state.orderBy) {
    if (o.key.startsWith('agg:')) {
      if (sentAggs.has(o.key)) {
        const alias = aliases.get(Number(o.key.slice(4)));
        spec.order_by.push({ column: alias!, descending: o.descending });
      }
    } else if (o.key) {
      spec.order_by.push({ column: col(o.key), descending: o.descending });
    }
  }
  if (state.limit !== null) {
    spec.limit = state.limit;
  }
  return spec;
}

/** The spec that lists a column's distinct values (for a filter's value list). */
export function valuesSpec(
  table: string,
  column: string,
  limit = VALUE_LIST_LIMIT
): IQuerySpec {
  return {
    table,
    joins: [],
    columns: [],
    filters: [],
    group_by: [column],
    aggregates: [],
    order_by: [{ column, descending: false }],
    limit
  };
}

/** Values shown at most in a filter's value list. */
export const VALUE_LIST_LIMIT = 200;

/** Source of the notebook cell "Insert as cell" adds. */
export function cellSource(displaySql: string): string {
  return `%%dap sql\n${displaySql.trim()}\n`;
}
