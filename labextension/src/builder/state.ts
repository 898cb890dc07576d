/**
 * State of the visual query builder and the pure functions around it:
 * reducers (add/remove a filter, a join, …) and the translation of the
 * state into the `POST /dap/api/v1/query/build` spec.
 *
 * No `@jupyterlab/*`, `@lumino/*` or DOM imports: jest tests it directly.
 *
 * Column references are stored qualified, `schema.table.column`
 * (see {@link columnRef}); {@link specFromState} writes them bare when the
 * query has one table and qualified when it has joins, so a column present
 * in two tables (`customer_id`) is never ambiguous for the server.
 */

/** A column as `GET catalog/{table}` describes it. */
export interface IColumnInfo {
  name: string;
  type: string;
}

export type FilterOp =
  | '='
  | '!='
  | '<'
  | '<='
  | '>'
  | '>='
  | 'in'
  | 'not in'
  | 'between'
  | 'like'
  | 'contains'
  | 'starts with'
  | 'is null'
  | 'is not null';

export type AggregateFunc =
  | 'count'
  | 'count_distinct'
  | 'sum'
  | 'avg'
  | 'min'
  | 'max';

export type JoinType = 'inner' | 'left' | 'right' | 'full';

export const AGGREGATE_FUNCS: ReadonlyArray<{
  func: AggregateFunc;
  label: string;
}> = [
  { func: 'count', label: 'count' },
  { func: 'count_distinct', label: 'count distinct' },
  { func: 'sum', label: 'sum' },
  { func: 'avg', label: 'avg' },
  { func: 'min', label: 'min' },
  { func: 'max', label: 'max' }
];

export const JOIN_TYPES: ReadonlyArray<JoinType> = [
  'inner',
  'left',
  'right',
  'full'
];

/** `count` of rows: the aggregate column of `count(*)`. */
export const ALL_ROWS = '*';

export interface IJoinState {
  id: number;
  table: string;
  type: JoinType;
  /** Column ref of a table before this join. */
  left: string;
  /** Column ref of the joined table. */
  right: string;
}

export interface IFilterState {
  id: number;
  column: string;
  op: FilterOp;
  /** Raw input text: the value, or the low end of `between`. */
  value: string;
  /** High end of `between`. */
  value2: string;
  /** Chosen values of `in` / `not in`. */
  values: string[];
}

export interface IAggregateState {
  id: number;
  func: AggregateFunc;
  /** Column ref, or {@link ALL_ROWS} for `count`. */
  column: string;
  alias: string;
}

export interface IOrderState {
  id: number;
  /** A column ref, or `agg:<id>` for an aggregate. */
  key: string;
  descending: boolean;
}

export interface IBuilderState {
  /** Main table (`schema.table`), `''` while none is chosen. */
  table: string;
  joins: IJoinState[];
  /** Output columns (refs); empty means every column of the main table. */
  columns: string[];
  filters: IFilterState[];
  groupBy: string[];
  aggregates: IAggregateState[];
  orderBy: IOrderState[];
  limit: number | null;
  /** Columns of the tables loaded so far. */
  schemas: Record<string, IColumnInfo[]>;
  nextId: number;
}

/** Body of `POST query/build`. */
export interface IQuerySpec {
  table: string;
  joins: {
    table: string;
    type: JoinType;
    on: { left: string; right: string }[];
  }[];
  columns: string[];
  filters: { column: string; op: FilterOp; value?: unknown }[];
  group_by: string[];
  aggregates: { func: AggregateFunc; column?: string; alias: string }[];
  order_by: { column: string; descending: boolean }[];
  limit?: number;
}

export const DEFAULT_LIMIT = 1000;

// --------------------------------------------------------------------------
// Column references

/** `schema.table.column`. */
export function columnRef(table: string, column: string): string {
  return `${table}.${column}`;
}

/**
 * Split a ref into table and column. Catalog tables are `schema.table`, so
 * the table is the first two dot-separated parts.
 */
export function parseRef(ref: string): { table: string; column: string } {
  const parts = ref.split('.');
  if (parts.length < 3) {
    return { table: '', column: ref };
  }
  return {
    table: parts.slice(0, 2).join('.'),
    column: parts.slice(2).join('.')
  };
}

/** The tables of the query: the main one, then the joined ones. */
export function queryTables(state: IBuilderState): string[] {
  if (!state.table) {
    return [];
  }
  return [state.table, ...state.joins.map(j => j.table).filter(t => t)];
}

export interface IColumnChoice {
  ref: string;
  table: string;
  column: string;
  type: string;
  /** Label for a select option: bare with one table, `table.column` otherwise. */
  label: string;
}

function shortName(table: string): string {
  return table.split('.').pop() ?? table;
}

/** Every column of the query's tables whose schema is loaded. */
export function availableColumns(state: IBuilderState): IColumnChoice[] {
  const tables = queryTables(state);
  const many = tables.length > 1;
  const out: IColumnChoice[] = [];
  for (const table of tables) {
    for (const c of state.schemas[table] ?? []) {
      out.push({
        ref: columnRef(table, c.name),
        table,
        column: c.name,
        type: c.type,
        label: many ? `${shortName(table)}.${c.name}` : c.name
      });
    }
  }
  return out;
}

/** SQL type of a column ref, `''` if unknown. */
export function columnType(state: IBuilderState, ref: string): string {
  const { table, column } = parseRef(ref);
  return state.schemas[table]?.find(c => c.name === column)?.type ?? '';
}

// --------------------------------------------------------------------------
// Types → inputs and operators

export type ValueKind = 'number' | 'date' | 'boolean' | 'text' | 'other';

const NUMERIC =
  /^(u?int|uinteger|integer|bigint|smallint|tinyint|hugeint|ubigint|usmallint|utinyint|int\d+|uint\d+|float|double|real|decimal|numeric|halffloat)/i;
const TEMPORAL = /^(date|timestamp|time|datetime)/i;
const TEXT = /^(varchar|char|text|string|large_string|utf8|large_utf8|bpchar|enum|uuid|dictionary)/i;
const BOOL = /^(bool|boolean)$/i;

/** True for SQL (`BIGINT`, `DECIMAL(10,2)`) and Arrow (`int64`, `double`) numbers. */
export function isNumericType(type: string): boolean {
  return NUMERIC.test(type.trim());
}

/** How a filter value of a column of this type is entered. */
export function valueKind(type: string): ValueKind {
  const t = type.trim();
  if (NUMERIC.test(t)) {
    return 'number';
  }
  if (TEMPORAL.test(t)) {
    return 'date';
  }
  if (BOOL.test(t)) {
    return 'boolean';
  }
  if (TEXT.test(t)) {
    return 'text';
  }
  return 'other';
}

const NULL_OPS: FilterOp[] = ['is null', 'is not null'];
const COMPARE_OPS: FilterOp[] = ['=', '!=', '<', '<=', '>', '>='];

/** Operators offered for a column of this type, the most useful first. */
export function operatorsFor(type: string): FilterOp[] {
  switch (valueKind(type)) {
    case 'number':
      return [...COMPARE_OPS, 'between', 'in', 'not in', ...NULL_OPS];
    case 'date':
      return [...COMPARE_OPS, 'between', ...NULL_OPS];
    case 'boolean':
      return ['=', '!=', ...NULL_OPS];
    case 'text':
      return [
        '=',
        '!=',
        'in',
        'not in',
        'contains',
        'starts with',
        'like',
        ...NULL_OPS
      ];
    default:
      return [
        ...COMPARE_OPS,
        'between',
        'in',
        'not in',
        'like',
        'contains',
        'starts with',
        ...NULL_OPS
      ];
  }
}

/** How many values an operator takes. */
export function operandShape(op: FilterOp): 'none' | 'one' | 'two' | 'list' {
  if (op === 'is null' || op === 'is not null') {
    return 'none';
  }
  if (op === 'between') {
    return 'two';
  }
  if (op === 'in' || op === 'not in') {
    return 'list';
  }
  return 'one';
}

/** Text operators compare strings whatever the column type. */
function isTextOp(op: FilterOp): boolean {
  return op === 'like' || op === 'contains' || op === 'starts with';
}

/**
 * A raw input value as JSON for the spec, `undefined` if it is empty or
 * not valid for the column (the filter is then left out).
 */
export function convertValue(
  raw: string,
  type: string,
  op: FilterOp
): unknown {
  const text = raw.trim();
  if (isTextOp(op)) {
    return raw === '' ? undefined : raw;
  }
  if (text === '') {
    return undefined;
  }
  switch (valueKind(type)) {
    case 'number': {
      const n = Number(text);
      return Number.isFinite(n) ? n : undefined;
    }
    case 'boolean':
      if (/^true$/i.test(text)) {
        return true;
      }
      if (/^false$/i.test(text)) {
        return false;
      }
      return undefined;
    case 'text':
      return raw;
    default:
      return text;
  }
}

/** The spec value of a filter, `undefined` while it is incomplete. */
export function filterValue(
  filter: IFilterState,
  type: string
): { value?: unknown } | undefined {
  switch (operandShape(filter.op)) {
    case 'none':
      return {};
    case 'one': {
      const value = convertValue(filter.value, type, filter.op);
      return value === undefined ? undefined : { value };
    }
    case 'two': {
      const low = convertValue(filter.value, type, filter.op);
      const high = convertValue(filter.value2, type, filter.op);
      return low === undefined || high === undefined
        ? undefined
        : { value: [low, high] };
    }
    case 'list': {
      const values = filter.values
        .map(v => convertValue(v, type, filter.op))
        .filter(v => v !== undefined);
      return values.length ? { value: values } : undefined;
    }
  }
}

/** True when a filter has everything it needs to go into the spec. */
export function isFilterComplete(
  state: IBuilderState,
  filter: IFilterState
): boolean {
  return (
    filter.column !== '' &&
    filterValue(filter, columnType(state, filter.column)) !== undefined
  );
}

/**
 * Split comma-separated text into values (`a, b,c` → `['a','b','c']`);
 * used for `in` lists typed by hand.
 */
export function splitList(text: string): string[] {
  return text
    .split(',')
    .map(v => v.trim())
    .filter(v => v !== '');
}

// --------------------------------------------------------------------------
// Joins

/** Key-like names joined when both tables have them (`id` = `id` is rarely meant). */
const KEY_NAME = /(_id|_key|_code)$/i;

function singular(name: string): string {
  if (/ies$/i.test(name)) {
    return name.slice(0, -3) + 'y';
  }
  if (/ses$/i.test(name)) {
    return name.slice(0, -2);
  }
  if (/s$/i.test(name)) {
    return name.slice(0, -1);
  }
  return name;
}

export interface ITableColumns {
  name: string;
  columns: IColumnInfo[];
}

/**
 * Join keys between the tables already in the query (`left`) and a new one
 * (`right`), most likely first: key columns with the same name
 * (`customer_id` = `customer_id`), then `<table>_id` → `id`, either way.
 * Refs are qualified (`schema.table.column`).
 */
export function suggestJoinKeys(
  left: ITableColumns[],
  right: ITableColumns
): { left: string; right: string }[] {
  const out: { left: string; right: string }[] = [];
  const seen = new Set<string>();
  const add = (l: string, r: string): void => {
    const key = `${l}=${r}`;
    if (!seen.has(key)) {
      seen.add(key);
      out.push({ left: l, right: r });
    }
  };
  const rightNames = new Map(
    right.columns.map(c => [c.name.toLowerCase(), c.name])
  );
  for (const t of left) {
    for (const c of t.columns) {
      const same = rightNames.get(c.name.toLowerCase());
      if (same !== undefined && KEY_NAME.test(c.name)) {
        add(columnRef(t.name, c.name), columnRef(right.name, same));
      }
    }
  }
  for (const t of left) {
    const leftNames = new Map(
      t.columns.map(c => [c.name.toLowerCase(), c.name])
    );
    // orders.customer_id -> customers.id
    const rightId = rightNames.get('id');
    const fk = leftNames.get(`${singular(shortName(right.name))}_id`);
    if (rightId !== undefined && fk !== undefined) {
      add(columnRef(t.name, fk), columnRef(right.name, rightId));
    }
    // customers.id <- orders.customer_id
    const leftId = leftNames.get('id');
    const rfk = rightNames.get(`${singular(shortName(t.name))}_id`);
    if (leftId !== undefined && rfk !== undefined) {
      add(columnRef(t.name, leftId), columnRef(right.name, rfk));
    }
  }
  return out;
}

// --------------------------------------------------------------------------
// Reducers: each returns a new state

export function initialState(table = ''): IBuilderState {
  return {
    table,
    joins: [],
    columns: [],
    filters: [],
    groupBy: [],
    aggregates: [],
    orderBy: [],
    limit: DEFAULT_LIMIT,
    schemas: {},
    nextId: 1
  };
}

/** Choose the main table: everything that depended on the old one goes. */
export function setTable(state: IBuilderState, table: string): IBuilderState {
  return { ...initialState(table), schemas: state.schemas, nextId: state.nextId };
}

export function setSchema(
  state: IBuilderState,
  table: string,
  columns: IColumnInfo[]
): IBuilderState {
  return { ...state, schemas: { ...state.schemas, [table]: columns } };
}

export function setLimit(
  state: IBuilderState,
  limit: number | null
): IBuilderState {
  const valid =
    limit !== null && Number.isFinite(limit) && limit >= 1
      ? Math.floor(limit)
      : null;
  return { ...state, limit: valid };
}

/** Drop every reference to columns of tables no longer in the query. */
function pruneRefs(state: IBuilderState): IBuilderState {
  const tables = new Set(queryTables(state));
  const keep = (ref: string): boolean => tables.has(parseRef(ref).table);
  const aggregates = state.aggregates.filter(
    a => a.column === ALL_ROWS || keep(a.column)
  );
  const aggIds = new Set(aggregates.map(a => `agg:${a.id}`));
  return {
    ...state,
    joins: state.joins.map((j, i) => {
      const before = new Set(queryTables(state).slice(0, i + 1));
      return before.has(parseRef(j.left).table) ? j : { ...j, left: '' };
    }),
    columns: state.columns.filter(keep),
    filters: state.filters.filter(f => keep(f.column)),
    groupBy: state.groupBy.filter(keep),
    aggregates,
    orderBy: state.orderBy.filter(o =>
      o.key.startsWith('agg:') ? aggIds.has(o.key) : keep(o.key)
    )
  };
}

export function addJoin(
  state: IBuilderState,
  table: string,
  keys?: { left: string; right: string },
  type: JoinType = 'inner'
): IBuilderState {
  const join: IJoinState = {
    id: state.nextId,
    table,
    type,
    left: keys?.left ?? '',
    right: keys?.right ?? ''
  };
  return { ...state, joins: [...state.joins, join], nextId: state.nextId + 1 };
}

export function updateJoin(
  state: IBuilderState,
  id: number,
  patch: Partial<Omit<IJoinState, 'id'>>
): IBuilderState {
  const joins = state.joins.map(j => {
    if (j.id !== id) {
      return j;
    }
    const next = { ...j, ...patch };
    if (patch.table !== undefined && patch.table !== j.table) {
      next.right = patch.right ?? '';
      next.left = patch.left ?? j.left;
    }
    return next;
  });
  return pruneRefs({ ...state, joins });
}

export function removeJoin(state: IBuilderState, id: number): IBuilderState {
  return pruneRefs({ ...state, joins: state.joins.filter(j => j.id !== id) });
}

export function toggleColumn(state: IBuilderState, ref: string): IBuilderState {
  const columns = state.columns.includes(ref)
    ? state.columns.filter(c => c !== ref)
    : [...state.columns, ref];
  return { ...state, columns };
}

export function addFilter(state: IBuilderState, column = ''): IBuilderState {
  const ops = operatorsFor(columnType(state, column));
  const filter: IFilterState = {
    id: state.nextId,
    column,
    op: ops[0],
    value: '',
    value2: '',
    values: []
  };
  return {
    ...state,
    filters: [...state.filters, filter],
    nextId: state.nextId + 1
  };
}

export function updateFilter(
  state: IBuilderState,
  id: number,
  patch: Partial<Omit<IFilterState, 'id'>>
): IBuilderState {
  const filters = state.filters.map(f => {
    if (f.id !== id) {
      return f;
    }
    const next = { ...f, ...patch };
    if (patch.column !== undefined && patch.column !== f.column) {
      // A new column: its type decides the operators and the value input.
      const ops = operatorsFor(columnType(state, patch.column));
      next.op = patch.op ?? (ops.includes(f.op) ? f.op : ops[0]);
      next.value = patch.value ?? '';
      next.value2 = patch.value2 ?? '';
      next.values = patch.values ?? [];
    } else if (
      patch.op !== undefined &&
      operandShape(patch.op) !== operandShape(f.op)
    ) {
      next.value2 = patch.value2 ?? '';
      next.values = patch.values ?? [];
      if (operandShape(patch.op) === 'none') {
        next.value = '';
      }
    }
    return next;
  });
  return { ...state, filters };
}

export function removeFilter(state: IBuilderState, id: number): IBuilderState {
  return { ...state, filters: state.filters.filter(f => f.id !== id) };
}

export function addGroupBy(state: IBuilderState, ref: string): IBuilderState {
  if (state.groupBy.includes(ref)) {
    return state;
  }
  return { ...state, groupBy: [...state.groupBy, ref] };
}

export function updateGroupBy(
  state: IBuilderState,
  index: number,
  ref: string
): IBuilderState {
  const groupBy = state.groupBy.slice();
  groupBy[index] = ref;
  return pruneOrder({ ...state, groupBy: dedupe(groupBy) });
}

export function removeGroupBy(
  state: IBuilderState,
  index: number
): IBuilderState {
  return pruneOrder({
    ...state,
    groupBy: state.groupBy.filter((_, i) => i !== index)
  });
}

export function addAggregate(
  state: IBuilderState,
  func: AggregateFunc = 'count',
  column: string = ALL_ROWS
): IBuilderState {
  const agg: IAggregateState = { id: state.nextId, func, column, alias: '' };
  return {
    ...state,
    aggregates: [...state.aggregates, agg],
    nextId: state.nextId + 1
  };
}

export function updateAggregate(
  state: IBuilderState,
  id: number,
  patch: Partial<Omit<IAggregateState, 'id'>>
): IBuilderState {
  const aggregates = state.aggregates.map(a => {
    if (a.id !== id) {
      return a;
    }
    const next = { ...a, ...patch };
    if (next.func !== 'count' && next.column === ALL_ROWS) {
      next.column = '';
    }
    return next;
  });
  return { ...state, aggregates };
}

export function removeAggregate(
  state: IBuilderState,
  id: number
): IBuilderState {
  return pruneOrder({
    ...state,
    aggregates: state.aggregates.filter(a => a.id !== id)
  });
}

export function addOrder(
  state: IBuilderState,
  key: string,
  descending = false
): IBuilderState {
  const order: IOrderState = { id: state.nextId, key, descending };
  return {
    ...state,
    orderBy: [...state.orderBy, order],
    nextId: state.nextId + 1
  };
}

export function updateOrder(
  state: IBuilderState,
  id: number,
  patch: Partial<Omit<IOrderState, 'id'>>
): IBuilderState {
  return {
    ...state,
    orderBy: state.orderBy.map(o => (o.id === id ? { ...o, ...patch } : o))
  };
}

export function removeOrder(state: IBuilderState, id: number): IBuilderState {
  return { ...state, orderBy: state.orderBy.filter(o => o.id !== id) };
}

function dedupe(refs: string[]): string[] {
  return refs.filter((r, i) => r === '' || refs.indexOf(r) === i);
}

/** Sort keys must stay valid outputs when grouping changes. */
function pruneOrder(state: IBuilderState): IBuilderState {
  const valid = new Set(sortChoices(state).map(c => c.key));
  return { ...state, orderBy: state.orderBy.filter(o => valid.has(o.key)) };
}

// --------------------------------------------------------------------------
// Outputs

export function isGrouped(state: IBuilderState): boolean {
  return state.groupBy.length > 0 || state.aggregates.length > 0;
}

/** The column as the spec writes it: bare with one table, qualified with joins. */
export function specColumn(state: IBuilderState, ref: string): string {
  return state.joins.length ? ref : parseRef(ref).column;
}

/** Default output name of an aggregate, as the server names it. */
export function defaultAlias(agg: IAggregateState): string {
  if (agg.column === ALL_ROWS || agg.column === '') {
    return agg.func === 'count' ? 'count' : agg.func;
  }
  return `${agg.func}_${parseRef(agg.column).column}`;
}

/**
 * Output names of the aggregates (the user's alias or the default), made
 * unique against each other and the group-by columns (`count`, `count_2`).
 */
export function aggregateAliases(state: IBuilderState): Map<number, string> {
  const used = new Set(
    state.groupBy.filter(r => r).map(r => parseRef(r).column.toLowerCase())
  );
  const explicit = new Set(
    state.aggregates.map(a => a.alias.trim().toLowerCase()).filter(a => a)
  );
  const out = new Map<number, string>();
  for (const a of state.aggregates) {
    const own = a.alias.trim();
    const base = own || defaultAlias(a);
    let name = base;
    let n = 2;
    while (
      used.has(name.toLowerCase()) ||
      (!own && explicit.has(name.toLowerCase()))
    ) {
      name = `${base}_${n++}`;
    }
    out.set(a.id, name);
    used.add(name.toLowerCase());
  }
  return out;
}

/** Sort choices: outputs of a grouped query, any column otherwise. */
export function sortChoices(
  state: IBuilderState
): { key: string; label: string }[] {
  if (!isGrouped(state)) {
    return availableColumns(state).map(c => ({ key: c.ref, label: c.label }));
  }
  const labels = new Map(availableColumns(state).map(c => [c.ref, c.label]));
  const aliases = aggregateAliases(state);
  return [
    ...state.groupBy
      .filter(r => r)
      .map(r => ({ key: r, label: labels.get(r) ?? parseRef(r).column })),
    ...state.aggregates.map(a => ({
      key: `agg:${a.id}`,
      label: aliases.get(a.id) ?? defaultAlias(a)
    }))
  ];
}

/**
 * The `query/build` spec for the state, `null` while no table is chosen.
 * Unfinished parts (a filter without a value, an aggregate without a
 * column) are left out rather than sent.
 */
export function specFromState(state: IBuilderState): IQuerySpec | null {
  if (!state.table) {
    return null;
  }
  const col = (ref: string): string => specColumn(state, ref);
  const grouped = isGrouped(state);
  const aliases = aggregateAliases(state);
  const spec: IQuerySpec = {
    table: state.table,
    joins: state.joins
      .filter(j => j.table && j.left && j.right)
      .map(j => ({
        table: j.table,
        type: j.type,
        on: [{ left: col(j.left), right: col(j.right) }]
      })),
    columns: grouped ? [] : state.columns.map(col),
    filters: [],
    group_by: state.groupBy.filter(r => r).map(col),
    aggregates: [],
    order_by: []
  };
  for (const f of state.filters) {
    if (!f.column) {
      continue;
    }
    const value = filterValue(f, columnType(state, f.column));
    if (value !== undefined) {
      spec.filters.push({ column: col(f.column), op: f.op, ...value });
    }
  }
  for (const a of state.aggregates) {
    if (a.column === ALL_ROWS) {
      if (a.func === 'count') {
        spec.aggregates.push({ func: 'count', alias: aliases.get(a.id)! });
      }
    } else if (a.column) {
      spec.aggregates.push({
        func: a.func,
        column: col(a.column),
        alias: aliases.get(a.id)!
      });
    }
  }
  const sentAggs = new Set(
    state.aggregates
      .filter(a => (a.column === ALL_ROWS ? a.func === 'count' : a.column))
      .map(a => `agg:${a.id}`)
  );
  for (const o of state.orderBy) {
    if (o.key.startsWith('agg:')) {
      if (sentAggs.has(o.key)) {
        const alias = aliases.get(Number(o.key.slice(4)));
        spec.order_by.push({ column: alias!, descending: o.descending });
      }
    } else if (o.key) {
      spec.order_by.push({ column: col(o.key), descending: o.descending });
    }
  }
  if (state.limit !== null) {
    spec.limit = state.limit;
  }
  return spec;
}

/** The spec that lists a column's distinct values (for a filter's value list). */
export function valuesSpec(
  table: string,
  column: string,
  limit = VALUE_LIST_LIMIT
): IQuerySpec {
  return {
    table,
    joins: [],
    columns: [],
    filters: [],
    group_by: [column],
    aggregates: [],
    order_by: [{ column, descending: false }],
    limit
  };
}

/** Values shown at most in a filter's value list. */
export const VALUE_LIST_LIMIT = 200;

/** Source of the notebook cell "Insert as cell" adds. */
export function cellSource(displaySql: string): string {
  return `%%dap sql\n${displaySql.trim()}\n`;
}
