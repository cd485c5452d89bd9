const UNIT_SECONDS = { s: 1, m: 60, h: 3600, d: 86_400 } as const;

/** `24h` (OpenAI's only value) or any `<n>s|m|h|d` duration → seconds; undefined when not a duration. */
export function completionWindowSeconds(window: string): number | undefined {
  const match = /^([1-9]\d{0,6})([smhd])$/.exec(window);
  if (!match) return undefined;
  return Number(match[1]) * UNIT_SECONDS[match[2] as keyof typeof UNIT_SECONDS];
}
