import {
  IResultColumn,
  compareValues,
  delimited,
  formatCell,
  formatNumber,
  sparklineBars,
  sparklineTitle,
  typeLine
} from './format';

function column(over: Partial<IResultColumn> = {}): IResultColumn {
  return {
    name: 'revenue',
    type: 'Float64',
    kind: 'float',
    decimals: 2,
    grouped: true,
    nulls: 0,
    sparkline: null,
    ...over
  };
}

describe('formatNumber', () => {
  it('shows money with separators and its decimals, never scientific', () => {
    expect(formatNumber(11303000, 2)).toBe('11,303,000.00');
    expect(formatNumber(1.1303e7, 2)).toBe('11,303,000.00');
    expect(formatNumber(1e22, 0)).toBe('10,000,000,000,000,000,000,000');
    expect(formatNumber(-1234.5, 2)).toBe('-1,234.50');
  });

  it('rounds half away from zero, exactly, for text values', () => {
    expect(formatNumber('12345678901234567890.125', 2)).toBe(
      '12,345,678,901,234,567,890.13'
    );
    expect(formatNumber('999.995', 2)).toBe('1,000.00');
    expect(formatNumber('-0.001', 2)).toBe('0.00');
    expect(formatNumber(0.1 + 0.2, 1)).toBe('0.3');
  });

  it('leaves identifiers ungrouped and special values as they are', () => {
    expect(formatNumber(2026, 0, false)).toBe('2026');
    expect(formatNumber('NaN', 2)).toBe('NaN');
    expect(formatNumber('-Infinity', 2)).toBe('-Infinity');
  });

  it('uses the separators of another locale when asked', () => {
    expect(formatNumber('1234567.5', 2, true, 'de-DE')).toBe('1.234.567,50');
  });
});

describe('formatCell', () => {
  it('gives null for null, distinct from the text "null"', () => {
    expect(formatCell(null, column())).toBeNull();
    expect(formatCell('null', column({ kind: 'string' }))).toBe('null');
  });

  it('formats per column kind', () => {
    expect(formatCell('1234.50', column({ kind: 'decimal' }))).toBe('1,234.50');
    expect(formatCell(42, column({ kind: 'int', decimals: 0 }))).toBe('42');
    expect(formatCell(true, column({ kind: 'bool' }))).toBe('true');
    expect(formatCell('2026-11-03', column({ kind: 'temporal' }))).toBe(
      '2026-11-03'
    );
  });
});

describe('headers and sparklines', () => {
  it('says the type and the nulls', () => {
    expect(typeLine(column())).toBe('Float64');
    expect(typeLine(column({ nulls: 1234 }))).toBe('Float64 · 1,234 nulls');
  });

  it('scales bars to the largest count', () => {
    const spark = {
      kind: 'histogram' as const,
      counts: [0, 5, 10],
      min: '1',
      max: '9',
      sampled: false
    };
    expect(sparklineBars(spark)).toEqual([0, 0.5, 1]);
    expect(sparklineTitle(spark)).toBe('1 … 9');
    const top = {
      kind: 'top' as const,
      values: [['EMEA', 3000] as [string, number]],
      other: 10,
      sampled: true
    };
    expect(sparklineTitle(top)).toBe(
      'EMEA: 3,000, other: 10 (of an even sample of the rows)'
    );
  });
});

describe('copy and sort helpers', () => {
  it('writes raw values, quoting what needs it, null as empty', () => {
    const cols = [column({ name: 'a' }), column({ name: 'b', kind: 'string' })];
    expect(delimited(cols, [[1.5, 'x,"y"'], [null, 'z']], ',')).toBe(
      'a,b\n1.5,"x,""y"""\n,z\n'
    );
  });

  it('sorts numbers as numbers and nulls last', () => {
    const c = column({ kind: 'decimal' });
    expect(compareValues('10.00', '9.00', c)).toBeGreaterThan(0);
    expect(compareValues(null, '9.00', c)).toBe(1);
  });
});
