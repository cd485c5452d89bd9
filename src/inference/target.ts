import { backendLabel } from '../secrets';

/** A vLLM server as this process addresses it: credentials travel in a header, never in a URL anything shows. */
export type BackendTarget = {
  /** The OpenAI-style base URL including `/v1`, without credentials: what requests are built on. */
  baseUrl: string;
  /** How logs, metrics labels and /readyz name it: its configured name, else scheme://host:port/path. */
  label: string;
  /** The Authorization header it is sent, if any. */
  authorization: string | undefined;
};

/**
 * A configured base URL (`http://user:password@gpu-1:8000/v1`, as an authenticating proxy takes
 * it) as a target: its credentials become a Basic Authorization header — fetch refuses URLs that
 * carry them, and undici would drop them — and the server's own credentials take precedence over
 * VLLM_API_KEY, which the others get as a Bearer token.
 */
export function backendTarget(configuredUrl: string, apiKey: string | undefined, name?: string): BackendTarget {
  const url = new URL(configuredUrl);
  const credentials = url.username || url.password ? `${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}` : undefined;
  url.username = '';
  url.password = '';
  return {
    baseUrl: url.toString().replace(/\/+$/, ''),
    label: name ?? backendLabel(url),
    authorization: credentials !== undefined ? `Basic ${Buffer.from(credentials).toString('base64')}` : apiKey ? `Bearer ${apiKey}` : undefined,
  };
}

/** The headers that authenticate a request to `target`. */
export const authorizationHeader = (target: BackendTarget): Record<string, string> => (target.authorization ? { authorization: target.authorization } : {});
