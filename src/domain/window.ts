const UNIT_SECONDS = { s: 1, m: 60, h: 3600, d: 86_400 } as const;

/** The longest completion window: a batch must end, and its rows, files and workflow with it. */
export const MAX_COMPLETION_WINDOW_SECONDS = 30 * 86_400;

/** `24h` (OpenAI's only value) or any `<n>s|m|h|d` duration up to 30d → seconds; undefined otherwise. */
export function completionWindowSeconds(window: string): number | undefined {
  const match = /^([1-9]\d{0,6})([smhd])$/.exec(window);
  if (!match) return undefined;
  const seconds = Number(match[1]) * UNIT_SECONDS[match[2] as keyof typeof UNIT_SECONDS];
  return seconds <= MAX_COMPLETION_WINDOW_SECONDS ? seconds : undefined;
}
