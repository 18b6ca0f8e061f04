// The desk (GET /) in a real headless Chromium against real brokers: Debian's chromium driven by
// npm's playwright-core (package-lock.json, `npm ci`), run by ctest (browser.desk) with Node's
// test runner. Every test starts its own broker and publishes with kabar-pub; each saves a
// screenshot in KABAR_SCREENSHOTS (build/dev/screenshots). Without chromium or playwright-core
// the tests are skipped, unless CI is set: then they fail.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { execFile } from 'node:child_process';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

import {
  FIXTURES, kabarPub, mintToken, startBroker, stopBroker, waitFor, withBroker,
} from '../support/broker.mjs';

const CHROMIUM = process.env.KABAR_CHROMIUM || '/usr/bin/chromium';
const SCREENSHOTS = process.env.KABAR_SCREENSHOTS || join(tmpdir(), 'kabar-screenshots');

function loadPlaywright() {
  try {
    return createRequire(join(process.env.KABAR_SOURCE_DIR ?? process.cwd(), 'package.json'))('playwright-core');
  } catch {
    return null;
  }
}
const playwright = loadPlaywright();
const missing = playwright === null ? 'the npm package playwright-core (npm ci)'
  : !existsSync(CHROMIUM) ? `chromium at ${CHROMIUM} (scripts/install-deps)` : null;
if (missing && process.env.CI) throw new Error(`the desk's browser tests need ${missing}`);
const skip = missing ? `needs ${missing}` : false;

// Flags that work as root in a container, and keep Chromium from reaching any outside host.
const LAUNCH_ARGS = [
  '--headless=new', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-quic',
  '--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE localhost , EXCLUDE 127.0.0.1',
];

let browser = null;
before(async () => {
  if (skip) return;
  mkdirSync(SCREENSHOTS, { recursive: true });
  browser = await playwright.chromium.launch({ executablePath: CHROMIUM, args: LAUNCH_ARGS, headless: true });
});
after(async () => {
  await browser?.close();
});

const fixture = (name) => join(FIXTURES, name);
const KOREA = fixture('korea-utara-pasukan-rusia.json');
const KOREA_V2 = fixture('korea-utara-pasukan-rusia.v2.json');
const PAKISTAN = fixture('pakistan-ancam-india.json');
const BOTH = ['-t', 'international', '-t', 'defense'];

// A ninjs 2.0 article file in `dir`.
function ninjs(dir, name, { uri, version = 1, headline, body, summary, urgency = 4, pubstatus = 'usable' }) {
  const file = join(dir, `${name}.json`);
  const article = {
    uri, version: String(version), type: 'text', pubstatus, urgency, language: 'en',
    headlines: [{ role: 'main', value: headline }],
  };
  if (summary) article.descriptions = [{ role: 'summary', value: summary }];
  if (body) article.bodies = [{ role: 'main', contenttype: 'text/plain', value: body }];
  writeFileSync(file, JSON.stringify(article));
  return file;
}

// The desk of `broker` in a new page (`query`: the view in the URL), once it is live; every
// console error and uncaught exception is collected in `problems`, every WebSocket frame the page
// sent in `frames`.
async function openDesk(broker, query = '', viewport = { width: 1280, height: 900 }, options = {}) {
  // In Jakarta, as the fixtures' newsroom: UTC and local time differ.
  const context = await browser.newContext({ viewport, timezoneId: 'Asia/Jakarta', ...options });
  const page = await context.newPage();
  const problems = [];
  const frames = [];
  page.on('console', (message) => {
    if (message.type() === 'error') problems.push(message.text());
  });
  page.on('pageerror', (error) => problems.push(error.message));
  page.on('websocket', (ws) => ws.on('framesent', (frame) => frames.push(frame.payload)));
  const response = await page.goto(`${options.ignoreHTTPSErrors ? broker.https : broker.http}/${query}`);
  await page.waitForSelector('#state[data-state="live"]');
  return { context, page, problems, frames, response };
}

const storyCount = (page) => page.locator('#stories > li').count();
const waitForStories = (page, n) =>
  page.waitForFunction((want) => document.querySelectorAll('#stories > li').length === want, n);
const headlines = (page) => page.locator('#stories > li h2').allTextContents();
const story = (page, id) => page.locator(`#stories > li[data-id="${id}"]`);

async function screenshot(page, name) {
  await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: false });
}

// Plain HTTP, no browser needed: what the broker serves and how.
test('GET / serves the embedded desk with its security and caching headers, 304 when unchanged', async () => {
  await withBroker(async (broker) => {
    const page = await fetch(`${broker.http}/`);
    assert.equal(page.status, 200);
    assert.equal(page.headers.get('content-type'), 'text/html; charset=utf-8');
    assert.equal(page.headers.get('content-security-policy'),
      "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; " +
      "base-uri 'none'; form-action 'self'; frame-ancestors 'none'");
    assert.equal(page.headers.get('x-content-type-options'), 'nosniff');
    assert.equal(page.headers.get('cache-control'), 'no-cache');
    assert.match(await page.text(), /<title>kabar desk<\/title>/);
    const etag = page.headers.get('etag');
    assert.match(etag, /^"[0-9a-f]{16}"$/);
    const again = await fetch(`${broker.http}/`, { headers: { 'If-None-Match': etag } });
    assert.equal(again.status, 304);
    assert.equal(await again.text(), '');
    const stale = await fetch(`${broker.http}/`, { headers: { 'If-None-Match': '"0000000000000000"' } });
    assert.equal(stale.status, 200);

    const client = await fetch(`${broker.http}/kabar.js`);
    assert.equal(client.headers.get('content-type'), 'text/javascript; charset=utf-8');
    const source = join(process.env.KABAR_SOURCE_DIR ?? process.cwd(), 'clients/js/kabar.js');
    assert.equal(await client.text(), readFileSync(source, 'utf8'), 'the client as built in');
    for (const path of ['/desk.js', '/desk.css', '/favicon.svg']) {
      assert.equal((await fetch(`${broker.http}${path}`)).status, 200, path);
    }
    const head = await fetch(`${broker.http}/`, { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(head.headers.get('content-length'), page.headers.get('content-length'));
    assert.equal(await head.text(), '');
    assert.equal((await fetch(`${broker.http}/index.html`)).status, 404);
    assert.equal((await fetch(`${broker.http}/desk.js`, { method: 'POST' })).status, 405);
  });
});

test('the desk loads with no console error, reaches live and speaks kabar.v1.json', { skip }, async () => {
  await withBroker(async (broker) => {
    const { context, page, problems, frames, response } = await openDesk(broker);
    const headers = response.headers();
    assert.match(headers['content-security-policy'], /default-src 'none'; script-src 'self'/);
    assert.equal(headers['x-content-type-options'], 'nosniff');
    assert.equal(headers['cache-control'], 'no-cache');
    assert.equal(await page.locator('#state').textContent(), 'live');
    assert.equal(await page.locator('#state').getAttribute('data-protocol'), 'kabar.v1.json');
    // Every frame the page sent is one JSON ClientMessage; the first is Connect.
    assert.ok(frames.length >= 2);
    assert.ok(frames.every((f) => typeof f === 'string'));
    assert.ok(JSON.parse(frames[0]).connect);
    assert.equal(JSON.parse(frames[1]).subscribe.topic, '>', 'no choice follows every topic');
    assert.equal(await page.locator('#empty').isVisible(), true);
    await screenshot(page, 'desk-empty');
    assert.deepEqual(problems, []);
    await context.close();
  });
});

test('the fixtures: one entry per article with its topic chips, flash styled and filtered, a correction in place', { skip }, async () => {
  await withBroker(async (broker) => {
    const { context, page, problems } = await openDesk(broker);
    await kabarPub(broker, [...BOTH, '-f', KOREA]);
    await waitForStories(page, 1);
    const korea = story(page, 'urn:example:ikolom:2025-04-28:korea-utara-pasukan-rusia');
    assert.deepEqual(await korea.locator('.chip').allTextContents(), ['international', 'defense']);
    assert.equal(await korea.locator('.urgency').textContent(), 'urgent');
    assert.equal(await korea.locator('time').textContent(), '28 Apr 2025 07:00 UTC · 14:00 local');

    await kabarPub(broker, [...BOTH, '-f', PAKISTAN]);
    await waitForStories(page, 2);
    const pakistan = story(page, 'urn:example:ikolom:2025-04-28:pakistan-ancam-india');
    assert.match(await pakistan.getAttribute('class'), /\bflash\b/);
    assert.equal(await pakistan.locator('.urgency').textContent(), 'flash');
    await page.waitForFunction(() => document.getElementById('announcer').textContent.startsWith('Flash: Seteru'));
    assert.deepEqual((await headlines(page))[0], await pakistan.locator('h2').textContent(), 'newest first');

    // The correction replaces v1 where it stands (second), marked as corrected.
    await kabarPub(broker, [...BOTH, '-f', KOREA_V2]);
    await page.waitForFunction(() => document.querySelector('#stories > li:nth-child(2)').dataset.version === '2');
    assert.equal(await storyCount(page), 2);
    assert.match(await korea.locator('.corrected').textContent(), /^corrected: v2, /);
    await screenshot(page, 'desk');
    await korea.locator('summary').click();
    assert.ok((await korea.locator('.body').textContent()).length > 100);

    // Flash only: the Korea story leaves; the view is in the URL, and a bookmark of it loads the
    // same stories from history.
    await page.selectOption('#urgency', 'flash');
    await page.waitForFunction(() => document.querySelectorAll('#stories > li').length === 1);
    assert.deepEqual(await headlines(page), [await pakistan.locator('h2').textContent()]);
    assert.match(page.url(), /\?urgency=flash$/);
    const bookmark = await openDesk(broker, '?urgency=flash');
    await waitForStories(bookmark.page, 1);
    assert.equal(await bookmark.page.locator('#urgency').inputValue(), 'flash');
    await bookmark.page.selectOption('#urgency', 'all');
    await waitForStories(bookmark.page, 2);
    assert.equal(await story(bookmark.page, 'urn:example:ikolom:2025-04-28:korea-utara-pasukan-rusia').getAttribute('data-version'), '2',
      'history shows the latest version once');
    assert.deepEqual([...problems, ...bookmark.problems], []);
    await bookmark.context.close();
    await context.close();
  });
});

test('a flash is announced to screen readers, and after the reader opts in it sounds and notifies', { skip }, async () => {
  await withBroker(async (broker) => {
    const { context, page, problems } = await openDesk(broker);
    await context.grantPermissions(['notifications']);
    // Counts what the page asks of the browser (headless Chromium has no speakers or desktop).
    await page.evaluate(() => {
      window.__notified = [];
      window.__tones = 0;
      window.Notification = class extends Notification {
        constructor(title, options) {
          super(title, options);
          window.__notified.push(`${title}: ${options.body}`);
        }
      };
      const createOscillator = AudioContext.prototype.createOscillator;
      AudioContext.prototype.createOscillator = function tone() {
        window.__tones += 1;
        return createOscillator.call(this);
      };
    });
    await kabarPub(broker, ['-t', 'international', '-f', PAKISTAN]);
    await page.waitForFunction(() => document.getElementById('announcer').textContent.startsWith('Flash: '));
    assert.equal(await page.evaluate(() => window.__notified.length + window.__tones), 0, 'nothing before opting in');

    await page.click('#alerts');
    assert.equal(await page.getAttribute('#alerts', 'aria-pressed'), 'true');
    await kabarPub(broker, ['-t', 'international', '-f', KOREA]); // urgent, not a flash
    await kabarPub(broker, ['-t', 'defense', '-f', PAKISTAN]); // the same flash on another topic
    await waitForStories(page, 2);
    assert.equal(await page.evaluate(() => window.__tones), 0, 'only a new flash alerts');
    await kabarPub(broker, ['-t', 'international', '--urgency', '1', '--headline', 'Earthquake off Sumatra', '--language', 'en']);
    await page.waitForFunction(() => window.__tones === 1);
    assert.deepEqual(await page.evaluate(() => window.__notified), ['kabar: flash: Earthquake off Sumatra']);
    assert.equal(await page.locator('#announcer').textContent(), 'Flash: Earthquake off Sumatra');
    assert.equal(await page.locator('#announcer').getAttribute('aria-live'), 'assertive');
    assert.deepEqual(problems, []);
    await context.close();
  });
});

test('on load, the last stories of the 32 busiest topics, read two at a time by each desk', { skip }, async () => {
  await withBroker(async (broker) => {
    for (let t = 0; t < 40; ++t) {
      const topic = `desk.t${String(t).padStart(2, '0')}`;
      const args = ['-t', topic, '--id', `urn:example:test:${topic}`, '--headline', `only story of ${topic}`];
      await kabarPub(broker, args);
      if (t < 30) await kabarPub(broker, ['-t', topic, '--headline', `second story of ${topic}`]);
    }
    // Three desks at once read more than the broker serves at a time (4): the refused reads (503)
    // are tried again, and every desk gets its 32 topics.
    const desks = await Promise.all([0, 1, 2].map(() => openDesk(broker, '?topics=desk.>')));
    for (const desk of desks) {
      await waitForStories(desk.page, 30 * 2 + 2);
      assert.equal(await desk.page.locator('#problem').isVisible(), false);
      // Chromium logs each refused read; the desk read it again.
      assert.deepEqual(desk.problems.filter((p) => !/status of 503/.test(p)), []);
    }
    await Promise.all(desks.map((desk) => desk.context.close()));
  });
});

test('a retraction is struck through under a kill banner; withheld is shown as held', { skip }, async () => {
  await withBroker(async (broker, dataDir) => {
    const { context, page, problems } = await openDesk(broker, '?topics=international');
    const uri = 'urn:example:test:retracted';
    await kabarPub(broker, ['-t', 'international', '-f', ninjs(dataDir, 'v1', { uri, headline: 'Minister resigns' })]);
    await waitForStories(page, 1);
    await kabarPub(broker, ['-t', 'international', '-f',
      ninjs(dataDir, 'v2', { uri, version: 2, headline: 'Minister resigns', pubstatus: 'canceled' })]);
    const entry = story(page, uri);
    await page.waitForFunction(() => document.querySelector('#stories > li').classList.contains('retracted'));
    assert.equal(await entry.locator('.kill').isVisible(), true);
    assert.match(await entry.locator('.kill').textContent(), /Do not use/);
    assert.equal(await entry.locator('h2').evaluate((h) => getComputedStyle(h).textDecorationLine), 'line-through');

    await kabarPub(broker, ['-t', 'international', '-f',
      ninjs(dataDir, 'held', { uri: 'urn:example:test:held', headline: 'Held story', pubstatus: 'withheld' })]);
    await waitForStories(page, 2);
    assert.equal(await story(page, 'urn:example:test:held').locator('.held').isVisible(), true);
    await screenshot(page, 'desk-retraction');
    assert.deepEqual(problems, []);
    await context.close();
  });
});

test('hostile markup in an article is shown as text and runs nothing', { skip }, async () => {
  await withBroker(async (broker, dataDir) => {
    const { context, page, problems } = await openDesk(broker);
    const headline = '<img src=x onerror="window.__pwned=1"> Breaking';
    const body = '<script>window.__pwned=2</script><b>bold</b>';
    await kabarPub(broker, ['-t', 'international', '-f', ninjs(dataDir, 'hostile', {
      uri: 'urn:example:test:hostile', headline, body, summary: '<a href="javascript:alert(1)">x</a>' })]);
    await waitForStories(page, 1);
    const entry = story(page, 'urn:example:test:hostile');
    assert.equal(await entry.locator('h2').textContent(), headline);
    assert.equal(await entry.locator('.body').textContent(), body);
    assert.equal(await page.locator('#stories img, #stories script, #stories b, #stories .summary a').count(), 0);
    assert.equal(await page.evaluate(() => window.__pwned), undefined);
    assert.deepEqual(problems, []);
    await context.close();
  });
});

test('a broker restarted under a live desk: every article exactly once, in order, no gap', { skip }, async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'kabar-desk-'));
  let broker = await startBroker(dataDir);
  const { context, page, problems } = await openDesk(broker, '?topics=live');
  // A publisher that keeps publishing through the restart: each article until it is acknowledged
  // (once stored, a repeat is a duplicate and reaches no one).
  let published = 0;
  let running = true;
  const publisher = (async () => {
    while (running) {
      const n = published + 1;
      try {
        await kabarPub(broker, ['-t', 'live', '--id', `urn:example:test:live-${n}`, '--headline', `story ${n}`,
          '--timeout-ms', '3000']);
        published = n;
      } catch {
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    }
  })();
  try {
    await waitFor(() => published >= 10, 30_000);
    await stopBroker(broker); // SIGTERM: the page's connection is closed with 4002
    await page.waitForFunction(() => document.getElementById('state').dataset.state !== 'live');
    broker = await startBroker(dataDir, broker.port);
    await waitFor(() => published >= 25, 60_000);
    running = false;
    await publisher;
    await page.waitForFunction((n) => document.querySelectorAll('#stories > li').length >= n, published, { timeout: 30_000 });
    const expected = Array.from({ length: published }, (_, i) => `story ${published - i}`);
    assert.deepEqual(await headlines(page), expected, 'newest first, each once, none missing');
    assert.equal(await page.locator('#state').textContent(), 'live');
    await page.waitForFunction(() => /^Reconnected: recovered \d+ stor/.test(document.getElementById('recovery').textContent));
    await screenshot(page, 'desk-restart');
    assert.deepEqual(problems.filter((p) => !/WebSocket/.test(p)), [], 'only the dropped connection is reported');
  } finally {
    running = false;
    await publisher;
    await context.close();
    await stopBroker(broker);
    rmSync(dataDir, { recursive: true, force: true });
  }
});

// A port free now, for a broker whose flags must name it (its own origin).
function freePort() {
  return new Promise((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

test('through TLS, with an Origin allow-list: the desk over https:// follows its broker over wss://', { skip }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'kabar-desk-'));
  const [cert, key] = [join(dir, 'cert.pem'), join(dir, 'key.pem')];
  await promisify(execFile)('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256',
    '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=127.0.0.1',
    '-addext', 'subjectAltName=IP:127.0.0.1']);
  const port = await freePort();
  // The desk's page upgrades from the broker's own origin: listed, as a public deployment would.
  const plain = await startBroker(dir, port, ['--tls-cert', cert, '--tls-key', key,
    '--allowed-origin', 'https://dash.example', '--allowed-origin', `https://127.0.0.1:${port}`]);
  const broker = { ...plain, https: plain.http.replace('http:', 'https:'), url: plain.url.replace('ws:', 'wss:') };
  try {
    const { context, page, problems } = await openDesk(broker, '', undefined, { ignoreHTTPSErrors: true });
    assert.equal(await page.locator('#state').getAttribute('data-protocol'), 'kabar.v1.json');
    await kabarPub(broker, [...BOTH, '-f', PAKISTAN, '--tls-ca', cert]);
    await waitForStories(page, 1);
    assert.deepEqual(problems, []);
    await context.close();
  } finally {
    await stopBroker(plain);
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a broker that requires tokens: the desk says so, then follows with one, never in the URL', { skip }, async () => {
  const secret = 'a shared secret of the newsroom, long enough';
  const dir = mkdtempSync(join(tmpdir(), 'kabar-desk-'));
  writeFileSync(join(dir, 'secret'), secret);
  try {
    await withBroker(async (broker) => {
      const context = await browser.newContext();
      const page = await context.newPage();
      await page.goto(`${broker.http}/?topics=defense`);
      await page.waitForFunction(() => /UNAUTHORIZED/.test(document.getElementById('problem').textContent));
      const token = mintToken(secret, { sub: 'desk', exp: Math.floor(Date.now() / 1000) + 600, kabar: { subscribe: ['defense'] } });
      await page.fill('#token', token);
      await page.press('#token', 'Enter');
      await page.waitForSelector('#state[data-state="live"]');
      assert.equal(await page.locator('#problem').isVisible(), false);
      await kabarPub(broker, ['-t', 'defense', '-f', PAKISTAN, '--token',
        mintToken(secret, { sub: 'cms', exp: Math.floor(Date.now() / 1000) + 600, kabar: { publish: ['defense'] } })]);
      await waitForStories(page, 1);
      assert.ok(!page.url().includes(token.slice(0, 20)), 'the token is not in the page URL');
      await context.close();
    }, ['--jwt-secret-file', join(dir, 'secret')]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('on a phone-width screen, by keyboard alone', { skip }, async () => {
  await withBroker(async (broker) => {
    const { context, page, problems } = await openDesk(broker, '', { width: 375, height: 740 });
    await kabarPub(broker, [...BOTH, '-f', KOREA]);
    await waitForStories(page, 1);
    assert.ok(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth), 'no sideways scrolling');
    // Tab to the topics field, type a pattern, Enter: the view follows it and the URL keeps it.
    await page.locator('body').focus();
    for (let i = 0; i < 10 && !(await page.evaluate(() => document.activeElement?.id === 'topics')); ++i) {
      await page.keyboard.press('Tab');
    }
    assert.equal(await page.evaluate(() => document.activeElement.id), 'topics');
    await page.keyboard.press('Control+A');
    await page.keyboard.type('defense');
    await page.keyboard.press('Enter');
    await page.waitForURL(/\?topics=defense$/);
    await waitForStories(page, 1);
    // Tab on to the story's "Full story" and open it with Enter.
    for (let i = 0; i < 20 && !(await page.evaluate(() => document.activeElement?.tagName === 'SUMMARY')); ++i) {
      await page.keyboard.press('Tab');
    }
    await page.keyboard.press('Enter');
    assert.equal(await page.locator('#stories details').evaluate((d) => d.open), true);
    assert.equal(await page.locator('#stories .body').isVisible(), true);
    await screenshot(page, 'desk-phone');
    assert.deepEqual(problems, []);
    await context.close();
  });
});

test('5 000 stories on the page', { skip }, async () => {
  await withBroker(async (broker, dataDir) => {
    const { context, page, problems } = await openDesk(broker, '?topics=wire');
    const files = Array.from({ length: 5000 }, (_, i) => ninjs(dataDir, `wire-${i}`, {
      uri: `urn:example:test:wire-${i}`, headline: `wire story ${i}`, summary: 'A summary of the story.',
      body: 'Body text. '.repeat(40), urgency: 1 + (i % 9) }));
    const started = Date.now();
    for (let i = 0; i < files.length; i += 1000) {
      await kabarPub(broker, ['-t', 'wire', ...files.slice(i, i + 1000).flatMap((f) => ['-f', f])]);
    }
    await page.waitForFunction(() => document.querySelectorAll('#stories > li').length === 5000, null, { timeout: 120_000 });
    const shownMs = Date.now() - started;
    // What a reader does next: open the oldest story, measured in the page.
    const openMs = await page.evaluate(() => {
      const t = performance.now();
      const details = document.querySelector('#stories > li:last-child details');
      details.open = true;
      details.scrollIntoView();
      void document.body.offsetHeight; // the layout that follows
      return performance.now() - t;
    });
    const heapMb = await page.evaluate(() => (performance.memory?.usedJSHeapSize ?? 0) / 2 ** 20);
    console.log(`# 5 000 stories: published and shown in ${shownMs} ms; opening the oldest took ${openMs.toFixed(1)} ms; JS heap ${heapMb.toFixed(1)} MiB`);
    assert.deepEqual((await headlines(page)).slice(0, 2), ['wire story 4999', 'wire story 4998']);
    assert.deepEqual(problems, []);
    await context.close();
  }, ['--durability', 'relaxed', '--publish-rate', '0']);
});
