import type { BatchError } from '../store/batches';

export type ValidatedLine = { customId: string; model: string; body: Record<string, unknown> };
export type LineVerdict = { ok: true; line: ValidatedLine } | { ok: false; error: BatchError };

export type LineContext = {
  endpoint: string;
  /** Model for lines whose body names none (batch `metadata.model`, top-level `model`, or DEFAULT_MODEL). */
  defaultModel: string | undefined;
};

const utf8 = new TextDecoder('utf-8', { fatal: true });

const fail = (lineNo: number, code: string, message: string, param: string | null = null): LineVerdict => ({
  ok: false,
  error: { code, message, param, line: lineNo },
});

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * Checks one input line on its own: encoding, JSON, shape, endpoint and model presence.
 * Cross-line rules (duplicates, one model per batch, served models) belong to the caller.
 */
export function validateLine(bytes: Buffer, lineNo: number, ctx: LineContext): LineVerdict {
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch {
    return fail(lineNo, 'invalid_encoding', `Line ${lineNo} is not valid UTF-8.`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return fail(lineNo, 'invalid_json_line', `Line ${lineNo} is not valid JSON.`);
  }
  if (!isObject(parsed)) return fail(lineNo, 'invalid_request', `Line ${lineNo} must be a JSON object.`);
  const { custom_id: customId, method, url, body } = parsed;
  if (typeof customId !== 'string' || customId.length === 0) {
    return fail(lineNo, 'missing_custom_id', `Line ${lineNo} needs a non-empty string custom_id.`, 'custom_id');
  }
  if (method !== 'POST') return fail(lineNo, 'invalid_method', `Line ${lineNo}: method must be "POST".`, 'method');
  if (url !== ctx.endpoint) {
    return fail(lineNo, 'invalid_url', `Line ${lineNo}: url must be "${ctx.endpoint}", the batch endpoint.`, 'url');
  }
  if (!isObject(body)) return fail(lineNo, 'invalid_body', `Line ${lineNo}: body must be a JSON object.`, 'body');
  const model = body.model === undefined ? ctx.defaultModel : body.model;
  if (typeof model !== 'string' || model.length === 0) {
    return fail(lineNo, 'missing_model', `Line ${lineNo}: body.model is missing and the batch names no model.`, 'body.model');
  }
  return { ok: true, line: { customId, model, body: { ...body, model } } };
}
