export { activeLearning } from './activeLearning';
export { pipeline } from './pipeline';
export { roundTrip } from './roundTrip';
export { search } from './search';
