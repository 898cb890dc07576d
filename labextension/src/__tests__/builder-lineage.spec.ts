jest.mock('../handler', () => ({ requestAPI: jest.fn() }));

import type { IBuilderApi, ILineage } from '../builder/api';
import { LineageWidget, layoutLineage } from '../builder/lineage';

const GRAPH: Record<string, ILineage> = {
  'main.orders': {
    table: 'main.orders',
    upstream: [
      { name: '/data/orders.csv', kind: 'file' },
      { name: 'main.customers', kind: 'table' }
    ],
    downstream: [{ name: 'main.daily_sales', kind: 'table' }]
  },
  'main.customers': {
    table: 'main.customers',
    upstream: [{ name: 'postgresql://crm', kind: 'database' }],
    downstream: [{ name: 'main.orders', kind: 'table' }]
  }
};

function fakeApi(): jest.Mocked<IBuilderApi> {
  return {
    tables: jest.fn(async () => [{ name: 'main.customers' }, { name: 'main.orders' }]),
    columns: jest.fn(),
    build: jest.fn(),
    run: jest.fn(),
    page: jest.fn(),
    lineage: jest.fn(async (t: string) => {
      if (!GRAPH[t]) {
        throw Object.assign(new Error(`tester may not read ${t}`), { response: { status: 403 } });
      }
      return GRAPH[t];
    })
  } as jest.Mocked<IBuilderApi>;
}

const settle = async (): Promise<void> => {
  for (let i = 0; i < 3; i++) {
    await new Promise(r => setTimeout(r, 1));
  }
};

describe('layoutLineage', () => {
  it('puts upstream left, the table in the middle, downstream right', () => {
    const { nodes, links } = layoutLineage(GRAPH['main.orders']);
    const byRole = (role: string) => nodes.filter(n => n.role === role);
    const [center] = byRole('center');
    expect(center.name).toBe('main.orders');
    expect(byRole('upstream').every(n => n.x < center.x)).toBe(true);
    expect(byRole('downstream').every(n => n.x > center.x)).toBe(true);
    expect(byRole('upstream').map(n => n.clickable)).toEqual([false, true]);
    expect(links).toHaveLength(3);
    expect(links.filter(l => l.target === center)).toHaveLength(2);
  });

  it('handles a table with no known lineage', () => {
    const { nodes, links } = layoutLineage({ table: 't', upstream: [], downstream: [] });
    expect(nodes).toHaveLength(1);
    expect(links).toEqual([]);
  });
});

describe('LineageWidget', () => {
  let widget: LineageWidget;
  afterEach(() => widget?.dispose());

  it('draws the graph; table nodes re-centre, sources do not', async () => {
    const api = fakeApi();
    widget = new LineageWidget({ api, table: 'main.orders' });
    await widget.ready;
    const node = (name: string) => widget.node.querySelector<SVGGElement>(`.dap-lineage-node[data-name="${name}"]`)!;
    expect(widget.node.querySelector('.dap-lineage-center')?.getAttribute('data-name')).toBe('main.orders');
    expect(widget.node.querySelectorAll('.dap-lineage-link')).toHaveLength(3);
    expect(node('/data/orders.csv').getAttribute('role')).toBeNull();
    expect(node('main.customers').getAttribute('role')).toBe('button');
    expect(node('main.customers').getAttribute('tabindex')).toBe('0');
    expect(widget.title.label).toBe('Lineage: orders');

    node('/data/orders.csv').dispatchEvent(new MouseEvent('click', { bubbles: true }));
    await settle();
    expect(api.lineage).toHaveBeenCalledTimes(1);

    node('main.customers').dispatchEvent(new MouseEvent('click', { bubbles: true }));
    await settle();
    expect(widget.table).toBe('main.customers');
    expect(widget.node.querySelector('.dap-lineage-center')?.getAttribute('data-name')).toBe('main.customers');
    expect(widget.node.querySelector('.dap-lineage-kind-database')).not.toBeNull();

    // Keyboard: Enter on a focused node; Back returns.
    node('main.orders').dispatchEvent(new KeyboardEvent('keydown', { key: 'Enter', bubbles: true }));
    await settle();
    expect(widget.table).toBe('main.orders');
    const back = [...widget.node.querySelectorAll('button')].find(b => b.textContent === 'Back')!;
    expect(back.disabled).toBe(false);
    back.click();
    await settle();
    expect(widget.table).toBe('main.customers');
  });

  it('lists related tables as real buttons and offers a table picker', async () => {
    widget = new LineageWidget({ api: fakeApi(), table: 'main.orders' });
    await widget.ready;
    const buttons = [...widget.node.querySelectorAll('.dap-lineage-related button')].map(b => b.textContent);
    expect(buttons).toEqual(['main.customers', 'main.daily_sales']);
    expect(widget.node.querySelector('.dap-lineage-source')?.textContent).toBe('/data/orders.csv (file)');
    const picker = widget.node.querySelector<HTMLSelectElement>('select.dap-lineage-table')!;
    expect(picker.getAttribute('aria-label')).toBe('Table');
    picker.value = 'main.customers';
    picker.dispatchEvent(new Event('change'));
    await settle();
    expect(widget.table).toBe('main.customers');
  });

  it('shows a refused table as an error', async () => {
    widget = new LineageWidget({ api: fakeApi(), table: 'main.secret' });
    await widget.ready;
    const error = widget.node.querySelector('.dap-lineage-error');
    expect(error?.textContent).toBe('Access denied: tester may not read main.secret');
    expect(error?.getAttribute('role')).toBe('alert');
    expect(widget.node.querySelector('svg')).toBeNull();
  });
});
