import { newQueryId, watchProgress } from './progress';

async function wait(ms: number): Promise<void> {
  await new Promise(r => setTimeout(r, ms));
}

describe('watchProgress', () => {
  it('shows the estimate as it moves, indeterminate before, hidden after', async () => {
    const answers: (number | null)[] = [null, 12.5, 40, 87];
    const probe = jest.fn(async () => (answers.length > 1 ? answers.shift()! : answers[0]));
    const bar = document.createElement('progress');
    bar.hidden = true;
    const stop = watchProgress(probe, 'q12345678', bar, 5);
    expect(bar.hidden).toBe(false);
    expect(bar.hasAttribute('value')).toBe(false); // indeterminate until an estimate
    const seen: number[] = [];
    for (let i = 0; i < 40 && seen[seen.length - 1] !== 87; i++) {
      await wait(5);
      if (bar.hasAttribute('value')) {
        seen.push(bar.value);
      }
    }
    stop();
    expect(probe).toHaveBeenCalledWith('q12345678');
    expect(seen).toContain(12.5);
    expect(seen[seen.length - 1]).toBe(87);
    expect(bar.getAttribute('aria-valuetext')).toBe('87 %');
    expect(bar.hidden).toBe(true);
    const calls = probe.mock.calls.length;
    await wait(30);
    expect(probe.mock.calls.length).toBe(calls); // stopped polling
  });

  it('keeps polling when a poll fails (the query may not be registered yet)', async () => {
    let n = 0;
    const probe = jest.fn(async () => {
      n += 1;
      if (n === 1) {
        throw new Error('unknown query');
      }
      return 50;
    });
    const bar = document.createElement('progress');
    const stop = watchProgress(probe, 'q12345678', bar, 5);
    for (let i = 0; i < 40 && !bar.hasAttribute('value'); i++) {
      await wait(5);
    }
    stop();
    expect(bar.value).toBe(50);
  });

  it('makes ids the server accepts', () => {
    const id = newQueryId();
    expect(id).toMatch(/^[A-Za-z0-9_-]{8,64}$/);
    expect(newQueryId()).not.toBe(id);
  });
});
