import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { connect, createServer as createTcpServer, type AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { Agent, request } from 'undici';
import { FaultProxy, type FaultProxyOptions } from '../../src/soak/faultProxy';
import { withTimeout } from '../../src/withTimeout';
import { freePort } from '../support/ports';

// A proxy that holds a connection it should have closed would otherwise hang a test for the global three minutes.
jest.setTimeout(10_000);

/** The target: an HTTP/1.1 server with keep-alive, as vLLM (uvicorn) is to its undici clients. */
const BIG = Buffer.from(Array.from({ length: 1024 * 1024 }, (_, i) => (i * 31) % 251));
let target: Server;
let targetPort: number;
/** /two-parts writes its first part, then waits for the test to release the second. */
const twoParts = { firstWritten: false, release: (): void => undefined };

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

beforeAll(async () => {
  target = createServer((req, res) => {
    if (req.url === '/echo') return void readBody(req).then((body) => res.end(body));
    if (req.url === '/big') return void res.end(BIG);
    if (req.url === '/two-parts') {
      res.write('first part|');
      twoParts.firstWritten = true;
      twoParts.release = () => void res.end('second part');
      return;
    }
    res.end('ok');
  });
  target.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => target.listen(0, '127.0.0.1', resolve));
  targetPort = (target.address() as AddressInfo).port;
});

afterAll(async () => {
  target.closeAllConnections();
  await new Promise((resolve) => target.close(resolve));
});

let proxy: FaultProxy;
const agents: Agent[] = [];

async function startProxy(options: Partial<FaultProxyOptions> = {}): Promise<FaultProxy> {
  proxy = new FaultProxy({ listenPort: 0, target: { host: '127.0.0.1', port: targetPort }, ...options });
  await proxy.start();
  return proxy;
}

/** An undici client with its own connections, so each test knows which connections it holds. */
function newAgent(): Agent {
  const agent = new Agent({ headersTimeout: 300, bodyTimeout: 300 });
  agents.push(agent);
  return agent;
}

async function call(agent: Agent, path: string, body?: Buffer) {
  const res = await request(`http://127.0.0.1:${proxy.port}${path}`, { dispatcher: agent, method: body ? 'POST' : 'GET', body });
  return { status: res.statusCode, headers: res.headers, body: Buffer.from(await res.body.arrayBuffer()) };
}

async function failure(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (err) {
    return (err as { code?: string }).code ?? String(err);
  }
  throw new Error('expected a failure');
}

/** Retries `check` until it passes or the deadline is past, then fails with its last error. */
async function eventually<T>(check: () => Promise<T>, timeoutMs = 3000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await check();
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await sleep(20);
    }
  }
}

afterEach(async () => {
  await Promise.all(agents.splice(0).map((agent) => agent.destroy()));
  await proxy.close();
});

test('pass forwards bodies byte for byte both ways, over kept-alive connections', async () => {
  await startProxy();
  const agent = newAgent();
  const upload = randomBytes(1024 * 1024);
  const [echo, big, ok] = await Promise.all([call(agent, '/echo', upload), call(agent, '/big'), call(agent, '/ok')]);
  expect(echo.body.equals(upload)).toBe(true);
  expect(big.body.equals(BIG)).toBe(true);
  expect(ok.body.toString()).toBe('ok');
  expect((await call(agent, '/ok')).status).toBe(200);
  expect(proxy.stats()).toEqual({ connections: 3, destroyedByFault: 0, served503: 0 });
});

test('down refuses connections and closes open ones; pass listens again on the same port', async () => {
  await startProxy();
  const port = proxy.port;
  const warm = newAgent();
  await call(warm, '/ok');

  await proxy.setMode({ kind: 'down' });
  expect(await failure(call(newAgent(), '/ok'))).toBe('ECONNREFUSED');
  expect(proxy.stats().destroyedByFault).toBe(1);

  await proxy.setMode({ kind: 'pass' });
  expect(proxy.port).toBe(port);
  expect((await call(newAgent(), '/big')).body.equals(BIG)).toBe(true);
  // The kept-alive connection was closed by the proxy: undici connects again.
  expect((await eventually(() => call(warm, '/ok'))).status).toBe(200);
});

test('leaving down waits out a port taken meanwhile, and listens on it again', async () => {
  await startProxy();
  const port = proxy.port;
  await proxy.setMode({ kind: 'down' });
  const squatter = createTcpServer();
  await new Promise<void>((resolve) => squatter.listen(port, '127.0.0.1', resolve));
  const back = proxy.setMode({ kind: 'pass' });
  // Long enough for a refused attempt or two; were it too short, the test would only prove less.
  await sleep(250);
  expect(proxy.mode.kind).toBe('down');
  await new Promise((resolve) => squatter.close(resolve));
  await back;
  expect(proxy.port).toBe(port);
  expect((await call(newAgent(), '/ok')).status).toBe(200);
});

test('blackhole holds old and new connections silent; pass closes them without a stale byte, then serves', async () => {
  await startProxy();
  const warm = newAgent();
  await call(warm, '/ok');

  await proxy.setMode({ kind: 'blackhole' });
  // A raw client that never gives up: whatever it gets after the blackhole must be nothing but a close.
  const raw = connect({ host: '127.0.0.1', port: proxy.port });
  const received: Buffer[] = [];
  raw.on('data', (chunk: Buffer) => received.push(chunk));
  raw.on('error', () => undefined);
  const rawClosed = new Promise((resolve) => raw.once('close', resolve));
  raw.write('GET /ok HTTP/1.1\r\nHost: proxy\r\n\r\n');
  const [onKeptAlive, onNew] = await Promise.all([failure(call(warm, '/ok')), failure(call(newAgent(), '/ok'))]);
  expect(onKeptAlive).toBe('UND_ERR_HEADERS_TIMEOUT');
  expect(onNew).toBe('UND_ERR_HEADERS_TIMEOUT');

  await proxy.setMode({ kind: 'pass' });
  await withTimeout(rawClosed, 2000);
  expect(Buffer.concat(received).length).toBe(0);
  expect(proxy.stats().destroyedByFault).toBeGreaterThanOrEqual(1);
  expect((await eventually(() => call(warm, '/big'))).body.equals(BIG)).toBe(true);
});

test('reset with probability 1 resets the connection mid-response; probability 0 passes', async () => {
  await startProxy({ random: () => 0.5 });
  await proxy.setMode({ kind: 'reset', probability: 1 });
  expect(['ECONNRESET', 'UND_ERR_SOCKET']).toContain(await failure(call(newAgent(), '/big')));
  expect(proxy.stats().destroyedByFault).toBe(1);

  await proxy.setMode({ kind: 'reset', probability: 0 });
  expect((await call(newAgent(), '/big')).body.equals(BIG)).toBe(true);
  expect(proxy.stats().destroyedByFault).toBe(1);
});

test('latency delays every chunk both ways, keeping bodies intact', async () => {
  await startProxy();
  const agent = new Agent({ headersTimeout: 5000, bodyTimeout: 5000 });
  agents.push(agent);
  await call(agent, '/ok');

  await proxy.setMode({ kind: 'latency', ms: 200 });
  const startedAt = performance.now();
  expect((await call(agent, '/ok')).body.toString()).toBe('ok');
  // The request's bytes wait 200 ms on the way in, the response's 200 ms on the way out.
  expect(performance.now() - startedAt).toBeGreaterThanOrEqual(395);

  const upload = randomBytes(1024 * 1024);
  const [echo, big] = await Promise.all([call(agent, '/echo', upload), call(agent, '/big')]);
  expect(echo.body.equals(upload)).toBe(true);
  expect(big.body.equals(BIG)).toBe(true);
});

test('leaving latency keeps order: a chunk arriving after the switch waits behind the delayed ones', async () => {
  await startProxy();
  const agent = new Agent({ headersTimeout: 5000, bodyTimeout: 5000 });
  agents.push(agent);
  twoParts.firstWritten = false;
  await proxy.setMode({ kind: 'latency', ms: 300 });
  const response = call(agent, '/two-parts');
  await eventually(async () => expect(twoParts.firstWritten).toBe(true));
  await proxy.setMode({ kind: 'pass' });
  twoParts.release();
  expect((await response).body.toString()).toBe('first part|second part');
});

test('flap503 closes open connections on entry, then answers a share of new ones 503 with an OpenAI error', async () => {
  await startProxy();
  const warm = newAgent();
  await call(warm, '/ok');

  await proxy.setMode({ kind: 'flap503', share: 1 });
  expect(proxy.stats().destroyedByFault).toBe(1);
  // A POST with a body, as the GPU workers send: the 503 comes after the head, the rest is read and dropped.
  const answer = await call(newAgent(), '/echo', randomBytes(256 * 1024));
  expect(answer.status).toBe(503);
  expect(answer.headers).toMatchObject({ 'retry-after': '1', connection: 'close', 'content-type': 'application/json' });
  expect(JSON.parse(answer.body.toString())).toEqual({
    error: { message: expect.any(String), type: 'server_error', param: null, code: null },
  });
  expect(proxy.stats().served503).toBe(1);

  await proxy.setMode({ kind: 'flap503', share: 0 });
  expect((await call(newAgent(), '/ok')).status).toBe(200);
  expect(proxy.stats()).toMatchObject({ served503: 1, destroyedByFault: 1 });
});

test('decisions come from the injected random source', async () => {
  const draws = [0.3, 0.7];
  await startProxy({ random: () => draws.shift() ?? 1 });
  await proxy.setMode({ kind: 'flap503', share: 0.5 });
  expect((await call(newAgent(), '/ok')).status).toBe(503);
  expect((await call(newAgent(), '/ok')).status).toBe(200);
});

test('a target that refuses connections resets the client, and the proxy stays up', async () => {
  await startProxy({ target: { host: '127.0.0.1', port: await freePort() } });
  expect(['ECONNRESET', 'UND_ERR_SOCKET']).toContain(await failure(call(newAgent(), '/ok')));
  expect(['ECONNRESET', 'UND_ERR_SOCKET']).toContain(await failure(call(newAgent(), '/ok')));
  expect(proxy.stats()).toEqual({ connections: 2, destroyedByFault: 0, served503: 0 });
});
