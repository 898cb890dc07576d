/**
 * The catalog tree: schema → tables → columns.
 *
 * Pure state (`CatalogTree`), flattening into the visible rows, the keyboard
 * map of the WAI-ARIA tree pattern (`treeKeyAction`) and DOM rendering
 * (`renderTree`). No `@jupyterlab/*` or `@lumino/*` imports, so jest tests it
 * directly; `panel.ts` wires it to the server.
 */
import {
  CSS,
  ICatalogTable,
  IColumnInfo,
  formatRowCount,
  hasPii,
  tableTooltip
} from './catalog';
import { IQualityStatus, QUALITY_CSS, renderQualityDot } from './quality';

/** CSS classes of the tree (table rows keep `dap-catalog-item`). */
export const TREE_CSS = {
  tree: 'dap-catalog-tree',
  row: 'dap-tree-row',
  schema: 'dap-catalog-schema',
  column: 'dap-catalog-column',
  message: 'dap-tree-message',
  messageError: 'dap-tree-message-error',
  twisty: 'dap-tree-twisty',
  focused: 'dap-mod-focused',
  denied: 'dap-denied',
  pii: 'dap-pii-badge',
  masked: 'dap-masked-badge',
  type: 'dap-catalog-column-type',
  open: 'dap-catalog-open'
} as const;

/** Tooltip of a table the caller may not read. */
export const DENIED_TOOLTIP =
  'You do not have access to this table (ask its owner for a grant)';

/** Tooltip of a PII badge. */
export const PII_TOOLTIP = 'Personal data (tagged pii): handle with care';

/** Loading state of a table's columns. */
export type ColumnsState =
  | { status: 'loading' }
  | { status: 'loaded'; columns: IColumnInfo[] }
  | { status: 'error'; message: string };

/** One visible row of the tree. */
export type TreeNode =
  | {
      kind: 'schema';
      id: string;
      level: 1;
      schema: string;
      expanded: boolean;
      count: number;
    }
  | {
      kind: 'table';
      id: string;
      level: 2;
      parent: string;
      table: ICatalogTable;
      expanded: boolean;
      denied: boolean;
    }
  | {
      kind: 'column';
      id: string;
      level: 3;
      parent: string;
      table: string;
      column: IColumnInfo;
    }
  | {
      kind: 'message';
      id: string;
      level: 3;
      parent: string;
      text: string;
      error: boolean;
    };

export const schemaId = (schema: string): string => `schema:${schema}`;
export const tableId = (table: string): string => `table:${table}`;

/** Schema of a table: its `schema` field, else the part before the dot. */
export function schemaOf(table: ICatalogTable): string {
  if (table.schema) {
    return table.schema;
  }
  const dot = table.name.indexOf('.');
  return dot > 0 ? table.name.slice(0, dot) : 'main';
}

/** Bare table name: its `table` field, else the part after the schema. */
export function bareName(table: ICatalogTable): string {
  if (table.table) {
    return table.table;
  }
  const dot = table.name.indexOf('.');
  return dot > 0 ? table.name.slice(dot + 1) : table.name;
}

const byName = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/**
 * State of the tree: the tables, which nodes are expanded, the columns
 * loaded so far and the focused row. Schemas start expanded, tables
 * collapsed.
 */
export class CatalogTree {
  /** The tables, as last loaded. */
  get tables(): ReadonlyArray<ICatalogTable> {
    return this._tables;
  }

  /** Id of the focused row (`null` before any focus). */
  focusedId: string | null = null;

  /**
   * Replace the tables (after a refresh or search). Expansion and loaded
   * columns of tables still present are kept.
   */
  setTables(tables: ReadonlyArray<ICatalogTable>): void {
    this._tables = [...tables].sort((a, b) => byName(a.name, b.name));
    const names = new Set(this._tables.map(t => t.name));
    for (const name of [...this._expandedTables]) {
      if (!names.has(name)) {
        this._expandedTables.delete(name);
      }
    }
    for (const name of [...this._columns.keys()]) {
      if (!names.has(name)) {
        this._columns.delete(name);
      }
    }
    if (this.focusedId && !this.nodes().some(n => n.id === this.focusedId)) {
      this.focusedId = null;
    }
  }

  /** The table called `name`, if listed. */
  table(name: string): ICatalogTable | undefined {
    return this._tables.find(t => t.name === name);
  }

  /** Whether the caller may read the table (listed with `readable: false`). */
  isDenied(name: string): boolean {
    return this.table(name)?.readable === false;
  }

  columns(table: string): ColumnsState | undefined {
    return this._columns.get(table);
  }

  setColumns(table: string, state: ColumnsState): void {
    this._columns.set(table, state);
  }

  /** Forget loaded columns (on refresh). */
  clearColumns(): void {
    this._columns.clear();
  }

  isExpanded(id: string): boolean {
    if (id.startsWith('schema:')) {
      return !this._collapsedSchemas.has(id.slice('schema:'.length));
    }
    if (id.startsWith('table:')) {
      return this._expandedTables.has(id.slice('table:'.length));
    }
    return false;
  }

  /** Whether the row can be expanded at all (denied tables cannot). */
  isExpandable(id: string): boolean {
    if (id.startsWith('schema:')) {
      return true;
    }
    if (id.startsWith('table:')) {
      const name = id.slice('table:'.length);
      return this.table(name) !== undefined && !this.isDenied(name);
    }
    return false;
  }

  /**
   * Expand a row. Returns the table whose columns must now be fetched
   * (expanded, never loaded or failed before), else `null`.
   */
  expand(id: string): string | null {
    if (!this.isExpandable(id)) {
      return null;
    }
    if (id.startsWith('schema:')) {
      this._collapsedSchemas.delete(id.slice('schema:'.length));
      return null;
    }
    const name = id.slice('table:'.length);
    this._expandedTables.add(name);
    const state = this._columns.get(name);
    if (!state || state.status === 'error') {
      this._columns.set(name, { status: 'loading' });
      return name;
    }
    return null;
  }

  collapse(id: string): void {
    if (id.startsWith('schema:')) {
      this._collapsedSchemas.add(id.slice('schema:'.length));
    } else if (id.startsWith('table:')) {
      this._expandedTables.delete(id.slice('table:'.length));
    }
  }

  /** Expand or collapse; returns what {@link expand} returns. */
  toggle(id: string): string | null {
    if (this.isExpanded(id)) {
      this.collapse(id);
      return null;
    }
    return this.expand(id);
  }

  /** The visible rows, in display order. */
  nodes(): TreeNode[] {
    const bySchema = new Map<string, ICatalogTable[]>();
    for (const table of this._tables) {
      const schema = schemaOf(table);
      const list = bySchema.get(schema) ?? [];
      list.push(table);
      bySchema.set(schema, list);
    }
    const nodes: TreeNode[] = [];
    for (const schema of [...bySchema.keys()].sort(byName)) {
      const tables = bySchema.get(schema)!;
      const sid = schemaId(schema);
      const expanded = this.isExpanded(sid);
      nodes.push({
        kind: 'schema',
        id: sid,
        level: 1,
        schema,
        expanded,
        count: tables.length
      });
      if (!expanded) {
        continue;
      }
      for (const table of tables) {
        const tid = tableId(table.name);
        const denied = table.readable === false;
        const open = !denied && this._expandedTables.has(table.name);
        nodes.push({
          kind: 'table',
          id: tid,
          level: 2,
          parent: sid,
          table,
          expanded: open,
          denied
        });
        if (open) {
          nodes.push(...this._columnNodes(table.name, tid));
        }
      }
    }
    return nodes;
  }

  private _columnNodes(table: string, parent: string): TreeNode[] {
    const state = this._columns.get(table);
    const message = (text: string, error: boolean): TreeNode => ({
      kind: 'message',
      id: `message:${table}`,
      level: 3,
      parent,
      text,
      error
    });
    if (!state || state.status === 'loading') {
      return [message('Loading columns…', false)];
    }
    if (state.status === 'error') {
      return [message(state.message, true)];
    }
    if (state.columns.length === 0) {
      return [message('No columns you may see.', false)];
    }
    return state.columns.map(column => ({
      kind: 'column' as const,
      id: `column:${table}.${column.name}`,
      level: 3 as const,
      parent,
      table,
      column
    }));
  }

  private _tables: ICatalogTable[] = [];
  private _collapsedSchemas = new Set<string>();
  private _expandedTables = new Set<string>();
  private _columns = new Map<string, ColumnsState>();
}

/** What a key press on the tree asks for. */
export type TreeAction =
  | { type: 'focus'; id: string }
  | { type: 'expand'; id: string }
  | { type: 'collapse'; id: string }
  | { type: 'toggle'; id: string }
  | { type: 'open'; table: string };

/**
 * The WAI-ARIA tree keyboard map: ↑/↓ move, Home/End jump, → expands or
 * enters, ← collapses or goes to the parent, Enter opens a table (toggles a
 * schema), Space toggles. Returns `null` for keys the tree does not handle.
 */
export function treeKeyAction(
  tree: CatalogTree,
  key: string,
  currentId: string | null
): TreeAction | null {
  const nodes = tree.nodes();
  if (nodes.length === 0) {
    return null;
  }
  let index = nodes.findIndex(n => n.id === currentId);
  if (index < 0) {
    index = 0;
    if (['ArrowDown', 'ArrowUp', 'Home', 'End'].includes(key)) {
      return { type: 'focus', id: nodes[key === 'End' ? nodes.length - 1 : 0].id };
    }
  }
  const node = nodes[index];
  switch (key) {
    case 'ArrowDown':
      return { type: 'focus', id: nodes[Math.min(index + 1, nodes.length - 1)].id };
    case 'ArrowUp':
      return { type: 'focus', id: nodes[Math.max(index - 1, 0)].id };
    case 'Home':
      return { type: 'focus', id: nodes[0].id };
    case 'End':
      return { type: 'focus', id: nodes[nodes.length - 1].id };
    case 'ArrowRight':
      if (tree.isExpandable(node.id) && !tree.isExpanded(node.id)) {
        return { type: 'expand', id: node.id };
      }
      if (tree.isExpanded(node.id) && nodes[index + 1]?.level > node.level) {
        return { type: 'focus', id: nodes[index + 1].id };
      }
      return null;
    case 'ArrowLeft':
      if (tree.isExpanded(node.id)) {
        return { type: 'collapse', id: node.id };
      }
      if (node.kind !== 'schema') {
        return { type: 'focus', id: node.parent };
      }
      return null;
    case 'Enter':
      if (node.kind === 'table') {
        return node.denied ? null : { type: 'open', table: node.table.name };
      }
      if (node.kind === 'column') {
        return { type: 'open', table: node.table };
      }
      return node.kind === 'schema' ? { type: 'toggle', id: node.id } : null;
    case ' ':
    case 'Spacebar':
      return tree.isExpandable(node.id) ? { type: 'toggle', id: node.id } : null;
    default:
      return null;
  }
}

function span(doc: Document, className: string, text: string): HTMLSpanElement {
  const el = doc.createElement('span');
  el.className = className;
  el.textContent = text;
  return el;
}

/**
 * Tag chips; the `pii` tag is drawn as the PII badge (same text, so it
 * reads the same to a screen reader and to `innerText`).
 */
export function renderTags(
  tags: ReadonlyArray<string>,
  doc: Document = document
): HTMLSpanElement | null {
  if (tags.length === 0) {
    return null;
  }
  const container = span(doc, CSS.tags, '');
  for (const tag of tags) {
    const chip = span(doc, CSS.tag, tag);
    if (tag.toLowerCase() === 'pii') {
      chip.classList.add(TREE_CSS.pii);
      chip.title = PII_TOOLTIP;
    }
    container.appendChild(chip);
  }
  return container;
}

/** The badge shown on a column whose values reach the caller masked. */
export function renderMaskedBadge(doc: Document = document): HTMLSpanElement {
  const badge = span(doc, TREE_CSS.masked, 'masked');
  badge.title = 'Values of this column reach you masked';
  return badge;
}

const SVG_NS = 'http://www.w3.org/2000/svg';

/** A small "open in a tab" icon (inline SVG: no font glyph needed). */
function openIcon(doc: Document): SVGSVGElement {
  const svg = doc.createElementNS(SVG_NS, 'svg');
  svg.setAttribute('viewBox', '0 0 24 24');
  svg.setAttribute('width', '14');
  svg.setAttribute('height', '14');
  svg.setAttribute('aria-hidden', 'true');
  const path = doc.createElementNS(SVG_NS, 'path');
  path.setAttribute(
    'd',
    'M19 19H5V5h7V3H5a2 2 0 0 0-2 2v14a2 2 0 0 0 2 2h14c1.1 0 2-.9 2-2v-7h-2v7zM14 3v2h3.59l-9.83 9.83 1.41 1.41L19 6.41V10h2V3h-7z'
  );
  path.setAttribute('fill', 'currentColor');
  svg.appendChild(path);
  return svg;
}

function twisty(doc: Document, node: TreeNode, expandable: boolean): HTMLElement {
  const el = span(doc, TREE_CSS.twisty, '');
  el.setAttribute('aria-hidden', 'true');
  if (expandable) {
    el.textContent = 'expanded' in node && node.expanded ? '▾' : '▸';
  }
  return el;
}

/** The quality badge known for a table: `undefined` while not loaded, `null` for none. */
export type QualityLookup = (table: string) => IQualityStatus | null | undefined;

/**
 * Put (or replace, or remove) the quality dot of a table row, right after
 * its name; used when a badge arrives after the row was drawn.
 */
export function setRowQuality(
  li: HTMLElement,
  status: IQualityStatus | null | undefined
): void {
  li.querySelector(`.${QUALITY_CSS.dot}`)?.remove();
  const dot = renderQualityDot(status, li.ownerDocument);
  const name = li.querySelector(`.${CSS.itemName}`);
  if (dot && name) {
    name.after(dot);
  }
}

/** Build one `<li role="treeitem">`. */
export function renderNode(
  node: TreeNode,
  tree: CatalogTree,
  doc: Document = document,
  quality?: QualityLookup
): HTMLLIElement {
  const li = doc.createElement('li');
  li.setAttribute('role', 'treeitem');
  li.setAttribute('aria-level', String(node.level));
  li.dataset.id = node.id;
  li.tabIndex = -1;
  li.classList.add(TREE_CSS.row);
  li.style.setProperty('--dap-tree-level', String(node.level - 1));
  const expandable = tree.isExpandable(node.id);
  if (expandable) {
    li.setAttribute('aria-expanded', String(tree.isExpanded(node.id)));
  }
  li.appendChild(twisty(doc, node, expandable));

  switch (node.kind) {
    case 'schema': {
      li.classList.add(TREE_CSS.schema);
      li.dataset.schema = node.schema;
      li.appendChild(span(doc, CSS.itemName, node.schema));
      li.appendChild(
        span(doc, CSS.itemRows, node.count === 1 ? '1 table' : `${node.count} tables`)
      );
      break;
    }
    case 'table': {
      const table = node.table;
      li.classList.add(CSS.item);
      li.dataset.table = table.name;
      li.appendChild(span(doc, CSS.itemName, bareName(table)));
      if (node.denied) {
        li.classList.add(TREE_CSS.denied);
        li.setAttribute('aria-disabled', 'true');
        li.title = `${table.name}\n${DENIED_TOOLTIP}`;
        li.appendChild(span(doc, CSS.itemRows, 'no access'));
      } else {
        const kind = table.kind ? ` (${table.kind})` : '';
        li.title = `${tableTooltip(table)}${kind}\nEnter or double-click: open details`;
        if (quality) {
          setRowQuality(li, quality(table.name));
        }
        li.appendChild(
          span(
            doc,
            CSS.itemRows,
            table.row_count === null || table.row_count === undefined
              ? 'rows hidden'
              : formatRowCount(table.row_count)
          )
        );
        const open = doc.createElement('button');
        open.type = 'button';
        open.className = TREE_CSS.open;
        open.tabIndex = -1; // Enter on the row does the same
        open.appendChild(openIcon(doc));
        open.title = `Open ${table.name}`;
        open.setAttribute('aria-label', `Open details of ${table.name}`);
        li.appendChild(open);
      }
      const tags = renderTags(table.tags ?? [], doc);
      if (tags) {
        li.appendChild(tags);
      }
      break;
    }
    case 'column': {
      const column = node.column;
      li.classList.add(TREE_CSS.column);
      li.dataset.column = `${node.table}.${column.name}`;
      li.title = [
        `${column.name} ${column.type}`,
        column.description,
        hasPii(column.tags) ? PII_TOOLTIP : ''
      ]
        .filter(Boolean)
        .join('\n');
      li.appendChild(span(doc, CSS.itemName, column.name));
      li.appendChild(span(doc, TREE_CSS.type, column.type));
      if (column.masked) {
        li.appendChild(renderMaskedBadge(doc));
      }
      const tags = renderTags(column.tags, doc);
      if (tags) {
        li.appendChild(tags);
      }
      break;
    }
    case 'message': {
      li.classList.add(TREE_CSS.message);
      li.setAttribute('aria-disabled', 'true');
      if (node.error) {
        li.classList.add(TREE_CSS.messageError);
      }
      li.appendChild(span(doc, '', node.text));
      break;
    }
  }
  return li;
}

/**
 * Replace the rows of `list` (a `<ul role="tree">`). The focused row (or
 * the first one) gets `tabindex=0` — the roving tabindex of the ARIA tree
 * pattern. An empty catalog yields the empty-state placeholder.
 */
export function renderTree(
  list: HTMLElement,
  tree: CatalogTree,
  emptyMessage: string,
  quality?: QualityLookup
): HTMLLIElement[] {
  const doc = list.ownerDocument;
  const nodes = tree.nodes();
  if (nodes.length === 0) {
    const li = doc.createElement('li');
    li.className = CSS.empty;
    li.textContent = emptyMessage;
    list.replaceChildren(li);
    return [li];
  }
  const focused = nodes.some(n => n.id === tree.focusedId)
    ? tree.focusedId
    : nodes[0].id;
  const items = nodes.map(node => {
    const li = renderNode(node, tree, doc, quality);
    if (node.id === focused) {
      li.tabIndex = 0;
      li.classList.add(TREE_CSS.focused);
    }
    return li;
  });
  list.replaceChildren(...items);
  return items;
}
