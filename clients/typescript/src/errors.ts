import { ConnectionError, ResponseError } from 'vscode-jsonrpc/node';

/** JSON-RPC error codes of the gtc protocol, by symbolic name. */
export const ErrorCodes = {
  parse_error: -32700,
  invalid_request: -32600,
  method_not_found: -32601,
  invalid: -32602,
  internal: -32603,
  not_found: -32001,
  conflict: -32002,
  stale_epoch: -32003,
  not_holder: -32004,
  unauthorized: -32005,
  paused: -32006,
  unavailable: -32007,
  too_large: -32008,
  busy: -32009,
  not_implemented: -32010,
  /** Client side only: the connection closed before the reply arrived. */
  disconnected: -32099,
} as const;

/** Symbolic name of a gtc error (error.data.code on the wire). */
export type ErrorName = keyof typeof ErrorCodes | (string & {});

const namesByCode = new Map<number, string>(Object.entries(ErrorCodes).map(([k, v]) => [v, k]));

/** An error returned by the server (or a lost connection), with its JSON-RPC code and symbolic name. */
export class GtcError extends Error {
  /** JSON-RPC error code, e.g. -32003. */
  readonly code: number;
  /** Symbolic name, e.g. "stale_epoch": error.data.code when the server sent one. */
  readonly codeName: ErrorName;
  /** The raw error.data. */
  readonly data: unknown;
  /** Method whose call failed, when known. */
  readonly method?: string;

  constructor(code: number, message: string, codeName?: string, data?: unknown, method?: string) {
    super(method ? `${method}: ${message}` : message);
    this.name = 'GtcError';
    this.code = code;
    this.codeName = codeName ?? namesByCode.get(code) ?? String(code);
    this.data = data;
    this.method = method;
  }

  /** True when the call may succeed if retried later (connection lost, unavailable, busy). */
  get retryable(): boolean {
    return this.codeName === 'disconnected' || this.codeName === 'unavailable' || this.codeName === 'busy';
  }
}

/** Converts anything thrown by vscode-jsonrpc into a GtcError. */
export function toGtcError(err: unknown, method?: string): GtcError {
  if (err instanceof GtcError) return err;
  if (err instanceof ResponseError) {
    const data = err.data as { code?: unknown } | undefined;
    let name = typeof data?.code === 'string' ? data.code : undefined;
    // vscode-jsonrpc's own codes when a write / read fails or the connection goes away
    // (MessageWriteError -32099, MessageReadError -32098, PendingResponseRejected -32097, ConnectionInactive -32096).
    if (name === undefined && err.code <= -32096 && err.code >= -32099) name = 'disconnected';
    return new GtcError(err.code, err.message, name, err.data, method);
  }
  if (err instanceof ConnectionError) {
    return new GtcError(ErrorCodes.disconnected, err.message, 'disconnected', undefined, method);
  }
  const msg = err instanceof Error ? err.message : String(err);
  return new GtcError(ErrorCodes.internal, msg, 'internal', undefined, method);
}
