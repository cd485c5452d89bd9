import type { BatchError } from '../store/batches';
import { appendMember, member, memberText } from '../jsonText';
import { isStorableText } from '../text';
import { checkBody, isBatchEndpoint } from '../domain/endpoints';

/** A request that passed validation: its custom_id, and the model it runs with (its own, or the default). */
export type ValidatedRequest = { customId: string; model: string; namesModel: boolean };
export type RequestVerdict = { ok: true; line: ValidatedRequest } | { ok: false; error: BatchError };

/**
 * A line that passed validation, with its body as written in the line, the model appended when it
 * named none: the text vLLM is sent, byte for byte (a parse and re-serialisation would lose digits of
 * big integers and turn `1.0` into `1`).
 */
export type ValidatedLine = ValidatedRequest & { bodyText: string };
export type LineVerdict = { ok: true; line: ValidatedLine } | { ok: false; error: BatchError };

export type LineContext = {
  endpoint: string;
  /** Model for lines whose body names none (batch `metadata.model`, top-level `model`, or DEFAULT_MODEL). */
  defaultModel: string | undefined;
};

const utf8 = new TextDecoder('utf-8', { fatal: true });

const fail = (lineNo: number, code: string, message: string, param: string | null = null): { ok: false; error: BatchError } => ({
  ok: false,
  error: { code, message, param, line: lineNo },
});

/**
 * Deepest nesting a body may have. JSON.parse takes any depth, but writing the body back out
 * (JSON.stringify, to store it and to send it) recurses and overflows the stack near 10,000 levels;
 * no real request nests a hundredth of this.
 */
export const MAX_BODY_DEPTH = 512;

/** Whether `value` nests deeper than `limit` (objects and arrays), walked without recursion. */
export function nestsDeeperThan(value: unknown, limit: number): boolean {
  const pending: Array<[unknown, number]> = [[value, 1]];
  for (let next = pending.pop(); next; next = pending.pop()) {
    const [current, depth] = next;
    if (typeof current !== 'object' || current === null) continue;
    if (depth > limit) return true;
    for (const item of Object.values(current)) pending.push([item, depth + 1]);
  }
  return false;
}

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * Checks one input line on its own: encoding, JSON, shape, endpoint, the endpoint's body fields and model presence.
 * Cross-line rules (duplicates, one model per batch, served models) belong to the caller.
 */
export function validateLine(bytes: Buffer, lineNo: number, ctx: LineContext): LineVerdict {
  const subject = `Line ${lineNo}`;
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch {
    return fail(lineNo, 'invalid_encoding', `${subject} is not valid UTF-8.`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return fail(lineNo, 'invalid_json_line', `${subject} is not valid JSON.`);
  }
  const verdict = validateRequest(parsed, lineNo, ctx, subject);
  if (!verdict.ok) return verdict;
  const written = memberText(text, 'body')!;
  const bodyText = verdict.line.namesModel ? written : appendMember(written, member('model', verdict.line.model));
  return { ok: true, line: { ...verdict.line, bodyText } };
}

/**
 * The rules of `validateLine` for a request already parsed: a line of a file, or an item enqueued
 * (stream-to-batch), which `subject` names in messages.
 */
export function validateRequest(parsed: unknown, lineNo: number, ctx: LineContext, subject: string): RequestVerdict {
  if (!isObject(parsed)) return fail(lineNo, 'invalid_request', `${subject} must be a JSON object.`);
  const { custom_id: customId, method, url, body } = parsed;
  if (typeof customId !== 'string' || customId.length === 0) {
    return fail(lineNo, 'missing_custom_id', `${subject} needs a non-empty string custom_id.`, 'custom_id');
  }
  // A custom_id is how a client matches results to requests: one that cannot come back exactly as
  // sent is refused. Bodies are not checked: they are stored as JSON text and reach vLLM unaltered.
  if (!isStorableText(customId)) {
    return fail(lineNo, 'invalid_custom_id', `${subject}: custom_id must not contain NUL (\\u0000) or unpaired surrogate characters.`, 'custom_id');
  }
  if (method !== 'POST') return fail(lineNo, 'invalid_method', `${subject}: method must be "POST".`, 'method');
  if (url !== ctx.endpoint) {
    return fail(lineNo, 'invalid_url', `${subject}: url must be "${ctx.endpoint}", the batch endpoint.`, 'url');
  }
  if (!isObject(body)) return fail(lineNo, 'invalid_body', `${subject}: body must be a JSON object.`, 'body');
  if (nestsDeeperThan(body, MAX_BODY_DEPTH)) {
    return fail(lineNo, 'invalid_body', `${subject}: body nests deeper than ${MAX_BODY_DEPTH} levels.`, 'body');
  }
  // A batch stores one JSON response per line; a server-sent event stream is not one.
  if (body.stream !== undefined && body.stream !== null && body.stream !== false) {
    return fail(lineNo, 'invalid_body', `${subject}: body.stream must be false or absent: batch requests cannot stream.`, 'body.stream');
  }
  const ownModel = body.model;
  if (ownModel !== undefined && !(typeof ownModel === 'string' && ownModel.length > 0 && isStorableText(ownModel))) {
    return fail(lineNo, 'invalid_body', `${subject}: body.model must be a non-empty string without NUL or unpaired surrogates.`, 'body.model');
  }
  // The endpoint's own fields (messages, prompt, input, query + documents, text_1 + text_2).
  const problem = isBatchEndpoint(ctx.endpoint) ? checkBody(ctx.endpoint, body) : undefined;
  if (problem) return fail(lineNo, 'invalid_body', `${subject}: ${problem.message} for ${ctx.endpoint}.`, problem.param);
  const model = ownModel ?? ctx.defaultModel;
  if (model === undefined) {
    return fail(lineNo, 'missing_model', `${subject}: body.model is missing and no default model applies.`, 'body.model');
  }
  return { ok: true, line: { customId, model, namesModel: ownModel !== undefined } };
}

/** Lines over this are refused during validation; far above any real prompt, far below memory trouble. */
export const MAX_LINE_BYTES = 8 * 1024 * 1024;
