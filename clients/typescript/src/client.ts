import { EventEmitter } from 'node:events';
import * as net from 'node:net';
import {
  createMessageConnection,
  DataCallback,
  Disposable,
  Message,
  MessageConnection,
  ResponseError,
  SocketMessageReader,
  SocketMessageWriter,
} from 'vscode-jsonrpc/node';
import { ErrorCodes, GtcError, toGtcError } from './errors.js';
import {
  Assignment,
  AssignReply,
  CancelParams,
  ClaimParams,
  ClaimResult,
  CompleteResult,
  FailResult,
  Filters,
  GtcEvent,
  HeartbeatResult,
  HelloParams,
  HelloResult,
  Lease,
  MergePushParams,
  MergeReportParams,
  MergeRequest,
  Method,
  Methods,
  Progress,
  PROTOCOL_VERSION,
  ReleaseResult,
  Role,
  SessionResult,
  ShutdownParams,
  DrainNotice,
} from './types.js';

/** Where the server is: a Unix socket path, or host:port over TCP (token required). */
export type Endpoint = { path: string; token?: string } | { host: string; port: number; token: string };

/** Reconnect policy: exponential backoff with jitter. */
export interface ReconnectOptions {
  /** First delay before reconnecting (default 100 ms). */
  initialDelayMs?: number;
  /** Largest delay between attempts (default 5000 ms). */
  maxDelayMs?: number;
  /** Growth factor per failed attempt (default 2). */
  factor?: number;
  /** Give up after this many failed attempts (default: never). */
  maxAttempts?: number;
}

/** Options of connect. */
export type ConnectOptions = Endpoint & {
  /** Reconnect after the connection drops (default on); false closes the client instead. */
  reconnect?: false | ReconnectOptions;
  /** Timeout of one socket connect (default 10000 ms). */
  connectTimeoutMs?: number;
  /** Heartbeat interval used when hello's result carries none (default 10000 ms). */
  defaultHeartbeatMs?: number;
  /** Keep retrying the first connect (backoff as for reconnects) for up to this long (default 0: fail at once). */
  connectRetryMs?: number;
  /**
   * A heartbeat (the automatic ones and ctx.heartbeat) unanswered for this long ends the connection, and the
   * reconnect finds the server again: its peer is gone without a word (a crashed host, a network partition: a
   * half-open TCP connection the kernel notices only after many minutes). Default: hello's heartbeat_ms, at least
   * 5000 and at most 30000 ms (20000 with the server's defaults); 0 waits forever. A reconnect's hello unanswered
   * this long is given up too, and tried again on a new connection.
   */
  heartbeatReplyTimeoutMs?: number;
  /** A `loopBlocked` event is emitted when the event loop was blocked this long or longer (default 5000 ms; 0: never). */
  loopBlockedMs?: number;
};

/** Options of hello; role defaults to "worker", capacity to 1 (0 for a client). */
export interface HelloOptions {
  name: string;
  role?: Role;
  capacity?: number;
  filters?: Filters;
  /** Overrides the token given to connect. */
  token?: string;
}

/** A reference to a lease: its id and current epoch. */
export interface LeaseRef {
  id: string;
  epoch: number;
}

/** What a handler gets besides its assignment. */
export interface HandlerContext {
  /** Aborted when the server cancels the lease, the lease is lost, or the client closes / drain times out. */
  signal: AbortSignal;
  /** Sends a heartbeat now (with optional progress); never rejects, resolves undefined when it failed. */
  heartbeat(progress?: Progress): Promise<HeartbeatResult | undefined>;
  /** The lease as currently known (epoch updated if the server re-sent it). */
  readonly lease: Lease;
  /** True when the lease was handed back by hello (a resume), not pushed by assign. */
  resumed: boolean;
}

/** What a handler may return: a (partial) SessionResult; missing fields get defaults, outcome "success". */
export type HandlerResult = Partial<SessionResult> | void;

/** Runs one assignment; return → complete, throw → fail, throw ReleaseLease → release. */
export type AssignmentHandler = (assignment: Assignment, ctx: HandlerContext) => Promise<HandlerResult> | HandlerResult;

/** What a merge handler returns: the merge landed (merged), or why not. */
export interface MergeOutcome {
  merged: boolean;
  /** Conflicting paths: the merge fails for good and the issue is reopened for rework. */
  conflicts?: string[];
  /** The gate failed: the issue is reopened for rework. */
  rework?: boolean;
  /** Why it did not land (any other failure is retried by the server, 3 attempts in all). */
  reason?: string;
  merge_commit?: string;
}

/** What a merge handler gets besides the request. */
export interface MergeContext {
  /** Aborted when the server takes the slot back (cancel, lost after a reconnect), on drain timeout or close. */
  signal: AbortSignal;
  /** Renews every merge slot this refinery holds (a heartbeat without lease), with an optional note for `gtc merge list`; never rejects. */
  heartbeat(progress?: Progress): Promise<HeartbeatResult | undefined>;
  /** The request as currently known (epoch updated if the server pushed it again). */
  readonly request: MergeRequest;
}

/** Runs one merge (a refinery): return → merge.report; throw → merge.report merged:false with the error as reason. */
export type MergeHandler = (request: MergeRequest, ctx: MergeContext) => Promise<MergeOutcome> | MergeOutcome;

/** Payload of the "mergeReported" event: a merge's report went through. */
export interface MergeReportedEvent {
  merge_id: string;
  issue_id: string;
  /** The request after the report (state merged, pending again for a retry, or failed). */
  request: MergeRequest;
}

/** Payload of the "mergeDropped" event: a merge handler ended but nothing was reported. */
export interface MergeDroppedEvent {
  merge_id: string;
  issue_id: string;
  why: AbortKind | 'rejected' | 'unsent';
  error?: GtcError;
}

/** Throw from a handler to release the lease (requeue without penalty) instead of failing it. */
export class ReleaseLease extends Error {
  constructor(readonly reason = 'released by worker') {
    super(reason);
    this.name = 'ReleaseLease';
  }
}

/** Options of drain. */
export interface DrainOptions {
  /** After this long, abort still-running handlers (their leases are released) and close. Default: wait forever. */
  timeoutMs?: number;
}

/** Connection state of a client. */
export type ClientState = 'connected' | 'reconnecting' | 'closed';

type FinishCall = (
  | { method: 'complete'; params: Methods['complete']['params'] }
  | { method: 'fail'; params: Methods['fail']['params'] }
  | { method: 'release'; params: Methods['release']['params'] }
) & { issueId?: string };

/** Payload of the "finished" event: a lease's final call went through. */
export interface FinishedEvent {
  lease_id: string;
  issue_id: string;
  method: 'complete' | 'fail' | 'release';
  result: CompleteResult | FailResult | ReleaseResult;
}

/** Payload of the "dropped" event: a handler ended but its lease was no longer ours, nothing was reported. */
export interface DroppedEvent {
  lease_id: string;
  issue_id: string;
  why: AbortKind | 'rejected' | 'unsent';
  error?: GtcError;
}

type AbortKind = 'cancel' | 'lost' | 'drain' | 'close';

interface RunningMerge {
  request: MergeRequest;
  ac: AbortController;
  abortKind?: AbortKind;
  /** Pushed again at a new epoch while this run was stopping (cancelled or lost): run once this one returns. */
  next?: MergeRequest;
  /** The connection it was last pushed on (see GtcClient.connGen): pushed on the current one, it is held. */
  gen: number;
}

interface RunningLease {
  assignment: Assignment;
  lease: Lease;
  resumed: boolean;
  ac: AbortController;
  abortKind?: AbortKind;
  progress?: Progress;
  timer?: NodeJS.Timeout;
  startedAt: number;
  /** The connection it was pushed or handed back on (see GtcClient.connGen). */
  gen: number;
  /** Its handler runs (a cancelled one's too, until it returns). */
  active?: boolean;
  /** Resolves once the ack of its push has been written (unset: resumed by hello, nothing to wait for). */
  ackWritten?: Promise<void>;
}

/** Client events and their payloads. */
export interface ClientEvents {
  /** The connection dropped (a reconnect follows unless disabled or closed). */
  disconnected: [error?: Error];
  /** hello succeeded again after a drop. */
  reconnected: [result: HelloResult];
  /** A reconnect attempt failed; another follows after delayMs. */
  reconnectFailed: [error: GtcError, attempt: number, delayMs: number];
  /** The server cancelled a lease. */
  cancel: [params: CancelParams];
  /** A coordinator event (after events.subscribe): each once, in seq order, across reconnects. */
  event: [event: GtcEvent];
  /**
   * Events committed while the client was away that it could not read back after a reconnect: pruned from
   * the audit log by the coordinator's retention, or beyond the catch-up's cap (toSeq -1: up to the live ones).
   */
  eventsMissed: [fromSeq: number, toSeq: number];
  /** The server announced its shutdown. */
  shutdown: [params: ShutdownParams];
  /** An operator drained this worker (no new work; running handlers go on) or undid it (`draining: false`). */
  drain: [notice: DrainNotice];
  /** A lease's complete / fail / release went through. */
  finished: [event: FinishedEvent];
  /** A handler's result was not reported (lease cancelled, lost, or the final call was refused). */
  dropped: [event: DroppedEvent];
  /**
   * The event loop was blocked for ms (a synchronous handler: execSync, a long loop): nothing was read or written
   * meanwhile, heartbeats included; a block past the server's heartbeat timeout loses the leases.
   */
  loopBlocked: [ms: number];
  /** A merge's merge.report went through (refineries). */
  mergeReported: [event: MergeReportedEvent];
  /** A merge handler's outcome was not reported (slot cancelled, lost, or the report refused). */
  mergeDropped: [event: MergeDroppedEvent];
  /** A background failure (heartbeat, final call, reconnect giving up); only emitted when listened to. */
  error: [error: GtcError];
  /** The client is closed for good. */
  close: [];
}

const LOST_CODES = new Set(['stale_epoch', 'not_holder', 'not_found']);
/** Longest wait, after the socket closed, for messages that arrived before the close to be handled. */
const CLOSE_DRAIN_MS = 1000;
/** Most events a reconnect's catch-up reads back from the audit log (as gtc watch). */
const CATCH_UP_MAX = 10_000;

/** A socket reader that counts the messages it hands to the connection's queue. */
class CountingReader extends SocketMessageReader {
  read = 0;
  override listen(callback: DataCallback): Disposable {
    return super.listen((msg) => {
      this.read++;
      callback(msg);
    });
  }
}
const FINISHED_MEMORY = 1024;

/**
 * A socket writer that tells when the reply to a given request has been written: a pushed lease's
 * handler starts only once its ack (the assign's reply) has left, so that a handler blocking the event
 * loop cannot hold the ack back past the server's ack timeout (vscode-jsonrpc writes replies a few
 * event-loop turns after the request handler returns).
 */
class AckWriter extends SocketMessageWriter {
  private readonly hooks = new Map<number | string, () => void>();

  /** Resolves once the reply to request id has been written (or the connection ended). */
  replyWritten(id: number | string): Promise<void> {
    return new Promise((resolve) => this.hooks.set(id, resolve));
  }

  override write(msg: Message): Promise<void> {
    const p = super.write(msg);
    const id = (msg as { id?: number | string | null }).id;
    if (id !== undefined && id !== null && !('method' in msg)) {
      const hook = this.hooks.get(id);
      if (hook) {
        this.hooks.delete(id);
        p.then(hook, hook);
      }
    }
    return p;
  }

  /** Resolves every waiting hook: the connection has ended, its replies will not be written. */
  release(): void {
    for (const hook of this.hooks.values()) hook();
    this.hooks.clear();
  }
}

/** A connection to a gtc server, able to run a worker. Create it with connect(). */
export class GtcClient extends EventEmitter {
  private readonly opts: ConnectOptions;
  private conn?: MessageConnection;
  private socket?: net.Socket;
  private _state: ClientState = 'connected';
  private helloParams?: HelloParams;
  /** Capacity offered by the hello in flight: the server may push before hello's reply arrives. */
  private offeredCapacity?: number;
  /** Counts connections: a lease pushed on the current one before hello's reply is not "lost". */
  private connGen = 0;
  private _hello?: HelloResult;
  private _operatorDrained = false;
  private handler?: AssignmentHandler;
  /** While an assign or merge request is being dispatched: a promise of its reply written (AckWriter). */
  private assignReply?: () => Promise<void>;
  private mergeHandler?: MergeHandler;
  /** Merges whose handler runs, by merge request id. */
  private readonly merges = new Map<string, RunningMerge>();
  /** Merge reports not yet answered, by "<id>@<epoch>". */
  private readonly pendingReports = new Map<string, { issueId: string; params: MergeReportParams }>();
  private readonly running = new Map<string, RunningLease>();
  /** Accepted leases whose handlers wait for a slot (see pump). */
  private readonly toStart: RunningLease[] = [];
  private readonly waiting: Assignment[] = [];
  private readonly pendingFinish = new Map<string, FinishCall>();
  private readonly finished = new Set<string>();
  private draining = false;
  /** The coord.drain of this session under way (drain), answered or failed; final calls wait for it. */
  private drainCall?: Promise<unknown>;
  private idleTimer?: NodeJS.Timeout;
  private lagTimer?: NodeJS.Timeout;
  private readonly closeController = new AbortController();
  private idleWaiters: (() => void)[] = [];
  /** connected() calls waiting for a reconnect: settled with no error once connected, with one on close. */
  private readonly connWaiters = new Set<(err?: Error) => void>();
  private retryTimers = new Set<NodeJS.Timeout>();
  private subscription?: { kinds?: string[] };
  /** The audit-log number the next event must pass: the last delivered, or where the first subscription began. */
  private eventCursor = 0;
  /** A subscription answered with its seq (a coordinator that reports none gets no catch-up). */
  private eventsBegan = false;
  /** Live events held while a reconnect's catch-up reads the log back (undefined: none under way). */
  private heldEvents?: GtcEvent[];

  /** Use connect(); the constructor does not open the connection. */
  constructor(opts: ConnectOptions) {
    super();
    this.opts = opts;
  }

  /** Current connection state. */
  get state(): ClientState {
    return this._state;
  }

  /** The last hello result, once hello succeeded. */
  get helloResult(): HelloResult | undefined {
    return this._hello;
  }

  /**
   * Whether an operator's drain is in force for this worker (`gtc drain NAME`), as the last `drain`
   * notification said; the one for a drain in force at hello comes before hello's reply, so this is right
   * once `hello()` resolves even for a `drain` listener added after it. An undo while this client drains
   * itself (`drain()`) is not told (it takes no work anyway): it stays true until the next hello.
   */
  get operatorDrained(): boolean {
    return this._operatorDrained;
  }

  /** Number of handlers running now. */
  get active(): number {
    return this.running.size;
  }

  /** Lease ids whose handler is running now. */
  get activeLeases(): string[] {
    return [...this.running.keys()];
  }

  /** Merge request ids whose merge handler is running now (refineries). */
  get activeMerges(): string[] {
    return [...this.merges.keys()];
  }

  /** Opens the first connection; rejects when the server cannot be reached. */
  async open(): Promise<void> {
    const deadline = Date.now() + (this.opts.connectRetryMs ?? 0);
    let delay = (this.opts.reconnect || {}).initialDelayMs ?? 100;
    for (;;) {
      try {
        await this.openConnection();
        this.watchLoop();
        return;
      } catch (err) {
        const left = deadline - Date.now();
        if (left <= 0 || this.closeController.signal.aborted) throw err;
        await sleep(Math.min(left, jitter(delay)), this.closeController.signal);
        delay = Math.min((this.opts.reconnect || {}).maxDelayMs ?? 5000, delay * 2);
      }
    }
  }

  /** Says hello: registers the worker and resumes the leases the server hands back (needs onAssignment first to run them). */
  async hello(options: HelloOptions): Promise<HelloResult> {
    const role = options.role ?? 'worker';
    const params: HelloParams = {
      name: options.name,
      role,
      capacity: options.capacity ?? (role === 'client' ? 0 : 1),
      protocol: PROTOCOL_VERSION,
    };
    if (options.filters) params.filters = options.filters;
    const token = options.token ?? this.opts.token;
    if (token !== undefined) params.token = token;
    this.offeredCapacity = params.capacity;
    this._operatorDrained = false; // a drain in force is told again before the reply
    const result = await this.request('hello', params);
    this.helloParams = params;
    this.afterHello(result, false);
    return result;
  }

  /** Sets the handler run for each assignment; leases resumed by an earlier hello start now. */
  onAssignment(handler: AssignmentHandler): this {
    this.handler = handler;
    for (const a of this.waiting.splice(0)) this.start(a, true);
    return this;
  }

  /**
   * Sets the handler run for each merge the server pushes (hello with role "refinery"): its outcome is sent with
   * merge.report (idempotent, retried across reconnects). A push of a merge already running is acked without a
   * second run.
   */
  onMerge(handler: MergeHandler): this {
    this.mergeHandler = handler;
    return this;
  }

  /** Calls any client → server method. Errors are GtcError. */
  async request<M extends Method>(method: M, params: Methods[M]['params']): Promise<Methods[M]['result']> {
    const conn = this.conn;
    if (!conn || this._state !== 'connected') {
      throw new GtcError(ErrorCodes.disconnected, `not connected (${this._state})`, 'disconnected', undefined, method);
    }
    try {
      return (await conn.sendRequest(method, params)) as Methods[M]['result'];
    } catch (err) {
      throw toGtcError(err, method);
    }
  }

  /**
   * Resolves once the client is connected (at once when it is), for a call that must not fail because a
   * reconnect is under way (a handler's merge.submit while the server restarts): `await client.connected(30_000)`
   * first. Rejects with a `disconnected` GtcError when the client closes, or when timeoutMs passes (0: no bound).
   */
  connected(timeoutMs = 0): Promise<void> {
    if (this._state === 'connected') return Promise.resolve();
    if (this._state === 'closed') {
      return Promise.reject(new GtcError(ErrorCodes.disconnected, 'client closed', 'disconnected'));
    }
    // one set of waiters, not a listener each (review: 11 waiting handlers made Node warn of a memory leak)
    return new Promise<void>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const done = (err?: Error) => {
        this.connWaiters.delete(done);
        if (timer) clearTimeout(timer);
        if (err) reject(err);
        else resolve();
      };
      this.connWaiters.add(done);
      if (timeoutMs > 0) {
        timer = setTimeout(() => done(new GtcError(ErrorCodes.disconnected, `not connected within ${timeoutMs} ms`, 'disconnected')), timeoutMs);
      }
    });
  }

  /** Calls a method by name without typed params or result (newer methods: merge.*, convoy.*, coord.health, …). */
  call(method: string, params: object = {}): Promise<unknown> {
    return this.request(method as Method, params as never);
  }

  /**
   * A heartbeat that ends the connection when it gets no answer within heartbeatReplyTimeoutMs (see
   * ConnectOptions): the running handlers keep going, and the reconnect's hello resumes their leases.
   */
  private watchedHeartbeat(lease?: LeaseRef, progress?: Progress): Promise<HeartbeatResult> {
    const p = this.heartbeat(lease, progress);
    const ms = this.replyTimeoutMs();
    const socket = this.socket;
    if (ms <= 0 || !socket) return p;
    const armed = performance.now();
    const fire = (again: boolean) => {
      if (this.socket !== socket || this._state !== 'connected') return;
      if (!again && performance.now() - armed > ms + Math.min(1000, ms / 2)) {
        // the timer fired late: the event loop was blocked, and the answer may sit unread in the socket
        // (timers run before the socket is read): look again a second later (review)
        timer = setTimeout(() => fire(true), 1000);
        timer.unref();
        return;
      }
      this.emitError(new GtcError(ErrorCodes.disconnected, `no answer to a heartbeat within ${ms} ms: reconnecting`, 'disconnected', undefined, 'heartbeat'));
      socket.destroy();
    };
    let timer = setTimeout(() => fire(false), ms);
    timer.unref();
    return p.finally(() => clearTimeout(timer));
  }

  /** How long a heartbeat (or a reconnect's hello) may go unanswered before the connection is given up. */
  private replyTimeoutMs(): number {
    return this.opts.heartbeatReplyTimeoutMs ?? Math.min(30_000, Math.max(5_000, this.heartbeatMs()));
  }

  /** Emits loopBlocked when the client's own timer fires loopBlockedMs or more late: the event loop was blocked. */
  private watchLoop(): void {
    const warn = this.opts.loopBlockedMs ?? 5000;
    if (this.lagTimer || warn <= 0) return;
    const tick = Math.min(1000, Math.max(10, warn / 2));
    let last = performance.now(); // not the wall clock: a step of it is no block
    this.lagTimer = setInterval(() => {
      const now = performance.now();
      const late = now - last - tick;
      last = now;
      if (late >= warn) this.emit('loopBlocked', Math.round(late));
    }, tick);
    this.lagTimer.unref();
  }

  /** Sends a heartbeat for a lease (or for the worker alone without one). */
  heartbeat(lease?: LeaseRef, progress?: Progress): Promise<HeartbeatResult> {
    const params: Methods['heartbeat']['params'] = {};
    if (lease) {
      params.lease_id = lease.id;
      params.epoch = lease.epoch;
    }
    if (progress !== undefined) params.progress = clip(progress);
    return this.request('heartbeat', params);
  }

  /** Completes a lease with a session result (for leases got by claim; handler leases are completed automatically). */
  complete(lease: LeaseRef, result: Partial<SessionResult>, idempotencyKey?: string): Promise<CompleteResult> {
    return this.request('complete', { ...sessionDefaults(result, 0), lease_id: lease.id, epoch: lease.epoch, idempotency_key: idempotencyKey });
  }

  /** Fails a lease with an error text. */
  fail(lease: LeaseRef, error: string, idempotencyKey?: string): Promise<FailResult> {
    return this.request('fail', { lease_id: lease.id, epoch: lease.epoch, error: clip(error), idempotency_key: idempotencyKey });
  }

  /** Releases a lease back to the queue without penalty. */
  release(lease: LeaseRef, reason?: string, idempotencyKey?: string): Promise<ReleaseResult> {
    return this.request('release', { lease_id: lease.id, epoch: lease.epoch, reason: reason === undefined ? undefined : clip(reason), idempotency_key: idempotencyKey });
  }

  /**
   * Subscribes to coordinator events (all kinds when none given); renewed after every reconnect, when the
   * events committed while the client was away are read back from the audit log (up to 10,000) and
   * delivered before the live ones, each once.
   */
  async subscribe(kinds?: string[]): Promise<void> {
    const params = kinds && kinds.length ? { kinds } : {};
    const res = await this.request('events.subscribe', params);
    this.subscription = params;
    if (typeof res?.seq === 'number') {
      this.eventCursor = Math.max(this.eventCursor, res.seq);
      this.eventsBegan = true;
    }
  }

  private onEvent(e: GtcEvent): void {
    if (this.heldEvents) this.heldEvents.push(e);
    else this.deliverEvent(e);
  }

  private deliverEvent(e: GtcEvent): void {
    if (typeof e.seq === 'number' && e.seq > 0) {
      if (e.seq <= this.eventCursor) return; // read back from the log already
      this.eventCursor = e.seq;
    }
    this.emit('event', e);
  }

  /** Renews the subscription after a reconnect and delivers what the log holds since the last event. */
  private async resubscribe(sub: { kinds?: string[] }): Promise<void> {
    this.heldEvents ??= [];
    try {
      await this.request('events.subscribe', sub);
      if (this.eventsBegan) await this.catchUp(sub.kinds);
    } catch (e) {
      this.emitError(toGtcError(e, 'events.subscribe'));
    } finally {
      const held = this.heldEvents ?? [];
      this.heldEvents = undefined;
      for (const e of held) this.deliverEvent(e);
    }
  }

  private async catchUp(kinds?: string[]): Promise<void> {
    let next = this.eventCursor + 1; // the log is numbered without gaps: a missing number was pruned
    for (let read = 0; read < CATCH_UP_MAX; ) {
      const page = await this.request('events.list', { after_seq: this.eventCursor, limit: 1000 });
      const events = page?.events ?? [];
      for (const e of events) {
        if (e.seq > next) this.emit('eventsMissed', next, e.seq - 1);
        next = Math.max(next, e.seq + 1);
        if (kinds && kinds.length && !kinds.includes(e.kind)) this.eventCursor = Math.max(this.eventCursor, e.seq);
        else this.deliverEvent(e);
      }
      read += events.length;
      if (!page?.more) return;
    }
    this.emit('eventsMissed', this.eventCursor + 1, -1);
  }

  /** Pulls one assignment (already acked) instead of waiting for a push; null when none is ready. */
  async claim(params: ClaimParams = {}): Promise<Assignment | null> {
    const res: ClaimResult = await this.request('claim', params);
    return res.assignment;
  }

  /** Runs a claimed assignment through the handler like a pushed one (heartbeats, final call); false if already known. */
  runClaimed(a: Assignment): boolean {
    if (!this.handler) throw new Error('runClaimed: set a handler with onAssignment first');
    normalize(a);
    const id = a.lease.id;
    if (this.running.has(id) || this.pendingFinish.has(id) || this.finished.has(id)) return false;
    this.start(a, false);
    return true;
  }

  /**
   * Stops accepting assignments — and tells the server so (a drain of this session), so it pushes
   * nothing more that would wait for this closed worker — waits for running handlers and their final
   * calls, then closes. A final call still unsent when it closes (the server was unreachable until the
   * timeout) is reported as a "dropped" event with why "unsent": the server ends that lease after its
   * reconnect grace.
   */
  async drain(options: DrainOptions = {}): Promise<void> {
    if (this._state === 'closed') return;
    this.draining = true;
    this.drainSession();
    const timeout = options.timeoutMs;
    if (!(await this.waitIdle(timeout))) {
      for (const r of this.running.values()) this.abortLease(r, 'drain', new Error('worker draining'));
      for (const m of this.merges.values()) this.abortMerge(m, 'drain', new Error('refinery draining'));
      // Give the aborted handlers a moment to return and their releases to go out.
      await this.waitIdle(Math.min(5000, Math.max(1000, timeout ?? 0)));
    }
    if ((this._state as ClientState) === 'closed') return; // another drain (or close) ended it, and reported what was unsent
    this.reportUnsent('the coordinator was unreachable until the drain ended');
    this.close();
  }

  /**
   * Reports the kept final calls and merge reports the client will not send (it is about to close) as
   * dropped / mergeDropped with why 'unsent', once: after a drain, and when reconnecting ends (given up,
   * refused, or off) — before, those were discarded without a word.
   */
  private reportUnsent(why: string): void {
    for (const [id, call] of this.pendingFinish) {
      this.emit('dropped', { lease_id: id, issue_id: call.issueId ?? '', why: 'unsent', error: new GtcError(ErrorCodes.unavailable, `${id} not sent: ${why}`, 'unavailable', undefined, call.method) });
    }
    for (const { issueId, params } of this.pendingReports.values()) {
      this.emit('mergeDropped', { merge_id: params.id, issue_id: issueId, why: 'unsent', error: new GtcError(ErrorCodes.unavailable, `the report of ${params.id} not sent: ${why}`, 'unavailable', undefined, 'merge.report') });
    }
    this.pendingFinish.clear();
    this.pendingReports.clear();
  }

  /** Asks the server to push this session nothing more (coord.drain with session: it ends with the session). */
  private drainSession(): void {
    const name = this.helloParams?.name;
    if (!name || this._state !== 'connected' || (this.helloParams?.role ?? 'worker') === 'client') return;
    // Final calls wait for its answer (sendFinish): the server serves one connection's requests
    // concurrently, and a complete applied first would free a slot it fills with a push at once.
    this.drainCall = this.request('coord.drain', { worker: name, session: true }).catch(() => {});
  }

  /** Closes at once: aborts running handlers (nothing is reported for them) and stops reconnecting. */
  close(): void {
    if (this._state === 'closed') return;
    this._state = 'closed';
    this.closeController.abort();
    for (const r of this.running.values()) this.abortLease(r, 'close', new Error('client closed'));
    for (const m of this.merges.values()) this.abortMerge(m, 'close', new Error('client closed'));
    this.stopIdleHeartbeat();
    if (this.lagTimer) clearInterval(this.lagTimer);
    for (const t of this.retryTimers) clearTimeout(t);
    this.retryTimers.clear();
    const conn = this.conn;
    this.conn = undefined;
    conn?.dispose();
    this.socket?.destroy();
    this.notifyIdle(true);
    for (const w of this.connWaiters) w(new GtcError(ErrorCodes.disconnected, 'client closed', 'disconnected'));
    this.emit('close');
  }

  // ---- connection ----

  private openConnection(): Promise<MessageConnection> {
    const o = this.opts;
    const socket = 'path' in o ? net.createConnection(o.path) : net.createConnection(o.port, o.host);
    const timeoutMs = o.connectTimeoutMs ?? 10000;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => fail(new Error(`connect timeout after ${timeoutMs} ms`)), timeoutMs);
      const onClose = () => fail(new Error('closed while connecting'));
      const fail = (err: Error) => {
        clearTimeout(timer);
        socket.destroy();
        this.closeController.signal.removeEventListener('abort', onClose);
        reject(new GtcError(ErrorCodes.disconnected, `connect ${describe(o)}: ${err.message}`, 'disconnected'));
      };
      this.closeController.signal.addEventListener('abort', onClose, { once: true });
      socket.once('error', fail);
      socket.once('connect', () => {
        clearTimeout(timer);
        socket.off('error', fail);
        this.closeController.signal.removeEventListener('abort', onClose);
        socket.on('error', () => {}); // reported through the connection's close
        if (!('path' in o)) socket.setNoDelay(true);
        socket.setKeepAlive(true, 30000);
        resolve(this.attach(socket));
      });
    });
  }

  private attach(socket: net.Socket): MessageConnection {
    // vscode-jsonrpc handles queued messages one per event-loop turn, but the socket's close comes at once: the
    // teardown waits until every message read before the close was handled (a shutdown notification, a cancel
    // or an assign written just before the server closed), at most CLOSE_DRAIN_MS.
    const reader = new CountingReader(socket);
    const writer = new AckWriter(socket);
    let handled = 0;
    let whenDrained: (() => void) | undefined;
    const conn = createMessageConnection(reader, writer, undefined, {
      messageStrategy: {
        handleMessage: (msg, next) => {
          // the request's handler runs within next (up to its first await): onAssign reads the id
          const req = msg as { id?: number | string; method?: string };
          this.assignReply = (req.method === 'assign' || req.method === 'merge') && req.id !== undefined ? () => writer.replyWritten(req.id!) : undefined;
          try {
            // returned, so that vscode-jsonrpc settles it: a reply whose write fails (the server closed its side
            // first: EPIPE) rejects it, and dropped here that was an unhandled rejection, which ends a Node
            // process (a trial: a worker resumed after SIGSTOP answered the server's ping after its close)
            return next(msg);
          } finally {
            this.assignReply = undefined;
            handled++;
            if (whenDrained && handled >= reader.read) whenDrained();
          }
        },
      },
    });
    const lost = () => {
      if (whenDrained) return;
      const timer = setTimeout(() => whenDrained?.(), CLOSE_DRAIN_MS);
      whenDrained = () => {
        clearTimeout(timer);
        whenDrained = () => {};
        writer.release();
        this.onConnectionLost(conn, socket);
      };
      if (handled >= reader.read) whenDrained();
    };
    conn.onRequest('assign', (params: Assignment) => this.onAssign(params));
    conn.onRequest('merge', (params: MergePushParams) => this.onMergePush(params));
    // the server asks whether this process is alive (another hello under its name): any reply says so
    conn.onRequest('ping', () => ({}));
    conn.onNotification('cancel', (params: CancelParams) => this.onCancel(params));
    conn.onNotification('event', (params: GtcEvent) => this.onEvent(params));
    conn.onNotification('shutdown', (params: ShutdownParams) => void this.emit('shutdown', params));
    conn.onNotification('drain', (params: DrainNotice) => {
      this._operatorDrained = params?.draining === true;
      this.emit('drain', params);
    });
    conn.onClose(lost);
    socket.once('close', lost);
    conn.listen();
    this.connGen++;
    this.conn = conn;
    this.socket = socket;
    return conn;
  }

  private onConnectionLost(conn: MessageConnection, socket: net.Socket): void {
    if (conn !== this.conn) return;
    this.conn = undefined;
    this.socket = undefined;
    conn.dispose(); // rejects pending calls with "disconnected"
    socket.destroy();
    this.stopIdleHeartbeat();
    if (this._state === 'closed') return;
    this.emit('disconnected');
    if (this._state === 'reconnecting') return; // the reconnect loop notices the failed hello
    if (!this.helloParams || this.opts.reconnect === false) {
      this.reportUnsent('the connection was lost and reconnecting is off');
      this.close();
      return;
    }
    this._state = 'reconnecting';
    void this.reconnectLoop();
  }

  private async reconnectLoop(): Promise<void> {
    const r = this.opts.reconnect || {};
    const initial = r.initialDelayMs ?? 100;
    const max = r.maxDelayMs ?? 5000;
    const factor = r.factor ?? 2;
    let delay = initial;
    let attempt = 0;
    while (this._state === 'reconnecting') {
      await sleep(jitter(delay), this.closeController.signal);
      if (this._state !== 'reconnecting') return;
      attempt++;
      try {
        const conn = await this.openConnection();
        this._operatorDrained = false; // a drain in force is told again before the hello's reply
        // bounded as a heartbeat is: a connection gone half-open right after its connect (or a hung server)
        // would otherwise keep the reconnect waiting for the kernel's keepalive, minutes past the grace
        const ms = this.replyTimeoutMs();
        let timer: NodeJS.Timeout | undefined;
        const result = (await (ms > 0
          ? Promise.race([
              conn.sendRequest('hello', this.helloParams),
              new Promise<never>((_r, reject) => {
                timer = setTimeout(() => reject(new GtcError(ErrorCodes.disconnected, `no answer to hello within ${ms} ms`, 'disconnected', undefined, 'hello')), ms);
              }),
            ]).finally(() => clearTimeout(timer))
          : conn.sendRequest('hello', this.helloParams))) as HelloResult;
        if (conn !== this.conn) throw new GtcError(ErrorCodes.disconnected, 'connection lost during hello', 'disconnected');
        this._state = 'connected';
        this.afterHello(result, true);
        for (const w of this.connWaiters) w();
        this.emit('reconnected', result);
        return;
      } catch (e) {
        const err = toGtcError(e, 'hello');
        if ((this._state as ClientState) === 'closed') return;
        // A drop during hello leaves this.conn set when the error came from hello itself.
        const stale = this.conn;
        if (stale) {
          this.conn = undefined;
          stale.dispose();
          this.socket?.destroy();
          this.socket = undefined;
        }
        if (err.codeName === 'conflict') {
          // another live process says hello under this name (it answered the server's ping): the server handed it
          // our leases, which it runs; ours would run the same issues beside it (a trial). Stop them; keep trying,
          // in case that process goes away (the leases then come back, resumed).
          for (const r of this.running.values()) this.abortLease(r, 'lost', err);
          for (const m of this.merges.values()) this.abortMerge(m, 'lost', err);
        }
        const fatal = err.codeName === 'unauthorized' || err.codeName === 'invalid' || err.code === -32601;
        if (fatal || (r.maxAttempts !== undefined && attempt >= r.maxAttempts)) {
          this.emitError(err);
          this.reportUnsent(fatal ? `the reconnect's hello was refused (${err.message})` : `reconnecting gave up after ${attempt} attempts (${err.message})`);
          this.close();
          return;
        }
        delay = Math.min(max, delay * factor);
        this.emit('reconnectFailed', err, attempt, delay);
      }
    }
  }

  private afterHello(result: HelloResult, reconnect: boolean): void {
    if (!Array.isArray(result.leases)) result.leases = []; // a Go nil slice arrives as null
    this._hello = result;
    this.startIdleHeartbeat();
    const leases = result.leases;
    const ours = new Set(leases.map((a) => a.lease.id));
    if (reconnect) {
      for (const r of this.running.values()) {
        // A lease pushed on this connection before hello's reply is new work, not a lost one.
        if (!ours.has(r.lease.id) && r.gen !== this.connGen) {
          this.abortLease(r, 'lost', new GtcError(ErrorCodes.not_found, 'lease not resumed after reconnect', 'not_found'));
        }
      }
    }
    const before = new Set(this.running.keys());
    for (const a of leases) this.adopt(a);
    // The interval may have changed, and leases pushed before hello's reply started with the default.
    for (const r of this.running.values()) this.startBeats(r);
    // A lease handed back as pushed was never acked (the ack was lost with the connection, or the
    // process restarted): a heartbeat naming it acks it now, before its ack deadline, not at the
    // first beat interval (the heartbeat timeout / 3, later than the ack timeout by default). Those
    // adopt just started were acked by start.
    for (const a of leases) {
      const r = this.running.get(a.lease.id);
      if (a.lease.state === 'pushed' && r && before.has(a.lease.id)) void this.beat(r);
    }
    if (reconnect) {
      if (this.draining) this.drainSession(); // the drain of the previous session ended with it
      if (this.subscription) void this.resubscribe(this.subscription);
      void this.reconcileMerges();
    }
    this.flushPending();
  }

  /** Takes a lease handed back by hello without ever running it twice. */
  private adopt(a: Assignment): void {
    normalize(a);
    const id = a.lease.id;
    const r = this.running.get(id);
    if (r) {
      r.lease = a.lease;
      r.gen = this.connGen;
      return;
    }
    const f = this.pendingFinish.get(id);
    if (f) {
      f.params.epoch = a.lease.epoch;
      return;
    }
    if (this.finished.has(id) || this.waiting.some((w) => w.lease.id === id)) return;
    if (!this.handler) {
      this.waiting.push(a);
      return;
    }
    this.start(a, true);
  }

  private heartbeatMs(): number {
    const ms = this._hello?.heartbeat_ms;
    return typeof ms === 'number' && ms > 0 ? ms : this.opts.defaultHeartbeatMs ?? 10000;
  }

  private startIdleHeartbeat(): void {
    this.stopIdleHeartbeat();
    this.idleTimer = setInterval(() => {
      // no lease heartbeats: idle, or only aborted handlers still stopping (review: those kept a worker the
      // server marked stalled, after a missed heartbeat deadline, silent until they returned)
      if (this._state === 'connected' && ![...this.running.values()].some((r) => !r.abortKind)) {
        this.watchedHeartbeat().catch(() => {});
      }
    }, this.heartbeatMs());
    this.idleTimer.unref();
  }

  private stopIdleHeartbeat(): void {
    if (this.idleTimer) clearInterval(this.idleTimer);
    this.idleTimer = undefined;
  }

  // ---- server → client ----

  private onAssign(a: Assignment): AssignReply {
    if (!a || typeof a !== 'object' || !a.lease || typeof a.lease.id !== 'string' || typeof a.lease.epoch !== 'number') {
      throw new ResponseError(ErrorCodes.invalid, 'assign: lease.id and lease.epoch are required', { code: 'invalid' });
    }
    normalize(a);
    const id = a.lease.id;
    const r = this.running.get(id);
    if (r) {
      r.lease = a.lease; // a re-push of a lease we are running: ack, do not run twice
      r.gen = this.connGen;
      return { accepted: true };
    }
    const f = this.pendingFinish.get(id);
    if (f) {
      f.params.epoch = a.lease.epoch; // done already; the final call is on its way
      return { accepted: true };
    }
    if (this.finished.has(id)) return { accepted: false, reason: 'lease already finished' };
    if (this.draining || this._state === 'closed') return { accepted: false, reason: 'draining' };
    if (!this.handler) return { accepted: false, reason: 'no handler' };
    const capacity = this.helloParams?.capacity ?? this.offeredCapacity ?? 1;
    // a lease the server cancelled or took back frees its slot at once (the server counts it free), even
    // while its handler is still stopping; while a reconnect's hello is served, so does a lease of the
    // connection lost: the server counts those it resumes, and the others are aborted once hello answers
    // (review: a push then was refused "at capacity")
    let busy = 0;
    for (const r of this.running.values()) {
      if (r.abortKind === 'cancel' || r.abortKind === 'lost') continue;
      if (this._state === 'reconnecting' && r.gen !== this.connGen) continue;
      busy++;
    }
    if (busy >= capacity) return { accepted: false, reason: `at capacity (${capacity})` };
    this.start(a, false, this.assignReply?.());
    return { accepted: true };
  }

  private onMergePush(p: MergePushParams): AssignReply {
    const m = p?.request;
    if (!m || typeof m !== 'object' || typeof m.id !== 'string' || typeof m.epoch !== 'number') {
      throw new ResponseError(ErrorCodes.invalid, 'merge: request.id and request.epoch are required', { code: 'invalid' });
    }
    const r = this.merges.get(m.id);
    if (r && r.abortKind && r.abortKind !== 'drain' && m.epoch !== r.request.epoch) {
      // a new attempt of a merge whose previous run is still stopping (its slot was cancelled or taken
      // back, then handed to us again): it runs once that one returns (review: it was acked, never run);
      // not while draining: it would never run (review)
      if (this.draining || this._state === 'closed') return { accepted: false, reason: 'draining' };
      r.next = m;
      r.gen = this.connGen; // the new attempt's connection (the stopping run is aborted already)
      return { accepted: true };
    }
    if (r) {
      r.request = m; // pushed again (after a reconnect): the running merge reports with this epoch
      r.gen = this.connGen;
      return { accepted: true };
    }
    if (this.pendingReports.has(`${m.id}@${m.epoch}`)) return { accepted: true }; // done; the report is on its way
    if (this.draining || this._state === 'closed') return { accepted: false, reason: 'draining' };
    if (!this.mergeHandler) return { accepted: false, reason: 'no merge handler' };
    const run: RunningMerge = { request: m, ac: new AbortController(), gen: this.connGen };
    this.merges.set(m.id, run);
    const go = () => setImmediate(() => void this.runMerge(run));
    const acked = this.assignReply?.();
    if (acked) void acked.then(go);
    else go();
    return { accepted: true };
  }

  private async runMerge(run: RunningMerge): Promise<void> {
    const handler = this.mergeHandler!;
    const ctx: MergeContext = {
      signal: run.ac.signal,
      heartbeat: (progress?: Progress) => this.watchedHeartbeat(undefined, progress).catch(() => undefined),
      get request() {
        return run.request;
      },
    };
    let outcome: MergeOutcome;
    try {
      if (run.ac.signal.aborted) throw run.ac.signal.reason;
      outcome = (await handler(run.request, ctx)) ?? { merged: false, reason: 'the merge handler returned nothing' };
    } catch (e) {
      outcome = { merged: false, reason: errorText(e) };
    }
    const m = run.request;
    if (this.merges.get(m.id) === run) this.merges.delete(m.id);
    if (run.abortKind && run.abortKind !== 'drain') {
      this.emit('mergeDropped', { merge_id: m.id, issue_id: m.issue_id, why: run.abortKind });
      if (run.next && this._state !== 'closed' && !this.draining) {
        const again: RunningMerge = { request: run.next, ac: new AbortController(), gen: run.gen };
        this.merges.set(again.request.id, again);
        setImmediate(() => void this.runMerge(again));
        return;
      }
      this.notifyIdle();
      return;
    }
    if (this._state === 'closed') {
      // stopped by a drain's timeout but returned only after the drain closed the client (as for leases)
      this.emit('mergeDropped', { merge_id: m.id, issue_id: m.issue_id, why: 'unsent', error: new GtcError(ErrorCodes.unavailable, `the report of ${m.id} not sent: the client closed before its handler returned`, 'unavailable', undefined, 'merge.report') });
      return;
    }
    const params: MergeReportParams = { id: m.id, epoch: m.epoch!, merged: !!outcome.merged };
    if (outcome.conflicts?.length) params.conflicts = outcome.conflicts;
    if (outcome.rework) params.rework = true;
    if (outcome.reason) params.reason = clip(String(outcome.reason));
    if (outcome.merge_commit) params.merge_commit = outcome.merge_commit;
    params.idempotency_key = `${m.id}:${m.epoch}:report`;
    const key = `${m.id}@${m.epoch}`;
    this.pendingReports.set(key, { issueId: m.issue_id, params });
    await this.sendReport(key);
  }

  private sendReport(key: string): Promise<void> {
    const pending = this.pendingReports.get(key);
    if (!pending) return Promise.resolve();
    const { issueId, params } = pending;
    return this.sendKept(this.pendingReports, key, pending, 'merge.report', params, (res) => {
      this.emit('mergeReported', { merge_id: params.id, issue_id: issueId, request: (res as Methods['merge.report']['result']).request });
    }, (err) => {
      this.emitError(err);
      this.emit('mergeDropped', { merge_id: params.id, issue_id: issueId, why: 'rejected', error: err });
    });
  }

  /** After a reconnect: a running merge whose slot this refinery no longer holds is aborted (its report would be refused). */
  private async reconcileMerges(): Promise<void> {
    const name = this.helloParams?.name;
    if (this.merges.size === 0 || !name) return;
    let list: MergeRequest[];
    try {
      list = (await this.request('merge.list', {})).requests ?? [];
    } catch {
      return; // its report is refused if the slot is gone
    }
    for (const [id, run] of this.merges) {
      // pushed on this connection, maybe after merge.list read the queue (review: it was aborted as lost)
      if (run.gen === this.connGen) continue;
      const held = list.find((q) => q.id === id && q.state === 'merging' && q.refinery === name);
      if (!held) this.abortMerge(run, 'lost', new GtcError(ErrorCodes.not_found, `merge slot ${id} not held after the reconnect`, 'not_found'));
      else if (typeof held.epoch === 'number' && held.epoch !== run.request.epoch) run.request = { ...run.request, epoch: held.epoch };
    }
  }

  private abortMerge(run: RunningMerge, kind: AbortKind, reason: Error): void {
    if (run.abortKind) return;
    run.abortKind = kind;
    run.ac.abort(reason);
  }

  private onCancel(p: CancelParams): void {
    this.emit('cancel', p);
    if (p && p.merge_id) {
      const m = this.merges.get(p.merge_id);
      // the new attempt waiting for a stopping run is skipped, not run once that run returns
      if (m?.next && (typeof p.epoch !== 'number' || p.epoch === m.next.epoch)) m.next = undefined;
      if (m && (typeof p.epoch !== 'number' || p.epoch === m.request.epoch)) {
        this.abortMerge(m, 'cancel', new Error(`cancelled: ${p.reason ?? 'by server'}`));
      }
      return;
    }
    const r = p && p.lease_id ? this.running.get(p.lease_id) : undefined;
    if (!r) return;
    if (typeof p.epoch === 'number' && p.epoch !== r.lease.epoch) return;
    this.abortLease(r, 'cancel', new Error(`cancelled: ${p.reason ?? 'by server'}`));
  }

  // ---- running leases ----

  private start(a: Assignment, resumed: boolean, ackWritten?: Promise<void>): void {
    // The server holds one live lease per issue: a new lease of an issue we still run under another ends
    // that one (lost: a reconnect's hello had not yet said so, or its cancel is still to come), and the
    // new one waits for it in pump (review: the two runs overlapped until the old lease's abort)
    for (const o of this.running.values()) {
      if (o.lease.issue_id === a.lease.issue_id && o.lease.id !== a.lease.id && !o.abortKind) {
        this.abortLease(o, 'lost', new GtcError(ErrorCodes.not_found, `lease ${o.lease.id} superseded by ${a.lease.id} on ${a.lease.issue_id}`, 'not_found'));
      }
    }
    const r: RunningLease = { assignment: a, lease: a.lease, resumed, ac: new AbortController(), startedAt: Date.now(), gen: this.connGen, ackWritten };
    this.running.set(a.lease.id, r);
    this.startBeats(r);
    // a resumed lease still pushed (kept waiting for a handler) is acked at once, as in afterHello
    if (resumed && a.lease.state === 'pushed' && this._hello) void this.beat(r);
    this.toStart.push(r);
    this.pump();
  }

  /**
   * Starts waiting handlers. The server counts a cancelled lease's slot free at once and may push the
   * very issue again: while handlers of cancelled (or lost) leases still run and the running ones fill
   * the capacity, the next waits until one returns; a lease of an issue whose cancelled run still stops
   * waits for that run, so two never work on one issue at once. Otherwise every accepted lease starts (a
   * claimed one on a capacity-0 client, resumed ones beyond the capacity).
   */
  private pump(): void {
    const capacity = this.helloParams?.capacity ?? this.offeredCapacity ?? 1;
    let active = 0;
    let dying = 0;
    const stopping = new Set<string>(); // issues whose cancelled (or lost) run still stops
    for (const x of this.running.values()) {
      if (!x.active) continue;
      active++;
      if (x.abortKind === 'cancel' || x.abortKind === 'lost') {
        dying++;
        stopping.add(x.lease.issue_id);
      }
    }
    for (let i = 0; i < this.toStart.length && (dying === 0 || active < capacity); ) {
      const r = this.toStart[i]!;
      if (stopping.has(r.lease.issue_id)) {
        i++; // review: with slots to spare it started beside the stopping run of its issue
        continue;
      }
      this.toStart.splice(i, 1);
      r.active = true;
      r.startedAt = Date.now();
      active++;
      // Run once the ack has been written: a handler that blocks the event loop must not hold it back.
      const go = () => setImmediate(() => void this.run(r));
      if (r.ackWritten) void r.ackWritten.then(go);
      else go();
    }
  }

  private startBeats(r: RunningLease): void {
    if (r.timer) clearInterval(r.timer);
    if (r.abortKind) return;
    r.timer = setInterval(() => void this.beat(r), this.heartbeatMs());
  }

  private async beat(r: RunningLease): Promise<HeartbeatResult | undefined> {
    if (r.ac.signal.aborted || this.running.get(r.lease.id) !== r) return undefined;
    try {
      const res = await this.watchedHeartbeat({ id: r.lease.id, epoch: r.lease.epoch }, r.progress);
      if (res?.deadline) r.lease = { ...r.lease, deadline: res.deadline };
      return res;
    } catch (e) {
      const err = toGtcError(e, 'heartbeat');
      // only while its handler runs: a beat sent just before the handler returned is answered "ended" once
      // the complete went first, and must not abort the signal of a finished handler (a trial)
      if (LOST_CODES.has(err.codeName)) {
        if (this.running.get(r.lease.id) === r) this.abortLease(r, 'lost', err);
      }
      else if (err.codeName !== 'disconnected') this.emitError(err);
      return undefined;
    }
  }

  private abortLease(r: RunningLease, kind: AbortKind, reason: Error): void {
    if (r.abortKind) return;
    r.abortKind = kind;
    if (r.timer) clearInterval(r.timer);
    r.ac.abort(reason);
  }

  private async run(r: RunningLease): Promise<void> {
    const handler = this.handler!;
    const id = r.lease.id;
    const ctx: HandlerContext = {
      signal: r.ac.signal,
      heartbeat: (progress?: Progress) => {
        if (progress !== undefined) r.progress = progress;
        return this.beat(r);
      },
      get lease() {
        return r.lease;
      },
      resumed: r.resumed,
    };
    let call: FinishCall;
    try {
      if (r.ac.signal.aborted) throw r.ac.signal.reason;
      const result = await handler(r.assignment, ctx);
      if (r.abortKind === 'drain') throw r.ac.signal.reason; // see below: whatever it returns
      call = {
        method: 'complete',
        params: { ...sessionDefaults(result || {}, Date.now() - r.startedAt), lease_id: id, epoch: r.lease.epoch },
      };
    } catch (e) {
      // A handler stopped by the drain's timeout is released, also when it returns rather than throws
      // (a handler that resolves on abort): its work is not known to be done (a trial: one closed as success).
      if (e instanceof ReleaseLease || r.abortKind === 'drain') {
        call = { method: 'release', params: { lease_id: id, epoch: r.lease.epoch, reason: e instanceof ReleaseLease ? clip(String(e.reason)) : 'worker draining' } };
      } else {
        call = { method: 'fail', params: { lease_id: id, epoch: r.lease.epoch, error: clip(errorText(e)) } };
      }
    }
    if (r.timer) clearInterval(r.timer);
    this.running.delete(id);
    r.active = false;
    this.pump();
    if (r.abortKind && r.abortKind !== 'drain') {
      this.emit('dropped', { lease_id: id, issue_id: r.lease.issue_id, why: r.abortKind });
      this.notifyIdle();
      return;
    }
    if (this._state === 'closed') {
      // stopped by a drain's timeout but returned only after the drain closed the client (a trial: dropped silently)
      this.emit('dropped', { lease_id: id, issue_id: r.lease.issue_id, why: 'unsent', error: new GtcError(ErrorCodes.unavailable, `${id} not sent (${call.method}): the client closed before its handler returned`, 'unavailable', undefined, call.method) });
      return;
    }
    call.params.idempotency_key = `${id}:${r.lease.epoch}:${call.method}`;
    call.issueId = r.lease.issue_id;
    this.pendingFinish.set(id, call);
    await this.sendFinish(id, call);
  }

  private flushPending(): void {
    for (const [id, call] of this.pendingFinish) void this.sendFinish(id, call);
    for (const key of this.pendingReports.keys()) void this.sendReport(key);
  }

  private sendFinish(id: string, call: FinishCall): Promise<void> {
    const issueId = call.issueId; // review: a call flushed after a reconnect was dropped with issue_id ''
    return this.sendKept(this.pendingFinish, id, call, call.method, call.params, (result) => {
      this.remember(id);
      const res = result as FinishedEvent['result'];
      this.emit('finished', { lease_id: id, issue_id: res.issue_id ?? issueId ?? '', method: call.method, result: res });
    }, (err) => {
      this.remember(id);
      this.emitError(err);
      this.emit('dropped', { lease_id: id, issue_id: issueId ?? '', why: 'rejected', error: err });
    });
  }

  /**
   * Sends a kept final call or merge report (kept, under key in map, until answered): after the drain's
   * coord.drain, again after the reconnect when the connection drops, again a second later while the server
   * is unavailable or busy; sent (the answer) or refused (any other error) once it is settled.
   */
  private async sendKept<V>(map: Map<string, V>, key: string, kept: V, method: Method, params: object, sent: (result: unknown) => void, refused: (err: GtcError) => void): Promise<void> {
    if (this._state !== 'connected') return; // flushed after the reconnect
    if (this.drainCall) await this.drainCall; // the server stops pushing to this session first
    if (this._state !== 'connected') return;
    try {
      const result = await this.request(method, params as never);
      if (map.get(key) !== kept) return;
      map.delete(key);
      sent(result);
    } catch (e) {
      const err = toGtcError(e, method);
      if (map.get(key) !== kept) return;
      if (err.codeName === 'disconnected') return; // flushed after the reconnect
      if (err.retryable) {
        const t = setTimeout(() => {
          this.retryTimers.delete(t);
          if (map.get(key) === kept) void this.sendKept(map, key, kept, method, params, sent, refused);
        }, 1000);
        this.retryTimers.add(t);
        return;
      }
      map.delete(key);
      refused(err);
    } finally {
      this.notifyIdle();
    }
  }

  private remember(id: string): void {
    this.finished.add(id);
    if (this.finished.size > FINISHED_MEMORY) {
      const oldest = this.finished.values().next().value;
      if (oldest !== undefined) this.finished.delete(oldest);
    }
  }

  // ---- idleness ----

  private isIdle(): boolean {
    return this.running.size === 0 && this.pendingFinish.size === 0 && this.merges.size === 0 && this.pendingReports.size === 0;
  }

  private notifyIdle(force = false): void {
    if (!force && !this.isIdle()) return;
    for (const w of this.idleWaiters.splice(0)) w();
  }

  /** Resolves true once idle, false on timeout. */
  private waitIdle(timeoutMs?: number): Promise<boolean> {
    if (this.isIdle() || this._state === 'closed') return Promise.resolve(true);
    return new Promise((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const done = () => {
        if (timer) clearTimeout(timer);
        resolve(true);
      };
      this.idleWaiters.push(done);
      if (timeoutMs !== undefined) {
        timer = setTimeout(() => {
          this.idleWaiters = this.idleWaiters.filter((w) => w !== done);
          resolve(this.isIdle());
        }, timeoutMs);
      }
    });
  }

  private emitError(err: GtcError): void {
    if (this.listenerCount('error') > 0) this.emit('error', err);
  }
}

// Typed event methods.
export interface GtcClient {
  on<E extends keyof ClientEvents>(event: E, listener: (...args: ClientEvents[E]) => void): this;
  once<E extends keyof ClientEvents>(event: E, listener: (...args: ClientEvents[E]) => void): this;
  off<E extends keyof ClientEvents>(event: E, listener: (...args: ClientEvents[E]) => void): this;
  emit<E extends keyof ClientEvents>(event: E, ...args: ClientEvents[E]): boolean;
}

/** Connects to a gtc server; call onAssignment then hello on the result. */
export async function connect(options: ConnectOptions): Promise<GtcClient> {
  const client = new GtcClient(options);
  await client.open();
  return client;
}

function sessionDefaults(r: Partial<SessionResult>, durationMs: number): SessionResult {
  return {
    outcome: r.outcome ?? 'success',
    summary: clip(r.summary ?? ''),
    git_commit: clip(r.git_commit ?? ''),
    context_used: r.context_used ?? 0,
    duration_ms: r.duration_ms ?? durationMs,
    error: clip(r.error ?? ''),
  };
}

/**
 * Longest free text (summary, error, progress, reason) sent, in UTF-16 units: a message over the server's cap
 * (--max-message, 1 MiB) is answered by closing the connection, and a kept final call would be sent again after
 * every reconnect, without end (a trial: a 2 MB summary). Even escaped (6 bytes a unit at worst), the three texts
 * of a complete stay under 1 MiB.
 */
export const MAX_TEXT = 32_768;

/** A text cut to its last MAX_TEXT units (the end of an agent's output says most), marked as cut. */
function clip(text: string): string {
  if (typeof text !== 'string' || text.length <= MAX_TEXT) return text;
  let keep = MAX_TEXT - 40; // room for the mark
  const first = text.charCodeAt(text.length - keep);
  if (first >= 0xdc00 && first <= 0xdfff) keep--; // not half of a surrogate pair (an emoji): it would arrive as U+FFFD
  return `[${text.length - keep} characters cut] …${text.slice(text.length - keep)}`;
}

/** Fills what the server may leave null: issue (no record stored) and prompt. */
function normalize(a: Assignment): void {
  if (!a.issue || typeof a.issue !== 'object') a.issue = { id: a.lease.issue_id, title: '' };
  if (typeof a.prompt !== 'string') a.prompt = '';
}

function errorText(e: unknown): string {
  if (e instanceof Error) return e.message || e.name;
  if (typeof e === 'string') return e;
  if (e && typeof e === 'object') {
    const m = (e as { message?: unknown }).message;
    if (typeof m === 'string' && m) return m; // a thrown { message } object
    try {
      const j = JSON.stringify(e);
      if (j && j !== '{}') return j;
    } catch {
      // a cycle: fall through
    }
  }
  return String(e);
}

function describe(e: Endpoint): string {
  return 'path' in e ? e.path : `${e.host}:${e.port}`;
}

function jitter(ms: number): number {
  return Math.round(ms * (0.8 + Math.random() * 0.4));
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}
