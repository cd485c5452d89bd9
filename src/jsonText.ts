/**
 * Reading and composing JSON *text* without a parse and re-serialisation, which would lose what the
 * client wrote: digits of integers beyond a double, the exact form of strings and numbers. Every
 * function takes text already known to be valid JSON (JSON.parse accepted it) and walks it without
 * recursion, so nesting depth costs no stack.
 */

/** A JSON value's text within a larger text: `text.slice(start, end)`. */
export type Span = { start: number; end: number };

/** One member of an object: its key (parsed), and the key's and value's text as written. */
export type Member = { key: string; keyText: string; valueText: string };

const isSpace = (c: string | undefined) => c === ' ' || c === '\n' || c === '\r' || c === '\t';

function skipSpace(text: string, at: number): number {
  while (isSpace(text[at])) at++;
  return at;
}

/** Where the string starting at `at` (its opening quote) ends, after its closing quote: the first quote not escaped. */
function stringEnd(text: string, at: number): number {
  for (let quote = text.indexOf('"', at + 1); quote !== -1; quote = text.indexOf('"', quote + 1)) {
    let backslashes = 0;
    while (text.charCodeAt(quote - 1 - backslashes) === BACKSLASH) backslashes++;
    if (backslashes % 2 === 0) return quote + 1;
  }
  throw new SyntaxError('Unterminated JSON string');
}

const BACKSLASH = 0x5c;
/** What changes depth or starts a string; the regex engine skips the rest, fast enough for every line of a batch. */
const STRUCTURE = /["[\]{}]/g;

/** The span of the value starting at or after `at` (leading whitespace skipped). */
export function valueSpan(text: string, at: number): Span {
  const start = skipSpace(text, at);
  const first = text[start];
  if (first === '"') return { start, end: stringEnd(text, start) };
  if (first !== '{' && first !== '[') {
    let end = start;
    while (end < text.length && !isSpace(text[end]) && text[end] !== ',' && text[end] !== '}' && text[end] !== ']') end++;
    return { start, end };
  }
  let depth = 0;
  STRUCTURE.lastIndex = start;
  for (let match = STRUCTURE.exec(text); match; match = STRUCTURE.exec(text)) {
    const c = match[0];
    if (c === '"') STRUCTURE.lastIndex = stringEnd(text, match.index);
    else if (c === '{' || c === '[') depth++;
    else if (--depth === 0) return { start, end: match.index + 1 };
  }
  throw new SyntaxError('Unterminated JSON value');
}

/** The members of the object whose text is `objectText`, in order (duplicates kept, as written). */
export function objectMembers(objectText: string): Member[] {
  const members: Member[] = [];
  let at = skipSpace(objectText, skipSpace(objectText, 0) + 1);
  while (objectText[at] === '"') {
    const keyEnd = stringEnd(objectText, at);
    const keyText = objectText.slice(at, keyEnd);
    const value = valueSpan(objectText, skipSpace(objectText, keyEnd) + 1);
    members.push({ key: JSON.parse(keyText) as string, keyText, valueText: objectText.slice(value.start, value.end) });
    at = skipSpace(objectText, value.end);
    if (objectText[at] === ',') at = skipSpace(objectText, at + 1);
  }
  return members;
}

/** The elements' texts of the array whose text is `arrayText`. */
export function arrayElements(arrayText: string): string[] {
  const elements: string[] = [];
  let at = skipSpace(arrayText, skipSpace(arrayText, 0) + 1);
  while (at < arrayText.length && arrayText[at] !== ']') {
    const value = valueSpan(arrayText, at);
    elements.push(arrayText.slice(value.start, value.end));
    at = skipSpace(arrayText, value.end);
    if (arrayText[at] === ',') at = skipSpace(arrayText, at + 1);
  }
  return elements;
}

/** The text of member `key` of an object's text, the last one as JSON.parse takes it; undefined when absent. */
export function memberText(objectText: string, key: string): string | undefined {
  const members = objectMembers(objectText);
  for (let i = members.length - 1; i >= 0; i--) if (members[i]!.key === key) return members[i]!.valueText;
  return undefined;
}

/** An object's text from its members. */
export const objectText = (members: Member[]): string => `{${members.map((m) => `${m.keyText}:${m.valueText}`).join(',')}}`;

/** A member whose key and value are written by us (JSON.stringify of a small value). */
export const member = (key: string, value: unknown): Member => ({ key, keyText: JSON.stringify(key), valueText: JSON.stringify(value) });

/** `{...base, ...over}` on members: `over` wins, and every value keeps its text. */
export const mergeMembers = (base: Member[], over: Member[]): Member[] => {
  const overridden = new Set(over.map((m) => m.key));
  return [...base.filter((m) => !overridden.has(m.key)), ...over];
};

/** The object's text with `added` appended before its closing brace; the rest stays exactly as written. */
export function appendMember(objectText: string, added: Member): string {
  const close = objectText.lastIndexOf('}');
  const empty = objectText[skipSpace(objectText, skipSpace(objectText, 0) + 1)] === '}';
  return `${objectText.slice(0, close)}${empty ? '' : ','}${added.keyText}:${added.valueText}${objectText.slice(close)}`;
}
