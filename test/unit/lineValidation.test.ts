import { MAX_BODY_DEPTH, validateLine, type LineContext } from '../../src/batches/lineValidation';

const ctx: LineContext = { endpoint: '/v1/chat/completions', defaultModel: 'default-model' };
const check = (line: unknown, context = ctx) =>
  validateLine(Buffer.isBuffer(line) ? line : Buffer.from(typeof line === 'string' ? line : JSON.stringify(line)), 7, context);
const good = { custom_id: 'c1', method: 'POST', url: '/v1/chat/completions', body: { messages: [] } };

describe('validateLine', () => {
  test('accepts a valid line and fills in the default model', () => {
    expect(check(good)).toEqual({ ok: true, line: { customId: 'c1', model: 'default-model', namesModel: false, bodyText: '{"messages":[],"model":"default-model"}' } });
  });

  test("keeps the body's text exactly as written: big integers, number forms, spacing, escapes", () => {
    const body = '{ "messages": [ ],\t"seed": 123456789012345678901234567890, "temperature": 1.0, "stop": "\\u0000" }';
    const verdict = check(`{"custom_id":"c1","method":"POST","url":"/v1/chat/completions","body":${body}}`);
    expect(verdict).toEqual({ ok: true, line: { customId: 'c1', model: 'default-model', namesModel: false, bodyText: `${body.slice(0, -1)},"model":"default-model"}` } });
    const named = check(`{"custom_id":"c1","method":"POST","url":"/v1/chat/completions","body":{"model":"own","messages":[],"n":1.50}}`);
    expect(named).toMatchObject({ ok: true, line: { model: 'own', namesModel: true, bodyText: '{"model":"own","messages":[],"n":1.50}' } });
  });

  test('keeps the model a line names', () => {
    const verdict = check({ ...good, body: { model: 'own', messages: [] } });
    expect(verdict.ok && verdict.line.model).toBe('own');
  });

  test.each([
    ['invalid UTF-8', Buffer.from([0x7b, 0xff, 0xfe, 0x7d]), 'invalid_encoding', null],
    ['invalid JSON', '{"custom_id":', 'invalid_json_line', null],
    ['not an object', '[1,2]', 'invalid_request', null],
    ['missing custom_id', { ...good, custom_id: undefined }, 'missing_custom_id', 'custom_id'],
    ['empty custom_id', { ...good, custom_id: '' }, 'missing_custom_id', 'custom_id'],
    ['method not POST', { ...good, method: 'GET' }, 'invalid_method', 'method'],
    ['url not the batch endpoint', { ...good, url: '/v1/embeddings' }, 'invalid_url', 'url'],
    ['body not an object', { ...good, body: 'hi' }, 'invalid_body', 'body'],
    ['a custom_id with NUL', { ...good, custom_id: 'a\u0000' }, 'invalid_custom_id', 'custom_id'],
    ['a custom_id with an unpaired surrogate', { ...good, custom_id: '\udc00a' }, 'invalid_custom_id', 'custom_id'],
    ['a model that is not a string', { ...good, body: { model: 7, messages: [] } }, 'invalid_body', 'body.model'],
    ['an empty model', { ...good, body: { model: '', messages: [] } }, 'invalid_body', 'body.model'],
    ['a model with NUL', { ...good, body: { model: 'm\u0000', messages: [] } }, 'invalid_body', 'body.model'],
    ['a streaming request', { ...good, body: { messages: [], stream: true } }, 'invalid_body', 'body.stream'],
    ['a stream flag that is not false', { ...good, body: { messages: [], stream: 'yes' } }, 'invalid_body', 'body.stream'],
    // As text: JSON.stringify could not even write it (the fuzz suite found a batch stuck on one).
    [
      'a body nested 10,000 deep',
      `{"custom_id":"c","method":"POST","url":"/v1/chat/completions","body":{"messages":[],"x":${'['.repeat(10_000)}${']'.repeat(10_000)}}}`,
      'invalid_body',
      'body',
    ],
  ])('rejects %s', (_name, line, code, param) => {
    expect(check(line)).toEqual({ ok: false, error: { code, param, line: 7, message: expect.stringContaining('7') } });
  });

  test(`accepts a body nested exactly ${MAX_BODY_DEPTH} deep`, () => {
    let nested: unknown = 'leaf';
    for (let depth = 2; depth <= MAX_BODY_DEPTH; depth++) nested = [nested];
    expect(check({ ...good, body: { model: 'm', messages: [], x: nested } })).toMatchObject({ ok: true });
    expect(check({ ...good, body: { model: 'm', messages: [], x: [nested] } })).toMatchObject({ ok: false, error: { code: 'invalid_body', param: 'body' } });
  });

  test('accepts NUL and unpaired surrogates inside the body, unaltered', () => {
    const body = { model: 'm', messages: [{ role: 'user', content: 'a\u0000b\ud800' }], 'k\u0000': '\udfff' };
    expect(check({ ...good, body })).toEqual({ ok: true, line: { customId: 'c1', model: 'm', namesModel: true, bodyText: JSON.stringify(body) } });
  });

  test('accepts stream: false, which asks for what a batch does anyway', () => {
    expect(check({ ...good, body: { messages: [], stream: false } }).ok).toBe(true);
  });

  test('accepts a custom_id with characters outside the BMP', () => {
    expect(check({ ...good, custom_id: 'id-😀' })).toMatchObject({ ok: true, line: { customId: 'id-😀' } });
  });

  test('rejects a line without a model when the batch names none', () => {
    expect(check(good, { ...ctx, defaultModel: undefined })).toMatchObject({ ok: false, error: { code: 'missing_model', param: 'body.model' } });
  });
});

describe("each endpoint's body", () => {
  const line = (url: string, body: Record<string, unknown>) => ({ custom_id: 'c1', method: 'POST', url, body: { model: 'm', ...body } });
  const checkAt = (url: string, body: Record<string, unknown>) => check(line(url, body), { endpoint: url, defaultModel: undefined });

  test.each([
    ['/v1/chat/completions', { messages: [{ role: 'user', content: 'hi' }] }],
    ['/v1/completions', { prompt: 'hi' }],
    ['/v1/completions', { prompt: [[1, 2, 3]] }],
    ['/v1/responses', { input: 'hi' }],
    ['/v1/responses', { input: [{ role: 'user', content: [{ type: 'input_text', text: 'hi' }] }], background: false }],
    ['/v1/embeddings', { input: ['a', 'b'] }],
    ['/v1/score', { text_1: 'q', text_2: ['a', 'b'] }],
    ['/v1/score', { queries: ['q'], documents: ['a'] }],
    ['/v1/score', { queries: 'q', items: ['a'] }],
    ['/v1/score', { data_1: 'q', data_2: 'a' }],
    ['/v1/rerank', { query: 'q', documents: ['a', 'b'] }],
  ])('%s accepts %j', (url, body) => {
    expect(checkAt(url, body)).toMatchObject({ ok: true, line: { model: 'm' } });
  });

  test.each([
    ['/v1/chat/completions', {}, 'body.messages', 'an array of messages'],
    ['/v1/chat/completions', { messages: 'hi' }, 'body.messages', 'an array of messages'],
    ['/v1/completions', {}, 'body.prompt', 'the prompt'],
    ['/v1/completions', { prompt: 5 }, 'body.prompt', 'the prompt'],
    ['/v1/responses', {}, 'body.input', 'input items'],
    ['/v1/responses', { input: { role: 'user' } }, 'body.input', 'input items'],
    ['/v1/responses', { input: 'hi', background: true }, 'body.background', 'not a background one'],
    ['/v1/embeddings', { messages: [] }, 'body.input', 'the input to embed'],
    ['/v1/score', { text_1: 'q' }, 'body.text_1', 'text_1 and text_2 (or queries and documents, or queries and items, or data_1 and data_2)'],
    ['/v1/score', { text_1: 'q', text_2: 7 }, 'body.text_2', 'a string or an array'],
    ['/v1/rerank', { documents: ['a'] }, 'body.query', 'the query'],
    ['/v1/rerank', { query: 'q' }, 'body.documents', 'documents'],
    ['/v1/rerank', { query: 'q', documents: 3 }, 'body.documents', 'documents'],
  ])('%s refuses %j: %s', (url, body, param, words) => {
    const verdict = checkAt(url, body);
    expect(verdict).toEqual({ ok: false, error: { code: 'invalid_body', param, line: 7, message: expect.stringContaining(words) } });
    expect(!verdict.ok && verdict.error.message).toContain(`for ${url}`);
  });
});
