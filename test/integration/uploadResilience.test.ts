import OpenAI, { toFile } from 'openai';
import { FileObject } from '../../src/files/object';
import { unique } from '../support/api';
import { chatLine, readJsonl, TERMINAL, uploadJsonl, waitForBatch } from '../support/batches';
import { RawConnection, rawExchange, requestHead, type RawResponse } from '../support/rawHttp';
import { startServiceUnderTest, type ServiceUnderTest } from '../support/serviceUnderTest';
import { waitFor } from '../support/wait';

const MODEL = 'sim-llama-3.1-8b-instruct';
const UPLOAD_CAP = 50;
const IDLE_TIMEOUT_MS = 3000;
const BOUNDARY = 'XYZ';

/**
 * Issue 14: no single request, and no crowd of slow ones, may take the service down or starve
 * other tenants. Every case runs against one real service process, which must still be the same
 * live process, serving batches, at the end.
 */
describe('uploads under hostile and flaky clients', () => {
  const keyA = unique('sk-uploader');
  const keyB = unique('sk-bystander');
  let sut: ServiceUnderTest;
  let clientA: OpenAI;
  let clientB: OpenAI;
  let port: number;
  const auth = (key: string) => ({ Authorization: `Bearer ${key}` });

  beforeAll(async () => {
    sut = await startServiceUnderTest({
      env: {
        API_KEYS: `${keyA}:${unique('uploader')},${keyB}:${unique('bystander')}`,
        MAX_CONCURRENT_UPLOADS_PER_TENANT: String(UPLOAD_CAP),
        HTTP_IDLE_TIMEOUT_MS: String(IDLE_TIMEOUT_MS),
      },
      apiKey: keyA,
    });
    clientA = sut.client;
    clientB = sut.clientAs(keyB);
    port = sut.service.port;
  });

  afterAll(async () => {
    // Still the very process started in beforeAll, and it stops cleanly.
    expect(await sut?.stop()).toBe(0);
  });

  const expectAlive = () => expect(sut.service.child.exitCode).toBeNull();
  const filesOf = async (client: OpenAI) => (await client.files.list()).data.map((f) => f.id);
  const errorOf = (response: RawResponse) => (JSON.parse(response.body) as { error: Record<string, unknown> }).error;

  const multipartHead = (key: string, contentLength: number, contentType = `multipart/form-data; boundary=${BOUNDARY}`) =>
    requestHead('POST', '/v1/files', { ...auth(key), 'Content-Type': contentType, 'Content-Length': contentLength });
  const filePartStart = `--${BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="a.jsonl"\r\n\r\n`;

  test('a multipart file part without its closing boundary is a 400, and the process lives on', async () => {
    const before = await filesOf(clientA);
    const body = `${filePartStart}abc`;
    const response = await rawExchange(port, multipartHead(keyA, Buffer.byteLength(body)) + body);
    expect(response.status).toBe(400);
    expect(errorOf(response)).toMatchObject({ type: 'invalid_request_error', code: 'invalid_multipart', param: 'file' });
    expectAlive();
    expect(await filesOf(clientA)).toEqual(before);
  });

  test('multipart/form-data without a boundary is a 400', async () => {
    const response = await rawExchange(port, multipartHead(keyA, 3, 'multipart/form-data') + 'abc');
    expect(response.status).toBe(400);
    expect(errorOf(response)).toMatchObject({ type: 'invalid_request_error', code: 'invalid_multipart', param: 'file' });
  });

  test.each([
    [
      'a raw JSONL upload',
      () => requestHead('POST', '/v1/files?purpose=batch', { ...auth(keyA), 'Content-Type': 'application/jsonl', 'Content-Length': 10_000_000 }) + '{"a',
    ],
    ['a multipart upload inside its file part', () => multipartHead(keyA, 10_000_000) + filePartStart + '{"a'],
    ['a multipart upload before any part', () => multipartHead(keyA, 10_000_000) + `--${BOUNDARY}\r\nContent-Dispo`],
  ])('a client that vanishes mid-way through %s leaves nothing behind and kills nothing', async (_name, request) => {
    const before = await filesOf(clientA);
    const connection = new RawConnection(port);
    connection.write(request());
    // Sent, and a moment for the server to start reading the body, before the client goes.
    await new Promise((resolve) => connection.socket.write('', resolve));
    await new Promise((resolve) => setTimeout(resolve, 300));
    connection.vanish();
    await connection.closed;
    await waitFor(async () => (await healthz()) === 200, { what: 'the service to answer after the disconnect' });
    expectAlive();
    expect(await filesOf(clientA)).toEqual(before);
  });

  test('oversized headers get an OpenAI-shaped 431', async () => {
    const response = await rawExchange(port, requestHead('GET', '/v1/files', { ...auth(keyA), 'X-Padding': 'x'.repeat(64 * 1024) }));
    expect(response.status).toBe(431);
    expect(errorOf(response)).toMatchObject({ type: 'invalid_request_error', code: 'request_header_fields_too_large', param: null });
  });

  test('malformed HTTP gets an OpenAI-shaped 400', async () => {
    const response = await rawExchange(port, 'NOT HTTP AT ALL\r\n\r\n');
    expect(response.status).toBe(400);
    expect(errorOf(response)).toMatchObject({ type: 'invalid_request_error', code: 'invalid_http' });
  });

  test('UTF-8 filenames survive the official SDK unchanged; long ones are cut between characters', async () => {
    const name = 'données-😀.jsonl';
    const file = await clientA.files.create({ file: await toFile(Buffer.from(chatLine('u', MODEL, 'x') + '\n'), name), purpose: 'batch' });
    expect(file.filename).toBe(name);
    expect((await clientA.files.retrieve(file.id)).filename).toBe(name);

    const long = '😀'.repeat(300);
    const cut = FileObject.parse(await clientA.files.create({ file: await toFile(Buffer.from('\n'), long), purpose: 'batch' }));
    expect(Array.from(cut.filename)).toEqual(Array.from(long).slice(0, 255));
    expect(cut.filename.isWellFormed()).toBe(true);
  });

  test(`${UPLOAD_CAP} trickling uploads of one tenant leave another tenant, /readyz and a running batch unaffected`, async () => {
    const lines = Array.from({ length: 400 }, (_, i) => chatLine(`b${i}`, MODEL, `bystander ${i}`));
    const batch = await clientB.batches.create({ input_file_id: (await uploadJsonl(clientB, lines)).id, endpoint: '/v1/chat/completions', completion_window: '24h' });

    const tricklers = Array.from({ length: UPLOAD_CAP }, () => {
      const connection = new RawConnection(port);
      connection.write(requestHead('POST', '/v1/files?purpose=batch', { ...auth(keyA), 'Content-Type': 'application/jsonl', 'Content-Length': 10_000_000 }));
      return connection;
    });
    // A byte every half second from each: never idle long enough to be cut off, never done.
    const trickle = setInterval(() => tricklers.forEach((t) => t.write('{')), 500);
    try {
      // Every upload slot of tenant A is taken: one more is refused at once, with a hint when to retry.
      let lastStatus = 0;
      const refused = await waitFor(
        async () => {
          const response = await fetch(`${sut.service.apiUrl}/files?purpose=batch`, {
            method: 'POST',
            headers: { ...auth(keyA), 'content-type': 'application/jsonl' },
            body: chatLine('x', MODEL, 'x'),
          });
          lastStatus = response.status;
          return response.status === 429 ? response : undefined;
        },
        { what: `the ${UPLOAD_CAP + 1}st upload to be refused` },
      ).catch(async (err: unknown) => {
        // Say why, should it ever happen: were tricklers cut off, and with what answer?
        const cut = tricklers.filter((t) => t.socket.destroyed);
        const answer = cut.length > 0 ? (await cut[0]!.closed).toString('utf8').slice(0, 300) : '';
        throw new Error(`${(err as Error).message}: the probe upload last got ${lastStatus}; ${cut.length} of ${UPLOAD_CAP} tricklers closed ${JSON.stringify(answer)}`);
      });
      expect(refused.headers.get('retry-after')).toBe('1');
      expect(await refused.json()).toMatchObject({ error: { type: 'rate_limit_error', code: 'too_many_concurrent_uploads' } });

      // Meanwhile tenant B lists its files, and the readiness probe answers: latencies recorded.
      const listMs: number[] = [];
      const readyMs: number[] = [];
      for (let i = 0; i < 20; i++) {
        listMs.push(await timed(() => clientB.files.list()));
        const started = Date.now();
        const ready = await fetch(`${sut.service.apiUrl.replace(/\/v1$/, '')}/readyz`);
        readyMs.push(Date.now() - started);
        expect(ready.status).toBe(200);
      }
      const done = await waitForBatch(clientB, batch.id, (b) => TERMINAL.includes(b.status));
      console.log(
        `${UPLOAD_CAP} trickling uploads: tenant B GET /v1/files p50 ${percentile(listMs, 50)} ms, max ${Math.max(...listMs)} ms; ` +
          `/readyz max ${Math.max(...readyMs)} ms; bystander batch of ${lines.length} ${done.status}`,
      );
      expect(Math.max(...listMs)).toBeLessThan(1000);
      expect(Math.max(...readyMs)).toBeLessThan(1000);
      expect(done.status).toBe('completed');
      expect(done.request_counts).toEqual({ total: lines.length, completed: lines.length, failed: 0 });
      expect((await readJsonl(clientB, done.output_file_id)).map((l) => l.custom_id)).toEqual(lines.map((_, i) => `b${i}`));
      // Still uploading: none of the trickles was cut off while it kept sending.
      expect(tricklers.every((t) => !t.socket.destroyed)).toBe(true);
    } finally {
      clearInterval(trickle);
      tricklers.forEach((t) => t.vanish());
    }
    // Their slots come back once they are gone, and nothing they sent was kept.
    const file = await waitFor(() => uploadJsonl(clientA, [chatLine('after', MODEL, 'x')]).catch(() => undefined), { what: 'an upload slot' });
    expect(file.bytes).toBeGreaterThan(0);
    expect((await clientA.files.list()).data.every((f) => f.bytes < 10_000_000)).toBe(true);
  });

  test('a stalled upload is closed by the server after HTTP_IDLE_TIMEOUT_MS', async () => {
    const connection = new RawConnection(port);
    connection.write(requestHead('POST', '/v1/files?purpose=batch', { ...auth(keyA), 'Content-Type': 'application/jsonl', 'Content-Length': 1000 }) + '{"a');
    const started = Date.now();
    await connection.closed; // the server's doing: the client never closes it
    const waited = Date.now() - started;
    expect(waited).toBeGreaterThanOrEqual(IDLE_TIMEOUT_MS - 500);
    expect(waited).toBeLessThan(IDLE_TIMEOUT_MS * 4);
  });

  test('after all of it, the same process runs a batch to completion', async () => {
    const lines = Array.from({ length: 50 }, (_, i) => chatLine(`z${i}`, MODEL, `after ${i}`));
    const batch = await clientA.batches.create({ input_file_id: (await uploadJsonl(clientA, lines)).id, endpoint: '/v1/chat/completions', completion_window: '24h' });
    const done = await waitForBatch(clientA, batch.id, (b) => TERMINAL.includes(b.status));
    expect(done).toMatchObject({ status: 'completed', request_counts: { total: 50, completed: 50, failed: 0 } });
    expectAlive();
  });

  async function healthz(): Promise<number> {
    return (await fetch(`${sut.service.apiUrl.replace(/\/v1$/, '')}/healthz`).catch(() => ({ status: 0 }))).status;
  }
});

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const started = Date.now();
  await fn();
  return Date.now() - started;
}

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}
