import type { IncomingMessage } from 'node:http';
import express, { type Request, type RequestHandler } from 'express';

const TEXT = Symbol('body text');
type WithText = IncomingMessage & { [TEXT]?: string };

/**
 * The JSON body parser, which also keeps the body's text: what a client wrote in a request body or in
 * `request_kwargs` is stored as written (src/jsonText.ts reads values out of it), since a parse and
 * re-serialisation would lose digits of big integers.
 */
export const jsonBody = (limit: number | string): RequestHandler =>
  express.json({
    limit,
    strict: false,
    verify: (req: WithText, _res, buf) => {
      req[TEXT] = buf.toString('utf8');
    },
  });

/** The text of the JSON body `jsonBody` parsed; `{}` when the request had none (as its parsed body is then taken). */
export const bodyTextOf = (req: Request): string => (req as WithText)[TEXT] ?? '{}';
