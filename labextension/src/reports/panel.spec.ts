import { Widget } from '@lumino/widgets';

import type { IReportsApi } from './api';
import type { IRun, ISchedule } from './model';
import {
  EMPTY_REPORTS,
  POLL_MS,
  REPORTS_CSS,
  REPORTS_PANEL_ID,
  ReportsPanel,
  renderRunBadge
} from './panel';
import { run, schedule } from './fixtures';

const failure = (status: number, message: string) =>
  Object.assign(new Error(message), { response: { status } });

function fakeApi(overrides: Partial<IReportsApi> = {}): jest.Mocked<IReportsApi> {
  return {
    schedules: jest.fn(async () => [schedule()]),
    runs: jest.fn(async () => [
      run('failed', { id: 'r2', error: 'PapermillExecutionError: boom\nTraceback …', outputs: { ipynb: 'x' } }),
      run('succeeded', { id: 'r1' })
    ]),
    create: jest.fn(),
    runNow: jest.fn(async () => run('queued', { id: 'r3' })),
    pause: jest.fn(async () => schedule({ paused: true })),
    resume: jest.fn(async () => schedule()),
    remove: jest.fn(async () => undefined),
    output: jest.fn(),
    ...overrides
  } as jest.Mocked<IReportsApi>;
}

const flush = async () => {
  for (let i = 0; i < 5; i++) {
    await Promise.resolve();
  }
};

function q<T extends Element = HTMLElement>(root: Element, selector: string): T {
  const el = root.querySelector<T>(selector);
  if (!el) {
    throw new Error(`no ${selector}`);
  }
  return el;
}

function buttonNamed(root: Element, name: string): HTMLButtonElement {
  const found = Array.from(root.querySelectorAll('button')).find(
    b => b.getAttribute('aria-label') === name || b.textContent === name
  );
  if (!found) {
    throw new Error(`no button ${name}`);
  }
  return found;
}

describe('renderRunBadge', () => {
  it.each([
    ['queued', '…'],
    ['running', '▶'],
    ['retrying', '↻'],
    ['succeeded', '✓'],
    ['failed', '✕'],
    ['skipped', '–'],
    ['cancelled', '⊘']
  ])('draws %s with its word and a glyph hidden from screen readers', (status, glyph) => {
    const badge = renderRunBadge(document, status);
    expect(badge.classList.contains(REPORTS_CSS.badge)).toBe(true);
    expect(badge.classList.contains(`dap-run-${status}`)).toBe(true);
    expect(badge.textContent).toBe(`${glyph}${status}`);
    const hidden = q(badge, '[aria-hidden="true"]');
    expect(hidden.textContent).toBe(glyph);
  });

  it('does not let a status write a class name', () => {
    const badge = renderRunBadge(document, 'x" onclick="alert(1)');
    expect(badge.className).toBe(`${REPORTS_CSS.badge} dap-run-xonclickalert`);
  });
});

describe('ReportsPanel', () => {
  let panel: ReportsPanel;

  afterEach(() => {
    panel?.dispose();
    jest.useRealTimers();
  });

  it('lists the schedules with cron, next due and their last runs', async () => {
    const api = fakeApi();
    panel = new ReportsPanel({ api });
    expect(panel.id).toBe(REPORTS_PANEL_ID);
    await panel.refresh();
    expect(api.runs).toHaveBeenCalledWith('sch_1', 5);

    const item = q(panel.node, 'li.dap-report[data-schedule-id="sch_1"]');
    expect(q(item, `.${REPORTS_CSS.name}`).textContent).toBe('weekly sales');
    expect(q(item, `.${REPORTS_CSS.when}`).textContent).toBe(
      '0 8 * * 1 (Europe/Berlin)next 2026-12-07 08:00 Europe/Berlin'
    );
    expect(item.querySelector(`.${REPORTS_CSS.paused}`)).toBeNull();
    expect(q(panel.node, `.${REPORTS_CSS.status}`).textContent).toBe('1 schedule');

    const runs = Array.from(item.querySelectorAll<HTMLElement>('li.dap-run'));
    expect(runs.map(r => r.dataset.status)).toEqual(['failed', 'succeeded']);
    const [failed, succeeded] = runs;
    expect(q(failed, `.${REPORTS_CSS.badge}`).textContent).toBe('✕failed');
    expect(q(failed, `.${REPORTS_CSS.runError}`).textContent).toBe('PapermillExecutionError: boom');
    expect(q(failed, `.${REPORTS_CSS.runError}`).title).toContain('Traceback');
    expect(q(failed, '.dap-run-time').textContent).toBe('2026-12-01 10:00 Europe/Berlin');
    expect(q(succeeded, '.dap-run-detail').textContent).toBe('run now · 42 s');
    expect(succeeded.querySelector(`.${REPORTS_CSS.runError}`)).toBeNull();
    // Output links, known formats in order; a failed run offers what it has.
    const links = (li: Element) =>
      Array.from(li.querySelectorAll<HTMLElement>(`.${REPORTS_CSS.output}`)).map(b => b.dataset.format);
    expect(links(succeeded)).toEqual(['ipynb', 'html']);
    expect(links(failed)).toEqual(['ipynb']);
    expect(panel.polling).toBe(false);
  });

  it('shows paused schedules, schedules without runs and an empty list', async () => {
    const api = fakeApi({
      schedules: jest.fn(async () => [schedule({ paused: true }), schedule({ id: 'sch_2', name: 'b', cron: '' })]),
      runs: jest.fn(async (id: string) => {
        if (id === 'sch_2') {
          throw failure(500, 'database is locked');
        }
        return [];
      })
    });
    panel = new ReportsPanel({ api });
    await panel.refresh();
    const paused = q(panel.node, '[data-schedule-id="sch_1"]');
    expect(q(paused, `.${REPORTS_CSS.paused}`).textContent).toBe('Paused');
    expect(q(paused, '.dap-report-next').textContent).toBe('not due while paused');
    expect(buttonNamed(paused, 'Resume weekly sales').textContent).toBe('Resume');
    expect(q(paused, `.${REPORTS_CSS.noRuns}`).textContent).toBe('No runs yet');
    const other = q(panel.node, '[data-schedule-id="sch_2"]');
    expect(q(other, '.dap-report-cron').textContent).toBe('run on demand only');
    expect(q(other, `.${REPORTS_CSS.noRuns}`).textContent).toBe('Runs unavailable: database is locked');

    api.schedules.mockResolvedValueOnce([]);
    await panel.refresh();
    expect(q(panel.node, `.${REPORTS_CSS.empty}`).textContent).toBe(EMPTY_REPORTS);
    expect(q(panel.node, `.${REPORTS_CSS.status}`).textContent).toBe('0 schedules');
  });

  it('shows a load failure as one line and clears it on the next refresh', async () => {
    const spy = jest.spyOn(console, 'error').mockImplementation(() => {});
    const api = fakeApi();
    api.schedules.mockRejectedValueOnce(failure(403, 'no grant to schedule reports'));
    panel = new ReportsPanel({ api });
    await panel.refresh();
    const error = q(panel.node, `.${REPORTS_CSS.error}`);
    expect(error.hidden).toBe(false);
    expect(error.getAttribute('role')).toBe('alert');
    expect(error.textContent).toBe('Access denied: no grant to schedule reports');
    expect(panel.node.querySelectorAll('li.dap-report')).toHaveLength(0);
    buttonNamed(panel.node, 'Refresh').click();
    await flush();
    expect(error.hidden).toBe(true);
    expect(panel.node.querySelectorAll('li.dap-report')).toHaveLength(1);
    spy.mockRestore();
  });

  it('loads when shown, and again each time it is shown', async () => {
    const api = fakeApi();
    panel = new ReportsPanel({ api });
    panel.hide();
    Widget.attach(panel, document.body);
    expect(api.schedules).not.toHaveBeenCalled();
    panel.show();
    await flush();
    expect(api.schedules).toHaveBeenCalledTimes(1);
    panel.hide();
    panel.show();
    expect(api.schedules).toHaveBeenCalledTimes(2);
  });

  it('polls while a run is not over and stops when none is', async () => {
    jest.useFakeTimers();
    const answers: IRun[][] = [
      [run('queued', { id: 'r3' })],
      [run('running', { id: 'r3' })],
      [run('succeeded', { id: 'r3' })]
    ];
    const api = fakeApi({ runs: jest.fn(async () => answers.shift() ?? []) });
    panel = new ReportsPanel({ api });
    await panel.refresh();
    const status = () => q<HTMLElement>(panel.node, 'li.dap-run').dataset.status;
    expect(status()).toBe('queued');
    expect(panel.polling).toBe(true);

    jest.advanceTimersByTime(POLL_MS - 1);
    expect(api.schedules).toHaveBeenCalledTimes(1);
    jest.advanceTimersByTime(1);
    expect(api.schedules).toHaveBeenCalledTimes(2);
    await flush();
    expect(status()).toBe('running');
    expect(panel.polling).toBe(true);

    jest.advanceTimersByTime(POLL_MS);
    await flush();
    expect(status()).toBe('succeeded');
    expect(panel.polling).toBe(false);
    jest.advanceTimersByTime(10 * POLL_MS);
    expect(api.schedules).toHaveBeenCalledTimes(3);
  });

  it('stops polling while hidden and when disposed', async () => {
    jest.useFakeTimers();
    const api = fakeApi({ runs: jest.fn(async () => [run('running')]) });
    panel = new ReportsPanel({ api, pollMs: 1000 });
    Widget.attach(panel, document.body);
    await flush();
    expect(api.schedules).toHaveBeenCalledTimes(1); // attach shows it
    expect(panel.polling).toBe(true);
    panel.hide();
    jest.advanceTimersByTime(1000);
    await flush();
    expect(api.schedules).toHaveBeenCalledTimes(1);
    expect(panel.polling).toBe(false);
    panel.show();
    await flush();
    expect(api.schedules).toHaveBeenCalledTimes(2);
    expect(panel.polling).toBe(true);
    panel.dispose();
    expect(panel.polling).toBe(false);
    jest.advanceTimersByTime(5000);
    expect(api.schedules).toHaveBeenCalledTimes(2);
  });

  it('Run now shows the queued run at once and starts polling', async () => {
    jest.useFakeTimers();
    const api = fakeApi();
    let release!: (r: IRun) => void;
    api.runNow.mockReturnValueOnce(new Promise(r => (release = r)));
    panel = new ReportsPanel({ api });
    await panel.refresh();
    expect(panel.polling).toBe(false);
    api.runs.mockResolvedValue([run('queued', { id: 'r3' }), run('succeeded', { id: 'r1' })]);
    const button = buttonNamed(panel.node, 'Run weekly sales now');
    button.click();
    button.click(); // a double click is one run
    expect(button.disabled).toBe(true);
    expect(api.runNow).toHaveBeenCalledTimes(1);
    expect(api.runNow).toHaveBeenCalledWith('sch_1');
    release(run('queued', { id: 'r3' }));
    await flush();
    expect(q<HTMLElement>(panel.node, 'li.dap-run').dataset.runId).toBe('r3');
    expect(q(panel.node, 'li.dap-run .dap-run-badge').textContent).toBe('…queued');
    await flush();
    expect(panel.polling).toBe(true);
  });

  it('pauses and resumes', async () => {
    const api = fakeApi();
    panel = new ReportsPanel({ api });
    await panel.refresh();
    api.schedules.mockResolvedValueOnce([schedule({ paused: true })]);
    buttonNamed(panel.node, 'Pause weekly sales').click();
    await flush();
    expect(api.pause).toHaveBeenCalledWith('sch_1');
    expect(q(panel.node, `.${REPORTS_CSS.paused}`).textContent).toBe('Paused');
    buttonNamed(panel.node, 'Resume weekly sales').click();
    await flush();
    expect(api.resume).toHaveBeenCalledWith('sch_1');
    expect(panel.node.querySelector(`.${REPORTS_CSS.paused}`)).toBeNull();
  });

  it('removes only after the confirmation', async () => {
    const api = fakeApi();
    const confirmRemove = jest.fn<Promise<boolean>, [ISchedule]>().mockResolvedValueOnce(false);
    panel = new ReportsPanel({ api, confirmRemove });
    await panel.refresh();
    buttonNamed(panel.node, 'Remove weekly sales').click();
    await flush();
    expect(confirmRemove).toHaveBeenCalledWith(expect.objectContaining({ id: 'sch_1' }));
    expect(api.remove).not.toHaveBeenCalled();
    expect(buttonNamed(panel.node, 'Remove weekly sales').disabled).toBe(false);

    confirmRemove.mockResolvedValueOnce(true);
    api.schedules.mockResolvedValueOnce([]);
    buttonNamed(panel.node, 'Remove weekly sales').click();
    await flush();
    await flush();
    expect(api.remove).toHaveBeenCalledWith('sch_1');
    expect(panel.node.querySelector('li.dap-report')).toBeNull();
  });

  it("shows an action's refusal under its schedule until the next action", async () => {
    const api = fakeApi();
    api.remove.mockRejectedValueOnce(
      failure(400, 'schedules sch_9 run after sch_1: change them first\nmore')
    );
    panel = new ReportsPanel({ api });
    await panel.refresh();
    buttonNamed(panel.node, 'Remove weekly sales').click();
    await flush();
    const message = q(panel.node, `[data-schedule-id="sch_1"] .${REPORTS_CSS.message}`);
    expect(message.getAttribute('role')).toBe('alert');
    expect(message.textContent).toBe('schedules sch_9 run after sch_1: change them first\nmore');
    expect(buttonNamed(panel.node, 'Remove weekly sales').disabled).toBe(false);
    // Still there after a poll's redraw; gone with the next action.
    await panel.refresh(true);
    expect(panel.node.querySelector(`.${REPORTS_CSS.message}`)).not.toBeNull();
    buttonNamed(panel.node, 'Pause weekly sales').click();
    expect(panel.node.querySelector(`.${REPORTS_CSS.message}`)).toBeNull();
  });

  it('opens an output through openOutput and reports its failure', async () => {
    const openOutput = jest.fn<Promise<void>, [IRun, string, ISchedule]>().mockResolvedValueOnce();
    panel = new ReportsPanel({ api: fakeApi(), openOutput });
    await panel.refresh();
    const html = q<HTMLButtonElement>(panel.node, 'li[data-run-id="r1"] [data-format="html"]');
    expect(html.getAttribute('aria-label')).toBe('html output of the run of 2026-12-01 10:00 Europe/Berlin');
    html.click();
    expect(openOutput).toHaveBeenCalledWith(
      expect.objectContaining({ id: 'r1' }),
      'html',
      expect.objectContaining({ id: 'sch_1' })
    );
    openOutput.mockRejectedValueOnce(failure(404, 'no html output of run r1'));
    q<HTMLButtonElement>(panel.node, 'li[data-run-id="r1"] [data-format="ipynb"]').click();
    await flush();
    expect(q(panel.node, `.${REPORTS_CSS.message}`).textContent).toBe(
      'Cannot open the ipynb output: no html output of run r1'
    );
  });

  it('reveals a new schedule, marked and focused', async () => {
    const api = fakeApi({
      schedules: jest.fn(async () => [schedule(), schedule({ id: 'sch_2', name: 'new one' })])
    });
    panel = new ReportsPanel({ api });
    Widget.attach(panel, document.body);
    await panel.reveal('sch_2');
    const fresh = q(panel.node, '[data-schedule-id="sch_2"]');
    expect(fresh.classList.contains(REPORTS_CSS.fresh)).toBe(true);
    expect(document.activeElement).toBe(fresh);
    expect(q(panel.node, '[data-schedule-id="sch_1"]').classList.contains(REPORTS_CSS.fresh)).toBe(false);
  });

  it('draws names and errors as text, never as HTML', async () => {
    const evil = '<img src=x onerror="window.pwned=1">';
    const api = fakeApi({
      schedules: jest.fn(async () => [schedule({ name: evil })]),
      runs: jest.fn(async () => [run('failed', { error: evil })])
    });
    panel = new ReportsPanel({ api });
    await panel.refresh();
    expect(panel.node.querySelector('img')).toBeNull();
    expect(q(panel.node, `.${REPORTS_CSS.name}`).textContent).toBe(evil);
    expect(q(panel.node, `.${REPORTS_CSS.runError}`).textContent).toBe(evil);
  });

  it('draws only the latest of concurrent refreshes', async () => {
    let first!: (s: ISchedule[]) => void;
    const api = fakeApi();
    api.schedules
      .mockReturnValueOnce(new Promise(r => (first = r)))
      .mockResolvedValueOnce([schedule({ name: 'latest' })]);
    panel = new ReportsPanel({ api });
    const p1 = panel.refresh();
    await panel.refresh();
    first([schedule({ name: 'stale' })]);
    await p1;
    expect(panel.schedules.map(s => s.name)).toEqual(['latest']);
  });
});
