/** The end of a phase: its masks verified and merged into the next labelled set and pool, and the run's report. */
import { Context } from '@temporalio/activity';
import { type AcquisitionFunction, type EvaluationSplit, type LabelledItem, type PhaseRecord, runKeys, type SubmittedLabel } from '../contracts';
import { autoSummary, autoText } from '../report/auto';
import { renderSpec } from '../report/charts';
import { PHASE_TIME_CHART_FILE, phaseTimeMarkdown, phaseTimeSpec } from '../report/timing';
import type { ObjectStore } from '../store/objectStore';
import { jsonOrFail, manifestOrFail } from './datasets';
import { verifyAccepted } from './labelChecks';

interface MergeInput {
  runId: string;
  phase: number;
  labelledKey: string;
  poolKey: string;
  items: LabelledItem[];
  /** Frames doctors marked unusable: out of the pool for good. */
  unusable: readonly string[];
}

/** Writes the next phase's labelled set (new masks replace earlier ones of the same image) and pool. */
async function mergeIntoNextPhase(store: ObjectStore, input: MergeInput) {
  const labelled = await jsonOrFail<LabelledItem[]>(store, input.labelledKey, 'labelled set');
  const pool = await jsonOrFail<string[]>(store, input.poolKey, 'pool id list');
  const added = new Map(input.items.map((i) => [i.id, i]));
  const gone = new Set(input.unusable);
  const nextLabelled = [...labelled.filter((l) => !added.has(l.id)), ...added.values()];
  const nextPool = pool.filter((id) => !added.has(id) && !gone.has(id));
  const labelledKey = runKeys.labelled(input.runId, input.phase + 1);
  const poolKey = runKeys.pool(input.runId, input.phase + 1);
  await store.putJson(labelledKey, nextLabelled);
  await store.putJson(poolKey, nextPool);
  return { labelledKey, labelledCount: nextLabelled.length, poolKey, poolCount: nextPool.length };
}

/** The strategy auto's line in a run's report (none without auto). */
function autoLines(history: readonly PhaseRecord[]): string[] {
  const summary = autoSummary(history);
  return summary ? [`Strategy auto: ${autoText(summary)}`, ''] : [];
}

export function phaseMergeActivities(store: ObjectStore) {
  return {
    /**
     * Merges a phase's masks into the next labelled set and pool, after checking that every stored mask is still
     * exactly what was accepted (same content hash and foreground). Masks that are not come back in `invalid` and
     * nothing is written; the workflow asks for them again. Frames marked unusable leave the pool.
     */
    async mergePhaseLabels(input: {
      runId: string; phase: number; datasetId: string; labelledKey: string; poolKey: string; items: SubmittedLabel[]; unusable?: string[];
    }): Promise<{
      invalid: { id: string; reason: string }[]; labelledKey?: string; labelledCount?: number; poolKey?: string; poolCount?: number;
    }> {
      const ctx = Context.current();
      const manifest = await manifestOrFail(store, input.datasetId);
      const { invalid } = await verifyAccepted(store, manifest.size, input.items, (index) => ctx.heartbeat({ checked: index }));
      if (invalid.length > 0) return { invalid };
      const unusable = [...new Set([...(input.unusable ?? []), ...input.items.filter((i) => i.unusable).map((i) => i.id)])];
      const masks = input.items.filter((i) => !i.unusable);
      await store.putJson(runKeys.mergedLabels(input.runId, input.phase), {
        runId: input.runId, phase: input.phase, mergedAt: new Date().toISOString(), items: masks, ...(unusable.length ? { unusable } : {}),
      });
      const merged = await mergeIntoNextPhase(store, { ...input, items: masks.map(({ id, maskKey }) => ({ id, maskKey })), unusable });
      return { invalid, ...merged };
    },

    async writeActiveLearningReport(input: {
      runId: string; datasetId: string; acquisition: AcquisitionFunction; history: PhaseRecord[]; stopReason: string; targetIoU: number;
      labelledKey: string; stopOn?: EvaluationSplit;
    }): Promise<{ reportKey: string; markdownKey: string }> {
      const reportKey = runKeys.reportJson(input.runId);
      const markdownKey = runKeys.reportMarkdown(input.runId);
      const timeChart = phaseTimeSpec(input.history, `Time per phase, run ${input.runId}`);
      await store.putJson(reportKey, { ...input, writtenAt: new Date().toISOString() });
      const fmt = (v: number | undefined) => (v === undefined ? '—' : v.toFixed(4));
      const rows = input.history.map((h) => `| ${h.phase} | ${h.labelled} | ${fmt(h.valIoU)} | ${h.iou.toFixed(4)}${h.testIoUHalfWidth !== undefined ? ` ± ${h.testIoUHalfWidth.toFixed(4)}` : ''} | ${h.dice.toFixed(4)} | ${(h.trainMs / 1000).toFixed(1)} | ${h.received ?? '—'} | ${h.replaced ?? '—'} |`);
      const last = input.history.at(-1);
      const testSet = last?.testVideos !== undefined
        ? `The test set has ${last.testVideos} video${last.testVideos === 1 ? '' : 's'}: its mean IoU comes with a 95 % interval of ± ${last.testIoUHalfWidth?.toFixed(4) ?? '— (one video gives no interval)'} ` +
          '(videos as the unit, from the per-video mean IoUs of the last phase), so differences smaller than that are not measured by it.'
        : '';
      const markdown = [
        `# Active learning ${input.runId}`, '',
        `Dataset \`${input.datasetId}\`, acquisition \`${input.acquisition}\`, target IoU ${input.targetIoU} on the ${input.stopOn ?? 'test'} split; stopped: **${input.stopReason}**.`,
        'The validation split decides when to stop; the test split only reports.', ...(testSet ? ['', testSet] : []), '',
        '| phase | labelled | validation IoU | test IoU (± 95 %) | test Dice | train s | masks received | replaced |',
        '| --- | --- | --- | --- | --- | --- | --- | --- |', ...rows, '',
        ...autoLines(input.history),
        ...phaseTimeMarkdown(input.history, timeChart ? { file: PHASE_TIME_CHART_FILE, alt: 'Time per phase' } : undefined),
      ].join('\n');
      if (timeChart) await store.putBytes(runKeys.reportTimeChart(input.runId), new TextEncoder().encode(await renderSpec(timeChart)), 'image/svg+xml');
      await store.putBytes(markdownKey, new TextEncoder().encode(markdown), 'text/markdown');
      return { reportKey, markdownKey };
    },
  };
}
