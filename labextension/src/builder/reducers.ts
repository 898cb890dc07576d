/**
 * Reducers of the builder state: each takes a state and returns a new one
 * (add/remove a join, a filter, a group-by column, an aggregate, a sort
 * key), pruning what no longer fits — references to a table that left the
 * query, sort keys that are no longer outputs, operators a new column's
 * type does not offer.
 *
 * Pure: no DOM, no `@jupyterlab/*`; jest tests them directly.
 */

import { columnType, parseRef, queryTables } from './columns';
import { operandShape, operatorsFor } from './filters';
import { sortChoices } from './outputs';
import {
  ALL_ROWS,
  DEFAULT_LIMIT,
  type AggregateFunc,
  type IAggregateState,
  type IBuilderState,
  type IColumnInfo,
  type IFilterState,
  type IJoinState,
  type IOrderState,
  type JoinType
} from './types';

export function initialState(table = ''): IBuilderState {
  return {
    table,
    joins: [],
    columns: [],
    filters: [],
    groupBy: [],
    aggregates: [],
    orderBy: [],
    limit: DEFAULT_LIMIT,
    schemas: {},
    nextId: 1
  };
}

/** Choose the main table: everything that depended on the old one goes. */
export function setTable(state: IBuilderState, table: string): IBuilderState {
  return { ...initialState(table), schemas: state.schemas, nextId: state.nextId };
}

export function setSchema(
  state: IBuilderState,
  table: string,
  columns: IColumnInfo[]
): IBuilderState {
  return { ...state, schemas: { ...state.schemas, [table]: columns } };
}

export function setLimit(
  state: IBuilderState,
  limit: number | null
): IBuilderState {
  const valid =
    limit !== null && Number.isFinite(limit) && limit >= 1
      ? Math.floor(limit)
      : null;
  return { ...state, limit: valid };
}

/** Drop every reference to columns of tables no longer in the query. */
function pruneRefs(state: IBuilderState): IBuilderState {
  const tables = new Set(queryTables(state));
  const keep = (ref: string): boolean => tables.has(parseRef(ref).table);
  const aggregates = state.aggregates.filter(
    a => a.column === ALL_ROWS || keep(a.column)
  );
  const aggIds = new Set(aggregates.map(a => `agg:${a.id}`));
  return {
    ...state,
    joins: state.joins.map((j, i) => {
      const before = new Set(queryTables(state).slice(0, i + 1));
      return before.has(parseRef(j.left).table) ? j : { ...j, left: '' };
    }),
    columns: state.columns.filter(keep),
    filters: state.filters.filter(f => keep(f.column)),
    groupBy: state.groupBy.filter(keep),
    aggregates,
    orderBy: state.orderBy.filter(o =>
      o.key.startsWith('agg:') ? aggIds.has(o.key) : keep(o.key)
    )
  };
}

export function addJoin(
  state: IBuilderState,
  table: string,
  keys?: { left: string; right: string },
  type: JoinType = 'inner'
): IBuilderState {
  const join: IJoinState = {
    id: state.nextId,
    table,
    type,
    left: keys?.left ?? '',
    right: keys?.right ?? ''
  };
  return { ...state, joins: [...state.joins, join], nextId: state.nextId + 1 };
}

export function updateJoin(
  state: IBuilderState,
  id: number,
  patch: Partial<Omit<IJoinState, 'id'>>
): IBuilderState {
  const joins = state.joins.map(j => {
    if (j.id !== id) {
      return j;
    }
    const next = { ...j, ...patch };
    if (patch.table !== undefined && patch.table !== j.table) {
      next.right = patch.right ?? '';
      next.left = patch.left ?? j.left;
    }
    return next;
  });
  return pruneRefs({ ...state, joins });
}

export function removeJoin(state: IBuilderState, id: number): IBuilderState {
  return pruneRefs({ ...state, joins: state.joins.filter(j => j.id !== id) });
}

export function toggleColumn(state: IBuilderState, ref: string): IBuilderState {
  const columns = state.columns.includes(ref)
    ? state.columns.filter(c => c !== ref)
    : [...state.columns, ref];
  return { ...state, columns };
}

export function addFilter(state: IBuilderState, column = ''): IBuilderState {
  const ops = operatorsFor(columnType(state, column));
  const filter: IFilterState = {
    id: state.nextId,
    column,
    op: ops[0],
    value: '',
    value2: '',
    values: []
  };
  return {
    ...state,
    filters: [...state.filters, filter],
    nextId: state.nextId + 1
  };
}

export function updateFilter(
  state: IBuilderState,
  id: number,
  patch: Partial<Omit<IFilterState, 'id'>>
): IBuilderState {
  const filters = state.filters.map(f => {
    if (f.id !== id) {
      return f;
    }
    const next = { ...f, ...patch };
    if (patch.column !== undefined && patch.column !== f.column) {
      // A new column: its type decides the operators and the value input.
      const ops = operatorsFor(columnType(state, patch.column));
      next.op = patch.op ?? (ops.includes(f.op) ? f.op : ops[0]);
      next.value = patch.value ?? '';
      next.value2 = patch.value2 ?? '';
      next.values = patch.values ?? [];
    } else if (
      patch.op !== undefined &&
      operandShape(patch.op) !== operandShape(f.op)
    ) {
      next.value2 = patch.value2 ?? '';
      next.values = patch.values ?? [];
      if (operandShape(patch.op) === 'none') {
        next.value = '';
      }
    }
    return next;
  });
  return { ...state, filters };
}

export function removeFilter(state: IBuilderState, id: number): IBuilderState {
  return { ...state, filters: state.filters.filter(f => f.id !== id) };
}

export function addGroupBy(state: IBuilderState, ref: string): IBuilderState {
  if (state.groupBy.includes(ref)) {
    return state;
  }
  return { ...state, groupBy: [...state.groupBy, ref] };
}

export function updateGroupBy(
  state: IBuilderState,
  index: number,
  ref: string
): IBuilderState {
  const groupBy = state.groupBy.slice();
  groupBy[index] = ref;
  return pruneOrder({ ...state, groupBy: dedupe(groupBy) });
}

export function removeGroupBy(
  state: IBuilderState,
  index: number
): IBuilderState {
  return pruneOrder({
    ...state,
    groupBy: state.groupBy.filter((_, i) => i !== index)
  });
}

export function addAggregate(
  state: IBuilderState,
  func: AggregateFunc = 'count',
  column: string = ALL_ROWS
): IBuilderState {
  const agg: IAggregateState = { id: state.nextId, func, column, alias: '' };
  return {
    ...state,
    aggregates: [...state.aggregates, agg],
    nextId: state.nextId + 1
  };
}

export function updateAggregate(
  state: IBuilderState,
  id: number,
  patch: Partial<Omit<IAggregateState, 'id'>>
): IBuilderState {
  const aggregates = state.aggregates.map(a => {
    if (a.id !== id) {
      return a;
    }
    const next = { ...a, ...patch };
    if (next.func !== 'count' && next.column === ALL_ROWS) {
      next.column = '';
    }
    return next;
  });
  return { ...state, aggregates };
}

export function removeAggregate(
  state: IBuilderState,
  id: number
): IBuilderState {
  return pruneOrder({
    ...state,
    aggregates: state.aggregates.filter(a => a.id !== id)
  });
}

export function addOrder(
  state: IBuilderState,
  key: string,
  descending = false
): IBuilderState {
  const order: IOrderState = { id: state.nextId, key, descending };
  return {
    ...state,
    orderBy: [...state.orderBy, order],
    nextId: state.nextId + 1
  };
}

export function updateOrder(
  state: IBuilderState,
  id: number,
  patch: Partial<Omit<IOrderState, 'id'>>
): IBuilderState {
  return {
    ...state,
    orderBy: state.orderBy.map(o => (o.id === id ? { ...o, ...patch } : o))
  };
}

export function removeOrder(state: IBuilderState, id: number): IBuilderState {
  return { ...state, orderBy: state.orderBy.filter(o => o.id !== id) };
}

function dedupe(refs: string[]): string[] {
  return refs.filter((r, i) => r === '' || refs.indexOf(r) === i);
}

/** Sort keys must stay valid outputs when grouping changes. */
function pruneOrder(state: IBuilderState): IBuilderState {
  const valid = new Set(sortChoices(state).map(c => c.key));
  return { ...state, orderBy: state.orderBy.filter(o => valid.has(o.key)) };
}
