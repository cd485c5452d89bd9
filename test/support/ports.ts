import net from 'node:net';

/** A port the OS just reported free on loopback. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/**
 * A free loopback port below Linux's ephemeral range (32768–60999), for a server that is started,
 * stopped and started again on the same port while clients keep connecting to it: a port from the
 * ephemeral range (what `freePort` gets) may meanwhile be handed to one of those clients' sockets.
 */
export const stablePort = (): Promise<number> => stablePortRange(1);

/** The first of `count` consecutive free loopback ports below the ephemeral range, as `stablePort`. */
export async function stablePortRange(count: number): Promise<number> {
  for (;;) {
    const candidate = 20_000 + Math.floor(Math.random() * (12_000 - count));
    let free = true;
    for (let port = candidate; free && port < candidate + count; port++) free = await isFree(port);
    if (free) return candidate;
  }
}

function isFree(port: number): Promise<boolean> {
  return new Promise<boolean>((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}
