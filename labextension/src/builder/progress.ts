/**
 * The builder's progress bar: while its query runs (one POST that answers at
 * the end), the same query id is polled on `query/{id}`, whose `progress` is
 * the engine's own estimate (DuckDB reports one for table scans).
 */

/** Asks for a running query's percent done; `null` when the engine has no estimate. */
export type ProgressProbe = (queryId: string) => Promise<number | null>;

/** A query id the server accepts (`^[A-Za-z0-9_-]{8,64}$`). */
export function newQueryId(): string {
  const bytes = new Uint8Array(16);
  crypto.getRandomValues(bytes);
  return Array.from(bytes, b => b.toString(16).padStart(2, '0')).join('');
}

/**
 * Poll `probe` every `intervalMs` and show the answer in `bar` (indeterminate
 * until there is an estimate); returns a stop function that hides the bar.
 */
export function watchProgress(
  probe: ProgressProbe,
  queryId: string,
  bar: HTMLProgressElement,
  intervalMs = 400
): () => void {
  let stopped = false;
  let timer: number | undefined;
  bar.hidden = false;
  bar.removeAttribute('value');
  bar.max = 100;
  const tick = async (): Promise<void> => {
    try {
      const done = await probe(queryId);
      if (!stopped && done !== null) {
        bar.value = Math.min(100, Math.max(0, done));
        bar.setAttribute('aria-valuetext', `${Math.round(bar.value)} %`);
      }
    } catch {
      // The query may have ended between two polls; the POST's answer says how.
    }
    if (!stopped) {
      timer = window.setTimeout(() => void tick(), intervalMs);
    }
  };
  timer = window.setTimeout(() => void tick(), intervalMs);
  return () => {
    stopped = true;
    window.clearTimeout(timer);
    bar.hidden = true;
  };
}
