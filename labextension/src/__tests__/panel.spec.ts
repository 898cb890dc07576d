// The panel's own JupyterLab imports are ES modules that jest would have to
// transpile; replace them by small stand-ins. @lumino/widgets ships a
// CommonJS/UMD build and is used for real.
jest.mock('@jupyterlab/ui-components', () => ({
  LabIcon: class {
    constructor(readonly options: { name: string; svgstr: string }) {}
  }
}));
jest.mock('../handler', () => ({
  requestAPI: jest.fn(() => Promise.reject(new Error('not used')))
}));

import { Widget } from '@lumino/widgets';

import { CSS, ICatalogTable } from '../catalog';
import { CatalogPanel, PANEL_ID, PANEL_TITLE } from '../panel';

const TABLES: ICatalogTable[] = [
  {
    name: 'main.orders',
    kind: 'delta',
    description: 'Orders',
    row_count: 123,
    tags: ['pii']
  }
];

function deferred<T>(): {
  promise: Promise<T>;
  resolve: (v: T) => void;
  reject: (e: unknown) => void;
} {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

describe('CatalogPanel', () => {
  let panel: CatalogPanel;

  afterEach(() => {
    panel?.dispose();
  });

  it('has the expected id, caption and skeleton', () => {
    panel = new CatalogPanel(() => Promise.resolve([]));
    expect(panel.id).toBe(PANEL_ID);
    expect(panel.title.caption).toBe(PANEL_TITLE);
    expect(panel.title.icon).toBeDefined();
    expect(panel.node.querySelector(`.${CSS.title}`)?.textContent).toBe(
      'DAP catalog'
    );
    expect(panel.node.querySelector(`button.${CSS.refresh}`)?.textContent).toBe(
      'Refresh'
    );
    expect(panel.node.querySelector(`ul.${CSS.list}`)).not.toBeNull();
    expect(panel.node.querySelector(`.${CSS.error}`)).toBeNull();
  });

  it('loads tables when first shown', async () => {
    const loader = jest.fn(() => Promise.resolve(TABLES));
    panel = new CatalogPanel(loader);
    panel.hide();
    Widget.attach(panel, document.body);
    expect(loader).not.toHaveBeenCalled();
    panel.show();
    expect(loader).toHaveBeenCalledTimes(1);
    await Promise.resolve();
    await Promise.resolve();
    const li = panel.node.querySelector('li[data-table="main.orders"]');
    expect(li?.className).toBe(CSS.item);
    expect(panel.node.querySelector(`.${CSS.status}`)?.textContent).toBe(
      '1 table'
    );
    // Showing again does not reload.
    panel.hide();
    panel.show();
    expect(loader).toHaveBeenCalledTimes(1);
  });

  it('shows an error and clears it on the next successful refresh', async () => {
    const loader = jest
      .fn<Promise<ICatalogTable[]>, []>()
      .mockRejectedValueOnce(
        new Error('DAP server extension is not installed or not enabled')
      )
      .mockResolvedValueOnce(TABLES);
    const spy = jest.spyOn(console, 'error').mockImplementation(() => {});
    panel = new CatalogPanel(loader);

    await panel.refresh();
    const error = panel.node.querySelector(`.${CSS.error}`);
    expect(error?.textContent).toBe(
      'DAP server extension is not installed or not enabled'
    );
    expect(panel.node.querySelectorAll(`li.${CSS.item}`)).toHaveLength(0);
    expect(spy).toHaveBeenCalled();

    (
      panel.node.querySelector(`button.${CSS.refresh}`) as HTMLButtonElement
    ).click();
    await Promise.resolve();
    await Promise.resolve();
    expect(panel.node.querySelector(`.${CSS.error}`)).toBeNull();
    expect(panel.node.querySelectorAll(`li.${CSS.item}`)).toHaveLength(1);
    spy.mockRestore();
  });

  it('disables Refresh while loading and renders only the latest result', async () => {
    const first = deferred<ICatalogTable[]>();
    const second = deferred<ICatalogTable[]>();
    const loader = jest
      .fn<Promise<ICatalogTable[]>, []>()
      .mockReturnValueOnce(first.promise)
      .mockReturnValueOnce(second.promise);
    panel = new CatalogPanel(loader);
    const button = panel.node.querySelector(
      `button.${CSS.refresh}`
    ) as HTMLButtonElement;

    const p1 = panel.refresh();
    expect(button.disabled).toBe(true);
    const p2 = panel.refresh();
    second.resolve(TABLES);
    await p2;
    expect(button.disabled).toBe(false);
    first.resolve([{ name: 'stale.table' }]);
    await p1;
    expect(panel.tables.map(t => t.name)).toEqual(['main.orders']);
    expect(panel.node.querySelector('li[data-table="stale.table"]')).toBeNull();
  });
});
