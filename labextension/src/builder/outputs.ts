/**
 * Outputs of the query: whether it is grouped, the output names of its
 * aggregates (unique, as the server names them) and the sort keys it
 * offers. Shared by the reducers (sort keys must stay valid) and the spec.
 */

import { availableColumns, parseRef } from './columns';
import { ALL_ROWS, type IAggregateState, type IBuilderState } from './types';

export function isGrouped(state: IBuilderState): boolean {
  return state.groupBy.length > 0 || state.aggregates.length > 0;
}

/** Default output name of an aggregate, as the server names it. */
export function defaultAlias(agg: IAggregateState): string {
  if (agg.column === ALL_ROWS || agg.column === '') {
    return agg.func === 'count' ? 'count' : agg.func;
  }
  return `${agg.func}_${parseRef(agg.column).column}`;
}

/**
 * Output names of the aggregates (the user's alias or the default), made
 * unique against each other and the group-by columns (`count`, `count_2`).
 */
export function aggregateAliases(state: IBuilderState): Map<number, string> {
  const used = new Set(
    state.groupBy.filter(r => r).map(r => parseRef(r).column.toLowerCase())
  );
  const explicit = new Set(
    state.aggregates.map(a => a.alias.trim().toLowerCase()).filter(a => a)
  );
  const out = new Map<number, string>();
  for (const a of state.aggregates) {
    const own = a.alias.trim();
    const base = own || defaultAlias(a);
    let name = base;
    let n = 2;
    while (
      used.has(name.toLowerCase()) ||
      (!own && explicit.has(name.toLowerCase()))
    ) {
      name = `${base}_${n++}`;
    }
    out.set(a.id, name);
    used.add(name.toLowerCase());
  }
  return out;
}

/** Sort choices: outputs of a grouped query, any column otherwise. */
export function sortChoices(
  state: IBuilderState
): { key: string; label: string }[] {
  if (!isGrouped(state)) {
    return availableColumns(state).map(c => ({ key: c.ref, label: c.label }));
  }
  const labels = new Map(availableColumns(state).map(c => [c.ref, c.label]));
  const aliases = aggregateAliases(state);
  return [
    ...state.groupBy
      .filter(r => r)
      .map(r => ({ key: r, label: labels.get(r) ?? parseRef(r).column })),
    ...state.aggregates.map(a => ({
      key: `agg:${a.id}`,
      label: aliases.get(a.id) ?? defaultAlias(a)
    }))
  ];
}
