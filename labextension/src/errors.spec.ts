import {
  NOT_INSTALLED_MESSAGE,
  UNREACHABLE_MESSAGE,
  parseBody,
  responseErrorMessage,
  userErrorMessage
} from './errors';

describe('parseBody', () => {
  it('parses JSON, keeps text, maps empty to undefined', () => {
    expect(parseBody('{"a": 1}')).toEqual({ a: 1 });
    expect(parseBody('<html>Not Found</html>')).toBe('<html>Not Found</html>');
    expect(parseBody('')).toBeUndefined();
  });
});

describe('responseErrorMessage', () => {
  it('reports a missing server extension on 404 of the base endpoint', () => {
    expect(responseErrorMessage(404, 'Not Found', '', undefined)).toBe(
      NOT_INSTALLED_MESSAGE
    );
    expect(
      responseErrorMessage(404, 'Not Found', '/', { message: 'whatever' })
    ).toBe(NOT_INSTALLED_MESSAGE);
    expect(NOT_INSTALLED_MESSAGE).toBe(
      'DAP server extension is not installed or not enabled'
    );
  });

  it('reports a missing server extension on a non-JSON 404', () => {
    expect(
      responseErrorMessage(404, 'Not Found', 'catalog', '<html>404</html>')
    ).toBe(NOT_INSTALLED_MESSAGE);
  });

  it("uses the server's JSON message for a DAP 404 on a sub-endpoint", () => {
    expect(
      responseErrorMessage(404, 'Not Found', 'catalog/main.nope', {
        message: 'Table main.nope not found'
      })
    ).toBe('Table main.nope not found');
  });

  it("uses the server's JSON message, then reason, then the status", () => {
    expect(
      responseErrorMessage(500, 'Internal Server Error', 'catalog', {
        message: 'catalog database is locked',
        reason: 'ignored'
      })
    ).toBe('catalog database is locked');
    expect(
      responseErrorMessage(403, 'Forbidden', 'catalog', { reason: 'Forbidden' })
    ).toBe('Forbidden');
    expect(
      responseErrorMessage(502, 'Bad Gateway', 'catalog', 'upstream died')
    ).toBe('Request failed: 502 Bad Gateway');
    expect(responseErrorMessage(500, '', 'catalog', { message: '  ' })).toBe(
      'Request failed: 500'
    );
  });
});

describe('userErrorMessage', () => {
  it('says the server is unreachable on a network error', () => {
    const error = new TypeError('Failed to fetch');
    error.name = 'NetworkError';
    expect(userErrorMessage(error)).toBe(UNREACHABLE_MESSAGE);
  });

  it('marks a 403 as access denied', () => {
    const error = Object.assign(new Error('no grant on main.orders'), {
      response: { status: 403 }
    });
    expect(userErrorMessage(error)).toBe(
      'Access denied: no grant on main.orders'
    );
    const plain = Object.assign(new Error(''), { response: { status: 403 } });
    expect(userErrorMessage(plain)).toBe('Access denied');
  });

  it('passes other messages through (query errors, not installed)', () => {
    expect(userErrorMessage(new Error(NOT_INSTALLED_MESSAGE))).toBe(
      NOT_INSTALLED_MESSAGE
    );
    expect(
      userErrorMessage(
        Object.assign(new Error('Binder Error: column x'), {
          response: { status: 400 }
        })
      )
    ).toBe('Binder Error: column x');
    expect(userErrorMessage('boom')).toBe('boom');
    expect(userErrorMessage(undefined)).toBe('Unknown error');
  });
});
