import crypto from 'node:crypto';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import pg from 'pg';
import { built } from './repo';
import type { TestStack } from './stack';

/** A random suffix, so tenants, keys and databases of one run never meet those of another. */
export const unique = (prefix: string) => `${prefix}-${crypto.randomBytes(6).toString('hex')}`;

/** Asserts an OpenAI-shaped error response: {"error":{"message","type","param","code"}}. */
export async function expectApiError(response: Response, expected: { status: number; type: string; code: string | null; param: string | null }): Promise<void> {
  const body = (await response.json()) as { error: Record<string, unknown> };
  expect({ status: response.status, ...body }).toEqual({
    status: expected.status,
    error: {
      message: expect.any(String),
      type: expected.type,
      code: expected.code,
      param: expected.param,
    },
  });
}

/**
 * A database of its own on the shared PostgreSQL, for tests whose state (stored API keys) would
 * change how every other test's service behaves.
 */
export async function createScratchDatabase(stack: TestStack): Promise<{ url: string; drop(): Promise<void> }> {
  const name = unique('scratch').replace('-', '_');
  const admin = async (sql: string) => {
    const client = new pg.Client({ connectionString: stack.databaseUrl });
    await client.connect();
    try {
      await client.query(sql);
    } finally {
      await client.end();
    }
  };
  await admin(`CREATE DATABASE ${name}`);
  const url = new URL(stack.databaseUrl);
  url.pathname = `/${name}`;
  return { url: url.toString(), drop: () => admin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`) };
}

/** The built `vbs` command line. */
export const VBS = built('cli/vbs.js');

/** Runs `vbs keys ...` (the built CLI) against `databaseUrl`. */
export async function keysCli(databaseUrl: string, ...args: string[]): Promise<{ stdout: string; stderr: string }> {
  return promisify(execFile)(process.execPath, [VBS, 'keys', ...args], {
    env: { PATH: process.env.PATH ?? '', DATABASE_URL: databaseUrl },
    encoding: 'utf8',
  });
}

/** A JSON call to the API at `baseUrl` with `key`: for the extension endpoints the OpenAI SDK does not know. */
export function jsonApi(baseUrl: string, key: string) {
  return async (method: string, route: string, body?: unknown) => {
    const response = await fetch(`${baseUrl}${route}`, {
      method,
      headers: { Authorization: `Bearer ${key}`, ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: response.status, headers: response.headers, body: (await response.json()) as Record<string, unknown> };
  };
}
