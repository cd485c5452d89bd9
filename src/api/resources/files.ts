import { z } from 'zod';
import { readFileContent } from '../../files/content';
import { deleteFile } from '../../files/delete';
import { DeletedFileObject, FileObject } from '../../files/object';
import { listFilePage, retrieveFile } from '../../files/read';
import { idempotencyKeyReused, markReplayed } from '../idempotency';
import { defineOperation, found, notFound, WRITTEN } from '../operation';
import { listOperation, retrieveOperation } from '../reads';
import { FileList, ListFilesQuery, UploadFileFields, UploadFileQuery } from '../schemas';
import { RAW_JSONL_TYPES, receiveUpload } from '../upload';

/** The multipart form of an upload, as the document shows it. */
export const UploadFileForm = UploadFileFields.extend({
  file: z.string().meta({ format: 'binary' }).describe('The JSONL file; its filename is kept, sanitised'),
});

const binary = { type: 'string', format: 'binary' };

/** `/v1/files`: OpenAI's files resource. */
export const fileOperations = [
  defineOperation({
    method: 'post',
    path: '/v1/files',
    operationId: 'createFile',
    summary: 'Upload a JSONL file: multipart form (OpenAI), or a raw application/jsonl body (extension)',
    query: { schema: UploadFileQuery, onlyFor: 'raw application/jsonl uploads' },
    body: { 'multipart/form-data': UploadFileForm, ...Object.fromEntries(RAW_JSONL_TYPES.map((type) => [type, binary])) },
    response: FileObject,
    idempotent: true,
    raises: [{ status: 400, code: 'invalid_multipart' }],
    handle: ({ deps, tenantId, req, res }) => receiveUpload(deps, tenantId, req, res),
    refuse: {
      too_many_uploads: {
        status: 429,
        code: 'too_many_concurrent_uploads',
        message: (o) => `This API key's tenant already has ${o.perTenant} uploads in progress; retry when one finishes.`,
        retryAfterSeconds: () => 1,
      },
      unsupported_content_type: {
        status: 415,
        code: 'unsupported_content_type',
        message: () => `Uploads must be multipart/form-data with a 'file' field, or a raw ${RAW_JSONL_TYPES.join(' or ')} body.`,
        param: () => 'file',
      },
      too_large: { status: 413, code: 'file_too_large', message: (o) => o.message, param: () => 'file' },
      malformed_multipart: { status: 400, code: 'invalid_multipart', message: (o) => `Malformed multipart body: ${o.message}`, param: () => 'file' },
      incomplete_upload: { status: 400, code: 'incomplete_upload', message: (o) => `Incomplete upload: ${o.message}`, param: () => 'file' },
      idempotency_key_reused: idempotencyKeyReused,
    },
    reply: (outcome, { res }) => {
      if (outcome.stored.replayed) markReplayed(res);
      return outcome.stored.file;
    },
  }),
  listOperation({
    path: '/v1/files',
    operationId: 'listFiles',
    summary: 'List files',
    query: ListFilesQuery,
    response: FileList,
    what: 'file',
    list: (deps, tenantId, query) => listFilePage(deps.db, tenantId, query),
  }),
  retrieveOperation({
    path: '/v1/files/{file_id}',
    operationId: 'retrieveFile',
    summary: 'Retrieve a file',
    response: FileObject,
    what: 'file',
    param: 'file_id',
    find: (deps, tenantId, id) => retrieveFile(deps.db, tenantId, id),
  }),
  defineOperation({
    method: 'delete',
    path: '/v1/files/{file_id}',
    operationId: 'deleteFile',
    summary: 'Delete a file (refused while it is the input of a validating batch)',
    response: DeletedFileObject,
    handle: async ({ deps, tenantId, params }) => ({ kind: await deleteFile(deps.db, tenantId, params.file_id) }),
    refuse: {
      not_found: notFound('file', 'file_id'),
      in_use: { status: 409, code: 'file_in_use', message: (_o, { params }) => `File '${params.file_id}' is the input of a batch that is still validating.` },
    },
    reply: (_outcome, { params }) => ({ id: params.file_id, object: 'file', deleted: true }),
  }),
  defineOperation({
    method: 'get',
    path: '/v1/files/{file_id}/content',
    operationId: 'downloadFile',
    summary: 'The file content, byte for byte',
    response: { contentType: 'application/octet-stream', schema: binary },
    handle: async ({ deps, tenantId, params }) => found(await retrieveFile(deps.db, tenantId, params.file_id)),
    refuse: { not_found: notFound('file', 'file_id') },
    reply: async ({ value: file }, { deps, res }) => {
      res.status(200).type('application/octet-stream').setHeader('content-length', String(file.bytes));
      for await (const part of readFileContent(deps.db, file.id)) {
        // A client that went away never drains: stop reading rather than wait forever.
        if (!res.write(part)) await new Promise((resolve) => res.once('drain', resolve).once('close', resolve));
        if (res.destroyed) return WRITTEN;
      }
      res.end();
      return WRITTEN;
    },
  }),
];
