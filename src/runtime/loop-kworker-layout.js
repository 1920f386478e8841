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
/**
 * The harness's tag-wait words (Int32, their own SharedArrayBuffer; not kernel state):
 * WAITERS submitters asleep for a free loop_cmd, WAKE bumped (+ notify) by a kworker
 * that freed commands while WAITERS was not 0.
 */
export const TAGS = Object.freeze({ WAITERS: 0, WAKE: 1, WORDS: 2 });
