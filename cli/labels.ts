/** labels pending | submit | serve | sync: the doctors' side of the loop. */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { type Command, Option } from 'commander';
import { REQUEST_FORMATS, type RequestFormat } from '../contracts';
import { DicomWebClient, DicomWebError } from '../data/import/dicomwebClient';
import { pollDicomWebSegs } from '../labelling/dicomSegPoll';
import { type LabelStudioConnection, pollRun } from '../labelling/labelStudioBridge';
import {
  createLabelServer, DEFAULT_MAX_BODY_BYTES, DEFAULT_MAX_CONCURRENT, DEFAULT_MAX_QUEUED, DEFAULT_QUEUE_TIMEOUT_MS, isLoopback,
} from '../labelling/server';
import { type SegFile, SegLabelsRefused, segMaskUploads } from '../labelling/dicomSegLabels';
import { type MaskUpload, pendingRequest, SubmissionError, submitMasks } from '../labelling/submit';
import { type CliContext, CliError, UsageError } from './context';
import { existingDicomSalt } from './dicomSalt';
import { dicomWebAuthorization } from './dicomWebToken';
import { duration, listOf, nonNegativeInt, port, positiveInt } from './parse';
import { activeLearningId } from './runs';

/** Mask files `labels submit` reads (the normaliser decides whether each is usable). */
const MASK_EXTENSIONS = ['.png', '.tif', '.tiff', '.jpg', '.jpeg'];
/** DICOM SEG files `labels submit` reads (any name: their frames say which images they segment). */
const SEG_EXTENSIONS = ['.dcm'];

/** `--label`: a grey value (image masks) or segment number (SEG), or a segment's label (SEG only). */
function labelChoice(value: string): number | string {
  return /^\d+$/.test(value) ? positiveInt(value) : value;
}

function csvCell(value: unknown): string {
  const text = value === undefined ? '' : String(value);
  return /[",\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/** Submission errors are the user's to fix: one line (plus each rejected item), exit 1; refused SEG files exit 2. */
async function asCliError<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if (error instanceof SegLabelsRefused) throw new UsageError(error.message);
    if (error instanceof SubmissionError) {
      const details = error.rejected.length > 1 ? `: ${error.rejected.map((r) => `${r.id ?? '?'}: ${r.reason}`).join('; ')}` : '';
      throw new CliError(`${error.message}${details}`);
    }
    throw error;
  }
}

/** A secret from a file (never from the command line, where `ps` shows it) or the environment. */
function readSecret(option: string, file: string | undefined, fromEnv: string | undefined, envName: string): { value?: string; source: string } {
  if (file) {
    let text: string;
    try {
      text = fs.readFileSync(path.resolve(file), 'utf8').trim();
    } catch (error) {
      throw new UsageError(`${option} ${file}: ${(error as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (error as Error).message}`);
    }
    if (text.length < 16) throw new UsageError(`${option} ${file}: the secret must be at least 16 characters`);
    return { value: text, source: `from ${file}` };
  }
  return fromEnv ? { value: fromEnv, source: `from ${envName}` } : { source: 'not set' };
}

function labelStudioConnection(ctx: CliContext): LabelStudioConnection {
  const { url, token } = ctx.config.labelStudio;
  if (!url || !token) throw new UsageError('Label Studio is not configured: set LABEL_STUDIO_URL and LABEL_STUDIO_TOKEN');
  return { url, token };
}

/** `labels sync --dicomweb`: the requested frames' DICOM SEGs from the archive, each submitted on its own. */
async function syncDicomWeb(ctx: CliContext, runId: string, options: { dicomweb: string; query?: string; tokenFile?: string; label?: number | string; json?: boolean }) {
  const salt = existingDicomSalt(ctx);
  let pacs: DicomWebClient;
  try {
    pacs = new DicomWebClient({ url: options.dicomweb, authorization: dicomWebAuthorization(options.tokenFile) });
  } catch (error) {
    if (error instanceof DicomWebError) throw new UsageError(error.message.replace('--url', '--dicomweb'));
    throw error;
  }
  const client = await ctx.temporal();
  const id = await activeLearningId(client, runId);
  const outcomes = await asCliError(() => pollDicomWebSegs(client, ctx.store(), pacs, id, {
    salt, ...(options.label !== undefined ? { segment: options.label } : {}), ...(options.query ? { query: new URLSearchParams(options.query) } : {}),
  }));
  if (options.json) return console.log(JSON.stringify({ workflowId: id, segs: outcomes }, null, 2));
  const count = (pick: (o: (typeof outcomes)[number]) => boolean) => outcomes.filter(pick).length;
  console.log(`${outcomes.length} SEGs of the requested studies: ${count((o) => Boolean(o.outcome?.accepted.length))} accepted, ` +
    `${count((o) => Boolean(o.outcome?.replaced.length))} replaced, ${count((o) => Boolean(o.outcome?.duplicates.length))} already received, ` +
    `${count((o) => o.skipped !== undefined)} left alone, ${count((o) => o.rejected !== undefined)} rejected`);
  for (const o of outcomes.filter((x) => x.rejected)) console.log(`  rejected ${o.seg}: ${o.rejected}`);
}

export function registerLabelsCommands(program: Command, ctx: CliContext): void {
  const labels = program.command('labels').description('the doctors\' side: pending requests, mask submission, the labelling-tool endpoint, Label Studio sync');

  labels.command('pending').description('list the images a run waits for, with presigned URLs (JSON or CSV) for a labelling tool')
    .argument('<id>', 'active-learning or pipeline id')
    .addOption(new Option('--format <format>', 'output format').choices(REQUEST_FORMATS).default('json'))
    .action(async (runId: string, options: { format: RequestFormat }) => {
      const id = await activeLearningId(await ctx.temporal(), runId);
      const { status, request } = await asCliError(async () => pendingRequest(await ctx.temporal(), ctx.store(), id));
      const remaining = new Set(status.pending!.remaining);
      const items = request.items.filter((item) => remaining.has(item.id));
      if (options.format === 'json') {
        console.log(JSON.stringify({ workflowId: id, phase: request.phase, size: request.size, requestKey: status.pending!.requestKey, items }, null, 2));
        return;
      }
      const columns = ['id', 'group', 'purpose', 'score', 'imageUrl', 'uncertaintyMapUrl', 'predictionUrl', 'maskUploadKey', 'maskUploadUrl'] as const;
      console.log(columns.join(','));
      for (const item of items) console.log(columns.map((c) => csvCell(item[c])).join(','));
    });

  labels.command('submit')
    .description('check a folder of masks (<image id>.png, .tif or .jpg, and DICOM SEG .dcm files) for the pending request; if all are good, store them and send them to the run')
    .argument('<id>', 'active-learning or pipeline id')
    .option('--dir <dir>', 'folder of <image id>.<ext> masks and DICOM SEG objects (*.dcm, matched to frames through DICOM_ID_SALT)')
    .option('--unusable <ids>', 'comma-separated ids of requested frames that cannot be labelled (no LV visible, off-axis): they leave the pool and are replaced', listOf((s) => s))
    .option('--phase <n>', 'the phase these masks answer (default: the one waiting)', nonNegativeInt)
    .option('--label <n>', 'grey value of the structure in multi-label masks (default: the run\'s); in DICOM SEGs with several segments, the segment number or label', labelChoice)
    .option('--allow-empty [ids]', 'accept empty masks (the frame truly shows no LV): for all, or only these comma-separated ids', listOf((s) => s))
    .option('--json', 'print the outcome as JSON')
    .action(async (runId: string, options: { dir?: string; unusable?: string[]; phase?: number; label?: number | string; allowEmpty?: true | string[]; json?: boolean }) => {
      if (!options.dir && !options.unusable) throw new UsageError('give --dir with masks, --unusable with frame ids, or both');
      const uploads: MaskUpload[] = [];
      const segFiles: SegFile[] = [];
      const emptyAllowed = (id: string) => options.allowEmpty === true || (Array.isArray(options.allowEmpty) && options.allowEmpty.includes(id));
      if (options.dir) {
        const dir = path.resolve(options.dir);
        if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) throw new UsageError(`--dir ${dir} is not a folder`);
        const files = fs.readdirSync(dir).filter((f) => [...MASK_EXTENSIONS, ...SEG_EXTENSIONS].includes(path.extname(f).toLowerCase())).sort();
        if (files.length === 0) throw new UsageError(`--dir ${dir} has no masks (${[...MASK_EXTENSIONS, ...SEG_EXTENSIONS].join(', ')})`);
        for (const f of files) {
          const bytes = new Uint8Array(fs.readFileSync(path.join(dir, f)));
          if (SEG_EXTENSIONS.includes(path.extname(f).toLowerCase())) {
            segFiles.push({ name: f, bytes });
            continue;
          }
          const id = f.slice(0, -path.extname(f).length);
          if (options.unusable?.includes(id)) throw new UsageError(`'${id}' has a mask in --dir and is listed in --unusable: keep one`);
          if (typeof options.label === 'string') throw new UsageError(`--label ${options.label}: image masks need a grey value (a number); a label names a segment of DICOM SEGs only`);
          uploads.push({ id, bytes, ...(emptyAllowed(id) ? { allowEmpty: true } : {}) });
        }
      }
      const salt = segFiles.length > 0 ? existingDicomSalt(ctx) : undefined;
      for (const id of options.unusable ?? []) uploads.push({ id, unusable: true });
      const id = await activeLearningId(await ctx.temporal(), runId);
      if (salt) {
        const { request } = await asCliError(async () => pendingRequest(await ctx.temporal(), ctx.store(), id));
        const fromSegs = await asCliError(() => segMaskUploads(ctx.store(), id, request, segFiles, { salt, segment: options.label, source: 'cli' }));
        uploads.push(...fromSegs.map((upload) => ({ ...upload, ...(emptyAllowed(upload.id) ? { allowEmpty: true } : {}) })));
      }
      if (!options.json) console.log(`checking ${uploads.length} masks for ${id}…`);
      const maskLabel = typeof options.label === 'number' ? options.label : undefined;
      const outcome = await asCliError(async () => submitMasks(await ctx.temporal(), ctx.store(), id, uploads, { phase: options.phase, source: 'cli', label: maskLabel }));
      if (options.json) return console.log(JSON.stringify({ workflowId: id, ...outcome }, null, 2));
      console.log(`accepted ${outcome.accepted.length}, replaced ${outcome.replaced.length}, already received ${outcome.duplicates.length}; ` +
        `still waiting for ${outcome.remaining.length}`);
    });

  labels.command('serve').description('serve the labels endpoint for labelling tools and Label Studio (POST /labels, /webhook, /predict)')
    .option('--port <port>', 'port to listen on', port, 8787)
    .option('--host <host>', 'address to bind (anything but loopback needs --tls-cert/--tls-key or --allow-plain-http)', '127.0.0.1')
    .option('--token-file <file>', 'read the bearer token from this file (default: LABELS_TOKEN, or a generated one that is printed)')
    .option('--webhook-secret-file <file>', 'read Label Studio\'s webhook secret from this file (default: LABELS_WEBHOOK_SECRET; none: /webhook is off)')
    .option('--tls-cert <file>', 'serve HTTPS with this PEM certificate (with --tls-key)')
    .option('--tls-key <file>', 'the certificate\'s PEM private key')
    .option('--allow-plain-http', 'allow plain HTTP on a non-loopback address (tokens and masks then cross the network unencrypted)')
    .option('--max-body-mb <n>', 'largest request body in MiB', positiveInt, DEFAULT_MAX_BODY_BYTES / 1024 / 1024)
    .option('--max-concurrent <n>', 'request bodies read at once (more wait their turn in the queue)', positiveInt, DEFAULT_MAX_CONCURRENT)
    .option('--max-queued <n>', 'requests queued or in progress at once (more get 503 with Retry-After)', positiveInt, DEFAULT_MAX_QUEUED)
    .option('--queue-timeout <duration>', 'longest wait of a queued request for its turn, e.g. 2m (then 503 with Retry-After)', duration, DEFAULT_QUEUE_TIMEOUT_MS)
    .option('--poll <duration>', 'also poll Label Studio (LABEL_STUDIO_URL) for annotations of running connected runs this often, e.g. 60s', duration)
    .action(async (options: {
      port: number; host: string; tokenFile?: string; webhookSecretFile?: string; tlsCert?: string; tlsKey?: string; allowPlainHttp?: boolean;
      maxBodyMb: number; maxConcurrent: number; maxQueued: number; queueTimeout: number; poll?: number;
    }) => {
      if (Boolean(options.tlsCert) !== Boolean(options.tlsKey)) throw new UsageError('--tls-cert and --tls-key go together');
      const tls = options.tlsCert && options.tlsKey ? { certFile: path.resolve(options.tlsCert), keyFile: path.resolve(options.tlsKey) } : undefined;
      for (const file of [tls?.certFile, tls?.keyFile]) if (file && !fs.existsSync(file)) throw new UsageError(`${file} does not exist`);
      if (!tls && !isLoopback(options.host) && !options.allowPlainHttp) {
        throw new UsageError(`refusing plain HTTP on ${options.host}: give --tls-cert and --tls-key, or --allow-plain-http behind a TLS proxy`);
      }
      const pollMs = options.poll;
      const token = readSecret('--token-file', options.tokenFile, ctx.config.labels.token, 'LABELS_TOKEN');
      const generated = token.value === undefined;
      const bearer = token.value ?? randomBytes(18).toString('base64url');
      const secret = readSecret('--webhook-secret-file', options.webhookSecretFile, ctx.config.labels.webhookSecret, 'LABELS_WEBHOOK_SECRET');
      const connection = pollMs !== undefined ? labelStudioConnection(ctx) : undefined;
      const client = await ctx.temporal();
      const server = createLabelServer({
        client, store: ctx.store(), token: bearer, webhookSecret: secret.value, tls,
        maxBodyBytes: options.maxBodyMb * 1024 * 1024, maxConcurrent: options.maxConcurrent, maxQueued: options.maxQueued, queueTimeoutMs: options.queueTimeout,
        resolveRun: (runId) => activeLearningId(client, runId),
      });
      await new Promise<void>((resolve, reject) => {
        server.once('error', (error: NodeJS.ErrnoException) => reject(new CliError(error.code === 'EADDRINUSE' ? `port ${options.port} is taken; choose another with --port` : error.message)));
        server.listen(options.port, options.host, resolve);
      });
      const scheme = tls ? 'https' : 'http';
      if (!tls && !isLoopback(options.host)) console.error(`WARNING: plain HTTP on ${options.host}: bearer tokens and masks cross the network unencrypted`);
      console.log(`labels server on ${scheme}://${options.host}:${options.port} (POST /labels, /webhook, /predict; token ${generated ? `generated: ${bearer}` : token.source}; ` +
        `webhook secret ${secret.source}); Ctrl-C stops it`);
      let timer: NodeJS.Timeout | undefined;
      if (connection && pollMs !== undefined) {
        const pollAll = async () => {
          for await (const run of client.workflow.list({ query: "WorkflowType = 'activeLearning' AND ExecutionStatus = 'Running'" })) {
            try {
              const outcomes = await pollRun(client, ctx.store(), connection, run.workflowId);
              const changed = outcomes.filter((o) => o.outcome && (o.outcome.accepted.length || o.outcome.replaced.length));
              if (changed.length > 0) console.log(`[poll] ${run.workflowId}: ${changed.length} masks from Label Studio`);
            } catch (error) {
              if (!(error instanceof SubmissionError)) console.error(`[poll] ${run.workflowId}: ${(error as Error).message}`);
            }
          }
        };
        const tick = () => {
          pollAll().catch((error: unknown) => console.error(`[poll] ${(error as Error).message}`)).finally(() => {
            timer = setTimeout(tick, pollMs);
          });
        };
        tick();
      }
      await new Promise<void>((resolve) => {
        const stop = () => {
          clearTimeout(timer);
          server.close(() => resolve());
        };
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      });
    });

  labels.command('sync').description('read a run\'s annotations from Label Studio once (for a Label Studio that cannot reach the labels server), or with --dicomweb its doctors\' DICOM SEGs from an archive')
    .argument('<id>', 'active-learning or pipeline id')
    .option('--dicomweb <url>', 'poll this DICOMweb root (e.g. http://127.0.0.1:8042/dicom-web) for DICOM SEGs of the requested frames instead of Label Studio')
    .option('--query <params>', 'dicomweb: more QIDO-RS parameters for the SEG search, e.g. \'StudyDate=20240101-\'')
    .option('--token-file <file>', 'dicomweb: a file holding the access token (sent as a bearer token) or a whole Authorization value (\'Basic …\')')
    .option('--label <n>', 'dicomweb: in SEGs with several segments, the segment number or label', labelChoice)
    .option('--json', 'print what happened per image (per SEG with --dicomweb) as JSON')
    .action(async (runId: string, options: { dicomweb?: string; query?: string; tokenFile?: string; label?: number | string; json?: boolean }) => {
      if (!options.dicomweb && (options.query || options.tokenFile || options.label !== undefined)) throw new UsageError('--query, --token-file and --label go with --dicomweb');
      if (options.dicomweb) return syncDicomWeb(ctx, runId, { ...options, dicomweb: options.dicomweb });
      const connection = labelStudioConnection(ctx);
      const client = await ctx.temporal();
      const id = await activeLearningId(client, runId);
      const outcomes = await asCliError(() => pollRun(client, ctx.store(), connection, id));
      if (options.json) return console.log(JSON.stringify({ workflowId: id, items: outcomes }, null, 2));
      const count = (pick: (o: (typeof outcomes)[number]) => boolean) => outcomes.filter(pick).length;
      console.log(`${outcomes.length} annotated tasks: ${count((o) => Boolean(o.outcome?.accepted.length))} accepted, ` +
        `${count((o) => Boolean(o.outcome?.replaced.length))} replaced, ${count((o) => Boolean(o.outcome?.duplicates.length))} already received, ` +
        `${count((o) => o.rejected !== undefined)} rejected`);
      for (const o of outcomes.filter((x) => x.rejected)) console.log(`  rejected ${o.itemId}: ${o.rejected}`);
    });
}
