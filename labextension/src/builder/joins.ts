/**
 * Join key suggestion: which columns of the tables already in the query
 * most likely join a new table, guessed from key-like names.
 */

import { columnRef, shortName } from './columns';
import type { IColumnInfo } from './types';

/** Key-like names joined when both tables have them (`id` = `id` is rarely meant). */
const KEY_NAME = /(_id|_key|_code)$/i;

function singular(name: string): string {
  if (/ies$/i.test(name)) {
    return name.slice(0, -3) + 'y';
  }
  if (/ses$/i.test(name)) {
    return name.slice(0, -2);
  }
  if (/s$/i.test(name)) {
    return name.slice(0, -1);
  }
  return name;
}

export interface ITableColumns {
  name: string;
  columns: IColumnInfo[];
}

/**
 * Join keys between the tables already in the query (`left`) and a new one
 * (`right`), most likely first: key columns with the same name
 * (`customer_id` = `customer_id`), then `<table>_id` → `id`, either way.
 * Refs are qualified (`schema.table.column`).
 */
export function suggestJoinKeys(
  left: ITableColumns[],
  right: ITableColumns
): { left: string; right: string }[] {
  const out: { left: string; right: string }[] = [];
  const seen = new Set<string>();
  const add = (l: string, r: string): void => {
    const key = `${l}=${r}`;
    if (!seen.has(key)) {
      seen.add(key);
      out.push({ left: l, right: r });
    }
  };
  const rightNames = new Map(
    right.columns.map(c => [c.name.toLowerCase(), c.name])
  );
  for (const t of left) {
    for (const c of t.columns) {
      const same = rightNames.get(c.name.toLowerCase());
      if (same !== undefined && KEY_NAME.test(c.name)) {
        add(columnRef(t.name, c.name), columnRef(right.name, same));
      }
    }
  }
  for (const t of left) {
    const leftNames = new Map(
      t.columns.map(c => [c.name.toLowerCase(), c.name])
    );
    // orders.customer_id -> customers.id
    const rightId = rightNames.get('id');
    const fk = leftNames.get(`${singular(shortName(right.name))}_id`);
    if (rightId !== undefined && fk !== undefined) {
      add(columnRef(t.name, fk), columnRef(right.name, rightId));
    }
    // customers.id <- orders.customer_id
    const leftId = leftNames.get('id');
    const rfk = rightNames.get(`${singular(shortName(t.name))}_id`);
    if (leftId !== undefined && rfk !== undefined) {
      add(columnRef(t.name, leftId), columnRef(right.name, rfk));
    }
  }
  return out;
}
