import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { connect, ConnectOptions, GtcClient } from '../src/index.js';
import { assignment, FakeServer, until } from './fake-server.js';

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

describe('pump() with a capacity of 0', () => {
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
    await until(() => ran === 1, 1000, 'the claimed lease\'s handler to run (capacity 0 never pumps it)');
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
