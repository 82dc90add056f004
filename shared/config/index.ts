/** The app settings, parsed and checked once. */
export { loadSettings, settings, type WritebackSettings } from './settings.js';
