// Round-trip benchmark: the fake server pushes N assignments keeping `capacity` in flight; the client acks,
// runs an empty handler and completes. Prints leases/s. Usage: npm run bench -- [N] [capacity]
import { connect } from '../src/index.js';
import { assignment, FakeServer } from '../test/fake-server.js';

async function main(): Promise<void> {
  const n = Number(process.argv[2] ?? 20000);
  const capacity = Number(process.argv[3] ?? 16);
  const server = await new FakeServer().start();
  server.heartbeatMs = 10000;
  let next = 0;
  let done = 0;
  let finish!: () => void;
  const all = new Promise<void>((r) => (finish = r));
  const push = () => {
    if (next >= n) return;
    next++;
    void server.assign(server.last, assignment(`bd-${next}`, next));
  };
  server.handlers.set('complete', (p) => {
    done++;
    if (done === n) finish();
    else push();
    return { issue_id: String(p.lease_id).slice(2), status: 'closed', outcome: p.outcome };
  });
  const client = await connect({ ...(server.address as { path: string }) });
  client.onAssignment(() => ({ outcome: 'success', summary: 'ok' }));
  await client.hello({ name: 'bench', capacity });
  server.calls.length = 0;
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < capacity; i++) push();
  await all;
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  console.log(`${n} leases, capacity ${capacity}: ${s.toFixed(2)} s, ${Math.round(n / s)} leases/s (assign+ack+complete)`);
  server.calls.length = 0;
  await client.drain();
  await server.stop();
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
