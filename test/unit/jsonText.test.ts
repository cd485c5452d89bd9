import fc from 'fast-check';
import { appendMember, arrayElements, member, memberText, mergeMembers, objectMembers, objectText } from '../../src/jsonText';

/** JSON text of `value` with random whitespace between tokens, as a client may write it. */
const spaced = (value: unknown, gaps: string[]): string => {
  let i = 0;
  const gap = () => gaps[i++ % gaps.length]!;
  const write = (v: unknown): string => {
    if (Array.isArray(v)) return `[${gap()}${v.map((item) => `${write(item)}${gap()}`).join(`,${gap()}`)}]`;
    if (typeof v === 'object' && v !== null) {
      return `{${gap()}${Object.entries(v)
        .map(([k, item]) => `${JSON.stringify(k)}${gap()}:${gap()}${write(item)}${gap()}`)
        .join(`,${gap()}`)}}`;
    }
    return JSON.stringify(v);
  };
  return write(value);
};
const gaps = fc.array(fc.constantFrom('', ' ', '\n', '\t ', '\r\n'), { minLength: 1, maxLength: 5 });
const object = fc.dictionary(fc.string({ maxLength: 6 }), fc.jsonValue({ maxDepth: 3 }), { maxKeys: 6 });

describe('JSON text, read and composed without a re-serialisation', () => {
  test('members and elements are the texts JSON.parse reads, whatever the spacing', () => {
    fc.assert(
      fc.property(object, gaps, (generated, spacing) => {
        // As JSON holds it (-0 is written 0).
        const value = JSON.parse(JSON.stringify(generated)) as Record<string, unknown>;
        const text = spaced(value, spacing);
        const members = objectMembers(text);
        expect(members.map((m) => m.key)).toEqual(Object.keys(value));
        for (const m of members) expect(JSON.parse(m.valueText)).toEqual(value[m.key]);
        const list = spaced(Object.values(value), spacing);
        expect(arrayElements(list).map((t) => JSON.parse(t) as unknown)).toEqual(Object.values(value));
      }),
    );
  });

  test('the last of duplicate keys, as JSON.parse takes it; escaped keys are read as keys', () => {
    expect(memberText('{"a": 1, "b": {"a": 3}, "a": [2]}', 'a')).toBe('[2]');
    expect(memberText('{"\\u0061": "x\\"}"}', 'a')).toBe('"x\\"}"');
    expect(memberText('{}', 'a')).toBeUndefined();
  });

  test('merging keeps every value as written: big integers, nulls, spacing', () => {
    const base = objectMembers('{"max_tokens": 5, "seed": 123456789012345678901234567890, "schema": {"default": null}}');
    const merged = objectText(mergeMembers(base, [member('max_tokens', 7), ...objectMembers('{"messages": [ 1.50 ]}')]));
    expect(merged).toBe('{"seed":123456789012345678901234567890,"schema":{"default": null},"max_tokens":7,"messages":[ 1.50 ]}');
  });

  test('appending a member leaves the rest of the text untouched', () => {
    expect(appendMember('{ "a" : 1.0 }', member('model', 'm'))).toBe('{ "a" : 1.0 ,"model":"m"}');
    expect(appendMember(' { } ', member('model', 'm'))).toBe(' { "model":"m"} ');
  });

  test('nesting 100,000 deep costs no stack', () => {
    const deep = '['.repeat(100_000) + ']'.repeat(100_000);
    expect(memberText(`{"a": ${deep}, "b": 2}`, 'b')).toBe('2');
  });
});
