import { ApiError } from '../../src/api/errors';
import { generateApiKey, hashApiKey } from '../../src/api/apiKeys';
import { listObject } from '../../src/api/pagination';
import { CreateBatchBody, ListFilesQuery } from '../../src/api/schemas';
import { parseRequest } from '../../src/api/validate';

const failure = (fn: () => unknown) => {
  try {
    fn();
  } catch (err) {
    return err as ApiError;
  }
  throw new Error('expected a failure');
};

describe('parseRequest', () => {
  test('applies defaults and coerces query strings', () => {
    expect(parseRequest(ListFilesQuery, { limit: '5' })).toEqual({ limit: 5, order: 'desc' });
    expect(parseRequest(CreateBatchBody, { input_file_id: 'file-1' })).toEqual({
      input_file_id: 'file-1',
      endpoint: '/v1/chat/completions',
      completion_window: '24h',
    });
  });

  test.each([
    ['a missing input_file_id', CreateBatchBody, {}, 'missing_required_parameter', 'input_file_id'],
    ['an unsupported endpoint', CreateBatchBody, { input_file_id: 'f', endpoint: '/v1/classify' }, 'invalid_value', 'endpoint'],
    ['a week-long window', CreateBatchBody, { input_file_id: 'f', completion_window: '1w' }, 'invalid_value', 'completion_window'],
    ['an over-long metadata value', CreateBatchBody, { input_file_id: 'f', metadata: { k: 'v'.repeat(513) } }, 'invalid_value', 'metadata.k'],
    ['a body that is not an object', CreateBatchBody, 'a string', 'invalid_value', null],
    ['a repeated limit', ListFilesQuery, { limit: ['1', '2'] }, 'invalid_value', 'limit'],
    ['a fractional limit', ListFilesQuery, { limit: '1.5' }, 'invalid_value', 'limit'],
  ])('rejects %s', (_name, schema, value, code, param) => {
    const err = failure(() => parseRequest(schema, value as never));
    expect(err).toBeInstanceOf(ApiError);
    expect({ status: err.status, type: err.type, code: err.code, param: err.param }).toEqual({ status: 400, type: 'invalid_request_error', code, param });
  });
});

describe('listObject', () => {
  const rows = [{ id: 'a' }, { id: 'b' }, { id: 'c' }];
  test('reports has_more from the extra row and names the page ends', () => {
    expect(listObject(rows, 2)).toEqual({ object: 'list', data: rows.slice(0, 2), first_id: 'a', last_id: 'b', has_more: true });
    expect(listObject(rows, 3)).toMatchObject({ first_id: 'a', last_id: 'c', has_more: false });
    expect(listObject([], 3)).toEqual({ object: 'list', data: [], first_id: null, last_id: null, has_more: false });
  });
});

describe('API keys', () => {
  test('are random, prefixed, identified separately, and hashed with SHA-256', () => {
    const a = generateApiKey();
    const b = generateApiKey();
    expect(a.key).toMatch(/^sk-vbs-[A-Za-z0-9_-]{43}$/);
    expect(a.key).not.toBe(b.key);
    expect(a.id).toMatch(/^key_[0-9a-f]{16}$/);
    expect(a.key.startsWith(a.prefix)).toBe(true);
    expect(hashApiKey('abc')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  });
});
