/** struct fs_struct: root and cwd, shared under CLONE_FS (users counts the sharers). */
export class FsStruct {
  users = 1;
  constructor(
    public root: string,
    public pwd: string,
  ) {}
  copy(): FsStruct {
    return new FsStruct(this.root, this.pwd);
  }
}
