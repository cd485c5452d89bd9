import { PassThrough } from 'node:stream';
import busboy from 'busboy';
import type { Request, Response } from 'express';
import type { z } from 'zod';
import { FileTooLargeError, IdempotencyKeyReusedError, storeUpload, UploadInterruptedError, type StoredUpload, type UploadFields } from '../files/upload';
import { invalidRequest } from './errors';
import { idempotencyKeyOf } from './idempotency';
import type { ApiDeps } from './operation';
import { UploadFileFields, UploadFileQuery } from './schemas';
import { parseRequest } from './validate';

/** An upload's outcome: stored, or refused for what the client sent (the request was read no further). */
export type UploadOutcome =
  | { kind: 'stored'; stored: StoredUpload }
  | { kind: 'too_many_uploads'; perTenant: number }
  | { kind: 'unsupported_content_type' }
  | { kind: 'too_large'; message: string }
  | { kind: 'malformed_multipart'; message: string }
  | { kind: 'incomplete_upload'; message: string }
  | { kind: 'idempotency_key_reused'; message: string };

/** Raw JSONL bodies (extension for the seed guide's clients), besides OpenAI's multipart form. */
export const RAW_JSONL_TYPES = ['application/jsonl', 'application/x-ndjson'];

/**
 * Receives an upload, multipart (OpenAI) or raw JSONL, within the tenant's share of upload slots.
 * A failure the client caused is an outcome; any other failure (a validation error of the form's
 * fields, a dependency away) is thrown. Either way the rest of a refused body is drained first.
 */
export async function receiveUpload(deps: ApiDeps, tenantId: string, req: Request, res: Response): Promise<UploadOutcome> {
  const { slots } = deps.uploads;
  const release = slots.tryAcquire(tenantId);
  if (!release) return { kind: 'too_many_uploads', perTenant: slots.perTenant };
  try {
    const idempotencyKey = idempotencyKeyOf(req);
    if (req.is('multipart/form-data')) return { kind: 'stored', stored: await receiveMultipart(req, deps, tenantId, idempotencyKey) };
    if (req.is(RAW_JSONL_TYPES)) return { kind: 'stored', stored: await receiveRaw(req, deps, tenantId, idempotencyKey) };
    lingerAfterRefusal(req, res);
    return { kind: 'unsupported_content_type' };
  } catch (err) {
    lingerAfterRefusal(req, res);
    if (err instanceof IdempotencyKeyReusedError) return { kind: 'idempotency_key_reused', message: err.message };
    if (err instanceof FileTooLargeError) return { kind: 'too_large', message: err.message };
    if (err instanceof UploadInterruptedError) {
      const message = (err.cause as Error).message;
      return req.is('multipart/form-data') ? { kind: 'malformed_multipart', message } : { kind: 'incomplete_upload', message };
    }
    throw err;
  } finally {
    release();
  }
}

/** How much of a refused upload's remaining body is read and dropped so the client gets to read the answer. */
const LINGER = { ms: 10_000, bytes: 64 * 1024 * 1024 };

/**
 * The answer to a failed upload goes out at once. If the client is still sending, the rest of its
 * body is read and dropped (never buffered) for a while, as nginx's lingering close does: closing
 * at once would reset the connection under a client still writing, which then sees a broken pipe
 * instead of the answer (and an SDK retries it). Past LINGER the connection is cut.
 */
function lingerAfterRefusal(req: Request, res: Response): void {
  if (!req.complete) {
    req.unpipe();
    let dropped = 0;
    req.on('data', (chunk: Buffer) => {
      dropped += chunk.length;
      if (dropped > LINGER.bytes) req.socket.destroy();
    });
    // unpipe() paused the request: unless resumed, the rest is never read and the kept-alive connection hangs.
    req.resume();
    res.once('finish', () => {
      if (req.complete) return; // read to the end already: no timer that would later cut the reused connection
      const timer = setTimeout(() => req.socket.destroy(), LINGER.ms).unref();
      req.once('end', () => clearTimeout(timer)).once('close', () => clearTimeout(timer));
    });
  }
}

/** A raw body is the file itself; purpose and filename come from the query string. */
async function receiveRaw(req: Request, deps: ApiDeps, tenantId: string, idempotencyKey: string | undefined): Promise<StoredUpload> {
  const query = parseRequest(UploadFileQuery, req.query);
  if (Number(req.headers['content-length']) > deps.uploads.maxFileBytes) throw new FileTooLargeError(deps.uploads.maxFileBytes);
  return storeUpload(deps.db, {
    tenantId,
    filename: query.filename,
    content: bodyStream(req),
    maxBytes: deps.uploads.maxFileBytes,
    resolveFields: async () => uploadFields(query),
    idempotencyKey,
  });
}

/**
 * The request body as a stream of its own: an oversized upload destroys this stream, leaving the
 * socket to answer on, and a client that disconnects mid-upload fails it rather than leaving it
 * hanging. Its reader (`storeUpload`) listens from the start, so that failure always has a listener.
 */
function bodyStream(req: Request): PassThrough {
  const body = new PassThrough();
  req.once('close', () => {
    if (!req.complete) body.destroy(new Error('the client disconnected during the upload'));
  });
  return req.pipe(body);
}

/**
 * Streams the multipart `file` field into storage. `purpose` may arrive before or after the file, so
 * it is checked once the whole form is parsed, before the upload completes.
 */
function receiveMultipart(req: Request, deps: ApiDeps, tenantId: string, idempotencyKey: string | undefined): Promise<StoredUpload> {
  let form: busboy.Busboy;
  try {
    // Filenames in UTF-8 (what browsers and the SDKs send), not busboy's latin1 default.
    form = busboy({ headers: req.headers, defParamCharset: 'utf8', limits: { files: 2, fields: 20, fieldSize: 64 * 1024 } });
  } catch (err) {
    return Promise.reject(malformedMultipart(err)); // e.g. no boundary in the content type
  }
  return new Promise<StoredUpload>((resolve, reject) => {
    const fields: Record<string, string> = {};
    const parsed = new Promise<void>((done, fail) => {
      form.on('close', done);
      form.on('error', (err) => fail(malformedMultipart(err)));
    });
    parsed.catch(() => undefined); // observed by whoever awaits it; never an unhandled rejection
    // A client gone mid-form never ends it: destroying the form fails the file stream being read, and the form.
    req.once('close', () => {
      if (!req.complete) form.destroy(new Error('the client disconnected during the upload'));
    });
    let sawFile = false;
    // One file per upload, as OpenAI's API: a second file part is refused, not silently dropped (the
    // limit of two lets busboy show it, with its name; a third only raises filesLimit).
    let extraFile: string | undefined;
    form.on('filesLimit', () => (extraFile ??= 'file'));

    form.on('field', (name, value) => (fields[name] = value));
    form.on('file', (name, stream, info) => {
      if (name !== 'file' || sawFile) {
        extraFile ??= name;
        // Drained; a failure of this part is the form's too, and reported as such.
        stream.on('error', () => undefined).resume();
        return;
      }
      sawFile = true;
      storeUpload(deps.db, {
        tenantId,
        filename: info.filename,
        content: stream,
        maxBytes: deps.uploads.maxFileBytes,
        idempotencyKey,
        resolveFields: async () => {
          await parsed;
          if (extraFile !== undefined) throw extraFilePart(extraFile);
          return uploadFields(parseRequest(UploadFileFields, fields));
        },
      }).then(resolve, reject);
    });
    parsed.then(() => {
      if (!sawFile) reject(invalidRequest("The multipart form has no 'file' field.", 'file', 'missing_required_parameter'));
    }, reject);
    req.pipe(form);
  });
}

const uploadFields = (fields: z.output<typeof UploadFileFields | typeof UploadFileQuery>): UploadFields => ({
  purpose: fields.purpose,
  expiresAfterSeconds: fields['expires_after[seconds]'] ?? null,
});

const extraFilePart = (name: string) =>
  invalidRequest(`The multipart form has a second file part ('${name}'): upload exactly one file, in the 'file' field, per call.`, name, 'invalid_multipart');

const malformedMultipart = (err: unknown) => invalidRequest(`Malformed multipart body: ${(err as Error).message}`, 'file', 'invalid_multipart');
