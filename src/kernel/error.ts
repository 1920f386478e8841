/**
 * Misuse of the library itself (a task that does not belong to this kernel, a boot
 * option that does not parse, a malformed scenario, an arena sized too small) throws a
 * KwqError. Conditions the kernel reports with an errno are returned, never thrown.
 * The message says what was wrong and where: `where` names the call or field.
 */
export class KwqError extends Error {
  override readonly name = 'KwqError';
  constructor(readonly where: string, what: string) {
    super(`${where}: ${what}`);
  }
}
