import {
  DEFAULT_CRON,
  DraftError,
  IScheduleDraft,
  defaultDraft,
  parametersCell,
  parseParameterLines,
  parseParametersCell,
  parseRecipients,
  scheduleBody
} from './draft';

const PARAMS_CELL = [
  '# defaults for the weekly run',
  'region = "EU"  # a sales region',
  "label = 'a # b'",
  'top: int = 5',
  'threshold=0.25',
  'since = None',
  'enabled = True',
  'regions = [',
  '    "EU",',
  ']',
  'import os',
  'x == 1',
  'path = r"C:\\data"'
].join('\n');

function notebook(cells: unknown[]): Record<string, unknown> {
  return { nbformat: 4, nbformat_minor: 5, metadata: {}, cells };
}

const tagged = (source: string | string[], tags = ['parameters'], type = 'code') => ({
  cell_type: type,
  metadata: { tags },
  source
});

describe('parseParametersCell', () => {
  it('reads simple assignments, strings without their quotes', () => {
    expect(parseParametersCell(PARAMS_CELL)).toEqual([
      ['region', 'EU'],
      ['label', 'a # b'],
      ['top', '5'],
      ['threshold', '0.25'],
      ['since', 'None'],
      ['enabled', 'True'],
      ['path', 'C:\\data']
    ]);
  });

  it('keeps the last of a name given twice and skips empty values', () => {
    expect(parseParametersCell('a = 1\na = 2\nb =\n')).toEqual([['a', '2']]);
  });
});

describe('parametersCell', () => {
  it('finds the first code cell tagged parameters (source as text or lines)', () => {
    const nb = notebook([
      tagged('x = 1', ['other']),
      tagged('md = 1', ['parameters'], 'markdown'),
      tagged(['region = "EU"\n', 'top = 5\n']),
      tagged('later = 1')
    ]);
    expect(parametersCell(nb)).toBe('region = "EU"\ntop = 5\n');
    expect(parametersCell(notebook([tagged('x = 1', [])]))).toBeNull();
    expect(parametersCell({})).toBeNull();
  });
});

describe('defaultDraft', () => {
  it('names the schedule after the file and reads the parameters cell', () => {
    const draft = defaultDraft('reports/weekly sales.ipynb', notebook([tagged(PARAMS_CELL)]));
    expect(draft.name).toBe('weekly sales');
    expect(draft.cron).toBe(DEFAULT_CRON);
    expect(draft.cron).toBe('0 8 * * 1');
    expect(draft.timezone).toBe(Intl.DateTimeFormat().resolvedOptions().timeZone);
    expect(draft.formats).toEqual(['ipynb', 'html']);
    expect(draft.parameters.split('\n').slice(0, 3)).toEqual(['region=EU', 'label=a # b', 'top=5']);
  });

  it('has no parameters without a parameters cell', () => {
    expect(defaultDraft('a.ipynb', notebook([tagged('x = 1', [])])).parameters).toBe('');
  });
});

describe('parseParameterLines', () => {
  it('turns name=value lines into text values', () => {
    expect(parseParameterLines('region=EU\n\n# note\n top = 5 \nq=a=b')).toEqual({
      region: 'EU',
      top: '5',
      q: 'a=b'
    });
  });

  it.each([
    ['region EU', 'Parameters, line 1: “region EU” is not name=value'],
    ['ok=1\n1x=2', 'Parameters, line 2: “1x=2” is not name=value'],
    ['=5', 'Parameters, line 1: “=5” is not name=value'],
    ['a=1\na=2', 'Parameters: a is given twice'],
    ['__proto__=1\n__proto__=2', 'Parameters: __proto__ is given twice']
  ])('refuses %j', (text, message) => {
    expect(() => parseParameterLines(text)).toThrow(new DraftError(message, 'parameters'));
  });

  it('does not let a name reach the prototype', () => {
    const values = parseParameterLines('__proto__=x\nconstructor=y');
    expect(Object.keys(values)).toEqual(['__proto__', 'constructor']);
    expect(({} as Record<string, unknown>).x).toBeUndefined();
  });
});

describe('parseRecipients', () => {
  it('splits on commas, semicolons and spaces, each address once', () => {
    expect(parseRecipients(' ann@example.com, bob@example.org;ann@example.com  cy@x.io ')).toEqual(
      ['ann@example.com', 'bob@example.org', 'cy@x.io']
    );
    expect(parseRecipients('')).toEqual([]);
  });

  it('refuses what is not an address', () => {
    expect(() => parseRecipients('ann@example.com, bob')).toThrow(
      'Recipients: “bob” is not an e-mail address'
    );
  });
});

describe('scheduleBody', () => {
  const nb = notebook([tagged('region = "EU"')]);
  const draft = (overrides: Partial<IScheduleDraft> = {}): IScheduleDraft => ({
    name: ' weekly sales ',
    cron: ' 0  8 * * 1 ',
    timezone: 'Europe/Berlin',
    formats: ['html', 'pdf', 'ipynb', 'exe'],
    recipients: 'ann@example.com, bob@example.com',
    parameters: 'region=AMER',
    ...overrides
  });

  it('builds the POST schedules body with the notebook itself', () => {
    expect(scheduleBody(draft(), nb, 'reports/weekly sales.ipynb')).toEqual({
      name: 'weekly sales',
      notebook: nb,
      notebook_name: 'weekly sales.ipynb',
      cron: '0 8 * * 1',
      timezone: 'Europe/Berlin',
      formats: ['ipynb', 'html', 'pdf'],
      recipients: ['ann@example.com', 'bob@example.com'],
      parameters: { region: 'AMER' }
    });
  });

  it('allows an empty cron (run on demand) and defaults the zone to UTC', () => {
    const body = scheduleBody(draft({ cron: '  ', timezone: '' }), nb, 'a.ipynb');
    expect(body.cron).toBe('');
    expect(body.timezone).toBe('UTC');
  });

  it.each([
    [{ name: '  ' }, 'name', 'Give the schedule a name'],
    [{ cron: '0 8 * *' }, 'cron', 'Cron takes five fields: minute hour day-of-month month day-of-week'],
    [{ formats: ['exe'] }, 'formats', 'Choose at least one output format'],
    [{ recipients: 'nobody' }, 'recipients', 'Recipients: “nobody” is not an e-mail address'],
    [{ parameters: 'oops' }, 'parameters', 'Parameters, line 1: “oops” is not name=value']
  ] as const)('names the field to fix: %j', (overrides, field, message) => {
    let caught: unknown;
    try {
      scheduleBody(draft(overrides as Partial<IScheduleDraft>), nb, 'a.ipynb');
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(DraftError);
    expect((caught as DraftError).field).toBe(field);
    expect((caught as DraftError).message).toBe(message);
  });
});
