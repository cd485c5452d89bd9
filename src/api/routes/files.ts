import { PassThrough } from 'node:stream';
import busboy from 'busboy';
import { Router, type Request, type Response } from 'express';
import type { z } from 'zod';
import type { Db } from '../../db/pool';
import { readFileContent } from '../../files/content';
import { deleteFile } from '../../files/delete';
import type { FileObject } from '../../files/object';
import { listFilePage, retrieveFile } from '../../files/read';
import { FileTooLargeError, IdempotencyKeyReusedError, storeUpload, UploadInterruptedError, type StoredUpload, type UploadFields } from '../../files/upload';
import { ApiError, invalidRequest, notFound, unsupportedContentType } from '../errors';
import { idempotencyKeyOf, idempotencyKeyReused, markReplayed } from '../idempotency';
import { listObject, unknownCursor } from '../pagination';
import { ListFilesQuery, UploadFileFields, UploadFileQuery } from '../schemas';
import { tenantOf } from '../tenant';
import type { TenantSlots } from '../tenantSlots';
import { parseRequest } from '../validate';

type UploadDeps = { db: Db; maxFileBytes: number; uploadSlots: TenantSlots };

/** Raw JSONL bodies (extension for the seed guide's clients), besides OpenAI's multipart form. */
const RAW_JSONL_TYPES = ['application/jsonl', 'application/x-ndjson'];

export function filesRouter(deps: UploadDeps): Router {
  const router = Router();

  router.post('/files', async (req, res) => {
    const tenantId = tenantOf(res);
    const release = deps.uploadSlots.tryAcquire(tenantId);
    if (!release) {
      res.setHeader('retry-after', '1');
      throw new ApiError(
        429,
        'rate_limit_error',
        'too_many_concurrent_uploads',
        `This API key's tenant already has ${deps.uploadSlots.perTenant} uploads in progress; retry when one finishes.`,
      );
    }
    let stored: StoredUpload;
    try {
      const idempotencyKey = idempotencyKeyOf(req);
      if (req.is('multipart/form-data')) stored = await receiveMultipart(req, deps, tenantId, idempotencyKey);
      else if (req.is(RAW_JSONL_TYPES)) stored = await receiveRaw(req, deps, tenantId, idempotencyKey);
      else {
        throw unsupportedContentType(`Uploads must be multipart/form-data with a 'file' field, or a raw ${RAW_JSONL_TYPES.join(' or ')} body.`, 'file');
      }
    } catch (err) {
      throw uploadFailure(req, res, err);
    } finally {
      release();
    }
    if (stored.replayed) markReplayed(res);
    res.status(200).json(stored.file);
  });

  router.get('/files', async (req, res) => {
    const query = parseRequest(ListFilesQuery, req.query);
    const files = await listFilePage(deps.db, tenantOf(res), query);
    if (!files) throw unknownCursor('file', query.after!);
    res.json(listObject(files, query.limit));
  });

  router.get('/files/:id', async (req, res) => {
    res.json(await requireFile(deps.db, tenantOf(res), req.params.id));
  });

  router.delete('/files/:id', async (req, res) => {
    const outcome = await deleteFile(deps.db, tenantOf(res), req.params.id);
    if (outcome === 'not_found') throw notFound('file', req.params.id);
    if (outcome === 'in_use') {
      throw new ApiError(409, 'invalid_request_error', 'file_in_use', `File '${req.params.id}' is the input of a batch that is still validating.`);
    }
    res.json({ id: req.params.id, object: 'file', deleted: true });
  });

  router.get('/files/:id/content', async (req, res) => {
    const file = await requireFile(deps.db, tenantOf(res), req.params.id);
    res.status(200).type('application/octet-stream').setHeader('content-length', String(file.bytes));
    for await (const part of readFileContent(deps.db, file.id)) {
      // A client that went away never drains: stop reading rather than wait forever.
      if (!res.write(part)) await new Promise((resolve) => res.once('drain', resolve).once('close', resolve));
      if (res.destroyed) return;
    }
    res.end();
  });

  return router;
}

async function requireFile(db: Db, tenantId: string, fileId: string): Promise<FileObject> {
  const file = await retrieveFile(db, tenantId, fileId);
  if (!file) throw notFound('file', fileId);
  return file;
}

/** How much of a refused upload's remaining body is read and dropped so the client gets to read the answer. */
const LINGER = { ms: 10_000, bytes: 64 * 1024 * 1024 };

/**
 * The answer to a failed upload goes out at once. If the client is still sending, the rest of its
 * body is read and dropped (never buffered) for a while, as nginx's lingering close does: closing
 * at once would reset the connection under a client still writing, which then sees a broken pipe
 * instead of the answer (and an SDK retries it). Past LINGER the connection is cut.
 * Stream failures are the client's: a malformed form, or a disconnect (then nobody reads the answer).
 */
function uploadFailure(req: Request, res: Response, err: unknown): unknown {
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
  if (err instanceof IdempotencyKeyReusedError) return idempotencyKeyReused(err.message);
  if (err instanceof FileTooLargeError) return new ApiError(413, 'invalid_request_error', 'file_too_large', err.message, 'file');
  if (err instanceof UploadInterruptedError) {
    const multipart = req.is('multipart/form-data');
    return invalidRequest(
      `${multipart ? 'Malformed multipart body' : 'Incomplete upload'}: ${(err.cause as Error).message}`,
      'file',
      multipart ? 'invalid_multipart' : 'incomplete_upload',
    );
  }
  return err;
}

/** A raw body is the file itself; purpose and filename come from the query string. */
async function receiveRaw(req: Request, deps: UploadDeps, tenantId: string, idempotencyKey: string | undefined): Promise<StoredUpload> {
  const query = parseRequest(UploadFileQuery, req.query);
  if (Number(req.headers['content-length']) > deps.maxFileBytes) throw new FileTooLargeError(deps.maxFileBytes);
  return storeUpload(deps.db, {
    tenantId,
    filename: query.filename,
    content: bodyStream(req),
    maxBytes: deps.maxFileBytes,
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
function receiveMultipart(req: Request, deps: UploadDeps, tenantId: string, idempotencyKey: string | undefined): Promise<StoredUpload> {
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
        maxBytes: deps.maxFileBytes,
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
