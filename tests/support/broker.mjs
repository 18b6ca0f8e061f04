// What the Node tests (tests/js, tests/browser) share: real kabar-broker processes on free
// loopback ports, kabar-pub, polling, and tokens. KABAR_BROKER, KABAR_PUB and KABAR_FIXTURES come
// from CMake (tests/CMakeLists.txt).
import { spawn, execFile } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

export const BROKER = process.env.KABAR_BROKER;
export const PUB = process.env.KABAR_PUB;
export const FIXTURES = process.env.KABAR_FIXTURES;

// A broker on a free loopback port (or `port`), its own data directory, `extra` flags; resolves
// once listening.
export function startBroker(dataDir, port = 0, extra = []) {
  return new Promise((resolve, reject) => {
    const proc = spawn(BROKER, ['--listen', `127.0.0.1:${port}`, '--data-dir', dataDir, ...extra], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let seen = '';
    const timer = setTimeout(() => reject(new Error(`broker did not start: ${seen}`)), 20_000);
    const onData = (chunk) => {
      seen += chunk;
      const match = /listening on 127\.0\.0\.1:(\d+)/.exec(seen);
      if (match) {
        clearTimeout(timer);
        resolve({
          proc,
          port: Number(match[1]),
          url: `ws://127.0.0.1:${match[1]}/v1/ws`,
          http: `http://127.0.0.1:${match[1]}`,
        });
      }
    };
    proc.stdout.on('data', onData);
    proc.stderr.on('data', onData);
    proc.on('exit', (code) => reject(new Error(`broker exited (${code}): ${seen}`)));
  });
}

// SIGTERM (the broker drains with 4002), resolved once it exited.
export function stopBroker(broker) {
  return new Promise((resolve) => {
    if (broker.proc.exitCode !== null) return resolve();
    broker.proc.once('exit', () => resolve());
    broker.proc.kill('SIGTERM');
  });
}

// A broker for the length of `body`, in a data directory removed afterwards.
export async function withBroker(body, extra = []) {
  const dataDir = mkdtempSync(join(tmpdir(), 'kabar-node-'));
  const broker = await startBroker(dataDir, 0, extra);
  try {
    await body(broker, dataDir);
  } finally {
    await stopBroker(broker);
    rmSync(dataDir, { recursive: true, force: true });
  }
}

// Resolves with the value `pick` returns once it returns one, within `ms`.
export function waitFor(pick, ms = 10_000) {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const poll = () => {
      const value = pick();
      if (value) return resolve(value);
      if (Date.now() - started > ms) return reject(new Error('timed out'));
      setTimeout(poll, 20);
    };
    poll();
  });
}

// kabar-pub to `broker`: `args` after --url (topics, files or a headline).
export function kabarPub(broker, args) {
  return promisify(execFile)(PUB, ['--url', broker.url, ...args], { maxBuffer: 64 << 20 });
}

// An HS256 JWT, as a token service would mint it.
export function mintToken(secret, claims) {
  const encode = (object) => Buffer.from(JSON.stringify(object)).toString('base64url');
  const unsigned = `${encode({ alg: 'HS256', typ: 'JWT' })}.${encode(claims)}`;
  return `${unsigned}.${createHmac('sha256', secret).update(unsigned).digest('base64url')}`;
}
