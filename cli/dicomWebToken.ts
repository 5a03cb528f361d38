/** `--token-file` of the DICOMweb commands: the Authorization header value for the archive, read from a file. */
import fs from 'node:fs';
import { authorizationFromToken } from '../data/import/dicomwebClient';
import { UsageError } from './context';

export function dicomWebAuthorization(tokenFile: string | undefined): string | undefined {
  if (!tokenFile) return undefined;
  let text: string;
  try {
    text = fs.readFileSync(tokenFile, 'utf8');
  } catch (error) {
    throw new UsageError(`--token-file ${tokenFile} cannot be read (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  if (text.trim() === '') throw new UsageError(`--token-file ${tokenFile} is empty`);
  return authorizationFromToken(text);
}
