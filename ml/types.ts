/**
 * Contracts shared by the model zoo, the trainer, the MC engine and the activities.
 * Plain JSON types only: these travel through Temporal payloads and manifests.
 */

import type { ArchName, DropoutStrategy } from '../contracts/names';

export type { ArchName, DropoutStrategy };

export interface DropoutConfig {
  strategy: DropoutStrategy;
  rate: number;
}

export interface ModelConfig {
  arch: ArchName;
  /** segmentation_models_pytorch encoder name, e.g. 'resnet34', 'timm-regnety_120'. */
  encoder: string;
  /** Number of encoder stages, 3–5; each halves H and W. */
  encoderDepth: number;
  /** [height, width, channels]; channels 1 or 3. */
  inputShape: [number, number, number];
  /** 1 → sigmoid output; ≥ 2 → softmax output. */
  classes: number;
  dropout: DropoutConfig;
  /**
   * Multiplies every channel count of encoder and decoder (default 1 = the faithful smp structure).
   * Tests use small values (e.g. 0.125) to keep models tiny.
   */
  widthScale?: number;
  seed?: number;
  /** The PyTorch weights the model started from (a trained model's metadata): file hash and source name. */
  weightsOrigin?: { source: string; sha256: string; scope: 'encoder' | 'model' };
}
