// The JavaScript client (clients/js/kabar.js) against the real kabar-broker, over kabar.v1.json:
// run by ctest with Node's test runner and its WebSocket (node --experimental-websocket --test).
// KABAR_BROKER, KABAR_PUB and KABAR_FIXTURES come from CMake.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import {
  FIXTURES, kabarPub, mintToken, startBroker, stopBroker, waitFor, withBroker,
} from '../support/broker.mjs';

import { KabarClient, KabarError, topicMatches, filterAccepts } from '../../clients/js/kabar.js';

function article(id, topics, extra = {}) {
  return { id, headline: `headline of ${id}`, topics, urgency: 3, language: 'id', ...extra };
}

test('patterns and filters match as the broker matches them', () => {
  assert.ok(topicMatches('defense.>', 'defense.asia'));
  assert.ok(topicMatches('defense.>', 'defense.asia.korea'));
  assert.ok(!topicMatches('defense.>', 'defense'));
  assert.ok(topicMatches('*.asia', 'defense.asia'));
  assert.ok(!topicMatches('*.asia', 'defense.asia.korea'));
  assert.ok(topicMatches('international', 'international'));
  assert.ok(filterAccepts({ maxUrgency: 1 }, { urgency: 1 }));
  assert.ok(!filterAccepts({ maxUrgency: 1 }, { urgency: 3 }));
  assert.ok(!filterAccepts({ maxUrgency: 3 }, {}), 'urgency not set passes no urgency filter');
  assert.ok(filterAccepts({ languages: ['en'] }, { language: 'en-GB' }));
  assert.ok(!filterAccepts({ languages: ['en'] }, { language: 'id' }));
});

test('a fixture published by kabar-pub reaches a JSON subscriber, every field intact', async () => {
  await withBroker(async (broker) => {
    const client = new KabarClient(broker.url, { clientName: 'js-test' });
    const states = [];
    client.addEventListener('state', (e) => states.push(e.detail.state));
    const received = [];
    client.connect();
    const result = await client.subscribe('international', { onDelivery: (d) => received.push(d) });
    assert.equal(result.recovered ?? false, false);
    assert.deepEqual(states.slice(0, 2), ['connecting', 'live']);

    const fixture = join(FIXTURES, 'korea-utara-pasukan-rusia.json');
    await kabarPub(broker, ['-t', 'international', '-t', 'defense', '-f', fixture]);
    const delivery = await waitFor(() => received[0]);
    const ninjs = JSON.parse(readFileSync(fixture, 'utf8'));
    assert.equal(delivery.topic, 'international');
    assert.equal(delivery.offset, '1', 'a uint64 is a string in protobuf JSON');
    assert.equal(delivery.article.id, ninjs.uri);
    assert.equal(delivery.article.headline, ninjs.headlines?.[0]?.value ?? ninjs.headline);
    assert.deepEqual(delivery.article.topics.sort(), ['defense', 'international']);
    client.close();
  });
});

test('a filtered pattern gets only what passes, once; a refused subscribe rejects with the reason', async () => {
  await withBroker(async (broker) => {
    const reader = new KabarClient(broker.url, { clientName: 'reader' });
    const writer = new KabarClient(broker.url, { clientName: 'writer' });
    reader.connect();
    writer.connect();
    const flashes = [];
    await reader.subscribe('defense.>', { filter: { maxUrgency: 1 }, onDelivery: (d) => flashes.push(d) });
    await writer.publish(article('urn:js:routine', ['defense.asia'], { urgency: 5 }));
    const ack = await writer.publish(article('urn:js:flash', ['defense.asia', 'defense.europe'], { urgency: 1 }));
    assert.equal(ack.offsets.length, 2);
    await waitFor(() => flashes.length >= 2);
    await new Promise((r) => setTimeout(r, 200));
    assert.deepEqual(flashes.map((d) => `${d.topic}#${d.offset} ${d.article.id}`).sort(),
      ['defense.asia#2 urn:js:flash', 'defense.europe#1 urn:js:flash']);
    await assert.rejects(reader.subscribe('Defense'), (error) => {
      assert.ok(error instanceof KabarError);
      assert.equal(error.code, 'BAD_REQUEST');
      assert.match(error.reason, /subscribe\.topic 'Defense'/);
      return true;
    });
    reader.close();
    writer.close();
  });
});

test('a broker restart (4002 drain) loses and repeats nothing: the subscription resumes where it stood', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'kabar-js-'));
  let broker = await startBroker(dataDir);
  const reader = new KabarClient(broker.url, { clientName: 'reader', minDelayMs: 50, maxDelayMs: 500 });
  const writer = new KabarClient(broker.url, { clientName: 'writer', minDelayMs: 50, maxDelayMs: 500 });
  const offsets = [];
  const resumes = [];
  reader.addEventListener('resume', (e) => resumes.push(e.detail));
  try {
    reader.connect();
    writer.connect();
    await reader.subscribe('defense', { onDelivery: (d) => offsets.push(Number(d.offset)) });
    for (let i = 1; i <= 5; ++i) await writer.publish(article(`urn:js:${i}`, ['defense']));
    await waitFor(() => offsets.length >= 5);
    await stopBroker(broker);
    // Published while the broker is down: each waits for the reconnect, then is stored.
    const later = [];
    for (let i = 6; i <= 10; ++i) later.push(writer.publish(article(`urn:js:${i}`, ['defense'])));
    broker = await startBroker(dataDir, broker.port);
    await Promise.all(later);
    await waitFor(() => offsets.length >= 10 && resumes.length >= 1, 20_000);
    await new Promise((r) => setTimeout(r, 300));
    assert.deepEqual(offsets, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    assert.equal(resumes[0].topic, 'defense');
    assert.equal(resumes[0].recovered, true, resumes[0].reason);
  } finally {
    reader.close();
    writer.close();
    await stopBroker(broker);
    rmSync(dataDir, { recursive: true, force: true });
  }
});

test('a token about to expire is refreshed in time: the reader stays live past its exp', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'kabar-js-'));
  const secret = 'a shared secret of the newsroom, long enough';
  writeFileSync(join(dataDir, 'secret'), secret);
  const broker = await startBroker(dataDir, 0, [
    '--jwt-secret-file', join(dataDir, 'secret'), '--jwt-leeway-s', '0']);
  const grants = { publish: ['defense'], subscribe: ['defense'] };
  const now = () => Math.floor(Date.now() / 1000);
  let refreshes = 0;
  const reader = new KabarClient(broker.url, {
    clientName: 'reader',
    token: mintToken(secret, { sub: 'desk', exp: now() + 3, kabar: grants }),
    refreshToken: async () => {
      ++refreshes;
      return mintToken(secret, { sub: 'desk', exp: now() + 600, kabar: grants });
    },
  });
  const states = [];
  reader.addEventListener('state', (e) => states.push(e.detail.state));
  const received = [];
  try {
    reader.connect();
    await reader.subscribe('defense', { onDelivery: (d) => received.push(d.article.id) });
    await new Promise((r) => setTimeout(r, 4500)); // past the first token's exp
    assert.equal(refreshes, 1);
    assert.deepEqual(states, ['connecting', 'live'], 'never closed with 4003 nor reconnected');
    await reader.publish(article('urn:js:after-exp', ['defense']));
    await waitFor(() => received.length === 1);
    assert.deepEqual(received, ['urn:js:after-exp']);
  } finally {
    reader.close();
    await stopBroker(broker);
    rmSync(dataDir, { recursive: true, force: true });
  }
});
