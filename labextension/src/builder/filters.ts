/**
 * Filters: the operators a column's type offers, how many values each
 * takes, the conversion of raw input text to the JSON value of the spec,
 * and whether a filter is complete enough to be sent.
 *
 * An incomplete or invalid value yields `undefined` and the filter is left
 * out of the spec rather than sent half-made.
 */

import { columnType, valueKind } from './columns';
import type { FilterOp, IBuilderState, IFilterState } from './types';

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
