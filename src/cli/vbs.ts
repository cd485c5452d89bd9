#!/usr/bin/env node
import { Command, CommanderError, Option } from 'commander';
import { APIConnectionError, APIError } from 'openai';
import type { GlobalOptions } from './client';
import { registerBatchCommands } from './commands/batches';
import { registerFileCommands } from './commands/files';
import { registerKeyCommands } from './commands/keys';
import { registerQueueCommands } from './commands/queues';
import { EXIT, EXIT_CODES_HELP, UsageError } from './output';
import { redactUrl } from '../secrets';

const DEFAULT_BASE_URL = 'http://localhost:4080/v1';

function buildProgram(): Command {
  const program = new Command('vbs')
    .description('Command line of vLLM Batch Server: submit and follow batches, manage files, queues and API keys.')
    .addOption(new Option('--base-url <url>', 'the API, as the SDKs take it').env('VBS_BASE_URL').default(DEFAULT_BASE_URL))
    .addOption(new Option('--api-key <key>', 'API key (any works while the server is in open mode)').env('OPENAI_API_KEY'))
    .option('--json', 'machine output: the API objects as JSON on stdout and nothing else there; no progress bar', false)
    .addOption(new Option('--temporal-ui <url>', "Temporal Web UI, for `status`'s workflow link, e.g. http://localhost:8233").env('VBS_TEMPORAL_UI_URL'))
    .addOption(new Option('--temporal-namespace <namespace>', 'Temporal namespace of the batch workflows').env('TEMPORAL_NAMESPACE').default('default'))
    .addHelpText('after', `\n${EXIT_CODES_HELP}`)
    // Usage errors become exceptions, so they end with exit code 2 like every other usage error here.
    .exitOverride()
    .configureOutput({
      outputError: (message, write) =>
        write(
          `vbs: ${message
            .replace(/^error: /, '')
            .trimEnd()
            .replace(/\s*\n\s*/g, ' ')}\n`,
        ),
    });
  const globals = () => program.opts<GlobalOptions>();
  registerBatchCommands(program, globals);
  registerFileCommands(program, globals);
  registerQueueCommands(program, globals);
  registerKeyCommands(program, globals);
  return program;
}

/** One readable line on stderr, never a stack trace; the exit code says which kind of failure it was. */
function report(err: unknown, baseUrl: string): number {
  // Commander printed its own message (or the help) already.
  if (err instanceof CommanderError) return err.exitCode === 0 ? EXIT.ok : EXIT.usage;
  const oneLine = (text: string) => text.replace(/\s*\n\s*/g, ' ');
  if (err instanceof UsageError) {
    console.error(`vbs: ${oneLine(err.message)}`);
    return EXIT.usage;
  }
  console.error(`vbs: ${oneLine(describe(err, baseUrl))}`);
  return EXIT.error;
}

function describe(err: unknown, baseUrl: string): string {
  if (err instanceof APIConnectionError) return `cannot reach the API at ${redactUrl(baseUrl)}: ${rootCause(err)}`;
  if (err instanceof APIError) return `${err.message} (${[err.type, err.code].filter(Boolean).join(': ')})`;
  return err instanceof Error ? err.message : String(err);
}

/** fetch wraps the reason (ECONNREFUSED, ENOTFOUND) a connection failed in layers of causes. */
function rootCause(err: Error): string {
  let cause: unknown = err;
  while (cause instanceof Error && cause.cause instanceof Error) cause = cause.cause;
  const { code, message } = cause as { code?: string; message: string };
  return code ?? message;
}

const program = buildProgram();
program.parseAsync(process.argv).catch((err: unknown) => {
  process.exitCode = report(err, program.opts<GlobalOptions>().baseUrl);
});
