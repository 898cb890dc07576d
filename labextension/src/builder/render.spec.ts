jest.mock('../handler', () => ({
  requestAPI: jest.fn(() => Promise.reject(new Error('not used')))
}));

import { describeError, valuesFromPage } from './api';
import { chooseAxes, drawChart } from './chart';
import { formatCell, pageLabel, renderGrid } from './grid';
import { renderSql, tokenize } from './sql';

describe('SQL highlighting', () => {
  it('tokenizes without losing text', () => {
    const sql = "SELECT\n  t0.status,\n  COUNT(*) AS count\nFROM main.orders AS t0\nWHERE t0.channel = 'it''s' AND t0.x > 1.5 -- note";
    const tokens = tokenize(sql);
    expect(tokens.map(t => t.text).join('')).toBe(sql);
    const kinds = (kind: string): string[] => tokens.filter(t => t.kind === kind).map(t => t.text);
    expect(kinds('keyword')).toEqual(['SELECT', 'COUNT', 'AS', 'count', 'FROM', 'AS', 'WHERE', 'AND']);
    expect(kinds('string')).toEqual(["'it''s'"]);
    expect(kinds('number')).toEqual(['1.5']);
    expect(kinds('comment')).toEqual(['-- note']);
  });

  it('renders spans, never HTML from the SQL', () => {
    const pre = document.createElement('pre');
    renderSql(pre, "SELECT '<b>x</b>' FROM t");
    expect(pre.textContent).toBe("SELECT '<b>x</b>' FROM t");
    expect(pre.querySelector('b')).toBeNull();
    expect(pre.querySelectorAll('.dap-sql-keyword')).toHaveLength(2);
    expect(pre.querySelector('.dap-sql-string')?.textContent).toBe("'<b>x</b>'");
  });
});

describe('grid', () => {
  it('formats cells and page labels', () => {
    expect(formatCell(null)).toBe('null');
    expect(formatCell({ a: 1 })).toBe('{"a":1}');
    expect(formatCell(3)).toBe('3');
    expect(pageLabel(0, 100, 1234, false)).toBe('Rows 1–100 of 1,234');
    expect(pageLabel(100, 50, 150, true)).toBe('Rows 101–150 of 150+');
    expect(pageLabel(0, 0, 0, false)).toBe('No rows');
  });

  it('renders a header and numbered rows', () => {
    const table = document.createElement('table');
    renderGrid(
      table,
      [
        { name: 'status', type: 'string' },
        { name: 'count', type: 'int64' }
      ],
      [
        ['web', 3],
        [null, 4]
      ],
      10
    );
    expect([...table.querySelectorAll('thead th')].map(th => th.textContent)).toEqual(['#', 'status', 'count']);
    const rows = [...table.querySelectorAll('tbody tr')];
    expect(rows[0].querySelector('th')?.textContent).toBe('11');
    expect(rows[1].querySelector('td')?.className).toBe('dap-grid-null');
    expect(rows[0].querySelectorAll('td')[1].className).toBe('dap-grid-number');
  });
});

describe('chart', () => {
  const columns = [
    { name: 'status', type: 'string' },
    { name: 'label', type: 'string' },
    { name: 'count', type: 'int64' },
    { name: 'avg', type: 'double' }
  ];
  const rows = [
    ['a', 'x', 3, 1.5],
    ['b', 'y', 5, 2.5],
    ['c', 'z', 'n/a', 3.5]
  ];

  it('picks x = first column, y = first numeric column', () => {
    expect(chooseAxes(columns)).toEqual({ x: 0, y: 2 });
    expect(chooseAxes([{ name: 'n', type: 'int64' }, { name: 'm', type: 'double' }])).toEqual({ x: 0, y: 1 });
    expect(chooseAxes([{ name: 'n', type: 'int64' }])).toEqual({ x: 0, y: 0 });
    expect(chooseAxes([{ name: 's', type: 'string' }])).toBeNull();
    expect(chooseAxes([])).toBeNull();
  });

  it('draws bars, lines and points as SVG', () => {
    const host = document.createElement('div');
    expect(drawChart(host, columns, rows, 'bar', 0, 2)).toBe(2); // 'n/a' is skipped
    const svg = host.querySelector('svg')!;
    expect(svg.getAttribute('aria-label')).toBe('bar chart of count by status');
    expect(host.querySelectorAll('rect.dap-chart-bar')).toHaveLength(2);
    expect(host.querySelector('rect.dap-chart-bar title')?.textContent).toBe('a: 3');

    drawChart(host, columns, rows, 'line', 0, 3);
    expect(host.querySelectorAll('svg')).toHaveLength(1);
    expect(host.querySelectorAll('path.dap-chart-line')).toHaveLength(1);
    expect(host.querySelectorAll('circle.dap-chart-point')).toHaveLength(3);

    drawChart(host, [{ name: 'x', type: 'double' }, { name: 'y', type: 'int64' }], [[2, 1], [1, 2]], 'scatter', 0, 1);
    expect(host.querySelectorAll('circle.dap-chart-point')).toHaveLength(2);
    expect(host.querySelector('path.dap-chart-line')).toBeNull();
  });
});

describe('describeError', () => {
  it('tells unreachable, forbidden and query errors apart', () => {
    const response = (status: number): Error =>
      Object.assign(new Error('tester may not read main.secret'), { response: { status } });
    expect(describeError(new TypeError('Failed to fetch'))).toBe('Cannot reach the DAP server: Failed to fetch');
    expect(describeError(response(403))).toBe('Access denied: tester may not read main.secret');
    expect(describeError(response(400))).toBe('tester may not read main.secret');
    expect(describeError('boom')).toBe('boom');
  });

  it('valuesFromPage keeps non-null first-column values as text', () => {
    expect(
      valuesFromPage({
        query_id: 'q',
        status: 'finished',
        columns: [{ name: 'v', type: 'int64' }],
        rows: [[1], [null], [2]],
        row_count: 3,
        offset: 0,
        next_offset: null,
        truncated: false
      })
    ).toEqual(['1', '2']);
  });
});
