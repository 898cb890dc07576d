import {
  ALL_ROWS,
  addAggregate,
  addFilter,
  addGroupBy,
  addJoin,
  addOrder,
  aggregateAliases,
  availableColumns,
  cellSource,
  convertValue,
  initialState,
  isFilterComplete,
  operatorsFor,
  parseRef,
  removeAggregate,
  removeFilter,
  removeGroupBy,
  removeJoin,
  setLimit,
  setSchema,
  setTable,
  sortChoices,
  specFromState,
  splitList,
  suggestJoinKeys,
  toggleColumn,
  updateAggregate,
  updateFilter,
  updateJoin,
  valueKind,
  valuesSpec,
  type IBuilderState
} from './state';

const ORDERS = [
  { name: 'order_id', type: 'BIGINT' },
  { name: 'customer_id', type: 'BIGINT' },
  { name: 'order_ts', type: 'TIMESTAMP' },
  { name: 'channel', type: 'VARCHAR' },
  { name: 'status', type: 'VARCHAR' }
];
const CUSTOMERS = [
  { name: 'customer_id', type: 'BIGINT' },
  { name: 'name', type: 'VARCHAR' },
  { name: 'region', type: 'VARCHAR' },
  { name: 'signup_date', type: 'DATE' }
];

function orders(): IBuilderState {
  return setSchema(setTable(initialState(), 'main.orders'), 'main.orders', ORDERS);
}

describe('column refs', () => {
  it('split schema.table.column', () => {
    expect(parseRef('main.orders.channel')).toEqual({ table: 'main.orders', column: 'channel' });
    expect(parseRef('main.t.a.b')).toEqual({ table: 'main.t', column: 'a.b' });
  });

  it('label columns bare with one table, by table with joins', () => {
    let s = orders();
    expect(availableColumns(s).map(c => c.label)).toEqual(ORDERS.map(c => c.name));
    s = setSchema(s, 'main.customers', CUSTOMERS);
    s = addJoin(s, 'main.customers');
    expect(availableColumns(s).map(c => c.label)).toContain('customers.region');
    expect(availableColumns(s).map(c => c.label)).toContain('orders.status');
  });
});

describe('types', () => {
  it('map SQL and Arrow types to value inputs', () => {
    expect(valueKind('BIGINT')).toBe('number');
    expect(valueKind('DECIMAL(10,2)')).toBe('number');
    expect(valueKind('int64')).toBe('number');
    expect(valueKind('DATE')).toBe('date');
    expect(valueKind('TIMESTAMP WITH TIME ZONE')).toBe('date');
    expect(valueKind('timestamp[us]')).toBe('date');
    expect(valueKind('VARCHAR')).toBe('text');
    expect(valueKind('large_string')).toBe('text');
    expect(valueKind('BOOLEAN')).toBe('boolean');
    expect(valueKind('STRUCT(a INT)')).toBe('other');
  });

  it('offer operators that fit the type', () => {
    expect(operatorsFor('VARCHAR')).toContain('contains');
    expect(operatorsFor('VARCHAR')).not.toContain('<');
    expect(operatorsFor('DATE')).toContain('between');
    expect(operatorsFor('DATE')).not.toContain('like');
    expect(operatorsFor('BOOLEAN')).toEqual(['=', '!=', 'is null', 'is not null']);
    expect(operatorsFor('BIGINT')[0]).toBe('=');
  });

  it('convert raw input to JSON values', () => {
    expect(convertValue('42', 'BIGINT', '=')).toBe(42);
    expect(convertValue('4x', 'BIGINT', '=')).toBeUndefined();
    expect(convertValue('', 'VARCHAR', '=')).toBeUndefined();
    expect(convertValue(' web ', 'VARCHAR', '=')).toBe(' web ');
    expect(convertValue('2024-03-01', 'DATE', '>=')).toBe('2024-03-01');
    expect(convertValue('TRUE', 'BOOLEAN', '=')).toBe(true);
    expect(convertValue('12', 'BIGINT', 'contains')).toBe('12');
    expect(splitList(' a, b,,c ')).toEqual(['a', 'b', 'c']);
  });
});

describe('specFromState', () => {
  it('is null without a table', () => {
    expect(specFromState(initialState())).toBeNull();
  });

  it('starts with the table and the default limit', () => {
    expect(specFromState(orders())).toEqual({
      table: 'main.orders',
      joins: [],
      columns: [],
      filters: [],
      group_by: [],
      aggregates: [],
      order_by: [],
      limit: 1000
    });
  });

  it('builds a filtered, grouped, sorted count', () => {
    let s = orders();
    s = addFilter(s, 'main.orders.channel');
    const f = s.filters[0];
    expect(f.op).toBe('=');
    s = updateFilter(s, f.id, { value: 'web' });
    s = addGroupBy(s, 'main.orders.status');
    s = addAggregate(s);
    s = addOrder(s, `agg:${s.aggregates[0].id}`, true);
    s = setLimit(s, null);
    expect(specFromState(s)).toEqual({
      table: 'main.orders',
      joins: [],
      columns: [],
      filters: [{ column: 'channel', op: '=', value: 'web' }],
      group_by: ['status'],
      aggregates: [{ func: 'count', alias: 'count' }],
      order_by: [{ column: 'count', descending: true }]
    });
  });

  it('leaves unfinished parts out', () => {
    let s = orders();
    s = addFilter(s); // no column
    s = addFilter(s, 'main.orders.order_id'); // no value
    s = addAggregate(s, 'sum', ''); // no column
    s = addOrder(s, '');
    const spec = specFromState(s)!;
    expect(spec.filters).toEqual([]);
    expect(spec.aggregates).toEqual([]);
    expect(spec.order_by).toEqual([]);
    expect(isFilterComplete(s, s.filters[1])).toBe(false);
  });

  it('types values: numbers, between, in lists, null tests', () => {
    let s = orders();
    s = addFilter(s, 'main.orders.order_id');
    s = updateFilter(s, s.filters[0].id, { op: 'between', value: '10', value2: '20' });
    s = addFilter(s, 'main.orders.status');
    s = updateFilter(s, s.filters[1].id, { op: 'in', values: ['shipped', 'delivered'] });
    s = addFilter(s, 'main.orders.order_ts');
    s = updateFilter(s, s.filters[2].id, { op: '>=', value: '2024-06-01' });
    s = addFilter(s, 'main.orders.customer_id');
    s = updateFilter(s, s.filters[3].id, { op: 'is not null' });
    expect(specFromState(s)!.filters).toEqual([
      { column: 'order_id', op: 'between', value: [10, 20] },
      { column: 'status', op: 'in', value: ['shipped', 'delivered'] },
      { column: 'order_ts', op: '>=', value: '2024-06-01' },
      { column: 'customer_id', op: 'is not null' }
    ]);
  });

  it('qualifies columns once a join is added', () => {
    let s = setSchema(orders(), 'main.customers', CUSTOMERS);
    s = addJoin(s, 'main.customers', {
      left: 'main.orders.customer_id',
      right: 'main.customers.customer_id'
    }, 'left');
    s = addGroupBy(s, 'main.customers.region');
    s = addAggregate(s, 'count_distinct', 'main.orders.customer_id');
    const spec = specFromState(s)!;
    expect(spec.joins).toEqual([
      {
        table: 'main.customers',
        type: 'left',
        on: [{ left: 'main.orders.customer_id', right: 'main.customers.customer_id' }]
      }
    ]);
    expect(spec.group_by).toEqual(['main.customers.region']);
    expect(spec.aggregates).toEqual([
      { func: 'count_distinct', column: 'main.orders.customer_id', alias: 'count_distinct_customer_id' }
    ]);
  });

  it('sends selected columns only when not grouped', () => {
    let s = toggleColumn(orders(), 'main.orders.status');
    s = toggleColumn(s, 'main.orders.channel');
    expect(specFromState(s)!.columns).toEqual(['status', 'channel']);
    s = toggleColumn(s, 'main.orders.status');
    expect(specFromState(s)!.columns).toEqual(['channel']);
    s = addAggregate(s);
    expect(specFromState(s)!.columns).toEqual([]);
  });
});

describe('reducers', () => {
  it('setTable resets the query but keeps loaded schemas', () => {
    let s = addFilter(orders(), 'main.orders.status');
    s = setTable(s, 'main.customers');
    expect(s.filters).toEqual([]);
    expect(s.schemas['main.orders']).toBe(ORDERS);
    expect(s.limit).toBe(1000);
  });

  it('a new filter column resets operator and value when they no longer fit', () => {
    let s = addFilter(orders(), 'main.orders.order_id');
    const id = s.filters[0].id;
    s = updateFilter(s, id, { op: '>', value: '5' });
    s = updateFilter(s, id, { column: 'main.orders.status' });
    expect(s.filters[0]).toMatchObject({ op: '=', value: '' });
    s = updateFilter(s, id, { op: 'in', values: ['a'] });
    s = updateFilter(s, id, { op: 'is null' });
    expect(s.filters[0]).toMatchObject({ op: 'is null', value: '', values: [] });
    s = removeFilter(s, id);
    expect(s.filters).toEqual([]);
  });

  it('removing a join drops everything that used its table', () => {
    let s = setSchema(orders(), 'main.customers', CUSTOMERS);
    s = addJoin(s, 'main.customers', {
      left: 'main.orders.customer_id',
      right: 'main.customers.customer_id'
    });
    const joinId = s.joins[0].id;
    s = addFilter(s, 'main.customers.region');
    s = addFilter(s, 'main.orders.channel');
    s = addGroupBy(s, 'main.customers.region');
    s = addAggregate(s, 'count', 'main.customers.name');
    s = addOrder(s, 'main.customers.region');
    s = removeJoin(s, joinId);
    expect(s.joins).toEqual([]);
    expect(s.filters.map(f => f.column)).toEqual(['main.orders.channel']);
    expect(s.groupBy).toEqual([]);
    expect(s.aggregates).toEqual([]);
    expect(s.orderBy).toEqual([]);
  });

  it('changing the joined table clears its key', () => {
    let s = addJoin(orders(), 'main.customers', { left: 'main.orders.customer_id', right: 'main.customers.customer_id' });
    s = updateJoin(s, s.joins[0].id, { table: 'main.products' });
    expect(s.joins[0]).toMatchObject({ table: 'main.products', right: '', left: 'main.orders.customer_id' });
  });

  it('sort keys follow grouping', () => {
    let s = addGroupBy(orders(), 'main.orders.status');
    s = addAggregate(s);
    expect(sortChoices(s).map(c => c.label)).toEqual(['status', 'count']);
    s = addOrder(s, `agg:${s.aggregates[0].id}`);
    s = removeAggregate(s, s.aggregates[0].id);
    expect(s.orderBy).toEqual([]);
    s = addOrder(s, 'main.orders.status');
    s = removeGroupBy(s, 0); // ungrouped again: any column sorts
    expect(s.orderBy.map(o => o.key)).toEqual(['main.orders.status']);
    expect(sortChoices(s)).toHaveLength(ORDERS.length);
  });

  it('aggregate output names are unique', () => {
    let s = addGroupBy(orders(), 'main.orders.status');
    s = addAggregate(s);
    s = addAggregate(s);
    s = addAggregate(s, 'max', 'main.orders.order_id');
    s = updateAggregate(s, s.aggregates[2].id, { alias: 'status' });
    expect([...aggregateAliases(s).values()]).toEqual(['count', 'count_2', 'status_2']);
    s = updateAggregate(s, s.aggregates[0].id, { func: 'sum' });
    expect(s.aggregates[0].column).toBe(''); // sum needs a column, * is only for count
    expect(s.aggregates[1].column).toBe(ALL_ROWS);
  });

  it('limit accepts positive numbers only', () => {
    expect(setLimit(orders(), 50).limit).toBe(50);
    expect(setLimit(orders(), 0).limit).toBeNull();
    expect(setLimit(orders(), NaN).limit).toBeNull();
  });
});

describe('suggestJoinKeys', () => {
  it('matches same-named key columns', () => {
    expect(
      suggestJoinKeys([{ name: 'main.orders', columns: ORDERS }], {
        name: 'main.customers',
        columns: CUSTOMERS
      })
    ).toEqual([{ left: 'main.orders.customer_id', right: 'main.customers.customer_id' }]);
  });

  it('matches <table>_id to id both ways', () => {
    const users = { name: 'app.users', columns: [{ name: 'id', type: 'INT' }, { name: 'name', type: 'TEXT' }] };
    const posts = { name: 'app.posts', columns: [{ name: 'id', type: 'INT' }, { name: 'user_id', type: 'INT' }] };
    const categories = { name: 'app.categories', columns: [{ name: 'id', type: 'INT' }] };
    const items = { name: 'app.items', columns: [{ name: 'category_id', type: 'INT' }] };
    expect(suggestJoinKeys([posts], users)).toEqual([
      { left: 'app.posts.user_id', right: 'app.users.id' }
    ]);
    expect(suggestJoinKeys([users], posts)).toEqual([
      { left: 'app.users.id', right: 'app.posts.user_id' }
    ]);
    expect(suggestJoinKeys([items], categories)).toEqual([
      { left: 'app.items.category_id', right: 'app.categories.id' }
    ]);
  });

  it('does not join on non-key columns with the same name', () => {
    expect(
      suggestJoinKeys(
        [{ name: 'main.a', columns: [{ name: 'name', type: 'VARCHAR' }] }],
        { name: 'main.b', columns: [{ name: 'name', type: 'VARCHAR' }] }
      )
    ).toEqual([]);
  });
});

describe('helpers', () => {
  it('valuesSpec lists distinct values in order', () => {
    expect(valuesSpec('main.orders', 'channel')).toEqual({
      table: 'main.orders',
      joins: [],
      columns: [],
      filters: [],
      group_by: ['channel'],
      aggregates: [],
      order_by: [{ column: 'channel', descending: false }],
      limit: 200
    });
  });

  it('cellSource makes a %%dap sql cell', () => {
    expect(cellSource('SELECT 1\n')).toBe('%%dap sql\nSELECT 1\n');
  });
});
