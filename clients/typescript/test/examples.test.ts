// Runs the compiled examples as child processes against the fake server, configured by environment.
import assert from 'node:assert/strict';
import { ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { assignment, FakeServer, until } from './fake-server.js';

const examples = path.join(__dirname, '..', 'examples');
let server: FakeServer;
let child: ChildProcess | undefined;

function run(script: string, args: string[], env: Record<string, string>): { proc: ChildProcess; out: () => string; exited: Promise<number | null> } {
  const proc = spawn(process.execPath, [path.join(examples, script), ...args], {
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child = proc;
  let out = '';
  proc.stdout!.on('data', (d) => (out += d));
  proc.stderr!.on('data', (d) => (out += d));
  const exited = new Promise<number | null>((r) => proc.on('exit', (code) => r(code)));
  return { proc, out: () => out, exited };
}

beforeEach(async () => {
  server = await new FakeServer().start();
});

afterEach(async () => {
  if (child && child.exitCode === null) child.kill('SIGKILL');
  child = undefined;
  await server.stop();
});

describe('examples', () => {
  it('echo-worker reads GTC_SOCKET / GTC_NAME, completes, drains after GTC_MAX_TASKS', async () => {
    const sock = (server.address as { path: string }).path;
    const w = run('echo-worker.js', [], { GTC_SOCKET: sock, GTC_NAME: 'echo-1', GTC_MAX_TASKS: '1' });
    await until(() => server.conns.some((c) => c.name === 'echo-1'), 5000, 'echo worker hello');
    assert.deepEqual(await server.assign(server.last, assignment('bd-echo', 1, 'say hi')), { accepted: true });
    assert.equal(await w.exited, 0, w.out());
    const [c] = server.callsOf('complete');
    assert.equal(c.params.summary, 'echo: say hi');
    assert.equal(c.params.outcome, 'success');
    assert.match(w.out(), /"method":"complete"/);
  });

  it('echo-worker connects over TCP from GTC_ADDR + GTC_TOKEN', async () => {
    await server.stop();
    server = await new FakeServer().start(true);
    server.token = 't0k';
    const a = server.address as { host: string; port: number };
    const w = run('echo-worker.js', [], { GTC_ADDR: `${a.host}:${a.port}`, GTC_TOKEN: 't0k', GTC_NAME: 'echo-tcp', GTC_MAX_TASKS: '1' });
    await until(() => server.conns.some((c) => c.name === 'echo-tcp'), 5000, 'echo worker hello');
    await server.assign(server.last, assignment('bd-t'));
    assert.equal(await w.exited, 0, w.out());
    assert.equal(server.callsOf('hello')[0].params.token, 't0k');
  });

  it('shell-worker gives the command the variables gtc worker --exec gives (gtc merge submit reads GTC_LEASE_EPOCH)', async () => {
    // A trial: GTC_LEASE_EPOCH was missing, so `gtc merge submit $GTC_ISSUE_ID BRANCH` run by the command took the
    // lease from GTC_LEASE_ID without its epoch and refused ("--lease L needs its --epoch").
    const sock = (server.address as { path: string }).path;
    const cmd = 'echo "epoch=$GTC_LEASE_EPOCH attempt=$GTC_ATTEMPT worker=$GTC_WORKER"';
    const w = run('shell-worker.js', [cmd], { GTC_SOCKET: sock, GTC_NAME: 'sh-env' });
    await until(() => server.conns.some((c) => c.name === 'sh-env'), 5000, 'shell worker hello');
    await server.assign(server.last, assignment('bd-env', 7, 'env'));
    await until(() => server.callsOf('complete').length === 1, 5000, 'complete');
    assert.equal(server.callsOf('complete')[0].params.summary, 'epoch=7 attempt=1 worker=sh-env');
    w.proc.kill('SIGTERM');
    assert.equal(await w.exited, 0, w.out());
  });

  it('shell-worker: a cancel stops the whole command, the processes it started too', async () => {
    // A trial: only /bin/sh was killed; what it had started (the agent) ran on after the cancel, beside the
    // next holder of the issue.
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gtc-sh-'));
    const pidFile = path.join(dir, 'child.pid');
    let pid = 0;
    try {
      const sock = (server.address as { path: string }).path;
      const cmd = `sleep 30 & echo $! > ${pidFile}; wait`;
      const w = run('shell-worker.js', [cmd], { GTC_SOCKET: sock, GTC_NAME: 'sh-cancel' });
      await until(() => server.conns.some((c) => c.name === 'sh-cancel'), 5000, 'shell worker hello');
      await server.assign(server.last, assignment('bd-long', 3, 'long'));
      await until(() => fs.existsSync(pidFile) && fs.readFileSync(pidFile, 'utf8').trim() !== '', 5000, 'the command\'s child');
      pid = Number(fs.readFileSync(pidFile, 'utf8').trim());
      await server.cancel(server.last, { lease_id: 'L-bd-long', epoch: 3, issue_id: 'bd-long', reason: 'operator' });
      await until(() => !alive(pid), 5000, 'the command\'s child to be stopped');
      w.proc.kill('SIGTERM');
      assert.equal(await w.exited, 0, w.out());
      assert.equal(server.callsOf('complete').length + server.callsOf('fail').length, 0, 'nothing reported for a cancelled lease');
    } finally {
      if (pid && alive(pid)) process.kill(pid, 'SIGKILL');
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('shell-worker: a command that exits leaving a background job (holding its output) completes at its exit', async () => {
    const sock = (server.address as { path: string }).path;
    const w = run('shell-worker.js', ['sleep 30 & echo started'], { GTC_SOCKET: sock, GTC_NAME: 'sh-bg' });
    await until(() => server.conns.some((c) => c.name === 'sh-bg'), 5000, 'shell worker hello');
    await server.assign(server.last, assignment('bd-bg', 1, 'bg'));
    await until(() => server.callsOf('complete').length === 1, 5000, 'complete at the command\'s exit, not the job\'s');
    assert.equal(server.callsOf('complete')[0].params.summary, 'started');
    w.proc.kill('SIGTERM');
    assert.equal(await w.exited, 0, w.out());
  });

  it('shell-worker passes the issue in the environment, completes on exit 0, fails with the output tail', async () => {
    const sock = (server.address as { path: string }).path;
    const cmd =
      'if [ "$GTC_ISSUE_TITLE" = bad ]; then echo "boom on $GTC_ISSUE_ID" >&2; exit 3; fi; ' +
      'echo "id=$GTC_ISSUE_ID lease=$GTC_LEASE_ID title=$GTC_ISSUE_TITLE"; printf "%s" "$GTC_PROMPT" | tail -n 1';
    const w = run('shell-worker.js', [cmd], { GTC_SOCKET: sock, GTC_NAME: 'sh-1' });
    await until(() => server.conns.some((c) => c.name === 'sh-1'), 5000, 'shell worker hello');
    await server.assign(server.last, assignment('bd-ok', 1, 'good'));
    await until(() => server.callsOf('complete').length === 1, 5000, 'complete');
    const done = server.callsOf('complete')[0].params;
    assert.equal(done.outcome, 'success');
    assert.equal(done.summary, 'id=bd-ok lease=L-bd-ok title=good\ndescription of bd-ok');
    await server.assign(server.last, assignment('bd-bad', 2, 'bad'));
    await until(() => server.callsOf('fail').length === 1, 5000, 'fail');
    const failed = server.callsOf('fail')[0].params;
    assert.equal(failed.lease_id, 'L-bd-bad');
    assert.equal(failed.error, 'exit 3: boom on bd-bad');
    w.proc.kill('SIGTERM');
    assert.equal(await w.exited, 0, w.out());
  });
});

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
