import zlib from 'node:zlib';
import fc from 'fast-check';
import { OPERATIONS } from '../../src/api/operations';
import { requestHead } from './rawHttp';

/**
 * Generators (fast-check arbitraries) of what a careless or hostile client sends: strings that
 * break parsers, databases and paths; JSON nested thousands deep; random bytes; malformed and
 * truncated multipart; JSONL input files mixing valid and invalid lines; whole API requests.
 * The fuzz suite (test/integration/fuzz.test.ts) throws them at a real service.
 */

// ---------------------------------------------------------------------------------------------
// Run parameters

function envInt(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw.trim() === '') return fallback;
  const value = Number(raw);
  if (!Number.isSafeInteger(value) || value < 0) throw new Error(`${name} must be a non-negative integer, got '${raw}'`);
  return value;
}

/** Fixed unless FUZZ_SEED says otherwise, so CI runs the same cases every time and a failure replays. */
export const FUZZ_SEED = envInt('FUZZ_SEED', 1414);
/** The number of generated API requests; the other properties run a fixed share of it. */
export const FUZZ_RUNS = envInt('FUZZ_RUNS', 2000);

/** `fc.assert` parameters for a property that runs `share` of FUZZ_RUNS (at least once). */
export const fuzzParameters = (share: number) => ({ seed: FUZZ_SEED, numRuns: Math.max(1, Math.round(FUZZ_RUNS * share)) });

// ---------------------------------------------------------------------------------------------
// Hostile text

/** Pieces that have broken something somewhere: NUL, lone surrogates, bidi marks, prototype keys, escapes. */
// One kind a line (prettier-ignore: prettier would put each piece on its own).
// prettier-ignore
export const HOSTILE_FRAGMENTS = [
  '\u0000', '\ud800', '\udc00', '\udfff\ud800', '\udbff\udfff', '\u202e', '\u200f', '\u200b', '\ufeff', '\ufffd', '\u2028', '\u0085',
  '\r\n', '\r', '\n', '\t', '\u001b[31m', '\u007f',
  '__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty',
  '%00', '%', '%2', '%zz', '%E0%A4%A', '%ED%A0%80', '%C0%AF', '%2e%2e%2f', '%25', '%0d%0a', '%FF',
  '../', '..\\', '/', '\\', '?', '#', '&', '=', ';', ',', '+', '*', ' ', '',
  '"', "'", '`', '<', '>', '{', '}', '[', ']', '${x}', '{{x}}', "' OR 1=1 --", '\\u0000', '\\ud800', '\\',
  '😀', '👩‍👩‍👧', 'é', 'e\u0301', 'ß', 'İ', '𝕏', '\uff0f', 'ﷺ',
  'null', 'undefined', 'NaN', '-0', '1e309', '0x10', '99999999999999999999999',
  'batch_', 'file-', 'whd_', 'sk-', 'Bearer ', 'whsec_', 'whsec_!!',
];

/** `value` once in `1 + rest` times, else null: for a defect that should be rare. */
export const rarely = <T>(value: fc.Arbitrary<T>, rest = 4): fc.Arbitrary<T | null> =>
  fc.oneof({ weight: rest, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: value });

/** Any UTF-16 code unit, lone surrogates included (fast-check's 'binary' unit leaves those out). */
const codeUnit = fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c));

/** One unit repeated into a long string: kilobytes of NUL, emoji or `%`. */
const longString = fc.tuple(fc.constantFrom('a', '\u0000', '😀', '%', '\ud800', ' ', '\u202e'), fc.integer({ min: 256, max: 70_000 })).map(([unit, n]) => unit.repeat(n));

/** Text no parameter should trust: fragments above alone or mixed with any graphemes, any code units, kilobytes of one. */
export const hostileString: fc.Arbitrary<string> = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...HOSTILE_FRAGMENTS) },
  {
    weight: 4,
    arbitrary: fc
      .array(fc.oneof(fc.constantFrom(...HOSTILE_FRAGMENTS), fc.string({ unit: 'grapheme', maxLength: 4 })), { maxLength: 8 })
      .map((pieces) => pieces.join('')),
  },
  { weight: 2, arbitrary: fc.string({ unit: codeUnit, maxLength: 40 }) },
  { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 40 }) },
  { weight: 1, arbitrary: longString },
);

/** Hostile text that is not an http(s) URL, for URL fields whose valid values are generated separately. */
export const hostileNonUrl = hostileString.filter((s) => !isHttpUrl(s));

function isHttpUrl(text: string): boolean {
  try {
    return ['http:', 'https:'].includes(new URL(text).protocol);
  } catch {
    return false;
  }
}

/**
 * Percent-encodes every byte but the unreserved ones. A lone surrogate has no UTF-8 form: it is
 * written as its generalised UTF-8 (WTF-8) bytes, which a strict decoder must refuse.
 */
export function percentEncode(text: string): string {
  let out = '';
  for (const char of text) {
    if (/^[A-Za-z0-9\-._~]$/.test(char)) {
      out += char;
      continue;
    }
    const code = char.codePointAt(0)!;
    const bytes = code >= 0xd800 && code <= 0xdfff ? [0xe0 | (code >> 12), 0x80 | ((code >> 6) & 0x3f), 0x80 | (code & 0x3f)] : [...Buffer.from(char, 'utf8')];
    for (const byte of bytes) out += `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/** Text a header value can carry through `fetch` (a ByteString without CR, LF or NUL). */
export const headerSafe = (text: string) => text.replace(/[^\t\x20-\x7e\x80-\xff]/g, '');

/** An object with exactly these own keys, `__proto__` included (an object literal would set the prototype instead). */
export function objectOf(entries: Array<[string, unknown]>): Record<string, unknown> {
  const object: Record<string, unknown> = {};
  for (const [key, value] of entries) Object.defineProperty(object, key, { value, enumerable: true, writable: true, configurable: true });
  return object;
}

// ---------------------------------------------------------------------------------------------
// JSON and bytes

/** JSON text nested up to 200,000 levels (arrays, objects or both), closed or left open. */
export const deepJsonText: fc.Arbitrary<string> = fc
  .record({
    depth: fc.oneof(fc.integer({ min: 1, max: 100 }), fc.integer({ min: 1000, max: 200_000 })),
    shape: fc.constantFrom('array', 'object', 'mixed'),
    closed: fc.boolean(),
  })
  .map(({ depth, shape, closed }) => {
    const [open, close] = shape === 'array' ? ['[', ']'] : shape === 'object' ? ['{"a":', '}'] : ['[{"a":', '}]'];
    return open.repeat(depth) + (shape === 'array' ? '' : '1') + (closed ? close.repeat(depth) : '');
  });

/** A JSON value nested `depth` deep, as text: valid JSON whose parse is cheap but whose re-serialisation recurses. */
const nestedArrays = (depth: number) => '['.repeat(depth) + ']'.repeat(depth);

export const randomBytes = (maxLength = 4096) => fc.uint8Array({ maxLength }).map((bytes) => Buffer.from(bytes));

/** Any JSON value; its strings and keys may hold any UTF-16 code unit, lone surrogates included. */
export const anyJson: fc.Arbitrary<unknown> = fc.jsonValue({ maxDepth: 4, stringUnit: codeUnit });

// ---------------------------------------------------------------------------------------------
// Request bodies in odd encodings

/** A body as sent: its bytes, and the headers that say how to read them. */
export type EncodedBody = { bytes: Buffer; contentType: string | undefined; contentEncoding?: string };

const JSON_ENCODINGS = [
  'utf-8',
  'utf-8',
  'utf-8',
  'utf-8',
  'charset=utf-8',
  'bom',
  'utf-16le',
  'latin1',
  'bogus-charset',
  'gzip',
  'deflate',
  'br',
  'not-really-gzip',
  'unknown-encoding',
  'gzip-bomb',
  'no-content-type',
] as const;

/** JSON text as a client might send it: plain, with a BOM, in another charset, compressed, or lying about it. */
export function encodeJson(text: string, how: (typeof JSON_ENCODINGS)[number]): EncodedBody {
  const utf8 = Buffer.from(text, 'utf8');
  const json = 'application/json';
  switch (how) {
    case 'utf-8':
      return { bytes: utf8, contentType: json };
    case 'charset=utf-8':
      return { bytes: utf8, contentType: `${json}; charset=utf-8` };
    case 'bom':
      return { bytes: Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), utf8]), contentType: json };
    case 'utf-16le':
      return { bytes: Buffer.from(text, 'utf16le'), contentType: `${json}; charset=utf-16le` };
    case 'latin1':
      return { bytes: Buffer.from(text, 'latin1'), contentType: `${json}; charset=latin1` };
    case 'bogus-charset':
      return { bytes: utf8, contentType: `${json}; charset=x-no-such-charset` };
    case 'gzip':
      return { bytes: zlib.gzipSync(utf8), contentType: json, contentEncoding: 'gzip' };
    case 'deflate':
      return { bytes: zlib.deflateSync(utf8), contentType: json, contentEncoding: 'deflate' };
    case 'br':
      return { bytes: zlib.brotliCompressSync(utf8), contentType: json, contentEncoding: 'br' };
    case 'not-really-gzip':
      return { bytes: utf8, contentType: json, contentEncoding: 'gzip' };
    case 'unknown-encoding':
      return { bytes: utf8, contentType: json, contentEncoding: 'x-squash' };
    case 'gzip-bomb':
      // A few kilobytes that inflate past the JSON limit.
      return { bytes: zlib.gzipSync(Buffer.concat([Buffer.alloc(2 * 1024 * 1024, 0x20), utf8])), contentType: json, contentEncoding: 'gzip' };
    case 'no-content-type':
      return { bytes: utf8, contentType: undefined };
  }
}

export const jsonEncoding = fc.constantFrom(...JSON_ENCODINGS);

export const CONTENT_TYPES = [
  'application/json',
  'application/json; charset=utf-8',
  'text/plain',
  'text/html',
  'application/xml',
  'application/octet-stream',
  'application/x-www-form-urlencoded',
  'multipart/form-data',
  'multipart/form-data; boundary=',
  'multipart/mixed; boundary=x',
  'application/jsonl',
  'application/x-ndjson',
  'application/jsonl; charset=utf-16',
  '*/*',
  'application/*',
  ';',
  'application/json;;;',
  'application/json; charset="',
  'APPLICATION/JSON',
  'application/merge-patch+json',
  'application/vnd.api+json',
];

/** A Content-Type header value: a real one, a malformed one, or hostile text. */
export const contentType: fc.Arbitrary<string> = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...CONTENT_TYPES) },
  { weight: 1, arbitrary: hostileString.map(headerSafe) },
);

// ---------------------------------------------------------------------------------------------
// Multipart bodies

type Part = { headers: string[]; content: Buffer };

/** A boundary: the usual, any valid one, an overlong one, or one with characters that need quoting or are not allowed. */
const boundary = fc.oneof(
  { weight: 8, arbitrary: fc.constant('----fuzzBoundary7MA4YWxkTrZu0gW') },
  { weight: 3, arbitrary: fc.stringMatching(/^[0-9A-Za-z'()+_,\-./:=?]{1,70}$/) },
  { weight: 1, arbitrary: fc.integer({ min: 71, max: 400 }).map((n) => 'b'.repeat(n)) },
  { weight: 1, arbitrary: fc.constantFrom('with space', 'quote"d', 'semi;colon', 'ünïcode', '') },
);

/** Content-Disposition of a part: well-formed, RFC 5987-encoded, or broken. */
const disposition = (name: string, plainWeight = 4): fc.Arbitrary<string> =>
  fc.oneof(
    { weight: plainWeight, arbitrary: fc.constant(`form-data; name="${name}"`) },
    { weight: 3, arbitrary: hostileString.map((f) => `form-data; name="${name}"; filename="${f.replace(/["\r\n]/g, '')}"`) },
    { weight: 1, arbitrary: hostileString.map((f) => `form-data; name="${name}"; filename*=UTF-8''${percentEncode(f)}`) },
    {
      weight: 1,
      arbitrary: fc.constantFrom(
        `form-data; name=${name}`,
        `form-data; name="${name}`,
        'form-data',
        'attachment',
        `form-data; name="${name}"; filename*=UTF-8''%ED%A0%80`,
        '',
      ),
    },
  );

/** The `file` part, whose content is a JSONL input file (sometimes over the limit) or random bytes. */
const filePart = (file: fc.Arbitrary<Buffer>): fc.Arbitrary<Part> =>
  fc
    .record({
      disposition: disposition('file').map((d) => (d.includes('filename') ? d : `${d}; filename="input.jsonl"`)),
      type: fc.constantFrom('application/jsonl', 'application/octet-stream', 'text/plain; charset=utf-16', ''),
      content: fc.oneof(
        { weight: 4, arbitrary: file },
        { weight: 1, arbitrary: randomBytes() },
        { weight: 1, arbitrary: fc.integer({ min: 60_000, max: 140_000 }).map((n) => Buffer.alloc(n, 0x61)) },
      ),
    })
    .map(({ disposition, type, content }) => ({
      headers: [`Content-Disposition: ${disposition}`, ...(type ? [`Content-Type: ${type}`] : [])],
      content,
    }));

const purposePart: fc.Arbitrary<Part> = fc
  .record({
    disposition: disposition('purpose', 20),
    value: fc.oneof(
      { weight: 4, arbitrary: fc.constant('batch') },
      { weight: 1, arbitrary: fc.constantFrom('batch_output', 'fine-tune', '') },
      { weight: 1, arbitrary: hostileString },
    ),
  })
  .map(({ disposition, value }) => ({ headers: [`Content-Disposition: ${disposition}`], content: Buffer.from(value, 'utf8') }));

/** Parts that do not belong: unknown fields, headers without a colon, kilobytes-long header lines. */
const oddPart: fc.Arbitrary<Part> = fc.oneof<fc.Arbitrary<Part>[]>(
  hostileString.map((name) => ({ headers: [`Content-Disposition: form-data; name="${name.replace(/["\r\n]/g, '')}"`], content: Buffer.from('x') })),
  fc.constant({ headers: ['NoColonHere'], content: Buffer.from('x') }),
  fc.constant({ headers: [], content: Buffer.from('no headers at all') }),
  fc
    .integer({ min: 1000, max: 200_000 })
    .map((n) => ({ headers: [`X-Padding: ${'a'.repeat(n)}`, 'Content-Disposition: form-data; name="pad"'], content: Buffer.from('x') })),
  fc.constant({ headers: ['Content-Disposition: form-data; name="purpose"', 'Content-Transfer-Encoding: base64'], content: Buffer.from('YmF0Y2g=') }),
);

export type MultipartBody = { contentType: string; body: Buffer };

/**
 * A multipart upload body and its Content-Type: sometimes well-formed, often not — parts missing,
 * duplicated or reordered, bare LF line ends, no closing boundary, a mismatched or missing boundary
 * parameter, cut short at a random byte.
 */
export const multipartBody = (file: fc.Arbitrary<Buffer>): fc.Arbitrary<MultipartBody> =>
  fc
    .record({
      boundary,
      parts: fc.oneof(
        { weight: 6, arbitrary: fc.tuple(purposePart, filePart(file)).map((p) => [...p]) },
        { weight: 2, arbitrary: fc.tuple(filePart(file), purposePart).map((p) => [...p]) },
        { weight: 3, arbitrary: fc.array(fc.oneof(purposePart, filePart(file), oddPart), { maxLength: 6 }) },
        { weight: 1, arbitrary: fc.array(purposePart, { minLength: 21, maxLength: 30 }) },
      ),
      // Each defect is rare on its own, so that about a third of the bodies are well-formed.
      newline: fc.oneof({ weight: 12, arbitrary: fc.constant('\r\n') }, { weight: 1, arbitrary: fc.constant('\n') }),
      preamble: fc.oneof({ weight: 6, arbitrary: fc.constant('') }, { weight: 1, arbitrary: fc.constant('preamble junk\r\n') }),
      closing: fc.oneof({ weight: 12, arbitrary: fc.constantFrom('--\r\n', '--') }, { weight: 2, arbitrary: fc.constantFrom('', '-', 'garbage') }),
      typeHeader: fc.oneof(
        { weight: 12, arbitrary: fc.constantFrom('quoted', 'plain') },
        { weight: 2, arbitrary: fc.constantFrom('none', 'empty', 'mismatched', 'mixed', 'extra-params') },
      ),
      cut: rarely(fc.double({ min: 0, max: 1, noNaN: true }), 6),
    })
    .map(({ boundary, parts, newline, preamble, closing, typeHeader, cut }) => {
      const chunks: Buffer[] = [Buffer.from(preamble)];
      for (const part of parts) {
        chunks.push(Buffer.from(`--${boundary}${newline}${part.headers.map((h) => h + newline).join('')}${newline}`), part.content, Buffer.from(newline));
      }
      chunks.push(Buffer.from(`--${boundary}${closing}`));
      let body = Buffer.concat(chunks);
      if (cut !== null) body = body.subarray(0, Math.floor(body.length * cut));
      const contentType = {
        quoted: `multipart/form-data; boundary="${boundary}"`,
        plain: `multipart/form-data; boundary=${boundary}`,
        none: 'multipart/form-data',
        empty: 'multipart/form-data; boundary=',
        mismatched: 'multipart/form-data; boundary=not-the-one-used',
        mixed: `multipart/mixed; boundary=${boundary}`,
        'extra-params': `multipart/form-data; charset=utf-8; boundary=${boundary}; boundary=again`,
      }[typeHeader];
      return { contentType: headerSafe(contentType), body };
    });

// ---------------------------------------------------------------------------------------------
// JSONL input files

/** Builds a line's JSON text with its fields in order, `body` given as JSON text (it may be nested deeper than JSON.stringify can go). */
const lineText = (fields: Record<string, unknown>, bodyText: string) => {
  const head = JSON.stringify(fields);
  return `${head.slice(0, -1)}${head.length > 2 ? ',' : ''}"body":${bodyText}}`;
};

type LineContext = { index: number; model: string };
type Weighted = fc.WeightedArbitrary<Buffer>;

/** Input lines, as bytes: the valid ones (however odd), and the ones broken in a way clients break them. */
function inputLines(ctx: LineContext): { valid: Weighted[]; invalid: Weighted[] } {
  const customId = `c${ctx.index}`;
  const chat = (content: unknown, extra: Record<string, unknown> = {}) =>
    JSON.stringify({ model: ctx.model, messages: [{ role: 'user', content }], max_tokens: 4, ...extra });
  const envelope = { custom_id: customId, method: 'POST', url: '/v1/chat/completions' };
  const text = (t: fc.Arbitrary<string>) => t.map((s) => Buffer.from(s, 'utf8'));
  const valid: Weighted[] = [
    // Hostile prompt text (NUL and lone surrogates included) and hostile extra fields reach the backend as sent.
    { weight: 12, arbitrary: text(hostileString.map((content) => lineText(envelope, chat(content)))) },
    {
      weight: 2,
      arbitrary: text(
        fc.tuple(hostileString, anyJson).map(([key, value]) =>
          lineText(
            envelope,
            JSON.stringify(
              objectOf([
                ['model', ctx.model],
                ['messages', [{ role: 'user', content: 'x' }]],
                ['max_tokens', 4],
                [key, value],
              ]),
            ),
          ),
        ),
      ),
    },
    // Valid JSON nested deep inside an otherwise valid body.
    {
      weight: 2,
      arbitrary: text(
        fc
          .oneof(fc.integer({ min: 1, max: 200 }), fc.integer({ min: 1000, max: 20_000 }))
          .map((depth) => lineText(envelope, `${chat('deep').slice(0, -1)},"nested":${nestedArrays(depth)}}`)),
      ),
    },
    // Numbers beyond a double (PostgreSQL may refuse some: the batch then fails, saying why) and very long keys.
    {
      weight: 1,
      arbitrary: text(
        fc
          .constantFrom('1e400', '-1e400', '1e-400', '-0', '123456789012345678901234567890123456789012', '1e1000000', `0.${'1'.repeat(20_000)}`)
          .map((n) => lineText(envelope, `${chat('huge').slice(0, -1)},"temperature":${n}}`)),
      ),
    },
    {
      weight: 1,
      arbitrary: text(fc.integer({ min: 256, max: 30_000 }).map((length) => lineText(envelope, `${chat('long key').slice(0, -1)},"${'k'.repeat(length)}":1}`))),
    },
    // Blank lines are skipped (but counted).
    { weight: 1, arbitrary: fc.constantFrom('', '   ', '\t', ' \t ').map((blank) => Buffer.from(blank)) },
  ];
  const invalid: Weighted[] = [
    // A custom_id: hostile (NUL, surrogates: refused), missing, empty, not a string, or duplicated.
    { weight: 2, arbitrary: text(hostileString.map((suffix) => lineText({ ...envelope, custom_id: `${customId}${suffix}` }, chat('x')))) },
    { weight: 1, arbitrary: text(fc.constantFrom(undefined, '', 5, null, ['a'], { id: 1 }, 'c0').map((id) => lineText({ ...envelope, custom_id: id }, chat('x')))) },
    // Wrong method or url.
    { weight: 1, arbitrary: text(fc.oneof(fc.constantFrom('GET', 'post', '', null), hostileString).map((method) => lineText({ ...envelope, method }, chat('x')))) },
    {
      weight: 1,
      arbitrary: text(
        fc
          .oneof(fc.constantFrom('/v1/completions', '/v1/embeddings', '/v1/chat/completions/', 'v1/chat/completions', null), hostileString)
          .map((url) => lineText({ ...envelope, url }, chat('x'))),
      ),
    },
    // A body that is not an object, or asks to stream, or names a bad model.
    { weight: 1, arbitrary: text(fc.constantFrom('"hello"', '[1,2]', '5', 'null', 'true', '""').map((body) => lineText(envelope, body))) },
    { weight: 1, arbitrary: text(fc.constantFrom(true, 'true', 1, {}, [], 'yes').map((stream) => lineText(envelope, chat('x', { stream })))) },
    {
      weight: 1,
      arbitrary: text(
        fc
          .oneof(hostileString, fc.constantFrom('', 'no-such-model'))
          .map((model) => lineText(envelope, JSON.stringify({ model, messages: [{ role: 'user', content: 'x' }] }))),
      ),
    },
    { weight: 1, arbitrary: fc.constant(Buffer.from(lineText(envelope, JSON.stringify({ model: 42, messages: [] })))) },
    // Not JSON: cut short, not JSON at all, a raw control character inside a string, a top-level non-object.
    {
      weight: 1,
      arbitrary: text(
        fc.double({ min: 0, max: 1, noNaN: true }).map((cut) => {
          const l = lineText(envelope, chat('x'));
          return l.slice(0, Math.floor(l.length * cut));
        }),
      ),
    },
    { weight: 1, arbitrary: text(fc.constantFrom('{', 'nope', '{"custom_id": "c",', '[]', '"str"', '{}', 'null', '{"custom_id":"a\u0000b"}', '\u0000')) },
    // Invalid UTF-8 inside a string value.
    {
      weight: 1,
      arbitrary: fc
        .constantFrom([0xff, 0xfe], [0xc0, 0xaf], [0xed, 0xa0, 0x80], [0x80])
        .map((bad) => Buffer.concat([Buffer.from(`{"custom_id":"${customId}","x":"`), Buffer.from(bad), Buffer.from('"}')])),
    },
  ];
  return { valid, invalid };
}

/**
 * An input file: one in 13 is random bytes; the others are JSONL of up to 24 lines, line endings LF or
 * CRLF, maybe a BOM or no final newline, two in five with only valid lines (so that batches run, not
 * only fail validation), the others mixing in broken ones.
 */
export const inputFile = (model: string): fc.Arbitrary<Buffer> => fc.oneof({ weight: 12, arbitrary: jsonlFile(model) }, { weight: 1, arbitrary: randomFile });

/** Not JSONL at all. */
const randomFile = fc.uint8Array({ minLength: 1, maxLength: 8192 }).map((bytes) => Buffer.from(bytes));

const jsonlFile = (model: string): fc.Arbitrary<Buffer> =>
  fc
    .record({ count: fc.integer({ min: 0, max: 24 }), onlyValid: fc.oneof({ weight: 2, arbitrary: fc.constant(true) }, { weight: 3, arbitrary: fc.constant(false) }) })
    .chain(({ count, onlyValid }) =>
      fc.record({
        lines: fc.tuple(
          ...Array.from({ length: count }, (_, index) => {
            const { valid, invalid } = inputLines({ index, model });
            return fc.oneof(...valid, ...(onlyValid ? [] : invalid));
          }),
        ),
        newline: fc.constantFrom('\n', '\n', '\r\n'),
        bom: onlyValid ? fc.constant(false) : fc.boolean(),
        finalNewline: fc.constantFrom(true, true, false),
      }),
    )
    .map(({ lines, newline, bom, finalNewline }) => {
      const separator = Buffer.from(newline);
      const parts: Buffer[] = bom ? [Buffer.from([0xef, 0xbb, 0xbf])] : [];
      lines.forEach((line, i) => parts.push(line, ...(i < lines.length - 1 || finalNewline ? [separator] : [])));
      return Buffer.concat(parts);
    });

/** The custom_ids of a file the server accepted as valid JSONL, read as the server reads it (blank lines skipped). */
export function customIdsOf(file: Buffer): string[] {
  const text = file.toString('utf8').replace(/^\ufeff/, '');
  return text
    .split('\n')
    .map((line) => line.replace(/\r$/, ''))
    .filter((line) => !/^[ \t]*$/.test(line))
    .map((line) => (JSON.parse(line) as { custom_id: string }).custom_id);
}

// ---------------------------------------------------------------------------------------------
// Batch create bodies

export type BatchBodyContext = { inputFileId: string; model: string; webhookUrl: (path: string) => string };

/** A webhook URL: the test's receiver with a hostile path or query, or something that is no acceptable URL. */
const webhookUrl = (ctx: BatchBodyContext): fc.Arbitrary<unknown> =>
  fc.oneof(
    { weight: 3, arbitrary: hostileString.map((path) => ctx.webhookUrl(`/${percentEncode(path)}`)) },
    {
      weight: 2,
      arbitrary: hostileString
        .map((query) => ctx.webhookUrl(`/hook?q=${query}`))
        .filter((url) => isHttpUrl(url) && new URL(url).host === new URL(ctx.webhookUrl('/')).host),
    },
    { weight: 3, arbitrary: hostileNonUrl },
    {
      weight: 2,
      arbitrary: fc.constantFrom(
        'ftp://example.invalid/x',
        'javascript:alert(1)',
        'file:///etc/passwd',
        'http://',
        'https://[::1',
        'http://user:pw@example.invalid/',
        ctx.webhookUrl('/').replace('http://', 'http://user:secret@'),
        ctx.webhookUrl(`/${'a'.repeat(3000)}`),
        '',
        5,
        null,
        ['http://x'],
        { url: 'x' },
      ),
    },
  );

const EVENTS = ['batch.completed', 'batch.failed', 'batch.cancelled', 'batch.expired', 'batch.in_progress'];

/** A value for a field expecting something valid: mostly `valid`, sometimes hostile text, sometimes the wrong JSON type. */
const mostly = <T>(valid: fc.Arbitrary<T>, weight = 6): fc.Arbitrary<unknown> =>
  fc.oneof({ weight, arbitrary: valid }, { weight: 1, arbitrary: hostileString }, { weight: 1, arbitrary: fc.constantFrom(null, 0, -1, true, [], {}, ['x'], 1e308) });

/** Hostile text a parameter may hold (no NUL, no lone surrogate, not `__proto__`), at most `max` long. */
const storableString = (max: number) => hostileString.map((s) => s.slice(0, max)).filter((s) => !s.includes('\u0000') && s.isWellFormed() && s !== '__proto__');

/** POST /v1/batches bodies the API must accept: every field valid, as odd as the schema allows. */
const validBatchBody = (ctx: BatchBodyContext): fc.Arbitrary<Record<string, unknown>> =>
  fc.record(
    {
      input_file_id: fc.constant(ctx.inputFileId),
      endpoint: fc.constantFrom('/v1/chat/completions', '/v1/chat/completions', '/v1/chat/completions', '/v1/completions', '/v1/embeddings'),
      completion_window: fc.oneof(
        fc.constant('24h'),
        fc.tuple(fc.constantFrom(['s', 2_592_000], ['m', 43_200], ['h', 720], ['d', 30] as const), fc.nat()).map(([[unit, max], n]) => `${(n % max) + 1}${unit}`),
      ),
      model: fc.constant(ctx.model),
      metadata: fc.dictionary(storableString(64), storableString(512), { maxKeys: 16 }).map((m) => objectOf(Object.entries(m))),
      webhook: fc.record(
        {
          url: storableString(200).map((path) => ctx.webhookUrl(`/${percentEncode(path)}`)),
          secret: fc.constantFrom('s3cret', 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', '😀'),
          events: fc.subarray(EVENTS, { minLength: 1 }),
        },
        { requiredKeys: ['url'] },
      ),
    },
    { requiredKeys: ['input_file_id'] },
  );

/** POST /v1/batches bodies: two in five valid; the others with each field valid, missing, hostile or mistyped, independently. */
export const batchCreateBody = (ctx: BatchBodyContext): fc.Arbitrary<Record<string, unknown>> =>
  fc.oneof({ weight: 2, arbitrary: validBatchBody(ctx) }, { weight: 3, arbitrary: anyBatchBody(ctx) });

const anyBatchBody = (ctx: BatchBodyContext): fc.Arbitrary<Record<string, unknown>> =>
  fc
    .record(
      {
        input_file_id: mostly(fc.constant(ctx.inputFileId), 10),
        endpoint: mostly(fc.constantFrom('/v1/chat/completions', '/v1/chat/completions', '/v1/completions', '/v1/embeddings', '/v1/responses', 'v1/chat/completions')),
        completion_window: mostly(
          fc.oneof(
            fc.constantFrom('24h', '24h', '24h', '30d', '31d', '720h', '0s', '1s', '24H', '24h ', '9999999d'),
            fc.tuple(fc.integer({ min: 1, max: 99_999_999 }), fc.constantFrom('s', 'm', 'h', 'd')).map(([n, u]) => `${n}${u}`),
          ),
        ),
        metadata: fc.oneof(
          { weight: 3, arbitrary: fc.dictionary(fc.string({ maxLength: 8 }), fc.string({ maxLength: 16 }), { maxKeys: 4 }) },
          { weight: 2, arbitrary: fc.array(fc.tuple(hostileString, hostileString), { maxLength: 20 }).map(objectOf) },
          { weight: 1, arbitrary: fc.tuple(fc.constantFrom('webhook_url', 'model'), webhookUrl(ctx)).map((entry) => objectOf([entry])) },
          { weight: 1, arbitrary: fc.constantFrom(null, 'meta', [], 7, { nested: { deep: 'x' } }, { k: 5 }) },
          { weight: 1, arbitrary: fc.integer({ min: 65, max: 600 }).map((n) => ({ ['k'.repeat(n)]: 'v'.repeat(n) })) },
        ),
        model: mostly(fc.constantFrom(ctx.model, 'no-such-model', '')),
        webhook: fc.oneof(
          {
            weight: 3,
            arbitrary: fc
              .tuple(
                fc.record(
                  {
                    url: webhookUrl(ctx),
                    secret: mostly(fc.constantFrom('s3cret', 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', 'whsec_', 'x'.repeat(300))),
                    events: mostly(fc.oneof(fc.subarray(EVENTS), fc.array(fc.oneof(fc.constantFrom(...EVENTS), hostileString), { maxLength: 4 }))),
                  },
                  { requiredKeys: ['url'] },
                ),
                rarely(hostileString),
              )
              // An unknown key is refused: the schema is strict.
              .map(([webhook, extra]) => objectOf([...Object.entries(webhook), ...(extra === null ? [] : [[extra, 1] as [string, unknown]])])),
          },
          { weight: 1, arbitrary: fc.constantFrom(null, 'https://example.invalid/', [], 1, {}) },
        ),
        extra: fc.tuple(hostileString, anyJson),
      },
      { requiredKeys: ['input_file_id'] },
    )
    .map(({ extra, ...fields }) => objectOf([...Object.entries(fields), ...(extra ? [extra] : [])]));

// ---------------------------------------------------------------------------------------------
// Stream-to-batch bodies

/** One enqueued item, of every shape the README lists, valid or not. */
const enqueueItem = (model: string): fc.Arbitrary<unknown> =>
  fc.oneof(
    { weight: 3, arbitrary: fc.array(fc.record({ role: mostly(fc.constantFrom('user', 'system')), content: mostly(hostileString) }), { maxLength: 3 }) },
    { weight: 3, arbitrary: hostileString },
    {
      weight: 2,
      arbitrary: fc.record(
        { messages: mostly(fc.constant([{ role: 'user', content: 'hi' }])), model: mostly(fc.constantFrom(model, 'no-such-model')), stream: rarely(anyJson) },
        { requiredKeys: [] },
      ),
    },
    {
      weight: 3,
      arbitrary: fc
        .record(
          {
            custom_id: mostly(storableString(64)),
            body: mostly(
              fc.record({
                messages: fc.constant([{ role: 'user', content: 'hi' }]),
                model: mostly(fc.constantFrom(model, 'no-such-model')),
                max_tokens: mostly(fc.nat(8)),
              }),
            ),
            extra: rarely(anyJson),
          },
          { requiredKeys: ['body'] },
        )
        .map(({ extra, ...item }) => (extra === null ? item : { ...item, extra })),
    },
    { weight: 1, arbitrary: anyJson },
  );

/** POST /v1/requests bodies: `data` as a list, one item, or one full item as the body; unknown fields sometimes. */
const enqueueBody = (model: string): fc.Arbitrary<unknown> =>
  fc.oneof(
    {
      weight: 6,
      arbitrary: fc
        .record(
          {
            data: fc.oneof(fc.array(enqueueItem(model), { maxLength: 5 }), enqueueItem(model)),
            queue: rarely(fc.constantFrom('default', 'fuzz', 'no-such', '../x')),
            extra: rarely(hostileString),
          },
          { requiredKeys: ['data'] },
        )
        .map(({ extra, ...body }) =>
          objectOf([...Object.entries(body).filter(([, v]) => v !== null), ...(extra === null || extra === undefined ? [] : [[extra, 1] as [string, unknown]])]),
        ),
    },
    {
      weight: 2,
      arbitrary: fc.record(
        { custom_id: mostly(storableString(64)), body: mostly(fc.record({ messages: fc.constant([]), model: fc.constant(model) })) },
        { requiredKeys: [] },
      ),
    },
    { weight: 1, arbitrary: anyJson },
  );

/** POST /v1/queues (with `name`) and /v1/queues/{queue} bodies: each setting valid, null, hostile or mistyped. */
const queueSettingsBody = (model: string, create: boolean): fc.Arbitrary<unknown> =>
  fc
    .record(
      {
        name: create
          ? mostly(fc.constantFrom('fuzz', 'fuzz-2', 'default', 'a'.repeat(64), 'a'.repeat(65), '-x'))
          : fc.option(fc.constant('renamed'), { nil: undefined, freq: 5 }),
        model: fc.oneof(mostly(fc.constantFrom(model, 'no-such-model')), fc.constant(null)),
        endpoint: mostly(fc.constantFrom('/v1/chat/completions', '/v1/completions', '/v1/embeddings', '/v1/rerank', '/v1/nope')),
        request_kwargs: fc.oneof(mostly(fc.dictionary(fc.string({ maxLength: 8 }), anyJson, { maxKeys: 4 })), fc.constant(null)),
        queue_threshold: mostly(fc.oneof(fc.integer({ min: 1, max: 5 }), fc.constantFrom(0, 1.5, 2 ** 31, 1e12))),
        time_threshold: mostly(fc.constantFrom(0, 0.5, 3600, 30 * 86_400 + 1, -1)),
        time_interval: mostly(fc.constantFrom(0.1, 1, 3600, 0, 3601)),
        completion_window: mostly(fc.constantFrom('24h', '90s', '31d', '99y', '')),
        max_batch_size: mostly(fc.constantFrom(1, 10, 10_000_000)),
        webhook: fc.option(fc.constantFrom({ url: 'http://127.0.0.1:1/x' }, { url: 'ftp://x' }, null, 'x'), { nil: undefined, freq: 5 }),
        extra: rarely(hostileString),
      },
      { requiredKeys: [] },
    )
    .map(({ extra, ...body }) =>
      objectOf([...Object.entries(body).filter(([, v]) => v !== undefined), ...(extra === null || extra === undefined ? [] : [[extra, 1] as [string, unknown]])]),
    );

// ---------------------------------------------------------------------------------------------
// API requests

/** What a path segment or query value names: a live object of the test (by index into its pool) or literal text. */
export type Ref = { pool: Pool; index: number } | { literal: string };
export type Pool = 'file' | 'batch' | 'delivery' | 'queue' | 'request';

/** The API's routes, with `{pool}` where an id goes, and the methods they serve. */
/** The pool of live objects each path parameter of the operation table names. */
const POOL_OF_PARAM: Record<string, Pool> = { file_id: 'file', batch_id: 'batch', delivery_id: 'delivery', queue: 'queue', request_id: 'request' };

/** Paths fuzzed more often than others: those with the most fields to get wrong. */
const WEIGHTS: Record<string, number> = { '/v1/files': 2, '/v1/batches': 3, '/v1/queues': 2, '/v1/queues/{queue}': 2, '/v1/requests': 3 };

/**
 * Every path of the API's operation table with its methods, a parameter written as the pool it is
 * drawn from (`/v1/batches/{batch}`): a route added to the table is fuzzed the day it is added, and
 * one with a new kind of id fails here until the fuzzer has a pool for it.
 */
export const ROUTES: Array<{ path: string; methods: string[]; weight: number }> = [...new Set(OPERATIONS.map((op) => op.path))].map((path) => ({
  path: path.replace(/\{(\w+)\}/g, (_m, name: string) => {
    const pool = POOL_OF_PARAM[name];
    if (pool === undefined) throw new Error(`the fuzzer has no pool of ids for {${name}} (${path}): add one to POOL_OF_PARAM and the suite's pools`);
    return `{${pool}}`;
  }),
  methods: OPERATIONS.filter((op) => op.path === path).map((op) => op.method.toUpperCase()),
  weight: WEIGHTS[path] ?? 1,
}));

/** Methods `fetch` can send (it refuses CONNECT, TRACE and TRACK). */
const METHODS = ['GET', 'POST', 'DELETE', 'PUT', 'PATCH', 'HEAD', 'OPTIONS'];

const literal = (text: string): Ref => ({ literal: text });

/** An id in a path or query: a live object's, a plausible one, or hostile text — percent-encoded, raw, or malformed. */
const idRef = (pool: Pool): fc.Arbitrary<Ref> =>
  fc.oneof(
    { weight: 4, arbitrary: fc.nat().map((index) => ({ pool, index })) },
    {
      weight: 1,
      arbitrary: fc.constantFrom('file-', 'batch_', 'whd_', 'req_', '').chain((prefix) => fc.stringMatching(/^[A-Za-z0-9]{0,40}$/).map((rest) => literal(prefix + rest))),
    },
    { weight: 3, arbitrary: hostileString.map((s) => literal(percentEncode(s))) },
    { weight: 2, arbitrary: hostileString.map(literal) },
    { weight: 1, arbitrary: fc.constantFrom('%', '%zz', '%E0%A4%A', '%ED%A0%80', '%C0%80', '%FF', '..', '.', '', '%2F', '%2e%2e', '%00', 'a%00b').map(literal) },
  );

const QUERY_NAMES = ['limit', 'after', 'order', 'purpose', 'filename', 'queue', 'status'];

const queryValue = (name: string): fc.Arbitrary<Ref> =>
  fc.oneof(
    {
      weight: 3,
      arbitrary: fc
        .constantFrom(
          ...({
            limit: ['1', '2', '20', '100', '101', '10000', '10001', '0', '-1', '1.5', '1e3', ' 5', '0x10', '', 'NaN', 'Infinity', '99999999999999999999'],
            order: ['asc', 'desc', 'ASC', 'random', ''],
            purpose: ['batch', 'batch_output', 'fine-tune', ''],
            filename: ['input.jsonl', '../../etc/passwd', 'a/b\\c.jsonl', '.', '..', ''],
            queue: ['default', 'fuzz', 'no-such-queue', '.', '-x', 'a'.repeat(65), ''],
            status: ['queued', 'dispatched', 'completed', 'failed', 'cancelled', 'expired', 'done', ''],
            after: ['2147483647', '2147483648', '99999999999999999999', '-1', '0', '1e3'],
          }[name] ?? ['x']),
        )
        .map(literal),
    },
    { weight: name === 'after' ? 3 : 0, arbitrary: fc.constantFrom<Pool>('file', 'batch', 'request').chain((pool) => idRef(pool)) },
    { weight: 2, arbitrary: hostileString.map((s) => literal(percentEncode(s))) },
    { weight: 1, arbitrary: hostileString.map(literal) },
  );

/** A query string's parameters, repeated, bracketed (`limit[]`) or unknown ones included. */
const queryParams: fc.Arbitrary<Array<[string, Ref]>> = fc.array(
  fc.oneof(
    { weight: 4, arbitrary: fc.constantFrom(...QUERY_NAMES).chain((name) => queryValue(name).map((value): [string, Ref] => [name, value])) },
    { weight: 1, arbitrary: fc.tuple(fc.oneof(fc.constantFrom('limit[]', 'after[x]', 'order[]'), hostileString.map(percentEncode)), queryValue('limit')) },
  ),
  { maxLength: 4 },
);

export type Auth = 'tenant' | 'other-tenant' | 'none' | 'wrong' | { header: string };

const auth: fc.Arbitrary<Auth> = fc.oneof(
  { weight: 16, arbitrary: fc.constant<Auth>('tenant') },
  { weight: 1, arbitrary: fc.constantFrom<Auth>('other-tenant', 'none', 'wrong') },
  { weight: 1, arbitrary: hostileString.map((s): Auth => ({ header: headerSafe(`Bearer ${s}`) })) },
  {
    weight: 1,
    arbitrary: fc.constantFrom<Auth>({ header: 'Bearer' }, { header: 'Basic dXNlcjpwYXNz' }, { header: 'bearer  ' }, { header: 'Bearer a b' }, { header: '' }),
  },
);

export type ApiRequest = {
  method: string;
  /** A ROUTES path, maybe altered (trailing slash, doubled slashes, wrong case). */
  route: string;
  ids: Ref[];
  query: Array<[string, Ref]>;
  auth: Auth;
  /** An `Idempotency-Key` header (creates honour it): none, one of a few reused keys, or hostile text. */
  idempotencyKey: string | null;
  body: EncodedBody | undefined;
};

const idempotencyKey: fc.Arbitrary<string | null> = fc.oneof(
  { weight: 6, arbitrary: fc.constant(null) },
  // Reused across requests, so a key meets a different body, route or tenant.
  { weight: 2, arbitrary: fc.constantFrom('fuzz-key-1', 'fuzz-key-2') },
  { weight: 1, arbitrary: hostileString.map(headerSafe) },
  { weight: 1, arbitrary: fc.integer({ min: 200, max: 2000 }).map((n) => 'k'.repeat(n)) },
);

/** The body of a request to `route`: what the route expects, mangled, or something else entirely. */
function bodyFor(route: string, method: string, ctx: BatchBodyContext): fc.Arbitrary<EncodedBody | undefined> {
  if (method === 'GET' || method === 'HEAD') return fc.constant(undefined); // fetch sends no body with these
  const anyBody: fc.Arbitrary<EncodedBody> = fc.oneof(
    fc.tuple(randomBytes(), contentType).map(([bytes, type]) => ({ bytes, contentType: type })),
    fc.tuple(deepJsonText, jsonEncoding).map(([text, how]) => encodeJson(text, how)),
    fc.tuple(anyJson, jsonEncoding).map(([value, how]) => encodeJson(JSON.stringify(value) ?? 'null', how)),
  );
  const withOddType = (body: fc.Arbitrary<EncodedBody>) => fc.tuple(body, rarely(contentType, 6)).map(([b, type]) => (type === null ? b : { ...b, contentType: type }));
  if (route === '/v1/batches' && method === 'POST') {
    const batchText = batchCreateBody(ctx).map((body) => JSON.stringify(body));
    return fc.oneof(
      { weight: 8, arbitrary: withOddType(fc.tuple(batchText, jsonEncoding).map(([text, how]) => encodeJson(text, how))) },
      {
        weight: 1,
        arbitrary: fc
          .tuple(batchText, fc.double({ min: 0, max: 1, noNaN: true }))
          .map(([text, cut]) => encodeJson(text.slice(0, Math.floor(text.length * cut)), 'utf-8')),
      },
      { weight: 1, arbitrary: deepJsonText.map((deep) => encodeJson(`{"input_file_id":${JSON.stringify(ctx.inputFileId)},"metadata":${deep}}`, 'utf-8')) },
      { weight: 2, arbitrary: anyBody },
      { weight: 1, arbitrary: fc.constant(undefined) },
    );
  }
  const jsonBodies = (bodies: fc.Arbitrary<unknown>) =>
    fc.oneof(
      {
        weight: 8,
        arbitrary: withOddType(
          fc
            .tuple(
              bodies.map((body) => JSON.stringify(body) ?? 'null'),
              jsonEncoding,
            )
            .map(([text, how]) => encodeJson(text, how)),
        ),
      },
      { weight: 2, arbitrary: anyBody },
      { weight: 1, arbitrary: fc.constant(undefined) },
    );
  if (route === '/v1/requests' && method === 'POST') {
    return fc.oneof(
      { weight: 6, arbitrary: jsonBodies(enqueueBody(ctx.model)) },
      // Text no JSON.stringify writes: integers beyond a double, nesting thousands deep.
      {
        weight: 1,
        arbitrary: fc.bigInt({ min: 2n ** 53n, max: 2n ** 200n }).map((n) => encodeJson(`{"data":[{"model":"${ctx.model}","messages":[],"seed":${n}}]}`, 'utf-8')),
      },
      { weight: 1, arbitrary: deepJsonText.map((deep) => encodeJson(`{"data":[{"messages":[],"x":${deep}}]}`, 'utf-8')) },
    );
  }
  if (route.startsWith('/v1/queues') && method === 'POST') {
    return fc.oneof(
      { weight: 6, arbitrary: jsonBodies(queueSettingsBody(ctx.model, route === '/v1/queues')) },
      { weight: 1, arbitrary: deepJsonText.map((deep) => encodeJson(`{"name":"deep","request_kwargs":{"x":${deep}}}`, 'utf-8')) },
    );
  }
  if (route === '/v1/batches/{batch}/retry' && method === 'POST') {
    return jsonBodies(
      fc.record(
        { codes: mostly(fc.array(fc.oneof(fc.constantFrom('http_400', 'server_error', 'batch_expired'), hostileString), { maxLength: 60 })), extra: rarely(anyJson) },
        { requiredKeys: [] },
      ),
    );
  }
  if (route === '/v1/files' && method === 'POST') {
    const file = inputFile(ctx.model);
    return fc.oneof(
      {
        weight: 3,
        arbitrary: withOddType(fc.tuple(file, fc.constantFrom('application/jsonl', 'application/x-ndjson')).map(([bytes, type]) => ({ bytes, contentType: type }))),
      },
      { weight: 3, arbitrary: multipartBody(file).map(({ contentType, body }) => ({ bytes: body, contentType })) },
      { weight: 1, arbitrary: anyBody },
      { weight: 1, arbitrary: fc.constant(undefined) },
    );
  }
  return fc.oneof({ weight: 3, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: anyBody });
}

/** Any request to the API: a real route (or a near miss) with any method, ids, query, credentials and body. */
export const apiRequest = (ctx: BatchBodyContext): fc.Arbitrary<ApiRequest> =>
  fc
    .record({
      route: fc.oneof(...ROUTES.map((route) => ({ weight: route.weight, arbitrary: fc.constant(route) }))),
      alter: fc.constantFrom('none', 'none', 'none', 'none', 'none', 'none', 'trailing-slash', 'double-slash', 'upper-case'),
      ownMethod: fc.constantFrom(true, true, true, false),
      anyMethod: fc.constantFrom(...METHODS),
    })
    .chain(({ route, alter, ownMethod, anyMethod }) => {
      const method = ownMethod ? fc.constantFrom(...route.methods) : fc.constant(anyMethod);
      const path = {
        none: route.path,
        'trailing-slash': `${route.path}/`,
        'double-slash': route.path.replace('/v1/', '/v1//'),
        'upper-case': route.path.toUpperCase().replace(/\{(\w+)\}/g, (m) => m.toLowerCase()),
      }[alter];
      const pools = [...route.path.matchAll(/\{(\w+)\}/g)].map((m) => m[1] as Pool);
      return method.chain((m) =>
        fc.record({
          method: fc.constant(m),
          route: fc.constant(path),
          ids: fc.tuple(...pools.map(idRef)),
          query: queryParams,
          auth,
          idempotencyKey,
          body: bodyFor(route.path, m, ctx),
        }),
      );
    });

/** The request target of `request`, its ids and query values resolved against the live `pools`. */
export function requestTarget(request: ApiRequest, pools: Record<Pool, string[]>): string {
  const text = (ref: Ref) => {
    if ('literal' in ref) return ref.literal;
    const live = pools[ref.pool];
    return live.length > 0 ? live[ref.index % live.length]! : `${ref.pool}-none-yet`;
  };
  let i = 0;
  const path = request.route.replace(/\{\w+\}/g, () => text(request.ids[i++]!));
  const query = request.query.map(([name, value]) => `${name}=${text(value)}`).join('&');
  return query ? `${path}?${query}` : path;
}

// ---------------------------------------------------------------------------------------------
// Raw HTTP

/** Bytes for a socket; whether they frame a complete request the server must answer; whether its answer has no body (HEAD). */
export type RawRequest = { bytes: Buffer; complete: boolean; bodiless: boolean };

const METHOD_TOKENS = ['GET', 'POST', 'DELETE', 'PUT', 'HEAD', 'OPTIONS', 'PATCH', 'CONNECT', 'TRACE', 'get', 'G E T', 'FOO', 'PRI', ''];

/**
 * Connection-level garbage: random bytes, or a request whose line or headers are malformed —
 * odd methods and versions, raw bytes, spaces and NUL in the target, headers without a colon,
 * conflicting lengths, oversized heads, bodies shorter than announced.
 */
export const rawRequest = (apiKey: string): fc.Arbitrary<RawRequest> =>
  fc.oneof(
    { weight: 1, arbitrary: randomBytes(2048).map((bytes) => ({ bytes, complete: false, bodiless: false })) },
    {
      weight: 4,
      arbitrary: fc
        .record({
          method: fc.constantFrom(...METHOD_TOKENS),
          target: fc.oneof(
            fc.constantFrom(...ROUTES.map((r) => r.path.replace(/\{\w+\}/g, 'x'))),
            hostileString.map((s) => `/v1/files/${s}`),
            fc.constantFrom('*', 'http://127.0.0.1/v1/models', '/v1/models#frag', '//v1//models', '/v1/files?limit=1&limit=2', ''),
            fc.integer({ min: 8_000, max: 40_000 }).map((n) => `/v1/files?after=${'a'.repeat(n)}`),
          ),
          version: fc.constantFrom('HTTP/1.1', 'HTTP/1.1', 'HTTP/1.1', 'HTTP/1.0', 'HTTP/2.0', 'HTTP/1.1x', 'HTTP/9.9', ''),
          headers: fc.array(
            fc.oneof(
              fc.constantFrom('Authorization: Bearer ' + apiKey, 'Content-Type: application/json', 'Accept: */*', 'Host: 127.0.0.1'),
              fc.constantFrom(
                'NoColon',
                ' leading-space: x',
                'Bad Name: x',
                ': empty-name',
                'X-Nul: a\u0000b',
                'X-Obs-Fold: a\r\n folded',
                'Content-Length: -1',
                'Content-Length: abc',
                'Content-Length: 1, 2',
              ),
              hostileString.map((s) => `Authorization: Bearer ${s}`),
              hostileString.map((s) => `Content-Type: ${s}`),
              fc.integer({ min: 4_000, max: 40_000 }).map((n) => `X-Padding: ${'p'.repeat(n)}`),
            ),
            { maxLength: 5 },
          ),
          body: fc.oneof(fc.constant(Buffer.alloc(0)), randomBytes(512), fc.constant(Buffer.from('{"input_file_id":"x"}'))),
          framing: fc.constantFrom('exact', 'exact', 'exact', 'longer', 'none', 'chunked', 'chunked-broken', 'both'),
        })
        .map(({ method, target, version, headers, body, framing }) => {
          const lines = [[method, target, version].filter((p) => p !== '').join(' '), 'Host: 127.0.0.1', 'Connection: close', ...headers];
          // The server must answer whatever it makes of a request whose body is exactly as long as announced.
          let complete = true;
          let payload = body;
          if (framing === 'exact') lines.push(`Content-Length: ${body.length}`);
          else if (framing === 'longer') {
            lines.push(`Content-Length: ${body.length + 100}`);
            complete = false;
          } else if (framing === 'chunked') {
            lines.push('Transfer-Encoding: chunked');
            payload = Buffer.concat([Buffer.from(`${body.length.toString(16)}\r\n`), body, Buffer.from('\r\n0\r\n\r\n')]);
          } else if (framing === 'chunked-broken') {
            lines.push('Transfer-Encoding: chunked');
            payload = Buffer.concat([Buffer.from('zz\r\n'), body]);
            complete = false;
          } else if (framing === 'both') {
            lines.push('Transfer-Encoding: chunked', `Content-Length: ${body.length}`);
            complete = false;
          }
          // A header naming its own length or encoding may contradict the framing above.
          if (headers.some((h) => /^(content-length|transfer-encoding):/i.test(h) || /[\r\n]/.test(h))) complete = false;
          // Node itself drops these unanswered: CONNECT without a 'connect' listener, and PRI (the HTTP/2
          // preface's method) when, without a version, it parses as an HTTP/0.9 request.
          if (method === 'CONNECT' || method === 'PRI') complete = false;
          const head = Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'utf8');
          return { bytes: Buffer.concat([head, payload]), complete, bodiless: method === 'HEAD' };
        }),
    },
  );

/**
 * A multipart upload over a raw socket, its framing exact, chunked, shorter than the body (the rest
 * is read as a next request) or longer (the client then closes its side: the body never completes).
 */
export const rawUpload = (apiKey: string, file: fc.Arbitrary<Buffer>): fc.Arbitrary<RawRequest> =>
  fc
    .record({
      multipart: multipartBody(file),
      framing: fc.constantFrom('exact', 'exact', 'exact', 'chunked', 'shorter', 'longer'),
      path: fc.constantFrom('/v1/files', '/v1/files', '/v1/files?purpose=batch'),
    })
    .map(({ multipart, framing, path }) => {
      const headers: Record<string, string | number> = { Authorization: `Bearer ${apiKey}`, 'Content-Type': multipart.contentType };
      let body = multipart.body;
      if (framing === 'exact') headers['Content-Length'] = body.length;
      else if (framing === 'shorter') headers['Content-Length'] = Math.floor(body.length / 2);
      else if (framing === 'longer') headers['Content-Length'] = body.length + 1000;
      else {
        headers['Transfer-Encoding'] = 'chunked';
        body = Buffer.concat([Buffer.from(`${body.length.toString(16)}\r\n`), body, Buffer.from('\r\n0\r\n\r\n')]);
      }
      return { bytes: Buffer.concat([Buffer.from(requestHead('POST', path, headers)), body]), complete: framing !== 'longer', bodiless: false };
    });
