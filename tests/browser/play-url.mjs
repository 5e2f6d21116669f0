#!/usr/bin/env node
// Plays a recording in headless Chromium (Debian's /usr/bin/chromium, driven by playwright-core)
// as a page's <video> would: the URL alone, no other header. Run by the recording tests; by hand:
//
//   node tests/browser/play-url.mjs URL [--seconds 3] [--chromium /usr/bin/chromium]
//
// Prints one JSON line: {currentTime, totalVideoFrames, droppedVideoFrames, duration, width,
// height, error}; exits 1 when the video did not play (its currentTime did not advance or no
// frame was decoded), 2 on bad arguments. Set up with `bash .ci/install-browser.sh`.

import { chromium } from 'playwright-core';

const args = process.argv.slice(2);
const url = args.find((a) => !a.startsWith('--'));
const option = (name, fallback) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] ? args[i + 1] : fallback;
};
if (!url) {
  console.error('usage: node tests/browser/play-url.mjs URL [--seconds N] [--chromium PATH]');
  process.exit(2);
}
const seconds = Number(option('seconds', '3'));
const browser = await chromium.launch({
  executablePath: option('chromium', process.env.CHROMIUM ?? '/usr/bin/chromium'),
  args: [
    '--no-sandbox',
    '--disable-gpu',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
    '--no-first-run',
    '--autoplay-policy=no-user-gesture-required',
  ],
});
let result;
try {
  const page = await browser.newPage();
  await page.setContent('<video id="v" muted playsinline></video>');
  result = await page.evaluate(
    async ({ url, seconds }) => {
      const video = document.getElementById('v');
      const error = () => (video.error ? `media error ${video.error.code}: ${video.error.message}` : null);
      video.src = url;
      try {
        await video.play();
      } catch (e) {
        return { error: `play() refused: ${e}`, currentTime: 0, totalVideoFrames: 0 };
      }
      await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
      const quality = video.getVideoPlaybackQuality();
      return {
        currentTime: video.currentTime,
        duration: video.duration,
        totalVideoFrames: quality.totalVideoFrames,
        droppedVideoFrames: quality.droppedVideoFrames,
        width: video.videoWidth,
        height: video.videoHeight,
        error: error(),
      };
    },
    { url, seconds },
  );
} finally {
  await browser.close();
}
console.log(JSON.stringify(result));
process.exit(result.currentTime > 0.5 && result.totalVideoFrames > 0 && !result.error ? 0 : 1);
