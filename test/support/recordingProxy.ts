import http from 'node:http';
import type { AddressInfo } from 'node:net';

export type RecordingProxy = {
  /** The proxy's OpenAI base URL (`http://127.0.0.1:<port>/v1`), to configure in place of the upstream's. */
  baseUrl: string;
  /** Every POST it forwarded, by path: what a backend was asked to run (probes and discovery are GETs). */
  posts(): string[];
  close(): Promise<void>;
};

/**
 * An HTTP proxy in front of a backend that records every POST it passes on: a test counts what
 * reached one backend without trusting the backend's own metrics. Requests and answers are piped
 * through unchanged, headers included.
 */
export async function startRecordingProxy(upstreamBaseUrl: string): Promise<RecordingProxy> {
  const upstream = new URL(upstreamBaseUrl);
  const posts: string[] = [];
  const server = http.createServer((req, res) => {
    if (req.method === 'POST') posts.push(req.url ?? '');
    const forwarded = http.request({ host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: req.headers }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    // The upstream down (a restart under test): the client sees its connection fail, as it would without the proxy.
    forwarded.on('error', () => res.destroy());
    req.pipe(forwarded);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}${upstream.pathname}`,
    posts: () => [...posts],
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
