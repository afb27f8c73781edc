// gtc client: connect to a gtc coordinator and run a worker.
export * from './types.js';
export * from './errors.js';
export * from './client.js';
export * from './env.js';
