/**
 * Parsing what the guest executor printed on ttyS1 (docs/oracle-wire.md, "What the
 * guest prints") into scripts and steps. Values stay the raw strings of the wire;
 * pctDecode undoes the percent-encoding for whoever needs the text.
 */

export type GuestStep = {
  /** `ret`, `errno`, `buf`, `text`, `total`, `status`, `killed`, `error`: raw wire strings. */
  fields: Record<string, string>;
  /** The `thr` lines printed before the record (threads and ps), in order. */
  thr: Array<Record<string, string>>;
};

export type GuestScript = {
  name: string;
  steps: Map<number, GuestStep>;
};

export type GuestOutput = {
  /** The header's key=value pairs: `uname` and `machine` always, whatever else it gives. */
  header: { uname: string; machine: string } & Record<string, string>;
  scripts: GuestScript[];
};

/** `%XX` escapes to bytes. */
export function pctDecodeBytes(s: string): Buffer {
  const out: number[] = [];
  for (let i = 0; i < s.length; i++) {
    if (s[i] === '%' && /^[0-9A-Fa-f]{2}$/.test(s.slice(i + 1, i + 3))) {
      out.push(parseInt(s.slice(i + 1, i + 3), 16));
      i += 2;
    } else {
      out.push(...Buffer.from(s[i]!, 'utf8'));
    }
  }
  return Buffer.from(out);
}

/** `%XX` escapes decoded, the bytes read as UTF-8. */
export function pctDecode(s: string): string {
  return pctDecodeBytes(s).toString('utf8');
}

function keyValues(tokens: string[], where: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const t of tokens) {
    const eq = t.indexOf('=');
    if (eq <= 0) throw new Error(`${where}: '${t}' is not key=value`);
    out[t.slice(0, eq)] = t.slice(eq + 1);
  }
  return out;
}

/** Parses the records; throws a one-line error naming the line when they are malformed. */
export function parseGuestOutput(text: string): GuestOutput {
  const lines = text.replace(/\r/g, '').split('\n');
  let header: GuestOutput['header'] | undefined;
  const scripts: GuestScript[] = [];
  let cur: (GuestScript & { recorded: Set<number> }) | undefined;
  let done = false;
  lines.forEach((raw, i) => {
    const line = raw.trim();
    if (!line.startsWith('@@') || done) return;
    const where = `guest records line ${i + 1}`;
    const [head, ...rest] = line.split(' ');
    if (head === '@@kwq-oracle') {
      if (rest[0] !== '1') throw new Error(`${where}: wire version ${rest[0]}, expected 1`);
      const kv = keyValues(rest.slice(1), where);
      if (kv.uname === undefined || kv.machine === undefined) throw new Error(`${where}: the header lacks uname= or machine=`);
      header = { ...kv, uname: kv.uname, machine: kv.machine };
    } else if (head === '@@script') {
      if (!header) throw new Error(`${where}: @@script before the @@kwq-oracle header`);
      if (cur) throw new Error(`${where}: @@script ${rest[0]} inside script ${cur.name}`);
      if (!rest[0] || scripts.some((s) => s.name === rest[0])) throw new Error(`${where}: bad or repeated script name`);
      cur = { name: rest[0], steps: new Map(), recorded: new Set() };
    } else if (head === '@@end') {
      if (!cur || rest[0] !== cur.name) throw new Error(`${where}: @@end ${rest[0]} does not close ${cur?.name ?? 'a script'}`);
      for (const [idx] of cur.steps) if (!cur.recorded.has(idx)) throw new Error(`${where}: step ${idx} has thr lines but no record`);
      scripts.push({ name: cur.name, steps: cur.steps });
      cur = undefined;
    } else if (head === '@@done') {
      if (cur) throw new Error(`${where}: @@done inside script ${cur.name}`);
      done = true;
    } else if (head === '@@') {
      if (!cur) throw new Error(`${where}: a step record outside a script`);
      const idx = Number(rest[0]);
      if (!/^\d+$/.test(rest[0] ?? '')) throw new Error(`${where}: step index '${rest[0]}' is not a number`);
      const step = cur.steps.get(idx) ?? { fields: {}, thr: [] };
      cur.steps.set(idx, step);
      if (rest[1] === 'thr') {
        if (cur.recorded.has(idx)) throw new Error(`${where}: a thr line after step ${idx}'s record`);
        step.thr.push(keyValues(rest.slice(2), where));
      } else {
        if (cur.recorded.has(idx)) throw new Error(`${where}: a second record for step ${idx}`);
        step.fields = keyValues(rest.slice(1), where);
        cur.recorded.add(idx);
      }
    } else {
      throw new Error(`${where}: unknown record '${head}'`);
    }
  });
  if (!done) throw new Error('guest records: no @@done line (the boot did not finish)');
  if (!header) throw new Error('guest records: no @@kwq-oracle header');
  return { header, scripts };
}
