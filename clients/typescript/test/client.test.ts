import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { ResponseError } from 'vscode-jsonrpc/node';
import { connect, ConnectOptions, DroppedEvent, FinishedEvent, GtcClient, GtcError, MergeDroppedEvent, MergeReportedEvent, ReleaseLease } from '../src/index.js';
import type { Assignment, CancelParams, MergeRequest } from '../src/types.js';
import { assignment, deferred, FakeServer, mergeRequest, until } from './fake-server.js';

let server: FakeServer;
let client: GtcClient | undefined;

async function worker(opts: Partial<ConnectOptions> = {}): Promise<GtcClient> {
  client = await connect({ ...server.address, reconnect: { initialDelayMs: 10, maxDelayMs: 50 }, ...opts } as ConnectOptions);
  return client;
}

beforeEach(async () => {
  server = await new FakeServer().start();
});

afterEach(async () => {
  client?.close();
  client = undefined;
  await server.stop();
});

describe('hello', () => {
  it('sends name, role, capacity, filters, protocol and returns the result', async () => {
    server.heartbeatMs = 1234;
    const c = await worker({ token: 'tok' });
    const res = await c.hello({ name: 'w1', capacity: 3, filters: { labels: ['go'], prefixes: ['bd-'] } });
    assert.equal(res.worker, 'w1');
    assert.equal(res.heartbeat_ms, 1234);
    assert.deepEqual(server.callsOf('hello')[0].params, {
      name: 'w1',
      role: 'worker',
      capacity: 3,
      protocol: 1,
      filters: { labels: ['go'], prefixes: ['bd-'] },
      token: 'tok',
    });
    assert.equal(c.helloResult?.version, 'fake');
  });

  it('surfaces a wrong token as GtcError unauthorized', async () => {
    server.token = 'right';
    const c = await worker({ token: 'wrong' });
    await assert.rejects(c.hello({ name: 'w1' }), (e: unknown) => {
      assert.ok(e instanceof GtcError);
      assert.equal(e.code, -32005);
      assert.equal(e.codeName, 'unauthorized');
      assert.equal(e.method, 'hello');
      return true;
    });
  });

  it('connects over TCP with a token', async () => {
    await server.stop();
    server = await new FakeServer().start(true);
    server.token = 'secret';
    const c = await worker({ token: 'secret' });
    const res = await c.hello({ name: 'tcp-w' });
    assert.equal(res.worker, 'tcp-w');
    assert.ok('host' in server.address);
  });

  it('keeps retrying the first connect for connectRetryMs', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gtc-ts-late-'));
    const sock = path.join(dir, 'gtc.sock');
    const late = new FakeServer();
    try {
      const pending = connect({ path: sock, connectRetryMs: 3000, reconnect: { initialDelayMs: 10, maxDelayMs: 40 } });
      await new Promise((r) => setTimeout(r, 100));
      await late.start(false, sock);
      client = await pending;
      assert.equal((await client.hello({ name: 'late' })).worker, 'late');
      await assert.rejects(connect({ path: path.join(dir, 'none.sock'), connectRetryMs: 50 }), (e: unknown) => e instanceof GtcError);
    } finally {
      client?.close();
      client = undefined;
      await late.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('treats leases: null (a Go nil slice) as no leases', async () => {
    server.handlers.set('hello', (p, conn) => {
      conn.name = p.name;
      return { server: 'gtc', version: 'go', protocol: 1, worker: p.name, heartbeat_ms: 1000, ack_timeout_ms: 1000, leases: null };
    });
    const c = await worker();
    c.onAssignment(() => {});
    const res = await c.hello({ name: 'w1' });
    assert.deepEqual(res.leases, []);
    assert.equal(c.active, 0);
  });

  it('rejects connect when nothing listens', async () => {
    await assert.rejects(connect({ path: '/nonexistent/gtc.sock' }), (e: unknown) => e instanceof GtcError && e.codeName === 'disconnected');
  });
});

describe('assignments', () => {
  it('acks at once, runs the handler, completes with the SessionResult', async () => {
    const c = await worker();
    const gate = deferred();
    const seen: Assignment[] = [];
    c.onAssignment(async (a, { heartbeat }) => {
      seen.push(a);
      await heartbeat('started');
      await gate.promise;
      return { outcome: 'code_complete', summary: 'did it', git_commit: 'abc123', context_used: 42, duration_ms: 7, error: '' };
    });
    await c.hello({ name: 'w1' });
    const reply = await server.assign(server.last, assignment('bd-1', 5));
    assert.deepEqual(reply, { accepted: true });
    await until(() => seen.length === 1, 2000, 'handler start');
    assert.equal(server.callsOf('complete').length, 0, 'complete only after the handler returns');
    await until(() => server.callsOf('heartbeat').length === 1);
    assert.deepEqual(server.order.slice(-2), ['ack:L-bd-1', 'call:heartbeat'], 'the ack goes out before the handler runs');
    assert.equal(seen[0].issue.x_unknown, 7, 'unknown issue keys reach the handler');
    const finished = new Promise<FinishedEvent>((r) => c.once('finished', r));
    gate.resolve();
    const f = await finished;
    assert.equal(f.method, 'complete');
    assert.equal(f.issue_id, 'bd-1');
    const [call] = server.callsOf('complete');
    assert.deepEqual(call.params, {
      lease_id: 'L-bd-1',
      epoch: 5,
      outcome: 'code_complete',
      summary: 'did it',
      git_commit: 'abc123',
      context_used: 42,
      duration_ms: 7,
      error: '',
      idempotency_key: 'L-bd-1:5:complete',
    });
    assert.equal(c.active, 0);
  });

  it('fills SessionResult defaults and measures duration', async () => {
    const c = await worker();
    c.onAssignment(async () => {
      await new Promise((r) => setTimeout(r, 20));
    });
    await c.hello({ name: 'w1' });
    await server.assign(server.last, assignment('bd-2'));
    await until(() => server.callsOf('complete').length === 1);
    const p = server.callsOf('complete')[0].params;
    assert.equal(p.outcome, 'success');
    assert.equal(p.summary, '');
    assert.equal(p.git_commit, '');
    assert.equal(p.context_used, 0);
    assert.ok(p.duration_ms >= 15, `duration_ms ${p.duration_ms}`);
  });

  it('fails the lease when the handler throws, releases on ReleaseLease', async () => {
    const c = await worker();
    c.onAssignment(async (a) => {
      if (a.issue.id === 'bd-f') throw new Error('compiler exploded');
      throw new ReleaseLease('not my kind of work');
    });
    await c.hello({ name: 'w1', capacity: 2 });
    await server.assign(server.last, assignment('bd-f', 2));
    await server.assign(server.last, assignment('bd-r', 3));
    await until(() => server.callsOf('fail').length === 1 && server.callsOf('release').length === 1);
    assert.deepEqual(server.callsOf('fail')[0].params, {
      lease_id: 'L-bd-f',
      epoch: 2,
      error: 'compiler exploded',
      idempotency_key: 'L-bd-f:2:fail',
    });
    assert.deepEqual(server.callsOf('release')[0].params, {
      lease_id: 'L-bd-r',
      epoch: 3,
      reason: 'not my kind of work',
      idempotency_key: 'L-bd-r:3:release',
    });
  });

  it('reports what a handler threw that is not an Error: a string, a { message } object, other objects as JSON', async () => {
    const c = await worker();
    const thrown: Record<string, unknown> = { 'bd-s': 'plain text', 'bd-m': { message: 'from an object' }, 'bd-o': { code: 7 } };
    c.onAssignment(async (a) => {
      throw thrown[a.issue.id];
    });
    await c.hello({ name: 'w1', capacity: 3 });
    for (const id of Object.keys(thrown)) await server.assign(server.last, assignment(id));
    await until(() => server.callsOf('fail').length === 3);
    const errs = Object.fromEntries(server.callsOf('fail').map((x) => [x.params.lease_id, x.params.error]));
    assert.deepEqual(errs, { 'L-bd-s': 'plain text', 'L-bd-m': 'from an object', 'L-bd-o': '{"code":7}' });
  });

  it('rejects when at capacity and when no handler is set', async () => {
    const c = await worker();
    await c.hello({ name: 'w1', capacity: 1 });
    const noHandler = await server.assign(server.last, assignment('bd-0'));
    assert.equal(noHandler.accepted, false);
    assert.match(noHandler.reason ?? '', /handler/);
    const gate = deferred();
    let runs = 0;
    c.onAssignment(async () => {
      runs++;
      await gate.promise;
    });
    assert.deepEqual(await server.assign(server.last, assignment('bd-1')), { accepted: true });
    const second = await server.assign(server.last, assignment('bd-2'));
    assert.equal(second.accepted, false);
    assert.match(second.reason ?? '', /capacity/);
    // A re-push of the running lease is acked without a second run.
    assert.deepEqual(await server.assign(server.last, assignment('bd-1')), { accepted: true });
    gate.resolve();
    await until(() => server.callsOf('complete').length === 1);
    assert.equal(runs, 1);
    assert.deepEqual(await server.assign(server.last, assignment('bd-2')), { accepted: true }, 'a slot is free again');
  });

  it('gives the handler a stub issue when the server sends issue: null', async () => {
    const c = await worker();
    const got: Assignment[] = [];
    c.onAssignment((a) => {
      got.push(a);
    });
    await c.hello({ name: 'w1' });
    const a = assignment('bd-null');
    await server.assign(server.last, { ...a, issue: null as never });
    await until(() => server.callsOf('complete').length === 1);
    assert.deepEqual(got[0].issue, { id: 'bd-null', title: '' });
  });

  it('runs a claimed assignment with heartbeats and complete, once', async () => {
    server.heartbeatMs = 20;
    server.handlers.set('claim', () => ({ assignment: { ...assignment('bd-cl', 4), lease: { ...assignment('bd-cl', 4).lease, state: 'acked' } } }));
    const c = await worker();
    c.onAssignment(async (_a, { lease }) => {
      await until(() => server.callsOf('heartbeat').some((h) => h.params.lease_id === lease.id), 2000, 'lease heartbeat');
      return { outcome: 'success', summary: 'claimed' };
    });
    await c.hello({ name: 'w1' });
    const a = await c.claim({ wait_ms: 10 });
    assert.ok(a);
    assert.equal(c.runClaimed(a), true);
    assert.equal(c.runClaimed(a), false, 'not twice');
    await until(() => server.callsOf('complete').length === 1);
    assert.equal(server.callsOf('complete')[0].params.summary, 'claimed');
    assert.deepEqual(server.callsOf('claim')[0].params, { wait_ms: 10 });
  });

  it('answers a malformed assign with invalid params', async () => {
    const c = await worker();
    c.onAssignment(() => {});
    await c.hello({ name: 'w1' });
    await assert.rejects(server.last.rpc.sendRequest('assign', { issue: {} }), (e: unknown) => e instanceof ResponseError && e.code === -32602);
  });

  it('answers the server\'s ping (a hello under its name elsewhere asks whether it is alive)', async () => {
    const c = await worker();
    await c.hello({ name: 'w1' });
    assert.deepEqual(await server.last.rpc.sendRequest('ping'), {});
  });
});

describe('heartbeats', () => {
  it('beats per lease with lease_id and epoch while the handler runs, and on demand with progress', async () => {
    server.heartbeatMs = 20;
    const c = await worker();
    c.onAssignment(async (_a, { heartbeat }) => {
      const r = await heartbeat('half way');
      assert.ok(r?.deadline, 'manual heartbeat returns the deadline');
      await until(() => leaseBeats() >= 3, 2000, 'automatic heartbeats');
      return { outcome: 'success' };
    });
    const leaseBeats = () => server.callsOf('heartbeat').filter((h) => h.params.lease_id === 'L-bd-h').length;
    await c.hello({ name: 'w1' });
    await server.assign(server.last, assignment('bd-h', 9));
    await until(() => server.callsOf('complete').length === 1);
    const beats = server.callsOf('heartbeat').filter((h) => h.params.lease_id === 'L-bd-h');
    assert.ok(beats.length >= 3);
    for (const b of beats) assert.equal(b.params.epoch, 9);
    assert.equal(beats[0].params.progress, 'half way');
    // No more lease heartbeats once the lease is done.
    const n = leaseBeats();
    await new Promise((r) => setTimeout(r, 80));
    assert.equal(leaseBeats(), n);
    assert.ok(server.callsOf('heartbeat').some((h) => h.params.lease_id === undefined), 'idle worker heartbeat');
  });

  it('accepts pushes that arrive before hello\'s reply (up to the offered capacity) and beats at hello\'s interval', async () => {
    // The real server may queue assignments while it serves hello, ahead of hello's reply.
    const acks: unknown[] = [];
    server.handlers.set('hello', (p, conn) => {
      conn.name = p.name;
      for (const id of ['bd-e1', 'bd-e2', 'bd-e3']) void server.assign(conn, assignment(id)).then((r) => acks.push(r));
      return { server: 'gtc', version: 'fake', protocol: 1, worker: p.name, heartbeat_ms: 20, ack_timeout_ms: 1000, leases: [] };
    });
    const c = await worker({ defaultHeartbeatMs: 60_000 });
    const gate = deferred();
    const ran: string[] = [];
    c.onAssignment(async (a) => {
      ran.push(a.lease.id);
      await gate.promise;
      return {};
    });
    await c.hello({ name: 'early', capacity: 2 });
    await until(() => acks.length === 3, 2000, 'three assign replies');
    assert.deepEqual(acks, [{ accepted: true }, { accepted: true }, { accepted: false, reason: 'at capacity (2)' }]);
    const beats = (id: string) => server.callsOf('heartbeat').filter((h) => h.params.lease_id === id).length;
    await until(() => beats('L-bd-e1') >= 2 && beats('L-bd-e2') >= 2, 2000, 'heartbeats at hello\'s 20 ms, not the 60 s default');
    gate.resolve();
    await until(() => server.callsOf('complete').length === 2, 2000, 'both complete');
    assert.deepEqual(ran.sort(), ['L-bd-e1', 'L-bd-e2']);
  });

  it('keeps a lease pushed on the new connection before the reconnect hello\'s reply', async () => {
    const c = await worker();
    const gate = deferred();
    const dropped: DroppedEvent[] = [];
    c.on('dropped', (d) => dropped.push(d));
    c.onAssignment(async () => {
      await gate.promise;
      return { summary: 'kept' };
    });
    await c.hello({ name: 'w1' });
    server.handlers.set('hello', (p, conn) => {
      conn.name = p.name;
      void server.assign(conn, assignment('bd-new', 4)); // new work, not in the resumed leases
      return { server: 'gtc', version: 'fake', protocol: 1, worker: p.name, heartbeat_ms: 1000, ack_timeout_ms: 1000, leases: [] };
    });
    const reconnected = new Promise((r) => c.once('reconnected', r));
    server.drop(server.last);
    await reconnected;
    assert.deepEqual(c.activeLeases, ['L-bd-new']);
    gate.resolve();
    await until(() => server.callsOf('complete').length === 1, 2000, 'complete');
    assert.equal(server.callsOf('complete')[0].params.lease_id, 'L-bd-new');
    assert.deepEqual(dropped, []);
  });

  it('takes a push made during the reconnect hello into the slot of a lease that hello does not resume', async () => {
    const c = await worker();
    const gate = deferred();
    c.onAssignment(async (a, { signal }) => {
      if (a.lease.id === 'L-bd-old') await new Promise((_r, rej) => signal.addEventListener('abort', () => rej(signal.reason)));
      else await gate.promise;
      return { summary: 'new work' };
    });
    await c.hello({ name: 'w1', capacity: 1 });
    await server.assign(server.last, assignment('bd-old', 3));
    await until(() => c.active === 1);
    // away past the grace: bd-old's lease has expired, and the free slot is filled while hello is served
    const acks: unknown[] = [];
    server.handlers.set('hello', (p, conn) => {
      conn.name = p.name;
      void server.assign(conn, assignment('bd-next', 4)).then((r) => acks.push(r));
      return { server: 'gtc', version: 'fake', protocol: 1, worker: p.name, heartbeat_ms: 1000, ack_timeout_ms: 1000, leases: [] };
    });
    const dropped = new Promise<DroppedEvent>((r) => c.once('dropped', r));
    server.drop(server.last);
    assert.equal((await dropped).lease_id, 'L-bd-old');
    await until(() => acks.length === 1, 2000, 'the reply to the push');
    assert.deepEqual(acks, [{ accepted: true }], 'the server counts the slot free: not "at capacity"');
    gate.resolve();
    await until(() => server.callsOf('complete').some((x) => x.params.lease_id === 'L-bd-next'), 2000, 'the new lease completes');
  });

  it('aborts the handler when a heartbeat says the lease is gone, and reports nothing', async () => {
    server.heartbeatMs = 20;
    server.handlers.set('heartbeat', (p) =>
      p.lease_id ? new ResponseError(-32003, 'stale epoch', { code: 'stale_epoch' }) : { deadline: new Date().toISOString() },
    );
    const c = await worker();
    let reason: unknown;
    c.onAssignment(
      (_a, { signal }) =>
        new Promise((_res, rej) => {
          signal.addEventListener('abort', () => {
            reason = signal.reason;
            rej(signal.reason);
          });
        }),
    );
    await c.hello({ name: 'w1' });
    const dropped = new Promise<DroppedEvent>((r) => c.once('dropped', r));
    await server.assign(server.last, assignment('bd-s'));
    const d = await dropped;
    assert.equal(d.why, 'lost');
    assert.ok(reason instanceof GtcError && reason.codeName === 'stale_epoch');
    assert.equal(server.callsOf('fail').length + server.callsOf('complete').length, 0);
  });

  it('a heartbeat answered "ended" after its handler returned (the complete went first) does not abort the signal', async () => {
    // A trial: a lease heartbeat sent just before the handler returned was answered after the complete, with
    // stale_epoch, and aborted the signal of the finished handler (its abort listeners ran after its end).
    const completed = deferred();
    server.handlers.set('heartbeat', async (p) => {
      if (!p.lease_id) return { deadline: new Date().toISOString() };
      await completed.promise;
      return new ResponseError(-32003, 'lease L-bd-late has ended', { code: 'stale_epoch' });
    });
    server.handlers.set('complete', (p) => {
      completed.resolve();
      return { issue_id: 'bd-late', status: 'closed', outcome: p.outcome };
    });
    const c = await worker();
    let signal: AbortSignal | undefined;
    let beat: Promise<unknown> | undefined;
    c.onAssignment(async (_a, ctx) => {
      signal = ctx.signal;
      beat = ctx.heartbeat('almost done'); // answered only after the complete
      return { summary: 'done' };
    });
    await c.hello({ name: 'w1' });
    const finished = new Promise<FinishedEvent>((r) => c.once('finished', r));
    await server.assign(server.last, assignment('bd-late'));
    assert.equal((await finished).method, 'complete');
    await beat;
    assert.equal(signal?.aborted, false, 'the signal of a handler that returned is left alone');
  });
});

describe('cancel', () => {
  it('aborts the signal of the cancelled lease only', async () => {
    const c = await worker();
    const started = new Set<string>();
    c.onAssignment(async (a, { signal }) => {
      started.add(a.issue.id);
      await new Promise<void>((resolve) => {
        if (a.issue.id === 'bd-keep') setTimeout(resolve, 100);
        signal.addEventListener('abort', () => resolve());
      });
      return { outcome: signal.aborted ? 'partial' : 'success', summary: String(signal.reason ?? '') };
    });
    await c.hello({ name: 'w1', capacity: 2 });
    await server.assign(server.last, assignment('bd-c', 4));
    await server.assign(server.last, assignment('bd-keep', 4));
    await until(() => started.size === 2);
    const dropped = new Promise<DroppedEvent>((r) => c.once('dropped', r));
    await server.cancel(server.last, { lease_id: 'L-bd-c', epoch: 4, issue_id: 'bd-c', reason: 'issue closed by hand' });
    const d = await dropped;
    assert.equal(d.lease_id, 'L-bd-c');
    assert.equal(d.why, 'cancel');
    await until(() => server.callsOf('complete').length === 1);
    assert.equal(server.callsOf('complete')[0].params.lease_id, 'L-bd-keep', 'cancelled lease is not completed');
    assert.equal(server.callsOf('complete')[0].params.outcome, 'success');
  });

  it('counts a cancelled lease\'s slot free while its handler is still stopping, and runs the next after it', async () => {
    const c = await worker();
    const stop = deferred();
    const started: string[] = [];
    c.onAssignment(async (a) => {
      started.push(a.issue.id);
      await stop.promise; // does not watch its signal: a cancelled one stops late
    });
    await c.hello({ name: 'w1', capacity: 1 });
    assert.deepEqual(await server.assign(server.last, assignment('bd-slow', 7)), { accepted: true });
    const cancelled = new Promise((r) => c.once('cancel', r));
    await server.cancel(server.last, { lease_id: 'L-bd-slow', epoch: 7, issue_id: 'bd-slow', reason: 'operator' });
    await cancelled;
    // the server counts the slot free at once and may push right away: accepted, not "at capacity"
    assert.deepEqual(await server.assign(server.last, assignment('bd-next', 8)), { accepted: true });
    assert.equal((await server.assign(server.last, assignment('bd-third', 9))).accepted, false, 'the slot is taken again');
    await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(started, ['bd-slow'], 'the next handler waits for the cancelled one to return');
    stop.resolve();
    await until(() => server.callsOf('complete').some((x) => x.params.lease_id === 'L-bd-next'));
    assert.deepEqual(started, ['bd-slow', 'bd-next']);
  });

  it('with slots to spare, a new lease of an issue whose cancelled run is still stopping waits for that run', async () => {
    const c = await worker();
    const stop = deferred();
    const started: string[] = [];
    c.onAssignment(async (a) => {
      started.push(a.lease.id);
      if (a.lease.id === 'L-bd-same') await stop.promise; // does not watch its signal: a cancelled one stops late
    });
    await c.hello({ name: 'w1', capacity: 2 });
    await server.assign(server.last, assignment('bd-same', 7));
    await until(() => started.length === 1);
    const cancelled = new Promise((r) => c.once('cancel', r));
    await server.cancel(server.last, { lease_id: 'L-bd-same', epoch: 7, issue_id: 'bd-same', reason: 'not acked in time' });
    await cancelled;
    // the issue pushed again at once, as a new lease, to the same worker
    const again = assignment('bd-same', 8);
    again.lease.id = 'L-bd-same-2';
    assert.deepEqual(await server.assign(server.last, again), { accepted: true });
    await new Promise((r) => setTimeout(r, 30));
    assert.deepEqual(started, ['L-bd-same'], 'two runs of one issue never overlap');
    stop.resolve();
    await until(() => server.callsOf('complete').some((x) => x.params.lease_id === 'L-bd-same-2'));
    assert.deepEqual(started, ['L-bd-same', 'L-bd-same-2']);
  });

  it('a new lease of an issue it still runs under another ends the old run first: the two never overlap', async () => {
    const c = await worker();
    const stop = deferred();
    const started: string[] = [];
    let oldAborted = false;
    c.onAssignment(async (a, { signal }) => {
      started.push(a.lease.id);
      if (a.lease.id === 'L-bd-twin') {
        signal.addEventListener('abort', () => (oldAborted = true));
        await stop.promise; // does not stop at once
      }
    });
    await c.hello({ name: 'w1', capacity: 2 });
    await server.assign(server.last, assignment('bd-twin', 3));
    await until(() => started.length === 1);
    // the issue pushed again under a new lease with no cancel of the old one seen yet (it expired
    // while the connection was away; the reconnect's hello had not answered)
    const again = assignment('bd-twin', 4);
    again.lease.id = 'L-bd-twin-2';
    assert.deepEqual(await server.assign(server.last, again), { accepted: true });
    await new Promise((r) => setTimeout(r, 30));
    assert.equal(oldAborted, true, 'the old run is told to stop');
    assert.deepEqual(started, ['L-bd-twin'], 'the new run waits for it');
    stop.resolve();
    await until(() => server.callsOf('complete').some((x) => x.params.lease_id === 'L-bd-twin-2'));
    assert.deepEqual(started, ['L-bd-twin', 'L-bd-twin-2']);
    assert.equal(server.callsOf('complete').filter((x) => x.params.lease_id === 'L-bd-twin').length, 0, 'the old lease reports nothing');
  });

  it('keeps showing life while a cancelled handler is still stopping: the idle heartbeats go on', async () => {
    server.heartbeatMs = 20;
    const c = await worker();
    const stop = deferred();
    c.onAssignment(async () => {
      await stop.promise; // does not watch its signal
    });
    await c.hello({ name: 'w1' });
    await server.assign(server.last, assignment('bd-stall', 5));
    await until(() => c.active === 1);
    const cancelled = new Promise((r) => c.once('cancel', r));
    // the server took the lease back and marked the worker stalled: it pushes nothing until a heartbeat
    await server.cancel(server.last, { lease_id: 'L-bd-stall', epoch: 5, issue_id: 'bd-stall', reason: 'no heartbeat before the deadline' });
    await cancelled;
    const n = server.callsOf('heartbeat').length;
    await new Promise((r) => setTimeout(r, 150));
    const after = server.callsOf('heartbeat').slice(n);
    stop.resolve();
    assert.ok(after.length >= 2, `${after.length} heartbeats in 150 ms at a 20 ms interval`);
    assert.ok(after.every((h) => h.params.lease_id === undefined), 'none for the cancelled lease');
  });

  it('ignores a cancel for an older epoch', async () => {
    const c = await worker();
    const cancelSeen = new Promise((r) => c.once('cancel', r));
    c.onAssignment(async (_a, { signal }) => {
      await cancelSeen; // the stale cancel has been handled before the handler decides
      return { outcome: signal.aborted ? 'failure' : 'success' };
    });
    await c.hello({ name: 'w1' });
    await server.assign(server.last, assignment('bd-e', 7));
    await server.cancel(server.last, { lease_id: 'L-bd-e', epoch: 6, issue_id: 'bd-e', reason: 'old' });
    await until(() => server.callsOf('complete').length === 1);
    assert.equal(server.callsOf('complete')[0].params.outcome, 'success');
  });

  it('passes on a merge-slot cancel (no lease_id) without aborting a lease', async () => {
    const c = await worker();
    const cancelSeen = new Promise<CancelParams>((r) => c.once('cancel', r));
    c.onAssignment(async (_a, { signal }) => {
      await cancelSeen;
      return { outcome: signal.aborted ? 'failure' : 'success' };
    });
    await c.hello({ name: 'w1' });
    await server.assign(server.last, assignment('bd-m', 3));
    await server.cancel(server.last, { merge_id: 'MR-1', epoch: 3, issue_id: 'bd-m' });
    const seen = await cancelSeen;
    assert.equal(seen.merge_id, 'MR-1');
    assert.equal(seen.lease_id, undefined);
    await until(() => server.callsOf('complete').length === 1);
    assert.equal(server.callsOf('complete')[0].params.outcome, 'success');
  });
});

describe('reconnect', () => {
  it('a heartbeat unanswered for heartbeatReplyTimeoutMs ends the connection; the reconnect resumes the lease', async () => {
    server.heartbeatMs = 50;
    const c = await worker({ heartbeatReplyTimeoutMs: 300 });
    const gate = deferred();
    let runs = 0;
    c.onAssignment(async () => {
      runs++;
      await gate.promise;
      return { summary: 'across a dead connection' };
    });
    await c.hello({ name: 'w1', capacity: 1 });
    await server.assign(server.last, assignment('bd-h', 2));
    await until(() => runs === 1);
    // the server stops answering on this connection (a half-open TCP connection: nothing comes back, no close)
    const silent = server.last;
    server.handlers.set('heartbeat', (_p, conn) => (conn === silent ? new Promise(() => {}) : { deadline: new Date(Date.now() + 30000).toISOString() }));
    server.resume.set('w1', [assignment('bd-h', 2)]);
    const errors: GtcError[] = [];
    c.on('error', (e) => errors.push(e));
    const reconnected = new Promise((r) => c.once('reconnected', r));
    const t0 = Date.now();
    await reconnected;
    assert.ok(Date.now() - t0 >= 250, `reconnected after ${Date.now() - t0} ms, before the timeout`);
    assert.ok(errors.some((e) => /no answer to a heartbeat within 300 ms/.test(e.message)), errors.map((e) => e.message).join('; '));
    gate.resolve();
    await until(() => server.callsOf('complete').length === 1);
    assert.equal(runs, 1, 'the lease kept running across the reconnect');
    assert.equal(server.callsOf('complete')[0].conn === silent, false, 'completed on the new connection');
  });

  it('a reconnect hello unanswered for heartbeatReplyTimeoutMs is given up and tried again on a new connection', async () => {
    // The reconnect's hello had no bound: a connection that went half-open right after its connect (or a hung
    // server) kept the client waiting for the kernel's keepalive, minutes past the server's grace.
    const c = await worker({ heartbeatReplyTimeoutMs: 300 });
    c.on('error', () => {});
    await c.hello({ name: 'w1' });
    let hellos = 0;
    server.handlers.set('hello', (p, conn) => {
      if (++hellos === 1) return new Promise(() => {}); // the first reconnect's hello gets no answer
      conn.name = p.name;
      return { server: 'gtc', version: 'fake', protocol: 1, worker: p.name, heartbeat_ms: 1000, ack_timeout_ms: 1000, leases: [] };
    });
    const failed: GtcError[] = [];
    c.on('reconnectFailed', (e) => failed.push(e));
    const reconnected = new Promise((r) => c.once('reconnected', r));
    const t0 = Date.now();
    server.drop(server.last);
    await Promise.race([reconnected, until(() => false, 3000, 'the reconnect past an unanswered hello')]);
    assert.ok(Date.now() - t0 < 2000, `reconnected after ${Date.now() - t0} ms`);
    assert.equal(hellos, 2);
    assert.match(failed[0]?.message ?? '', /no answer to hello within 300 ms/);
  });

  it('a reconnect hello refused with conflict (another live process took the name, and the leases) aborts the running handlers', async () => {
    // A trial: a worker stopped (SIGSTOP) was replaced under its name; the new process resumed its lease and ran
    // it, and the old one, resumed, retried hello ("conflict") without end while its handler ran the same issue.
    const c = await worker();
    c.on('error', () => {});
    let signal: AbortSignal | undefined;
    c.onAssignment((_a, ctx) => {
      signal = ctx.signal;
      return new Promise((_r, rej) => ctx.signal.addEventListener('abort', () => rej(ctx.signal.reason)));
    });
    await c.hello({ name: 'w1' });
    await server.assign(server.last, assignment('bd-dup', 4));
    await until(() => c.active === 1);
    server.handlers.set('hello', () => new ResponseError(-32002, 'worker "w1" is connected on another connection', { code: 'conflict' }));
    const dropped: DroppedEvent[] = [];
    c.on('dropped', (e) => dropped.push(e));
    server.drop(server.last);
    await until(() => dropped.length === 1, 3000, 'the handler aborted');
    assert.equal(dropped[0]!.why, 'lost');
    assert.equal(dropped[0]!.lease_id, 'L-bd-dup');
    assert.ok(signal?.aborted);
    assert.ok(signal?.reason instanceof GtcError && signal.reason.codeName === 'conflict');
    assert.equal(server.callsOf('fail').length + server.callsOf('complete').length, 0);
  });

  it('says hello again after a drop and resumes the running lease without running it twice', async () => {
    const c = await worker();
    const gate = deferred();
    let runs = 0;
    c.onAssignment(async () => {
      runs++;
      await gate.promise;
      return { outcome: 'success', summary: 'after reconnect' };
    });
    await c.hello({ name: 'w1', capacity: 1 });
    const first = server.last;
    await server.assign(first, assignment('bd-r', 3));
    await until(() => runs === 1);
    server.resume.set('w1', [assignment('bd-r', 3)]);
    const reconnected = new Promise((r) => c.once('reconnected', r));
    server.drop(first);
    await reconnected;
    assert.equal(server.callsOf('hello').length, 2);
    assert.deepEqual(server.callsOf('hello')[1].params, server.callsOf('hello')[0].params, 'same hello again');
    assert.notEqual(server.last, first);
    // The server may also re-push the lease: acked, not run again.
    assert.deepEqual(await server.assign(server.last, assignment('bd-r', 3)), { accepted: true });
    gate.resolve();
    await until(() => server.callsOf('complete').length === 1);
    await new Promise((r) => setTimeout(r, 30));
    assert.equal(runs, 1);
    assert.equal(server.callsOf('complete').length, 1);
    assert.equal(server.callsOf('complete')[0].conn, server.last);
  });

  it('connected() waits out a reconnect, rejects on timeout and on close', async () => {
    const c = await worker();
    await c.hello({ name: 'w1' });
    await c.connected(); // connected: at once
    let refuse = true;
    server.handlers.set('hello', (p, conn) => {
      if (refuse) return new ResponseError(-32007, 'storage down', { code: 'unavailable' });
      server.handlers.delete('hello');
      conn.name = p.name;
      return { server: 'gtc', version: 'fake', protocol: 1, worker: p.name, heartbeat_ms: 1000, ack_timeout_ms: 1000, leases: [] };
    });
    server.drop(server.last);
    await until(() => c.state === 'reconnecting');
    await assert.rejects(c.call('coord.status'), (e: GtcError) => e.codeName === 'disconnected', 'a plain call fails fast');
    await assert.rejects(c.connected(30), (e: GtcError) => e.codeName === 'disconnected' && /within 30 ms/.test(e.message));
    const up = c.connected(3000);
    refuse = false;
    await up;
    assert.equal(c.state, 'connected');
    c.close();
    await assert.rejects(c.connected(), (e: GtcError) => e.codeName === 'disconnected');
  });

  it('many handlers waiting in connected() during a reconnect raise no "memory leak" warning', async () => {
    const warnings: string[] = [];
    const onWarning = (w: Error) => warnings.push(`${w.name}: ${w.message}`);
    process.on('warning', onWarning);
    try {
      const c = await worker({ reconnect: { initialDelayMs: 100, maxDelayMs: 100 } });
      await c.hello({ name: 'w1', capacity: 16 });
      server.drop(server.last);
      await until(() => c.state === 'reconnecting');
      const waits: Promise<void>[] = [];
      for (let i = 0; i < 16; i++) waits.push(c.connected(5000)); // a capacity-16 worker's handlers, as the README advises
      await Promise.all(waits);
      await new Promise((r) => setImmediate(r)); // warnings are emitted on the next tick
      assert.deepEqual(warnings, []);
    } finally {
      process.off('warning', onWarning);
    }
  });

  it('retries with backoff and delivers a result finished while disconnected', async () => {
    const c = await worker();
    const gate = deferred();
    c.onAssignment(async () => {
      await gate.promise;
      return { outcome: 'success', summary: 'done offline' };
    });
    await c.hello({ name: 'w1' });
    await server.assign(server.last, assignment('bd-o', 2));
    let refuse = true;
    server.handlers.set('hello', (p, conn) => {
      if (refuse) return new ResponseError(-32007, 'storage down', { code: 'unavailable' });
      server.handlers.delete('hello');
      conn.name = p.name;
      return { server: 'gtc', version: 'fake', protocol: 1, worker: p.name, heartbeat_ms: 1000, ack_timeout_ms: 1000, leases: [assignment('bd-o', 2)] };
    });
    const failures: GtcError[] = [];
    c.on('reconnectFailed', (e) => failures.push(e));
    server.drop(server.last);
    await until(() => failures.length >= 2, 3000, 'failed reconnects');
    assert.equal(failures[0].codeName, 'unavailable');
    assert.equal(c.state, 'reconnecting');
    gate.resolve(); // the handler finishes while the worker is offline
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(server.callsOf('complete').length, 0);
    refuse = false;
    await until(() => server.callsOf('complete').length === 1, 3000, 'complete after reconnect');
    const p = server.callsOf('complete')[0].params;
    assert.equal(p.summary, 'done offline');
    assert.equal(p.idempotency_key, 'L-bd-o:2:complete');
    assert.equal(c.state, 'connected');
  });

  it('aborts a running lease the server did not hand back', async () => {
    const c = await worker();
    let aborted = false;
    c.onAssignment((_a, { signal }) => new Promise((_r, rej) => signal.addEventListener('abort', () => ((aborted = true), rej(signal.reason)))));
    await c.hello({ name: 'w1' });
    await server.assign(server.last, assignment('bd-x'));
    await until(() => c.active === 1);
    const dropped = new Promise<DroppedEvent>((r) => c.once('dropped', r));
    server.drop(server.last); // resume list for w1 is empty
    const d = await dropped;
    assert.equal(d.why, 'lost');
    assert.ok(aborted);
    assert.equal(server.callsOf('fail').length, 0);
  });

  it('runs leases resumed by the first hello once the handler is set', async () => {
    server.resume.set('w9', [assignment('bd-old', 11)]);
    const c = await worker();
    const res = await c.hello({ name: 'w9' });
    assert.equal(res.leases.length, 1);
    let resumed: boolean | undefined;
    c.onAssignment(async (_a, ctx) => {
      resumed = ctx.resumed;
      return { outcome: 'success' };
    });
    await until(() => server.callsOf('complete').length === 1);
    assert.equal(resumed, true);
    assert.equal(server.callsOf('complete')[0].params.epoch, 11);
  });

  it('acks at once a lease hello hands back as pushed (its ack was lost), on a reconnect and on a first hello', async () => {
    server.heartbeatMs = 60000; // the beat interval is far beyond the ack deadline
    const c = await worker();
    c.onAssignment((_a, { signal }) => new Promise((_r, rej) => signal.addEventListener('abort', () => rej(signal.reason))));
    await c.hello({ name: 'w1' });
    await server.assign(server.last, assignment('bd-p', 3));
    await until(() => c.active === 1);
    const beatsOf = (id: string) => server.callsOf('heartbeat').filter((h) => h.params.lease_id === id && h.params.epoch === 3).length;
    const before = beatsOf('L-bd-p');
    server.resume.set('w1', [assignment('bd-p', 3)]); // handed back still pushed
    server.drop(server.last);
    await until(() => beatsOf('L-bd-p') > before, 2000, 'an ack heartbeat for the resumed pushed lease');
    c.close(); // afterEach closes only the last client
    server.resume.set('w2', [assignment('bd-q', 3)]);
    const c2 = await worker();
    await c2.hello({ name: 'w2' });
    c2.onAssignment((_a, { signal }) => new Promise((_r, rej) => signal.addEventListener('abort', () => rej(signal.reason))));
    await until(() => beatsOf('L-bd-q') > 0, 2000, 'an ack heartbeat for a pushed lease resumed by the first hello');
  });

  it('renews the event subscription after a reconnect and emits events', async () => {
    server.handlers.set('events.subscribe', () => ({ subscribed: true, seq: 0 }));
    server.handlers.set('events.list', () => ({ events: [], next_seq: 0, more: false }));
    const c = await worker();
    await c.hello({ name: 'watcher', role: 'client' });
    await c.subscribe(['completed']);
    const got: string[] = [];
    c.on('event', (e) => got.push(`${e.seq}:${e.kind}`));
    const reconnected = new Promise((r) => c.once('reconnected', r));
    server.drop(server.last);
    await reconnected;
    await until(() => server.callsOf('events.subscribe').length === 2, 2000, 'second subscribe');
    assert.deepEqual(server.callsOf('events.subscribe')[1].params, { kinds: ['completed'] });
    await server.last.rpc.sendNotification('event', { seq: 41, time: new Date().toISOString(), kind: 'completed', issue_id: 'bd-1' });
    await until(() => got.length === 1);
    assert.deepEqual(got, ['41:completed']);
  });

  it('reads back the events committed while it was away, each once, before the live ones; says what was pruned', async () => {
    const ev = (seq: number, kind = 'completed') => ({ seq, time: new Date().toISOString(), kind, issue_id: `bd-${seq}` });
    let subscribeSeq = 10; // the log ends at 10 when the first subscription begins
    server.handlers.set('events.subscribe', () => ({ subscribed: true, seq: subscribeSeq }));
    const listed: number[] = [];
    server.handlers.set('events.list', async (p: { after_seq: number }, conn) => {
      listed.push(p.after_seq);
      // a live event of the new subscription overtakes the catch-up: it must wait for it
      await conn.rpc.sendNotification('event', ev(16));
      if (p.after_seq === 11) return { events: [ev(14), ev(15, 'assigned')], next_seq: 15, more: true }; // 12-13 pruned
      return { events: [ev(16), ev(18)], next_seq: 18, more: false }; // 17 pruned (outlived by 16, stamped ahead)
    });
    const c = await worker();
    await c.hello({ name: 'watcher', role: 'client' });
    await c.subscribe(['completed']);
    const got: number[] = [];
    const missed: [number, number][] = [];
    c.on('event', (e) => got.push(e.seq));
    c.on('eventsMissed', (from, to) => missed.push([from, to]));
    await server.last.rpc.sendNotification('event', ev(11));
    await until(() => got.length === 1);
    subscribeSeq = 16;
    const reconnected = new Promise((r) => c.once('reconnected', r));
    server.drop(server.last);
    await reconnected;
    await until(() => got.length === 4, 2000, 'caught-up events');
    await server.last.rpc.sendNotification('event', ev(16)); // a duplicate of a delivered one
    await server.last.rpc.sendNotification('event', ev(19));
    await until(() => got.length === 5, 2000, 'the next live event');
    assert.deepEqual(got, [11, 14, 16, 18, 19]); // 15 is not a watched kind
    assert.deepEqual(missed, [[12, 13], [17, 17]]);
    assert.deepEqual(listed, [11, 15]);
  });

  it('handles the messages that arrived just before the server closed the socket (cancel, shutdown)', async () => {
    const c = await worker({ reconnect: false });
    c.onAssignment((_a, { signal }) => new Promise((_r, rej) => signal.addEventListener('abort', () => rej(signal.reason))));
    await c.hello({ name: 'w1' });
    await server.assign(server.last, assignment('bd-s', 2));
    await until(() => c.active === 1);
    const seen: string[] = [];
    c.on('shutdown', (p) => seen.push(`shutdown:${p.reason}`));
    c.on('dropped', (d) => seen.push(`dropped:${d.why}`));
    c.on('disconnected', () => seen.push('disconnected'));
    const closed = new Promise<void>((r) => c.once('close', () => r()));
    const conn = server.last;
    const frame = (method: string, params: object) => {
      const body = JSON.stringify({ jsonrpc: '2.0', method, params });
      return `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
    };
    // Both frames and the FIN in one write, as the real server does on shutdown: one read on the client side.
    conn.socket.end(frame('cancel', { lease_id: 'L-bd-s', epoch: 2, issue_id: 'bd-s', reason: 'server stopping' }) + frame('shutdown', { reason: 'bye' }));
    await closed;
    assert.deepEqual(seen, ['dropped:cancel', 'shutdown:bye', 'disconnected']);
  });

  it("emits an operator's drain and its undo (the drain notification)", async () => {
    const c = await worker({ reconnect: false });
    await c.hello({ name: 'w1' });
    const seen: Array<{ draining: boolean; by?: string }> = [];
    c.on('drain', (n) => seen.push(n));
    await server.last.rpc.sendNotification('drain', { draining: true, by: 'alice' });
    await server.last.rpc.sendNotification('drain', { draining: false, by: 'bob' });
    await until(() => seen.length === 2, 2000, 'two drain events');
    assert.deepEqual(seen, [{ draining: true, by: 'alice' }, { draining: false, by: 'bob' }]);
    assert.equal(c.operatorDrained, false);
    await server.last.rpc.sendNotification('drain', { draining: true });
    await until(() => c.operatorDrained, 2000, 'operatorDrained');
    c.close();
  });

  it('closes instead of reconnecting when reconnect is false', async () => {
    const c = await worker({ reconnect: false });
    await c.hello({ name: 'w1' });
    const closed = new Promise<void>((r) => c.once('close', r));
    server.drop(server.last);
    await closed;
    assert.equal(c.state, 'closed');
    await assert.rejects(c.heartbeat(), (e: unknown) => e instanceof GtcError && e.codeName === 'disconnected');
  });
});

describe('drain', () => {
  it('rejects new work, waits for running handlers and their complete, then closes', async () => {
    const c = await worker();
    const gate = deferred();
    c.onAssignment(async () => {
      await gate.promise;
      return { outcome: 'success' };
    });
    await c.hello({ name: 'w1', capacity: 2 });
    const conn = server.last;
    await server.assign(conn, assignment('bd-d1'));
    await until(() => c.active === 1);
    let drained = false;
    const d = c.drain().then(() => (drained = true));
    const r = await server.assign(conn, assignment('bd-d2'));
    assert.equal(r.accepted, false);
    assert.match(r.reason ?? '', /draining/);
    await new Promise((res) => setTimeout(res, 30));
    assert.equal(drained, false, 'drain waits for the running handler');
    gate.resolve();
    await d;
    assert.equal(server.callsOf('complete').length, 1);
    assert.deepEqual(server.callsOf('coord.drain').map((x) => x.params), [{ worker: 'w1', session: true }],
      'the server is told first, so it pushes nothing more to a worker about to close');
    assert.equal(c.state, 'closed');
    await until(() => conn.socket.destroyed, 2000, 'server side sees the close');
  });

  /**
   * A worker (w1) running issue id in a handler held until gate resolves, cut off from the coordinator
   * (cut: a dropped connection, the server gone) and reconnecting; dropped collects its dropped events.
   */
  async function runningWhenCut(id: string, reconnect: ConnectOptions['reconnect'], cut: () => unknown) {
    const c = await worker({ reconnect });
    c.on('error', () => {});
    const gate = deferred();
    c.onAssignment(async () => {
      await gate.promise;
      return { summary: 'done offline' };
    });
    await c.hello({ name: 'w1' });
    await server.assign(server.last, assignment(id));
    await until(() => c.active === 1);
    const dropped: DroppedEvent[] = [];
    c.on('dropped', (e) => dropped.push(e));
    await cut();
    await until(() => c.state === 'reconnecting');
    return { c, gate, dropped };
  }

  it('reports a final call it could not send before the drain ended as dropped (unsent)', async () => {
    const { c, gate, dropped } = await runningWhenCut('bd-off', { initialDelayMs: 10_000, maxDelayMs: 10_000 }, () => server.drop(server.last));
    const d = c.drain({ timeoutMs: 100 });
    gate.resolve(); // the handler returns while the coordinator is unreachable
    await d;
    assert.equal(c.state, 'closed');
    assert.equal(dropped.length, 1);
    assert.equal(dropped[0]!.why, 'unsent');
    assert.equal(dropped[0]!.lease_id, 'L-bd-off');
    assert.equal(dropped[0]!.issue_id, 'bd-off');
    assert.equal(server.callsOf('complete').length, 0);
  });

  it('reports a final call kept for the reconnect as dropped (unsent) when reconnecting gives up', async () => {
    // the coordinator goes away for good
    const { c, gate, dropped } = await runningWhenCut('bd-gone', { initialDelayMs: 30, maxDelayMs: 30, maxAttempts: 2 }, () => server.stop());
    gate.resolve(); // the handler returns while the coordinator is unreachable
    await until(() => c.state === 'closed', 3000, 'the client gives up');
    assert.deepEqual(dropped.map((e) => `${e.lease_id}:${e.issue_id}:${e.why}`), ['L-bd-gone:bd-gone:unsent']);
    assert.match(dropped[0]!.error?.message ?? '', /gave up after 2 attempts/);
  });

  it('a second drain (SIGTERM after SIGINT) reports an unsent final call once', async () => {
    const { c, gate, dropped } = await runningWhenCut('bd-twice', { initialDelayMs: 10_000, maxDelayMs: 10_000 }, () => server.drop(server.last));
    const d1 = c.drain({ timeoutMs: 100 });
    const d2 = c.drain({ timeoutMs: 100 });
    gate.resolve();
    await Promise.all([d1, d2]);
    assert.deepEqual(dropped.map((e) => `${e.lease_id}:${e.why}`), ['L-bd-twice:unsent']);
  });

  it('aborts and releases handlers still running at the drain timeout', async () => {
    const c = await worker();
    c.onAssignment((_a, { signal }) => new Promise((_r, rej) => signal.addEventListener('abort', () => rej(signal.reason))));
    await c.hello({ name: 'w1' });
    await server.assign(server.last, assignment('bd-slow', 3));
    await until(() => c.active === 1);
    await c.drain({ timeoutMs: 50 });
    assert.equal(c.state, 'closed');
    assert.deepEqual(server.callsOf('release').map((x) => x.params), [
      { lease_id: 'L-bd-slow', epoch: 3, reason: 'worker draining', idempotency_key: 'L-bd-slow:3:release' },
    ]);
    assert.equal(server.callsOf('fail').length, 0);
  });

  it('releases a handler stopped by the drain timeout that returns instead of throwing', async () => {
    const c = await worker();
    // resolves on abort, as many handlers do: its work is not done, so it must not complete
    c.onAssignment((_a, { signal }) => new Promise((res) => signal.addEventListener('abort', () => res({ summary: 'stopped early' }))));
    await c.hello({ name: 'w1' });
    await server.assign(server.last, assignment('bd-half', 2));
    await until(() => c.active === 1);
    await c.drain({ timeoutMs: 50 });
    assert.equal(server.callsOf('complete').length, 0, 'not completed');
    assert.deepEqual(server.callsOf('release').map((x) => x.params.lease_id), ['L-bd-half']);
  });

  it('a handler that outlives the drain (it ignores the abort) is reported as dropped (unsent) when it returns', async () => {
    // A trial: its release was made after the client had closed and thrown away without a word.
    const c = await worker();
    const gate = deferred();
    c.onAssignment(async () => {
      await gate.promise; // ignores the signal
      return { summary: 'too late' };
    });
    await c.hello({ name: 'w1' });
    await server.assign(server.last, assignment('bd-deaf', 2));
    await until(() => c.active === 1);
    const dropped: DroppedEvent[] = [];
    c.on('dropped', (e) => dropped.push(e));
    await c.drain({ timeoutMs: 10 }); // aborts at 10 ms, waits 1 s more for the handler, then closes
    assert.equal(c.state, 'closed');
    gate.resolve();
    await until(() => dropped.length === 1, 2000, 'the dropped event');
    assert.deepEqual(dropped.map((e) => `${e.lease_id}:${e.issue_id}:${e.why}`), ['L-bd-deaf:bd-deaf:unsent']);
    assert.match(dropped[0]!.error?.message ?? '', /release/);
    assert.equal(server.callsOf('complete').length + server.callsOf('release').length, 0);
  });
});

describe('the event loop', () => {
  it('a heartbeat whose answer waits unread behind a blocked loop does not end the connection', async () => {
    const c = await worker({ heartbeatReplyTimeoutMs: 200 });
    let disconnected = 0;
    c.on('disconnected', () => disconnected++);
    c.onAssignment((_a, { heartbeat }) => {
      void heartbeat('about to block');
      const end = Date.now() + 600; // the server answers at once; the answer is read after the block
      while (Date.now() < end) {
        /* execSync */
      }
      return { summary: 'done' };
    });
    await c.hello({ name: 'w1' });
    const conn = server.last;
    await server.assign(conn, assignment('bd-slowread'));
    await until(() => server.callsOf('complete').length === 1);
    await new Promise((r) => setTimeout(r, 1300));
    assert.equal(disconnected, 0);
    assert.equal(server.callsOf('complete')[0]!.conn, conn);
  });

  it('a failed first connect leaves no timer behind', async () => {
    const c = new GtcClient({ path: path.join(os.tmpdir(), 'gtc-no-such.sock') });
    await assert.rejects(c.open());
    assert.equal((c as unknown as { lagTimer?: unknown }).lagTimer, undefined, 'the event-loop watch starts once connected');
    c.close();
  });

  it('emits loopBlocked when a handler blocks the event loop', async () => {
    const c = await worker({ loopBlockedMs: 300 });
    const blocked: number[] = [];
    c.on('loopBlocked', (ms) => blocked.push(ms));
    c.onAssignment(() => {
      const end = Date.now() + 700;
      while (Date.now() < end) {
        /* execSync */
      }
      return { summary: 'blocked' };
    });
    await c.hello({ name: 'w1' });
    await server.assign(server.last, assignment('bd-block'));
    await until(() => blocked.length > 0, 3000, 'loopBlocked');
    assert.ok(blocked[0]! >= 300 && blocked[0]! <= 1500, `blocked ${blocked[0]} ms`);
    await until(() => server.callsOf('complete').length === 1);
  });
});

describe('errors and calls', () => {
  it('maps application errors to GtcError with the symbolic name', async () => {
    server.handlers.set('complete', () => new ResponseError(-32003, 'epoch 2 is not current (3)', { code: 'stale_epoch' }));
    const c = await worker();
    await c.hello({ name: 'w1' });
    await assert.rejects(c.complete({ id: 'L-1', epoch: 2 }, { outcome: 'success' }), (e: unknown) => {
      assert.ok(e instanceof GtcError);
      assert.equal(e.code, -32003);
      assert.equal(e.codeName, 'stale_epoch');
      assert.equal(e.retryable, false);
      return true;
    });
    await assert.rejects(c.request('coord.status', {}), (e: unknown) => e instanceof GtcError && e.codeName === 'method_not_found');
  });

  it('calls racing a dropped socket reject with disconnected, never as unhandled rejections', async () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (e: unknown) => unhandled.push(e);
    process.on('unhandledRejection', onUnhandled);
    try {
      const c = await worker({ reconnect: false });
      await c.hello({ name: 'w1' });
      const calls: Promise<string>[] = [];
      for (let i = 0; i < 20; i++) calls.push(c.heartbeat().then(() => 'ok', (e: GtcError) => e.codeName));
      (c as unknown as { socket: { destroy(): void } }).socket.destroy();
      const results = await Promise.all(calls);
      assert.ok(results.every((r) => r === 'disconnected'), results.join(','));
      await new Promise((r) => setTimeout(r, 20));
      assert.deepEqual(unhandled, []);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });

  it('a reply (to ping or assign) written after the server closed its side is no unhandled rejection', async () => {
    // A trial: a stopped worker (SIGSTOP) replaced under its name; the server pinged it, then closed the
    // connection; resumed, the worker answered the ping after the close was read, the write failed with EPIPE
    // ("This socket has been ended by the other party") and the unhandled rejection killed the process.
    const unhandled: unknown[] = [];
    const onUnhandled = (e: unknown) => unhandled.push(e);
    process.on('unhandledRejection', onUnhandled);
    try {
      const c = await worker({ reconnect: false });
      c.onAssignment(async () => ({}));
      await c.hello({ name: 'w1' });
      const conn = server.last;
      const closed = new Promise<void>((r) => c.once('close', () => r()));
      const frame = (m: object) => {
        const body = Buffer.from(JSON.stringify({ jsonrpc: '2.0', ...m }));
        return Buffer.concat([Buffer.from(`Content-Length: ${body.length}\r\n\r\n`), body]);
      };
      // the requests and the FIN arrive together (written raw: the server's own writer is asynchronous)
      conn.socket.end(Buffer.concat([frame({ id: 9001, method: 'ping' }), frame({ id: 9002, method: 'assign', params: assignment('bd-fin') })]));
      await closed;
      await new Promise((r) => setTimeout(r, 50));
      assert.deepEqual(unhandled.map(String), []);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });

  it('drops a result the server refuses, with an error event', async () => {
    server.handlers.set('complete', () => new ResponseError(-32004, 'not yours', { code: 'not_holder' }));
    const c = await worker();
    const errors: GtcError[] = [];
    c.on('error', (e) => errors.push(e));
    c.onAssignment(() => ({ outcome: 'success' }));
    await c.hello({ name: 'w1' });
    const dropped = new Promise<DroppedEvent>((r) => c.once('dropped', r));
    await server.assign(server.last, assignment('bd-n'));
    const d = await dropped;
    assert.equal(d.why, 'rejected');
    assert.equal(d.error?.codeName, 'not_holder');
    assert.equal(errors[0]?.codeName, 'not_holder');
    // The lease is remembered as finished: a re-push is refused, never run again.
    const again = await server.assign(server.last, assignment('bd-n'));
    assert.equal(again.accepted, false);
  });
});

describe('texts too large for the server', () => {
  /** The real server answers a message over its cap (1 MiB) with -32008 and closes the connection. */
  function capMessages(): void {
    for (const m of ['complete', 'fail', 'release', 'heartbeat', 'merge.report']) {
      const h = server.handlers.get(m);
      server.handlers.set(m, (p, conn) => {
        if (JSON.stringify(p).length > 1 << 20) {
          conn.socket.destroy();
          return new Promise(() => {});
        }
        return h ? h(p, conn) : m === 'heartbeat' ? { deadline: new Date().toISOString() } : m === 'merge.report' ? { request: mergeRequest('1', p.epoch) } : { issue_id: 'x', status: 'closed' };
      });
    }
  }

  it('a huge summary, error text or progress is cut to its tail, not re-sent after every reconnect without end', async () => {
    // A trial: a handler returning a 2 MB summary had its complete refused by the connection's close, sent again
    // after the reconnect, refused again, … ten reconnects a second, the lease never ended.
    capMessages();
    server.heartbeatMs = 50;
    const c = await worker();
    c.on('error', () => {});
    const big = 'x'.repeat(2_000_000);
    c.onAssignment(async (a, ctx) => {
      await ctx.heartbeat(big + 'now');
      if (a.issue.id === 'bd-bigfail') throw new Error(big + 'the end');
      return { summary: big + 'the end', error: big + 'no error' };
    });
    let drops = 0;
    c.on('disconnected', () => drops++);
    await c.hello({ name: 'w1', capacity: 2 });
    await server.assign(server.last, assignment('bd-big'));
    await server.assign(server.last, assignment('bd-bigfail'));
    await until(() => server.callsOf('complete').length === 1 && server.callsOf('fail').length === 1, 3000, 'the complete and the fail');
    assert.equal(drops, 0, 'no connection closed over a message too large');
    const done = server.callsOf('complete')[0].params;
    assert.ok(done.summary.length <= 40_000 && done.summary.endsWith('the end'), `summary cut to its tail (${done.summary.length})`);
    assert.ok(done.error.length <= 40_000 && done.error.endsWith('no error'));
    const failed = server.callsOf('fail')[0].params;
    assert.ok(failed.error.length <= 40_000 && failed.error.endsWith('the end'));
    const beat = server.callsOf('heartbeat').find((h) => h.params.progress);
    assert.ok(beat && beat.params.progress.length <= 40_000 && beat.params.progress.endsWith('now'));
  });

  it('cuts a text of emoji between characters, never inside a surrogate pair', async () => {
    const c = await worker();
    c.onAssignment(async () => ({ summary: '🦊'.repeat(20_000) + 'x' })); // 40,001 UTF-16 units, the cut in a pair
    await c.hello({ name: 'w1' });
    await server.assign(server.last, assignment('bd-fox'));
    await until(() => server.callsOf('complete').length === 1, 3000, 'the complete');
    const tail: string = server.callsOf('complete')[0].params.summary.split('…')[1];
    assert.ok(tail.startsWith('🦊') && tail.endsWith('x'), `the tail starts with a whole emoji: ${JSON.stringify(tail.slice(0, 4))}`);
    assert.ok(!/[\udc00-\udfff]/.test(tail[0]), 'no lone low surrogate');
  });
});

describe('final calls after a reconnect', () => {
  it('a result refused after the reconnect is dropped naming its issue', async () => {
    const c = await worker();
    const gate = deferred();
    c.onAssignment(async () => {
      await gate.promise;
      return { summary: 'too late' };
    });
    await c.hello({ name: 'w1' });
    await server.assign(server.last, assignment('bd-late', 2));
    await until(() => c.active === 1);
    let refuse = true;
    server.handlers.set('hello', (p, conn) => {
      if (refuse) return new ResponseError(-32007, 'storage down', { code: 'unavailable' });
      conn.name = p.name;
      return { server: 'gtc', version: 'fake', protocol: 1, worker: p.name, heartbeat_ms: 1000, ack_timeout_ms: 1000, leases: [assignment('bd-late', 2)] };
    });
    server.handlers.set('complete', () => new ResponseError(-32003, 'lease L-bd-late has ended', { code: 'stale_epoch' }));
    const dropped = new Promise<DroppedEvent>((r) => c.once('dropped', r));
    server.drop(server.last);
    await until(() => c.state === 'reconnecting');
    gate.resolve(); // finished while offline: sent after the reconnect
    await new Promise((r) => setTimeout(r, 20));
    refuse = false;
    const d = await dropped;
    assert.equal(d.why, 'rejected');
    assert.equal(d.lease_id, 'L-bd-late');
    assert.equal(d.issue_id, 'bd-late');
  });
});

describe('merges (a refinery)', () => {
  it('acks the push, runs the merge handler, reports its outcome once with an idempotency key', async () => {
    const c = await worker();
    const gate = deferred();
    const seen: MergeRequest[] = [];
    c.onMerge(async (m, { heartbeat }) => {
      seen.push(m);
      await heartbeat('gating');
      await gate.promise;
      return { merged: true, merge_commit: 'abc123' };
    });
    await c.hello({ name: 'ref', role: 'refinery' });
    assert.deepEqual(await server.merge(server.last, mergeRequest('1', 4)), { accepted: true });
    await until(() => seen.length === 1, 2000, 'merge handler start');
    await until(() => server.callsOf('heartbeat').some((h) => h.params.progress === 'gating'));
    const hb = server.callsOf('heartbeat').find((h) => h.params.progress === 'gating')!;
    assert.equal(hb.params.lease_id, undefined, 'a refinery renews its slots with a heartbeat naming no lease');
    assert.deepEqual(c.activeMerges, ['MR-1']);
    // pushed again (a reconnect re-push): acked, not run twice
    assert.deepEqual(await server.merge(server.last, mergeRequest('1', 4)), { accepted: true });
    const reported = new Promise<MergeReportedEvent>((r) => c.once('mergeReported', r));
    gate.resolve();
    const ev = await reported;
    assert.equal(ev.merge_id, 'MR-1');
    assert.equal(ev.request.state, 'merged');
    assert.equal(seen.length, 1);
    const reports = server.callsOf('merge.report');
    assert.equal(reports.length, 1);
    assert.deepEqual(reports[0].params, { id: 'MR-1', epoch: 4, merged: true, merge_commit: 'abc123', idempotency_key: 'MR-1:4:report' });
    assert.deepEqual(c.activeMerges, []);
  });

  it('reports a throw as not merged with its reason, conflicts and rework as given', async () => {
    const c = await worker();
    c.onMerge(async (m) => {
      if (m.id === 'MR-1') throw new Error('git fetch failed');
      if (m.id === 'MR-2') return { merged: false, conflicts: ['a.go'] };
      return { merged: false, rework: true, reason: 'gate failed' };
    });
    await c.hello({ name: 'ref', role: 'refinery', capacity: 3 });
    for (const n of ['1', '2', '3']) await server.merge(server.last, mergeRequest(n, 2));
    await until(() => server.callsOf('merge.report').length === 3);
    const byId = new Map(server.callsOf('merge.report').map((r) => [r.params.id, r.params]));
    assert.equal(byId.get('MR-1').merged, false);
    assert.equal(byId.get('MR-1').reason, 'git fetch failed');
    assert.deepEqual(byId.get('MR-2').conflicts, ['a.go']);
    assert.equal(byId.get('MR-3').rework, true);
    assert.equal(byId.get('MR-3').reason, 'gate failed');
  });

  it('a cancel naming the merge aborts its handler and nothing is reported', async () => {
    const c = await worker();
    let aborted: unknown;
    c.onMerge((_m, { signal }) => new Promise((_, reject) => signal.addEventListener('abort', () => reject((aborted = signal.reason)))));
    await c.hello({ name: 'ref', role: 'refinery' });
    await server.merge(server.last, mergeRequest('5', 3));
    await until(() => c.activeMerges.length === 1);
    const dropped = new Promise<MergeDroppedEvent>((r) => c.once('mergeDropped', r));
    await server.cancel(server.last, { merge_id: 'MR-5', epoch: 2, issue_id: 'gt-5', reason: 'old epoch' });
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(aborted, undefined, 'a cancel of another epoch is ignored');
    await server.cancel(server.last, { merge_id: 'MR-5', epoch: 3, issue_id: 'gt-5', reason: 'superseded' });
    const d = await dropped;
    assert.equal(d.why, 'cancel');
    assert.match(String(aborted), /superseded/);
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(server.callsOf('merge.report').length, 0);
  });

  /** A refinery whose first merge run ignores its abort signal and returns only once gate resolves; runs: the epochs run. */
  async function lateStoppingRefinery() {
    const c = await worker();
    const gate = deferred();
    const runs: number[] = [];
    c.onMerge(async (m) => {
      runs.push(m.epoch!);
      if (runs.length === 1) await gate.promise; // ignores its signal: stops late
      return { merged: true };
    });
    return { c, gate, runs };
  }

  it('a merge that outlives the drain (it ignores the abort) is reported as mergeDropped (unsent) when it returns', async () => {
    const { c, gate, runs } = await lateStoppingRefinery();
    await c.hello({ name: 'ref', role: 'refinery' });
    await server.merge(server.last, mergeRequest('9', 1));
    await until(() => runs.length === 1);
    const dropped: MergeDroppedEvent[] = [];
    c.on('mergeDropped', (d) => dropped.push(d));
    await c.drain({ timeoutMs: 10 });
    assert.equal(c.state, 'closed');
    gate.resolve();
    await until(() => dropped.length === 1, 2000, 'the mergeDropped event');
    assert.deepEqual(dropped.map((e) => `${e.merge_id}:${e.issue_id}:${e.why}`), ['MR-9:gt-9:unsent']);
    assert.equal(server.callsOf('merge.report').length, 0);
  });

  it('a new attempt pushed while the cancelled run is still stopping runs once that run returns', async () => {
    const { c, gate, runs } = await lateStoppingRefinery();
    await c.hello({ name: 'ref', role: 'refinery' });
    await server.merge(server.last, mergeRequest('7', 1));
    await until(() => runs.length === 1);
    const dropped = new Promise<MergeDroppedEvent>((r) => c.once('mergeDropped', r));
    await server.cancel(server.last, { merge_id: 'MR-7', epoch: 1, issue_id: 'gt-7', reason: 'slot taken back' });
    assert.deepEqual(await server.merge(server.last, mergeRequest('7', 2)), { accepted: true });
    gate.resolve();
    assert.equal((await dropped).why, 'cancel');
    await until(() => server.callsOf('merge.report').length === 1, 2000, 'the second attempt reported');
    assert.deepEqual(runs, [1, 2]);
    assert.equal(server.callsOf('merge.report')[0].params.epoch, 2);
  });

  it('a cancel of the new attempt waiting for the stopping run skips it: not run, nothing reported', async () => {
    const { c, gate, runs } = await lateStoppingRefinery();
    const dropped: MergeDroppedEvent[] = [];
    c.on('mergeDropped', (d) => dropped.push(d));
    await c.hello({ name: 'ref', role: 'refinery' });
    await server.merge(server.last, mergeRequest('8', 1));
    await until(() => runs.length === 1);
    await server.cancel(server.last, { merge_id: 'MR-8', epoch: 1, issue_id: 'gt-8', reason: 'slot taken back' });
    assert.deepEqual(await server.merge(server.last, mergeRequest('8', 2)), { accepted: true });
    // the operator cancels the new attempt too, before the first run has stopped
    const seen = new Promise((r) => c.once('cancel', r));
    await server.cancel(server.last, { merge_id: 'MR-8', epoch: 2, issue_id: 'gt-8', reason: 'wrong branch' });
    await seen;
    gate.resolve();
    await until(() => dropped.length === 1 && c.activeMerges.length === 0, 2000, 'the first run dropped');
    await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(runs, [1], 'the cancelled attempt is not run');
    assert.equal(server.callsOf('merge.report').length, 0);
  });

  it('while draining, a new attempt of a merge whose cancelled run is still stopping is not accepted', async () => {
    const c = await worker();
    const gate = deferred();
    const runs: number[] = [];
    c.onMerge(async (m) => {
      runs.push(m.epoch!);
      await gate.promise; // ignores its signal: stops late
      return { merged: true };
    });
    await c.hello({ name: 'ref', role: 'refinery' });
    await server.merge(server.last, mergeRequest('9', 1));
    await until(() => runs.length === 1);
    const seen = new Promise((r) => c.once('cancel', r));
    await server.cancel(server.last, { merge_id: 'MR-9', epoch: 1, issue_id: 'gt-9', reason: 'slot taken back' });
    await seen;
    const drained = c.drain();
    // a push already on its way when the drain began: it would never run (the drain closes once the run returns)
    assert.deepEqual(await server.merge(server.last, mergeRequest('9', 2)), { accepted: false, reason: 'draining' });
    gate.resolve();
    await drained;
    assert.deepEqual(runs, [1]);
  });

  it('without a merge handler a push is not accepted', async () => {
    const c = await worker();
    await c.hello({ name: 'ref', role: 'refinery' });
    assert.deepEqual(await server.merge(server.last, mergeRequest('9')), { accepted: false, reason: 'no merge handler' });
  });

  it('a report that could not be sent goes out after the reconnect; a slot not held any more is aborted', async () => {
    const c = await worker();
    const gates = new Map([['1', deferred()], ['2', deferred()]]);
    let lost: unknown;
    c.onMerge(async (m, { signal }) => {
      signal.addEventListener('abort', () => (lost = signal.reason));
      await gates.get(m.id.slice(3))!.promise;
      return { merged: true };
    });
    await c.hello({ name: 'ref', role: 'refinery', capacity: 2 });
    await server.merge(server.last, mergeRequest('1', 7));
    await server.merge(server.last, mergeRequest('2', 8));
    await until(() => c.activeMerges.length === 2);
    // after the reconnect the server lists MR-1 as still merging under ref, MR-2 not
    server.handlers.set('merge.list', () => ({ requests: [mergeRequest('1', 7)] }));
    const back = new Promise((r) => c.once('reconnected', r));
    server.drop(server.last);
    await back;
    await until(() => lost !== undefined, 2000, 'MR-2 aborted');
    assert.match(String(lost), /MR-2 not held/);
    gates.get('2')!.resolve();
    gates.get('1')!.resolve();
    await until(() => server.callsOf('merge.report').length === 1);
    assert.equal(server.callsOf('merge.report')[0].params.id, 'MR-1');
  });

  it('a merge pushed on the new connection while merge.list is answered is not taken for lost', async () => {
    const c = await worker();
    const gates = new Map([['1', deferred()], ['2', deferred()]]);
    const aborted: string[] = [];
    c.onMerge(async (m, { signal }) => {
      signal.addEventListener('abort', () => aborted.push(m.id));
      await gates.get(m.id.slice(3))!.promise;
      return { merged: true };
    });
    await c.hello({ name: 'ref', role: 'refinery', capacity: 2 });
    await server.merge(server.last, mergeRequest('1', 7));
    await until(() => c.activeMerges.length === 1);
    // after the reconnect the free slot is filled with MR-2 after merge.list read the queue, before its answer
    server.handlers.set('merge.list', async (_p, conn) => {
      await server.merge(conn, mergeRequest('2', 9));
      return { requests: [mergeRequest('1', 7)] };
    });
    const back = new Promise((r) => c.once('reconnected', r));
    server.drop(server.last);
    await back;
    await until(() => server.callsOf('merge.list').length === 1 && c.activeMerges.length === 2, 2000, 'MR-2 running');
    await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(aborted, [], 'MR-2 was pushed to us: its slot is ours');
    gates.get('1')!.resolve();
    gates.get('2')!.resolve();
    await until(() => server.callsOf('merge.report').length === 2, 2000, 'both reported');
  });
});

describe('a client-role connection (capacity 0)', () => {
  it('runs a claimed lease on a client-role connection (hello capacity 0)', async () => {
    const acked = { ...assignment('bd-cl', 4), lease: { ...assignment('bd-cl', 4).lease, state: 'acked' as const } };
    server.handlers.set('claim', () => ({ assignment: acked }));
    const c = await worker();
    let ran = 0;
    c.onAssignment(async () => {
      ran++;
      return { outcome: 'success' };
    });
    await c.hello({ name: 'cli-me', role: 'client' }); // capacity defaults to 0 for a client
    const a = await c.claim({ wait_ms: 10 });
    assert.ok(a);
    assert.equal(c.runClaimed(a), true, 'runClaimed accepts it');
    await until(() => ran === 1, 1000, 'the claimed lease\'s handler to run');
    await until(() => server.callsOf('complete').length === 1, 1000, 'complete');
  });

  it('runs leases hello hands back to a client-role connection', async () => {
    const acked = { ...assignment('bd-res', 3), lease: { ...assignment('bd-res', 3).lease, state: 'acked' as const } };
    server.resume.set('w-drain', [acked]);
    const c = await worker();
    let ran = 0;
    c.onAssignment(async () => {
      ran++;
      return { outcome: 'success' };
    });
    await c.hello({ name: 'w-drain', role: 'client' });
    await until(() => ran === 1, 1000, 'the resumed lease\'s handler to run');
  });
});
