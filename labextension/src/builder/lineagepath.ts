/**
 * Column lineage over the table graph: the answer of
 * `lineage/{table}?column=COL` split into the tables and table edges the
 * column passes, the sentence the column picker announces, and the
 * columns the picker offers.
 */

import type { ILineage } from './api';
import { kindsOf, rootName } from './lineagegraph';

/**
 * The path of one column through the table graph, from the answer of
 * `lineage/{table}?column=COL`: the tables it passes (with their columns on
 * the path) and the table-to-table edges it takes.
 */
export interface IColumnPath {
  column: string;
  /** Table (or source) name → columns of it on the path. */
  tables: Map<string, string[]>;
  /** `source\0target` of table edges on the path. */
  edges: Set<string>;
  /** Column nodes up and down, nearest first, for the text summary. */
  upstream: string[];
  downstream: string[];
}

export function edgeKey(source: string, target: string): string {
  return `${source}\u0000${target}`;
}

/** Split a column graph into the tables and table edges it goes through. */
export function columnPath(columnLineage: ILineage): IColumnPath {
  const kinds = kindsOf(columnLineage);
  const root = rootName(columnLineage);
  kinds.set(root, 'column');
  const tableOf = (name: string): [string, string | null] => {
    const kind = kinds.get(name) ?? 'column';
    if (kind !== 'column') {
      return [name, null];
    }
    const dot = name.lastIndexOf('.');
    return dot > 0 ? [name.slice(0, dot), name.slice(dot + 1)] : [name, null];
  };
  const tables = new Map<string, string[]>();
  const mark = (name: string): string => {
    const [table, column] = tableOf(name);
    const list = tables.get(table) ?? [];
    if (column && !list.includes(column)) {
      list.push(column);
    }
    tables.set(table, list);
    return table;
  };
  mark(root);
  const edges = new Set<string>();
  for (const e of columnLineage.edges ?? []) {
    const s = mark(e.source);
    const t = mark(e.target);
    if (s !== t) {
      edges.add(edgeKey(s, t));
    }
  }
  return {
    column: columnLineage.column ?? '',
    tables,
    edges,
    upstream: columnLineage.upstream.map(n => n.name),
    downstream: columnLineage.downstream.map(n => n.name)
  };
}

/** One sentence for the column picker's live region. */
export function describeColumnPath(table: string, path: IColumnPath): string {
  const name = `${table}.${path.column}`;
  if (!path.upstream.length && !path.downstream.length) {
    return `No column lineage recorded for ${name}.`;
  }
  const parts = [`Column ${name}`];
  parts.push(path.upstream.length ? `comes from ${path.upstream.join(', ')}` : 'has no recorded sources');
  parts.push(path.downstream.length ? `feeds ${path.downstream.join(', ')}` : 'feeds nothing recorded');
  return `${parts[0]} ${parts[1]}; ${parts[2]}.`;
}

/** The table's columns, plus any its column edges name that the catalog did not list. */
export function mergeColumns(columns: string[], lineage: ILineage): string[] {
  const all = [...columns];
  for (const c of lineage.columns ?? []) {
    if (c.target_table === lineage.table && !all.includes(c.target_column)) {
      all.push(c.target_column);
    }
    if (c.source_table === lineage.table && !all.includes(c.source_column)) {
      all.push(c.source_column);
    }
  }
  return all;
}
