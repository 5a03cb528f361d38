/** The contracts layer: names, keys, payload types and pure rules shared by workflows, activities, the ML library and the CLI. */
export * from './activeLearning';
export * from './benchmark';
export * from './common';
export * from './keys';
export * from './labelling';
export * from './names';
export * from './pipeline';
export * from './predict';
export * from './ranking';
export * from './roundTrip';
export * from './search';
export * from './strategy';
export * from './training';
