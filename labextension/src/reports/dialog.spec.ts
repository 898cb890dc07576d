// dialog.ts hosts the form in JupyterLab's Dialog: a stand-in that records how it is
// shown and closed (the real one is an ES module jest would have to transpile).
const shown: Array<{ options: any; rejected: boolean }> = [];
jest.mock('@jupyterlab/apputils', () => {
  class Dialog {
    static cancelButton = (o: object = {}) => ({ label: 'Cancel', accept: false, ...o });
    static warnButton = (o: object = {}) => ({ label: 'OK', accept: true, ...o });
    private _done!: () => void;
    private _record: { options: any; rejected: boolean };
    constructor(readonly options: any) {
      this._record = { options, rejected: false };
      shown.push(this._record);
    }
    addClass(): void {}
    launch(): Promise<unknown> {
      document.body.appendChild(this.options.body.node);
      return new Promise(resolve => (this._done = () => resolve({})));
    }
    reject(): void {
      this._record.rejected = true;
      this.options.body.node.remove();
      this._done();
    }
  }
  return {
    Dialog,
    showDialog: jest.fn(async (options: any) => ({ button: options.buttons[1] }))
  };
});

import { showDialog } from '@jupyterlab/apputils';

import type { IReportsApi } from './api';
import { confirmRemove, SCHEDULE_DIALOG_TITLE, showScheduleDialog } from './dialog';
import { FORM_CSS, ScheduleForm, saveErrorLine } from './form';
import type { IScheduleBody } from './model';
import { schedule } from './fixtures';

const NOTEBOOK = {
  nbformat: 4,
  nbformat_minor: 5,
  metadata: {},
  cells: [
    { cell_type: 'code', metadata: { tags: ['parameters'] }, source: 'region = "EU"\ntop = 5\n' },
    { cell_type: 'code', metadata: {}, source: '%%dap sql\nSELECT 1' }
  ]
};

const apiError = (status: number, message: string) =>
  Object.assign(new Error(message), { response: { status } });

function field(form: ScheduleForm, name: string): HTMLInputElement {
  const el = form.node.querySelector<HTMLInputElement>(`[name="${name}"]`);
  if (!el) {
    throw new Error(`no field ${name}`);
  }
  return el;
}

function formatBox(form: ScheduleForm, fmt: string): HTMLInputElement {
  return form.node.querySelector<HTMLInputElement>(`input[name="format"][value="${fmt}"]`)!;
}

function submit(form: ScheduleForm): void {
  form.node.querySelector<HTMLButtonElement>('button[type="submit"]')!.click();
}

const flush = async () => {
  for (let i = 0; i < 5; i++) {
    await Promise.resolve();
  }
};

function makeForm(
  create: IReportsApi['create'],
  notebook: () => Record<string, unknown> = () => NOTEBOOK
) {
  const onSaved = jest.fn();
  const onCancel = jest.fn();
  const form = new ScheduleForm({
    api: { create },
    path: 'reports/weekly sales.ipynb',
    notebook,
    onSaved,
    onCancel,
    timeZones: ['Europe/Berlin', 'UTC']
  });
  document.body.appendChild(form.node);
  return { form, onSaved, onCancel };
}

describe('ScheduleForm', () => {
  afterEach(() => {
    document.body.replaceChildren();
  });

  it('starts from the notebook: name, default cron, browser zone, parameters cell', () => {
    const { form } = makeForm(jest.fn());
    expect(field(form, 'name').value).toBe('weekly sales');
    expect(field(form, 'cron').value).toBe('0 8 * * 1');
    expect(field(form, 'timezone').value).toBe(Intl.DateTimeFormat().resolvedOptions().timeZone);
    expect(field(form, 'parameters').value).toBe('region=EU\ntop=5');
    expect(['ipynb', 'html', 'pdf'].map(f => formatBox(form, f).checked)).toEqual([true, true, false]);
    expect(field(form, 'recipients').value).toBe('');
    const zones = form.node.querySelector('datalist')!;
    expect(field(form, 'timezone').getAttribute('list')).toBe(zones.id);
    expect(Array.from(zones.querySelectorAll('option')).map(o => o.value)).toEqual(['Europe/Berlin', 'UTC']);
    // Every control has an accessible name.
    for (const el of Array.from(form.node.querySelectorAll('input[type="text"], textarea'))) {
      expect(el.getAttribute('aria-label')).toBeTruthy();
    }
    expect(form.error).toBe('');
  });

  it('posts the body built from the fields and the notebook read at save time', async () => {
    const created = schedule({ id: 'sch_new' });
    const create = jest.fn(async (_body: IScheduleBody) => created);
    let current: Record<string, unknown> = NOTEBOOK;
    const { form, onSaved } = makeForm(create, () => current);
    field(form, 'name').value = 'Sales EU';
    field(form, 'cron').value = '30 6 * * 1-5';
    field(form, 'timezone').value = 'Europe/Berlin';
    formatBox(form, 'ipynb').checked = false;
    formatBox(form, 'pdf').checked = true;
    field(form, 'recipients').value = 'ann@example.com, bob@example.com';
    field(form, 'parameters').value = 'region=AMER\ntop=10';
    current = { ...NOTEBOOK, metadata: { edited: true } }; // an unsaved edit
    submit(form);
    expect(form.saving).toBe(true);
    expect(form.node.querySelector('button[type="submit"]')!.textContent).toBe('Scheduling…');
    await flush();
    expect(create).toHaveBeenCalledTimes(1);
    expect(create.mock.calls[0][0]).toEqual({
      name: 'Sales EU',
      notebook: current,
      notebook_name: 'weekly sales.ipynb',
      cron: '30 6 * * 1-5',
      timezone: 'Europe/Berlin',
      formats: ['html', 'pdf'],
      recipients: ['ann@example.com', 'bob@example.com'],
      parameters: { region: 'AMER', top: '10' }
    });
    expect(onSaved).toHaveBeenCalledWith(created);
    expect(form.saving).toBe(false);
  });

  it("shows the server's refusal as one line and stays editable", async () => {
    const create = jest
      .fn()
      .mockRejectedValueOnce(
        apiError(400, 'the notebook has no parameter regoin; it has region, top\n(detail)')
      )
      .mockResolvedValueOnce(schedule());
    const { form, onSaved } = makeForm(create);
    field(form, 'parameters').value = 'regoin=EU';
    submit(form);
    await flush();
    const error = form.node.querySelector<HTMLElement>(`.${FORM_CSS.error}`)!;
    expect(error.getAttribute('role')).toBe('alert');
    expect(error.hidden).toBe(false);
    expect(form.error).toBe('the notebook has no parameter regoin; it has region, top');
    expect(onSaved).not.toHaveBeenCalled();
    expect(field(form, 'parameters').value).toBe('regoin=EU'); // what the user typed stays

    field(form, 'parameters').value = 'region=EU';
    submit(form);
    await flush();
    expect(form.error).toBe('');
    expect(onSaved).toHaveBeenCalledTimes(1);
  });

  it('says "Access denied" for a 403 and names an unreachable server', () => {
    expect(saveErrorLine(apiError(403, 'recipient x@evil.com is outside the allowed mail domains'))).toBe(
      'Access denied: recipient x@evil.com is outside the allowed mail domains'
    );
    expect(saveErrorLine(Object.assign(new TypeError('x'), { name: 'NetworkError' }))).toMatch(
      /Cannot reach the Jupyter server/
    );
  });

  it('checks the fields before sending and marks the one to fix', async () => {
    const create = jest.fn();
    const { form } = makeForm(create);
    for (const fmt of ['ipynb', 'html', 'pdf']) {
      formatBox(form, fmt).checked = false;
    }
    submit(form);
    await flush();
    expect(form.error).toBe('Choose at least one output format');
    expect(formatBox(form, 'ipynb').getAttribute('aria-invalid')).toBe('true');
    formatBox(form, 'html').checked = true;
    field(form, 'cron').value = 'every monday';
    submit(form);
    await flush();
    expect(form.error).toBe('Cron takes five fields: minute hour day-of-month month day-of-week');
    expect(field(form, 'cron').getAttribute('aria-invalid')).toBe('true');
    expect(formatBox(form, 'ipynb').hasAttribute('aria-invalid')).toBe(false);
    expect(document.activeElement).toBe(field(form, 'cron'));
    expect(create).not.toHaveBeenCalled();
  });

  it('sends one request however often Schedule is pressed', async () => {
    let release!: (v: unknown) => void;
    const create = jest.fn(() => new Promise(r => (release = r)));
    const { form } = makeForm(create as unknown as IReportsApi['create']);
    submit(form);
    submit(form);
    await form.save();
    expect(create).toHaveBeenCalledTimes(1);
    release(schedule());
    await flush();
  });

  it('Cancel calls onCancel', () => {
    const { form, onCancel } = makeForm(jest.fn());
    Array.from(form.node.querySelectorAll('button'))
      .find(b => b.textContent === 'Cancel')!
      .click();
    expect(onCancel).toHaveBeenCalled();
  });
});

describe('showScheduleDialog', () => {
  afterEach(() => {
    shown.length = 0;
    document.body.replaceChildren();
  });

  it('opens a button-less dialog around the form and answers the saved schedule', async () => {
    const created = schedule({ id: 'sch_new' });
    const result = showScheduleDialog({
      api: { create: jest.fn(async () => created) },
      path: 'a.ipynb',
      notebook: () => NOTEBOOK
    });
    await flush();
    expect(shown).toHaveLength(1);
    expect(shown[0].options.title).toBe(SCHEDULE_DIALOG_TITLE);
    expect(shown[0].options.buttons).toEqual([]);
    const form = shown[0].options.body as ScheduleForm;
    submit(form);
    expect(await result).toBe(created);
    expect(shown[0].rejected).toBe(true); // closed
  });

  it('answers null when cancelled', async () => {
    const create = jest.fn();
    const result = showScheduleDialog({ api: { create }, path: 'a.ipynb', notebook: () => NOTEBOOK });
    await flush();
    const form = shown[0].options.body as ScheduleForm;
    Array.from(form.node.querySelectorAll('button'))
      .find(b => b.textContent === 'Cancel')!
      .click();
    expect(await result).toBeNull();
    expect(create).not.toHaveBeenCalled();
  });
});

describe('confirmRemove', () => {
  it('asks with Cancel as the default and removes on the warn button', async () => {
    expect(await confirmRemove(schedule())).toBe(true);
    const options = (showDialog as jest.Mock).mock.calls[0][0];
    expect(options.defaultButton).toBe(0);
    expect(options.body).toContain('“weekly sales”');
    expect(options.buttons[1]).toEqual(expect.objectContaining({ label: 'Remove', accept: true }));
  });
});
