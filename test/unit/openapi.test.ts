import { openApiDocument } from '../../src/api/openapi';
import { OPERATIONS } from '../../src/api/operations';

type Doc = {
  openapi: string;
  paths: Record<
    string,
    Record<string, { parameters?: Array<{ name: string; in: string; required: boolean; schema: Record<string, unknown> }>; responses: Record<string, unknown> }>
  >;
  components: { schemas: Record<string, Record<string, unknown>> };
};

describe('the OpenAPI document', () => {
  const doc = openApiDocument() as Doc;

  test('is OpenAPI 3.1 with every $ref resolving to a component', () => {
    expect(doc.openapi).toBe('3.1.0');
    const refs = [...JSON.stringify(doc).matchAll(/"\$ref":"#\/components\/schemas\/([^"]+)"/g)].map((m) => m[1]!);
    expect(refs.length).toBeGreaterThan(10);
    for (const ref of refs) expect(doc.components.schemas).toHaveProperty([ref]);
    for (const schema of Object.values(doc.components.schemas)) {
      expect(schema).not.toHaveProperty('$schema');
      expect(schema).not.toHaveProperty('$id');
    }
  });

  test('documents every operation with a success response and OpenAI-shaped errors', () => {
    for (const [path, operations] of Object.entries(doc.paths)) {
      for (const operation of Object.values(operations)) {
        expect(operation.responses).toHaveProperty(['200']);
        for (const [status, response] of Object.entries(operation.responses)) {
          if (status !== '200') expect(JSON.stringify(response)).toContain('#/components/schemas/Error');
        }
        for (const name of [...path.matchAll(/\{(\w+)\}/g)].map((m) => m[1])) {
          expect(operation.parameters).toContainEqual(expect.objectContaining({ name, in: 'path', required: true }));
        }
      }
    }
  });

  test('is generated from the operation table: one entry per operation, each listing the codes its table entry refuses with', () => {
    const documented = Object.entries(doc.paths).flatMap(([path, ops]) => Object.keys(ops).map((method) => `${method} ${path}`));
    expect(documented.sort()).toEqual(OPERATIONS.map((op) => `${op.method} ${op.path}`).sort());
    expect(new Set(OPERATIONS.map((op) => op.operationId)).size).toBe(OPERATIONS.length);
    for (const op of OPERATIONS) {
      const responses = doc.paths[op.path]![op.method]!.responses as Record<string, { description: string }>;
      for (const { status, code } of op.failures) expect(responses[String(status)]?.description).toContain(code);
    }
    expect((doc.paths['/v1/batches/{batch_id}/cancel']!.post!.responses as Record<string, { description: string }>)['409']!.description).toContain(
      'batch_not_cancellable',
    );
  });

  test('every operation that takes an id answers an unknown one (another tenant’s included) with 404 not_found', () => {
    for (const op of OPERATIONS.filter((o) => o.path.includes('{'))) {
      expect({ operation: op.operationId, failures: op.failures }).toMatchObject({
        failures: expect.arrayContaining([expect.objectContaining({ status: 404, code: 'not_found' })]),
      });
    }
  });

  test('derives query parameters from the schemas the routes validate with', () => {
    expect(doc.paths['/v1/batches']!.get!.parameters).toEqual([
      expect.objectContaining({ name: 'after', in: 'query', required: false }),
      { name: 'limit', in: 'query', required: false, schema: expect.objectContaining({ minimum: 1, maximum: 100, default: 20 }) },
    ]);
    const fileParams = doc.paths['/v1/files']!.get!.parameters!;
    expect(fileParams.find((p) => p.name === 'limit')!.schema).toMatchObject({ minimum: 1, maximum: 10_000, default: 10_000 });
    expect(fileParams.find((p) => p.name === 'order')!.schema).toMatchObject({ enum: ['asc', 'desc'], default: 'desc' });
  });

  test('the Batch component lists every field of the contract as required', () => {
    expect(doc.components.schemas.Batch!.required).toEqual([
      'id',
      'object',
      'endpoint',
      'model',
      'errors',
      'input_file_id',
      'completion_window',
      'status',
      'output_file_id',
      'error_file_id',
      'created_at',
      'in_progress_at',
      'expires_at',
      'finalizing_at',
      'completed_at',
      'failed_at',
      'expired_at',
      'cancelling_at',
      'cancelled_at',
      'request_counts',
      'usage',
      'metadata',
      'webhook',
      'retry_of',
      'retries',
    ]);
    expect(doc.components.schemas.CreateBatchRequest!.required).toEqual(['input_file_id']);
  });
});
