import { BatchObject, toBatchObject } from '../../src/batches/object';
import { FileObject, toFileObject } from '../../src/files/object';
import { sanitizeFilename } from '../../src/files/upload';
import type { BatchRow } from '../../src/store/batches';

const created = new Date('2026-01-02T03:04:05.678Z');

describe('API objects', () => {
  test('a fresh batch has every field, null where unset', () => {
    const row = {
      id: 'batch_1',
      tenant_id: 't',
      endpoint: '/v1/chat/completions',
      model: null,
      input_file_id: 'file-1',
      completion_window: '24h',
      status: 'validating',
      output_file_id: null,
      error_file_id: null,
      errors: null,
      metadata: null,
      retry_of: null,
      chunk_count: null,
      total_requests: 0,
      completed_requests: 0,
      failed_requests: 0,
      input_tokens: 0,
      output_tokens: 0,
      created_at: created,
      in_progress_at: null,
      expires_at: new Date(created.getTime() + 86_400_000),
      finalizing_at: null,
      completed_at: null,
      failed_at: null,
      expired_at: null,
      cancelling_at: null,
      cancelled_at: null,
    } as BatchRow;
    const batch = BatchObject.parse(toBatchObject(row));
    expect(batch).toMatchObject({ created_at: 1767323045, expires_at: 1767409445, errors: null, in_progress_at: null, metadata: null, retry_of: null, retries: [] });
    expect(batch.usage).toEqual({ input_tokens: 0, output_tokens: 0, total_tokens: 0 });
    const failed = toBatchObject({ ...row, status: 'failed', errors: [{ code: 'empty_file', message: 'm', param: null, line: null }] });
    expect(BatchObject.parse(failed).errors).toEqual({ object: 'list', data: [{ code: 'empty_file', message: 'm', param: null, line: null }] });

    // Its first chunks may have run while it validates: it counts them only once it has been in progress.
    const counted = { completed_requests: 400, failed_requests: 3, input_tokens: 10, output_tokens: 20 };
    expect(toBatchObject({ ...row, ...counted })).toMatchObject({
      request_counts: { total: 0, completed: 0, failed: 0 },
      usage: { input_tokens: 0, output_tokens: 0, total_tokens: 0 },
    });
    expect(toBatchObject({ ...row, ...counted, status: 'cancelled', cancelled_at: created })).toMatchObject({ request_counts: { total: 0, completed: 0, failed: 0 } });
    expect(toBatchObject({ ...row, ...counted, status: 'in_progress', in_progress_at: created, total_requests: 1_000 })).toMatchObject({
      request_counts: { total: 1_000, completed: 400, failed: 3 },
      usage: { input_tokens: 10, output_tokens: 20, total_tokens: 30 },
    });
  });

  test('a file object has every field', () => {
    const file = toFileObject({
      id: 'file-1',
      tenant_id: 't',
      purpose: 'batch',
      filename: 'in.jsonl',
      bytes: 12,
      status: 'processed',
      created_at: created,
      expires_at: null,
      deleted_at: null,
    });
    expect(FileObject.parse(file)).toEqual({
      id: 'file-1',
      object: 'file',
      bytes: 12,
      created_at: 1767323045,
      expires_at: null,
      filename: 'in.jsonl',
      purpose: 'batch',
      status: 'processed',
    });
  });

  test.each([
    ['../../etc/passwd', 'passwd'],
    ['C:\\Users\\me\\input.jsonl', 'input.jsonl'],
    ['in\u0000put\u001f.jsonl\u007f', 'input.jsonl'],
    ['..', 'upload.jsonl'],
    [undefined, 'upload.jsonl'],
    ['ünïcödé ✓.jsonl', 'ünïcödé ✓.jsonl'],
  ])('filename %j is stored as %j', (raw, stored) => {
    expect(sanitizeFilename(raw)).toBe(stored);
  });
});
