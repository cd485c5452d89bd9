import type { IncomingMessage } from 'node:http';
import express, { type Request, type RequestHandler } from 'express';

const TEXT = Symbol('body text');
type WithText = IncomingMessage & { [TEXT]?: string };

/**
 * The JSON body parser, which also keeps the body's text: what a client wrote in a request body or in
 * `request_kwargs` is stored as written (src/jsonText.ts reads values out of it), since a parse and
 * re-serialisation would lose digits of big integers. The text is decoded with the body's charset, as
 * the parser decodes it (UTF-8 unless the client says UTF-16).
 */
export const jsonBody = (limit: number | string): RequestHandler =>
  express.json({
    limit,
    strict: false,
    verify: (req: WithText, _res, buf, encoding) => {
      req[TEXT] = decode(buf, encoding);
    },
  });

function decode(buf: Buffer, encoding: string): string | undefined {
  try {
    return new TextDecoder(encoding).decode(buf);
  } catch {
    // A charset the parser reads but TextDecoder does not (UTF-32): `bodyTextOf` falls back.
    return undefined;
  }
}

/**
 * The text of the JSON body `jsonBody` parsed: as sent, or, for the rare charset it could not decode,
 * the parsed body written out again (exact but for number precision); `{}` without a body.
 */
export const bodyTextOf = (req: Request): string => (req as WithText)[TEXT] ?? JSON.stringify(req.body ?? {});
