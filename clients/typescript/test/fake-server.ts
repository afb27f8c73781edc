// A small fake gtc server for the client tests: Content-Length JSON-RPC via vscode-jsonrpc over node:net.
import { EventEmitter } from 'node:events';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  createMessageConnection,
  MessageConnection,
  ResponseError,
  SocketMessageReader,
  SocketMessageWriter,
} from 'vscode-jsonrpc/node';
import type { Assignment, AssignReply, CancelParams, HelloParams, MergeRequest } from '../src/types.js';

/** One call the fake server received. */
export interface Call {
  method: string;
  params: any;
  conn: FakeConn;
}

/** One client connection on the fake server. */
export interface FakeConn {
  rpc: MessageConnection;
  socket: net.Socket;
  name?: string;
}

type Handler = (params: any, conn: FakeConn) => unknown;

/** A gtc look-alike: records calls, answers the worker methods, pushes assign / cancel on demand. */
export class FakeServer extends EventEmitter {
  readonly calls: Call[] = [];
  readonly conns: FakeConn[] = [];
  /** Order in which calls and assign replies arrived: "call:<method>" and "ack:<lease id>". */
  readonly order: string[] = [];
  heartbeatMs = 1000;
  /** Token required in hello when set. */
  token?: string;
  /** Leases handed back by hello, per worker name. */
  resume = new Map<string, Assignment[]>();
  /** Overrides of the default answers, per method. */
  handlers = new Map<string, Handler>();
  address!: { path: string } | { host: string; port: number };
  private server = net.createServer((s) => this.accept(s));
  private dir?: string;

  /** Listens on a Unix socket in a temp dir, or at socketPath, or on 127.0.0.1 with tcp. */
  async start(tcp = false, socketPath?: string): Promise<this> {
    if (tcp) {
      await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
      const a = this.server.address() as net.AddressInfo;
      this.address = { host: '127.0.0.1', port: a.port };
    } else {
      let p = socketPath;
      if (!p) {
        this.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gtc-ts-'));
        p = path.join(this.dir, 'gtc.sock');
      }
      await new Promise<void>((r) => this.server.listen(p!, r));
      this.address = { path: p };
    }
    return this;
  }

  /** Stops listening and drops every connection. */
  async stop(): Promise<void> {
    for (const c of this.conns) c.socket.destroy();
    await new Promise<void>((r) => this.server.close(() => r()));
    if (this.dir) fs.rmSync(this.dir, { recursive: true, force: true });
  }

  /** The latest connection that said hello. */
  get last(): FakeConn {
    const c = [...this.conns].reverse().find((x) => x.name !== undefined);
    if (!c) throw new Error('no connection said hello');
    return c;
  }

  /** Calls of one method, in order. */
  callsOf(method: string): Call[] {
    return this.calls.filter((c) => c.method === method);
  }

  /** Pushes an assignment to a connection; resolves with the worker's reply (the ack). */
  async assign(conn: FakeConn, a: Assignment): Promise<AssignReply> {
    const reply = (await conn.rpc.sendRequest('assign', a)) as AssignReply;
    this.order.push(`ack:${a.lease?.id}`);
    return reply;
  }

  /** Pushes a merge to a refinery's connection; resolves with its reply (the ack). */
  async merge(conn: FakeConn, m: MergeRequest): Promise<AssignReply> {
    const reply = (await conn.rpc.sendRequest('merge', { request: m })) as AssignReply;
    this.order.push(`ack:${m.id}`);
    return reply;
  }

  /** Sends a cancel notification. */
  cancel(conn: FakeConn, p: CancelParams): Promise<void> {
    return conn.rpc.sendNotification('cancel', p);
  }

  /** Drops a connection abruptly. */
  drop(conn: FakeConn): void {
    conn.socket.destroy();
  }

  private accept(socket: net.Socket): void {
    socket.on('error', () => {});
    const rpc = createMessageConnection(new SocketMessageReader(socket), new SocketMessageWriter(socket));
    const conn: FakeConn = { rpc, socket };
    this.conns.push(conn);
    rpc.onRequest((method: string, params: any) => {
      this.calls.push({ method, params, conn });
      this.order.push(`call:${method}`);
      this.emit('call', method, params);
      const h = this.handlers.get(method);
      if (h) return h(params, conn);
      return this.answer(method, params, conn);
    });
    socket.on('close', () => rpc.dispose());
    rpc.listen();
  }

  private answer(method: string, p: any, conn: FakeConn): unknown {
    if (method === 'hello') {
      const h = p as HelloParams;
      if (this.token !== undefined && h.token !== this.token) {
        return new ResponseError(-32005, 'wrong token', { code: 'unauthorized' });
      }
      conn.name = h.name;
      return {
        server: 'gtc',
        version: 'fake',
        protocol: 1,
        worker: h.name,
        heartbeat_ms: this.heartbeatMs,
        ack_timeout_ms: 1000,
        leases: this.resume.get(h.name) ?? [],
      };
    }
    if (conn.name === undefined) return new ResponseError(-32005, 'hello first', { code: 'unauthorized' });
    switch (method) {
      case 'heartbeat':
        return { deadline: new Date(Date.now() + 30000).toISOString() };
      case 'complete':
        return { issue_id: issueOf(p.lease_id), status: 'closed', outcome: p.outcome };
      case 'fail':
        return { issue_id: issueOf(p.lease_id), status: 'open', attempt: 1, dead_lettered: false };
      case 'release':
        return { issue_id: issueOf(p.lease_id), status: 'open' };
      case 'coord.drain':
        return { worker: p.worker, draining: !p.undo };
      case 'merge.report':
        return { request: { ...mergeRequest(p.id.replace(/^MR-/, ''), p.epoch), state: p.merged ? 'merged' : 'pending' } };
      case 'merge.list':
        return { requests: [] };
      default:
        return new ResponseError(-32601, `method not found: ${method}`);
    }
  }
}

/** Test leases are named "L-<issue id>". */
function issueOf(leaseId: string): string {
  return String(leaseId).replace(/^L-/, '');
}

/** Builds an assignment for issue id with lease "L-<id>". */
export function assignment(id: string, epoch = 1, title = `title of ${id}`): Assignment {
  const now = new Date().toISOString();
  return {
    lease: {
      id: `L-${id}`,
      epoch,
      issue_id: id,
      worker: 'w',
      state: 'pushed',
      attempt: 1,
      created_at: now,
      ack_deadline: now,
      deadline: now,
    },
    issue: { id, title, description: `description of ${id}`, status: 'in_progress', priority: 2, issue_type: 'task', x_unknown: 7 },
    prompt: `${title}\n\ndescription of ${id}`,
  };
}

/** Polls until pred is true; throws after timeoutMs. */
export async function until(pred: () => boolean, timeoutMs = 3000, what = 'condition'): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!pred()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** A promise with its resolve exposed. */
export function deferred<T = void>(): { promise: Promise<T>; resolve: (v: T) => void } {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

/** Builds a merge request "MR-<n>" of issue "gt-<n>" in its slot at epoch. */
export function mergeRequest(n: string, epoch = 1): MergeRequest {
  const now = new Date().toISOString();
  return {
    id: `MR-${n}`,
    issue_id: `gt-${n}`,
    worker: 'w1',
    branch: `feat/${n}`,
    commit: '',
    target: 'main',
    state: 'merging',
    attempts: 0,
    refinery: 'ref',
    epoch,
    deadline: now,
    created_at: now,
    updated_at: now,
  };
}
