import OpenAI from 'openai';

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
  return new OpenAI({ baseURL: options.baseUrl, apiKey: options.apiKey ?? 'none' });
}
