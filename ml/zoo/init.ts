/**
 * The zoo's initialisation scope: every weight the blocks create takes its initialiser from here, so one setting
 * makes a whole build seeded (reproducible), random, or zero-filled (cheap, when only shapes and counts matter).
 */
import * as tf from '@tensorflow/tfjs';
import type { Initializer } from '../layers';

export interface InitSettings {
  /** 'random' = Kaiming-uniform convs (PyTorch-like); 'zeros' = cheap allocation when only shapes/counts matter. */
  mode: 'random' | 'zeros';
  /** Base seed; each weight gets base + running index, so a seeded build is reproducible. */
  seed?: number;
}

let initSettings: InitSettings = { mode: 'random' };
let initCounter = 0;

/** Runs a synchronous model build with the given initialisation settings (restored afterwards). */
export function withInitSettings<T>(settings: InitSettings, build: () => T): T {
  const saved = initSettings;
  const savedCounter = initCounter;
  initSettings = settings;
  initCounter = 0;
  try {
    return build();
  } finally {
    initSettings = saved;
    initCounter = savedCounter;
  }
}

function nextSeed(): number | undefined {
  initCounter += 1;
  return initSettings.seed === undefined ? undefined : initSettings.seed * 7919 + initCounter;
}

/** Kaiming-uniform (fan-in, gain √2) for weights followed by ReLU-like activations. */
export function kernelInitializer(): Initializer {
  if (initSettings.mode === 'zeros') return tf.initializers.zeros();
  return tf.initializers.varianceScaling({ scale: 2, mode: 'fanIn', distribution: 'uniform', seed: nextSeed() });
}

/** Glorot-uniform, as smp initialises segmentation heads. */
export function headInitializer(): Initializer {
  if (initSettings.mode === 'zeros') return tf.initializers.zeros();
  return tf.initializers.glorotUniform({ seed: nextSeed() });
}
