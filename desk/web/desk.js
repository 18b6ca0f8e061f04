// The kabar desk: live stories of the topics a reader follows, newest first, on the JavaScript
// client (kabar.js, kabar.v1.json). Served by the broker itself at GET /.
//
// The view (topics, urgency, language) lives in the URL, so a desk can bookmark it; the token
// stays in this page's memory. Every article field is set as text (textContent), never parsed
// as HTML.
import { KabarClient, filterAccepts } from '/kabar.js';

const HISTORY_PER_TOPIC = 50; // the last stories of each topic shown on load
const HISTORY_TOPICS = 32; // of at most this many topics (the busiest), for a `>` over many
const HISTORY_ATTEMPTS = 5; // a history read the broker is too busy for (503) is tried again
const MAX_STORIES = 10_000; // beyond this the oldest leave the page
const URGENCY_LIMIT = { all: 0, urgent: 3, flash: 1 }; // Filter.maxUrgency

const $ = (id) => document.getElementById(id);
const ui = {
  state: $('state'),
  alerts: $('alerts'),
  form: $('view'),
  topics: $('topics'),
  urgency: $('urgency'),
  lang: $('lang'),
  token: $('token'),
  recovery: $('recovery'),
  problem: $('problem'),
  announcer: $('announcer'),
  empty: $('empty'),
  stories: $('stories'),
};

// ---- the view, in the URL ------------------------------------------------------------------

const words = (text) => (text ?? '').split(/[\s,]+/).filter(Boolean);

function viewFromUrl() {
  const query = new URLSearchParams(location.search);
  const topics = words(query.get('topics'));
  const urgency = query.get('urgency');
  return {
    topics: topics.length > 0 ? topics : ['>'],
    urgency: Object.hasOwn(URGENCY_LIMIT, urgency) ? urgency : 'all',
    languages: words(query.get('lang')),
  };
}

function viewFromForm() {
  const topics = words(ui.topics.value);
  return {
    topics: topics.length > 0 ? topics : ['>'],
    urgency: ui.urgency.value,
    languages: words(ui.lang.value),
  };
}

function showView(view) {
  ui.topics.value = view.topics.join(', ');
  ui.urgency.value = view.urgency;
  ui.lang.value = view.languages.join(', ');
}

function urlOf(view) {
  const query = new URLSearchParams();
  if (view.topics.join(',') !== '>') query.set('topics', view.topics.join(','));
  if (view.urgency !== 'all') query.set('urgency', view.urgency);
  if (view.languages.length > 0) query.set('lang', view.languages.join(','));
  const search = query.toString();
  return search ? `?${search}` : location.pathname;
}

// ---- time ----------------------------------------------------------------------------------

// A protobuf JSON timestamp ("2025-04-28T06:30:00.5Z") as a string that sorts in time order.
function timeKey(timestamp) {
  const match = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?Z$/.exec(timestamp ?? '');
  return match ? `${match[1]}.${(match[2] ?? '').padEnd(9, '0')}` : '';
}

const pad = (n) => String(n).padStart(2, '0');

// "28 Apr 06:30 UTC · 13:30 local" (the local part only where it differs).
function formatTime(timestamp) {
  const date = new Date(timestamp);
  if (Number.isNaN(date.getTime())) return '';
  const month = date.toLocaleString('en', { month: 'short', timeZone: 'UTC' });
  const utc = `${date.getUTCDate()} ${month} ${date.getUTCFullYear()} ${pad(date.getUTCHours())}:${pad(date.getUTCMinutes())} UTC`;
  if (date.getTimezoneOffset() === 0) return utc;
  return `${utc} · ${pad(date.getHours())}:${pad(date.getMinutes())} local`;
}

// ---- stories on the page -------------------------------------------------------------------

// article id -> { node, version, topics: Set, key, seq, parts }; `order` holds them newest first.
const stories = new Map();
let order = [];
const shown = new Set(); // "epoch/topic#offset" of every delivery already on the page
let arrivals = 0;

function urgencyOf(urgency) {
  if (urgency === 1) return { name: 'flash', label: 'flash' };
  if (urgency === 2 || urgency === 3) return { name: 'urgent', label: 'urgent' };
  return { name: 'routine', label: urgency >= 4 ? 'routine' : 'not rated' };
}

function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text) node.textContent = text;
  return node;
}

// Only http(s) links: a javascript: or data: URL in an article must never become clickable.
function safeUrl(url) {
  try {
    const parsed = new URL(url);
    return parsed.protocol === 'https:' || parsed.protocol === 'http:' ? parsed.href : null;
  } catch {
    return null;
  }
}

function newStoryNode() {
  const node = element('li', 'story');
  const parts = {
    kill: element('p', 'banner kill', 'KILL: this story is retracted. Do not use.'),
    held: element('p', 'banner held', 'WITHHELD: held, do not use until it is released.'),
    top: element('div', 'top'),
    urgency: element('span', 'urgency'),
    chips: element('span', 'chips'),
    time: element('time'),
    corrected: element('span', 'corrected'),
    headline: element('h2'),
    summary: element('p', 'summary'),
    meta: element('p', 'meta'),
    details: element('details'),
    body: element('div', 'body'),
    link: element('a', 'link', 'Canonical link'),
  };
  parts.top.append(parts.urgency, parts.chips, parts.time, parts.corrected);
  parts.details.append(element('summary', null, 'Full story'), parts.body, parts.link);
  parts.link.rel = 'noopener noreferrer';
  parts.link.target = '_blank';
  node.append(parts.kill, parts.held, parts.top, parts.headline, parts.summary, parts.meta, parts.details);
  return { node, parts };
}

// Fills a story's node from one version of its article (all as text).
function fill(story, article, delivery) {
  const { node, parts } = story;
  const urgency = urgencyOf(article.urgency ?? 0);
  const status = article.pubstatus ?? 'PUB_STATUS_USABLE';
  node.className = `story ${urgency.name}`;
  node.classList.toggle('retracted', status === 'PUB_STATUS_CANCELED');
  node.classList.toggle('withheld', status === 'PUB_STATUS_WITHHELD');
  node.dataset.id = article.id ?? '';
  node.dataset.version = String(story.version);
  node.lang = article.language ?? '';
  parts.kill.hidden = status !== 'PUB_STATUS_CANCELED';
  parts.held.hidden = status !== 'PUB_STATUS_WITHHELD';
  parts.urgency.textContent = urgency.label;
  parts.urgency.title = article.urgency ? `IPTC urgency ${article.urgency}` : 'no urgency given';
  const when = article.versionCreated ?? article.firstCreated ?? delivery.acceptedAt;
  parts.time.textContent = formatTime(when);
  parts.time.dateTime = when ?? '';
  parts.headline.textContent = article.headline || '(no headline)';
  parts.summary.textContent = article.summary ?? '';
  parts.summary.hidden = !article.summary;
  parts.meta.textContent = [article.byline, article.source, article.located].filter(Boolean).join(' · ');
  parts.meta.hidden = parts.meta.textContent === '';
  parts.body.textContent = article.body ?? '';
  const url = safeUrl(article.url);
  parts.link.hidden = url === null;
  if (url) parts.link.href = url;
  else parts.link.removeAttribute('href');
  parts.details.hidden = !article.body && url === null;
}

function addChip(story, topic) {
  if (story.topics.has(topic)) return;
  story.topics.add(topic);
  story.parts.chips.append(element('span', 'chip', topic));
}

const newer = (a, b) => a.key > b.key || (a.key === b.key && a.seq > b.seq);

// Newest first by when a story became deliverable (accepted, or its embargo lifted): a live
// story goes on top, a page of history into its place.
function insert(story) {
  let low = 0;
  let high = order.length;
  while (low < high) {
    const middle = (low + high) >> 1;
    if (newer(order[middle], story)) low = middle + 1;
    else high = middle;
  }
  ui.stories.insertBefore(story.node, order[low]?.node ?? null);
  order.splice(low, 0, story);
  while (order.length > MAX_STORIES) {
    const oldest = order.pop();
    oldest.node.remove();
    stories.delete(oldest.id);
  }
}

// One delivery onto the page: a new story, another topic of one shown, or a correction.
// Returns the story when it is new or newly corrected (what a flash alert is about).
function show(delivery) {
  const seen = `${delivery.epoch ?? ''}/${delivery.topic}#${delivery.offset}`;
  if (shown.has(seen)) return null;
  shown.add(seen);
  const article = delivery.article ?? {};
  const id = article.id || seen;
  const version = article.version || 1;
  let story = stories.get(id);
  if (story === undefined) {
    const deliverable = [timeKey(delivery.acceptedAt), timeKey(article.embargoed)].sort().pop();
    story = { id, version, topics: new Set(), key: deliverable, seq: arrivals++, ...newStoryNode() };
    stories.set(id, story);
    fill(story, article, delivery);
    addChip(story, delivery.topic);
    insert(story);
    return story;
  }
  addChip(story, delivery.topic);
  if (version <= story.version) return null;
  // A correction (or a retraction) replaces the earlier version where it stands.
  story.version = version;
  fill(story, article, delivery);
  const when = article.versionCreated ?? delivery.acceptedAt;
  story.parts.corrected.textContent = `corrected: v${version}, ${formatTime(when)}`;
  return story;
}

// Deliveries are put on the page in batches, once per frame's worth, not one layout each.
let pending = [];
let flushTimer = null;

function enqueue(delivery, live) {
  pending.push({ delivery, live });
  flushTimer ??= setTimeout(flush, 16);
}

function flush() {
  flushTimer = null;
  const batch = pending;
  pending = [];
  for (const { delivery, live } of batch) {
    const story = show(delivery);
    if (story && live && delivery.article?.urgency === 1) alertFlash(story, delivery.article);
  }
  ui.empty.hidden = order.length > 0;
  ui.stories.dataset.count = String(order.length);
}

function clearStories() {
  stories.clear();
  order = [];
  shown.clear();
  pending = [];
  ui.stories.replaceChildren();
  ui.empty.hidden = false;
  ui.stories.dataset.count = '0';
}

// ---- flash alerts --------------------------------------------------------------------------

let audio = null; // an AudioContext, once the reader opted in with a click

ui.alerts.addEventListener('click', async () => {
  if (audio) {
    await audio.close();
    audio = null;
    ui.alerts.setAttribute('aria-pressed', 'false');
    return;
  }
  audio = new AudioContext();
  ui.alerts.setAttribute('aria-pressed', 'true');
  if ('Notification' in window && Notification.permission === 'default') {
    await Notification.requestPermission();
  }
});

function alertFlash(story, article) {
  const text = `Flash: ${article.headline ?? ''}`;
  ui.announcer.textContent = text;
  if (!audio) return;
  const tone = audio.createOscillator();
  const gain = audio.createGain();
  tone.frequency.value = 880;
  gain.gain.setValueAtTime(0.2, audio.currentTime);
  gain.gain.exponentialRampToValueAtTime(0.001, audio.currentTime + 0.6);
  tone.connect(gain).connect(audio.destination);
  tone.start();
  tone.stop(audio.currentTime + 0.6);
  if ('Notification' in window && Notification.permission === 'granted') {
    const notification = new Notification('kabar: flash', { body: article.headline ?? '', tag: story.id });
    notification.onclick = () => {
      window.focus();
      story.node.scrollIntoView({ block: 'center' });
    };
  }
}

// ---- connection state and recovery ---------------------------------------------------------

let countdown = null;

function showState(state, retryInMs) {
  clearInterval(countdown);
  ui.state.dataset.state = state;
  if (state !== 'reconnecting' || !retryInMs) {
    ui.state.textContent = { connecting: 'connecting…', reconnecting: 'reconnecting…', offline: 'offline' }[state] ?? state;
    return;
  }
  const at = Date.now() + retryInMs;
  const tick = () => {
    ui.state.textContent = `reconnecting in ${Math.max(1, Math.ceil((at - Date.now()) / 1000))} s`;
  };
  tick();
  countdown = setInterval(tick, 1000);
}

function showProblem(text) {
  ui.problem.hidden = !text;
  ui.problem.textContent = text ?? '';
}

// After a reconnect: how many stories the broker replayed ("recovered N"), from each
// subscription's resume answer (the topics' ends then) and the deliveries up to those ends.
// `arrived` keeps the deliveries until every subscription has answered, no longer.
let recovery = null; // { ends: Map topic -> offset, arrived: [[topic, offset]], waiting, count, lost }

function startRecovery(subscriptions) {
  recovery = { ends: new Map(), arrived: [], waiting: subscriptions, count: 0, lost: [] };
  ui.recovery.hidden = true;
}

function countRecovered(topic, offset) {
  const end = recovery.ends.get(topic);
  if (end !== undefined && offset <= end) recovery.count += 1;
}

function showRecovery() {
  ui.recovery.hidden = false;
  ui.recovery.classList.toggle('lost', recovery.lost.length > 0);
  const recovered = `recovered ${recovery.count} ${recovery.count === 1 ? 'story' : 'stories'}`;
  ui.recovery.textContent = recovery.lost.length > 0
    ? `Reconnected, but could not recover: stories were missed (${recovery.lost.join('; ')}). ${recovered}.`
    : `Reconnected: ${recovered}.`;
}

// ---- following a view ----------------------------------------------------------------------

let client = null;
let generation = 0; // a new view starts a new generation: late answers of the old one are dropped

function brokerUrl() {
  return `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/v1/ws`;
}

// The last stories of each topic a subscription matched, from the broker's history (its answer
// lists the topics and where each stands); the live deliveries carry on from there. Two reads at
// a time: the broker serves only a few at once over all its readers, and answers 503 with
// Retry-After beyond, when the read is tried again.
async function loadHistory(gen, positions, filter, token, fetched) {
  const topics = positions
    .map((p) => ({ topic: p.topic, end: Number(p.position?.offset ?? 0) }))
    .filter((t) => t.end > 0 && !fetched.has(t.topic))
    .sort((a, b) => b.end - a.end)
    .slice(0, HISTORY_TOPICS);
  for (const { topic } of topics) fetched.add(topic);
  const headers = token ? { Authorization: `Bearer ${token}` } : {};
  const read = async ({ topic, end }) => {
    const since = Math.max(0, end - HISTORY_PER_TOPIC);
    const url = `/v1/topics/${topic}/articles?since=${since}&limit=${HISTORY_PER_TOPIC}`;
    for (let attempt = 1; ; ++attempt) {
      const response = await fetch(url, { headers, cache: 'no-store' });
      if (response.status === 503 && attempt < HISTORY_ATTEMPTS && gen === generation) {
        const seconds = Number(response.headers.get('Retry-After')) || 1;
        await new Promise((resolve) => setTimeout(resolve, seconds * 1000 * (0.5 + Math.random())));
        continue;
      }
      if (!response.ok) throw new Error(`${response.status} ${(await response.text()).trim()}`);
      return response.json();
    }
  };
  const worker = async () => {
    for (let next = topics.shift(); next !== undefined && gen === generation; next = topics.shift()) {
      try {
        const history = await read(next);
        if (gen !== generation) return;
        for (const delivery of history.deliveries ?? []) {
          if (filterAccepts(filter, delivery.article)) enqueue(delivery, false);
        }
      } catch (error) {
        if (gen === generation) showProblem(`could not load the history of ${next.topic}: ${error.message}`);
      }
    }
  };
  await Promise.all([worker(), worker()]);
}

function follow(view) {
  generation += 1;
  const gen = generation;
  client?.close();
  clearStories();
  showProblem('');
  recovery = null;
  ui.recovery.hidden = true;
  const token = ui.token.value.trim();
  const filter = { maxUrgency: URGENCY_LIMIT[view.urgency], languages: view.languages };
  const fetched = new Set();
  let wasLive = false;

  client = new KabarClient(brokerUrl(), { token, clientName: 'kabar-desk' });
  client.addEventListener('state', (event) => {
    if (gen !== generation) return;
    const { state, retryInMs } = event.detail;
    showState(state, retryInMs);
    ui.state.dataset.protocol = client.protocol;
    if (state === 'live' && wasLive) startRecovery(Object.keys(client.positions()).length);
    if (state === 'live') wasLive = true;
  });
  client.addEventListener('delivery', (event) => {
    if (gen !== generation || recovery === null) return;
    const { topic, offset } = event.detail.delivery;
    recovery.arrived?.push([topic, Number(offset)]);
    countRecovered(topic, Number(offset));
    if (recovery.ends.size > 0 || recovery.lost.length > 0) showRecovery();
  });
  client.addEventListener('resume', (event) => {
    if (gen !== generation || recovery === null) return;
    const { recovered, reason, positions } = event.detail;
    if (!recovered) recovery.lost.push(reason || 'history no longer reaches back');
    for (const p of positions) {
      if (recovery.ends.has(p.topic)) continue;
      recovery.ends.set(p.topic, Number(p.position?.offset ?? 0));
      // Replayed before this answer was read (the same frame): counted now.
      for (const [topic, offset] of recovery.arrived ?? []) {
        if (topic === p.topic) countRecovered(topic, offset);
      }
    }
    recovery.waiting -= 1;
    if (recovery.waiting <= 0) recovery.arrived = null;
    showRecovery();
  });
  client.addEventListener('error', (event) => {
    if (gen !== generation) return;
    const error = event.detail.error;
    const hint = error.code === 'UNAUTHORIZED' ? ' (enter a token above)' : '';
    showProblem(`${error.message}${hint}`);
  });

  for (const topic of view.topics) {
    client.subscribe(topic, { filter, onDelivery: (delivery) => enqueue(delivery, true) }).then(
      (result) => loadHistory(gen, result.positions ?? [], filter, token, fetched),
      (error) => {
        if (gen === generation) showProblem(`could not follow '${topic}': ${error.reason ?? error.message}`);
      },
    );
  }
  client.connect();
}

ui.form.addEventListener('submit', (event) => {
  event.preventDefault();
  const view = viewFromForm();
  history.pushState(null, '', urlOf(view));
  showView(view);
  follow(view);
});
ui.urgency.addEventListener('change', () => ui.form.requestSubmit());
window.addEventListener('popstate', () => {
  const view = viewFromUrl();
  showView(view);
  follow(view);
});

const initial = viewFromUrl();
showView(initial);
follow(initial);
