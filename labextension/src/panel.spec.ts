// The panel's own JupyterLab imports are ES modules that jest would have to
// transpile; replace them by small stand-ins. @lumino/widgets ships a
// CommonJS/UMD build and is used for real.
jest.mock('@jupyterlab/ui-components', () => ({
  LabIcon: class {
    constructor(readonly options: { name: string; svgstr: string }) {}
  }
}));

import { Widget } from '@lumino/widgets';

import { CSS, ICatalogTable, IColumnInfo } from './catalog';
import { NOT_INSTALLED_MESSAGE } from './errors';
import {
  CatalogPanel,
  CatalogLoader,
  ColumnsLoader,
  ICatalogPanelOptions,
  NOT_INSTALLED_HINT,
  PANEL_ID,
  PANEL_TITLE
} from './panel';
import { parseQuality } from './quality';
import { TREE_CSS } from './tree';

const TABLES: ICatalogTable[] = [
  {
    name: 'main.orders',
    schema: 'main',
    table: 'orders',
    kind: 'delta',
    description: 'Orders',
    row_count: 123,
    tags: ['pii'],
    readable: true
  },
  {
    name: 'main.secret',
    schema: 'main',
    table: 'secret',
    row_count: null,
    tags: [],
    readable: false
  }
];

const COLUMNS: IColumnInfo[] = [
  {
    name: 'order_id',
    type: 'BIGINT',
    nullable: false,
    description: '',
    tags: [],
    masked: false,
    null_count: 0,
    distinct_count: 1,
    min_value: null,
    max_value: null
  }
];

function deferred<T>(): {
  promise: Promise<T>;
  resolve: (v: T) => void;
  reject: (e: unknown) => void;
} {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

const flush = () => new Promise(r => setTimeout(r, 0));

function make(
  loadCatalog: CatalogLoader,
  extra: Partial<ICatalogPanelOptions> = {}
): CatalogPanel {
  return new CatalogPanel({
    loadCatalog,
    loadColumns: async () => COLUMNS,
    ...extra
  });
}

function row(panel: CatalogPanel, id: string): HTMLElement {
  return panel.node.querySelector(`li[data-id="${id}"]`) as HTMLElement;
}

function key(el: HTMLElement, k: string): void {
  el.dispatchEvent(new KeyboardEvent('keydown', { key: k, bubbles: true }));
}

describe('CatalogPanel', () => {
  let panel: CatalogPanel;

  afterEach(() => {
    panel?.dispose();
    jest.useRealTimers();
  });

  it('has the expected id, caption and skeleton', () => {
    panel = make(() => Promise.resolve([]));
    expect(panel.id).toBe(PANEL_ID);
    expect(panel.title.caption).toBe(PANEL_TITLE);
    expect(panel.title.icon).toBeDefined();
    expect(panel.node.querySelector(`.${CSS.title}`)?.textContent).toBe('DAP catalog');
    expect(panel.node.querySelector(`button.${CSS.refresh}`)?.textContent).toBe('Refresh');
    const list = panel.node.querySelector(`ul.${CSS.list}`);
    expect(list?.getAttribute('role')).toBe('tree');
    const search = panel.node.querySelector('input[type="search"]');
    expect(search?.getAttribute('aria-label')).toBe('Search the catalog');
    expect(panel.node.querySelector(`.${CSS.error}`)).toBeNull();
  });

  it('loads tables when first shown, as a tree with denied tables greyed out', async () => {
    const loader = jest.fn(() => Promise.resolve(TABLES));
    panel = make(loader);
    panel.hide();
    Widget.attach(panel, document.body);
    expect(loader).not.toHaveBeenCalled();
    panel.show();
    expect(loader).toHaveBeenCalledWith('');
    await flush();
    const li = panel.node.querySelector('li[data-table="main.orders"]');
    expect(li?.classList.contains(CSS.item)).toBe(true);
    expect(row(panel, 'schema:main')).not.toBeNull();
    const secret = panel.node.querySelector('li[data-table="main.secret"]')!;
    expect(secret.classList.contains(TREE_CSS.denied)).toBe(true);
    expect(secret.getAttribute('aria-disabled')).toBe('true');
    expect(panel.node.querySelector(`.${CSS.status}`)?.textContent).toBe(
      '2 tables (1 without access)'
    );
    panel.hide();
    panel.show();
    expect(loader).toHaveBeenCalledTimes(1);
  });

  it('searches on the server, debounced', async () => {
    jest.useFakeTimers();
    const loader = jest.fn((q: string) =>
      Promise.resolve(q ? TABLES.slice(0, 1) : TABLES)
    );
    panel = make(loader, { debounceMs: 200 });
    const search = panel.node.querySelector('input') as HTMLInputElement;
    for (const text of ['o', 'or', 'ord']) {
      search.value = text;
      search.dispatchEvent(new Event('input'));
      jest.advanceTimersByTime(50);
    }
    expect(loader).not.toHaveBeenCalled();
    jest.advanceTimersByTime(200);
    expect(loader).toHaveBeenCalledTimes(1);
    expect(loader).toHaveBeenCalledWith('ord');
    await Promise.resolve();
    await Promise.resolve();
    expect(panel.node.querySelector(`.${CSS.status}`)?.textContent).toBe(
      '1 table matching “ord”'
    );
    // Escape clears the search at once.
    search.dispatchEvent(new KeyboardEvent('keydown', { key: 'Escape' }));
    jest.advanceTimersByTime(0);
    expect(loader).toHaveBeenLastCalledWith('');
  });

  it('says so when nothing matches', async () => {
    panel = make(() => Promise.resolve([]));
    panel.query = 'zzz';
    await panel.refresh();
    expect(panel.node.querySelector(`.${CSS.empty}`)?.textContent).toBe(
      'No tables match “zzz”.'
    );
  });

  it('expands a table on click and loads its columns once', async () => {
    const loadColumns = jest.fn<ReturnType<ColumnsLoader>, [string]>(async () => COLUMNS);
    panel = make(() => Promise.resolve(TABLES), { loadColumns });
    Widget.attach(panel, document.body);
    await panel.refresh();
    row(panel, 'table:main.orders').click();
    expect(loadColumns).toHaveBeenCalledWith('main.orders');
    expect(panel.node.textContent).toContain('Loading columns…');
    await flush();
    const column = panel.node.querySelector('[data-column="main.orders.order_id"]');
    expect(column?.textContent).toContain('BIGINT');
    expect(row(panel, 'table:main.orders').getAttribute('aria-expanded')).toBe('true');
    row(panel, 'table:main.orders').click(); // collapse
    row(panel, 'table:main.orders').click(); // expand again: cached
    expect(loadColumns).toHaveBeenCalledTimes(1);
  });

  it('shows a column load error in the tree', async () => {
    panel = make(() => Promise.resolve(TABLES), {
      loadColumns: async () => {
        throw Object.assign(new Error('no grant'), { response: { status: 403 } });
      }
    });
    await panel.refresh();
    row(panel, 'table:main.orders').click();
    await flush();
    expect(panel.node.querySelector(`.${TREE_CSS.messageError}`)?.textContent).toBe(
      'Columns unavailable: Access denied: no grant'
    );
  });

  it('is driven by the keyboard and opens readable tables only', async () => {
    const openTable = jest.fn();
    panel = make(() => Promise.resolve(TABLES), { openTable });
    Widget.attach(panel, document.body);
    await panel.refresh();
    const schema = row(panel, 'schema:main');
    expect(schema.tabIndex).toBe(0);
    schema.focus();
    key(schema, 'ArrowDown');
    expect(document.activeElement).toBe(row(panel, 'table:main.orders'));
    key(row(panel, 'table:main.orders'), 'Enter');
    expect(openTable).toHaveBeenCalledWith('main.orders');
    key(row(panel, 'table:main.orders'), 'ArrowRight');
    await flush();
    expect(row(panel, 'table:main.orders').getAttribute('aria-expanded')).toBe('true');
    // Focus stays on the re-rendered row.
    expect(document.activeElement).toBe(row(panel, 'table:main.orders'));
    key(row(panel, 'table:main.orders'), 'ArrowDown');
    expect(document.activeElement).toBe(row(panel, 'column:main.orders.order_id'));
    key(row(panel, 'column:main.orders.order_id'), 'ArrowLeft');
    expect(document.activeElement).toBe(row(panel, 'table:main.orders'));
    key(row(panel, 'table:main.orders'), ' ');
    expect(row(panel, 'table:main.orders').getAttribute('aria-expanded')).toBe('false');

    key(row(panel, 'table:main.orders'), 'ArrowDown');
    const secret = row(panel, 'table:main.secret');
    expect(document.activeElement).toBe(secret);
    key(secret, 'Enter');
    key(secret, ' ');
    secret.dispatchEvent(new MouseEvent('dblclick', { bubbles: true }));
    secret.click();
    expect(openTable).toHaveBeenCalledTimes(1);
    expect(row(panel, 'table:main.secret').hasAttribute('aria-expanded')).toBe(false);
  });

  it('opens a table from the open button and on double-click', async () => {
    const openTable = jest.fn();
    panel = make(() => Promise.resolve(TABLES), { openTable });
    await panel.refresh();
    (row(panel, 'table:main.orders').querySelector(`.${TREE_CSS.open}`) as HTMLElement).click();
    expect(openTable).toHaveBeenCalledWith('main.orders');
    row(panel, 'table:main.orders').dispatchEvent(new MouseEvent('dblclick', { bubbles: true }));
    expect(openTable).toHaveBeenCalledTimes(2);
  });

  it('shows an error (with a hint when the server extension is missing) and clears it', async () => {
    const loader = jest
      .fn<Promise<ICatalogTable[]>, [string]>()
      .mockRejectedValueOnce(new Error(NOT_INSTALLED_MESSAGE))
      .mockResolvedValueOnce(TABLES);
    const spy = jest.spyOn(console, 'error').mockImplementation(() => {});
    panel = make(loader);

    await panel.refresh();
    const error = panel.node.querySelector(`.${CSS.error}`);
    expect(error?.getAttribute('role')).toBe('alert');
    expect(error?.textContent).toContain(NOT_INSTALLED_MESSAGE);
    expect(error?.textContent).toContain(NOT_INSTALLED_HINT);
    expect(panel.node.querySelectorAll(`li.${CSS.item}`)).toHaveLength(0);
    expect(spy).toHaveBeenCalled();

    (panel.node.querySelector(`button.${CSS.refresh}`) as HTMLButtonElement).click();
    await flush();
    expect(panel.node.querySelector(`.${CSS.error}`)).toBeNull();
    expect(panel.node.querySelectorAll(`li.${CSS.item}`)).toHaveLength(2);
    spy.mockRestore();
  });

  it('reports an unreachable server in plain words', async () => {
    const spy = jest.spyOn(console, 'error').mockImplementation(() => {});
    const network = Object.assign(new TypeError('Failed to fetch'), { name: 'NetworkError' });
    panel = make(() => Promise.reject(network));
    await panel.refresh();
    expect(panel.node.querySelector(`.${CSS.error}`)?.textContent).toMatch(
      /Cannot reach the Jupyter server/
    );
    spy.mockRestore();
  });

  it('disables Refresh while loading and renders only the latest result', async () => {
    const first = deferred<ICatalogTable[]>();
    const second = deferred<ICatalogTable[]>();
    const loader = jest
      .fn<Promise<ICatalogTable[]>, [string]>()
      .mockReturnValueOnce(first.promise)
      .mockReturnValueOnce(second.promise);
    panel = make(loader);
    const button = panel.node.querySelector(`button.${CSS.refresh}`) as HTMLButtonElement;

    const p1 = panel.refresh();
    expect(button.disabled).toBe(true);
    const p2 = panel.refresh();
    second.resolve(TABLES.slice(0, 1));
    await p2;
    expect(button.disabled).toBe(false);
    first.resolve([{ name: 'stale.table' }]);
    await p1;
    expect(panel.tables.map(t => t.name)).toEqual(['main.orders']);
    expect(panel.node.querySelector('li[data-table="stale.table"]')).toBeNull();
  });
});

describe('CatalogPanel quality dots', () => {
  let panel: CatalogPanel;
  afterEach(() => panel?.dispose());

  const MORE: ICatalogTable[] = [
    ...TABLES,
    { name: 'sales.targets', schema: 'sales', table: 'targets', row_count: 3, tags: [], readable: true }
  ];

  const answer = (table: string, status: string) =>
    parseQuality({ table, badge: { status, checked_at: '2026-11-28T10:05:00Z', failed_rules: status === 'pass' ? 0 : 1 } });

  it('loads badges lazily for the tables drawn, never for denied or collapsed ones', async () => {
    const loadQuality = jest.fn(async (t: string) => (t === 'main.orders' ? answer(t, 'fail') : null));
    panel = make(() => Promise.resolve(MORE), { loadQuality });
    panel.apply({ type: 'collapse', id: 'schema:sales' });
    await panel.refresh();
    // The tree is drawn before any badge is there.
    expect(panel.node.querySelector('li[data-table="main.orders"]')).not.toBeNull();
    expect(loadQuality.mock.calls.map(c => c[0])).toEqual(['main.orders']);
    await flush();
    const dot = panel.node.querySelector<HTMLElement>('li[data-table="main.orders"] .dap-quality-dot')!;
    expect(dot.textContent).toBe('✕');
    expect(dot.getAttribute('aria-label')).toBe('quality: fail, 1 rule failed, checked 2026-11-28 10:05 UTC');
    expect(dot.previousElementSibling?.classList.contains(CSS.itemName)).toBe(true);
    expect(panel.node.querySelector('li[data-table="main.secret"] .dap-quality-dot')).toBeNull();

    // Expanding a schema asks for its tables; a 404 (null) draws no dot; cached ones stay.
    panel.apply({ type: 'expand', id: 'schema:sales' });
    await flush();
    expect(loadQuality.mock.calls.map(c => c[0])).toEqual(['main.orders', 'sales.targets']);
    expect(panel.node.querySelector('li[data-table="sales.targets"] .dap-quality-dot')).toBeNull();
    expect(panel.node.querySelector('li[data-table="main.orders"] .dap-quality-dot')).not.toBeNull();

    // The table panel's fresh badge updates the tree; Refresh forgets and asks again.
    panel.updateQuality('main.orders', answer('main.orders', 'pass'));
    expect(panel.node.querySelector('li[data-table="main.orders"] .dap-quality-dot')?.textContent).toBe('✓');
    await panel.refresh();
    expect(loadQuality).toHaveBeenCalledTimes(4);
  });

  it('asks only for rows on screen when the browser can tell', async () => {
    const observed: Element[] = [];
    let notify!: (entries: Array<{ target: Element; isIntersecting: boolean }>) => void;
    class FakeObserver {
      constructor(cb: (entries: Array<{ target: Element; isIntersecting: boolean }>) => void) {
        notify = cb;
      }
      observe(el: Element) {
        observed.push(el);
      }
      unobserve(el: Element) {
        observed.splice(observed.indexOf(el), 1);
      }
      disconnect() {
        observed.length = 0;
      }
    }
    (window as unknown as { IntersectionObserver: unknown }).IntersectionObserver = FakeObserver;
    try {
      const loadQuality = jest.fn(async (t: string) => answer(t, 'pass'));
      panel = make(() => Promise.resolve(MORE), { loadQuality });
      await panel.refresh();
      expect(observed.map(li => (li as HTMLElement).dataset.table)).toEqual(['main.orders', 'sales.targets']);
      expect(loadQuality).not.toHaveBeenCalled();
      const target = observed[1];
      notify([{ target, isIntersecting: true }]);
      expect(loadQuality.mock.calls.map(c => c[0])).toEqual(['sales.targets']);
      expect(observed).toHaveLength(1);
    } finally {
      delete (window as unknown as { IntersectionObserver?: unknown }).IntersectionObserver;
    }
  });

  it('works without a quality loader (no dots, no calls)', async () => {
    panel = make(() => Promise.resolve(TABLES));
    await panel.refresh();
    expect(panel.quality).toBeNull();
    expect(panel.node.querySelector('.dap-quality-dot')).toBeNull();
  });
});
