/** labels pending | submit | serve: the doctors' side of the loop. */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { Command } from '../client';
import { createLabelServer } from '../labelling/server';
import { type MaskUpload, pendingRequest, SubmissionError, submitMasks } from '../labelling/submit';
import { CliError } from './context';
import { num, oneOf } from './options';
import { activeLearningId } from './runs';

function csvCell(value: unknown): string {
  const text = value === undefined ? '' : String(value);
  return /[",\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

export const labelsPendingCommand: Command = {
  summary: 'list the images a run waits for, with presigned URLs (JSON or CSV) for a labelling tool',
  usage: 'labels pending <id> [--format json|csv]',
  options: { format: { type: 'string' } },
  async run(ctx, { positionals, values }) {
    const format = oneOf(values, 'format', ['json', 'csv'] as const, 'json');
    const id = await activeLearningId(await ctx.temporal(), positionals[0] ?? '');
    try {
      const { status, request } = await pendingRequest(await ctx.temporal(), ctx.store(), id);
      const remaining = new Set(status.pending!.remaining);
      const items = request.items.filter((item) => remaining.has(item.id));
      if (format === 'json') {
        console.log(JSON.stringify({ workflowId: id, phase: request.phase, size: request.size, requestKey: status.pending!.requestKey, items }, null, 2));
      } else {
        const columns = ['id', 'group', 'score', 'imageUrl', 'uncertaintyMapUrl', 'maskUploadKey', 'maskUploadUrl'] as const;
        console.log(columns.join(','));
        for (const item of items) console.log(columns.map((c) => csvCell(item[c])).join(','));
      }
    } catch (error) {
      if (error instanceof SubmissionError) throw new CliError(error.message);
      throw error;
    }
  },
};

export const labelsSubmitCommand: Command = {
  summary: 'upload a folder of masks (<id>.png) for the pending request, then signal the run',
  usage: 'labels submit <id> --dir MASKS [--phase N]',
  options: { dir: { type: 'string' }, phase: { type: 'string' } },
  async run(ctx, { positionals, values }) {
    const id = await activeLearningId(await ctx.temporal(), positionals[0] ?? '');
    if (!values.dir) throw new CliError('--dir is required: a folder of <image id>.png masks');
    const dir = path.resolve(String(values.dir));
    if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) throw new CliError(`${dir} is not a folder`);
    const files = fs.readdirSync(dir).filter((f) => f.toLowerCase().endsWith('.png')).sort();
    if (files.length === 0) throw new CliError(`${dir} has no .png masks`);
    const uploads: MaskUpload[] = files.map((f) => ({ id: f.replace(/\.png$/i, ''), png: new Uint8Array(fs.readFileSync(path.join(dir, f))) }));
    const phase = values.phase === undefined ? undefined : num(values, 'phase', 0, (n) => Number.isInteger(n) && n >= 0, 'a phase number');
    try {
      console.log(`uploading ${uploads.length} masks to ${id}…`);
      const outcome = await submitMasks(await ctx.temporal(), ctx.store(), id, phase, uploads);
      console.log(`accepted ${outcome.accepted.length}, rejected ${outcome.rejected.length}, still waiting for ${outcome.remaining.length}`);
      for (const r of outcome.rejected) console.log(`  rejected ${r.id ?? ''}: ${r.reason}`);
      if (outcome.rejected.length > 0) process.exitCode = 1;
    } catch (error) {
      if (error instanceof SubmissionError) throw new CliError(error.message);
      throw error;
    }
  },
};

export const labelsServeCommand: Command = {
  summary: 'serve the labelling-tool callback endpoint (POST /labels, bearer token)',
  usage: 'labels serve [--port 8787] [--host 127.0.0.1] [--token T | LABELS_TOKEN]',
  options: { port: { type: 'string' }, host: { type: 'string' }, token: { type: 'string' } },
  async run(ctx, { values }) {
    const port = num(values, 'port', 8787, (n) => Number.isInteger(n) && n > 0 && n < 65536, 'a port');
    const host = values.host ? String(values.host) : '127.0.0.1';
    const token = values.token ? String(values.token) : process.env.LABELS_TOKEN || randomBytes(18).toString('base64url');
    const client = await ctx.temporal();
    const server = createLabelServer({ client, store: ctx.store(), token, resolveRun: (runId) => activeLearningId(client, runId) });
    await new Promise<void>((resolve, reject) => {
      server.once('error', (error: NodeJS.ErrnoException) => reject(new CliError(error.code === 'EADDRINUSE' ? `port ${port} is taken; choose another with --port` : error.message)));
      server.listen(port, host, resolve);
    });
    console.log(`labelling endpoint on http://${host}:${port}/labels (token: ${values.token || process.env.LABELS_TOKEN ? 'as given' : token}); Ctrl-C stops it`);
    await new Promise<void>((resolve) => {
      const stop = () => server.close(() => resolve());
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });
  },
};
