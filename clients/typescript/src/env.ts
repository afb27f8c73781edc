import type { ConnectOptions } from './client.js';

/** Environment a script can set: GTC_SOCKET (Unix socket) or GTC_ADDR (host:port) with GTC_TOKEN; GTC_WORKER_NAME or GTC_NAME. */
export interface GtcEnv {
  GTC_SOCKET?: string;
  GTC_ADDR?: string;
  GTC_TOKEN?: string;
  GTC_WORKER_NAME?: string;
  GTC_NAME?: string;
  [key: string]: string | undefined;
}

/** Builds connect options from GTC_SOCKET, or GTC_ADDR + GTC_TOKEN; defaults to the socket .beads/gtc.sock. */
export function optionsFromEnv(env: GtcEnv = process.env): ConnectOptions {
  const token = env.GTC_TOKEN || undefined;
  if (env.GTC_SOCKET) return { path: env.GTC_SOCKET, token };
  if (env.GTC_ADDR) {
    const { host, port } = parseAddr(env.GTC_ADDR);
    if (!token) throw new Error('GTC_ADDR needs GTC_TOKEN: the token is required over TCP');
    return { host, port, token };
  }
  return { path: '.beads/gtc.sock', token };
}

/** Worker name from GTC_WORKER_NAME (as `gtc worker` reads it), else GTC_NAME, else the given fallback. */
export function nameFromEnv(fallback: string, env: GtcEnv = process.env): string {
  return env.GTC_WORKER_NAME || env.GTC_NAME || fallback;
}

/** Splits "host:port" (or "[v6]:port", or ":port" for 127.0.0.1). */
export function parseAddr(addr: string): { host: string; port: number } {
  const i = addr.lastIndexOf(':');
  if (i < 0) throw new Error(`bad address ${JSON.stringify(addr)}: want host:port`);
  let host = addr.slice(0, i);
  const port = Number(addr.slice(i + 1));
  if (!Number.isInteger(port) || port <= 0 || port > 65535) throw new Error(`bad port in ${JSON.stringify(addr)}`);
  if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1);
  return { host: host || '127.0.0.1', port };
}
