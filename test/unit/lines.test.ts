import { splitLines } from '../../src/files/lines';

/** Each line as [number, text], with 'TOO_LONG' for the text of a line over the limit. */
async function collect(chunks: string[], maxLineBytes = 1024): Promise<Array<[number, string]>> {
  async function* source() {
    for (const chunk of chunks) yield Buffer.from(chunk);
  }
  const out: Array<[number, string]> = [];
  for await (const lines of splitLines(source(), maxLineBytes)) {
    for (const line of lines) out.push([line.lineNo, 'tooLong' in line ? 'TOO_LONG' : line.bytes.toString()]);
  }
  return out;
}

describe('splitLines', () => {
  test('joins lines split across chunks and numbers them from 1', async () => {
    expect(await collect(['{"a"', ':1}\n{"b":2}\n{"c"', ':3}'])).toEqual([
      [1, '{"a":1}'],
      [2, '{"b":2}'],
      [3, '{"c":3}'],
    ]);
  });

  test('strips CRLF and skips blank lines while still counting them', async () => {
    expect(await collect(['x\r\n\r\n  \ny\n\n'])).toEqual([
      [1, 'x'],
      [4, 'y'],
    ]);
  });

  test('reports an over-long line without keeping it, and carries on', async () => {
    expect(await collect(['short\n', 'a'.repeat(600), 'a'.repeat(600), '\nnext\n'], 1000)).toEqual([
      [1, 'short'],
      [2, 'TOO_LONG'],
      [3, 'next'],
    ]);
  });

  test('a multi-byte character split across chunks survives', async () => {
    const bytes = Buffer.from('{"q":"héllo"}\n');
    async function* source() {
      yield bytes.subarray(0, 8);
      yield bytes.subarray(8);
    }
    const lines: string[] = [];
    for await (const group of splitLines(source(), 100)) for (const line of group) if (!('tooLong' in line)) lines.push(line.bytes.toString());
    expect(lines).toEqual(['{"q":"héllo"}']);
  });
});
