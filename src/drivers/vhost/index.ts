/**
 * The vhost modules, registered at import (src/index.ts imports this file once):
 *
 *   vhost        the core; parameters max_mem_regions (ushort, 0444, default 64: the
 *                most regions VHOST_SET_MEM_TABLE takes), max_iotlb_entries (int,
 *                0444, default 2048; the iotlb is not modelled) and
 *                fork_from_owner_default (bool, 0444, default Y; only in releases with
 *                vhost_fork_from_owner, 6.17+)
 *   vhost_net    /dev/vhost-net   (misc 10:238); parameter experimental_zcopytx (int,
 *                0444, default 0; zero-copy TX is not modelled)
 *   vhost_scsi   /dev/vhost-scsi  (misc, dynamic minor; 10:61 here); parameter
 *                max_io_vqs (1..1024, default 128)
 *   vhost_vsock  /dev/vhost-vsock (misc 10:241)
 *
 * and two model switches sizing the vhost Wasm engine (vhost-engine.ts):
 * kwq.vhost_workers (vhost_worker structs, default 65536) and kwq.vhost_works
 * (vhost_work arena, default 1M): address space, not RAM (vhost-engine.ts).
 */
import { registerKwqSwitch, registerModule } from '../../kernel/module.js';
import { registerChrdev } from '../../kernel/vfs/chrdev.js';
import { VhostEngine } from './vhost-engine.js';
import { vhostNetFops } from './net.js';
import { vhostScsiFops, VHOST_SCSI_MAX_IO_VQ } from './scsi.js';
import { vhostVsockFops } from './vsock.js';

registerKwqSwitch('vhost_workers', {
  type: 'uint', default: 65536, min: 1, max: 1 << 20,
  description: 'vhost_worker structs in the vhost Wasm engine (more workers: VHOST_NEW_WORKER fails with -ENOMEM)',
});
registerKwqSwitch('vhost_works', {
  type: 'uint', default: 1 << 20, min: 64, max: 1 << 22,
  description: 'vhost_work arena capacity of the vhost Wasm engine (full: opening a vhost device fails with -ENOMEM)',
});

registerKwqSwitch('vhost_vqs', {
  type: 'uint', default: 16384, min: 4, max: 1 << 16,
  description: "vhost_vq structs in shared memory (runtime 'threads' only: one per vq of every open vhost device; full: open fails with -ENOMEM)",
});
registerKwqSwitch('vhost_threads', {
  type: 'uint', default: 64, min: 1, max: 1024,
  description: "most vhost worker threads at once (runtime 'threads' only; more: worker creation fails with -ENOMEM)",
});

registerModule({
  name: 'vhost',
  // k.shutdown(): stop every vhost worker thread (no flush) and every call waiter
  exit(k) {
    VhostEngine.peek(k)?.threads?.shutdown();
  },
  params: {
    // drivers/vhost/vhost.c: module_param(max_mem_regions, ushort, 0444), module_param(max_iotlb_entries, int, 0444)
    max_mem_regions: { type: 'uint', default: 64, min: 0, max: 0xffff, description: 'Maximum number of memory regions in memory map. (default: 64)' },
    max_iotlb_entries: { type: 'int', default: 2048, description: 'Maximum number of iotlb entries. (default: 2048)' },
    // module_param'd since 7d9896e9f6d0 (6.17): unknown on the command line before it
    fork_from_owner_default: { type: 'bool', default: true, feature: 'vhost_fork_from_owner', description: 'Set task mode as the default(default: Y)' },
  },
});

registerModule({
  name: 'vhost_net',
  params: {
    // drivers/vhost/net.c: static int experimental_zcopytx = 0; module_param(experimental_zcopytx, int, 0444)
    experimental_zcopytx: { type: 'int', default: 0, description: 'Enable Zero Copy TX; 1 -Enable; 0 - Disable' },
  },
  init(k) {
    registerChrdev(k, { name: 'vhost-net', major: 10, minor: 238, fops: vhostNetFops });
  },
});

registerModule({
  name: 'vhost_scsi',
  params: {
    max_io_vqs: { type: 'uint', default: 128, min: 1, max: VHOST_SCSI_MAX_IO_VQ, description: 'Set the max number of IO virtqueues a vhost scsi device can support' },
  },
  init(k) {
    registerChrdev(k, { name: 'vhost-scsi', major: 10, minor: 61, fops: vhostScsiFops });
  },
});

registerModule({
  name: 'vhost_vsock',
  init(k) {
    registerChrdev(k, { name: 'vhost-vsock', major: 10, minor: 241, fops: vhostVsockFops });
  },
});
