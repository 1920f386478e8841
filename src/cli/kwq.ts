#!/usr/bin/env node
/**
 * The `kwq` command. `commands` maps a command name to an async function taking
 * the remaining arguments and returning the exit code; add commands there.
 *   kwq tour      a short run of the threaded engine (items/s + exactly-once check)
 *   kwq help      this list
 */
import { KwqError } from '../kernel/error.js';
import { engineTour } from './engine-tour.js';

export type Command = (args: string[]) => Promise<number>;

export const commands: Record<string, { summary: string; run: Command }> = {
  tour: {
    summary: 'a short run of the threaded engine: items/s for one design, with the exactly-once check',
    run: async (args) => {
      const ms = args[0] === '--ms' ? Number(args[1]) : 1000;
      if (!Number.isFinite(ms) || ms <= 0) throw new KwqError('kwq tour', `--ms needs a positive number of milliseconds, got ${args[1]}`);
      const r = await engineTour({ durationMs: ms });
      return r.exactlyOnce ? 0 : 1;
    },
  },
  help: {
    summary: 'list the commands',
    run: async () => {
      console.log('usage: kwq <command> [args]\n');
      for (const [name, c] of Object.entries(commands)) console.log(`  ${name.padEnd(10)} ${c.summary}`);
      return 0;
    },
  },
};

export async function main(argv: string[]): Promise<number> {
  const [name = 'help', ...rest] = argv;
  const cmd = commands[name];
  if (!cmd) {
    console.error(`kwq: unknown command ${JSON.stringify(name)}; commands: ${Object.keys(commands).join(', ')}`);
    return 2;
  }
  try {
    return await cmd.run(rest);
  } catch (e) {
    if (e instanceof KwqError) { console.error(e.message); return 2; }
    throw e;
  }
}

main(process.argv.slice(2)).then((code) => { process.exitCode = code; });
