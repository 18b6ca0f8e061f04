// kabar.js: a client for a kabar broker over its JSON subprotocol (kabar.v1.json), one ES module
// with no dependencies, for browsers and for Node where a WebSocket global exists (Node 22, or
// Node 20 with --experimental-websocket).
//
//   import { KabarClient } from './kabar.js';
//   const kabar = new KabarClient('ws://127.0.0.1:8080/v1/ws', { clientName: 'desk' });
//   kabar.addEventListener('state', (e) => console.log(e.detail.state));
//   kabar.subscribe('defense.>', {
//     filter: { maxUrgency: 3 },
//     onDelivery: (d) => console.log(d.topic, d.offset, d.article.headline),
//   });
//   kabar.connect();
//
// Every subscription resumes after a reconnect from the last delivery it handed over (Subscribe
// since / resume), so a broker restart loses and repeats nothing; what the broker could not
// recover is reported as a 'resume' event with recovered = false and the reason.

export const SUBPROTOCOL = 'kabar.v1.json';

/// Close codes the broker sends (SPEC section 3).
export const CloseCode = Object.freeze({
  NORMAL: 1000,
  PROTOCOL_ERROR: 1002,
  UNSUPPORTED_DATA: 1003,
  INVALID_PAYLOAD: 1007,
  POLICY_VIOLATION: 1008,
  MESSAGE_TOO_BIG: 1009,
  SLOW_CONSUMER: 4001,
  SHUTTING_DOWN: 4002,
  TOKEN_EXPIRED: 4003,
  RECOVERY_LOST: 4004,
});

/// Whether `topic` matches `pattern`: `*` is one segment, a final `>` one or more.
export function topicMatches(pattern, topic) {
  const p = pattern.split('.');
  const t = topic.split('.');
  for (let i = 0; i < p.length; ++i) {
    if (p[i] === '>') return i === p.length - 1 && t.length > i;
    if (i >= t.length) return false;
    if (p[i] !== '*' && p[i] !== t[i]) return false;
  }
  return p.length === t.length;
}

/// Whether an article passes a subscription's filter, as the broker decides it.
export function filterAccepts(filter, article) {
  const maxUrgency = filter?.maxUrgency ?? 0;
  const urgency = article?.urgency ?? 0;
  if (maxUrgency !== 0 && (urgency === 0 || urgency > maxUrgency)) return false;
  const languages = filter?.languages ?? [];
  if (languages.length === 0) return true;
  const language = (article?.language ?? '').toLowerCase();
  return languages.some((wanted) => {
    const w = wanted.toLowerCase();
    return language === w || language.startsWith(w + '-');
  });
}

const isPattern = (topic) => topic.includes('*') || topic.includes('>');

// Seconds since the epoch of a JWT's exp claim, or null (the token is not read otherwise).
function tokenExpiry(token) {
  try {
    const payload = token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    const exp = JSON.parse(atob(payload.padEnd(Math.ceil(payload.length / 4) * 4, '='))).exp;
    return typeof exp === 'number' ? exp : null;
  } catch {
    return null;
  }
}

/// A request the broker refused: `code` is the Error.code name (BAD_REQUEST, FORBIDDEN, ...).
export class KabarError extends Error {
  constructor(code, message) {
    super(`${code}: ${message}`);
    this.code = code;
    this.reason = message;
  }
}

/// One connection to a broker, kept open: it reconnects with exponential backoff and jitter
/// (at once when the broker drains with 4002) and resumes every subscription.
///
/// Events (EventTarget, each with `detail`):
/// - 'state': { state, retryInMs } as the connection goes 'connecting', 'live', 'reconnecting'
///   (retryInMs until the next attempt), 'offline' (the browser says so) or 'closed';
/// - 'delivery': { delivery, topic } for every delivery, besides its subscription's onDelivery;
/// - 'resume': { topic, recovered, reason, positions } once per subscription after a reconnect,
///   positions being where each matched topic stood when the broker answered (the replay of what
///   was missed ends there);
/// - 'error': { error } for what the application should know (a refused token, a failed resume).
export class KabarClient extends EventTarget {
  /// `options`: token (a JWT, sent in Connect), refreshToken (async () => a fresh JWT, called a
  /// minute before exp and on 4003), clientName, minDelayMs (250), maxDelayMs (30 000).
  constructor(url, options = {}) {
    super();
    this.url = url;
    this.options = { minDelayMs: 250, maxDelayMs: 30_000, ...options };
    this.token = options.token ?? '';
    this.state = 'closed';
    this._ws = null;
    this._nextId = 1;
    this._pending = new Map(); // id -> { resolve, reject }
    this._subscriptions = new Map(); // topic or pattern -> subscription
    this._attempt = 0;
    this._timer = null;
    this._refreshTimer = null;
    this._closedByUser = false;
  }

  /// Opens the connection (and keeps it open until close()).
  connect() {
    this._closedByUser = false;
    this._open();
  }

  /// Closes for good: no reconnect.
  close() {
    this._closedByUser = true;
    clearTimeout(this._timer);
    clearTimeout(this._refreshTimer);
    if (this._ws) this._ws.close(CloseCode.NORMAL, 'client closed');
    this._setState('closed');
  }

  /// Subscribes to a topic or pattern. `options`: filter ({ maxUrgency, languages }), since
  /// ({ offset, epoch } for a topic) or resume ({ positions: [{ topic, position }] } for a
  /// pattern) to replay what was missed first, onDelivery(delivery). Sent at once when live,
  /// else as soon as the connection is; resolves with the broker's first SubscribeResult, or
  /// rejects with a KabarError when refused.
  subscribe(topic, options = {}) {
    return new Promise((resolve, reject) => {
      const subscription = {
        topic,
        filter: options.filter ?? {},
        onDelivery: options.onDelivery ?? (() => {}),
        positions: new Map(), // topic -> { offset, epoch }: the last delivery handed over
        resumes: options.since !== undefined || options.resume !== undefined,
        answered: false,
        resolve,
        reject,
      };
      if (options.since) subscription.positions.set(topic, options.since);
      for (const p of options.resume?.positions ?? []) subscription.positions.set(p.topic, p.position);
      this._subscriptions.set(topic, subscription);
      if (this.state === 'live') this._sendSubscribe(subscription);
    });
  }

  /// Ends the subscription named exactly `topic`.
  unsubscribe(topic) {
    this._subscriptions.delete(topic);
    return this._request({ unsubscribe: { topic } });
  }

  /// Publishes an article (kabar.v1.Article in JSON: id, headline, topics, urgency, ...).
  /// Resolves with the PublishResult once the broker has stored it.
  publish(article) {
    return this._request({ publish: { article } }).then((reply) => reply.publish);
  }

  /// The subprotocol of the open connection ('kabar.v1.json'), or '' when there is none.
  get protocol() {
    return this._ws?.protocol ?? '';
  }

  /// Where each subscription stands: topic or pattern -> { topic -> { offset, epoch } }.
  positions() {
    const out = {};
    for (const [name, s] of this._subscriptions) out[name] = Object.fromEntries(s.positions);
    return out;
  }

  // ---------------------------------------------------------------------------------------------

  _setState(state, retryInMs) {
    if (this.state === state && retryInMs === undefined) return;
    this.state = state;
    this.dispatchEvent(new CustomEvent('state', { detail: { state, retryInMs } }));
  }

  _emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  _open() {
    clearTimeout(this._timer);
    this._setState('connecting');
    let ws;
    try {
      ws = new WebSocket(this.url, [SUBPROTOCOL]);
    } catch (error) {
      this._emit('error', { error });
      return this._retry();
    }
    this._ws = ws;
    ws.onopen = () => this._onOpen(ws);
    ws.onmessage = (event) => this._onMessage(event.data);
    ws.onclose = (event) => this._onClose(ws, event);
    // A connection that fails before it opens: some WebSocket implementations (Node 20's) report
    // the error and never the close. After it opens, the close that follows says what happened.
    ws.onerror = () => {
      if (ws.readyState === 1) return;
      this._onClose(ws, { code: 1006, reason: 'connection failed' });
      try {
        ws.close();
      } catch {
        // not open: nothing to close
      }
    };
  }

  async _onOpen(ws) {
    try {
      await this._send({ connect: { token: this.token, clientName: this.options.clientName ?? '' } });
    } catch (error) {
      this._emit('error', { error });
      return; // the broker closes a connection it refused, or the close already came
    }
    if (ws !== this._ws) return;
    this._attempt = 0;
    this._scheduleRefresh();
    this._setState('live');
    for (const subscription of this._subscriptions.values()) this._sendSubscribe(subscription);
  }

  // A subscription's Subscribe: from where it stands once it has been answered (or was asked to
  // recover), so that a reconnect loses and repeats nothing.
  _sendSubscribe(subscription) {
    const request = { topic: subscription.topic, filter: subscription.filter };
    if (subscription.answered || subscription.resumes) {
      if (!isPattern(subscription.topic)) {
        request.since = subscription.positions.get(subscription.topic) ?? {}; // {}: from the start
      } else {
        request.resume = {
          positions: [...subscription.positions].map(([topic, position]) => ({ topic, position })),
        };
      }
    }
    const again = subscription.answered;
    this._send({ subscribe: request }).then(
      (reply) => {
        if (this._subscriptions.get(subscription.topic) !== subscription) return;
        const result = reply.subscribe ?? {};
        // Recovered: the replay that follows moves the positions. Not recovered, or a plain
        // subscribe: the subscription starts at the topics' ends given.
        if (!result.recovered) {
          for (const p of result.positions ?? []) subscription.positions.set(p.topic, p.position);
        }
        subscription.answered = true;
        if (again) {
          this._emit('resume', {
            topic: subscription.topic,
            recovered: result.recovered === true,
            reason: result.notRecoveredReason ?? '',
            positions: result.positions ?? [],
          });
        } else {
          subscription.resolve(result);
        }
      },
      (error) => {
        if (!(error instanceof KabarError)) return; // the connection failed: sent again on the next
        if (again) {
          this._emit('error', { error, topic: subscription.topic });
        } else {
          this._subscriptions.delete(subscription.topic);
          subscription.reject(error);
        }
      },
    );
  }

  _onMessage(data) {
    let message;
    try {
      message = JSON.parse(data);
    } catch (error) {
      this._emit('error', { error });
      return;
    }
    if (message.reply) {
      const id = message.reply.id ?? 0;
      const pending = this._pending.get(id);
      if (!pending) return;
      this._pending.delete(id);
      if (message.reply.error) {
        const { code = 'UNKNOWN', message: text = '' } = message.reply.error;
        pending.reject(new KabarError(code, text));
      } else {
        pending.resolve(message.reply);
      }
    }
    for (const delivery of message.deliveries ?? []) this._route(delivery);
  }

  // A connection receives each (topic, offset) once: it goes to the first subscription that
  // matches it and whose filter accepts it, as with the C++ client.
  _route(delivery) {
    for (const subscription of this._subscriptions.values()) {
      if (!topicMatches(subscription.topic, delivery.topic)) continue;
      if (!filterAccepts(subscription.filter, delivery.article)) continue;
      subscription.positions.set(delivery.topic, { offset: delivery.offset, epoch: delivery.epoch ?? '' });
      try {
        subscription.onDelivery(delivery);
      } finally {
        this._emit('delivery', { delivery, topic: subscription.topic });
      }
      return;
    }
  }

  _onClose(ws, event) {
    if (ws !== this._ws) return;
    this._ws = null;
    clearTimeout(this._refreshTimer);
    const failure = new Error(`connection closed (${event.code}${event.reason ? ' ' + event.reason : ''})`);
    for (const pending of this._pending.values()) pending.reject(failure);
    this._pending.clear();
    if (this._closedByUser) return this._setState('closed');
    if (event.code === CloseCode.TOKEN_EXPIRED && this.options.refreshToken) {
      return this._refreshThen(() => this._retry(true));
    }
    // Draining: another broker (or this one, restarted) takes the connection at once.
    this._retry(event.code === CloseCode.SHUTTING_DOWN);
  }

  _retry(now = false) {
    if (this._closedByUser) return;
    const ceiling = Math.min(this.options.maxDelayMs, this.options.minDelayMs * 2 ** this._attempt);
    const delay = now ? 0 : Math.round(ceiling / 2 + Math.random() * (ceiling / 2));
    this._attempt = Math.min(this._attempt + 1, 30);
    const offline = typeof navigator !== 'undefined' && navigator.onLine === false;
    this._setState(offline ? 'offline' : 'reconnecting', delay);
    this._timer = setTimeout(() => this._open(), delay);
  }

  // A fresh token a minute before exp (or halfway there, for a short one), sent in Connect.
  _scheduleRefresh() {
    clearTimeout(this._refreshTimer);
    const exp = this.token ? tokenExpiry(this.token) : null;
    if (!exp || !this.options.refreshToken) return;
    const left = exp * 1000 - Date.now();
    const lead = Math.min(60_000, left / 2);
    this._refreshTimer = setTimeout(
      () => this._refreshThen(() => this._send({ connect: { token: this.token } }).then(
        () => this._scheduleRefresh(),
        (error) => this._emit('error', { error }),
      )),
      Math.max(0, Math.min(left - lead, 2 ** 31 - 1)),
    );
  }

  _refreshThen(next) {
    Promise.resolve()
      .then(() => this.options.refreshToken())
      .then((token) => {
        this.token = token;
        next();
      })
      .catch((error) => {
        this._emit('error', { error });
        next();
      });
  }

  // Sent now when live, else after the next Connect: a request made while reconnecting waits.
  _request(body) {
    if (this.state === 'live') return this._send(body);
    return new Promise((resolve, reject) => {
      const onState = (event) => {
        if (event.detail.state === 'live') {
          this.removeEventListener('state', onState);
          this._send(body).then(resolve, reject);
        } else if (event.detail.state === 'closed') {
          this.removeEventListener('state', onState);
          reject(new Error('client closed'));
        }
      };
      this.addEventListener('state', onState);
    });
  }

  _send(body) {
    const ws = this._ws;
    if (!ws || ws.readyState !== 1) return Promise.reject(new Error('not connected'));
    const id = this._nextId++;
    if (this._nextId > 0xffffffff) this._nextId = 1;
    return new Promise((resolve, reject) => {
      this._pending.set(id, { resolve, reject });
      ws.send(JSON.stringify({ id, ...body }));
    });
  }
}
