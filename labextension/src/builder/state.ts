/**
 * State of the visual query builder and the pure functions around it, as
 * one import for the form and the widget. Each concept lives in its own
 * module and is re-exported here unchanged:
 *
 * - `types.ts`: the state, the spec and their vocabularies (operators,
 *   aggregate functions, join types);
 * - `columns.ts`: column refs, the columns on offer, value kinds of types;
 * - `filters.ts`: operators per type, operand shapes, value conversion;
 * - `joins.ts`: join key suggestion;
 * - `reducers.ts`: `initialState` and every state transition;
 * - `outputs.ts`: grouping, aggregate output names, sort choices;
 * - `queryspec.ts`: the `POST /dap/api/v1/query/build` spec of a state.
 *
 * No `@jupyterlab/*`, `@lumino/*` or DOM imports: jest tests it directly.
 *
 * Column references are stored qualified, `schema.table.column`
 * (see {@link columnRef}); {@link specFromState} writes them bare when the
 * query has one table and qualified when it has joins, so a column present
 * in two tables (`customer_id`) is never ambiguous for the server.
 */

export {
  AGGREGATE_FUNCS,
  ALL_ROWS,
  DEFAULT_LIMIT,
  JOIN_TYPES,
  type AggregateFunc,
  type FilterOp,
  type IAggregateState,
  type IBuilderState,
  type IColumnInfo,
  type IFilterState,
  type IJoinState,
  type IOrderState,
  type IQuerySpec,
  type JoinType
} from './types';
export {
  availableColumns,
  columnRef,
  columnType,
  isNumericType,
  parseRef,
  queryTables,
  valueKind,
  type IColumnChoice,
  type ValueKind
} from './columns';
export {
  convertValue,
  filterValue,
  isFilterComplete,
  operandShape,
  operatorsFor,
  splitList
} from './filters';
export { suggestJoinKeys, type ITableColumns } from './joins';
export {
  addAggregate,
  addFilter,
  addGroupBy,
  addJoin,
  addOrder,
  initialState,
  removeAggregate,
  removeFilter,
  removeGroupBy,
  removeJoin,
  removeOrder,
  setLimit,
  setSchema,
  setTable,
  toggleColumn,
  updateAggregate,
  updateFilter,
  updateGroupBy,
  updateJoin,
  updateOrder
} from './reducers';
export {
  aggregateAliases,
  defaultAlias,
  isGrouped,
  sortChoices
} from './outputs';
export {
  VALUE_LIST_LIMIT,
  cellSource,
  specColumn,
  specFromState,
  valuesSpec
} from './queryspec';
