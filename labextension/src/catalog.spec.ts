import {
  CSS,
  EMPTY_MESSAGE,
  ICatalogTable,
  formatRowCount,
  formatTableCount,
  hasPii,
  parseCatalogResponse,
  parseLineage,
  parseTableDetail,
  renderCatalogItem,
  renderCatalogItems,
  renderCatalogList,
  renderError,
  tableTooltip
} from './catalog';

const ORDERS: ICatalogTable = {
  name: 'main.orders',
  schema: 'main',
  table: 'orders',
  kind: 'delta',
  description: 'One row per order',
  row_count: 1234567,
  owner: 'alice',
  tags: ['pii', 'gold']
};

const CUSTOMERS: ICatalogTable = {
  name: 'main.customers',
  schema: 'main',
  table: 'customers',
  kind: 'parquet',
  description: '',
  row_count: 1,
  owner: null,
  tags: []
};

describe('formatRowCount', () => {
  it.each<[number | null | undefined, string]>([
    [0, '0 rows'],
    [1, '1 row'],
    [2, '2 rows'],
    [999, '999 rows'],
    [1234, '1,234 rows'],
    [9999, '9,999 rows'],
    [10_000, '10K rows'],
    [12_345, '12.3K rows'],
    [999_999, '999.9K rows'],
    [1_000_000, '1M rows'],
    [1_500_000, '1.5M rows'],
    [1_234_567, '1.2M rows'],
    [2_000_000_000, '2B rows'],
    [3.7e12, '3.7T rows'],
    [42.9, '42 rows'],
    [null, '? rows'],
    [undefined, '? rows'],
    [-5, '? rows'],
    [NaN, '? rows'],
    [Infinity, '? rows']
  ])('formatRowCount(%p) === %p', (input, expected) => {
    expect(formatRowCount(input)).toBe(expected);
  });
});

describe('formatTableCount', () => {
  it('pluralises', () => {
    expect(formatTableCount(0)).toBe('0 tables');
    expect(formatTableCount(1)).toBe('1 table');
    expect(formatTableCount(1500)).toBe('1,500 tables');
  });
});

describe('parseCatalogResponse', () => {
  it('keeps valid entries and normalises optional fields', () => {
    const tables = parseCatalogResponse({
      tables: [
        {
          name: 'main.orders',
          schema: 'main',
          table: 'orders',
          kind: 'delta',
          description: 'One row per order',
          row_count: 123,
          owner: 'alice',
          tags: ['pii', 7, null, 'gold'],
          extra: 'ignored'
        },
        { name: 'main.bare' },
        { schema: 'main' },
        { name: '' },
        'not-an-object',
        null
      ]
    });
    expect(tables).toEqual([
      {
        name: 'main.orders',
        schema: 'main',
        table: 'orders',
        kind: 'delta',
        description: 'One row per order',
        row_count: 123,
        owner: 'alice',
        tags: ['pii', 'gold'],
        version: null,
        updated_at: null,
        readable: true
      },
      {
        name: 'main.bare',
        schema: undefined,
        table: undefined,
        kind: undefined,
        description: null,
        row_count: null,
        owner: null,
        tags: [],
        version: null,
        updated_at: null,
        readable: true
      }
    ]);
  });

  it('rejects bodies without a tables array', () => {
    expect(() => parseCatalogResponse({})).toThrow(/tables/);
    expect(() => parseCatalogResponse(null)).toThrow(/tables/);
    expect(() => parseCatalogResponse([])).toThrow(/tables/);
    expect(() => parseCatalogResponse({ tables: 'x' })).toThrow(/tables/);
  });
});

describe('tableTooltip', () => {
  it('uses the description and owner', () => {
    expect(tableTooltip(ORDERS)).toBe('One row per order\nOwner: alice');
  });

  it('falls back to the name when there is no description', () => {
    expect(tableTooltip(CUSTOMERS)).toBe('main.customers');
  });
});

describe('renderCatalogItem', () => {
  it('renders name, kind, row count, tooltip and tag badges', () => {
    const li = renderCatalogItem(ORDERS);
    expect(li.tagName).toBe('LI');
    expect(li.className).toBe(CSS.item);
    expect(li.getAttribute('data-table')).toBe('main.orders');
    expect(li.title).toBe('One row per order\nOwner: alice');
    expect(li.querySelector(`.${CSS.itemName}`)?.textContent).toBe(
      'main.orders'
    );
    expect(li.querySelector(`.${CSS.itemKind}`)?.textContent).toBe('delta');
    expect(li.querySelector(`.${CSS.itemRows}`)?.textContent).toBe(
      '1.2M rows'
    );
    const tags = Array.from(li.querySelectorAll(`.${CSS.tag}`)).map(
      t => t.textContent
    );
    expect(tags).toEqual(['pii', 'gold']);
  });

  it('omits the tag container and kind when absent', () => {
    const li = renderCatalogItem({ name: 'x.y' });
    expect(li.querySelector(`.${CSS.tags}`)).toBeNull();
    expect(li.querySelector(`.${CSS.itemKind}`)).toBeNull();
    expect(li.querySelector(`.${CSS.itemRows}`)?.textContent).toBe('? rows');
    expect(li.title).toBe('x.y');
  });

  it('never interprets server text as HTML', () => {
    const li = renderCatalogItem({
      name: '<img src=x onerror=alert(1)>',
      tags: ['<b>bold</b>']
    });
    expect(li.querySelector('img')).toBeNull();
    expect(li.querySelector('b')).toBeNull();
    expect(li.querySelector(`.${CSS.itemName}`)?.textContent).toBe(
      '<img src=x onerror=alert(1)>'
    );
  });
});

describe('renderCatalogItems / renderCatalogList', () => {
  it('sorts tables by name', () => {
    const items = renderCatalogItems([ORDERS, CUSTOMERS]);
    expect(items.map(li => li.dataset.table)).toEqual([
      'main.customers',
      'main.orders'
    ]);
  });

  it('renders a placeholder for an empty catalog', () => {
    const items = renderCatalogItems([]);
    expect(items).toHaveLength(1);
    expect(items[0].className).toBe(CSS.empty);
    expect(items[0].textContent).toBe(EMPTY_MESSAGE);
  });

  it('replaces previous list content', () => {
    const ul = document.createElement('ul');
    ul.className = CSS.list;
    renderCatalogList(ul, [ORDERS, CUSTOMERS]);
    expect(ul.querySelectorAll(`li.${CSS.item}`)).toHaveLength(2);
    renderCatalogList(ul, [ORDERS]);
    expect(ul.querySelectorAll(`li.${CSS.item}`)).toHaveLength(1);
    expect(
      ul.querySelector('li[data-table="main.orders"]')?.textContent
    ).toContain('main.orders');
    renderCatalogList(ul, []);
    expect(ul.children).toHaveLength(1);
    expect(ul.firstElementChild?.className).toBe(CSS.empty);
  });
});

describe('renderError', () => {
  it('builds an alert div with the message as text', () => {
    const div = renderError('boom <b>x</b>');
    expect(div.className).toBe(CSS.error);
    expect(div.getAttribute('role')).toBe('alert');
    expect(div.textContent).toBe('boom <b>x</b>');
    expect(div.querySelector('b')).toBeNull();
  });
});

describe('parseCatalogResponse: governance fields', () => {
  it('keeps readable, version and updated_at', () => {
    const [t] = parseCatalogResponse({
      tables: [
        {
          name: 'main.secret',
          readable: false,
          version: 3,
          updated_at: '2026-11-03T14:05:00Z',
          row_count: null
        }
      ]
    });
    expect(t.readable).toBe(false);
    expect(t.version).toBe(3);
    expect(t.updated_at).toBe('2026-11-03T14:05:00Z');
    expect(t.row_count).toBeNull();
  });
});

describe('hasPii', () => {
  it('finds the pii tag in any case', () => {
    expect(hasPii(['retail', 'PII'])).toBe(true);
    expect(hasPii(['retail'])).toBe(false);
    expect(hasPii(undefined)).toBe(false);
  });
});

describe('parseTableDetail', () => {
  it('normalises columns, stats and the governed sample', () => {
    const detail = parseTableDetail({
      name: 'main.customers',
      schema: 'main',
      table: 'customers',
      kind: 'delta',
      description: 'Customers',
      owner: 'tester',
      tags: ['pii'],
      row_count: null,
      version: 0,
      updated_at: '2026-11-28T00:00:00Z',
      readable: true,
      row_filtered: true,
      columns: [
        {
          name: 'email',
          type: 'VARCHAR',
          nullable: true,
          description: 'Contact',
          tags: ['pii'],
          masked: true,
          null_count: null,
          distinct_count: null,
          min_value: null,
          max_value: null
        },
        { name: 'id', type: 'BIGINT', min_value: 1, max_value: 200 },
        { name: 'n', type: 'BIGINT', distinct_count: 9442, distinct_approx: true },
        { type: 'no name' }
      ],
      sample_columns: ['id', 'email'],
      sample_rows: [[1, '***@example.com'], 'bad row']
    });
    expect(detail.row_filtered).toBe(true);
    expect(detail.columns.map(c => c.name)).toEqual(['email', 'id', 'n']);
    expect(detail.columns[2]).toMatchObject({ distinct_count: 9442, distinct_approx: true });
    expect(detail.columns[0]).toMatchObject({ masked: true, tags: ['pii'] });
    expect(detail.columns[1]).toMatchObject({
      masked: false,
      nullable: true,
      min_value: '1',
      max_value: '200',
      null_count: null,
      distinct_approx: false
    });
    expect(detail.sample_rows).toEqual([[1, '***@example.com']]);
    expect(detail.sample_columns).toEqual(['id', 'email']);
  });

  it('rejects bodies without a name', () => {
    expect(() => parseTableDetail({})).toThrow(/name/);
    expect(() => parseTableDetail(null)).toThrow(/name/);
  });
});

describe('parseLineage', () => {
  it('keeps named nodes', () => {
    expect(
      parseLineage({
        table: 'main.t',
        upstream: [{ name: '/data/t.csv', kind: 'file' }, { kind: 'x' }],
        downstream: 'nope'
      })
    ).toEqual({
      table: 'main.t',
      upstream: [{ name: '/data/t.csv', kind: 'file' }],
      downstream: []
    });
    expect(() => parseLineage('x')).toThrow();
  });

  it('keeps the graph of a newer server and drops malformed edges', () => {
    const lineage = parseLineage({
      table: 'main.t',
      column: 'amount',
      upstream: [],
      downstream: [],
      nodes: [{ name: 'main.t.amount', kind: 'column' }],
      edges: [
        { source: 'main.s.x', target: 'main.t.amount', process: 'sql:ann', run_id: 'r1', recorded_at: '2026-11-28T04:09:44+00:00' },
        { source: 'main.s.y', target: 'main.t.amount' },
        { source: 'main.s.z' },
        'nope'
      ],
      columns: [
        { source_table: 'main.s', source_column: 'x', target_table: 'main.t', target_column: 'amount' },
        { source_table: 'main.s', source_column: 1, target_table: 'main.t', target_column: 'amount' }
      ]
    });
    expect(lineage.column).toBe('amount');
    expect(lineage.nodes).toEqual([{ name: 'main.t.amount', kind: 'column' }]);
    expect(lineage.edges).toEqual([
      { source: 'main.s.x', target: 'main.t.amount', process: 'sql:ann', run_id: 'r1', recorded_at: '2026-11-28T04:09:44+00:00' },
      { source: 'main.s.y', target: 'main.t.amount', process: '', run_id: null, recorded_at: null }
    ]);
    expect(lineage.columns).toHaveLength(1);
    // An older server: the fields stay absent, so the view can tell.
    const old = parseLineage({ table: 'main.t', upstream: [], downstream: [] });
    expect('edges' in old || 'nodes' in old || 'columns' in old || 'column' in old).toBe(false);
  });
});
