/**
 * The secret behind the hashes that replace DICOM identifiers: DICOM_ID_SALT, or the one generated on first import and
 * kept in the data folder with owner-only permissions. Never stored with the dataset. Importing makes one when none
 * exists; matching DICOM SEG labels to a dataset needs the import's own salt, so it never makes one.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { CliContext } from './context';
import { UsageError } from './context';

const saltFile = (ctx: CliContext) => path.join(ctx.config.dataDir, 'dicom-salt');

function configuredSalt(ctx: CliContext): string | undefined {
  if (!ctx.config.dicomSalt) return undefined;
  if (ctx.config.dicomSalt.length < 8) throw new UsageError('DICOM_ID_SALT must be at least 8 characters');
  return ctx.config.dicomSalt;
}

/** The salt for an import: DICOM_ID_SALT, else the data folder's, generated (and announced) on first use. */
export function dicomSalt(ctx: CliContext): string {
  const configured = configuredSalt(ctx);
  if (configured) return configured;
  const file = saltFile(ctx);
  if (!fs.existsSync(file)) {
    fs.mkdirSync(ctx.config.dataDir, { recursive: true });
    fs.writeFileSync(file, `${randomBytes(24).toString('hex')}\n`, { mode: 0o600, flag: 'wx' });
    console.error(`generated the DICOM id salt in ${file}: keep it (the same salt gives the same dataset ids) and keep it private`);
  }
  return fs.readFileSync(file, 'utf8').trim();
}

/** The salt DICOM datasets were imported with: DICOM_ID_SALT, else the data folder's; a usage error when neither exists. */
export function existingDicomSalt(ctx: CliContext): string {
  const configured = configuredSalt(ctx);
  if (configured) return configured;
  const file = saltFile(ctx);
  if (!fs.existsSync(file)) {
    throw new UsageError(`DICOM SEG labels are matched to frames through the DICOM id salt of the import, but neither DICOM_ID_SALT nor ${file} exists: set DICOM_ID_SALT to the salt the dataset was imported with`);
  }
  return fs.readFileSync(file, 'utf8').trim();
}
