/**
 * How a result cell reads: numbers with thousands separators and the
 * decimals their column has (never scientific notation), exact for decimals
 * and big integers (they arrive as text), booleans as true/false, and null as
 * `null` — drawn apart from the text "null" by the grid.
 *
 * The same rules as the kernel's HTML fallback (dap_kernel/grid/html.py).
 */

/** The MIME type of a DAP result bundle. */
export const RESULT_MIME = 'application/vnd.dap.result+json';

export type CellValue = string | number | boolean | null;

export interface IHistogram {
  kind: 'histogram';
  counts: number[];
  min: string;
  max: string;
  sampled: boolean;
}

export interface ITopValues {
  kind: 'top';
  values: [string, number][];
  other: number;
  sampled: boolean;
}

export interface IResultColumn {
  name: string;
  type: string;
  kind: 'int' | 'float' | 'decimal' | 'bool' | 'string' | 'temporal' | 'other';
  decimals: number | null;
  grouped: boolean;
  nulls: number;
  sparkline: IHistogram | ITopValues | null;
}

/** The bundle's JSON (version 1). */
export interface IResultBundle {
  version: number;
  handle: string | null;
  row_count: number;
  page_size: number;
  columns: IResultColumn[];
  rows: CellValue[][];
}

export const NULL_TEXT = 'null';
const SPECIAL = new Set(['NaN', 'Infinity', '-Infinity']);

export function isNumeric(column: IResultColumn): boolean {
  return (
    column.kind === 'int' || column.kind === 'float' || column.kind === 'decimal'
  );
}

interface ISeparators {
  group: string;
  decimal: string;
}

const separatorCache = new Map<string, ISeparators>();

function separators(locale: string): ISeparators {
  let found = separatorCache.get(locale);
  if (!found) {
    const parts = new Intl.NumberFormat(locale).formatToParts(11111.5);
    found = {
      group: parts.find(p => p.type === 'group')?.value ?? ',',
      decimal: parts.find(p => p.type === 'decimal')?.value ?? '.'
    };
    separatorCache.set(locale, found);
  }
  return found;
}

/** `"0999"` → `"1000"`, `"99"` → `"100"`: add one to a digit string. */
function increment(digits: string): string {
  const out = digits.split('');
  let i = out.length - 1;
  while (i >= 0 && out[i] === '9') {
    out[i] = '0';
    i--;
  }
  if (i < 0) {
    return '1' + out.join('');
  }
  out[i] = String(Number(out[i]) + 1);
  return out.join('');
}

/**
 * Round a plain decimal text (`-12345.675`) to `decimals` places, half away
 * from zero, without going through a float.
 */
function roundText(text: string, decimals: number): [string, string, string] {
  const negative = text.startsWith('-');
  const [whole, frac = ''] = (negative ? text.slice(1) : text).split('.');
  let digits = whole + frac.padEnd(decimals + 1, '0').slice(0, decimals + 1);
  const up = Number(digits[digits.length - 1]) >= 5;
  digits = digits.slice(0, -1);
  if (up) {
    digits = increment(digits);
  }
  const intLength = digits.length - decimals;
  const intPart = digits.slice(0, intLength).replace(/^0+(?=\d)/, '') || '0';
  const fracPart = digits.slice(intLength);
  const isZero = /^0*$/.test(intPart + fracPart);
  return [negative && !isZero ? '-' : '', intPart, fracPart];
}

/** A number in plain decimal notation (`1e+22` → `10000000000000000000000`). */
function plainText(value: number): string {
  const text = String(value);
  if (!/e/i.test(text)) {
    return text;
  }
  return value.toLocaleString('en-US', {
    useGrouping: false,
    maximumFractionDigits: 20
  });
}

/**
 * `11303000` with 2 decimals → `11,303,000.00` (en-US separators, as the
 * kernel's HTML, unless `locale` is given). Text values (decimals, integers past 2^53) are
 * formatted exactly.
 */
export function formatNumber(
  value: number | string,
  decimals: number | null,
  grouped = true,
  locale = 'en-US'
): string {
  if (typeof value === 'string' && SPECIAL.has(value)) {
    return value;
  }
  const text = typeof value === 'number' ? plainText(value) : value.trim();
  if (!/^-?\d+(\.\d+)?$/.test(text)) {
    return String(value);
  }
  const places = decimals ?? (text.split('.')[1] ?? '').length;
  const [sign, intPart, fracPart] = roundText(text, places);
  const sep = separators(locale);
  const whole = grouped
    ? intPart.replace(/\B(?=(\d{3})+(?!\d))/g, sep.group)
    : intPart;
  return sign + whole + (places > 0 ? sep.decimal + fracPart : '');
}

/** The text of one cell, or null for a null value. */
export function formatCell(
  value: CellValue | undefined,
  column: IResultColumn,
  locale = 'en-US'
): string | null {
  if (value === null || value === undefined) {
    return null;
  }
  if (isNumeric(column) && typeof value !== 'boolean') {
    return formatNumber(value, column.decimals, column.grouped, locale);
  }
  if (typeof value === 'boolean') {
    return value ? 'true' : 'false';
  }
  return String(value);
}

/** The header's second line: the type, and how many nulls the column has. */
export function typeLine(column: IResultColumn): string {
  if (!column.nulls) {
    return column.type;
  }
  const n = formatNumber(column.nulls, 0);
  return `${column.type} · ${n} null${column.nulls === 1 ? '' : 's'}`;
}

/** What a sparkline's tooltip says. */
export function sparklineTitle(spark: IHistogram | ITopValues): string {
  const note = spark.sampled ? ' (of an even sample of the rows)' : '';
  if (spark.kind === 'histogram') {
    return `${spark.min} … ${spark.max}${note}`;
  }
  const top = spark.values
    .map(([label, n]) => `${label}: ${formatNumber(n, 0)}`)
    .join(', ');
  const other = spark.other ? `, other: ${formatNumber(spark.other, 0)}` : '';
  return top + other + note;
}

/** Bar heights (0…1) a sparkline draws. */
export function sparklineBars(spark: IHistogram | ITopValues): number[] {
  const counts =
    spark.kind === 'histogram' ? spark.counts : spark.values.map(v => v[1]);
  const top = Math.max(1, ...counts);
  return counts.map(n => n / top);
}

function csvField(value: CellValue | undefined, separator: string): string {
  if (value === null || value === undefined) {
    return '';
  }
  const text = String(value);
  return text.includes(separator) ||
    text.includes('"') ||
    text.includes('\n') ||
    text.includes('\r')
    ? `"${text.replace(/"/g, '""')}"`
    : text;
}

/**
 * Rows as delimited text with a header line: tab-separated for the
 * clipboard, comma-separated for a download. Values stay raw (no
 * separators), so a spreadsheet reads numbers as numbers; null is empty.
 */
export function delimited(
  columns: IResultColumn[],
  rows: (CellValue | undefined)[][],
  separator = '\t'
): string {
  const lines = [columns.map(c => csvField(c.name, separator)).join(separator)];
  for (const row of rows) {
    lines.push(row.map(v => csvField(v, separator)).join(separator));
  }
  return lines.join('\n') + '\n';
}

/** Compare two cell values for a sort of rows held in the browser. */
export function compareValues(
  a: CellValue | undefined,
  b: CellValue | undefined,
  column: IResultColumn
): number {
  const aNull = a === null || a === undefined;
  const bNull = b === null || b === undefined;
  if (aNull || bNull) {
    return aNull === bNull ? 0 : aNull ? 1 : -1;
  }
  if (isNumeric(column)) {
    return Number(a) - Number(b);
  }
  return String(a) < String(b) ? -1 : String(a) > String(b) ? 1 : 0;
}
