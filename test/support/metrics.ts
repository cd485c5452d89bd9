/** One scrape of a Prometheus text endpoint, as samples to look up. */
export type Scrape = {
  text: string;
  /** The sum of the samples named `name` whose labels include `labels` (0 when none matches). */
  value(name: string, labels?: Record<string, string>): number;
  /** Whether any sample is named `name`. */
  has(name: string): boolean;
};

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

export async function scrape(url: string): Promise<Scrape> {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`GET ${url}: ${response.status}`);
  const text = await response.text();
  const samples = text
    .split('\n')
    .filter((line) => line && !line.startsWith('#'))
    .map((line) => {
      const [, name, labelText = '', value] = SAMPLE.exec(line) ?? [];
      if (name === undefined) throw new Error(`not a Prometheus sample: ${line}`);
      const labels = Object.fromEntries([...labelText.matchAll(LABEL)].map((m) => [m[1]!, m[2]!]));
      return { name, labels, value: Number(value) };
    });
  return {
    text,
    value: (name, labels = {}) =>
      samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v)).reduce((sum, s) => sum + s.value, 0),
    has: (name) => samples.some((s) => s.name === name),
  };
}
