// A gtc worker that completes every assignment with an echo of its title.
// Env: GTC_SOCKET or GTC_ADDR + GTC_TOKEN, GTC_WORKER_NAME (or GTC_NAME), GTC_CAPACITY, GTC_MAX_TASKS (drain after that many).
import { connect, nameFromEnv, optionsFromEnv } from '../src/index.js';

async function main(): Promise<void> {
  const client = await connect(optionsFromEnv());
  client.onAssignment(async (a) => ({ outcome: 'success', summary: `echo: ${a.issue.title}` }));
  const hello = await client.hello({ name: nameFromEnv('echo-worker'), capacity: Number(process.env.GTC_CAPACITY || 1) });
  console.log(JSON.stringify({ ready: hello.worker, server: hello.server, version: hello.version, resumed: hello.leases.length }));
  let left = Number(process.env.GTC_MAX_TASKS || Infinity);
  client.on('finished', (f) => { console.log(JSON.stringify(f)); if (--left <= 0) void client.drain(); });
  for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => void client.drain({ timeoutMs: 10000 }));
}

main().catch((err) => { console.error(err); process.exit(1); });
