// A gtc worker that runs a shell command per assignment.
// Usage: node dist/examples/shell-worker.js '<command>'   (or GTC_COMMAND='<command>')
// The command sees GTC_ISSUE_ID, GTC_ISSUE_TITLE, GTC_LEASE_ID, GTC_LEASE_EPOCH, GTC_ATTEMPT, GTC_WORKER, GTC_PROMPT
// (and GTC_ISSUE_JSON) in its environment, as with `gtc worker --exec` (`gtc merge submit` reads the lease from them).
// Exit 0 → complete (success, summary = output tail); otherwise → fail with the output tail.
// Env: GTC_SOCKET or GTC_ADDR + GTC_TOKEN, GTC_WORKER_NAME (or GTC_NAME), GTC_CAPACITY.
import { spawn } from 'node:child_process';
import { Assignment, connect, HandlerContext, nameFromEnv, optionsFromEnv, SessionResult } from '../src/index.js';

const TAIL = 4000; // bytes of output kept for the summary / error
const MAX_ENV = 100_000; // longer prompts are cut in the environment (E2BIG otherwise)
const KILL_AFTER_MS = 5000; // a cancelled command still running this long after SIGTERM gets SIGKILL

function runShell(command: string, worker: string, a: Assignment, ctx: HandlerContext): Promise<Partial<SessionResult>> {
  const env = {
    ...process.env,
    GTC_ISSUE_ID: a.issue.id,
    GTC_ISSUE_TITLE: a.issue.title ?? '',
    GTC_LEASE_ID: a.lease.id,
    GTC_LEASE_EPOCH: String(a.lease.epoch),
    GTC_ATTEMPT: String(a.lease.attempt),
    GTC_WORKER: worker,
    GTC_PROMPT: a.prompt.length > MAX_ENV ? a.prompt.slice(0, MAX_ENV) : a.prompt,
    GTC_ISSUE_JSON: JSON.stringify(a.issue).slice(0, MAX_ENV),
  };
  const started = Date.now();
  return new Promise((resolve, reject) => {
    // its own process group (as gtc worker does), so that a cancel stops what the command started too (the
    // agent), not only /bin/sh: SIGTERM to the group, SIGKILL KILL_AFTER_MS later if it is still there
    const child = spawn('/bin/sh', ['-c', command], { env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    const group = (sig: NodeJS.Signals) => {
      try {
        if (child.pid) process.kill(-child.pid, sig);
      } catch {
        // the group is gone
      }
    };
    let killTimer: NodeJS.Timeout | undefined;
    const stop = () => {
      group('SIGTERM');
      killTimer = setTimeout(() => group('SIGKILL'), KILL_AFTER_MS);
    };
    if (ctx.signal.aborted) stop();
    else ctx.signal.addEventListener('abort', stop, { once: true });
    let tail = '';
    const keep = (chunk: Buffer) => {
      process.stdout.write(chunk);
      tail = (tail + chunk.toString('utf8')).slice(-TAIL);
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    child.on('error', (err) => reject(ctx.signal.aborted ? ctx.signal.reason : err));
    child.on('exit', () => {
      ctx.signal.removeEventListener('abort', stop);
      if (killTimer) clearTimeout(killTimer);
      group('SIGKILL'); // leftovers of the group (background jobs of the command, which would hold its output open)
    });
    child.on('close', (code, signal) => {
      if (ctx.signal.aborted) {
        reject(ctx.signal.reason);
      } else if (code === 0) {
        resolve({ outcome: 'success', summary: tail.trim(), duration_ms: Date.now() - started });
      } else {
        reject(new Error(`${signal ? `killed by ${signal}` : `exit ${code}`}: ${tail.trim()}`));
      }
    });
  });
}

async function main(): Promise<void> {
  const command = process.argv[2] ?? process.env.GTC_COMMAND;
  if (!command) throw new Error("usage: shell-worker '<command>' (or set GTC_COMMAND)");
  const client = await connect(optionsFromEnv());
  const name = nameFromEnv('shell-worker');
  client.onAssignment((a, ctx) => runShell(command, name, a, ctx));
  client.on('finished', (f) => console.error(`[gtc] ${f.method} ${f.lease_id} (${f.issue_id})`));
  client.on('cancel', (c) => console.error(`[gtc] cancel ${c.lease_id}: ${c.reason}`));
  const hello = await client.hello({ name, capacity: Number(process.env.GTC_CAPACITY || 1) });
  console.error(`[gtc] ${hello.worker} ready (server ${hello.server} ${hello.version})`);
  for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => void client.drain({ timeoutMs: 30000 }));
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
