jest.mock('../handler', () => ({ requestAPI: jest.fn() }));

import { requestAPI } from '../handler';
import { restApi, type IBuilderApi, type IQueryPage } from './api';
import type { IQuerySpec } from './state';
import {
  NO_NOTEBOOK_TOOLTIP,
  QueryBuilderWidget,
  NO_SAVE_TOOLTIP,
  SAVE_DASHBOARD_TOOLTIP,
  type INotebookTarget
} from './widget';

const mockedRequest = requestAPI as jest.MockedFunction<typeof requestAPI>;

const COLUMNS: Record<string, { name: string; type: string }[]> = {
  'main.orders': [
    { name: 'order_id', type: 'BIGINT' },
    { name: 'customer_id', type: 'BIGINT' },
    { name: 'order_ts', type: 'TIMESTAMP' },
    { name: 'channel', type: 'VARCHAR' },
    { name: 'status', type: 'VARCHAR' }
  ],
  'main.customers': [
    { name: 'customer_id', type: 'BIGINT' },
    { name: 'region', type: 'VARCHAR' }
  ]
};

function page(rows: unknown[][], offset = 0, total = rows.length): IQueryPage {
  return {
    query_id: 'q1',
    status: 'finished',
    columns: [
      { name: 'status', type: 'string' },
      { name: 'count', type: 'int64' }
    ],
    rows,
    row_count: total,
    offset,
    next_offset: offset + rows.length < total ? offset + rows.length : null,
    truncated: false,
    elapsed_ms: 12
  };
}

function fakeApi(overrides: Partial<IBuilderApi> = {}): jest.Mocked<IBuilderApi> {
  return {
    tables: jest.fn(async () => [{ name: 'main.customers' }, { name: 'main.orders' }]),
    columns: jest.fn(async (t: string) => COLUMNS[t]),
    build: jest.fn(async (spec: IQuerySpec) => ({
      sql: `SELECT … FROM ${spec.table}`,
      params: {},
      display_sql: spec.group_by.length
        ? `SELECT ${spec.group_by[0]} FROM ${spec.table} GROUP BY ${spec.group_by[0]}`
        : `SELECT * FROM ${spec.table}`,
      columns: []
    })),
    run: jest.fn(async (_b, size: number) =>
      size === 200 ? { ...page([['mobile'], ['store'], ['web']]) } : page([['a', 1], ['b', 2]], 0, 3)
    ),
    page: jest.fn(async (_id, offset: number) => page([['c', 3]], offset, 3)),
    lineage: jest.fn(),
    progress: jest.fn(async (_id: string): Promise<number | null> => null),
    publishDashboard: jest.fn(async request => ({
      name: request.name,
      title: request.title,
      owner: 'ann',
      url: `dap dashboard serve ${request.name}`
    })),
    ...overrides
  } as jest.Mocked<IBuilderApi>;
}

/** Let debounce timers and promise chains settle. */
async function tick(): Promise<void> {
  for (let i = 0; i < 4; i++) {
    await new Promise(r => setTimeout(r, 2));
  }
}

function q<T extends Element>(w: QueryBuilderWidget, selector: string): T {
  const el = w.node.querySelector<T>(selector);
  if (!el) {
    throw new Error(`no ${selector}`);
  }
  return el;
}

function buttonNamed(w: QueryBuilderWidget, name: string): HTMLButtonElement {
  const b = [...w.node.querySelectorAll('button')].find(b => b.textContent === name);
  if (!b) {
    throw new Error(`no button ${name}`);
  }
  return b;
}

function choose(select: HTMLSelectElement, value: string): void {
  select.value = value;
  select.dispatchEvent(new Event('change'));
}

function notebook(available: boolean): INotebookTarget & {
  available: boolean;
  inserted: string[];
  fire(): void;
} {
  let listener: (() => void) | null = null;
  const target = {
    available,
    inserted: [] as string[],
    onChange: (l: () => void) => {
      listener = l;
      return () => (listener = null);
    },
    insert(source: string) {
      target.inserted.push(source);
    },
    fire() {
      listener?.();
    }
  };
  return target;
}

describe('QueryBuilderWidget', () => {
  let widget: QueryBuilderWidget;
  afterEach(() => widget?.dispose());

  it('loads the catalog, the start table and shows the built SQL', async () => {
    const api = fakeApi();
    widget = new QueryBuilderWidget({ api, table: 'main.orders', debounceMs: 0 });
    await widget.ready;
    await tick();
    expect(q<HTMLSelectElement>(widget, '.dap-builder-table').value).toBe('main.orders');
    expect(widget.title.label).toBe('Query: orders');
    expect(api.columns).toHaveBeenCalledWith('main.orders');
    expect(q(widget, '.dap-builder-sql').textContent).toBe('SELECT * FROM main.orders');
    expect(q(widget, '.dap-builder-sql .dap-sql-keyword').textContent).toBe('SELECT');
    expect(widget.node.querySelectorAll('.dap-builder-check input')).toHaveLength(5);
    expect(buttonNamed(widget, 'Run').disabled).toBe(false);
  });

  it('builds a filter from the value list, groups, counts, runs and pages', async () => {
    const api = fakeApi();
    widget = new QueryBuilderWidget({ api, table: 'main.orders', debounceMs: 0, pageSize: 2 });
    await widget.ready;
    buttonNamed(widget, 'Add filter').click();
    choose(q(widget, 'select[aria-label="Filter column"]'), 'main.orders.channel');
    await tick();
    // The value list is a query/build + query of the column's distinct values.
    expect(api.build).toHaveBeenCalledWith(expect.objectContaining({ group_by: ['channel'], limit: 200 }));
    const value = q<HTMLSelectElement>(widget, 'select[aria-label="Value"]');
    expect([...value.options].map(o => o.value)).toEqual(['', 'mobile', 'store', 'web']);
    choose(value, 'web');
    buttonNamed(widget, 'Add group-by column').click();
    choose(q(widget, 'select[aria-label="Group by column"]'), 'main.orders.status');
    buttonNamed(widget, 'Add aggregate').click();
    await tick();
    expect(api.build).toHaveBeenLastCalledWith({
      table: 'main.orders',
      joins: [],
      columns: [],
      filters: [{ column: 'channel', op: '=', value: 'web' }],
      group_by: ['status'],
      aggregates: [{ func: 'count', alias: 'count' }],
      order_by: [],
      limit: 1000
    });

    buttonNamed(widget, 'Run').click();
    await tick();
    expect(api.run).toHaveBeenLastCalledWith(
      expect.objectContaining({ sql: 'SELECT … FROM main.orders' }),
      2,
      expect.stringMatching(/^[0-9a-f]{32}$/)
    );
    expect(q<HTMLElement>(widget, '.dap-builder-results').hidden).toBe(false);
    const cells = [...widget.node.querySelectorAll('.dap-builder-grid tbody td')].map(td => td.textContent);
    expect(cells).toEqual(['a', '1', 'b', '2']);
    expect(q(widget, '.dap-builder-page-info').textContent).toBe('Rows 1–2 of 3');
    expect(q(widget, '.dap-builder-status').textContent).toBe('3 rows in 12 ms');
    expect(widget.node.querySelectorAll('rect.dap-chart-bar')).toHaveLength(2);

    // Switch the chart to a line.
    choose(q(widget, 'select.dap-builder-chart-kind'), 'line');
    expect(widget.node.querySelectorAll('path.dap-chart-line')).toHaveLength(1);

    expect(buttonNamed(widget, 'Previous page').disabled).toBe(true);
    buttonNamed(widget, 'Next page').click();
    await tick();
    expect(api.page).toHaveBeenCalledWith('q1', 2, 2);
    expect(q(widget, '.dap-builder-page-info').textContent).toBe('Rows 3–3 of 3');
    expect(buttonNamed(widget, 'Next page').disabled).toBe(true);
    expect(q(widget, '.dap-builder-grid tbody th').textContent).toBe('3');
  });

  it('keeps focus on a control across re-renders', async () => {
    widget = new QueryBuilderWidget({ api: fakeApi(), table: 'main.orders', debounceMs: 0 });
    document.body.append(widget.node);
    await widget.ready;
    buttonNamed(widget, 'Add filter').click();
    const column = q<HTMLSelectElement>(widget, 'select[aria-label="Filter column"]');
    column.focus();
    choose(column, 'main.orders.order_id');
    const again = q<HTMLSelectElement>(widget, 'select[aria-label="Filter column"]');
    expect(again).not.toBe(column);
    expect(document.activeElement).toBe(again);
    // A number column gets a number input; a timestamp a date input.
    expect(q<HTMLInputElement>(widget, 'input[aria-label="Value"]').type).toBe('number');
    choose(again, 'main.orders.order_ts');
    expect(q<HTMLInputElement>(widget, 'input[aria-label="Value"]').type).toBe('date');
    widget.node.remove();
  });

  it('suggests a join on the shared key', async () => {
    const api = fakeApi();
    widget = new QueryBuilderWidget({ api, table: 'main.orders', debounceMs: 0 });
    await widget.ready;
    buttonNamed(widget, 'Add join').click();
    await tick();
    expect(widget.state.joins).toEqual([
      expect.objectContaining({
        table: 'main.customers',
        left: 'main.orders.customer_id',
        right: 'main.customers.customer_id'
      })
    ]);
    const table = q<HTMLSelectElement>(widget, 'select[aria-label="Joined table"]');
    expect(table.selectedOptions[0].textContent).toBe('main.customers — suggested on customer_id');
    expect(api.build).toHaveBeenLastCalledWith(
      expect.objectContaining({
        joins: [
          {
            table: 'main.customers',
            type: 'inner',
            on: [{ left: 'main.orders.customer_id', right: 'main.customers.customer_id' }]
          }
        ]
      })
    );
  });

  it('shows a build error inline and disables Run', async () => {
    const api = fakeApi({
      build: jest.fn(async () => {
        throw Object.assign(new Error("filter 1: unknown column 'x'"), { response: { status: 400 } });
      })
    });
    widget = new QueryBuilderWidget({ api, table: 'main.orders', debounceMs: 0 });
    await widget.ready;
    await tick();
    expect(q(widget, '.dap-builder-sql-error').textContent).toBe("filter 1: unknown column 'x'");
    expect(q(widget, '.dap-builder-sql-error').getAttribute('role')).toBe('alert');
    expect(buttonNamed(widget, 'Run').disabled).toBe(true);
  });

  it('shows a refused query (403) and an unreachable server', async () => {
    const api = fakeApi({
      run: jest.fn(async () => {
        throw Object.assign(new Error('tester may not read main.orders'), { response: { status: 403 } });
      }),
      tables: jest.fn(async () => {
        throw new TypeError('Failed to fetch');
      }),
      columns: jest.fn(async () => {
        throw new TypeError('Failed to fetch');
      })
    });
    widget = new QueryBuilderWidget({ api, table: 'main.orders', debounceMs: 0 });
    await widget.ready;
    expect(q(widget, '.dap-builder-side .dap-builder-error').textContent).toBe(
      'Cannot reach the DAP server: Failed to fetch'
    );
    await widget.run();
    expect(q(widget, '.dap-builder-run-error').textContent).toBe('Access denied: tester may not read main.orders');
    expect(q<HTMLElement>(widget, '.dap-builder-results').hidden).toBe(true);
  });

  it('inserts the display SQL as a %%dap sql cell, only with a notebook', async () => {
    const target = notebook(false);
    widget = new QueryBuilderWidget({ api: fakeApi(), table: 'main.orders', debounceMs: 0, notebook: target });
    await widget.ready;
    await tick();
    const insert = buttonNamed(widget, 'Insert as cell');
    expect(insert.disabled).toBe(true);
    expect(insert.title).toBe(NO_NOTEBOOK_TOOLTIP);
    target.available = true;
    target.fire();
    expect(insert.disabled).toBe(false);
    insert.click();
    await tick();
    expect(target.inserted).toEqual(['%%dap sql\nSELECT * FROM main.orders\n']);
  });

  it('has "Save as dashboard" off until there is a query, and off without a prompt', async () => {
    widget = new QueryBuilderWidget({ api: fakeApi(), debounceMs: 0, askDashboard: async () => null });
    await widget.ready;
    const save = buttonNamed(widget, 'Save as dashboard');
    expect(save.disabled).toBe(true);
    expect(save.title).toBe(SAVE_DASHBOARD_TOOLTIP);
    expect(save.parentElement?.title).toBe(SAVE_DASHBOARD_TOOLTIP);
    expect(q(widget, '.dap-builder-sql').textContent).toBe('Choose a table to start a query.');
    expect(buttonNamed(widget, 'Run').disabled).toBe(true);
    widget.dispose();
    widget = new QueryBuilderWidget({ api: fakeApi(), table: 'main.orders', debounceMs: 0 });
    await widget.ready;
    await tick();
    expect(buttonNamed(widget, 'Save as dashboard').disabled).toBe(true);
    expect(buttonNamed(widget, 'Save as dashboard').title).toBe(NO_SAVE_TOOLTIP);
  });

  it('shows the progress of a running query, then hides the bar', async () => {
    let finish: (p: IQueryPage) => void = () => undefined;
    const api = fakeApi({
      run: jest.fn(() => new Promise<IQueryPage>(resolve => (finish = resolve))),
      progress: jest.fn(async (_id: string): Promise<number | null> => 42)
    });
    widget = new QueryBuilderWidget({ api, table: 'main.orders', debounceMs: 0 });
    await widget.ready;
    await tick();
    const running = widget.run();
    const bar = q<HTMLProgressElement>(widget, '.dap-builder-progress');
    for (let i = 0; i < 100 && !bar.hasAttribute('value'); i++) {
      await new Promise(r => setTimeout(r, 10));
    }
    expect(bar.hidden).toBe(false);
    expect(bar.value).toBe(42);
    const [, , queryId] = api.run.mock.calls[0];
    expect(api.progress).toHaveBeenCalledWith(queryId);
    finish(page([['a', 1]]));
    await running;
    expect(bar.hidden).toBe(true);
  });

  it('saves the query and its chart as a dashboard', async () => {
    const api = fakeApi();
    const asked: { name: string; title: string }[] = [];
    widget = new QueryBuilderWidget({
      api,
      table: 'main.orders',
      debounceMs: 0,
      askDashboard: async suggested => {
        asked.push(suggested);
        return { name: 'orders-page', title: 'Orders page' };
      }
    });
    await widget.ready;
    await tick();
    await widget.run();
    const save = buttonNamed(widget, 'Save as dashboard');
    expect(save.disabled).toBe(false);
    save.click();
    await tick();
    expect(asked).toEqual([{ name: 'orders', title: 'Orders' }]);
    expect(api.publishDashboard).toHaveBeenCalledWith({
      name: 'orders-page',
      title: 'Orders page',
      spec: expect.objectContaining({ table: 'main.orders' }),
      chart: { kind: 'bar', x: 'status', y: 'count' }
    });
    expect(q(widget, '.dap-builder-status').textContent).toBe(
      'Published dashboard orders-page (Orders page): dap dashboard serve orders-page'
    );
  });

  it('says why a dashboard was not saved, and saves nothing on cancel', async () => {
    const api = fakeApi({
      progress: jest.fn(async (_id: string): Promise<number | null> => null),
    publishDashboard: jest.fn(async () => {
        throw new Error('ann may not replace dashboard sales: it belongs to bob');
      })
    });
    const answers = [null, { name: 'Bad Name', title: '' }, { name: 'sales', title: 'Sales' }];
    widget = new QueryBuilderWidget({
      api,
      table: 'main.orders',
      debounceMs: 0,
      askDashboard: async () => answers.shift() ?? null
    });
    await widget.ready;
    await tick();
    expect(await widget.saveDashboard()).toBe(false);
    expect(api.publishDashboard).not.toHaveBeenCalled();
    expect(await widget.saveDashboard()).toBe(false);
    expect(q(widget, '.dap-builder-run-error').textContent).toContain("use lower-case letters");
    expect(api.publishDashboard).not.toHaveBeenCalled();
    expect(await widget.saveDashboard()).toBe(false);
    expect(q(widget, '.dap-builder-run-error').textContent).toBe(
      'ann may not replace dashboard sales: it belongs to bob'
    );
  });

  it('labels every form control', async () => {
    widget = new QueryBuilderWidget({ api: fakeApi(), table: 'main.orders', debounceMs: 0 });
    await widget.ready;
    for (const name of ['Add filter', 'Add group-by column', 'Add aggregate', 'Add sort', 'Add join']) {
      buttonNamed(widget, name).click();
    }
    await tick();
    const controls = widget.node.querySelectorAll('select, input, button');
    for (const c of controls) {
      const labelled =
        c.getAttribute('aria-label') || c.closest('label') || (c.tagName === 'BUTTON' && c.textContent);
      expect([c.outerHTML.slice(0, 80), !!labelled]).toEqual([c.outerHTML.slice(0, 80), true]);
    }
  });
});

describe('restApi', () => {
  beforeEach(() => mockedRequest.mockReset());

  it('calls the DAP endpoints', async () => {
    mockedRequest.mockResolvedValueOnce({ tables: [{ name: 'a' }, { name: 'b', readable: false }] });
    expect(await restApi.tables()).toEqual([{ name: 'a' }]);
    expect(mockedRequest).toHaveBeenLastCalledWith('catalog', { method: 'GET' });

    mockedRequest.mockResolvedValueOnce({ columns: [{ name: 'x', type: 'INT', tags: [] }] });
    expect(await restApi.columns('main.t')).toEqual([{ name: 'x', type: 'INT' }]);
    expect(mockedRequest).toHaveBeenLastCalledWith('catalog/main.t?sample=0', expect.anything());

    mockedRequest.mockResolvedValueOnce({ sql: 's' });
    await restApi.build({ table: 't' } as IQuerySpec);
    expect(mockedRequest).toHaveBeenLastCalledWith('query/build', {
      method: 'POST',
      body: '{"table":"t"}'
    });

    mockedRequest.mockResolvedValueOnce(page([]));
    await restApi.run({ sql: 's', params: { p0: 1 }, display_sql: 's', columns: [] }, 50);
    expect(JSON.parse(mockedRequest.mock.calls[mockedRequest.mock.calls.length - 1][1]!.body as string)).toEqual({
      sql: 's',
      params: { p0: 1 },
      page_size: 50
    });

    mockedRequest.mockResolvedValueOnce(page([]));
    await restApi.page('q1', 100, 50);
    expect(mockedRequest).toHaveBeenLastCalledWith('query/q1?offset=100&page_size=50', expect.anything());

    mockedRequest.mockResolvedValueOnce({ query_id: 'q', status: 'failed', error: { error: 'x', message: 'it failed' } });
    await expect(restApi.page('q', 0, 1)).rejects.toThrow('it failed');

    mockedRequest.mockResolvedValueOnce({ table: 't', upstream: [], downstream: [] });
    await restApi.lineage('main.t');
    expect(mockedRequest).toHaveBeenLastCalledWith('lineage/main.t', expect.anything());
  });
});
