#!/usr/bin/env node
// Plays recorded media files in headless Chromium (Debian's /usr/bin/chromium, driven by
// playwright-core), as the web app's player would: each file is served over HTTP with Range
// support from a server of this script and played muted in a <video> element for a while.
// Run by tests/integration/recording/playback.rs; by hand:
//
//   node tests/browser/play.mjs FILE...
//
// Prints one JSON line on stdout: what Chromium says it supports (`canPlayType`, MSE's
// `isTypeSupported`) for the containers the recorder considered, and per file the error (or
// null), the duration, `currentTime` after PLAY_MS of playing, and the video frames decoded
// (`getVideoPlaybackQuality().totalVideoFrames`). Exits 1 with the reason on stderr on a
// failure of the script itself. Set up with `bash .ci/install-browser.sh`.

import { createReadStream, statSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { chromium } from 'playwright-core';

const PLAY_MS = Number(process.env.PLAY_MS ?? 2500);
const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
const TYPES = [
  'video/mp4; codecs="vp8, opus"',
  'video/mp4; codecs="vp08.00.10.08, opus"',
  'video/webm; codecs="vp8, opus"',
  'video/mp4; codecs="avc1.42E01E, opus"',
];
const CONTENT_TYPES = { '.webm': 'video/webm', '.mp4': 'video/mp4' };

const files = process.argv.slice(2);
if (files.length === 0) {
  console.error('usage: node tests/browser/play.mjs FILE...');
  process.exit(2);
}

/** Serves the files by index (`/0`, `/1`, …), honouring single Range requests. */
function serve() {
  const server = http.createServer((req, res) => {
    const file = files[Number(req.url.slice(1))];
    if (!file) {
      res.writeHead(404).end();
      return;
    }
    const size = statSync(file).size;
    const type = CONTENT_TYPES[path.extname(file)] ?? 'application/octet-stream';
    const range = /^bytes=(\d*)-(\d*)$/.exec(req.headers.range ?? '');
    if (range) {
      const start = range[1] === '' ? size - Number(range[2]) : Number(range[1]);
      const end = range[1] !== '' && range[2] !== '' ? Math.min(Number(range[2]), size - 1) : size - 1;
      res.writeHead(206, {
        'Content-Type': type,
        'Accept-Ranges': 'bytes',
        'Content-Range': `bytes ${start}-${end}/${size}`,
        'Content-Length': end - start + 1,
      });
      createReadStream(file, { start, end }).pipe(res);
    } else {
      res.writeHead(200, { 'Content-Type': type, 'Accept-Ranges': 'bytes', 'Content-Length': size });
      createReadStream(file).pipe(res);
    }
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

/** Plays one URL muted for PLAY_MS in the page: what the element says then. */
async function play(page, url) {
  return page.evaluate(
    async ({ url, playMs }) => {
      const video = document.createElement('video');
      video.muted = true;
      let error = null;
      video.onerror = () => {
        error = `${video.error?.code} ${video.error?.message}`;
      };
      video.src = url;
      document.body.appendChild(video);
      try {
        await video.play();
      } catch (e) {
        error ??= String(e);
      }
      await new Promise((r) => setTimeout(r, playMs));
      const quality = video.getVideoPlaybackQuality();
      const result = {
        error,
        duration: video.duration,
        currentTime: video.currentTime,
        totalVideoFrames: quality.totalVideoFrames,
        width: video.videoWidth,
        height: video.videoHeight,
        audioBytesDecoded: video.webkitAudioDecodedByteCount ?? null,
      };
      video.remove();
      return result;
    },
    { url, playMs: PLAY_MS },
  );
}

const server = await serve();
const base = `http://127.0.0.1:${server.address().port}`;
const browser = await chromium.launch({
  executablePath: CHROMIUM,
  args: [
    '--no-sandbox',
    '--disable-gpu',
    '--disable-quic',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
    '--no-first-run',
    '--autoplay-policy=no-user-gesture-required',
  ],
});
try {
  const page = await browser.newPage();
  // A page of the same origin as the files.
  await page.route(`${base}/page`, (route) => route.fulfill({ contentType: 'text/html', body: '<body></body>' }));
  await page.goto(`${base}/page`);
  const support = await page.evaluate(
    (types) =>
      Object.fromEntries(
        types.map((t) => [t, { canPlayType: document.createElement('video').canPlayType(t), mse: MediaSource.isTypeSupported(t) }]),
      ),
    TYPES,
  );
  const played = [];
  for (let i = 0; i < files.length; i++) {
    played.push({ file: path.basename(files[i]), ...(await play(page, `${base}/${i}`)) });
  }
  console.log(JSON.stringify({ support, played }));
} catch (error) {
  console.error(`play.mjs: ${error?.stack ?? error}`);
  process.exitCode = 1;
} finally {
  await browser.close();
  server.close();
}
