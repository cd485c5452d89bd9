import { outputLine } from '../../src/batches/outputLines';
import type { RequestWithResult } from '../../src/store/requests';

const row = (fields: Partial<RequestWithResult>): RequestWithResult => ({
  line_no: 3,
  custom_id: 'id "with" quotes\n',
  request_id: null,
  status_code: null,
  response_body: null,
  error_code: null,
  error_message: null,
  ...fields,
});

describe('outputLine', () => {
  test('a 2xx response goes to the output file as OpenAI shapes it, the body kept as stored', () => {
    const body = '{"id":"chatcmpl-1","choices":[{"message":{"content":"héllo \\"x\\""}}],"usage":{"prompt_tokens":1}}';
    const { file, line } = outputLine('batch_1', row({ status_code: 200, request_id: 'req-9', response_body: body }), 'batch_expired');
    expect(file).toBe('output');
    expect(line.endsWith('\n')).toBe(true);
    expect(JSON.parse(line)).toEqual({
      id: expect.stringMatching(/^batch_req_[0-9a-f]{32}$/),
      custom_id: 'id "with" quotes\n',
      response: { status_code: 200, request_id: 'req-9', body: JSON.parse(body) },
      error: null,
    });
  });

  test('a non-2xx response goes to the error file with its response', () => {
    const { file, line } = outputLine('batch_1', row({ status_code: 400, request_id: 'r', response_body: '{"error":{"message":"bad"}}' }), 'batch_expired');
    expect(file).toBe('error');
    expect(JSON.parse(line)).toMatchObject({ response: { status_code: 400, body: { error: { message: 'bad' } } }, error: null });
  });

  test('no response: the recorded error, or the stop reason for a request that never ran', () => {
    const failed = outputLine('batch_1', row({ request_id: 'x', error_code: 'server_error', error_message: 'gave up' }), 'batch_expired');
    expect(JSON.parse(failed.line)).toMatchObject({ response: null, error: { code: 'server_error', message: 'gave up' } });
    const never = outputLine('batch_1', row({}), 'batch_cancelled');
    expect(never.file).toBe('error');
    expect(JSON.parse(never.line)).toMatchObject({ response: null, error: { code: 'batch_cancelled' } });
  });

  test('the line ID is stable for a batch and line, and differs between lines', () => {
    const id = (batch: string, lineNo: number) => JSON.parse(outputLine(batch, row({ line_no: lineNo }), 'batch_expired').line).id;
    expect(id('batch_1', 3)).toBe(id('batch_1', 3));
    expect(id('batch_1', 3)).not.toBe(id('batch_1', 4));
    expect(id('batch_1', 3)).not.toBe(id('batch_2', 3));
  });
});
