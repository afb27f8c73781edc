// Integration test against the real server: bin/gtc serve on a temp workspace of 100 issues (priorities,
// blocking dependencies, unknown keys) and five worker processes built from this library
// (test/integration-worker.ts). Checks scheduling order, blockers, reassignment after a kill -9, and that the
// exported .beads/issues.jsonl closes every issue while keeping every field gtc does not own byte for byte.
// Needs ../../bin/gtc (`make build`); skipped without it, except under CI where its absence is a failure.
import assert from 'node:assert/strict';
import { ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, describe, it, TestContext } from 'node:test';
import { connect, DroppedEvent, FinishedEvent, GtcClient, HelloResult, MergeReportedEvent } from '../src/index.js';

const repoRoot = path.resolve(__dirname, '..', '..', '..', '..');
const gtcBin = path.join(repoRoot, 'bin', 'gtc');
const workerScript = path.join(__dirname, 'integration-worker.js');
const GRACE_MS = 2000;
const BACKOFF_MS = 100;

// ---- the workspace ----

interface Spec {
  id: string;
  priority: number;
  blockers: string[];
  line: string;
}

/** Deterministic PRNG (mulberry32). */
function rng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A JSON string as Go's encoding/json writes it (bd's writer): <, > and & escaped, other UTF-8 kept. */
function goString(s: string): string {
  return JSON.stringify(s).replace(/</g, '\\u003c').replace(/>/g, '\\u003e').replace(/&/g, '\\u0026');
}

const P0 = ['it-007', 'it-023', 'it-041', 'it-066', 'it-088'];
const P1 = ['it-003', 'it-015', 'it-030', 'it-037', 'it-052', 'it-059', 'it-071', 'it-080', 'it-093', 'it-099'];

/** 100 issues in bd's classic key order, sorted by id. P0 and P1 issues have no blockers, nothing else is P0/P1. */
function makeIssues(): Spec[] {
  const rand = rng(20261126);
  const ids = Array.from({ length: 100 }, (_, i) => `it-${String(i + 1).padStart(3, '0')}`);
  // Blockers come from earlier positions of a shuffled order, so the graph is acyclic but not id-ordered.
  const order = [...ids];
  for (let i = order.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [order[i], order[j]] = [order[j], order[i]];
  }
  const pos = new Map(order.map((id, i) => [id, i]));
  const base = Date.UTC(2026, 10, 20, 9, 0, 0);
  return ids.map((id, i) => {
    const top = P0.includes(id) ? 0 : P1.includes(id) ? 1 : -1;
    const priority = top >= 0 ? top : 2 + Math.floor(rand() * 3);
    const blockers: string[] = [];
    const p = pos.get(id)!;
    if (top < 0 && p > 0 && rand() < 0.7) {
      const n = 1 + Math.floor(rand() * 3);
      for (let k = 0; k < n; k++) {
        const b = order[Math.floor(rand() * p)];
        if (!blockers.includes(b)) blockers.push(b);
      }
      blockers.sort();
    }
    const created = new Date(base + i * 61_000).toISOString().replace('.000Z', 'Z');
    const parts = [
      `"id":${goString(id)}`,
      `"title":${goString(`Task ${i + 1}: make <${id}> & friends work`)}`,
      `"description":${goString(`Line one of ${id}.\nLine "two" — ünïcödé, tab\there.`)}`,
      `"status":"open"`,
      `"priority":${priority}`,
      `"issue_type":${goString(i % 7 === 0 ? 'bug' : 'task')}`,
      `"created_at":${goString(created)}`,
      `"updated_at":${goString(created)}`,
    ];
    if (i % 3 === 0) parts.push(`"labels":["backend",${goString(`batch-${i % 4}`)}]`);
    if (blockers.length) {
      const deps = blockers.map((b) => `{"issue_id":${goString(id)},"depends_on_id":${goString(b)},"type":"blocks","created_at":${goString(created)}}`);
      parts.push(`"dependencies":[${deps.join(',')}]`);
    }
    if (i % 5 === 0) parts.push(`"x_custom":{"a":1,"nested":[true,null,"\\u003cx\\u003e"]}`);
    return { id, priority, blockers, line: `{${parts.join(',')}}` };
  });
}

/** The top-level keys of a JSON object line with the raw bytes of each value, in order. */
function rawFields(line: string): [string, string][] {
  const out: [string, string][] = [];
  let i = line.indexOf('{') + 1;
  const skipWs = () => {
    while (i < line.length && ' \t\r\n'.includes(line[i])) i++;
  };
  const scanString = () => {
    const start = i++;
    while (line[i] !== '"') i += line[i] === '\\' ? 2 : 1;
    i++;
    return line.slice(start, i);
  };
  for (;;) {
    skipWs();
    if (line[i] === '}') return out;
    if (line[i] === ',') {
      i++;
      skipWs();
    }
    const key = JSON.parse(scanString()) as string;
    skipWs();
    assert.equal(line[i], ':', `colon after ${key}`);
    i++;
    skipWs();
    const start = i;
    if (line[i] === '"') {
      scanString();
    } else {
      let depth = 0;
      for (; i < line.length; i++) {
        const ch = line[i];
        if (ch === '"') {
          scanString();
          i--;
        } else if (ch === '{' || ch === '[') depth++;
        else if (ch === '}' || ch === ']') {
          if (depth === 0) break;
          depth--;
        } else if (ch === ',' && depth === 0) break;
      }
    }
    out.push([key, line.slice(start, i).trimEnd()]);
  }
}

// ---- processes ----

interface Rec {
  ev: 'ready' | 'start' | 'end' | 'done' | 'dropped';
  w: string;
  t: number;
  lease?: string;
  epoch?: number;
  issue?: string;
  priority?: number;
  n?: number;
  method?: string;
  status?: string;
  why?: string;
}

interface Proc {
  proc: ChildProcess;
  out: () => string;
  exited: Promise<number | null>;
}

const procs: ChildProcess[] = [];
const recs: Rec[] = [];

/** The environment without GTC_* variables (GTC_SOCKET would move the server's socket, for one). */
function cleanEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('GTC_')) env[k] = v;
  return { ...env, ...extra };
}

function start(cmd: string, args: string[], env: Record<string, string>, onLine?: (line: string) => void): Proc {
  const proc = spawn(cmd, args, { env: cleanEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
  procs.push(proc);
  let out = '';
  let partial = '';
  proc.stdout!.on('data', (d: Buffer) => {
    out += d;
    partial += d;
    const lines = partial.split('\n');
    partial = lines.pop()!;
    for (const l of lines) if (l.trim()) onLine?.(l);
  });
  proc.stderr!.on('data', (d: Buffer) => (out += d));
  const exited = new Promise<number | null>((r) => proc.on('exit', (code) => r(code)));
  return { proc, out: () => out, exited };
}

async function until(pred: () => boolean | Promise<boolean>, timeoutMs: number, what: string, diag?: () => string): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await pred())) {
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${diag ? '\n' + diag() : ''}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

after(() => {
  for (const p of procs) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
});

/** False (test skipped) when bin/gtc is missing outside CI; under CI its absence fails the test. */
/** A temp workspace whose issues.jsonl holds lines, served by bin/gtc serve with args until the test ends. */
function serveLines(t: TestContext, prefix: string, lines: string[], args: string[]): { sock: string; server: Proc } {
  const ws = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  t.after(() => fs.rmSync(ws, { recursive: true, force: true }));
  fs.mkdirSync(path.join(ws, '.beads'));
  fs.writeFileSync(path.join(ws, '.beads', 'issues.jsonl'), lines.map((l) => l + '\n').join(''));
  const server = start(gtcBin, ['--dir', ws, 'serve', ...args], {});
  t.after(() => server.proc.kill('SIGKILL'));
  return { sock: path.join(ws, '.beads', 'gtc.sock'), server };
}

/** An issue line in bd's classic key order. */
function issueLine(id: string, title: string, status: string, priority: number, created: string): string {
  return `{"id":"${id}","title":"${title}","description":"","status":"${status}","priority":${priority},"issue_type":"task","created_at":"${created}","updated_at":"${created}"}`;
}

/** A client-role connection to sock, closed when the test ends. */
async function admin(t: TestContext, sock: string, name: string): Promise<GtcClient> {
  const c = await connect({ path: sock, reconnect: false });
  t.after(() => c.close());
  await c.hello({ name, role: 'client' });
  return c;
}

function haveBinary(t: TestContext): boolean {
  if (fs.existsSync(gtcBin)) return true;
  if (process.env.CI) assert.fail(`${gtcBin} is missing under CI: the Makefile's test-ts target builds it first`);
  t.skip(`${gtcBin} not built: run \`make build\` (or \`make test\`) at the repository root`);
  return false;
}

// ---- the tests ----

describe('integration with bin/gtc serve', () => {
  it('runs 100 issues on 5 Node workers: priorities, blockers, kill -9 reassignment, lossless JSONL', { timeout: 60_000 }, async (t) => {
    if (!haveBinary(t)) return;
    const t0 = Date.now();
    const phase = (what: string) => t.diagnostic(`${what} at +${Date.now() - t0} ms`);
    const ws = fs.mkdtempSync(path.join(os.tmpdir(), 'gtc-it-'));
    t.after(() => fs.rmSync(ws, { recursive: true, force: true }));
    const beadsDir = path.join(ws, '.beads');
    fs.mkdirSync(beadsDir);
    const jsonl = path.join(beadsDir, 'issues.jsonl');
    const specs = makeIssues();
    const byId = new Map(specs.map((s) => [s.id, s]));
    fs.writeFileSync(jsonl, specs.map((s) => s.line + '\n').join(''));

    const server = start(gtcBin, [
      '--dir', ws, 'serve',
      '--grace', '2s', '--heartbeat-timeout', '3s', '--ack-timeout', '2s', '--sync-interval', '200ms',
      // A lease lost past the grace counts as a failed attempt, requeued after the retry backoff: keep it short.
      '--backoff', `${BACKOFF_MS}ms`,
    ], {});
    const diag = () => `server output:\n${server.out()}\nworker records:\n${recs.map((r) => JSON.stringify(r)).join('\n')}`;
    const sock = path.join(beadsDir, 'gtc.sock');
    let admin: GtcClient;
    try {
      admin = await connect({ path: sock, connectRetryMs: 15_000, reconnect: false });
    } catch (e) {
      throw new Error(`cannot reach ${sock}: ${(e as Error).message}\n${diag()}`);
    }
    t.after(() => admin.close());
    await admin.hello({ name: 'it-admin', role: 'client' });
    assert.equal((await admin.request('coord.status', {})).issues.total, 100, 'all 100 issues imported');
    phase('server up');

    // Five workers; w5 hangs on its third assignment and is killed there. It starts first, so that it gets three
    // leases even when a loaded machine starts Node processes slowly.
    const workers = new Map<string, Proc>();
    const spawnWorker = (name: string, extra: Record<string, string> = {}) =>
      workers.set(name, start(process.execPath, [workerScript], { GTC_SOCKET: sock, GTC_NAME: name, WORK_MS: '15', ...extra }, (l) => recs.push(JSON.parse(l) as Rec)));
    spawnWorker('w5', { HANG_AT: '3' });
    await until(() => recs.some((r) => r.w === 'w5' && r.ev === 'ready'), 15_000, 'w5 to say hello', diag);
    for (const name of ['w1', 'w2', 'w3', 'w4']) spawnWorker(name);
    const victim = workers.get('w5')!;
    // Kill it once its only lease is the hung one: its first two completions must have been answered, or the
    // "done" line of a lease the server did close would die with it.
    const w5 = (ev: Rec['ev']) => recs.filter((r) => r.w === 'w5' && r.ev === ev);
    await until(() => w5('start').some((r) => r.n === 3) && w5('done').length === 2, 15_000, 'w5 to hang on its third lease', diag);
    const held = recs.find((r) => r.ev === 'start' && r.w === 'w5' && r.n === 3)!;
    victim.proc.kill('SIGKILL');
    const killedAt = Date.now();
    await victim.exited;
    phase('w5 killed');

    const done = () => recs.filter((r) => r.ev === 'done');
    await until(() => new Set(done().map((r) => r.issue)).size === 100, 30_000, 'every issue to be completed', diag);
    phase('100 issues completed');
    const status = await admin.request('coord.status', {});
    assert.equal(status.issues.closed, 100, `coord.status: ${JSON.stringify(status)}`);

    // Every issue completed once, by the first worker that held it, except the killed worker's.
    const starts = recs.filter((r) => r.ev === 'start');
    for (const d of done()) {
      assert.equal(d.method, 'complete', JSON.stringify(d));
      assert.equal(d.status, 'closed', JSON.stringify(d));
    }
    assert.equal(done().length, 100, 'one completion per issue');
    for (const s of specs) {
      const n = starts.filter((r) => r.issue === s.id).length;
      assert.equal(n, s.id === held.issue ? 2 : 1, `${s.id} started ${n} times\n${diag()}`);
    }
    assert.deepEqual(recs.filter((r) => r.ev === 'dropped'), [], 'no lease dropped by a live worker');

    // Higher priority first: no blocker-free P0/P1 issue waits while a lower one is handed out, so the first
    // five leases are the P0s and the first fifteen the P0s and P1s.
    // (First leases only: the killed worker's issue, a P0 or P1, may come back early in the order.)
    const firstLease = new Map<string, Rec>();
    for (const r of [...starts].sort((a, b) => a.epoch! - b.epoch!)) if (!firstLease.has(r.issue!)) firstLease.set(r.issue!, r);
    const byEpoch = [...firstLease.values()];
    assert.deepEqual(byEpoch.slice(0, 5).map((r) => r.issue).sort(), [...P0].sort(), 'first five leases are the P0s');
    assert.deepEqual(byEpoch.slice(0, 15).map((r) => r.issue).sort(), [...P0, ...P1].sort(), 'next ten are the P1s');
    for (const r of starts) assert.equal(r.priority, byId.get(r.issue!)!.priority, 'assignment carries the stored issue');

    // Blockers: an issue starts only after each blocker's handler returned (its complete went out after).
    const endOf = new Map<string, number>();
    for (const d of done()) {
      const e = recs.find((r) => r.ev === 'end' && r.lease === d.lease);
      assert.ok(e, `end record of ${d.lease}`);
      endOf.set(d.issue!, e.t);
    }
    let checked = 0;
    for (const s of specs) {
      for (const st of starts.filter((r) => r.issue === s.id)) {
        for (const b of s.blockers) {
          assert.ok(st.t >= endOf.get(b)!, `${s.id} started at ${st.t} before its blocker ${b} ended at ${endOf.get(b)}`);
          checked++;
        }
      }
    }
    assert.ok(checked >= 50, `dependency edges checked: ${checked}`);

    // kill -9: the held issue went back to the queue after the grace (plus the short retry backoff: a lease
    // lost with its worker is a failed attempt) and another worker completed it.
    const retry = starts.find((r) => r.issue === held.issue && r.w !== 'w5');
    assert.ok(retry, `${held.issue} was not reassigned\n${diag()}`);
    assert.ok(retry.t >= killedAt + GRACE_MS - 100, `${held.issue} reassigned ${retry.t - killedAt} ms after the kill, before the ${GRACE_MS} ms grace`);
    assert.ok(retry.t <= killedAt + GRACE_MS + BACKOFF_MS + 10_000, `${held.issue} reassigned only ${retry.t - killedAt} ms after the kill`);
    t.diagnostic(`${held.issue} reassigned to ${retry.w} ${retry.t - killedAt} ms after the kill (grace ${GRACE_MS} ms + backoff ≤ ${BACKOFF_MS} ms)`);
    assert.ok(retry.epoch! > held.epoch!, 'the new lease has a newer epoch');
    const finisher = done().find((r) => r.issue === held.issue)!;
    assert.notEqual(finisher.w, 'w5');

    // The JSONL: the sync tick exports the closes, SIGTERM exports again on shutdown; both must hold.
    const original = new Map(specs.map((s) => [s.id, s.line]));
    const checkFile = (strict: boolean): string | undefined => {
      const lines = fs.readFileSync(jsonl, 'utf8').split('\n').filter((l) => l !== '');
      const ids = lines.map((l) => (JSON.parse(l) as { id: string }).id);
      if (ids.length !== 100 || new Set(ids).size !== 100) return `want 100 distinct ids, got ${ids.length} lines / ${new Set(ids).size} ids`;
      if (ids.join() !== [...ids].sort().join()) return 'lines are not sorted by id';
      for (const line of lines) {
        const got = rawFields(line);
        const gotMap = new Map(got);
        const id = JSON.parse(gotMap.get('id')!) as string;
        if (gotMap.get('status') !== '"closed"') return `${id} status ${gotMap.get('status')}`;
        if (!strict) continue;
        const want = rawFields(original.get(id)!);
        const order: string[] = [];
        for (const [k, v] of want) {
          if (k === 'status' || k === 'updated_at') continue; // the fields gtc owns on close
          assert.ok(gotMap.has(k), `${id}: key ${k} lost\n${line}`);
          assert.equal(gotMap.get(k), v, `${id}: ${k} changed\nwas: ${original.get(id)}\nnow: ${line}`);
          order.push(k);
        }
        const gotOrder = got.map(([k]) => k).filter((k) => order.includes(k));
        assert.deepEqual(gotOrder, order, `${id}: key order changed`);
      }
      return undefined;
    };
    await until(() => checkFile(false) === undefined, 10_000, 'the sync tick to export 100 closed issues', () => checkFile(false) ?? '');
    assert.equal(checkFile(true), undefined);
    phase('JSONL exported by the sync tick');

    for (const [, w] of workers) if (w !== victim) w.proc.kill('SIGTERM');
    for (const [name, w] of workers) if (w !== victim) assert.equal(await w.exited, 0, `${name} exit\n${w.out()}`);
    admin.close();
    server.proc.kill('SIGTERM');
    assert.equal(await server.exited, 0, `server exit\n${server.out()}`);
    assert.equal(checkFile(true), undefined, 'after the export on shutdown');
    phase('server stopped');
  });

  it('speaks the protocol with the real server: pushes during hello, lease.cancel, events, shutdown, restart with resume', { timeout: 60_000 }, async (t) => {
    if (!haveBinary(t)) return;
    const ws = fs.mkdtempSync(path.join(os.tmpdir(), 'gtc-it2-'));
    t.after(() => fs.rmSync(ws, { recursive: true, force: true }));
    fs.mkdirSync(path.join(ws, '.beads'));
    const lines = [0, 1, 2, 3].map((p) =>
      `{"id":"pr-${p}","title":"P${p} issue","description":"","status":"open","priority":${p},"issue_type":"task","created_at":"2026-11-20T09:00:0${p}Z","updated_at":"2026-11-20T09:00:0${p}Z"}`);
    fs.writeFileSync(path.join(ws, '.beads', 'issues.jsonl'), lines.join('\n') + '\n');
    const sock = path.join(ws, '.beads', 'gtc.sock');
    const serve = () => start(gtcBin, ['--dir', ws, 'serve', '--grace', '20s', '--heartbeat-timeout', '3s', '--sync-interval', '200ms'], {});
    let server = serve();
    const reconnect = { initialDelayMs: 50, maxDelayMs: 200 };
    const admin = await connect({ path: sock, connectRetryMs: 15_000, reconnect });
    t.after(() => admin.close());
    await admin.hello({ name: 'it2-admin', role: 'client' });
    const kinds = new Set<string>();
    const seqs: number[] = [];
    admin.on('event', (e) => {
      kinds.add(e.kind);
      seqs.push(e.seq);
    });
    await admin.subscribe();

    // A worker in this process. Every handler waits for the gate; capacity 2.
    const w = await connect({ path: sock, reconnect });
    t.after(() => w.close());
    let open!: () => void;
    const gate = new Promise<void>((r) => (open = r));
    const runs: string[] = [];
    const dropped: DroppedEvent[] = [];
    const finished: FinishedEvent[] = [];
    const shutdowns: string[] = [];
    w.on('dropped', (d) => dropped.push(d));
    w.on('finished', (f) => finished.push(f));
    w.on('shutdown', (p) => shutdowns.push(p.reason));
    admin.on('shutdown', (p) => shutdowns.push(`admin: ${p.reason}`));
    w.onAssignment(async (a, { signal }) => {
      runs.push(`${a.lease.id}:${a.issue.id}`);
      await Promise.race([gate, new Promise((_, rej) => signal.addEventListener('abort', () => rej(signal.reason)))]);
      return { summary: `did ${a.issue.id}` };
    });
    await w.hello({ name: 'it2-w', capacity: 2 });
    const diag = () => `runs ${JSON.stringify(runs)} dropped ${JSON.stringify(dropped)}\nserver:\n${server.out()}`;

    // Pushed while hello is served (or right after): both slots, highest priority first.
    await until(() => runs.length === 2, 10_000, 'two pushes', diag);
    assert.deepEqual(runs.map((r) => r.split(':')[1]).sort(), ['pr-0', 'pr-1']);

    // lease.cancel: the cancel notification aborts that handler, nothing is reported, the issue comes back.
    const first = w.activeLeases.find((id) => runs.includes(`${id}:pr-0`))!;
    assert.deepEqual(await admin.request('lease.cancel', { lease_id: first, reason: 'test cancel' }), { lease_id: first, cancelled: true });
    await until(() => dropped.length === 1 && w.active === 2 && runs.length === 3, 10_000, 'the cancel and a new push', diag);
    assert.equal(dropped[0].why, 'cancel');
    assert.equal(dropped[0].lease_id, first);
    assert.equal(finished.length, 0);
    const held = [...w.activeLeases].sort();
    const runsBefore = runs.length;

    // SIGTERM: every client gets the shutdown notification, the server exits 0 after its export.
    server.proc.kill('SIGTERM');
    assert.equal(await server.exited, 0, server.out());
    await until(() => shutdowns.length === 2, 5_000, 'shutdown notifications', diag);
    assert.deepEqual(shutdowns.sort(), ['admin: server shutting down', 'server shutting down']);
    await until(() => w.state === 'reconnecting', 5_000, 'the worker to notice the drop', diag);

    // Restart: the worker says hello again, gets its two leases back and keeps running them (not twice).
    const back = new Promise<HelloResult>((r) => w.once('reconnected', r));
    server = serve();
    const hello = await back;
    assert.deepEqual(hello.leases.map((a) => a.lease.id).sort(), held, 'hello hands back the live leases');
    assert.deepEqual([...w.activeLeases].sort(), held);
    assert.equal(runs.length, runsBefore, 'resumed leases are not run again');

    open();
    await until(() => finished.length === 4, 10_000, 'all four issues completed', diag);
    for (const f of finished) assert.equal((f.result as { status: string }).status, 'closed');
    assert.deepEqual(finished.map((f) => f.issue_id).sort(), ['pr-0', 'pr-1', 'pr-2', 'pr-3']);
    assert.deepEqual(dropped.length, 1);
    await until(async () => admin.state === 'connected' && (await admin.request('coord.status', {})).issues.closed === 4, 10_000, 'coord.status closed 4');
    for (const k of ['assigned', 'acked', 'cancelled']) assert.ok(kinds.has(k), `event kind ${k} (saw ${[...kinds]})`);
    // Across the restart the subscription caught up: every event of the log from the first it saw, once, in order.
    const logged = async () => {
      const page = await admin.request('events.list', { after_seq: seqs[0] - 1, limit: 1000 });
      return page.events.map((e) => e.seq).filter((q) => q <= seqs[seqs.length - 1]);
    };
    let log: number[] = [];
    await until(async () => JSON.stringify((log = await logged())) === JSON.stringify(seqs), 5_000, 'the events seen = the log',
      () => `seen ${JSON.stringify(seqs)}\nlog ${JSON.stringify(log)}`);
    assert.equal(((await admin.call('coord.health')) as { status: string }).status, 'healthy');
    w.close();
    admin.close();
    server.proc.kill('SIGTERM');
    assert.equal(await server.exited, 0, server.out());
  });
  it('drain tells the server first: the issue freed by the last complete is not pushed to the closing worker', { timeout: 30_000 }, async (t) => {
    if (!haveBinary(t)) return;
    const lines = [0, 1].map((p) => issueLine(`dr-${p}`, `D${p}`, 'open', p, `2026-11-20T09:00:0${p}Z`));
    const { sock, server } = serveLines(t, 'gtc-it3-', lines, ['--grace', '20s', '--sync-interval', '200ms']);
    const w = await connect({ path: sock, connectRetryMs: 15_000, reconnect: false });
    let open!: () => void;
    const gate = new Promise<void>((r) => (open = r));
    const runs: string[] = [];
    w.onAssignment(async (a) => {
      runs.push(a.issue.id);
      await gate;
      return { summary: 'done' };
    });
    await w.hello({ name: 'it3-w', capacity: 1 });
    await until(() => runs.length === 1, 10_000, 'the first push', () => server.out());
    const drained = w.drain();
    open();
    await drained;
    assert.deepEqual(runs, ['dr-0']);
    const adm = await admin(t, sock, 'it3-admin');
    // not hooked to the closed worker for its grace (20 s): ready for the next one at once
    const st = await adm.request('coord.status', {});
    assert.deepEqual([st.issues.ready, st.issues.leased, st.issues.closed], [1, 0, 1], JSON.stringify(st));
    adm.close();
    server.proc.kill('SIGTERM');
    assert.equal(await server.exited, 0, server.out());
  });
  it('a handler that blocks the event loop does not hold back the ack: the lease is not taken back', { timeout: 30_000 }, async (t) => {
    if (!haveBinary(t)) return;
    const { sock, server } = serveLines(t, 'gtc-it4-', [issueLine('bl-1', 'B', 'open', 1, '2026-11-20T09:00:00Z')],
      ['--ack-timeout', '1s', '--sync-interval', '200ms']);
    const w = await connect({ path: sock, connectRetryMs: 15_000, reconnect: false });
    t.after(() => w.close());
    const runs: string[] = [];
    const finished = new Promise<FinishedEvent>((r) => w.once('finished', r));
    const dropped: DroppedEvent[] = [];
    w.on('dropped', (d) => dropped.push(d));
    w.onAssignment(async (a) => {
      runs.push(a.lease.id);
      const end = Date.now() + 2500; // execSync of an agent: the event loop is blocked past the ack timeout
      while (Date.now() < end) {
        /* busy */
      }
      return { summary: 'done' };
    });
    await w.hello({ name: 'it4-w', capacity: 1 });
    const f = await finished;
    assert.equal(f.method, 'complete', JSON.stringify(f));
    assert.deepEqual(runs, ['L-1'], 'pushed once, not taken back at the ack timeout');
    assert.deepEqual(dropped, []);
    const adm = await admin(t, sock, 'it4-admin');
    const page = await adm.request('events.list', { issue_id: 'bl-1', limit: 100 });
    const kinds = page.events.map((e) => e.kind);
    assert.ok(!kinds.includes('ack_timeout') && kinds.includes('completed'), kinds.join(' '));
    adm.close();
    server.proc.kill('SIGTERM');
    assert.equal(await server.exited, 0, server.out());
  });
  it('a TypeScript refinery: the merge pushed, its outcome reported and landed', { timeout: 30_000 }, async (t) => {
    if (!haveBinary(t)) return;
    const { sock, server } = serveLines(t, 'gtc-it5-', [issueLine('mq-1', 'M', 'in_progress', 1, '2026-11-20T09:00:00Z')],
      ['--sync-interval', '200ms']);
    const ref = await connect({ path: sock, connectRetryMs: 15_000, reconnect: false });
    t.after(() => ref.close());
    const pushed: string[] = [];
    ref.onMerge(async (m, { heartbeat }) => {
      pushed.push(`${m.id}@${m.epoch}:${m.branch}->${m.target}`);
      await heartbeat('gating');
      return { merged: true, merge_commit: 'c0ffee' };
    });
    const reported = new Promise<MergeReportedEvent>((r) => ref.once('mergeReported', r));
    await ref.hello({ name: 'it5-ref', role: 'refinery', capacity: 1 });
    const adm = await admin(t, sock, 'it5-admin');
    const sub = await adm.request('merge.submit', { issue_id: 'mq-1', branch: 'feat/mq-1' });
    assert.equal(sub.request.state, 'pending');
    const ev = await reported;
    assert.equal(ev.merge_id, sub.request.id);
    assert.equal(ev.request.state, 'merged');
    assert.equal(pushed.length, 1);
    assert.match(pushed[0], /^MR-\d+@\d+:feat\/mq-1->main$/);
    const live = await adm.request('merge.list', {});
    assert.deepEqual(live.requests, [], 'nothing left merging or pending');
    const page = await adm.request('events.list', { issue_id: 'mq-1', limit: 100 });
    const kinds = page.events.map((e) => e.kind);
    assert.deepEqual(kinds.filter((k) => k.startsWith('merge_')), ['merge_submitted', 'merge_started', 'merge_merged'], kinds.join(' '));
    const health = await adm.request('coord.health', {});
    assert.equal(health.status, 'healthy');
    const st = await adm.request('coord.status', {});
    assert.equal(st.refineries.idle, 1, JSON.stringify(st));
    ref.close();
    adm.close();
    server.proc.kill('SIGTERM');
    assert.equal(await server.exited, 0, server.out());
  });
});
