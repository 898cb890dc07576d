import { LRLanguage, language } from '@codemirror/language';
import { EditorState } from '@codemirror/state';

import {
  dapSqlLanguage,
  dapSqlSupport,
  isDapSqlSource,
  quoteQualified,
  sqlCellSource
} from './sqlcell';

describe('isDapSqlSource', () => {
  it.each<[string, boolean]>([
    ['%%dap sql\nSELECT 1', true],
    ['%%dap sql', true],
    ['%%dap sql --limit 5 --name df\nSELECT 1', true],
    ['  %%dap   sql\nSELECT 1', true],
    ['%%dap sqlx\nSELECT 1', false],
    ['%%dap catalog', false],
    ['%dap sql SELECT 1', false],
    ['%%sql\nSELECT 1', false],
    ['x = 1\n%%dap sql', false],
    ['', false]
  ])('%p -> %p', (source, expected) => {
    expect(isDapSqlSource(source)).toBe(expected);
  });
});

describe('sqlCellSource', () => {
  it('builds the inserted cell', () => {
    expect(sqlCellSource('main.customers')).toBe(
      '%%dap sql\nSELECT * FROM main.customers LIMIT 100'
    );
  });

  it('quotes parts that are not plain identifiers', () => {
    expect(quoteQualified('main.order lines')).toBe('main."order lines"');
    expect(quoteQualified('my-schema.t"x')).toBe('"my-schema"."t""x"');
    expect(sqlCellSource('main.2024', 5)).toBe('%%dap sql\nSELECT * FROM main."2024" LIMIT 5');
  });
});

describe('dapSqlLanguage', () => {
  const sqlLanguage = dapSqlSupport.language;

  function create(doc: string): EditorState {
    return EditorState.create({ doc, extensions: [dapSqlLanguage(doc)] });
  }

  it('uses SQL for a %%dap sql cell from the start', () => {
    expect(create('%%dap sql\nSELECT 1').facet(language)).toBe(sqlLanguage);
  });

  it('leaves other cells alone', () => {
    expect(create('import os').facet(language)).toBeNull();
  });

  it('switches on and off as the first line changes', () => {
    let state = create('');
    expect(state.facet(language)).toBeNull();
    state = state.update({ changes: { from: 0, insert: '%%dap sql\nSELECT *' } }).state;
    expect(state.facet(language)).toBe(sqlLanguage);
    // Edits below the first line keep SQL.
    state = state.update({ changes: { from: state.doc.length, insert: ' FROM t' } }).state;
    expect(state.facet(language)).toBe(sqlLanguage);
    // Breaking the magic turns it off again.
    state = state.update({ changes: { from: 0, to: 2, insert: '#' } }).state;
    expect(state.facet(language)).toBeNull();
  });

  it('wins over the editor language (highest precedence)', () => {
    const other = (dapSqlSupport.language as LRLanguage).configure({}, 'other');
    const state = EditorState.create({
      doc: '%%dap sql\nSELECT 1',
      extensions: [language.of(other), dapSqlLanguage('%%dap sql\nSELECT 1')]
    });
    expect(state.facet(language)).toBe(sqlLanguage);
  });
});
