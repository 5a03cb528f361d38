export { roundTrip } from './roundTrip';
