import net from 'node:net';

export type RawResponse = { status: number; headers: Record<string, string>; body: string };

/**
 * HTTP by hand over a socket, for what `fetch` will not send: truncated bodies, lying
 * Content-Length, clients that vanish mid-upload, oversized headers.
 */
export class RawConnection {
  readonly socket: net.Socket;
  /** Resolves with what the server sent once it closes the connection (or the client does). */
  readonly closed: Promise<Buffer>;

  constructor(port: number) {
    this.socket = net.connect(port, '127.0.0.1');
    const received: Buffer[] = [];
    this.socket.on('data', (d: Buffer) => received.push(d));
    this.closed = new Promise((resolve) => {
      this.socket.once('close', () => resolve(Buffer.concat(received)));
      this.socket.once('error', () => undefined); // a reset is an answer too: `closed` still resolves
    });
  }

  write(data: string | Buffer): void {
    this.socket.write(data);
  }

  /** Drops the connection without a word, as a client that crashed or lost its network. */
  vanish(): void {
    this.socket.destroy();
  }

  /** The server's answer, parsed (status 0 when it closed without one). */
  async response(): Promise<RawResponse> {
    return parseResponse(await this.closed);
  }
}

/** Sends a request (head and body as given, nothing added) and reads the answer. */
export async function rawExchange(port: number, request: string | Buffer): Promise<RawResponse> {
  const connection = new RawConnection(port);
  connection.write(request);
  return connection.response();
}

/** Request head lines → the bytes of an HTTP/1.1 head with `Connection: close`. */
export function requestHead(method: string, path: string, headers: Record<string, string | number>): string {
  const lines = [`${method} ${path} HTTP/1.1`, 'Host: 127.0.0.1', 'Connection: close'];
  for (const [name, value] of Object.entries(headers)) lines.push(`${name}: ${value}`);
  return `${lines.join('\r\n')}\r\n\r\n`;
}

function parseResponse(raw: Buffer): RawResponse {
  const text = raw.toString('utf8');
  const split = text.indexOf('\r\n\r\n');
  if (split === -1) return { status: 0, headers: {}, body: text };
  const [statusLine, ...headerLines] = text.slice(0, split).split('\r\n');
  const headers: Record<string, string> = {};
  for (const line of headerLines) {
    const colon = line.indexOf(':');
    headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  let body = text.slice(split + 4);
  if (headers['transfer-encoding'] === 'chunked') body = dechunk(body);
  return { status: Number(statusLine!.split(' ')[1]), headers, body };
}

function dechunk(body: string): string {
  let out = '';
  let rest = body;
  for (;;) {
    const lineEnd = rest.indexOf('\r\n');
    const size = Number.parseInt(rest.slice(0, lineEnd), 16);
    if (!(size > 0)) return out;
    out += rest.slice(lineEnd + 2, lineEnd + 2 + size);
    rest = rest.slice(lineEnd + 2 + size + 2);
  }
}
