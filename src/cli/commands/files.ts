import fs from 'node:fs';
import type { Command } from 'commander';
import type OpenAI from 'openai';
import type { FileObject } from 'openai/resources/files';
import { positiveInt } from '../args';
import { apiClient, type GlobalOptions } from '../client';
import { isoTime, printJson, printTable, UsageError } from '../output';

export function registerFileCommands(program: Command, globals: () => GlobalOptions): void {
  const files = program.command('files').description('upload, list and delete files');

  files
    .command('list')
    .description('files, newest first')
    .option('--purpose <purpose>', 'only files with this purpose (batch, batch_output)')
    .option('--limit <n>', 'at most this many', positiveInt, 100)
    .action(async (options: { purpose?: string; limit: number }) => {
      const g = globals();
      const list: FileObject[] = [];
      for await (const file of apiClient(g).files.list({ limit: options.limit, ...(options.purpose ? { purpose: options.purpose } : {}) })) {
        list.push(file);
        if (list.length >= options.limit) break;
      }
      if (g.json) return printJson(list);
      printTable(
        ['ID', 'PURPOSE', 'BYTES', 'CREATED', 'FILENAME'],
        list.map((f) => [f.id, f.purpose, String(f.bytes), isoTime(f.created_at), f.filename]),
      );
    });

  files
    .command('upload')
    .description('upload a file; prints its ID')
    .argument('<path>', 'the file (JSONL for purpose batch)')
    .option('--purpose <purpose>', 'what the file is for', 'batch')
    .action(async (file: string, options: { purpose: string }) => {
      const g = globals();
      const uploaded = await uploadFile(apiClient(g), file, options.purpose);
      if (g.json) printJson(uploaded);
      else console.log(uploaded.id);
    });

  files
    .command('delete')
    .description('delete a file')
    .argument('<id>', 'file ID')
    .action(async (id: string) => {
      const g = globals();
      const deleted = await apiClient(g).files.delete(id);
      if (g.json) printJson(deleted);
      else console.log(`deleted ${deleted.id}`);
    });
}

/** Streams a local file to `POST /v1/files` (multipart, as the SDKs send it); a path that is not a readable file is a usage error. */
export function uploadFile(client: OpenAI, file: string, purpose: string): Promise<FileObject> {
  try {
    if (!fs.statSync(file).isFile()) throw new UsageError(`${file} is not a file`);
    fs.accessSync(file, fs.constants.R_OK);
  } catch (err) {
    throw err instanceof UsageError ? err : new UsageError(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  return client.files.create({ file: fs.createReadStream(file), purpose: purpose as 'batch' });
}
