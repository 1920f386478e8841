// @ts-check
/**
 * The loop struct offsets loop-kworker.js reads, in plain JavaScript (a worker file
 * cannot import the TypeScript src/wasm/loop.ts on Node 20); a separate module so a
 * test can import them without starting the worker's main. Mirrors src/wasm/loop.ts
 * (test/drivers/loop/threads.test.ts compares them).
 */
export const LC = Object.freeze({ NEXT: 0, TAG: 4, KEY: 8, WORKER: 16, RESULT: 20, SEQ: 24, DONE: 28, SIZE: 32 });
export const LW = Object.freeze({ WORK: 48, SIZE: 80 });
export const LO = Object.freeze({ ROOT_WORK: 144 });
export const WORK = Object.freeze({ LO: 12 });
