import {
  describeCron,
  describeTrigger,
  errorLine,
  formatDuration,
  formatTime,
  isActive,
  outputFormats,
  statusGlyph
} from './model';
import { run, schedule } from './fixtures';

describe('reports model helpers', () => {
  it('formats durations', () => {
    expect(formatDuration(null)).toBe('');
    expect(formatDuration(-1)).toBe('');
    expect(formatDuration(2.345)).toBe('2.3 s');
    expect(formatDuration(42)).toBe('42 s');
    expect(formatDuration(60)).toBe('1 min');
    expect(formatDuration(185)).toBe('3 min 5 s');
    expect(formatDuration(3720)).toBe('1 h 2 min');
    expect(formatDuration(7200)).toBe('2 h');
  });

  it("shows a time as the schedule's wall clock", () => {
    expect(formatTime('2026-12-07T07:00:00+00:00', 'Europe/Berlin')).toBe(
      '2026-12-07 08:00 Europe/Berlin'
    );
    expect(formatTime('2026-07-06T07:00:00+00:00', 'Europe/Berlin')).toBe(
      '2026-07-06 09:00 Europe/Berlin'
    );
    expect(formatTime('2026-12-07T07:00:00+00:00', 'Not/AZone')).toBe('2026-12-07 07:00 UTC');
    expect(formatTime(null)).toBe('');
    expect(formatTime('garbage')).toBe('');
  });

  it('describes the cron with its time zone', () => {
    expect(describeCron(schedule())).toBe('0 8 * * 1 (Europe/Berlin)');
    expect(describeCron(schedule({ cron: '' }))).toBe('run on demand only');
  });

  it('keeps the first line of an error', () => {
    expect(errorLine('\n  PapermillExecutionError: boom  \nTraceback…')).toBe(
      'PapermillExecutionError: boom'
    );
    expect(errorLine('')).toBe('');
  });

  it('tells triggers, active runs, glyphs and outputs', () => {
    expect(describeTrigger('manual')).toBe('run now');
    expect(describeTrigger('cron')).toBe('scheduled');
    expect(describeTrigger('pipeline:nightly:r1')).toBe('after pipeline nightly');
    expect(describeTrigger('odd')).toBe('odd');
    expect(['queued', 'running', 'retrying', 'succeeded'].map(s => isActive(run(s as never)))).toEqual([
      true,
      true,
      true,
      false
    ]);
    expect(statusGlyph('succeeded')).toBe('✓');
    expect(statusGlyph('failed')).toBe('✕');
    expect(statusGlyph('nonsense')).toBe('?');
    expect(outputFormats(run('succeeded', { outputs: { zip: 'z', html: 'h', pdf: 'p', ipynb: 'i' } }))).toEqual([
      'ipynb',
      'html',
      'pdf',
      'zip'
    ]);
  });
});
