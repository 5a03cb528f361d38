export { activeLearning } from './activeLearning';
export { benchmark } from './benchmark';
export { pipeline } from './pipeline';
export { predict } from './predict';
export { roundTrip } from './roundTrip';
export { search } from './search';
