import { ICatalogTable, IColumnInfo } from './catalog';
import {
  DapSqlCompletionProvider,
  ISqlCatalog,
  PROVIDER_ID,
  SqlMetadataCache,
  completeSql,
  referencedTables,
  resolveTable,
  tablesNeedingColumns,
  tokenBefore
} from './completer';

const T = (name: string): ICatalogTable => ({
  name,
  schema: name.split('.')[0],
  table: name.split('.')[1],
  description: `about ${name}`,
  readable: true
});

const COL = (name: string, type = 'VARCHAR'): IColumnInfo => ({
  name,
  type,
  nullable: true,
  description: '',
  tags: [],
  masked: false,
  null_count: null,
  distinct_count: null,
  min_value: null,
  max_value: null
});

const TABLES = [
  T('main.customers'),
  T('main.orders'),
  T('main.order_lines'),
  T('staging.customers')
];
const COLUMNS: Record<string, IColumnInfo[]> = {
  'main.customers': [COL('customer_id', 'BIGINT'), COL('email'), COL('region')],
  'main.orders': [COL('order_id', 'BIGINT'), COL('customer_id', 'BIGINT'), COL('status')]
};
const CATALOG: ISqlCatalog = {
  tables: TABLES,
  columns: t => COLUMNS[t]
};

/** Complete at the `|` marker. */
function complete(textWithCursor: string, catalog = CATALOG) {
  const offset = textWithCursor.indexOf('|');
  const text = textWithCursor.replace('|', '');
  const reply = completeSql(text, offset, catalog);
  return {
    ...reply,
    labels: reply.items.map(i => i.label),
    replaced: text.slice(reply.start, reply.end)
  };
}

describe('tokenBefore', () => {
  it('finds dotted identifiers, trailing dots and nothing', () => {
    expect(tokenBefore('FROM main.cu', 12)).toEqual({ start: 5, token: 'main.cu' });
    expect(tokenBefore('SELECT c.', 9)).toEqual({ start: 7, token: 'c.' });
    expect(tokenBefore('SELECT ', 7)).toEqual({ start: 7, token: '' });
    expect(tokenBefore('a.b.c', 5)).toEqual({ start: 0, token: 'a.b.c' });
  });
});

describe('resolveTable', () => {
  it('resolves qualified and bare names, preferring main', () => {
    expect(resolveTable('main.orders', TABLES)).toBe('main.orders');
    expect(resolveTable('MAIN.ORDERS', TABLES)).toBe('main.orders');
    expect(resolveTable('customers', TABLES)).toBe('main.customers');
    expect(resolveTable('staging.customers', TABLES)).toBe('staging.customers');
    expect(resolveTable('nope', TABLES)).toBeNull();
  });
});

describe('referencedTables', () => {
  it('finds tables after FROM/JOIN, with aliases, ignoring the magic line', () => {
    const sql =
      '%%dap sql\nSELECT * FROM main.orders o JOIN customers AS c USING (customer_id) WHERE x';
    const { tables, aliases } = referencedTables(sql, TABLES);
    expect(tables).toEqual(['main.orders', 'main.customers']);
    expect(aliases.get('o')).toBe('main.orders');
    expect(aliases.get('c')).toBe('main.customers');
    expect(aliases.has('using')).toBe(false);
  });

  it('does not take keywords for aliases', () => {
    const { aliases } = referencedTables('SELECT * FROM orders WHERE 1', TABLES);
    expect(aliases.size).toBe(0);
  });

  it('also finds table names mentioned elsewhere', () => {
    expect(referencedTables('SELECT main.orders.status', TABLES).tables).toEqual([
      'main.orders'
    ]);
  });
});

describe('tablesNeedingColumns', () => {
  it('adds the table before the dot', () => {
    expect(tablesNeedingColumns('%%dap sql\nSELECT customers.', 27, TABLES)).toEqual([
      'main.customers'
    ]);
  });
});

describe('completeSql', () => {
  it('completes schema.table after a schema prefix', () => {
    const r = complete('%%dap sql\nSELECT * FROM main.cu|');
    expect(r.labels).toEqual(['main.customers']);
    expect(r.replaced).toBe('main.cu');
    expect(r.items[0]).toMatchObject({ type: 'table', insertText: 'main.customers' });
  });

  it('lists all tables of a schema after `schema.`', () => {
    expect(complete('%%dap sql\nFROM main.|').labels).toEqual([
      'main.customers',
      'main.orders',
      'main.order_lines'
    ]);
  });

  it('offers qualified and bare table names for a bare word after FROM', () => {
    const r = complete('%%dap sql\nSELECT * FROM ord|');
    expect(r.labels).toEqual([
      'main.orders',
      'orders',
      'main.order_lines',
      'order_lines'
    ]);
    expect(r.replaced).toBe('ord');
  });

  it('completes the columns of `table.`, `alias.` and `schema.table.`', () => {
    let r = complete('%%dap sql\nSELECT customers.e| FROM customers');
    expect(r.labels).toEqual(['email']);
    expect(r.replaced).toBe('e');
    expect(r.items[0]).toMatchObject({
      type: 'column',
      documentation: 'main.customers.email VARCHAR'
    });
    r = complete('%%dap sql\nSELECT o.| FROM main.orders o');
    expect(r.labels).toEqual(['order_id', 'customer_id', 'status']);
    expect(r.replaced).toBe('');
    r = complete('%%dap sql\nSELECT main.orders.st| FROM main.orders');
    expect(r.labels).toEqual(['status']);
  });

  it('offers the columns of mentioned tables first, then tables', () => {
    const r = complete('%%dap sql\nSELECT cu| FROM main.customers');
    expect(r.labels).toEqual([
      'customer_id',
      'main.customers',
      'customers',
      'staging.customers'
    ]);
  });

  it('dedupes columns present in several mentioned tables', () => {
    const r = complete(
      '%%dap sql\nSELECT customer_| FROM main.orders JOIN main.customers USING (customer_id)'
    );
    expect(r.labels.filter(l => l === 'customer_id')).toHaveLength(1);
  });

  it('offers nothing on the magic line, for unknown prefixes or unloaded columns', () => {
    expect(complete('%%dap sq|').items).toEqual([]);
    expect(complete('%%dap sql\nSELECT x.| FROM main.orders').items).toEqual([]);
    expect(
      complete('%%dap sql\nSELECT customers.| FROM customers', {
        tables: TABLES,
        columns: () => undefined
      }).items
    ).toEqual([]);
  });
});

describe('SqlMetadataCache', () => {
  it('reuses metadata within the TTL and reloads after', async () => {
    let now = 0;
    const loadTables = jest.fn(async () => TABLES);
    const loadColumns = jest.fn(async (t: string) => COLUMNS[t] ?? []);
    const cache = new SqlMetadataCache({ loadTables, loadColumns, ttlMs: 1000, now: () => now });
    await Promise.all([cache.tables(), cache.tables()]);
    expect(loadTables).toHaveBeenCalledTimes(1);
    now = 999;
    await cache.tables();
    expect(loadTables).toHaveBeenCalledTimes(1);
    now = 1000;
    await cache.tables();
    expect(loadTables).toHaveBeenCalledTimes(2);

    await cache.columns('main.orders');
    await cache.columns('main.orders');
    expect(loadColumns).toHaveBeenCalledTimes(1);
    cache.clear();
    await cache.columns('main.orders');
    expect(loadColumns).toHaveBeenCalledTimes(2);
  });

  it('does not cache failures; a column failure is undefined', async () => {
    const loadTables = jest
      .fn<Promise<ICatalogTable[]>, []>()
      .mockRejectedValueOnce(new Error('down'))
      .mockResolvedValue(TABLES);
    const loadColumns = jest.fn(async () => {
      throw new Error('403');
    });
    const cache = new SqlMetadataCache({ loadTables, loadColumns });
    await expect(cache.tables()).rejects.toThrow('down');
    await expect(cache.tables()).resolves.toBe(TABLES);
    await expect(cache.columns('main.orders')).resolves.toBeUndefined();
    await cache.columns('main.orders');
    expect(loadColumns).toHaveBeenCalledTimes(2);
  });

  it('loads only the columns a completion needs', async () => {
    const loadColumns = jest.fn(async (t: string) => COLUMNS[t] ?? []);
    const cache = new SqlMetadataCache({ loadTables: async () => TABLES, loadColumns });
    const text = '%%dap sql\nSELECT o. FROM main.orders o';
    const catalog = await cache.catalogFor(text, text.indexOf('.') + 1);
    expect(loadColumns.mock.calls.map(c => c[0])).toEqual(['main.orders']);
    expect(catalog.columns('main.orders')).toHaveLength(3);
    expect(catalog.columns('main.customers')).toBeUndefined();
  });
});

describe('DapSqlCompletionProvider', () => {
  const cache = new SqlMetadataCache({
    loadTables: async () => TABLES,
    loadColumns: async t => COLUMNS[t] ?? []
  });
  const provider = new DapSqlCompletionProvider(cache);
  const context = (source: string): any => ({
    widget: {},
    editor: { model: { sharedModel: { getSource: () => source } } }
  });

  it('is the dap:sql provider, ranked above the kernel', () => {
    expect(provider.identifier).toBe(PROVIDER_ID);
    expect(PROVIDER_ID).toBe('dap:sql');
    expect(provider.rank).toBeGreaterThan(550);
  });

  it('applies to %%dap sql cells only', async () => {
    await expect(provider.isApplicable(context('%%dap sql\nSELECT 1'))).resolves.toBe(true);
    await expect(
      provider.isApplicable(context('%%dap sql --limit 5\nSELECT 1'))
    ).resolves.toBe(true);
    await expect(provider.isApplicable(context('import os'))).resolves.toBe(false);
    await expect(provider.isApplicable(context('%%sql\nSELECT 1'))).resolves.toBe(false);
    await expect(provider.isApplicable({ widget: {} } as any)).resolves.toBe(false);
  });

  it('fetches table completions', async () => {
    const text = '%%dap sql\nSELECT * FROM main.cu';
    const reply = await provider.fetch({ text, offset: text.length }, context(text));
    expect(reply.items.map(i => i.label)).toEqual(['main.customers']);
    expect(text.slice(reply.start, reply.end)).toBe('main.cu');
  });

  it('answers nothing (no throw) outside %%dap sql or when the catalog fails', async () => {
    const reply = await provider.fetch({ text: 'x = 1', offset: 5 }, context('x = 1'));
    expect(reply.items).toEqual([]);
    const failing = new DapSqlCompletionProvider(
      new SqlMetadataCache({
        loadTables: async () => {
          throw new Error('down');
        },
        loadColumns: async () => []
      })
    );
    const spy = jest.spyOn(console, 'warn').mockImplementation(() => {});
    const text = '%%dap sql\nSELECT * FROM ma';
    const empty = await failing.fetch({ text, offset: text.length }, context(text));
    expect(empty.items).toEqual([]);
    spy.mockRestore();
  });
});
