import busboy from 'busboy';
import { Router, type Request } from 'express';
import type { Db } from '../../db/pool';
import { readFileContent } from '../../files/content';
import { toFileObject } from '../../files/object';
import { FileTooLargeError, storeUpload } from '../../files/upload';
import { findFile, type FileRow } from '../../store/files';
import { ApiError, invalidRequest, notFound } from '../errors';
import { tenantOf } from '../tenant';

const UPLOAD_PURPOSES = ['batch'] as const;

export function filesRouter(deps: { db: Db; maxFileBytes: number }): Router {
  const router = Router();

  router.post('/files', async (req, res) => {
    const file = await receiveUpload(req, deps, tenantOf(res));
    res.status(200).json(toFileObject(file));
  });

  router.get('/files/:id', async (req, res) => {
    res.json(toFileObject(await requireFile(deps.db, tenantOf(res), req.params.id!)));
  });

  router.get('/files/:id/content', async (req, res) => {
    const file = await requireFile(deps.db, tenantOf(res), req.params.id!);
    res.status(200).type('application/octet-stream').setHeader('content-length', String(file.bytes));
    for await (const part of readFileContent(deps.db, file.id)) {
      if (!res.write(part)) await new Promise((resolve) => res.once('drain', resolve));
    }
    res.end();
  });

  return router;
}

async function requireFile(db: Db, tenantId: string, fileId: string): Promise<FileRow> {
  const file = await findFile(db, tenantId, fileId);
  if (!file) throw notFound('file', fileId);
  return file;
}

/**
 * Streams the multipart `file` field straight into Postgres. `purpose` may arrive before or after the
 * file, so it is checked once the whole form is parsed, before the upload's transaction commits.
 */
function receiveUpload(req: Request, deps: { db: Db; maxFileBytes: number }, tenantId: string): Promise<FileRow> {
  if (!req.is('multipart/form-data')) {
    return Promise.reject(invalidRequest("Uploads must be multipart/form-data with a 'file' field.", 'file', 'invalid_content_type'));
  }
  return new Promise<FileRow>((resolve, reject) => {
    const form = busboy({ headers: req.headers, limits: { files: 1, fields: 20, fieldSize: 64 * 1024 } });
    const fields = new Map<string, string>();
    const parsed = new Promise<void>((done, fail) => {
      form.on('close', done);
      form.on('error', fail);
    });
    parsed.catch(() => undefined); // observed by whoever awaits it; never an unhandled rejection
    let sawFile = false;

    form.on('field', (name, value) => fields.set(name, value));
    form.on('file', (name, stream, info) => {
      if (name !== 'file' || sawFile) {
        stream.resume();
        return;
      }
      sawFile = true;
      storeUpload(deps.db, {
        tenantId,
        filename: info.filename,
        content: stream,
        maxBytes: deps.maxFileBytes,
        resolvePurpose: async () => {
          await parsed;
          return checkPurpose(fields.get('purpose'));
        },
      }).then(resolve, (err: unknown) => {
        if (err instanceof FileTooLargeError) {
          // Stop parsing, discard the rest of the body unbuffered, and close the connection after answering.
          req.unpipe(form);
          req.resume();
          reject(new ApiError(413, 'invalid_request_error', 'file_too_large', err.message, 'file'));
        } else reject(err);
      });
    });
    parsed.then(() => {
      if (!sawFile) reject(invalidRequest("The multipart form has no 'file' field.", 'file', 'missing_file'));
    }, (err: Error) => reject(invalidRequest(`Malformed multipart body: ${err.message}`, 'file', 'invalid_multipart')));
    req.pipe(form);
  });
}

function checkPurpose(purpose: string | undefined): string {
  if (purpose === undefined) throw invalidRequest("Missing required parameter: 'purpose'.", 'purpose', 'missing_required_parameter');
  if (!(UPLOAD_PURPOSES as readonly string[]).includes(purpose)) {
    throw invalidRequest(`Invalid purpose '${purpose}'; this server accepts: ${UPLOAD_PURPOSES.join(', ')}.`, 'purpose', 'invalid_value');
  }
  return purpose;
}
