/**
 * A TCP proxy between GPU workers and one inference backend that injects the backend's network
 * faults for a soak run (as toxiproxy would, but in the soak's own process, with nothing else to
 * install or supervise). Bytes are relayed chunk by chunk as they arrive, never parsed, so `pass`
 * costs about what a pipe does.
 */
import { createServer, connect, type AddressInfo, type Server, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

export type ProxyMode =
  | { kind: 'pass' }
  /** Not listening (new connections meet ECONNREFUSED); open connections closed, as when the backend process dies. */
  | { kind: 'down' }
  /** Connections accepted and held, nothing forwarded either way: clients wait until their own timeouts. */
  | { kind: 'blackhole' }
  /** Each chunk of response data resets its connection pair with this probability: an RST mid-response. */
  | { kind: 'reset'; probability: number }
  /** Every chunk, in both directions, forwarded `ms` late, in order. */
  | { kind: 'latency'; ms: number }
  /** Open connections closed on entry; then a `share` of new connections answered 503 and closed, as a backend restarting behind a gateway. */
  | { kind: 'flap503'; share: number };

export type FaultProxyStats = {
  /** Connections accepted since start. */
  connections: number;
  /** Connections the proxy closed or reset to inject a fault (never those a peer closed). */
  destroyedByFault: number;
  served503: number;
};

export type FaultProxyOptions = {
  /** 0 picks a free port at start(); the proxy keeps it when it listens again after `down`. */
  listenPort: number;
  host?: string;
  target: { host: string; port: number };
  /** The source of every random decision (reset, flap503): a seeded one makes a run reproducible. */
  random?: () => number;
};

/** Listening again after `down` may find the port briefly taken (another process handed it as ephemeral): retried this often. */
const LISTEN_ATTEMPTS = 20;
const LISTEN_RETRY_MS = 100;
/** A client that keeps its connection after the 503 and its `Connection: close` is closed after this long idle. */
const AFTER_503_IDLE_MS = 2000;
/** A request head larger than this is answered without waiting for its end. */
const MAX_HEAD_BYTES = 64 * 1024;

const BODY_503 = JSON.stringify({
  error: { message: 'Service unavailable (fault injected by the soak proxy).', type: 'server_error', param: null, code: null },
});
const RESPONSE_503 = [
  'HTTP/1.1 503 Service Unavailable',
  'Content-Type: application/json',
  `Content-Length: ${Buffer.byteLength(BODY_503)}`,
  'Retry-After: 1',
  'Connection: close',
  '',
  BODY_503,
].join('\r\n');

/** `null` stands for the end of the stream (a FIN), which has its place in the order like any chunk. */
type Chunk = Buffer | null;

/**
 * One direction of a connection. Chunks are written as soon as they are due, in arrival order: a
 * chunk that arrives without delay waits behind delayed ones still queued, so leaving `latency`
 * never reorders bytes. With nothing queued and no delay it is a plain write (the `pass` path).
 */
class Lane {
  private readonly queue: Array<{ chunk: Chunk; due: number }> = [];
  private timer: NodeJS.Timeout | undefined;
  private waitingForDrain = false;

  constructor(
    private readonly from: Socket,
    private readonly to: Socket,
    private readonly held: () => boolean,
  ) {}

  push(chunk: Chunk, delayMs: number): void {
    if (this.queue.length === 0 && delayMs === 0) return this.write(chunk);
    this.queue.push({ chunk, due: Date.now() + delayMs });
    if (this.timer === undefined) this.flush();
  }

  stop(): void {
    clearTimeout(this.timer);
    this.queue.length = 0;
  }

  private flush(): void {
    this.timer = undefined;
    // A blackhole freezes what is queued; leaving it destroys the connection, queue and all.
    if (this.held()) return;
    const now = Date.now();
    while (this.queue[0] && this.queue[0].due <= now) this.write(this.queue.shift()!.chunk);
    const next = this.queue[0];
    if (next) this.timer = setTimeout(() => this.flush(), next.due - now);
  }

  private write(chunk: Chunk): void {
    if (this.to.destroyed) return;
    if (chunk === null) {
      this.to.end();
      return;
    }
    // Backpressure as pipe() does it: a slow reader slows the sender rather than filling our memory.
    if (!this.to.write(chunk) && !this.waitingForDrain) {
      this.waitingForDrain = true;
      this.from.pause();
      this.to.once('drain', () => {
        this.waitingForDrain = false;
        this.from.resume();
      });
    }
  }
}

/** A client's connection and, unless held by a blackhole or answered 503, its connection to the target. */
type Connection = { client: Socket; target: Socket | undefined; lanes: Lane[]; done: boolean };

/** One proxy per backend: start() it in `pass`, point the backend's clients at its port, and setMode() as the campaign goes. */
export class FaultProxy {
  private current: ProxyMode = { kind: 'pass' };
  private server: Server | undefined;
  private port_: number;
  private readonly host: string;
  private readonly random: () => number;
  private readonly open = new Set<Connection>();
  private readonly counts: FaultProxyStats = { connections: 0, destroyedByFault: 0, served503: 0 };
  /** Mode changes run one at a time: `down` and its way back wait on the listener. */
  private transitions: Promise<void> = Promise.resolve();
  private closed = false;

  constructor(private readonly options: FaultProxyOptions) {
    this.port_ = options.listenPort;
    this.host = options.host ?? '127.0.0.1';
    this.random = options.random ?? Math.random;
  }

  get mode(): ProxyMode {
    return this.current;
  }

  /** The port listened on: `listenPort`, or the one picked for 0. */
  get port(): number {
    return this.port_;
  }

  stats(): FaultProxyStats {
    return { ...this.counts };
  }

  async start(): Promise<void> {
    await this.listen();
  }

  setMode(mode: ProxyMode): Promise<void> {
    const next = this.transitions.then(() => this.enter(mode));
    this.transitions = next.catch(() => undefined);
    return next;
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.transitions;
    for (const connection of this.open) this.destroy(connection, 'close');
    await this.stopListening();
  }

  private async enter(mode: ProxyMode): Promise<void> {
    if (this.closed) throw new Error('FaultProxy is closed');
    const previous = this.current;
    if (mode.kind === previous.kind) {
      this.current = mode;
      return;
    }
    // Listening first: a port that cannot be had again leaves the proxy `down`, where a retry can start from.
    if (previous.kind === 'down') await this.listen();
    this.current = mode;
    // Held connections are destroyed on leaving a blackhole: their clients have likely given up,
    // and bytes forwarded now would answer requests nobody waits for.
    if (mode.kind === 'down' || mode.kind === 'flap503' || previous.kind === 'blackhole') {
      for (const connection of this.open) this.destroy(connection, 'close', true);
    }
    if (mode.kind === 'down') await this.stopListening();
  }

  private async listen(): Promise<void> {
    for (let attempt = 1; ; attempt += 1) {
      const server = createServer({ allowHalfOpen: true, noDelay: true }, (client) => this.accept(client));
      try {
        await new Promise<void>((resolve, reject) => {
          server.once('error', reject);
          server.listen(this.port_, this.host, () => {
            server.off('error', reject);
            resolve();
          });
        });
        this.server = server;
        this.port_ = (server.address() as AddressInfo).port;
        return;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE' || attempt >= LISTEN_ATTEMPTS) throw err;
        await sleep(LISTEN_RETRY_MS);
      }
    }
  }

  private async stopListening(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    // close() stops accepting at once; its callback waits for the connections, all destroyed by now.
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private accept(client: Socket): void {
    this.counts.connections += 1;
    // Every socket error is followed by 'close', where it is handled; unhandled, it would end the soak process.
    client.on('error', () => undefined);
    // close() may be waiting on a mode change while the listener still accepts.
    if (this.closed) {
      client.destroy();
      return;
    }
    const mode = this.current;
    if (mode.kind === 'flap503' && this.random() < mode.share) return this.answer503(client);

    const connection: Connection = { client, target: undefined, lanes: [], done: false };
    this.open.add(connection);
    client.on('close', (hadError) => (hadError ? this.destroy(connection, 'close') : this.forget(connection)));
    if (mode.kind === 'blackhole') {
      // Nothing will be forwarded, so no target connection; what the client sends is read and dropped.
      client.on('data', () => undefined);
      client.on('end', () => this.destroy(connection, 'close'));
      return;
    }

    const target = connect({ host: this.options.target.host, port: this.options.target.port, allowHalfOpen: true, noDelay: true });
    connection.target = target;
    const held = () => this.current.kind === 'blackhole';
    const toTarget = new Lane(client, target, held);
    const toClient = new Lane(target, client, held);
    connection.lanes = [toTarget, toClient];
    target.on('error', () => undefined);
    // A target that refuses or resets: the client sees its connection reset, as with a dead backend.
    target.on('close', (hadError) => (hadError && !held() ? this.destroy(connection, 'reset') : this.forget(connection)));

    client.on('data', (chunk: Buffer) => {
      if (!held()) toTarget.push(chunk, this.delayMs());
    });
    client.on('end', () => (held() ? this.destroy(connection, 'close') : toTarget.push(null, this.delayMs())));
    target.on('data', (chunk: Buffer) => {
      const now = this.current;
      if (now.kind === 'blackhole') return;
      if (now.kind === 'reset' && this.random() < now.probability) return this.destroy(connection, 'reset', true);
      toClient.push(chunk, this.delayMs());
    });
    // In a blackhole the client must not learn that the backend closed: only the target side goes.
    target.on('end', () => (held() ? target.destroy() : toClient.push(null, this.delayMs())));
  }

  /** Reads the request head, answers 503 and closes; reads on until the client closes, since closing with unread bytes would reset the connection under the 503. */
  private answer503(client: Socket): void {
    let head = '';
    let answered = false;
    const connection: Connection = { client, target: undefined, lanes: [], done: false };
    this.open.add(connection);
    client.on('close', () => this.forget(connection));
    client.on('data', (chunk: Buffer) => {
      if (answered) return;
      head += chunk.toString('latin1');
      if (!head.includes('\r\n\r\n') && head.length < MAX_HEAD_BYTES) return;
      answered = true;
      this.counts.served503 += 1;
      client.end(RESPONSE_503);
      client.setTimeout(AFTER_503_IDLE_MS, () => client.destroy());
    });
    client.on('end', () => client.destroy());
  }

  private delayMs(): number {
    return this.current.kind === 'latency' ? this.current.ms : 0;
  }

  /** Closes (FIN) or resets (RST) both sockets of a connection at once. */
  private destroy(connection: Connection, how: 'close' | 'reset', byFault = false): void {
    if (connection.done) return;
    if (byFault) this.counts.destroyedByFault += 1;
    this.forget(connection, true);
    for (const socket of [connection.client, connection.target]) {
      if (!socket || socket.destroyed) continue;
      if (how === 'reset') socket.resetAndDestroy();
      else socket.destroy();
    }
  }

  /** Drops a connection from the books once both its sockets are gone (or now, when it is being destroyed). */
  private forget(connection: Connection, now = false): void {
    if (connection.done) return;
    if (!now && !(connection.client.destroyed && (connection.target?.destroyed ?? true))) return;
    connection.done = true;
    this.open.delete(connection);
    for (const lane of connection.lanes) lane.stop();
  }
}
