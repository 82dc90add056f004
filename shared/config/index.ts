/** The app settings, parsed and checked once. */
export { loadSettings, settings, type AppSettings, type Environment } from './settings.js';
