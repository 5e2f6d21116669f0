#!/usr/bin/env node
// A real browser against LiveSurgery's SFU: headless Chromium (Debian's /usr/bin/chromium, driven
// by playwright-core) publishes its fake camera over WHIP in one browser context and, in another,
// subscribes over WHEP until the video decodes; then it reports the first frame over the session's
// WebSocket, as the web client does. Run by tests/integration/sfu/browser.rs; by hand:
//
//   node tests/browser/sfu.mjs --base http://127.0.0.1:PORT \
//     --whip-url URL --whip-token JWT --whep-url URL --whep-token JWT \
//     --ws-url ws://127.0.0.1:PORT/v1/sessions/ID/ws --ws-token JWT --joined-at EPOCH_MS
//
// Prints one JSON line on stdout on success; exits 1 with the reason on stderr on any failure or
// after the timeout, 2 on bad arguments. Saves a screenshot of the subscriber's page (and, on a
// failure, of both pages and the SDP they exchanged) under LIVESURGERY_BROWSER_ARTIFACTS
// (default target/browser-artifacts). Set up with `bash .ci/install-browser.sh`.

import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { chromium } from 'playwright-core';

/** Every option: its flag, its environment variable, and whether it has a default. */
const OPTIONS = {
  base: { env: 'SFU_BASE', help: 'the server, e.g. http://127.0.0.1:8080 (pages open <base>/healthz)' },
  whipUrl: { env: 'SFU_WHIP_URL', help: 'sfu.whip_url of the publisher\'s join (?source= is added)' },
  whipToken: { env: 'SFU_WHIP_TOKEN', help: 'sfu.token of the publisher\'s join' },
  whepUrl: { env: 'SFU_WHEP_URL', help: 'sfu.whep_url of the subscriber\'s join' },
  whepToken: { env: 'SFU_WHEP_TOKEN', help: 'sfu.token of the subscriber\'s join' },
  wsUrl: { env: 'SFU_WS_URL', help: 'ws.url of the subscriber\'s join' },
  wsToken: { env: 'SFU_WS_TOKEN', help: 'ws.token of the subscriber\'s join' },
  joinedAt: { env: 'SFU_JOINED_AT', help: 'epoch ms when the subscriber called participants:join' },
  source: { env: 'SFU_SOURCE', default: 'endoscope', help: 'the label the camera is published as' },
  iceServers: { env: 'SFU_ICE_SERVERS', default: '[]', help: 'ice_servers of the join, as JSON' },
  timeoutMs: { env: 'SFU_TIMEOUT_MS', default: '20000', help: 'give up after this long' },
  artifacts: {
    env: 'LIVESURGERY_BROWSER_ARTIFACTS',
    default: 'target/browser-artifacts',
    help: 'folder for the screenshots',
  },
  chromium: { env: 'CHROMIUM', default: '/usr/bin/chromium', help: 'the browser executable' },
};

const flagOf = (name) => `--${name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;

function usage() {
  const lines = Object.entries(OPTIONS).map(
    ([name, o]) =>
      `  ${flagOf(name).padEnd(14)} (${o.env}) ${o.help}${o.default ? ` [${o.default}]` : ''}`,
  );
  return `usage: node tests/browser/sfu.mjs [options]\n${lines.join('\n')}`;
}

/** The options from argv (`--flag value` or `--flag=value`), else the environment, else defaults. */
function parseOptions(argv) {
  const byFlag = new Map(Object.keys(OPTIONS).map((name) => [flagOf(name), name]));
  const given = {};
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i].split(/=(.*)/s, 2);
    if (flag === '--help' || flag === '-h') {
      console.log(usage());
      process.exit(0);
    }
    const name = byFlag.get(flag);
    if (!name) throw new UsageError(`unknown argument ${argv[i]}`);
    const value = inline ?? argv[++i];
    if (value === undefined) throw new UsageError(`${flag} needs a value`);
    given[name] = value;
  }
  const options = {};
  for (const [name, o] of Object.entries(OPTIONS)) {
    const value = given[name] ?? process.env[o.env] ?? o.default;
    if (value === undefined || value === '') {
      throw new UsageError(`missing ${flagOf(name)} (or ${o.env}): ${o.help}`);
    }
    options[name] = value;
  }
  options.base = options.base.replace(/\/+$/, '');
  options.joinedAt = Number(options.joinedAt);
  options.timeoutMs = Number(options.timeoutMs);
  if (!Number.isFinite(options.joinedAt)) throw new UsageError('--joined-at is not a number');
  if (!(options.timeoutMs > 0)) throw new UsageError('--timeout-ms is not a positive number');
  try {
    options.iceServers = JSON.parse(options.iceServers);
  } catch (e) {
    throw new UsageError(`--ice-servers is not JSON: ${e.message}`);
  }
  const whip = new URL(options.whipUrl, options.base);
  if (!whip.searchParams.has('source')) whip.searchParams.set('source', options.source);
  options.whipUrl = whip.href;
  options.whepUrl = new URL(options.whepUrl, options.base).href;
  return options;
}

class UsageError extends Error {}

/** The subscriber's page: the received video and a status line, on the server's origin. */
const SUBSCRIBER_PAGE = `<!doctype html>
<html><head><meta charset="utf-8"><title>LiveSurgery SFU: WHEP subscriber</title>
<style>
  body { margin: 0; padding: 16px; font: 14px system-ui, sans-serif; background: #10161d; color: #dde6ee; }
  h1 { font-size: 16px; margin: 0 0 12px; }
  video { width: 640px; height: 480px; background: #000; display: block; border: 1px solid #33414f; }
  #status { margin-top: 8px; font-family: monospace; }
</style></head>
<body>
  <h1>LiveSurgery SFU: WHEP subscriber (headless Chromium)</h1>
  <video id="remote" autoplay muted playsinline></video>
  <div id="status">waiting for media</div>
</body></html>`;

// ---- What runs inside the pages (serialised by page.evaluate: no closures over Node values). ----

/** Publishes the fake camera over WHIP; the peer connection stays on `window.__pc`. */
async function publishInPage({ whipUrl, token, iceServers }) {
  const stream = await navigator.mediaDevices.getUserMedia({
    video: { width: 640, height: 480, frameRate: 30 },
    audio: false,
  });
  const [track] = stream.getVideoTracks();
  const pc = new RTCPeerConnection({ iceServers });
  window.__pc = pc;
  window.__states = [];
  const note = () =>
    window.__states.push(`${Date.now()} ice=${pc.iceConnectionState} pc=${pc.connectionState}`);
  pc.oniceconnectionstatechange = note;
  pc.onconnectionstatechange = note;
  const transceiver = pc.addTransceiver(track, { direction: 'sendonly', streams: [stream] });
  // VP8 first, H.264 next: the two codecs the SFU takes for video.
  const rank = (c) => ({ 'video/VP8': 0, 'video/H264': 1 })[c.mimeType] ?? 2;
  const codecs = RTCRtpSender.getCapabilities('video').codecs;
  transceiver.setCodecPreferences([...codecs].sort((a, b) => rank(a) - rank(b)));
  return await window.__negotiate(pc, whipUrl, token, 'WHIP');
}

/** Subscribes over WHEP with one video transceiver; the received track plays in the page. */
async function subscribeInPage({ whepUrl, token, iceServers }) {
  const pc = new RTCPeerConnection({ iceServers });
  window.__pc = pc;
  window.__states = [];
  const note = () =>
    window.__states.push(`${Date.now()} ice=${pc.iceConnectionState} pc=${pc.connectionState}`);
  pc.oniceconnectionstatechange = note;
  pc.onconnectionstatechange = note;
  const video = document.getElementById('remote');
  pc.ontrack = (e) => {
    video.srcObject = new MediaStream([e.track]);
    video.play().catch(() => {});
  };
  pc.addTransceiver('video', { direction: 'recvonly' });
  return await window.__negotiate(pc, whepUrl, token, 'WHEP');
}

/** Defines `window.__negotiate`, `window.__videoStats` in a page (both pages use them). */
function installHelpers() {
  /** Offers, waits for ICE gathering to complete (no trickle), POSTs, applies the answer. */
  window.__negotiate = async (pc, url, token, what) => {
    const gatheringStarted = Date.now();
    await pc.setLocalDescription(await pc.createOffer());
    if (pc.iceGatheringState !== 'complete') {
      await new Promise((resolve) => {
        const check = () => pc.iceGatheringState === 'complete' && resolve();
        pc.addEventListener('icegatheringstatechange', check);
        check();
      });
    }
    const iceGatheringMs = Date.now() - gatheringStarted;
    const offer = pc.localDescription.sdp;
    window.__sdp = { offer };
    const response = await fetch(url, {
      method: 'POST',
      headers: { 'Content-Type': 'application/sdp', Authorization: `Bearer ${token}` },
      body: offer,
    });
    const text = await response.text();
    window.__sdp.answer = text;
    const type = response.headers.get('content-type') ?? '';
    const location = response.headers.get('location');
    const sent = `${what} POST ${url} (Content-Type: application/sdp, offer of ${offer.length} bytes)`;
    if (response.status !== 201) {
      throw new Error(`${sent} answered ${response.status} (${type}): ${text}`);
    }
    if (!type.startsWith('application/sdp')) {
      throw new Error(`${sent} answered 201 with Content-Type ${JSON.stringify(type)}, not application/sdp`);
    }
    if (!location) throw new Error(`${sent} answered 201 without a Location header`);
    try {
      await pc.setRemoteDescription({ type: 'answer', sdp: text });
    } catch (e) {
      throw new Error(`${sent}: the browser rejects the answer (${e.message}):\n${text}`);
    }
    return { location: new URL(location, url).href, ice_gathering_ms: iceGatheringMs };
  };

  /** The video RTP stats that matter here (outbound for a publisher, inbound for a subscriber). */
  window.__videoStats = async (pc) => {
    const report = await pc.getStats();
    const out = { connection: pc.connectionState, ice: pc.iceConnectionState };
    for (const s of report.values()) {
      if (s.kind !== 'video') continue;
      if (s.type === 'inbound-rtp') {
        Object.assign(out, {
          packetsReceived: s.packetsReceived,
          bytesReceived: s.bytesReceived,
          framesReceived: s.framesReceived,
          framesDecoded: s.framesDecoded ?? 0,
          keyFramesDecoded: s.keyFramesDecoded,
          width: s.frameWidth,
          height: s.frameHeight,
          pliCount: s.pliCount,
          codec: report.get(s.codecId)?.mimeType,
        });
      } else if (s.type === 'outbound-rtp') {
        Object.assign(out, {
          packetsSent: s.packetsSent,
          bytesSent: s.bytesSent,
          framesEncoded: s.framesEncoded,
          keyFramesEncoded: s.keyFramesEncoded,
          pliCount: s.pliCount,
          codec: report.get(s.codecId)?.mimeType,
        });
      }
    }
    for (const s of report.values()) {
      if (s.type === 'candidate-pair' && s.nominated && s.state === 'succeeded') {
        const local = report.get(s.localCandidateId);
        const remote = report.get(s.remoteCandidateId);
        out.pair = `${local?.address}:${local?.port} -> ${remote?.address}:${remote?.port}`;
      }
    }
    return out;
  };
}

/** Polls the subscriber's stats until a frame is decoded; the epoch ms it first was, and stats. */
async function firstFrameInPage() {
  const pc = window.__pc;
  const status = document.getElementById('status');
  for (;;) {
    const stats = await window.__videoStats(pc);
    if (stats.framesDecoded > 0) {
      const at = Date.now();
      status.textContent = `first frame decoded (${stats.codec ?? 'codec unknown'})`;
      return { at, stats };
    }
    if (pc.connectionState === 'failed' || pc.connectionState === 'closed') {
      throw new Error(`the WHEP connection is ${pc.connectionState} before any frame was decoded`);
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Waits until the publisher's connection is up and it has sent a first encoded frame. */
async function publisherConnectedInPage() {
  const pc = window.__pc;
  for (;;) {
    if (pc.connectionState === 'connected') {
      const stats = await window.__videoStats(pc);
      if (stats.framesEncoded > 0 && stats.packetsSent > 0) return stats;
    }
    if (pc.connectionState === 'failed' || pc.connectionState === 'closed') {
      throw new Error(`the WHIP connection is ${pc.connectionState}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Connects to the realtime gateway, waits for `welcome`, sends `message`, waits for its `ack`. */
async function reportOverWebSocketInPage({ wsUrl, token, message }) {
  const url = `${wsUrl}${wsUrl.includes('?') ? '&' : '?'}token=${encodeURIComponent(token)}`;
  const ws = new WebSocket(url);
  const received = [];
  try {
    return await new Promise((resolve, reject) => {
      ws.onerror = () => reject(new Error(`WebSocket ${wsUrl} failed; received so far: ${JSON.stringify(received)}`));
      ws.onclose = (e) =>
        reject(new Error(`WebSocket ${wsUrl} closed (${e.code} ${e.reason}); received: ${JSON.stringify(received)}`));
      ws.onmessage = (e) => {
        let msg;
        try {
          msg = JSON.parse(e.data);
        } catch {
          return reject(new Error(`WebSocket sent a frame that is not JSON: ${e.data}`));
        }
        received.push(msg.type);
        if (received.length === 1) {
          if (msg.type !== 'welcome') {
            return reject(new Error(`the first WebSocket message is not a welcome: ${e.data}`));
          }
          ws.send(JSON.stringify(message));
        } else if (msg.ref === message.ref && msg.type === 'ack') {
          resolve(msg);
        } else if (msg.ref === message.ref) {
          reject(new Error(`${JSON.stringify(message)} was answered with ${e.data}`));
        }
      };
    });
  } finally {
    ws.onclose = null;
    ws.close();
  }
}

/** DELETEs a WHIP/WHEP resource; its status. */
async function deleteInPage({ url, token }) {
  const response = await fetch(url, { method: 'DELETE', headers: { Authorization: `Bearer ${token}` } });
  return { status: response.status, text: await response.text() };
}

// ---- The run. ----

/** What is happening now, for the timeout's message. */
let phase = 'starting';
/** What a failure report shows besides its message. */
const diagnostics = {};
/** The browser and its pages by role, once there (closed by `main`, also after a timeout). */
const live = { browser: null, pages: {} };
/** Epoch ms of each step, reported relative to `--joined-at`. */
const marks = {};
const mark = (step, at = Date.now()) => {
  marks[step] = at;
};

async function run(options, consoleErrors) {
  phase = 'launching Chromium';
  const browser = (live.browser = await chromium.launch({
    executablePath: options.chromium,
    headless: true,
    timeout: 15_000,
    args: [
      '--use-fake-device-for-media-stream',
      '--use-fake-ui-for-media-stream',
      '--no-sandbox',
      '--autoplay-policy=no-user-gesture-required',
      '--disable-dev-shm-usage',
      '--disable-gpu',
      // This machine reaches no outside host: keep Chromium from trying.
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--disable-quic',
      '--no-first-run',
    ],
  }));
  mark('chromium_launched');
  const pages = live.pages;
  diagnostics.chromium = browser.version();
  // One context each: two browser profiles, as two devices would be; opened side by side.
  phase = `opening ${options.base}/healthz in two browser contexts`;
  const open = async (role) => {
    // The test's own page is written into a server answer (same origin); that answer's strict
    // API CSP (connect-src 'none') is not what is under test here (the web app's E2E checks CSP).
    const context = await browser.newContext({ viewport: { width: 700, height: 580 }, bypassCSP: true });
    const page = await context.newPage();
    pages[role] = page;
    page.on('console', (m) => {
      // The browser's own favicon request (a 404 here) is not the page's doing.
      if (m.type() === 'error' && !m.location().url.endsWith('/favicon.ico')) {
        consoleErrors.push(`[${role}] ${m.text()} (${m.location().url})`);
      }
    });
    page.on('pageerror', (e) => consoleErrors.push(`[${role}] uncaught: ${e.message}`));
    const health = await page.goto(`${options.base}/healthz`);
    if (!health?.ok()) throw new Error(`${role}: GET ${options.base}/healthz answered ${health?.status()}`);
    if (role === 'subscriber') await page.setContent(SUBSCRIBER_PAGE);
    await page.evaluate(installHelpers);
    if (!(await page.evaluate(() => window.isSecureContext))) {
      throw new Error(`${role}: ${page.url()} is not a secure context: no camera, no WebRTC stats`);
    }
    return page;
  };
  const [publisher, subscriber] = await Promise.all([open('publisher'), open('subscriber')]);
  mark('pages_open');

  phase = 'publishing over WHIP';
  const published = await publisher.evaluate(publishInPage, {
    whipUrl: options.whipUrl,
    token: options.whipToken,
    iceServers: options.iceServers,
  });
  diagnostics.whip = published.location;
  mark('whip_answered');
  phase = 'waiting for the WHIP connection (ICE + DTLS) and its first packets';
  await publisher.evaluate(publisherConnectedInPage);
  mark('publisher_connected');

  phase = 'subscribing over WHEP';
  const subscribed = await subscriber.evaluate(subscribeInPage, {
    whepUrl: options.whepUrl,
    token: options.whepToken,
    iceServers: options.iceServers,
  });
  diagnostics.whep = subscribed.location;
  mark('whep_answered');
  phase = 'waiting for the first decoded frame';
  const first = await subscriber.evaluate(firstFrameInPage);
  mark('first_frame_decoded', first.at);
  const joinToFirstFrameMs = first.at - options.joinedAt;

  phase = 'reporting the first frame over the WebSocket';
  const message = {
    type: 'media.first_frame',
    ref: 'ff1',
    source_id: options.source,
    join_to_first_frame_ms: joinToFirstFrameMs,
  };
  const ack = await subscriber.evaluate(reportOverWebSocketInPage, {
    wsUrl: options.wsUrl,
    token: options.wsToken,
    message,
  });
  mark('first_frame_acked');

  phase = 'letting the video play';
  await subscriber.waitForFunction(
    () => {
      const v = document.getElementById('remote');
      return v.videoWidth > 0 && v.currentTime > 0.5;
    },
    null,
    { timeout: 5_000, polling: 50 },
  );
  const publisherStats = await publisher.evaluate(() => window.__videoStats(window.__pc));
  const subscriberStats = await subscriber.evaluate(() => window.__videoStats(window.__pc));
  const shown = await subscriber.evaluate(
    ({ source, ms, stats }) => {
      const v = document.getElementById('remote');
      document.getElementById('status').textContent =
        `${source}: ${v.videoWidth}x${v.videoHeight} ${stats.codec ?? ''}, first frame ${ms} ms after the join, ` +
        `${stats.framesDecoded} frames decoded, ${v.currentTime.toFixed(1)} s played`;
      return { videoWidth: v.videoWidth, videoHeight: v.videoHeight, currentTime: v.currentTime };
    },
    { source: options.source, ms: joinToFirstFrameMs, stats: subscriberStats },
  );

  phase = 'saving the screenshot';
  const screenshot = await screenshotOf(subscriber, options.artifacts, 'sfu-subscriber.png');

  for (const [role, page] of Object.entries(pages)) {
    await saveSdp(options.artifacts, role, await page.evaluate(() => window.__sdp));
  }

  phase = 'deleting the WHEP and WHIP resources';
  const whepDelete = await subscriber.evaluate(deleteInPage, { url: subscribed.location, token: options.whepToken });
  const whipDelete = await publisher.evaluate(deleteInPage, { url: published.location, token: options.whipToken });

  return {
    framesDecoded: subscriberStats.framesDecoded,
    // The decoder's frame size (stats may lack it at the very first frame).
    width: first.stats.width ?? subscriberStats.width ?? shown.videoWidth,
    height: first.stats.height ?? subscriberStats.height ?? shown.videoHeight,
    join_to_first_frame_ms: joinToFirstFrameMs,
    console_errors: consoleErrors,
    codec: subscriberStats.codec,
    // Milliseconds from the subscriber's join to each step.
    timeline: Object.fromEntries(Object.entries(marks).map(([k, at]) => [k, at - options.joinedAt])),
    first_frame: first.stats,
    subscriber: subscriberStats,
    publisher: publisherStats,
    video: shown,
    whip: { location: published.location, ice_gathering_ms: published.ice_gathering_ms, delete: whipDelete.status },
    whep: { location: subscribed.location, ice_gathering_ms: subscribed.ice_gathering_ms, delete: whepDelete.status },
    ws_ack: ack,
    screenshot,
    chromium: diagnostics.chromium,
  };
}

async function screenshotOf(page, folder, name) {
  await mkdir(folder, { recursive: true });
  const file = path.resolve(folder, name);
  await page.screenshot({ path: file, fullPage: true, timeout: 5_000 });
  return file;
}

/** Writes the offer and answer a page exchanged (when it got that far) beside the screenshots. */
async function saveSdp(folder, role, sdp) {
  for (const [kind, text] of Object.entries(sdp ?? {})) {
    if (typeof text === 'string') {
      await mkdir(folder, { recursive: true });
      await writeFile(path.resolve(folder, `sfu-${role}-${kind}.sdp`), text);
    }
  }
}

/** On failure: each page's connection history and stats, and a screenshot of each. */
async function explainFailure(pages, folder) {
  for (const [role, page] of Object.entries(pages)) {
    const seen = await page
      .evaluate(async () => ({
        states: window.__states ?? [],
        sdp: window.__sdp,
        stats: window.__pc && window.__videoStats ? await window.__videoStats(window.__pc) : null,
      }))
      .catch((e) => ({ error: e.message }));
    await saveSdp(folder, role, seen.sdp);
    delete seen.sdp;
    diagnostics[role] = seen;
    diagnostics[`${role}_screenshot`] = await screenshotOf(page, folder, `sfu-${role}-failed.png`).catch(
      (e) => `no screenshot: ${e.message}`,
    );
  }
}

async function main() {
  let options;
  try {
    options = parseOptions(process.argv.slice(2));
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    console.error(`sfu.mjs: ${e.message}\n${usage()}`);
    process.exit(2);
  }
  if (!existsSync(options.chromium)) {
    fail(`no browser at ${options.chromium} (bash .ci/install-browser.sh installs Debian's chromium)`, []);
  }
  mark('script_started');
  const consoleErrors = [];
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`timed out after ${options.timeoutMs} ms while ${phase}`)),
      options.timeoutMs,
    );
  });
  let result;
  try {
    result = await Promise.race([run(options, consoleErrors), timeout]);
  } catch (e) {
    // The pages may still be working (after a timeout): take what they show, within bounds.
    await Promise.race([
      explainFailure(live.pages, options.artifacts),
      new Promise((resolve) => setTimeout(resolve, 5_000)),
    ]);
    await live.browser?.close().catch(() => {});
    diagnostics.timeline = Object.fromEntries(Object.entries(marks).map(([k, at]) => [k, at - options.joinedAt]));
    fail(e.message, consoleErrors);
  } finally {
    clearTimeout(timer);
  }
  await live.browser.close();
  console.log(JSON.stringify(result));
  process.exit(0);
}

function fail(message, consoleErrors) {
  console.error(`sfu.mjs: FAILED: ${message}`);
  if (Object.keys(diagnostics).length) console.error(`sfu.mjs: diagnostics: ${JSON.stringify(diagnostics, null, 2)}`);
  if (consoleErrors.length) console.error(`sfu.mjs: console errors:\n  ${consoleErrors.join('\n  ')}`);
  process.exit(1);
}

await main();
