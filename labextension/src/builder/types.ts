/**
 * The shapes of the visual query builder: its state (a main table, joins,
 * columns, filters, grouping, aggregates, sort keys, a limit), the
 * vocabularies offered for them (operators, aggregate functions, join
 * types) and the `POST /dap/api/v1/query/build` spec the state becomes.
 *
 * Types and constants only, so every other builder module can import them
 * without importing behaviour.
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
