/** The CLI's contract with its user, without a worker: help, version, exit codes, one-line errors, early checks. */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { projectRoot } from '../../config';
import { ACQUISITION_FUNCTIONS, PREDICT_ENGINES } from '../../contracts';

interface Run { status: number; out: string; err: string }

function cli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<Run> {
  return new Promise((resolve) => {
    execFile(path.join(projectRoot, 'node_modules', '.bin', 'tsx'), ['client.ts', ...args], {
      cwd: projectRoot, timeout: 60_000, env: { ...process.env, ...env },
    }, (error, stdout, stderr) => resolve({ status: error ? Number(error.code ?? 1) : 0, out: stdout, err: stderr }));
  });
}

/** Services nobody listens on: a command that contacts them would fail naming them. */
const unreachable = { TEMPORAL_ADDRESS: '127.0.0.1:9', MINIO_PORT: '9' };

function oneErrorLine(run: Run): string {
  const lines = run.err.trim().split('\n');
  expect(lines, run.err).toHaveLength(1);
  expect(lines[0]).toMatch(/^error: /);
  return lines[0];
}

describe('client.ts usage', () => {
  it('prints help for the program and for each command with -h/--help, exit 0', async () => {
    const top = await cli(['--help']);
    expect(top.status).toBe(0);
    for (const command of ['dataset', 'models', 'search', 'al', 'pipeline', 'benchmark', 'runs', 'status', 'leaderboard', 'labels', 'stop', 'report']) {
      expect(top.out).toContain(command);
    }
    for (const flag of ['--help', '-h']) {
      const help = await cli(['al', 'start', flag]);
      expect(help.status, help.err).toBe(0);
      expect(help.out).toContain('Usage: client.ts al start [options]');
      for (const option of ['--dataset <id>', '--acquisition <fn>', '--mc-samples <T>', '--max-per-group <n>', '--no-augment']) expect(help.out).toContain(option);
      // The choices come from the contracts layer.
      for (const fn of ACQUISITION_FUNCTIONS) expect(help.out).toContain(`"${fn}"`);
    }
    const submit = await cli(['labels', 'submit', '--help']);
    expect(submit.out).toContain('--dir <dir>');
  });

  it('prints the version', async () => {
    const version = await cli(['--version']);
    const pkg = JSON.parse(fs.readFileSync(path.join(projectRoot, 'package.json'), 'utf8')) as { version: string };
    expect(version).toMatchObject({ status: 0, out: `${pkg.version}\n` });
  });

  it('answers usage errors with one error line, a suggestion for typos, and exit 2', async () => {
    const typoCommand = await cli(['stauts', 'x']);
    expect(typoCommand.status).toBe(2);
    expect(oneErrorLine(typoCommand)).toContain('Did you mean status?');
    const typoOption = await cli(['al', 'start', '--dataset', 'x', '--acquisiton', 'mfe']);
    expect(typoOption.status).toBe(2);
    expect(oneErrorLine(typoOption)).toContain('Did you mean --acquisition?');
    const badChoice = await cli(['al', 'start', '--dataset', 'x', '--acquisition', 'entropy']);
    expect(badChoice.status).toBe(2);
    expect(oneErrorLine(badChoice)).toContain(`Allowed choices are ${ACQUISITION_FUNCTIONS.join(', ')}`);
    // The engine of a run's evaluation and scoring, offered by every command that starts one, from the contracts' list.
    for (const command of ['al', 'pipeline', 'benchmark']) {
      const badEngine = await cli([command, 'start', '--dataset', 'x', '--engine', 'torch']);
      expect(badEngine.status, command).toBe(2);
      expect(oneErrorLine(badEngine)).toContain(`Allowed choices are ${PREDICT_ENGINES.join(', ')}`);
    }
    const badNumber = await cli(['al', 'start', '--dataset', 'x', '--k', '0']);
    expect(badNumber.status).toBe(2);
    expect(oneErrorLine(badNumber)).toContain("'--k <n>' argument '0' is invalid. Needs a positive integer.");
    const excess = await cli(['status', 'a', 'b']);
    expect(excess.status).toBe(2);
    oneErrorLine(excess);
  });

  it('checks required and conflicting options before contacting any service', async () => {
    const noDir = await cli(['dataset', 'import', '--format', 'pairs'], unreachable);
    expect(noDir.status).toBe(2);
    expect(oneErrorLine(noDir)).toBe('error: --format pairs needs --dir');
    const missingDir = await cli(['dataset', 'import', '--format', 'camus', '--dir', '/nonexistent/echo'], unreachable);
    expect(oneErrorLine(missingDir)).toBe('error: --dir /nonexistent/echo is not a folder');
    const noDataset = await cli(['al', 'start'], unreachable);
    expect(noDataset.status).toBe(2);
    expect(oneErrorLine(noDataset)).toContain("required option '--dataset <id>' not specified");
    const unknownEncoder = await cli(['al', 'start', '--dataset', 'x', '--encoder', 'resnet1000'], unreachable);
    expect(unknownEncoder.status).toBe(2);
    expect(oneErrorLine(unknownEncoder)).toContain("unknown encoder 'resnet1000'");
    for (const run of [noDir, missingDir, noDataset, unknownEncoder]) expect(run.err).not.toMatch(/MinIO|Temporal|reach/i);
  });

  it('rejects options a command would ignore', async () => {
    const cases: [string[], RegExp][] = [
      [['benchmark', 'start', '--dataset', 'x', '--acquisition', 'mfe'], /unknown option '--acquisition'/],
      [['benchmark', 'start', '--dataset', 'x', '--acquisitions', 'mfe,random'], /--acquisitions is now --strategies \(e\.g\. --strategies mfe,random;/],
      [['benchmark', 'start', '--dataset', 'x', '--strategies', 'mfe:greedy'], /error: .*greedy/],
      [['pipeline', 'start', '--dataset', 'x', '--arch', 'Unet'], /unknown option '--arch'/],
      [['benchmark', 'start', '--dataset', 'x', '--arch', 'FPN'], /error: --arch is chosen by the search; drop it, or add --no-search/],
      [['benchmark', 'start', '--dataset', 'x', '--no-search', '--trials', '3'], /error: --trials configures the search, which --no-search skips/],
      [['dataset', 'import', '--format', 'pairs', '--dir', '.', '--views', '2CH'], /error: --views does not apply to --format pairs/],
      [['dataset', 'import', '--format', 'synthetic', '--mask-pattern', '{stem}.png'], /error: --mask-pattern does not apply to --format synthetic/],
      [['al', 'start', '--dataset', 'x', '--auto', '--acquisition', 'random'], /error: --auto chooses the acquisition and selection itself; drop --acquisition/],
      [['al', 'start', '--dataset', 'x', '--auto-phases', '3'], /error: --auto-phases applies to the strategy auto \(--auto\)/],
      [['benchmark', 'start', '--dataset', 'x', '--no-search', '--strategies', 'random,mfe', '--auto-candidates', 'random,mfe'], /error: --auto-candidates applies to the strategy auto \(auto in --strategies\)/],
      [['benchmark', 'start', '--dataset', 'x', '--no-search', '--strategies', 'random,auto', '--auto-candidates', 'random'], /error: --auto-candidates: auto needs at least two candidates/],
      [['pipeline', 'start', '--dataset', 'x', '--auto', '--auto-candidates', 'random,random:badge'], /error: --auto-candidates: selection 'badge' reads the uncertainty model's features/],
    ];
    for (const [args, message] of cases) {
      const run = await cli(args, unreachable);
      expect(run.status, args.join(' ')).toBe(2);
      expect(oneErrorLine(run)).toMatch(message);
    }
  });

  it('accepts negative numbers where they are valid, and reports runtime errors with exit 1', async () => {
    // The seed parses; the run then fails at runtime on the unknown dataset (the real services answer).
    const negativeSeed = await cli(['al', 'start', '--dataset', 'ds-does-not-exist', '--seed', '-3']);
    expect(negativeSeed.status).toBe(1);
    expect(oneErrorLine(negativeSeed)).toContain("no dataset 'ds-does-not-exist'");
    const unknownRun = await cli(['status', 'no-such-run-anywhere']);
    expect(unknownRun.status).toBe(1);
    expect(oneErrorLine(unknownRun)).toContain("no run 'no-such-run-anywhere'");
    const down = await cli(['runs', 'list'], unreachable);
    expect(down.status).toBe(1);
    expect(oneErrorLine(down)).toContain('Cannot reach Temporal at 127.0.0.1:9');
  });

  it('writes a --json document over 64 KiB completely into a pipe, even to a slow reader', async () => {
    // The reader pauses after each chunk, so the pipe's 64 KiB buffer fills: the CLI must wait for it to drain before
    // it exits, or the document is cut at 65,536 bytes.
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'echo-pipe-'));
    const reader = path.join(dir, 'reader.cjs');
    fs.writeFileSync(reader, `
      const chunks = [];
      process.stdin.on('data', (chunk) => {
        chunks.push(chunk);
        process.stdin.pause();
        setTimeout(() => process.stdin.resume(), 200);
      });
      process.stdin.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let entries = -1;
        try { entries = Object.keys(JSON.parse(text)).length; } catch {}
        process.stdout.write(JSON.stringify({ bytes: Buffer.byteLength(text), entries }));
      });`);
    const tsx = path.join(projectRoot, 'node_modules', '.bin', 'tsx');
    const piped = await new Promise<{ out: string; err: string }>((resolve) => {
      execFile('sh', ['-c', '"$0" client.ts models --json | "$1" "$2"', tsx, process.execPath, reader], { cwd: projectRoot, timeout: 120_000 },
        (_error, stdout, stderr) => resolve({ out: stdout, err: stderr }));
    });
    fs.rmSync(dir, { recursive: true, force: true });
    const { bytes, entries } = JSON.parse(piped.out) as { bytes: number; entries: number };
    expect(bytes, piped.err).toBeGreaterThan(64 * 1024);
    expect(entries, `${bytes} bytes did not parse as JSON`).toBeGreaterThan(0);
  }, 150_000);
});
