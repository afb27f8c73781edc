import * as fs from 'node:fs';
import * as path from 'node:path';
import type { ConnectOptions } from './client.js';
import { ErrorCodes, GtcError } from './errors.js';

/**
 * Environment a script can set: GTC_SOCKET (Unix socket) or GTC_ADDR (host:port) with GTC_TOKEN; GTC_DIR (the
 * workspace, as `gtc --dir`); GTC_WORKER_NAME or GTC_NAME.
 */
export interface GtcEnv {
  GTC_SOCKET?: string;
  GTC_ADDR?: string;
  GTC_TOKEN?: string;
  GTC_DIR?: string;
  GTC_WORKER_NAME?: string;
  GTC_NAME?: string;
  [key: string]: string | undefined;
}

/**
 * Builds connect options as the gtc CLI does: GTC_SOCKET, or GTC_ADDR with GTC_TOKEN (else the workspace's
 * .beads/gtc.token, created by `gtc serve`), else the socket .beads/gtc.sock of the workspace GTC_DIR (default:
 * the current directory). Without a token over TCP it throws a GtcError (`invalid`).
 */
export function optionsFromEnv(env: GtcEnv = process.env): ConnectOptions {
  const dir = env.GTC_DIR || '.';
  let token = env.GTC_TOKEN || undefined;
  if (env.GTC_SOCKET) return { path: env.GTC_SOCKET, token };
  if (env.GTC_ADDR) {
    const { host, port } = parseAddr(env.GTC_ADDR);
    token ??= readToken(dir);
    if (!token) {
      throw new GtcError(ErrorCodes.invalid, `GTC_ADDR needs GTC_TOKEN (or ${path.join(dir, '.beads', 'gtc.token')}): the token is required over TCP`, 'invalid');
    }
    return { host, port, token };
  }
  return { path: path.join(dir, '.beads', 'gtc.sock'), token };
}

/** The token `gtc serve` keeps in the workspace, when it is there. */
function readToken(dir: string): string | undefined {
  try {
    return fs.readFileSync(path.join(dir, '.beads', 'gtc.token'), 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
}

/** Worker name from GTC_WORKER_NAME (as `gtc worker` reads it), else GTC_NAME, else the given fallback. */
export function nameFromEnv(fallback: string, env: GtcEnv = process.env): string {
  return env.GTC_WORKER_NAME || env.GTC_NAME || fallback;
}

/** Splits "host:port" (or "[v6]:port", or ":port" for 127.0.0.1); a GtcError (invalid) for anything else. */
export function parseAddr(addr: string): { host: string; port: number } {
  const i = addr.lastIndexOf(':');
  if (i < 0) throw new GtcError(ErrorCodes.invalid, `bad address ${JSON.stringify(addr)}: want host:port`, 'invalid');
  let host = addr.slice(0, i);
  const port = Number(addr.slice(i + 1));
  if (!Number.isInteger(port) || port <= 0 || port > 65535) throw new GtcError(ErrorCodes.invalid, `bad port in ${JSON.stringify(addr)}`, 'invalid');
  if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1);
  return { host: host || '127.0.0.1', port };
}
