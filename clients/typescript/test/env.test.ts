import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { GtcError, nameFromEnv, optionsFromEnv, parseAddr } from '../src/index.js';

describe('env', () => {
  it('parses addresses', () => {
    const cases: [string, { host: string; port: number } | null][] = [
      ['127.0.0.1:7420', { host: '127.0.0.1', port: 7420 }],
      ['gtc.local:80', { host: 'gtc.local', port: 80 }],
      [':9000', { host: '127.0.0.1', port: 9000 }],
      ['[::1]:7420', { host: '::1', port: 7420 }],
      ['localhost', null],
      ['host:0', null],
      ['host:70000', null],
      ['host:x', null],
    ];
    for (const [addr, want] of cases) {
      if (want) assert.deepEqual(parseAddr(addr), want, addr);
      else assert.throws(() => parseAddr(addr), (e: unknown) => e instanceof GtcError && e.codeName === 'invalid' && /bad/.test(e.message), addr);
    }
  });

  it('builds connect options from the environment', () => {
    assert.deepEqual(optionsFromEnv({ GTC_SOCKET: '/tmp/x.sock' }), { path: '/tmp/x.sock', token: undefined });
    assert.deepEqual(optionsFromEnv({ GTC_SOCKET: '/tmp/x.sock', GTC_ADDR: ':1', GTC_TOKEN: 't' }), { path: '/tmp/x.sock', token: 't' });
    assert.deepEqual(optionsFromEnv({ GTC_ADDR: '10.0.0.2:7420', GTC_TOKEN: 't' }), { host: '10.0.0.2', port: 7420, token: 't' });
    assert.throws(() => optionsFromEnv({ GTC_ADDR: '10.0.0.2:7420', GTC_DIR: '/nonexistent' }), (e: unknown) =>
      e instanceof GtcError && e.codeName === 'invalid' && /GTC_TOKEN/.test(e.message));
    assert.deepEqual(optionsFromEnv({}), { path: '.beads/gtc.sock', token: undefined });
    // a bad GTC_ADDR is a GtcError too (it was a plain Error), so one catch handles every configuration error
    assert.throws(() => optionsFromEnv({ GTC_ADDR: 'localhost', GTC_TOKEN: 't' }), (e: unknown) => e instanceof GtcError && e.codeName === 'invalid');
    // GTC_DIR names the workspace, as `gtc --dir` does: its socket, and its token file over TCP
    const ws = fs.mkdtempSync(path.join(os.tmpdir(), 'gtc-env-'));
    try {
      fs.mkdirSync(path.join(ws, '.beads'));
      fs.writeFileSync(path.join(ws, '.beads', 'gtc.token'), 'from-file\n');
      assert.deepEqual(optionsFromEnv({ GTC_DIR: ws }), { path: path.join(ws, '.beads', 'gtc.sock'), token: undefined });
      assert.deepEqual(optionsFromEnv({ GTC_DIR: ws, GTC_ADDR: ':7420' }), { host: '127.0.0.1', port: 7420, token: 'from-file' });
      assert.deepEqual(optionsFromEnv({ GTC_DIR: ws, GTC_ADDR: ':7420', GTC_TOKEN: 'env' }), { host: '127.0.0.1', port: 7420, token: 'env' });
    } finally {
      fs.rmSync(ws, { recursive: true, force: true });
    }
    assert.equal(nameFromEnv('fallback', {}), 'fallback');
    assert.equal(nameFromEnv('fallback', { GTC_NAME: 'w7' }), 'w7');
    // the name `gtc worker --name` reads wins, so one environment names a worker the same in Go and TypeScript
    assert.equal(nameFromEnv('fallback', { GTC_WORKER_NAME: 'w8' }), 'w8');
    assert.equal(nameFromEnv('fallback', { GTC_WORKER_NAME: 'w8', GTC_NAME: 'w7' }), 'w8');
  });
});
