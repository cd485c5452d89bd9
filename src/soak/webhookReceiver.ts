import http from 'node:http';
import type { AddressInfo } from 'node:net';

/** An event the receiver acknowledged (answered 2xx): what the sender may stop retrying. */
export type AcknowledgedEvent = Readonly<{ webhookId: string; type: string; batchId: string }>;

/**
 * The webhook receiver of a soak: a user's endpoint that fails now and then. A share of deliveries
 * is answered 500 and a few are answered slowly; a delivery counts as seen only when acknowledged,
 * so a batch's event that is never acknowledged is a webhook lost.
 */
export class WebhookReceiver {
  readonly acknowledged: AcknowledgedEvent[] = [];
  private readonly server: http.Server;

  constructor(
    private readonly random: () => number,
    private readonly failShare = 0.25,
  ) {
    this.server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        if (this.random() < this.failShare) {
          res.writeHead(500).end('receiver failing on purpose');
          return;
        }
        const answer = () => {
          try {
            const event = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { type?: string; batch_id?: string };
            this.acknowledged.push({ webhookId: String(req.headers['webhook-id'] ?? ''), type: String(event.type), batchId: String(event.batch_id) });
            res.writeHead(204).end();
          } catch {
            res.writeHead(400).end('not JSON');
          }
        };
        // A slow receiver now and then: the sender must not give up on an answer that takes seconds.
        if (this.random() < 0.05) setTimeout(answer, 3_000);
        else answer();
      });
    });
  }

  async start(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  /** Whether the receiver acknowledged `type` for `batchId`. */
  saw(batchId: string, type: string): boolean {
    return this.acknowledged.some((e) => e.batchId === batchId && e.type === type);
  }

  /** Deliveries acknowledged more than once (the same webhook-id): allowed, deduplicable, counted. */
  duplicates(): number {
    const ids = this.acknowledged.map((e) => e.webhookId);
    return ids.length - new Set(ids).size;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
