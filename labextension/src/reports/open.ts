/**
 * Opening a run's output file in the browser.
 *
 * Files come through `requestAPI()` (the XSRF token and base URL of every
 * DAP call) as a `Blob`, so the browser only ever sees blob URLs:
 *
 * - HTML opens in a new tab, inside a sandboxed iframe under the policy
 *   the server answers it with (`HTML_CSP` of the schedules endpoints): no
 *   script, no requests, an opaque origin. A blob URL has the origin of the
 *   page that made it, JupyterLab's, so a report page opened as such could
 *   drive the Jupyter API (run code, read files) with the viewer's session:
 *   a schedule's owner would reach whoever opens the report, an
 *   administrator among them. Fetching the file drops the server's headers,
 *   so the page restates them: the frame's `sandbox` (no `allow-scripts`,
 *   no `allow-same-origin`) and a CSP the `srcdoc` frame inherits.
 * - PDF opens in a new tab (the browser's viewer is sandboxed already).
 * - ipynb (and anything else) downloads.
 */

/** What the opener needs from the browser; tests pass a fake. */
export interface IBrowserHost {
  /**
   * `window.open`: the new tab is opened during the click, before the
   * fetch, so it is no blocked popup.
   */
  open(url: string, target: string): Window | null;
  createObjectURL(blob: Blob): string;
  revokeObjectURL(url: string): void;
  document: Document;
}

/** How long a blob URL stays valid once the tab or download has it. */
export const REVOKE_AFTER_MS = 60_000;

/** The sandbox of the report frame: its links open (in a new tab), nothing else. */
export const REPORT_SANDBOX = 'allow-popups allow-popups-to-escape-sandbox';

/** The server's CSP for report HTML, without `sandbox` (meta CSP cannot say it; the frame does). */
export const REPORT_CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'";

export function browserHost(win: Window = window): IBrowserHost {
  return {
    open: (url, target) => win.open(url, target),
    createObjectURL: blob => URL.createObjectURL(blob),
    revokeObjectURL: url => URL.revokeObjectURL(url),
    document: win.document
  };
}

function escapeHtml(text: string): string {
  return text
    .replace(/&/g, '&amp;')
    .replace(/"/g, '&quot;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;');
}

/** The page a report opens in: the report in a full-window sandboxed iframe. */
export function sandboxedPage(html: string, title: string): string {
  return (
    '<!DOCTYPE html><html><head><meta charset="utf-8">' +
    `<meta http-equiv="Content-Security-Policy" content="${REPORT_CSP}">` +
    `<title>${escapeHtml(title)}</title>` +
    '<style>html,body{margin:0;height:100%;overflow:hidden}' +
    'iframe{display:block;border:0;width:100%;height:100%}</style></head><body>' +
    `<iframe sandbox="${REPORT_SANDBOX}" title="${escapeHtml(title)}" ` +
    `srcdoc="${escapeHtml(html)}"></iframe></body></html>`
  );
}

/** A file name that is safe anywhere: `weekly sales` + `html` → `weekly_sales.html`. */
export function outputFileName(base: string, fmt: string): string {
  const stem = base.replace(/\.ipynb$/i, '').replace(/[^\w.-]+/g, '_').replace(/^[._]+/, '');
  return `${stem || 'report'}.${fmt.replace(/[^\w]+/g, '') || 'out'}`;
}

export async function blobText(blob: Blob): Promise<string> {
  if (typeof blob.text === 'function') {
    return blob.text();
  }
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(String(reader.result ?? ''));
    reader.onerror = () => reject(reader.error);
    reader.readAsText(blob);
  });
}

function download(host: IBrowserHost, url: string, fileName: string): void {
  const a = host.document.createElement('a');
  a.href = url;
  a.download = fileName;
  a.rel = 'noopener';
  a.style.display = 'none';
  host.document.body.appendChild(a);
  a.click();
  a.remove();
}

/**
 * Fetch a run's output with `load` and show it. Call it from the click
 * itself: the tab for HTML and PDF is opened at once, synchronously.
 *
 * @param load fetches the file (`api.output(run, fmt)`)
 * @param fmt ipynb, html, pdf
 * @param name the file's name without extension (and the tab's title)
 * @throws what `load` throws; the opened tab is closed again first
 */
export async function openOutput(
  load: () => Promise<Blob>,
  fmt: string,
  name: string,
  host: IBrowserHost = browserHost()
): Promise<void> {
  const inTab = fmt === 'html' || fmt === 'pdf';
  const tab = inTab ? host.open('', '_blank') : null;
  if (tab) {
    tab.opener = null; // the report's tab cannot navigate JupyterLab's
  }
  let url: string;
  try {
    const blob = await load();
    if (fmt === 'html') {
      const page = sandboxedPage(await blobText(blob), name);
      url = host.createObjectURL(new Blob([page], { type: 'text/html' }));
    } else if (fmt === 'pdf') {
      url = host.createObjectURL(new Blob([blob], { type: 'application/pdf' }));
    } else {
      url = host.createObjectURL(blob);
    }
  } catch (error) {
    tab?.close();
    throw error;
  }
  if (tab) {
    tab.location.href = url;
  } else {
    download(host, url, outputFileName(name, fmt));
  }
  setTimeout(() => host.revokeObjectURL(url), REVOKE_AFTER_MS);
}
