jest.mock('../handler', () => ({ requestAPI: jest.fn() }));

import { restApi, type IBuilderApi, type ILineage } from './api';
import { requestAPI } from '../handler';
import {
  LineageWidget,
  columnPath,
  describeColumnPath,
  describeLink,
  edgeKey,
  layoutLineage,
  lineageEdges,
  lineageLayers,
  mergeColumns
} from './lineage';

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
    progress: jest.fn(async (_id: string): Promise<number | null> => null),
    publishDashboard: jest.fn(),
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

// -- the layered graph of a newer server (edges, processes, column lineage) --------------------

const ENRICHED: ILineage = {
  table: 'main.enriched',
  upstream: [
    { name: 'main.customers', kind: 'table' },
    { name: 'main.orders', kind: 'table' },
    { name: '(restricted)', kind: 'restricted' },
    { name: '/data/raw.csv', kind: 'file' }
  ],
  downstream: [
    { name: 'main.by_region', kind: 'table' },
    { name: 'main.top', kind: 'table' }
  ],
  nodes: [
    { name: '/data/raw.csv', kind: 'file' },
    { name: '(restricted)', kind: 'restricted' },
    { name: 'main.orders', kind: 'table' },
    { name: 'main.customers', kind: 'table' },
    { name: 'main.enriched', kind: 'table' },
    { name: 'main.by_region', kind: 'table' },
    { name: 'main.top', kind: 'table' },
    { name: 'https://api.example.com/rates', kind: 'api' }
  ],
  edges: [
    { source: '/data/raw.csv', target: 'main.orders', process: 'catalog' },
    { source: '/data/raw.csv', target: 'main.enriched', process: 'ingest:raw.csv' },
    { source: '(restricted)', target: 'main.customers', process: 'pipeline:crm' },
    { source: 'main.orders', target: 'main.enriched', process: 'sql:ann', recorded_at: '2026-11-28T04:09:44+00:00' },
    { source: 'main.orders', target: 'main.enriched', process: 'pipeline:orders_daily' },
    { source: 'main.customers', target: 'main.enriched', process: 'sql:ann' },
    { source: 'main.enriched', target: 'main.by_region', process: 'pipeline:orders_daily' },
    { source: 'https://api.example.com/rates', target: 'main.by_region', process: 'pipeline:orders_daily' },
    { source: 'main.by_region', target: 'main.top', process: 'sql:ann' }
  ],
  columns: [
    { source_table: 'main.customers', source_column: 'region', target_table: 'main.enriched', target_column: 'region' },
    { source_table: 'main.enriched', source_column: 'amount', target_table: 'main.by_region', target_column: 'total' }
  ]
};

const REGION: ILineage = {
  table: 'main.enriched',
  column: 'region',
  upstream: [{ name: 'main.customers.region', kind: 'column' }],
  downstream: [
    { name: 'main.by_region.region', kind: 'column' },
    { name: 'main.top.region', kind: 'column' }
  ],
  nodes: [
    { name: 'main.customers.region', kind: 'column' },
    { name: 'main.enriched.region', kind: 'column' },
    { name: 'main.by_region.region', kind: 'column' },
    { name: 'main.top.region', kind: 'column' }
  ],
  edges: [
    { source: 'main.customers.region', target: 'main.enriched.region', process: 'sql:ann' },
    { source: 'main.enriched.region', target: 'main.by_region.region', process: 'pipeline:orders_daily' },
    { source: 'main.by_region.region', target: 'main.top.region', process: 'sql:ann' }
  ],
  columns: []
};

function entries<V>(map: Map<string, V>): Record<string, V> {
  const out: Record<string, V> = {};
  map.forEach((v, k) => (out[k] = v));
  return out;
}

describe('lineageLayers / layoutLineage with edges', () => {
  it('layers the real chain: longest path left of the table, then right of it', () => {
    const layers = lineageLayers(ENRICHED);
    expect(entries(layers)).toEqual({
      'main.enriched': 0,
      'main.orders': -1,
      'main.customers': -1,
      '/data/raw.csv': -2, // feeds orders too, so it sits left of orders
      '(restricted)': -2,
      'main.by_region': 1,
      'main.top': 2,
      'https://api.example.com/rates': 0 // a side source of by_region: left of it
    });
  });

  it('links nodes as the edges say, merging the processes of one pair', () => {
    const { nodes, links, layers, width } = layoutLineage(ENRICHED);
    const node = (name: string) => nodes.find(n => n.name === name)!;
    expect(layers.map(l => l.length)).toEqual([2, 2, 2, 1, 1]);
    // Left to right by layer.
    expect(node('/data/raw.csv').x).toBeLessThan(node('main.orders').x);
    expect(node('main.orders').x).toBeLessThan(node('main.enriched').x);
    expect(node('main.by_region').x).toBeLessThan(node('main.top').x);
    expect(width).toBeGreaterThan(node('main.top').x);
    // Not everything is linked to the centre.
    const pairs = links.map(l => `${l.source.name} > ${l.target.name}`);
    expect(pairs).toHaveLength(8);
    expect(pairs).toContain('main.by_region > main.top');
    expect(pairs).not.toContain('main.enriched > main.top');
    const merged = links.find(l => l.source.name === 'main.orders')!;
    expect(merged.processes).toEqual(['sql:ann', 'pipeline:orders_daily']);
    expect(describeLink(merged)).toBe(
      'main.orders → main.enriched: sql:ann, pipeline:orders_daily, recorded 2026-11-28 04:09 UTC'
    );
    // Only catalog tables re-centre the graph; roles follow the side.
    expect(nodes.filter(n => n.clickable).map(n => n.name).sort()).toEqual([
      'main.by_region',
      'main.customers',
      'main.orders',
      'main.top'
    ]);
    expect(node('(restricted)').role).toBe('upstream');
    expect(node('main.top').role).toBe('downstream');
    // The side source shares the centre's column without a back edge.
    const side = links.find(l => l.source.name.startsWith('https://'))!;
    expect(side.back).toBe(false);
  });

  it('keeps sources of a table next to each other (fewer crossings)', () => {
    const { layers } = layoutLineage(ENRICHED);
    // raw.csv feeds orders (first in its column), restricted feeds customers.
    expect(layers[0]).toEqual(
      layers[1][0] === 'main.orders' ? ['/data/raw.csv', '(restricted)'] : ['(restricted)', '/data/raw.csv']
    );
  });

  it('draws a cycle below the nodes instead of backwards through them', () => {
    const cyclic: ILineage = {
      table: 'main.a',
      upstream: [{ name: 'main.b', kind: 'table' }],
      downstream: [{ name: 'main.b', kind: 'table' }],
      edges: [
        { source: 'main.a', target: 'main.b', process: 'sql:x' },
        { source: 'main.b', target: 'main.a', process: 'sql:y' }
      ]
    };
    const { nodes, links } = layoutLineage(cyclic);
    expect(nodes).toHaveLength(2);
    expect(links).toHaveLength(2);
    expect(links.filter(l => l.back)).toHaveLength(1);
  });

  it('falls back to the star of an older server when edges are missing', () => {
    const { upstream, downstream, table } = ENRICHED;
    const edges = lineageEdges({ table, upstream, downstream });
    expect(edges).toHaveLength(6);
    expect(edges.every(e => e.source === table || e.target === table)).toBe(true);
    const layers = lineageLayers({ table, upstream, downstream });
    expect(new Set([...layers.values()])).toEqual(new Set([-1, 0, 1]));
  });
});

describe('columnPath', () => {
  it('maps a column graph to the tables and table edges it passes', () => {
    const path = columnPath(REGION);
    expect(entries(path.tables)).toEqual({
      'main.enriched': ['region'],
      'main.customers': ['region'],
      'main.by_region': ['region'],
      'main.top': ['region']
    });
    expect([...path.edges].map(k => k.replace('\u0000', ' > '))).toEqual([
      'main.customers > main.enriched',
      'main.enriched > main.by_region',
      'main.by_region > main.top'
    ]);
    expect(describeColumnPath('main.enriched', path)).toBe(
      'Column main.enriched.region comes from main.customers.region; feeds main.by_region.region, main.top.region.'
    );
  });

  it('keeps file and database sources as whole nodes, and says when nothing is known', () => {
    const path = columnPath({
      table: 'main.orders',
      column: 'id',
      upstream: [{ name: '/data/orders.csv', kind: 'file' }],
      downstream: [],
      nodes: [{ name: '/data/orders.csv', kind: 'file' }],
      edges: [{ source: '/data/orders.csv', target: 'main.orders.id', process: 'catalog' }]
    });
    expect(path.tables.get('/data/orders.csv')).toEqual([]);
    expect(path.edges.has(edgeKey('/data/orders.csv', 'main.orders'))).toBe(true);
    const none = columnPath({ table: 'main.t', column: 'x', upstream: [], downstream: [], edges: [] });
    expect(describeColumnPath('main.t', none)).toBe('No column lineage recorded for main.t.x.');
  });

  it('offers the catalog columns plus those only the column edges name', () => {
    expect(mergeColumns(['id'], ENRICHED)).toEqual(['id', 'region', 'amount']);
  });
});

describe('LineageWidget with edges', () => {
  let widget: LineageWidget;
  afterEach(() => widget?.dispose());

  function api(columnAnswer: (col: string) => Promise<ILineage>): jest.Mocked<IBuilderApi> {
    return {
      tables: jest.fn(async () => [{ name: 'main.enriched' }, { name: 'main.orders' }]),
      columns: jest.fn(async (_table: string) => [
        { name: 'order_id', type: 'BIGINT' },
        { name: 'region', type: 'VARCHAR' }
      ]),
      build: jest.fn(),
      run: jest.fn(),
      page: jest.fn(),
      progress: jest.fn(async (_id: string): Promise<number | null> => null),
    publishDashboard: jest.fn(),
      lineage: jest.fn(async (t: string, column?: string) => {
        if (column) {
          return columnAnswer(column);
        }
        if (t === 'main.enriched') {
          return ENRICHED;
        }
        return { table: t, upstream: [], downstream: [], nodes: [], edges: [], columns: [] };
      })
    } as jest.Mocked<IBuilderApi>;
  }

  const edge = (root: HTMLElement, source: string, target: string) =>
    root.querySelector<SVGGElement>(`.dap-lineage-edge[data-source="${source}"][data-target="${target}"]`)!;

  it('draws one edge per pair with its process, told on hover', async () => {
    widget = new LineageWidget({ api: api(async () => REGION), table: 'main.enriched' });
    await widget.ready;
    await settle();
    const root = widget.node;
    expect(root.querySelectorAll('.dap-lineage-link')).toHaveLength(8);
    const e = edge(root, 'main.by_region', 'main.top');
    expect(e.getAttribute('data-process')).toBe('sql:ann');
    expect(e.querySelector('title')?.textContent).toBe('main.by_region → main.top: sql:ann');
    const info = root.querySelector('.dap-lineage-edge-info')!;
    e.dispatchEvent(new MouseEvent('mouseenter')); // jsdom does not derive it from mouseover
    expect(info.textContent).toBe('main.by_region → main.top: sql:ann');
    e.dispatchEvent(new MouseEvent('mouseleave'));
    expect(info.textContent).toContain('Point at an edge');
    // The related lists tell the processes too, for keyboards and screen readers.
    const via = [...root.querySelectorAll('.dap-lineage-related li')].map(li => li.textContent);
    expect(via).toContain('main.customers · by sql:ann');
    expect(via).toContain('(restricted) (restricted) · by pipeline:crm');
  });

  it('styles restricted, file and api nodes by kind and never re-centres on them', async () => {
    const fake = api(async () => REGION);
    widget = new LineageWidget({ api: fake, table: 'main.enriched' });
    await widget.ready;
    const node = (name: string) => widget.node.querySelector<SVGGElement>(`.dap-lineage-node[data-name="${name}"]`)!;
    for (const [name, kind] of [
      ['(restricted)', 'restricted'],
      ['/data/raw.csv', 'file'],
      ['https://api.example.com/rates', 'api']
    ]) {
      expect(node(name).classList.contains(`dap-lineage-kind-${kind}`)).toBe(true);
      expect(node(name).getAttribute('role')).toBeNull();
      expect(node(name).classList.contains('dap-mod-clickable')).toBe(false);
      node(name).dispatchEvent(new MouseEvent('click', { bubbles: true }));
    }
    await settle();
    expect(fake.lineage).toHaveBeenCalledTimes(1);
    expect(node('(restricted)').querySelector('title')?.textContent).toBe('(restricted): a table you may not read');
    node('main.top').dispatchEvent(new MouseEvent('click', { bubbles: true }));
    await settle();
    expect(widget.table).toBe('main.top');
    expect(fake.lineage).toHaveBeenLastCalledWith('main.top');
  });

  it('asks for a column and highlights its path', async () => {
    const fake = api(async () => REGION);
    widget = new LineageWidget({ api: fake, table: 'main.enriched' });
    await widget.ready;
    await settle();
    const picker = widget.node.querySelector<HTMLSelectElement>('select.dap-lineage-column')!;
    expect(picker.getAttribute('aria-label')).toBe('Column');
    expect([...picker.options].map(o => o.value)).toEqual(['', 'order_id', 'region', 'amount']);
    picker.value = 'region';
    picker.dispatchEvent(new Event('change'));
    await settle();
    expect(fake.lineage).toHaveBeenLastCalledWith('main.enriched', 'region');
    expect(widget.column).toBe('region');
    const root = widget.node;
    expect(root.querySelector('.dap-lineage-svg')?.classList.contains('dap-lineage-has-path')).toBe(true);
    const onPath = [...root.querySelectorAll('.dap-lineage-node.dap-mod-path')].map(n => n.getAttribute('data-name'));
    expect(onPath.sort()).toEqual(['main.by_region', 'main.customers', 'main.enriched', 'main.top']);
    const pathEdges = [...root.querySelectorAll('.dap-lineage-edge.dap-mod-path')].map(
      e => `${e.getAttribute('data-source')} > ${e.getAttribute('data-target')}`
    );
    expect(pathEdges.sort()).toEqual([
      'main.by_region > main.top',
      'main.customers > main.enriched',
      'main.enriched > main.by_region'
    ]);
    expect(root.querySelector('.dap-lineage-node[data-name="main.customers"] .dap-lineage-kind')?.textContent).toBe(
      'column region'
    );
    expect(root.querySelector('.dap-lineage-column-path')?.textContent).toContain('comes from main.customers.region');
    // Whole table again: no highlight.
    const again = root.querySelector<HTMLSelectElement>('select.dap-lineage-column')!;
    again.value = '';
    again.dispatchEvent(new Event('change'));
    await settle();
    expect(root.querySelector('.dap-mod-path')).toBeNull();
    expect(root.querySelector('.dap-lineage-column-path')?.textContent).toBe('');
  });

  it('keeps the graph when column lineage fails or the server has none', async () => {
    let answer: () => Promise<ILineage> = async () => {
      throw Object.assign(new Error('no column region'), { response: { status: 404 } });
    };
    widget = new LineageWidget({ api: api(() => answer()), table: 'main.enriched' });
    await widget.ready;
    await settle();
    await widget.showColumn('region');
    const info = () => widget.node.querySelector('.dap-lineage-column-path')?.textContent;
    expect(info()).toBe('Column lineage unavailable: no column region');
    expect(widget.node.querySelectorAll('.dap-lineage-link')).toHaveLength(8);
    expect(widget.node.querySelector('.dap-lineage-error')?.textContent).toBe('');
    answer = async () => ({ table: 'main.enriched', upstream: [], downstream: [] }); // older server
    await widget.showColumn('order_id');
    expect(info()).toBe('This DAP server does not report column lineage.');
    expect(widget.path).toBeNull();
    // Re-centring forgets the column.
    await widget.showTable('main.orders');
    expect(widget.column).toBe('');
    expect(info()).toBe('');
  });
});

describe('restApi.lineage', () => {
  it('asks lineage/{table}?column= and normalises the answer', async () => {
    const mocked = requestAPI as jest.MockedFunction<typeof requestAPI>;
    mocked.mockResolvedValueOnce({ table: 'main.t', column: 'region', upstream: [], downstream: [], edges: [{ source: 'a', target: 'b' }] });
    const answer = await restApi.lineage('main.t', 'region');
    expect(mocked).toHaveBeenLastCalledWith('lineage/main.t?column=region', expect.anything());
    expect(answer.edges).toEqual([{ source: 'a', target: 'b', process: '', run_id: null, recorded_at: null }]);
  });
});
