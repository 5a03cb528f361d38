/**
 * Recorded workflow histories for the replay test, stored as binary protobuf: the JSON form goes through
 * protobufjs' JSON extension, which breaks when npm installs more than one copy of protobufjs.
 */
import fs from 'node:fs';
import path from 'node:path';
import { temporal } from '@temporalio/proto';
import { projectRoot } from '../config';

export const historiesDir = path.join(projectRoot, 'test', 'fixtures', 'histories');

/** Writes the history when RECORD_HISTORIES is set (`RECORD_HISTORIES=1 npm test -- test/workflows`). */
export function recordHistory(name: string, workflowId: string, history: temporal.api.history.v1.IHistory): void {
  if (!process.env.RECORD_HISTORIES) return;
  fs.mkdirSync(historiesDir, { recursive: true });
  fs.writeFileSync(path.join(historiesDir, `${name}.bin`), temporal.api.history.v1.History.encode(history).finish());
  // Child workflow ids derive from the parent's id, so replay needs the original one.
  fs.writeFileSync(path.join(historiesDir, `${name}.workflow-id`), workflowId);
}

export function readHistory(file: string): { history: temporal.api.history.v1.History; workflowId: string } {
  const history = temporal.api.history.v1.History.decode(fs.readFileSync(path.join(historiesDir, file)));
  const workflowId = fs.readFileSync(path.join(historiesDir, file.replace(/\.bin$/, '.workflow-id')), 'utf8').trim();
  return { history, workflowId };
}
