import type { Queryable } from '../db/pool';
import { insertFilePart, readNextFilePart } from '../store/files';

/** Size of one stored part: large enough for few rows, small enough to keep memory flat. */
export const PART_BYTES = 1024 * 1024;

/**
 * Accumulates bytes into fixed-size parts and stores each as soon as it is full, numbered from
 * `firstPartNo` (a batch's result files give each chunk its own range).
 */
export class FileContentWriter {
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private totalBytes = 0;
  private nextPartNo: number;

  constructor(
    private readonly db: Queryable,
    readonly fileId: string,
    firstPartNo = 0,
  ) {
    this.nextPartNo = firstPartNo;
  }

  /** Bytes received so far, stored or not. */
  get bytesWritten(): number {
    return this.totalBytes;
  }

  /** Bytes received but not yet stored. */
  get bufferedBytes(): number {
    return this.pendingBytes;
  }

  /** Takes bytes without storing anything: the caller decides when to spend a database round trip. */
  buffer(data: Buffer | string): void {
    const buf = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    this.pending.push(buf);
    this.pendingBytes += buf.length;
    this.totalBytes += buf.length;
  }

  /** Stores every full part buffered so far; a partial remainder waits for more bytes or `end()`. Take no bytes until it is done. */
  async flushFullParts(): Promise<void> {
    while (this.pendingBytes >= PART_BYTES) {
      const all = Buffer.concat(this.pending);
      await this.storePart(all.subarray(0, PART_BYTES));
      const rest = all.subarray(PART_BYTES);
      this.pending = rest.length > 0 ? [Buffer.from(rest)] : [];
      this.pendingBytes = rest.length;
    }
  }

  /** Stores the last partial part; returns the file's total size. */
  async end(): Promise<number> {
    if (this.pendingBytes > 0) await this.storePart(Buffer.concat(this.pending));
    this.pending = [];
    this.pendingBytes = 0;
    return this.totalBytes;
  }

  private async storePart(data: Buffer): Promise<void> {
    await insertFilePart(this.db, this.fileId, this.nextPartNo++, data);
  }
}

/** Streams a stored file's bytes part by part, in part number order. */
export async function* readFileContent(db: Queryable, fileId: string): AsyncGenerator<Buffer> {
  for (let part = await readNextFilePart(db, fileId, -1); part; part = await readNextFilePart(db, fileId, part.part_no)) yield part.data;
}
