import OpenAI from 'openai';
import { credentialsIn, redactUrl } from '../secrets';
import { UsageError } from './output';

/** The options every command takes, from the program (`vbs --json status ...` or `vbs status ... --json`). */
export type GlobalOptions = {
  baseUrl: string;
  apiKey?: string;
  json: boolean;
  temporalUi?: string;
  temporalNamespace: string;
};

/**
 * The official SDK, as users' own code talks to the server: it handles multipart uploads, cursor
 * pagination, retries of transient failures and the OpenAI error shape exactly as they see them.
 * Without a key it sends a placeholder: an open-mode server accepts any, and one with keys answers
 * a clear 401 instead of the SDK refusing to start.
 */
export function apiClient(options: GlobalOptions): OpenAI {
  // fetch refuses such a URL and its error echoes it whole; the API takes its key as a bearer token anyway.
  if (credentialsIn(options.baseUrl).length > 0) {
    throw new UsageError(`--base-url ${redactUrl(options.baseUrl)} carries credentials: pass the API key with --api-key (OPENAI_API_KEY) instead`);
  }
  return new OpenAI({ baseURL: options.baseUrl, apiKey: options.apiKey ?? 'none' });
}
