/**
 * What every benchmark script returns: a section of figures, each measured in the
 * same run as its reference so that the README can quote ratios.
 */
export interface Figure {
  /** e.g. 'llist add+del_all+reverse (wasm)' */
  name: string;
  /** the measured value */
  value: number;
  /** e.g. 'ns/item', 'M items/s', 'ns/op' */
  unit: string;
  /** extra measured facts printed beside the figure: exactly-once check, wake-ups per 1000 items, ... */
  notes?: Record<string, number | string | boolean>;
}

export interface Ratio {
  /** e.g. 'wasm vs ts reference' */
  name: string;
  value: number;
  /** the floor the issue sets, when there is one; `pass` says whether this run met it */
  floor?: number;
  pass?: boolean;
}

export interface BenchSection {
  /** the question this script answers */
  title: string;
  figures: Figure[];
  ratios: Ratio[];
  /** one-line notes printed under the section (e.g. why the native C figures are missing) */
  notes?: string[];
}

export interface BenchOptions {
  /** a short run (the whole `--quick` suite finishes in under 2 minutes) */
  quick: boolean;
}

export type BenchScript = (opts: BenchOptions) => Promise<BenchSection>;
