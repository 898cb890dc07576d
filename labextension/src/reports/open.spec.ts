import {
  IBrowserHost,
  REPORT_SANDBOX,
  REVOKE_AFTER_MS,
  blobText,
  openOutput,
  outputFileName,
  sandboxedPage
} from './open';

interface IFakeTab {
  opener: unknown;
  location: { href: string };
  close: jest.Mock;
}

function fakeHost(tab: IFakeTab | null = { opener: {}, location: { href: '' }, close: jest.fn() }) {
  const blobs = new Map<string, Blob>();
  const host: IBrowserHost & { blobs: Map<string, Blob>; revoked: string[]; clicked: HTMLAnchorElement[] } = {
    open: jest.fn(() => tab as unknown as Window),
    createObjectURL: (blob: Blob) => {
      const url = `blob:lab/${blobs.size + 1}`;
      blobs.set(url, blob);
      return url;
    },
    revokeObjectURL: (url: string) => host.revoked.push(url),
    document,
    blobs,
    revoked: [],
    clicked: []
  };
  return { host, tab };
}

describe('openOutput', () => {
  let clicks: HTMLAnchorElement[];
  beforeEach(() => {
    clicks = [];
    jest
      .spyOn(HTMLAnchorElement.prototype, 'click')
      .mockImplementation(function (this: HTMLAnchorElement) {
        clicks.push(this);
      });
  });
  afterEach(() => {
    jest.restoreAllMocks();
    jest.useRealTimers();
  });

  it('opens HTML in a new tab, inside a sandbox without our origin', async () => {
    jest.useFakeTimers();
    const { host, tab } = fakeHost();
    const report = '<html><body><script>parent.opener.location="https://evil"</script>"q" & a</body></html>';
    let loaded = false;
    await openOutput(
      async () => {
        // The tab is open before the fetch (during the click: no blocked popup).
        expect(host.open).toHaveBeenCalledWith('', '_blank');
        loaded = true;
        return new Blob([report], { type: 'text/html' });
      },
      'html',
      'weekly sales'
    , host);
    expect(loaded).toBe(true);
    expect(tab!.opener).toBeNull();
    expect(tab!.location.href).toBe('blob:lab/1');
    const page = await blobText(host.blobs.get('blob:lab/1')!);
    expect(host.blobs.get('blob:lab/1')!.type).toBe('text/html');
    const doc = new DOMParser().parseFromString(page, 'text/html');
    const frames = doc.querySelectorAll('iframe');
    expect(frames).toHaveLength(1);
    expect(frames[0].getAttribute('sandbox')).toBe(REPORT_SANDBOX);
    expect(REPORT_SANDBOX.split(' ')).not.toContain('allow-same-origin');
    expect(REPORT_SANDBOX.split(' ')).not.toContain('allow-scripts');
    const csp = doc.querySelector('meta[http-equiv="Content-Security-Policy"]');
    expect(csp?.getAttribute('content')).toBe("default-src 'none'; img-src data:; style-src 'unsafe-inline'");
    expect(REPORT_SANDBOX.split(' ')).not.toContain('allow-top-navigation');
    expect(frames[0].getAttribute('srcdoc')).toBe(report); // whole, as one attribute
    expect(doc.querySelectorAll('script')).toHaveLength(0); // nothing runs in our origin
    expect(doc.title).toBe('weekly sales');
    expect(clicks).toHaveLength(0);
    expect(host.revoked).toEqual([]);
    jest.advanceTimersByTime(REVOKE_AFTER_MS);
    expect(host.revoked).toEqual(['blob:lab/1']);
  });

  it('opens a PDF in a new tab as application/pdf', async () => {
    const { host, tab } = fakeHost();
    await openOutput(async () => new Blob(['%PDF-1.4'], { type: 'application/octet-stream' }), 'pdf', 'r', host);
    expect(tab!.location.href).toBe('blob:lab/1');
    expect(host.blobs.get('blob:lab/1')!.type).toBe('application/pdf');
  });

  it('downloads an ipynb under a safe file name, without opening a tab', async () => {
    const { host } = fakeHost();
    const blob = new Blob(['{}'], { type: 'application/x-ipynb+json' });
    await openOutput(async () => blob, 'ipynb', '../weekly sales-202612010900', host);
    expect(host.open).not.toHaveBeenCalled();
    expect(clicks).toHaveLength(1);
    expect(clicks[0].download).toBe('weekly_sales-202612010900.ipynb');
    expect(clicks[0].href).toBe('blob:lab/1');
    expect(host.blobs.get('blob:lab/1')).toBe(blob);
    expect(clicks[0].isConnected).toBe(false); // removed again
  });

  it('downloads when the browser blocked the tab', async () => {
    const { host } = fakeHost(null);
    await openOutput(async () => new Blob(['<p>x</p>']), 'html', 'r', host);
    expect(clicks.map(a => a.download)).toEqual(['r.html']);
  });

  it('closes the tab again when the fetch fails', async () => {
    const { host, tab } = fakeHost();
    await expect(
      openOutput(async () => Promise.reject(new Error('no html output')), 'html', 'r', host)
    ).rejects.toThrow('no html output');
    expect(tab!.close).toHaveBeenCalled();
    expect(tab!.location.href).toBe('');
  });
});

describe('output helpers', () => {
  it('escapes the title and the report into attributes', () => {
    const page = sandboxedPage('<b>"x"</b>', '<t>');
    expect(page).toContain('<title>&lt;t&gt;</title>');
    expect(page).toContain('srcdoc="&lt;b&gt;&quot;x&quot;&lt;/b&gt;"');
  });

  it('makes file names safe', () => {
    expect(outputFileName('weekly sales.ipynb', 'html')).toBe('weekly_sales.html');
    expect(outputFileName('...', 'pdf')).toBe('report.pdf');
    expect(outputFileName('a/b\\c', 'ip/ynb')).toBe('a_b_c.ipynb');
  });
});
