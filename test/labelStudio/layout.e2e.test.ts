/**
 * The labelling config as a doctor sees it: a real Label Studio (started here) in a real browser (Debian's `chromium`
 * driven by puppeteer-core). For a landscape, a portrait and a square frame, at 1400 × 900 and after shrinking the window to
 * 900 × 600, the frame's on-screen box must lie inside its canvas (Label Studio clips the image to the canvas: before
 * the fix a 640 × 640 frame beside its map was drawn larger than its canvas) and inside the window; the
 * uncertainty map sits below the frame, whole too; a task without a map shows nothing in its place.
 */
import { spawnSync } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LabelStudioClient } from '../../labelling/labelStudio/client';
import { labelConfigXml } from '../../labelling/labelStudio/config';
import { taskFromRequestItem } from '../../labelling/labelStudio/convert';
import { startTestLabelStudio, TEST_LABEL_STUDIO_USER } from './helpers';

type Box = { x: number; y: number; width: number; height: number };
interface Shown { frame?: { img: Box; canvas: Box; natural: [number, number] }; map?: { img: Box; canvas: Box }; loadedImages: number; debug: unknown }

/** Debian's Chromium; the test fails, saying how to install it, when it is missing. */
function chromium(): string {
  for (const name of ['chromium', 'chromium-browser']) {
    const found = spawnSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' }).stdout.trim();
    if (found) return found;
  }
  throw new Error('chromium is not installed: this test opens Label Studio in a real browser (Debian: apt-get install chromium).');
}

/** A frame with a 4 px red border and a dot at the top centre (where the LV apex sits): cropping shows in a screenshot. */
function png(width: number, height: number, fill: string): Promise<Buffer> {
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}"><rect width="${width}" height="${height}" fill="${fill}"/>`
    + `<rect x="2" y="2" width="${width - 4}" height="${height - 4}" fill="none" stroke="red" stroke-width="4"/>`
    + `<circle cx="${width / 2}" cy="20" r="15" fill="yellow"/></svg>`;
  return sharp(Buffer.from(svg)).png().toBuffer();
}

/** Boxes of the frame's and the map's `<img>` and of the Konva canvas each is clipped to, as the page lays them out. */
const MEASURE = `(() => {
  const box = (e) => { const b = e.getBoundingClientRect(); return { x: b.x, y: b.y, width: b.width, height: b.height }; };
  // Label Studio serves task images through its own proxy URL, so they are told apart by order: the frame comes first.
  const all = [...document.querySelectorAll('.lsf-image img')];
  const shown = (img) => {
    let holder = img && img.naturalWidth > 0 ? img.parentElement : null;
    while (holder && !holder.querySelector('.konvajs-content')) holder = holder.parentElement;
    const canvas = holder && holder.querySelector('.konvajs-content');
    return canvas ? { img: box(img), canvas: box(canvas), natural: [img.naturalWidth, img.naturalHeight] } : undefined;
  };
  return { frame: shown(all[0]), map: shown(all[1]), loadedImages: all.filter((i) => i.naturalWidth > 0).length,
    debug: all.map((i) => [i.className, i.parentElement.className, i.naturalWidth]) };
})()`;

const inside = (inner: Box, outer: Box, slack = 1) => inner.x >= outer.x - slack && inner.y >= outer.y - slack
  && inner.x + inner.width <= outer.x + outer.width + slack && inner.y + inner.height <= outer.y + outer.height + slack;
const fmt = (b: Box) => `${Math.round(b.width)}×${Math.round(b.height)} at (${Math.round(b.x)}, ${Math.round(b.y)})`;

describe('the labelling config in Label Studio and Chromium', () => {
  let stopLabelStudio: (() => Promise<void>) | undefined;
  let server: http.Server | undefined;
  let browser: Browser | undefined;
  let page: Page;
  let url: string;
  let projectId: number;
  let imageBase: string;
  const tasks: Record<string, number> = {};

  beforeAll(async () => {
    const executablePath = chromium();
    const images: Record<string, Buffer> = {
      '/frame-landscape.png': await png(640, 480, '#333'), '/map-landscape.png': await png(640, 480, '#114'),
      '/frame-portrait.png': await png(480, 640, '#333'), '/map-portrait.png': await png(480, 640, '#114'),
      '/frame-square.png': await png(640, 640, '#333'), '/map-square.png': await png(640, 640, '#114'),
    };
    server = http.createServer((req, res) => {
      const body = images[req.url ?? ''];
      res.writeHead(body ? 200 : 404, { 'Content-Type': 'image/png', 'Access-Control-Allow-Origin': '*' });
      res.end(body);
    });
    await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
    imageBase = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

    const started = await startTestLabelStudio();
    stopLabelStudio = started.stop;
    url = started.ls.url;
    const client = new LabelStudioClient({ url, token: started.ls.token });
    projectId = (await client.ensureProject({ title: 'echo-al layout', labelConfig: labelConfigXml() })).project.id;
    const context = { runId: 'run-with-a-long-id-0123456789', phase: 2 };
    const item = (id: string, shape: string, map: boolean) => taskFromRequestItem({
      id, score: 0.1234, imageUrl: `${imageBase}/frame-${shape}.png`, ...(map ? { uncertaintyMapUrl: `${imageBase}/map-${shape}.png` } : {}),
    }, context);
    const ids = await client.importTasks(projectId, [
      item('landscape', 'landscape', true), item('portrait', 'portrait', true), item('square', 'square', true), item('nomap', 'landscape', false)]);
    [tasks.landscape, tasks.portrait, tasks.square, tasks.nomap] = ids;

    browser = await puppeteer.launch({ executablePath, headless: true, args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] });
    page = await browser.newPage();
    await page.setViewport({ width: 1400, height: 900 });
    await page.goto(`${url}/user/login/`, { waitUntil: 'networkidle2' });
    await page.type('input[name=email]', TEST_LABEL_STUDIO_USER.username);
    await page.type('input[name=password]', TEST_LABEL_STUDIO_USER.password);
    await Promise.all([page.waitForNavigation({ waitUntil: 'networkidle2' }), page.click('button[type=submit], input[type=submit]')]);
  }, 900_000);

  afterAll(async () => {
    await browser?.close();
    server?.close();
    await stopLabelStudio?.();
  });

  /** Opens a task at 1400 × 900, then shrinks the window to 900 × 600 as a doctor would; what is shown at each size. */
  async function open(task: number): Promise<{ size: [number, number]; shown: Shown }[]> {
    await page.setViewport({ width: 1400, height: 900 });
    await page.goto(`${url}/projects/${projectId}/data?task=${task}`, { waitUntil: 'networkidle2' });
    await page.waitForSelector('.lsf-image img', { timeout: 120_000 });
    const seen: { size: [number, number]; shown: Shown }[] = [];
    for (const size of [[1400, 900], [900, 600]] as [number, number][]) {
      await page.setViewport({ width: size[0], height: size[1] });
      // Label Studio re-fits its stage a moment after a resize.
      await new Promise((resolve) => setTimeout(resolve, 3000));
      seen.push({ size, shown: (await page.evaluate(MEASURE)) as Shown });
    }
    return seen;
  }

  for (const shape of ['landscape', 'portrait', 'square']) {
    it(`shows the whole ${shape} frame inside its canvas and the window, and the whole map below it, at 1400×900 and after shrinking to 900×600`, async () => {
      for (const { size, shown } of await open(tasks[shape])) {
        const at = `${shape} at ${size.join('×')}`;
        const { frame, map } = shown;
        expect(frame, `${at}: frame shown (${JSON.stringify(shown.debug)})`).toBeDefined();
        console.log(`${at}: frame ${fmt(frame!.img)} on canvas ${fmt(frame!.canvas)}; map ${map ? `${fmt(map.img)} on canvas ${fmt(map.canvas)}` : 'not shown'}`);
        expect(inside(frame!.img, frame!.canvas), `${at}: frame ${fmt(frame!.img)} on canvas ${fmt(frame!.canvas)}`).toBe(true);
        expect(frame!.img.y + frame!.img.height, `${at}: frame bottom within the window`).toBeLessThanOrEqual(size[1]);
        expect(frame!.img.x + frame!.img.width, `${at}: frame right edge within the window`).toBeLessThanOrEqual(size[0]);
        // Whole means unstretched too: the on-screen aspect is the image's.
        expect(frame!.img.width / frame!.img.height).toBeCloseTo(frame!.natural[0] / frame!.natural[1], 1);
        expect(map, `${at}: map shown`).toBeDefined();
        expect(inside(map!.img, map!.canvas), `${at}: map ${fmt(map!.img)} on canvas ${fmt(map!.canvas)}`).toBe(true);
        expect(map!.canvas.y, `${at}: map below the frame, not beside it`).toBeGreaterThanOrEqual(frame!.canvas.y + frame!.canvas.height - 1);
      }
    });
  }

  it('shows no map and no map heading for a task without one', async () => {
    for (const { size, shown } of await open(tasks.nomap)) {
      expect(shown.frame, `frame at ${size.join('×')}`).toBeDefined();
      expect(inside(shown.frame!.img, shown.frame!.canvas)).toBe(true);
      expect(shown.map).toBeUndefined();
      expect(shown.loadedImages).toBe(1);
    }
    const text = await page.evaluate('document.body.innerText') as string;
    expect(text).toContain('no uncertainty map for this image');
    expect(text).not.toMatch(/^Model uncertainty/m);
  });
});
