import { CSS, ICatalogTable, IColumnInfo } from './catalog';
import {
  CatalogTree,
  DENIED_TOOLTIP,
  TREE_CSS,
  bareName,
  renderTree,
  schemaOf,
  treeKeyAction
} from './tree';

const T = (name: string, extra: Partial<ICatalogTable> = {}): ICatalogTable => ({
  name,
  schema: name.split('.')[0],
  table: name.split('.')[1],
  row_count: 10,
  tags: [],
  readable: true,
  ...extra
});

const COL = (name: string, extra: Partial<IColumnInfo> = {}): IColumnInfo => ({
  name,
  type: 'VARCHAR',
  nullable: true,
  description: '',
  tags: [],
  masked: false,
  null_count: 0,
  distinct_count: 1,
  min_value: null,
  max_value: null,
  ...extra
});

const TABLES = [
  T('main.orders'),
  T('main.customers', { tags: ['pii', 'retail'] }),
  T('staging.raw', { readable: false, row_count: null }),
  T('main.audit', { readable: false, row_count: null })
];

function ids(tree: CatalogTree): string[] {
  return tree.nodes().map(n => n.id);
}

describe('schemaOf / bareName', () => {
  it('uses the fields, else splits the name', () => {
    expect(schemaOf({ name: 'a.b', schema: 's' })).toBe('s');
    expect(schemaOf({ name: 'a.b' })).toBe('a');
    expect(schemaOf({ name: 'plain' })).toBe('main');
    expect(bareName({ name: 'a.b' })).toBe('b');
    expect(bareName({ name: 'a.b', table: 't' })).toBe('t');
    expect(bareName({ name: 'plain' })).toBe('plain');
  });
});

describe('CatalogTree', () => {
  it('groups tables by schema, sorted, schemas expanded', () => {
    const tree = new CatalogTree();
    tree.setTables(TABLES);
    expect(ids(tree)).toEqual([
      'schema:main',
      'table:main.audit',
      'table:main.customers',
      'table:main.orders',
      'schema:staging',
      'table:staging.raw'
    ]);
    const main = tree.nodes()[0];
    expect(main.kind === 'schema' && main.count).toBe(3);
  });

  it('collapses schemas and expands tables with a column load', () => {
    const tree = new CatalogTree();
    tree.setTables(TABLES);
    tree.collapse('schema:staging');
    expect(ids(tree)).not.toContain('table:staging.raw');
    expect(tree.toggle('schema:staging')).toBeNull();
    expect(ids(tree)).toContain('table:staging.raw');

    // First expand asks for the columns and shows a loading row.
    expect(tree.expand('table:main.orders')).toBe('main.orders');
    expect(tree.columns('main.orders')).toEqual({ status: 'loading' });
    let nodes = tree.nodes();
    const at = nodes.findIndex(n => n.id === 'table:main.orders');
    expect(nodes[at + 1]).toMatchObject({ kind: 'message', text: 'Loading columns…' });

    tree.setColumns('main.orders', {
      status: 'loaded',
      columns: [COL('id', { type: 'BIGINT' }), COL('email', { tags: ['pii'] })]
    });
    nodes = tree.nodes();
    expect(nodes.slice(at + 1, at + 3).map(n => n.id)).toEqual([
      'column:main.orders.id',
      'column:main.orders.email'
    ]);
    // Collapse and expand again: no second fetch.
    tree.collapse('table:main.orders');
    expect(ids(tree)).not.toContain('column:main.orders.id');
    expect(tree.expand('table:main.orders')).toBeNull();
  });

  it('retries a failed column load and shows the error', () => {
    const tree = new CatalogTree();
    tree.setTables(TABLES);
    tree.expand('table:main.orders');
    tree.setColumns('main.orders', { status: 'error', message: 'boom' });
    expect(tree.nodes().find(n => n.kind === 'message')).toMatchObject({
      text: 'boom',
      error: true
    });
    tree.collapse('table:main.orders');
    expect(tree.expand('table:main.orders')).toBe('main.orders');
  });

  it('never expands a table the user may not read', () => {
    const tree = new CatalogTree();
    tree.setTables(TABLES);
    expect(tree.isDenied('main.audit')).toBe(true);
    expect(tree.isExpandable('table:main.audit')).toBe(false);
    expect(tree.expand('table:main.audit')).toBeNull();
    expect(tree.toggle('table:main.audit')).toBeNull();
    expect(tree.isExpanded('table:main.audit')).toBe(false);
  });

  it('keeps expansion of tables that survive a reload, drops the rest', () => {
    const tree = new CatalogTree();
    tree.setTables(TABLES);
    tree.expand('table:main.orders');
    tree.expand('table:main.customers');
    tree.focusedId = 'table:main.customers';
    tree.setTables([T('main.orders')]);
    expect(tree.isExpanded('table:main.orders')).toBe(true);
    expect(tree.isExpanded('table:main.customers')).toBe(false);
    expect(tree.columns('main.customers')).toBeUndefined();
    expect(tree.focusedId).toBeNull();
  });
});

describe('treeKeyAction', () => {
  const tree = new CatalogTree();
  beforeEach(() => {
    tree.setTables(TABLES);
    tree.collapse('table:main.orders');
    tree.expand('schema:main');
  });

  it('moves with arrows, Home and End', () => {
    expect(treeKeyAction(tree, 'ArrowDown', 'schema:main')).toEqual({
      type: 'focus',
      id: 'table:main.audit'
    });
    expect(treeKeyAction(tree, 'ArrowUp', 'table:main.audit')).toEqual({
      type: 'focus',
      id: 'schema:main'
    });
    expect(treeKeyAction(tree, 'ArrowUp', 'schema:main')).toEqual({
      type: 'focus',
      id: 'schema:main'
    });
    expect(treeKeyAction(tree, 'End', 'schema:main')).toEqual({
      type: 'focus',
      id: 'table:staging.raw'
    });
    expect(treeKeyAction(tree, 'Home', 'table:staging.raw')).toEqual({
      type: 'focus',
      id: 'schema:main'
    });
    // Nothing focused yet: the first row.
    expect(treeKeyAction(tree, 'ArrowDown', null)).toEqual({
      type: 'focus',
      id: 'schema:main'
    });
  });

  it('expands, enters, collapses and goes to the parent', () => {
    expect(treeKeyAction(tree, 'ArrowRight', 'table:main.orders')).toEqual({
      type: 'expand',
      id: 'table:main.orders'
    });
    tree.expand('table:main.orders');
    tree.setColumns('main.orders', { status: 'loaded', columns: [COL('id')] });
    expect(treeKeyAction(tree, 'ArrowRight', 'table:main.orders')).toEqual({
      type: 'focus',
      id: 'column:main.orders.id'
    });
    expect(treeKeyAction(tree, 'ArrowLeft', 'column:main.orders.id')).toEqual({
      type: 'focus',
      id: 'table:main.orders'
    });
    expect(treeKeyAction(tree, 'ArrowLeft', 'table:main.orders')).toEqual({
      type: 'collapse',
      id: 'table:main.orders'
    });
    expect(treeKeyAction(tree, 'ArrowLeft', 'schema:main')).toEqual({
      type: 'collapse',
      id: 'schema:main'
    });
  });

  it('opens readable tables on Enter, toggles on Space, ignores the rest', () => {
    expect(treeKeyAction(tree, 'Enter', 'table:main.orders')).toEqual({
      type: 'open',
      table: 'main.orders'
    });
    expect(treeKeyAction(tree, ' ', 'table:main.orders')).toEqual({
      type: 'toggle',
      id: 'table:main.orders'
    });
    expect(treeKeyAction(tree, 'Enter', 'schema:main')).toEqual({
      type: 'toggle',
      id: 'schema:main'
    });
    expect(treeKeyAction(tree, 'Enter', 'table:main.audit')).toBeNull();
    expect(treeKeyAction(tree, ' ', 'table:main.audit')).toBeNull();
    expect(treeKeyAction(tree, 'ArrowRight', 'table:main.audit')).toBeNull();
    expect(treeKeyAction(tree, 'a', 'table:main.orders')).toBeNull();
  });

  it('opens the table of a column on Enter', () => {
    tree.expand('table:main.orders');
    tree.setColumns('main.orders', { status: 'loaded', columns: [COL('id')] });
    expect(treeKeyAction(tree, 'Enter', 'column:main.orders.id')).toEqual({
      type: 'open',
      table: 'main.orders'
    });
  });

  it('does nothing on an empty tree', () => {
    const empty = new CatalogTree();
    expect(treeKeyAction(empty, 'ArrowDown', null)).toBeNull();
  });
});

describe('renderTree', () => {
  it('renders an ARIA tree with a roving tabindex', () => {
    const tree = new CatalogTree();
    tree.setTables(TABLES);
    const ul = document.createElement('ul');
    const items = renderTree(ul, tree, 'empty');
    expect(items).toHaveLength(6);
    expect(items.every(li => li.getAttribute('role') === 'treeitem')).toBe(true);
    expect(items.filter(li => li.tabIndex === 0)).toHaveLength(1);
    expect(items[0].tabIndex).toBe(0);
    expect(items[0].getAttribute('aria-level')).toBe('1');
    expect(items[0].getAttribute('aria-expanded')).toBe('true');

    tree.focusedId = 'table:main.orders';
    renderTree(ul, tree, 'empty');
    const focused = ul.querySelector('[tabindex="0"]') as HTMLElement;
    expect(focused.dataset.id).toBe('table:main.orders');
    expect(focused.classList.contains(TREE_CSS.focused)).toBe(true);
  });

  it('keeps .dap-catalog-item[data-table] on table rows, with the PII badge', () => {
    const tree = new CatalogTree();
    tree.setTables(TABLES);
    const ul = document.createElement('ul');
    renderTree(ul, tree, 'empty');
    const customers = ul.querySelector(
      `.${CSS.item}[data-table="main.customers"]`
    ) as HTMLElement;
    expect(customers.getAttribute('aria-level')).toBe('2');
    expect(customers.getAttribute('aria-expanded')).toBe('false');
    expect(customers.querySelector(`.${TREE_CSS.pii}`)?.textContent).toBe('pii');
    expect(customers.textContent).toContain('10 rows');
    expect(customers.querySelector(`.${TREE_CSS.open}`)).not.toBeNull();
    const orders = ul.querySelector('[data-table="main.orders"]') as HTMLElement;
    expect(orders.querySelector(`.${TREE_CSS.pii}`)).toBeNull();
  });

  it('greys out denied tables: class, aria-disabled, tooltip, no open button', () => {
    const tree = new CatalogTree();
    tree.setTables(TABLES);
    const ul = document.createElement('ul');
    renderTree(ul, tree, 'empty');
    const audit = ul.querySelector('[data-table="main.audit"]') as HTMLElement;
    expect(audit.classList.contains(TREE_CSS.denied)).toBe(true);
    expect(audit.getAttribute('aria-disabled')).toBe('true');
    expect(audit.hasAttribute('aria-expanded')).toBe(false);
    expect(audit.title).toContain(DENIED_TOOLTIP);
    expect(audit.textContent).toContain('no access');
    expect(audit.querySelector(`.${TREE_CSS.open}`)).toBeNull();
  });

  it('renders columns with type, PII badge and masked badge', () => {
    const tree = new CatalogTree();
    tree.setTables(TABLES);
    tree.expand('table:main.customers');
    tree.setColumns('main.customers', {
      status: 'loaded',
      columns: [
        COL('email', { tags: ['pii', 'email'], masked: true }),
        COL('region')
      ]
    });
    const ul = document.createElement('ul');
    renderTree(ul, tree, 'empty');
    const email = ul.querySelector(
      '[data-column="main.customers.email"]'
    ) as HTMLElement;
    expect(email.classList.contains(TREE_CSS.column)).toBe(true);
    expect(email.classList.contains(CSS.item)).toBe(false);
    expect(email.getAttribute('aria-level')).toBe('3');
    expect(email.querySelector(`.${TREE_CSS.type}`)?.textContent).toBe('VARCHAR');
    expect(email.querySelector(`.${TREE_CSS.pii}`)).not.toBeNull();
    expect(email.querySelector(`.${TREE_CSS.masked}`)).not.toBeNull();
    const region = ul.querySelector('[data-column="main.customers.region"]')!;
    expect(region.querySelector(`.${TREE_CSS.pii}`)).toBeNull();
    // Table rows stay exactly the tables.
    expect(ul.querySelectorAll(`.${CSS.item}`)).toHaveLength(4);
  });

  it('renders the empty message', () => {
    const ul = document.createElement('ul');
    renderTree(ul, new CatalogTree(), 'Nothing here.');
    expect(ul.children).toHaveLength(1);
    expect(ul.firstElementChild?.className).toBe(CSS.empty);
    expect(ul.textContent).toBe('Nothing here.');
  });

  it('never interprets server text as HTML', () => {
    const tree = new CatalogTree();
    tree.setTables([T('main.x', { tags: ['<b>t</b>'], description: '<img src=x>' })]);
    const ul = document.createElement('ul');
    renderTree(ul, tree, '');
    expect(ul.querySelector('b')).toBeNull();
    expect(ul.querySelector('img')).toBeNull();
  });
});
