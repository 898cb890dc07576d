import {
  IQualityStatus,
  QualityCache,
  formatAge,
  formatUtc,
  freshnessAge,
  freshnessText,
  parseQuality,
  qualityLabel,
  qualityTooltip,
  renderQualityBadges,
  renderQualityDot
} from './quality';

const NOW = Date.parse('2026-11-28T12:00:00Z');

/** What `GET quality/main.orders` answers after a check with one failed warn rule. */
const ANSWER = {
  table: 'main.orders',
  badge: {
    status: 'warn',
    checked_at: '2026-11-28T10:05:00Z',
    failed_rules: 1,
    freshness: { column: 'order_ts', newest: '2026-11-28T10:00:00Z', age_s: 7200 }
  },
  checked_by: 'ann',
  table_version: 3,
  results: [
    {
      rule: 'not_null_order_id',
      kind: 'not_null',
      column: 'order_id',
      severity: 'error',
      status: 'pass',
      failures: 0,
      message: 'ok',
      details: {}
    },
    {
      rule: 'accepted_values_status',
      kind: 'accepted_values',
      column: 'status',
      severity: 'warn',
      status: 'warn',
      failures: 4,
      message: '4 rows with a value not in [new, shipped]',
      details: {}
    },
    {
      rule: 'freshness_order_ts',
      kind: 'freshness',
      column: 'order_ts',
      severity: 'error',
      status: 'pass',
      failures: 0,
      message: 'ok',
      details: {}
    }
  ],
  rules: [{ not_null: 'order_id' }, { accepted_values: {} }, { freshness: {} }]
};

describe('formatAge', () => {
  it.each([
    [0, 'just now'],
    [59, 'just now'],
    [60, '1 min ago'],
    [3599, '59 min ago'],
    [7200, '2 h ago'],
    [7200 + 3599, '2 h ago'],
    [86400 * 3 + 5, '3 d ago'],
    [86400 * 800, '2 y ago'],
    [-5, 'just now'], // a clock a little ahead
    [-3600, 'in the future']
  ])('%p s → %p', (seconds, text) => {
    expect(formatAge(seconds)).toBe(text);
  });

  it('says unknown for a missing age', () => {
    expect(formatAge(null)).toBe('unknown');
    expect(formatAge(undefined)).toBe('unknown');
    expect(formatAge(NaN)).toBe('unknown');
  });
});

describe('parseQuality', () => {
  it('reads the badge, the results and how many rules there are', () => {
    const q = parseQuality(ANSWER);
    expect(q.table).toBe('main.orders');
    expect(q.badge).toEqual({
      status: 'warn',
      checked_at: '2026-11-28T10:05:00Z',
      failed_rules: 1,
      freshness: { column: 'order_ts', newest: '2026-11-28T10:00:00Z', age_s: 7200 }
    });
    expect(q.checked_by).toBe('ann');
    expect(q.results.map(r => r.status)).toEqual(['pass', 'warn', 'pass']);
    expect(q.rule_count).toBe(3);
  });

  it('treats missing or odd fields as unknown, never throws on them', () => {
    const q = parseQuality({ table: 'main.t', badge: { status: 'great', failed_rules: 'x' } });
    expect(q.badge).toEqual({ status: 'unknown', checked_at: null, failed_rules: 0, freshness: null });
    expect(q.results).toEqual([]);
    expect(q.rule_count).toBe(0);
    expect(parseQuality({}).badge.status).toBe('unknown');
    // A bare badge, and failed_rules as a list of names.
    const bare = parseQuality({ status: 'fail', failed_rules: ['unique_id', 7], freshness: { age_s: 'x' } });
    expect(bare.badge.status).toBe('fail');
    expect(bare.badge.failed_rules).toBe(1);
    expect(bare.badge.failed_rule_names).toEqual(['unique_id']);
    expect(bare.badge.freshness).toEqual({ column: null, newest: null, age_s: null });
    // Results without a rule name are dropped; a strange status counts as failed.
    const results = parseQuality({ results: [{ kind: 'x' }, { rule: 'r', status: '??' }] }).results;
    expect(results).toEqual([
      { rule: 'r', kind: '', column: null, severity: 'error', status: 'fail', failures: null, message: '' }
    ]);
    expect(() => parseQuality(null)).toThrow();
    expect(() => parseQuality([])).toThrow();
  });
});

describe('freshness', () => {
  it('prefers the server age, else the newest value against now', () => {
    expect(freshnessAge({ column: 'c', newest: '2026-11-28T11:00:00Z', age_s: 10 }, NOW)).toBe(10);
    expect(freshnessAge({ column: 'c', newest: '2026-11-28T11:00:00Z', age_s: null }, NOW)).toBe(3600);
    expect(freshnessAge({ column: 'c', newest: 'garbage', age_s: null }, NOW)).toBeNull();
    expect(freshnessAge(null, NOW)).toBeNull();
  });

  it('reads "fresh: 2 h ago", or "stale" when the freshness rule failed', () => {
    const q = parseQuality(ANSWER);
    expect(freshnessText(q, NOW)).toBe('fresh: 2 h ago');
    const stale = parseQuality({
      ...ANSWER,
      badge: { ...ANSWER.badge, freshness: { ...ANSWER.badge.freshness, age_s: 86400 * 3 } },
      results: ANSWER.results.map(r => (r.kind === 'freshness' ? { ...r, status: 'fail' } : r))
    });
    expect(freshnessText(stale, NOW)).toBe('stale: 3 d ago');
    expect(freshnessText(parseQuality({ badge: { status: 'pass' } }), NOW)).toBeNull();
  });
});

describe('texts', () => {
  it('formats times in UTC', () => {
    expect(formatUtc('2026-11-28T10:05:30+01:00')).toBe('2026-11-28 09:05 UTC');
    expect(formatUtc(null)).toBeNull();
    expect(formatUtc('soon')).toBeNull();
  });

  it('lists the failed rules and the time of the check in the tooltip', () => {
    expect(qualityTooltip(parseQuality(ANSWER)).split('\n')).toEqual([
      'Checked 2026-11-28 10:05 UTC by ann',
      'Failed rules (1):',
      '! accepted_values_status (warn): 4 rows with a value not in [new, shipped]'
    ]);
    const never = parseQuality({ table: 't', badge: { status: 'unknown' }, rules: [{ not_null: 'a' }] });
    expect(qualityTooltip(never)).toBe('Not checked yet (1 rule)');
    expect(qualityTooltip(parseQuality({ badge: { status: 'unknown' } }))).toBe('No quality check recorded');
    // Counts hidden (row-filtered caller): the count still shows.
    const counted = parseQuality({ badge: { status: 'fail', checked_at: '2026-11-28T10:05:00Z', failed_rules: 2 } });
    expect(qualityTooltip(counted)).toBe('Checked 2026-11-28 10:05 UTC\n2 rules failed');
    const allGood = parseQuality({ badge: { status: 'pass', checked_at: '2026-11-28T10:05:00Z' } });
    expect(qualityTooltip(allGood)).toBe('Checked 2026-11-28 10:05 UTC\nAll rules passed');
  });

  it('says everything in one label for screen readers', () => {
    expect(qualityLabel(parseQuality(ANSWER), NOW)).toBe(
      'quality: warn, 1 rule failed, fresh: 2 h ago, checked 2026-11-28 10:05 UTC'
    );
  });
});

describe('renderQualityBadges', () => {
  it('draws the quality pill and the freshness pill, with text and labels', () => {
    const wrap = renderQualityBadges(parseQuality(ANSWER), document, NOW);
    const [pill, fresh] = Array.from(wrap.children) as HTMLElement[];
    expect(pill.textContent).toBe('quality: warn');
    expect(pill.classList.contains('dap-quality-warn')).toBe(true);
    expect(pill.title).toContain('accepted_values_status');
    expect(pill.getAttribute('aria-label')).toMatch(/^quality: warn\. Checked 2026-11-28 10:05 UTC by ann\. Failed rules/);
    expect(pill.tabIndex).toBe(0);
    expect(fresh.textContent).toBe('fresh: 2 h ago');
    expect(fresh.dataset.status).toBe('pass');
    expect(fresh.title).toBe('Newest order_ts: 2026-11-28 10:00 UTC');
    expect(wrap.getAttribute('aria-label')).toBe('Data quality');
  });

  it('shows "quality: unknown" and no freshness pill for a table never checked', () => {
    const wrap = renderQualityBadges(parseQuality({ table: 't', badge: {} }), document, NOW);
    expect(wrap.children).toHaveLength(1);
    expect(wrap.textContent).toBe('quality: unknown');
  });
});

describe('renderQualityDot', () => {
  it('has a glyph and an aria-label, not only a colour', () => {
    const dot = renderQualityDot(parseQuality(ANSWER), document, NOW)!;
    expect(dot.textContent).toBe('!');
    expect(dot.getAttribute('role')).toBe('img');
    expect(dot.getAttribute('aria-label')).toBe(
      'quality: warn, 1 rule failed, fresh: 2 h ago, checked 2026-11-28 10:05 UTC'
    );
    expect(dot.title.split('\n')[1]).toContain('accepted_values_status');
  });

  it('draws nothing without a badge or for a table without rules or checks', () => {
    expect(renderQualityDot(null)).toBeNull();
    expect(renderQualityDot(undefined)).toBeNull();
    expect(renderQualityDot(parseQuality({ badge: { status: 'unknown' } }))).toBeNull();
    const withRules = renderQualityDot(parseQuality({ badge: { status: 'unknown' }, rules: [{}] }))!;
    expect(withRules.textContent).toBe('?');
  });
});

describe('QualityCache', () => {
  const status = (table: string): IQualityStatus => parseQuality({ table, badge: { status: 'pass' } });

  function deferredLoader() {
    const calls: Array<{ table: string; resolve: (v: IQualityStatus | null) => void; reject: (e: unknown) => void }> = [];
    const load = jest.fn(
      (table: string) =>
        new Promise<IQualityStatus | null>((resolve, reject) => calls.push({ table, resolve, reject }))
    );
    return { load, calls };
  }

  const flush = () => new Promise(r => setTimeout(r, 0));

  it('loads each table once, a few at a time, and tells when one arrives', async () => {
    const { load, calls } = deferredLoader();
    const loaded: Array<[string, string | null]> = [];
    const cache = new QualityCache(load, {
      concurrency: 2,
      onLoaded: (t, s) => loaded.push([t, s ? s.badge.status : null])
    });
    for (const t of ['a', 'b', 'c', 'a']) {
      cache.request(t);
    }
    expect(load.mock.calls.map(c => c[0])).toEqual(['a', 'b']); // c waits for a slot
    expect(cache.get('a')).toBeUndefined();
    expect(cache.isPending('c')).toBe(true);
    calls[0].resolve(status('a'));
    await flush();
    expect(load.mock.calls.map(c => c[0])).toEqual(['a', 'b', 'c']);
    calls[1].reject(new Error('boom')); // a failure is no badge, not an error
    calls[2].resolve(null);
    await flush();
    expect(loaded).toEqual([
      ['a', 'pass'],
      ['b', null],
      ['c', null]
    ]);
    expect(cache.get('a')?.badge.status).toBe('pass');
    expect(cache.get('b')).toBeNull();
    cache.request('a');
    expect(load).toHaveBeenCalledTimes(3);
  });

  it('drops answers that started before clear(), and accepts badges set from outside', async () => {
    const { load, calls } = deferredLoader();
    const onLoaded = jest.fn();
    const cache = new QualityCache(load, { concurrency: 1, onLoaded });
    cache.request('a');
    cache.request('b');
    cache.set('b', status('b')); // the table panel loaded it meanwhile
    expect(cache.isPending('b')).toBe(false);
    cache.clear();
    calls[0].resolve(status('a'));
    await flush();
    expect(cache.has('a')).toBe(false);
    expect(cache.has('b')).toBe(false);
    expect(onLoaded).toHaveBeenCalledTimes(1); // only the set()
    cache.request('a');
    expect(load).toHaveBeenCalledTimes(2);
  });

  it('survives a loader that throws synchronously', async () => {
    const cache = new QualityCache(() => {
      throw new Error('no');
    });
    cache.request('x');
    await flush();
    expect(cache.get('x')).toBeNull();
  });
});
