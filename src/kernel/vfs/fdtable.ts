/**
 * struct files_struct: the fd table, shared under CLONE_FILES (`count` sharers),
 * copied by fork (each File gets one more reference). alloc_fd takes the lowest free
 * descriptor below RLIMIT_NOFILE's soft limit (-EMFILE beyond it).
 */
import { EMFILE } from '../errno.js';
import type { Kernel } from '../kernel.js';
import { fput, getFile, type File } from './file.js';

export class FilesStruct {
  count = 1;
  /**
   * The last descriptor get() found, and its File: a call's fdget then reads this
   * object only, not the fd array's two (the JS array and its elements). The kernel
   * gets the same from files_struct's embedded fd_array for the first 64 fds; with
   * 10,000 processes each issuing I/O in turn, the array's two were cache misses per
   * call (issue 10). Valid while `fds[lastFd]` is lastFile: detach() and put(), the
   * only ways an fd's File goes, drop it (install fills free fds only).
   */
  private lastFd = -1;
  private lastFile: File | null = null;
  readonly fds: (File | null)[] = [];
  readonly cloexec = new Set<number>();

  /** fcheck: the File at fd, or null */
  get(fd: number): File | null {
    if (fd === this.lastFd) return this.lastFile;
    if (!Number.isInteger(fd) || fd < 0 || fd >= this.fds.length) return null;
    const f = this.fds[fd] ?? null;
    if (f !== null) {
      this.lastFd = fd;
      this.lastFile = f;
    }
    return f;
  }

  /** alloc_fd + fd_install: the lowest free fd < nofile, or -EMFILE. Takes over the caller's reference. */
  install(file: File, nofile: number, cloexec = false): number {
    let fd = 0;
    while (fd < this.fds.length && this.fds[fd] !== null) fd++;
    if (fd >= nofile) return -EMFILE;
    if (fd === this.fds.length) this.fds.push(file);
    else this.fds[fd] = file;
    if (cloexec) this.cloexec.add(fd);
    return fd;
  }

  /** close_fd: detach and return the File (the caller fputs it), or null if none. */
  detach(fd: number): File | null {
    const f = this.get(fd);
    if (f === null) return null;
    this.lastFd = -1;
    this.lastFile = null;
    this.fds[fd] = null;
    this.cloexec.delete(fd);
    while (this.fds.length > 0 && this.fds[this.fds.length - 1] === null) this.fds.pop();
    return f;
  }

  /** dup_fd (fork without CLONE_FILES) */
  copy(): FilesStruct {
    const n = new FilesStruct();
    for (const f of this.fds) n.fds.push(f === null ? null : getFile(f));
    for (const fd of this.cloexec) n.cloexec.add(fd);
    return n;
  }

  /** put_files_struct: the last sharer closes everything */
  put(k: Kernel): void {
    if (--this.count > 0) return;
    this.lastFd = -1;
    this.lastFile = null;
    for (let fd = 0; fd < this.fds.length; fd++) {
      const f = this.fds[fd];
      if (f === null || f === undefined) continue;
      this.fds[fd] = null;
      fput(k, f);
    }
    this.fds.length = 0;
  }

  get openCount(): number {
    let n = 0;
    for (const f of this.fds) if (f !== null) n++;
    return n;
  }
}
