/** The paged result grid of the query builder: a plain, accessible <table>. */

import { isNumericType } from './columns';
import type { IColumnInfo } from './types';

/** A cell value as text (`null` stays visible as `null`). */
export function formatCell(value: unknown): string {
  if (value === null || value === undefined) {
    return 'null';
  }
  if (typeof value === 'object') {
    return JSON.stringify(value);
  }
  return String(value);
}

/** `Rows 1–100 of 1,234` (with `+` when the result was cut at the limit). */
export function pageLabel(
  offset: number,
  shown: number,
  total: number,
  truncated: boolean
): string {
  const fmt = (n: number): string =>
    String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  const more = truncated ? '+' : '';
  if (total === 0) {
    return 'No rows';
  }
  return `Rows ${fmt(offset + 1)}–${fmt(offset + shown)} of ${fmt(total)}${more}`;
}

/** Replace the content of `table` with a header row and the rows. */
export function renderGrid(
  table: HTMLTableElement,
  columns: IColumnInfo[],
  rows: unknown[][],
  offset = 0
): void {
  const doc = table.ownerDocument;
  const thead = doc.createElement('thead');
  const head = doc.createElement('tr');
  const corner = doc.createElement('th');
  corner.scope = 'col';
  corner.className = 'dap-grid-rownum';
  corner.textContent = '#';
  head.append(corner);
  for (const c of columns) {
    const th = doc.createElement('th');
    th.scope = 'col';
    th.textContent = c.name;
    th.title = c.type;
    head.append(th);
  }
  thead.append(head);
  const tbody = doc.createElement('tbody');
  rows.forEach((row, i) => {
    const tr = doc.createElement('tr');
    const num = doc.createElement('th');
    num.scope = 'row';
    num.className = 'dap-grid-rownum';
    num.textContent = String(offset + i + 1);
    tr.append(num);
    columns.forEach((c, j) => {
      const td = doc.createElement('td');
      const value = row[j];
      td.textContent = formatCell(value);
      if (value === null || value === undefined) {
        td.className = 'dap-grid-null';
      } else if (isNumericType(c.type)) {
        td.className = 'dap-grid-number';
      }
      tr.append(td);
    });
    tbody.append(tr);
  });
  table.replaceChildren(thead, tbody);
}
