/**
 * What the guest's /init says on the console (`kwq-init:` lines, see initramfs.ts):
 * the modules that loaded, the ones that failed with the kernel's reasons, the device
 * nodes present and missing, and the network interfaces.
 */

export interface InitReport {
  loaded: string[];
  /** `insmod X failed: ...` lines and the kernel messages printed after them. */
  failures: string[];
  devices: string[];
  missingDevices: string[];
  net: string[];
}

const words = (s: string | undefined) => (s ?? '').trim().split(/\s+/).filter(Boolean);

export function parseInitReport(consoleText: string): InitReport {
  const r: InitReport = { loaded: [], failures: [], devices: [], missingDevices: [], net: [] };
  for (const raw of consoleText.replace(/\r/g, '').split('\n')) {
    const at = raw.indexOf('kwq-init:');
    if (at < 0) continue;
    const line = raw.slice(at + 'kwq-init:'.length);
    const field = /^ (loaded|dev|no dev|net):(.*)$/.exec(line);
    if (field) {
      const list = words(field[2]);
      if (field[1] === 'loaded') r.loaded = list;
      else if (field[1] === 'dev') r.devices = list;
      else if (field[1] === 'no dev') r.missingDevices = list;
      else r.net = list;
    } else if (/^ (insmod |  )/.test(line)) {
      r.failures.push(line.trim());
    }
  }
  return r;
}
