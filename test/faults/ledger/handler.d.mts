import type { Handler } from '../../../src/handler.js';
declare const handler: Handler;
export default handler;
/** SIGKILLs this process the first time this fault fires. */
export function killOnce(name: string, fields?: Record<string, unknown>): void;
