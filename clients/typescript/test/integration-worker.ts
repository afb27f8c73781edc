// Worker process for test/integration.test.ts: runs each assignment for WORK_MS and writes one JSON line per
// step to stdout (ordered, with Date.now() times): ready, start, end (handler returned), done (final call
// answered), dropped. HANG_AT=n makes the n-th assignment hang until the lease is taken away (or the process
// is killed). Env: GTC_SOCKET, GTC_NAME, WORK_MS, HANG_AT. SIGTERM drains and exits.
import { setTimeout as sleep } from 'node:timers/promises';
import { connect, nameFromEnv, optionsFromEnv } from '../src/index.js';

const name = nameFromEnv('it-worker');
const workMs = Number(process.env.WORK_MS || 10);
const hangAt = Number(process.env.HANG_AT || 0);

function log(ev: string, fields: Record<string, unknown> = {}): void {
  // Synchronous for pipes on Linux: a line written before a kill -9 is not lost.
  process.stdout.write(JSON.stringify({ ev, w: name, t: Date.now(), ...fields }) + '\n');
}

async function main(): Promise<void> {
  const client = await connect({ ...optionsFromEnv(), connectRetryMs: 10_000 });
  let n = 0;
  client.onAssignment(async (a, { signal }) => {
    n++;
    log('start', { lease: a.lease.id, epoch: a.lease.epoch, issue: a.issue.id, priority: a.issue.priority, n });
    if (n === hangAt) await new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason)));
    await sleep(workMs, undefined, { signal });
    log('end', { lease: a.lease.id, issue: a.issue.id });
    return { outcome: 'success', summary: `${name} did ${a.issue.id}` };
  });
  client.on('finished', (f) => log('done', { lease: f.lease_id, issue: f.issue_id, method: f.method, status: (f.result as { status?: string }).status }));
  client.on('dropped', (d) => log('dropped', { lease: d.lease_id, issue: d.issue_id, why: d.why }));
  const hello = await client.hello({ name, capacity: 1 });
  log('ready', { heartbeat_ms: hello.heartbeat_ms, resumed: hello.leases.length });
  process.once('SIGTERM', () => void client.drain({ timeoutMs: 2000 }).then(() => process.exit(0)));
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
