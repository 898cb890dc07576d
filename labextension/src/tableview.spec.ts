jest.mock('@jupyterlab/ui-components', () => ({
  LabIcon: class {
    constructor(readonly options: { name: string; svgstr: string }) {}
  }
}));

import { Widget } from '@lumino/widgets';

import { ILineage, ITableDetail } from './catalog';
import {
  BUILDER_DISABLED_TOOLTIP,
  INSERT_DISABLED_TOOLTIP,
  ITableActions,
  ROW_FILTER_TEXT,
  TableView,
  VIEW_CSS,
  distinctText,
  formatCell,
  formatFreshness,
  renderColumns,
  renderHeader,
  renderLineage,
  renderSample,
  rowCountText,
  showQuality,
  tableViewId
} from './tableview';
import { parseQuality } from './quality';
import { TREE_CSS } from './tree';

const DETAIL: ITableDetail = {
  name: 'main.customers',
  schema: 'main',
  table: 'customers',
  kind: 'delta',
  description: 'One row per customer',
  owner: 'tester',
  tags: ['pii', 'retail'],
  row_count: 200,
  version: 2,
  updated_at: '2026-11-03T14:05:00Z',
  readable: true,
  row_filtered: false,
  columns: [
    {
      name: 'customer_id',
      type: 'BIGINT',
      nullable: false,
      description: 'Key',
      tags: [],
      masked: false,
      null_count: 0,
      distinct_count: 200,
      min_value: '1',
      max_value: '200'
    },
    {
      name: 'email',
      type: 'VARCHAR',
      nullable: true,
      description: 'Contact',
      tags: ['pii'],
      masked: true,
      null_count: null,
      distinct_count: null,
      min_value: null,
      max_value: null
    }
  ],
  sample_columns: ['customer_id', 'email', 'extra'],
  sample_rows: [
    [1, '***@example.com', null],
    [7, '***@example.org', { a: 1 }]
  ]
};

const LINEAGE: ILineage = {
  table: 'main.customers',
  upstream: [{ name: '/data/customers.csv', kind: 'file' }],
  downstream: []
};

describe('formatting', () => {
  it('formats freshness in UTC with a relative age', () => {
    const at = Date.parse('2026-11-03T14:05:00Z');
    expect(formatFreshness('2026-11-03T14:05:00Z', at + 3 * 3600_000)).toBe(
      '2026-11-03 14:05 UTC (3 hours ago)'
    );
    expect(formatFreshness('2026-11-03T14:05:00Z', at + 30_000)).toContain('just now');
    expect(formatFreshness('2026-11-03T14:05:00Z', at + 86_400_000)).toContain('1 day ago');
    expect(formatFreshness('2026-11-03T14:05:00Z', at - 5000)).toContain('in the future');
    expect(formatFreshness(null)).toBe('unknown');
    expect(formatFreshness('not a date')).toBe('unknown');
  });

  it('says when a row filter hides the row count', () => {
    expect(rowCountText(DETAIL)).toBe('200 rows');
    expect(rowCountText({ ...DETAIL, row_filtered: true, row_count: null })).toBe(
      ROW_FILTER_TEXT
    );
    expect(rowCountText({ ...DETAIL, row_count: null })).toBe('unknown');
  });

  it('shows values as they came', () => {
    expect(formatCell('***@example.com')).toBe('***@example.com');
    expect(formatCell(3.5)).toBe('3.5');
    expect(formatCell(false)).toBe('false');
    expect(formatCell(null)).toBe('NULL');
    expect(formatCell({ a: [1] })).toBe('{"a":[1]}');
  });

  it('makes a DOM-safe id', () => {
    expect(tableViewId('main.customers')).toBe('dap-table-main_customers');
    expect(tableViewId('a b."c"')).toBe('dap-table-a_b__c_');
  });
});

describe('rendering', () => {
  it('renders the header facts', () => {
    const header = renderHeader(DETAIL);
    expect(header.querySelector(`.${VIEW_CSS.title}`)?.textContent).toBe('main.customers');
    expect(header.querySelector(`.${VIEW_CSS.description}`)?.textContent).toBe(
      'One row per customer'
    );
    const fact = (name: string) =>
      header.querySelector(`[data-fact="${name}"] dd`)?.textContent;
    expect(fact('owner')).toBe('tester');
    expect(fact('rows')).toBe('200 rows');
    expect(fact('updated')).toMatch(/^2026-11-03 14:05 UTC/);
    expect(fact('version')).toBe('2');
    expect(header.querySelector(`.${TREE_CSS.pii}`)).not.toBeNull();
  });

  it('renders column statistics with PII and masked badges', () => {
    const section = renderColumns(DETAIL);
    const rows = section.querySelectorAll('tbody tr');
    expect(rows).toHaveLength(2);
    const cells = (i: number) => Array.from(rows[i].children).map(td => td.textContent);
    expect(cells(0)).toEqual(['customer_id', 'BIGINT', 'Key', '0', '200', '1', '200']);
    expect(cells(1).slice(3)).toEqual(['—', '—', '—', '—']);
    expect(rows[1].querySelector(`.${TREE_CSS.pii}`)).not.toBeNull();
    expect(rows[1].querySelector(`.${TREE_CSS.masked}`)).not.toBeNull();
    expect(rows[0].querySelector(`.${TREE_CSS.pii}`)).toBeNull();
  });

  it('marks estimated distinct counts with ≈ and groups thousands', () => {
    const [key, email] = DETAIL.columns;
    const estimated = { ...key, distinct_count: 9442, distinct_approx: true };
    const exact = { ...key, distinct_count: 10000, distinct_approx: false };
    expect(distinctText(estimated)).toBe('≈9,442');
    expect(distinctText(exact)).toBe('10,000');
    expect(distinctText({ ...email, distinct_approx: true })).toBe('—');
    const section = renderColumns({ ...DETAIL, columns: [estimated, email] });
    const first = section.querySelector('tbody tr');
    expect(first?.children[4].textContent).toBe('≈9,442');
  });

  it('renders the governed sample exactly as sent', () => {
    const section = renderSample(DETAIL);
    const headers = Array.from(section.querySelectorAll('th')).map(th => th.textContent);
    expect(headers).toEqual(['customer_id', 'email', 'extra']);
    const rows = section.querySelectorAll('tbody tr');
    expect(rows[0].children[1].textContent).toBe('***@example.com');
    expect(rows[0].children[2].querySelector(`.${VIEW_CSS.null}`)?.textContent).toBe('NULL');
    expect(rows[1].children[2].textContent).toBe('{"a":1}');
    expect(section.querySelector('caption')?.textContent).toBe('First 2 rows');
    const filtered = renderSample({ ...DETAIL, row_filtered: true });
    expect(filtered.querySelector('caption')?.textContent).toContain('row filter applies');
    const none = renderSample({ ...DETAIL, sample_rows: [] });
    expect(none.textContent).toContain('No rows you may see.');
  });

  it('renders lineage or why it is missing', () => {
    const section = renderLineage(LINEAGE);
    expect(section.textContent).toContain('Upstream (1)');
    expect(section.textContent).toContain('/data/customers.csv');
    expect(section.textContent).toContain('Downstream (0)');
    expect(section.textContent).toContain('none recorded');
    expect(renderLineage({ error: 'Access denied' }).textContent).toContain(
      'Lineage unavailable: Access denied'
    );
  });
});

describe('TableView', () => {
  let view: TableView;
  const actions = (over: Partial<ITableActions> = {}): ITableActions => ({
    canOpenBuilder: () => true,
    openBuilder: jest.fn(),
    canInsertCell: () => true,
    insertCell: jest.fn(),
    ...over
  });

  afterEach(() => view?.dispose());

  it('loads on first show and renders every section', async () => {
    const loadDetail = jest.fn(async () => DETAIL);
    const loadLineage = jest.fn(async () => LINEAGE);
    view = new TableView('main.customers', { loadDetail, loadLineage, actions: actions() });
    expect(view.id).toBe('dap-table-main_customers');
    expect(view.title.label).toBe('main.customers');
    expect(view.title.closable).toBe(true);
    Widget.attach(view, document.body);
    expect(loadDetail).toHaveBeenCalledWith('main.customers');
    await new Promise(r => setTimeout(r, 0));
    for (const cls of [VIEW_CSS.header, VIEW_CSS.columns, VIEW_CSS.sample, VIEW_CSS.lineage]) {
      expect(view.node.querySelector(`.${cls}`)).not.toBeNull();
    }
    expect(view.detail).toBe(DETAIL);
  });

  it('shows a load error as an alert, and lineage errors inline', async () => {
    const spy = jest.spyOn(console, 'error').mockImplementation(() => {});
    const denied = Object.assign(new Error('no grant'), { response: { status: 403 } });
    view = new TableView('main.x', {
      loadDetail: async () => {
        throw denied;
      },
      loadLineage: async () => LINEAGE,
      actions: actions()
    });
    await view.load();
    const alert = view.node.querySelector('[role="alert"]');
    expect(alert?.textContent).toBe('Access denied: no grant');
    spy.mockRestore();

    view.dispose();
    view = new TableView('main.customers', {
      loadDetail: async () => DETAIL,
      loadLineage: async () => {
        throw new Error('lineage store down');
      },
      actions: actions()
    });
    await view.load();
    expect(view.node.querySelector(`.${VIEW_CSS.lineage}`)?.textContent).toContain(
      'lineage store down'
    );
  });

  it('runs the actions and disables them with a tooltip', () => {
    const a = actions();
    view = new TableView('main.customers', {
      loadDetail: async () => DETAIL,
      loadLineage: async () => LINEAGE,
      actions: a
    });
    const builder = view.node.querySelector(`.${VIEW_CSS.builder}`) as HTMLButtonElement;
    const insert = view.node.querySelector(`.${VIEW_CSS.insert}`) as HTMLButtonElement;
    expect(insert.textContent).toBe('Insert %%dap sql cell');
    builder.click();
    insert.click();
    expect(a.openBuilder).toHaveBeenCalledWith('main.customers');
    expect(a.insertCell).toHaveBeenCalledWith('main.customers');
    expect(insert.getAttribute('aria-disabled')).toBe('false');

    let hasNotebook = false;
    const b = actions({
      canOpenBuilder: () => false,
      canInsertCell: () => hasNotebook
    });
    view.dispose();
    view = new TableView('main.customers', {
      loadDetail: async () => DETAIL,
      loadLineage: async () => LINEAGE,
      actions: b
    });
    const insert2 = view.node.querySelector(`.${VIEW_CSS.insert}`) as HTMLButtonElement;
    const builder2 = view.node.querySelector(`.${VIEW_CSS.builder}`) as HTMLButtonElement;
    expect(insert2.getAttribute('aria-disabled')).toBe('true');
    expect(insert2.title).toBe(INSERT_DISABLED_TOOLTIP);
    expect(builder2.title).toBe(BUILDER_DISABLED_TOOLTIP);
    insert2.click();
    builder2.click();
    expect(b.insertCell).not.toHaveBeenCalled();
    expect(b.openBuilder).not.toHaveBeenCalled();
    // A notebook opens: the plugin calls updateActions().
    hasNotebook = true;
    view.updateActions();
    expect(insert2.getAttribute('aria-disabled')).toBe('false');
    insert2.click();
    expect(b.insertCell).toHaveBeenCalledWith('main.customers');
  });
  it('shows the quality and freshness pills when the badge arrives, never waiting for it', async () => {
    let answer!: (v: unknown) => void;
    const loadQuality = jest.fn(
      () => new Promise<ReturnType<typeof parseQuality> | null>(r => (answer = v => r(v ? parseQuality(v) : null)))
    );
    view = new TableView('main.customers', {
      loadDetail: async () => DETAIL,
      loadLineage: async () => LINEAGE,
      loadQuality,
      actions: actions()
    });
    await view.load();
    // The panel is drawn; the badge is still on its way.
    expect(view.node.querySelector(`.${VIEW_CSS.header}`)).not.toBeNull();
    expect(view.node.querySelector('.dap-quality-badges')).toBeNull();
    answer({
      table: 'main.customers',
      badge: {
        status: 'fail',
        checked_at: '2026-11-28T10:05:00Z',
        failed_rules: 1,
        freshness: { column: 'updated_at', newest: '2026-11-28T09:00:00Z', age_s: 7260 }
      },
      results: [
        { rule: 'unique_customer_id', kind: 'unique', column: 'customer_id', severity: 'error', status: 'fail', failures: 2, message: '2 duplicate rows' }
      ],
      rules: [{ unique: ['customer_id'] }]
    });
    await new Promise(r => setTimeout(r, 0));
    const badges = view.node.querySelector('.dap-quality-badges')!;
    // Right under the title.
    expect(badges.previousElementSibling?.classList.contains(VIEW_CSS.title)).toBe(true);
    const pill = badges.querySelector<HTMLElement>('.dap-quality-pill')!;
    expect(pill.textContent).toBe('quality: fail');
    expect(pill.title).toBe(
      'Checked 2026-11-28 10:05 UTC\nFailed rules (1):\n✕ unique_customer_id (error): 2 duplicate rows'
    );
    expect(badges.querySelector('.dap-fresh-pill')?.textContent).toBe('fresh: 2 h ago');
    expect(view.quality?.badge.status).toBe('fail');
  });

  it('shows no badge when there is none (403/404) or loading it fails', async () => {
    for (const loadQuality of [async () => null, async () => Promise.reject(new Error('down'))]) {
      view?.dispose();
      view = new TableView('main.customers', {
        loadDetail: async () => DETAIL,
        loadLineage: async () => LINEAGE,
        loadQuality,
        actions: actions()
      });
      await view.load();
      await new Promise(r => setTimeout(r, 0));
      expect(view.node.querySelector('.dap-quality-badges')).toBeNull();
      expect(view.node.querySelector('[role="alert"]')).toBeNull();
      expect(view.node.querySelector(`.${VIEW_CSS.columns}`)).not.toBeNull();
    }
  });

  it('replaces older badges on reload', () => {
    const body = document.createElement('div');
    body.appendChild(renderHeader(DETAIL));
    showQuality(body, parseQuality({ badge: { status: 'pass' } }));
    showQuality(body, parseQuality({ badge: { status: 'warn' } }));
    expect([...body.querySelectorAll('.dap-quality-pill')].map(p => p.textContent)).toEqual(['quality: warn']);
    showQuality(body, null);
    expect(body.querySelector('.dap-quality-pill')).toBeNull();
  });
});
