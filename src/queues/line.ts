/**
 * The batch input line a queued request is: composed once at enqueue, where it is validated, and
 * again, identically, when its batch's input file is written, so the batch validates exactly what was
 * accepted. `bodyText` is spliced in unparsed: the body reaches the file byte for byte as stored.
 */
export const queuedLine = (customId: unknown, endpoint: string, bodyText: string): string =>
  `{"custom_id":${JSON.stringify(customId)},"method":"POST","url":${JSON.stringify(endpoint)},"body":${bodyText}}`;
