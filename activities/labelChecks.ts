/** The check every merge of accepted masks makes: each stored mask is still exactly what the run accepted. */
import { UNUSABLE_FRAME, type SubmittedLabel } from '../contracts';
import { maskContentHash, normaliseMaskBytes } from '../data/masks';
import type { ObjectStore } from '../store/objectStore';

/**
 * Reads every accepted mask back: gone, unreadable, or with another content hash or foreground than when it was
 * accepted → `invalid` (the workflow asks for it again). Frames marked unusable carry no mask and pass.
 */
export async function verifyAccepted(
  store: ObjectStore, size: [number, number], items: readonly SubmittedLabel[], onItem?: (index: number) => void,
): Promise<{ invalid: { id: string; reason: string }[]; masks: Map<string, Uint8Array> }> {
  const invalid: { id: string; reason: string }[] = [];
  const masks = new Map<string, Uint8Array>();
  for (const [index, item] of items.entries()) {
    onItem?.(index);
    if (item.unusable || item.contentHash === UNUSABLE_FRAME) continue;
    if (!(await store.exists(item.maskKey))) {
      invalid.push({ id: item.id, reason: `the accepted mask of '${item.id}' is gone from storage; send it again` });
      continue;
    }
    const result = await normaliseMaskBytes(await store.getBytes(item.maskKey), { size, allowEmpty: true });
    const hash = result.ok ? maskContentHash(result.mask, size) : undefined;
    if (!result.ok || hash !== item.contentHash || result.foreground !== item.foreground) {
      invalid.push({ id: item.id, reason: `the stored mask of '${item.id}' changed after it was accepted; send it again` });
      continue;
    }
    masks.set(item.id, result.mask);
  }
  return { invalid, masks };
}
