import { MessageLoop } from '@lumino/messaging';
import { Widget } from '@lumino/widgets';

import { CellValue, IResultBundle, RESULT_MIME } from './format';
import { ICsvChunk, IPage, IPageSource, ISortKey, ResultModel } from './model';
import { ResultRenderer, resultRendererFactory } from './renderer';
import { ResultView } from './view';

const ROWS = 1_000_000;

/** A kernel holding `ROWS` rows: row i is [i, i * 1.25, null every 7th]. */
class FakeKernel implements IPageSource {
  requests: { offset: number; limit: number; sort: ISortKey[] }[] = [];
  fail = '';

  row(i: number, sort: ISortKey[]): CellValue[] {
    const n = sort.length && sort[0].desc ? ROWS - 1 - i : i;
    return [n, n * 1.25, n % 7 === 3 ? null : `r${n}`];
  }

  async page(
    _handle: string,
    offset: number,
    limit: number,
    sort: ISortKey[]
  ): Promise<IPage> {
    this.requests.push({ offset, limit, sort });
    if (this.fail) {
      throw new Error(this.fail);
    }
    const rows: CellValue[][] = [];
    for (let i = offset; i < Math.min(ROWS, offset + limit); i++) {
      rows.push(this.row(i, sort));
    }
    return { offset, row_count: ROWS, rows };
  }

  async csv(): Promise<ICsvChunk> {
    return { csv: 'n\n1\n', next: null };
  }
}

function bundle(rows: number, handle: string | null = 'h'): IResultBundle {
  const kernel = new FakeKernel();
  const page = Math.min(200, rows);
  return {
    version: 1,
    handle,
    row_count: rows,
    page_size: page,
    columns: [
      { name: 'id', type: 'Int64', kind: 'int', decimals: 0, grouped: false, nulls: 0, sparkline: null },
      {
        name: 'revenue',
        type: 'Float64',
        kind: 'float',
        decimals: 2,
        grouped: true,
        nulls: 0,
        sparkline: { kind: 'histogram', counts: [1, 2], min: '0', max: '9', sampled: false }
      },
      { name: 'label', type: 'String', kind: 'string', decimals: null, grouped: false, nulls: 1, sparkline: null }
    ],
    rows: Array.from({ length: page }, (_, i) => kernel.row(i, []))
  };
}

const flush = () => new Promise(resolve => setTimeout(resolve, 0));

describe('ResultModel', () => {
  it('counts all rows and fetches a far page only when asked', async () => {
    const kernel = new FakeKernel();
    const model = new ResultModel(bundle(ROWS), kernel);
    expect(model.rowCount('body')).toBe(ROWS);
    expect(model.data('body', 5, 1)).toBe(6.25); // from the bundle
    expect(kernel.requests).toEqual([]);
    expect(model.data('body', 999_999, 0)).toBeUndefined(); // not loaded yet
    model.data('body', 999_998, 0); // same page: one request
    await flush();
    expect(kernel.requests).toEqual([{ offset: 999_800, limit: 200, sort: [] }]);
    expect(model.data('body', 999_999, 0)).toBe(999_999);
    expect(model.data('row-header', 999_999, 0)).toBe('1,000,000');
  });

  it('asks the kernel to sort all rows, not the page it has', async () => {
    const kernel = new FakeKernel();
    const model = new ResultModel(bundle(ROWS), kernel);
    await model.toggleSort(0);
    await model.toggleSort(0); // ascending, then descending
    expect(kernel.requests.map(r => r.sort)).toEqual([
      [{ column: 0, desc: false }],
      [{ column: 0, desc: true }]
    ]);
    expect(model.data('body', 0, 0)).toBe(ROWS - 1);
    expect(model.data('column-header', 0, 0)).toBe('id ▼');
    await model.toggleSort(0);
    expect(model.sort).toBeNull();
    expect(model.data('column-header', 0, 0)).toBe('id');
  });

  it('shows the saved page and says why when the kernel cannot serve', async () => {
    const kernel = new FakeKernel();
    kernel.fail = 'this result has expired: run the cell again';
    const model = new ResultModel(bundle(ROWS), kernel);
    model.data('body', 500_000, 0);
    await flush();
    await flush();
    expect(model.remote).toBe(false);
    expect(model.rowCount('body')).toBe(200);
    expect(model.status).toContain('first 200 of 1,000,000 rows');
    expect(model.status).toContain('expired');
  });

  it('sorts a result it holds whole in the browser, nulls last', async () => {
    const model = new ResultModel(bundle(20, null), null);
    expect(model.remote).toBe(false);
    await model.toggleSort(2);
    await model.toggleSort(2);
    const labels = Array.from({ length: 20 }, (_, r) => model.data('body', r, 2));
    expect(labels.slice(-3)).toEqual([null, null, null]);
    expect(labels[0]).toBe('r9');
    expect(model.status).toBe('20 rows');
  });

  it('downloads the rows it holds as CSV, or the kernel’s chunks', async () => {
    const local = new ResultModel(bundle(2, null), null);
    expect(await local.csv()).toBe('id,revenue,label\n0,0,r0\n1,1.25,r1\n');
    const remote = new ResultModel(bundle(ROWS), new FakeKernel());
    expect(await remote.csv()).toBe('n\n1\n');
  });
});

describe('ResultView and the renderer', () => {
  it('renders a million-row bundle as a grid with status and actions', async () => {
    const renderer = resultRendererFactory(new FakeKernel()).createRenderer({
      mimeType: RESULT_MIME
    } as any) as ResultRenderer;
    Widget.attach(renderer, document.body);
    await renderer.renderModel({
      data: { [RESULT_MIME]: bundle(ROWS) as any },
      metadata: {},
      trusted: true,
      setData: () => undefined
    } as any);
    const node = renderer.node;
    expect(node.querySelector('.dap-result-status')?.textContent).toBe(
      '1,000,000 rows'
    );
    expect(node.querySelector('.dap-result-summary')?.textContent).toBe(
      'Columns: id (Int64), revenue (Float64), label (String)'
    );
    expect(node.querySelector('.dap-result-copy')).not.toBeNull();
    expect(node.querySelector('.dap-result-download')).not.toBeNull();
    expect(node.querySelector('.dap-result-grid canvas')).not.toBeNull();
    expect(node.querySelector('.dap-result-grid')?.getAttribute('title')).toBe(
      'revenue: 0 … 9'
    );
    Widget.detach(renderer);
  });

  it('sizes a number column for its largest value, not only the first page', () => {
    const narrow = new ResultView(bundle(ROWS), new FakeKernel());
    const wide = bundle(ROWS);
    (wide.columns[1].sparkline as any).max = '11303000.0';
    const fitted = new ResultView(wide, new FakeKernel());
    MessageLoop.flush(); // the grid resizes columns on a posted message
    expect(fitted.grid.columnSize('body', 1)).toBeGreaterThan(
      narrow.grid.columnSize('body', 1)
    );
    expect(fitted.grid.columnSize('body', 1)).toBeGreaterThanOrEqual(
      '11,303,000.00'.length * 7
    );
  });

  it('copies the selected cells as raw tab-separated values', () => {
    const view = new ResultView(bundle(20, null), null);
    view.grid.selectionModel!.select({
      r1: 3,
      c1: 1,
      r2: 4,
      c2: 2,
      cursorRow: 3,
      cursorColumn: 1,
      clear: 'all'
    });
    expect(view.copyText()).toBe('revenue\tlabel\n3.75\t\n5\tr4\n');
  });
});
