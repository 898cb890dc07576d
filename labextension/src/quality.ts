/**
 * Quality and freshness badges of catalog tables (`GET quality/{table}`):
 * parsing, the texts shown (`quality: warn`, `fresh: 2 h ago`), the pill of
 * the table panel, the dot of the catalog tree, and a per-table cache that
 * loads badges lazily, a few at a time, so the tree never waits for them.
 *
 * No `@jupyterlab/*` or `@lumino/*` imports: jest tests it directly.
 */

export type QualityState = 'pass' | 'warn' | 'fail' | 'unknown';
export type RuleState = 'pass' | 'warn' | 'fail';

/** The newest value of the freshness rule's column, and its age when asked. */
export interface IQualityFreshness {
  column: string | null;
  /** RFC 3339. */
  newest: string | null;
  /** Age of the newest value in seconds, when the server answered. */
  age_s: number | null;
}

/** What the catalog shows beside a table. */
export interface IQualityBadge {
  status: QualityState;
  /** RFC 3339 time of the latest stored check; `null` if never checked. */
  checked_at: string | null;
  /** How many rules did not pass in that check. */
  failed_rules: number;
  /** Names of the failing rules, when the server lists them instead of counting. */
  failed_rule_names?: string[];
  freshness: IQualityFreshness | null;
}

/** One rule of the latest check. */
export interface IQualityRuleResult {
  rule: string;
  kind: string;
  column: string | null;
  severity: string;
  status: RuleState;
  /** Failing rows; `null` when hidden from the caller. */
  failures: number | null;
  message: string;
}

/** Body of `GET quality/{table}`, normalised. */
export interface IQualityStatus {
  table: string;
  badge: IQualityBadge;
  checked_by: string | null;
  results: IQualityRuleResult[];
  /** How many rules the table has. */
  rule_count: number;
}

export const QUALITY_CSS = {
  badges: 'dap-quality-badges',
  pill: 'dap-quality-pill',
  fresh: 'dap-fresh-pill',
  dot: 'dap-quality-dot'
} as const;

const STATES: ReadonlyArray<QualityState> = ['pass', 'warn', 'fail', 'unknown'];

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function str(value: unknown): string | null {
  return typeof value === 'string' ? value : null;
}

function num(value: unknown): number | null {
  return typeof value === 'number' && Number.isFinite(value) ? value : null;
}

function ruleState(value: unknown): RuleState {
  return value === 'pass' || value === 'warn' || value === 'fail' ? value : 'fail';
}

/** Normalise a `badge` object; anything missing reads as "unknown". */
export function parseBadge(data: unknown): IQualityBadge {
  const b = isRecord(data) ? data : {};
  const status = STATES.includes(b.status as QualityState)
    ? (b.status as QualityState)
    : 'unknown';
  const badge: IQualityBadge = {
    status,
    checked_at: str(b.checked_at),
    failed_rules: 0,
    freshness: null
  };
  if (Array.isArray(b.failed_rules)) {
    badge.failed_rule_names = b.failed_rules.filter(
      (r): r is string => typeof r === 'string'
    );
    badge.failed_rules = badge.failed_rule_names.length;
  } else {
    badge.failed_rules = Math.max(0, Math.floor(num(b.failed_rules) ?? 0));
  }
  if (isRecord(b.freshness)) {
    const f = b.freshness;
    badge.freshness = {
      column: str(f.column),
      newest: str(f.newest),
      age_s: num(f.age_s)
    };
  }
  return badge;
}

/**
 * Validate and normalise the body of `GET quality/{table}`. A body that is
 * a bare badge (no `badge` key) is accepted too.
 */
export function parseQuality(data: unknown): IQualityStatus {
  if (!isRecord(data)) {
    throw new Error('Unexpected quality response');
  }
  const results = Array.isArray(data.results)
    ? data.results
        .filter(
          (r): r is Record<string, unknown> =>
            isRecord(r) && typeof r.rule === 'string'
        )
        .map(r => ({
          rule: r.rule as string,
          kind: str(r.kind) ?? '',
          column: str(r.column),
          severity: str(r.severity) ?? 'error',
          status: ruleState(r.status),
          failures: num(r.failures),
          message: str(r.message) ?? ''
        }))
    : [];
  return {
    table: str(data.table) ?? '',
    badge: parseBadge('badge' in data ? data.badge : data),
    checked_by: str(data.checked_by),
    results,
    rule_count: Array.isArray(data.rules) ? data.rules.length : 0
  };
}

/**
 * A compact age: `just now`, `5 min ago`, `2 h ago`, `3 d ago`, `2 y ago`;
 * `unknown` for a missing or negative-beyond-skew age.
 */
export function formatAge(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) {
    return 'unknown';
  }
  if (seconds < -60) {
    return 'in the future';
  }
  if (seconds < 60) {
    return 'just now';
  }
  const units: Array<[number, string]> = [
    [86400 * 365, 'y'],
    [86400, 'd'],
    [3600, 'h'],
    [60, 'min']
  ];
  const [size, unit] = units.find(([s]) => seconds >= s)!;
  return `${Math.floor(seconds / size)} ${unit} ago`;
}

function pad(n: number): string {
  return String(n).padStart(2, '0');
}

/** `2026-11-28 04:10 UTC`, or `null` for a missing or unparsable time. */
export function formatUtc(iso: string | null | undefined): string | null {
  const at = iso ? Date.parse(iso) : NaN;
  if (!Number.isFinite(at)) {
    return null;
  }
  const d = new Date(at);
  return (
    `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ` +
    `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())} UTC`
  );
}

/**
 * Age of the newest value: the server's `age_s` (computed when it answered),
 * else `newest` against `now`; `null` if neither is known.
 */
export function freshnessAge(
  freshness: IQualityFreshness | null | undefined,
  now: number = Date.now()
): number | null {
  if (!freshness) {
    return null;
  }
  if (freshness.age_s !== null) {
    return freshness.age_s;
  }
  const at = freshness.newest ? Date.parse(freshness.newest) : NaN;
  return Number.isFinite(at) ? (now - at) / 1000 : null;
}

/** `quality: pass` … `quality: unknown`. */
export function qualityText(badge: IQualityBadge): string {
  return `quality: ${badge.status}`;
}

/** Status of the freshness rule in the latest check, if there was one. */
export function freshnessState(status: IQualityStatus): RuleState | null {
  const column = status.badge.freshness?.column ?? null;
  const rule =
    status.results.find(r => r.kind === 'freshness' && r.column === column) ??
    status.results.find(r => r.kind === 'freshness');
  return rule ? rule.status : null;
}

/**
 * `fresh: 2 h ago` (`stale: 3 d ago` when the freshness rule did not pass);
 * `null` when the table has no freshness data.
 */
export function freshnessText(
  status: IQualityStatus,
  now: number = Date.now()
): string | null {
  const freshness = status.badge.freshness;
  if (!freshness) {
    return null;
  }
  const age = freshnessAge(freshness, now);
  if (age === null) {
    return null;
  }
  const state = freshnessState(status);
  const word = state === 'warn' || state === 'fail' ? 'stale' : 'fresh';
  return `${word}: ${formatAge(age)}`;
}

/** The failing rules of the latest check, one line each. */
export function failedRuleLines(status: IQualityStatus): string[] {
  const failing = status.results.filter(r => r.status !== 'pass');
  if (failing.length) {
    return failing.map(r => {
      const what = r.message && r.message !== 'ok' ? `: ${r.message}` : '';
      return `${r.status === 'fail' ? '✕' : '!'} ${r.rule} (${r.severity})${what}`;
    });
  }
  return (status.badge.failed_rule_names ?? []).map(name => `✕ ${name}`);
}

/** Tooltip of the quality pill: when the table was checked and what failed. */
export function qualityTooltip(status: IQualityStatus): string {
  const badge = status.badge;
  const when = formatUtc(badge.checked_at);
  const lines: string[] = [];
  if (!when) {
    lines.push(
      status.rule_count > 0
        ? `Not checked yet (${status.rule_count} rule${status.rule_count === 1 ? '' : 's'})`
        : 'No quality check recorded'
    );
  } else {
    const by = status.checked_by ? ` by ${status.checked_by}` : '';
    lines.push(`Checked ${when}${by}`);
  }
  const failed = failedRuleLines(status);
  if (failed.length) {
    lines.push(`Failed rules (${failed.length}):`, ...failed);
  } else if (badge.failed_rules > 0) {
    lines.push(`${badge.failed_rules} rule${badge.failed_rules === 1 ? '' : 's'} failed`);
  } else if (when) {
    lines.push('All rules passed');
  }
  return lines.join('\n');
}

/** Tooltip of the freshness pill: the column and its newest value. */
export function freshnessTooltip(status: IQualityStatus): string {
  const f = status.badge.freshness;
  if (!f) {
    return '';
  }
  const newest = formatUtc(f.newest) ?? f.newest ?? 'unknown';
  return `Newest ${f.column ?? 'value'}: ${newest}`;
}

/** One line for screen readers: status, failures, freshness. */
export function qualityLabel(status: IQualityStatus, now: number = Date.now()): string {
  const parts = [qualityText(status.badge)];
  const n = status.badge.failed_rules;
  if (n > 0) {
    parts.push(`${n} rule${n === 1 ? '' : 's'} failed`);
  }
  const fresh = freshnessText(status, now);
  if (fresh) {
    parts.push(fresh);
  }
  const when = formatUtc(status.badge.checked_at);
  if (when) {
    parts.push(`checked ${when}`);
  }
  return parts.join(', ');
}

function span(doc: Document, className: string, text: string): HTMLSpanElement {
  const el = doc.createElement('span');
  el.className = className;
  el.textContent = text;
  return el;
}

/**
 * The table panel's badges: a coloured pill `quality: warn` and, when the
 * table has freshness data, `fresh: 2 h ago`. Text on both, colour only
 * repeats it.
 */
export function renderQualityBadges(
  status: IQualityStatus,
  doc: Document = document,
  now: number = Date.now()
): HTMLElement {
  const wrap = span(doc, QUALITY_CSS.badges, '');
  wrap.setAttribute('role', 'group');
  wrap.setAttribute('aria-label', 'Data quality');
  const pill = span(
    doc,
    `${QUALITY_CSS.pill} dap-quality-${status.badge.status}`,
    qualityText(status.badge)
  );
  pill.dataset.status = status.badge.status;
  pill.title = qualityTooltip(status);
  pill.setAttribute('aria-label', `${qualityText(status.badge)}. ${pill.title.replace(/\n/g, '. ')}`);
  pill.tabIndex = 0; // the tooltip is reachable from the keyboard
  wrap.appendChild(pill);
  const fresh = freshnessText(status, now);
  if (fresh) {
    const state = freshnessState(status) ?? 'unknown';
    const f = span(doc, `${QUALITY_CSS.fresh} dap-quality-${state}`, fresh);
    f.dataset.status = state;
    f.title = freshnessTooltip(status);
    f.setAttribute('aria-label', `${fresh}. ${f.title}`);
    f.tabIndex = 0;
    wrap.appendChild(f);
  }
  return wrap;
}

const GLYPH: Record<QualityState, string> = {
  pass: '✓',
  warn: '!',
  fail: '✕',
  unknown: '?'
};

/**
 * The catalog tree's dot, or `null` when there is nothing worth a dot (no
 * answer, or a table that has neither rules nor a check).
 */
export function renderQualityDot(
  status: IQualityStatus | null | undefined,
  doc: Document = document,
  now: number = Date.now()
): HTMLSpanElement | null {
  if (!status) {
    return null;
  }
  const state = status.badge.status;
  if (state === 'unknown' && status.rule_count === 0 && !status.badge.freshness) {
    return null;
  }
  const dot = span(doc, `${QUALITY_CSS.dot} dap-quality-${state}`, GLYPH[state]);
  dot.dataset.status = state;
  dot.setAttribute('role', 'img');
  const label = qualityLabel(status, now);
  dot.setAttribute('aria-label', label);
  dot.title = [label, ...failedRuleLines(status)].join('\n');
  return dot;
}

/** Loads the badge of one table; `null` when there is none to show (403, 404). */
export type QualityLoader = (table: string) => Promise<IQualityStatus | null>;

/**
 * Badges per table, loaded on request with at most `concurrency` calls in
 * flight. A failed load is remembered as `null` (no badge) until
 * {@link clear}; answers of loads started before a `clear()` are dropped.
 */
export class QualityCache {
  constructor(
    private readonly _load: QualityLoader,
    options: {
      concurrency?: number;
      onLoaded?: (table: string, status: IQualityStatus | null) => void;
    } = {}
  ) {
    this._concurrency = Math.max(1, options.concurrency ?? 3);
    this.onLoaded = options.onLoaded ?? null;
  }

  /** Called when a badge arrives (also with `null`). */
  onLoaded: ((table: string, status: IQualityStatus | null) => void) | null;

  /** The badge (`null`: none), or `undefined` while not loaded. */
  get(table: string): IQualityStatus | null | undefined {
    return this._values.get(table);
  }

  has(table: string): boolean {
    return this._values.has(table);
  }

  /** Whether a load of the table is queued or running. */
  isPending(table: string): boolean {
    return this._pending.has(table);
  }

  /** Store a badge loaded elsewhere (the table panel's fresh one). */
  set(table: string, status: IQualityStatus | null): void {
    this._values.set(table, status);
    if (this._queue.includes(table)) {
      this._queue = this._queue.filter(t => t !== table);
      this._pending.delete(table);
    }
    this.onLoaded?.(table, status);
  }

  /** Load the badge unless it is known, queued or loading. */
  request(table: string): void {
    if (this._values.has(table) || this._pending.has(table)) {
      return;
    }
    this._pending.add(table);
    this._queue.push(table);
    this._pump();
  }

  /** Forget every badge (catalog refresh); running loads are ignored when they end. */
  clear(): void {
    this._generation++;
    this._values.clear();
    this._pending.clear();
    this._queue = [];
    this._running = 0;
  }

  private _pump(): void {
    while (this._running < this._concurrency && this._queue.length) {
      const table = this._queue.shift()!;
      const generation = this._generation;
      this._running++;
      let promise: Promise<IQualityStatus | null>;
      try {
        promise = Promise.resolve(this._load(table));
      } catch (error) {
        promise = Promise.reject(error);
      }
      promise
        .catch(() => null)
        .then(status => {
          if (generation !== this._generation) {
            return;
          }
          this._running--;
          this._pending.delete(table);
          if (!this._values.has(table)) {
            this._values.set(table, status);
            this.onLoaded?.(table, status);
          }
          this._pump();
        });
    }
  }

  private _concurrency: number;
  private _values = new Map<string, IQualityStatus | null>();
  private _pending = new Set<string>();
  private _queue: string[] = [];
  private _running = 0;
  private _generation = 0;
}
