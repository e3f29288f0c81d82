// Installing a device filter on a cgroup v2 dir through the addon's bpf(2)
// calls (native/addon/cgroup_bpf.cc). The syscalls sit behind an interface so
// the v2 driver can be tested with a recording fake.
import * as fs from 'node:fs';
import { CapsaError } from '../errors';
import { addon } from '../sys/addon';
import { DEVICE_FILTER_LICENSE } from './devices-ebpf';
import { errnoOf } from './fsio';
import { describeErrno } from '../errors';

// The addon puts the verifier's complaint in its message: "bpf(BPF_PROG_LOAD) (verifier: ...): ...".
function verifierNote(e: unknown): string {
  const m = /\(verifier: ([^)]*)\)/.exec(String((e as Error)?.message ?? ''));
  return m ? ` (verifier: ${m[1]})` : '';
}

export interface DeviceFilterSyscalls {
  /** BPF_PROG_LOAD of a BPF_PROG_TYPE_CGROUP_DEVICE program → prog fd */
  loadDeviceFilter(insns: Buffer, license: string): number;
  /** BPF_PROG_ATTACH with BPF_CGROUP_DEVICE and BPF_F_ALLOW_MULTI */
  attachDeviceFilter(cgroupDirFd: number, progFd: number): void;
  detachDeviceFilter(cgroupDirFd: number, progFd: number): void;
  /** fds of the device programs attached to this cgroup; the caller closes them */
  attachedDeviceFilters(cgroupDirFd: number): number[];
  closeFd(fd: number): void;
}

/** The addon's bpf calls, or a clear error when the addon was built without cgroup_bpf.cc. */
export function addonDeviceFilter(): DeviceFilterSyscalls {
  const a = addon() as unknown as Partial<DeviceFilterSyscalls>;
  if (typeof a.loadDeviceFilter !== 'function' || typeof a.attachDeviceFilter !== 'function') {
    throw new CapsaError('UNSUPPORTED', 'linux.resources.devices: cannot enforce device rules on cgroup v2: the capsa addon was built without native/addon/cgroup_bpf.cc', { configPath: 'linux.resources.devices' });
  }
  return a as DeviceFilterSyscalls;
}

/**
 * Load `program`, attach it to `cgroupDir`, then detach whatever device
 * programs were attached there before (a previous apply), so the cgroup is
 * never without a filter.
 */
export function installDeviceFilter(sys: DeviceFilterSyscalls, cgroupDir: string, program: Buffer): void {
  const field = 'linux.resources.devices';
  const fail = (what: string, e: unknown) => {
    const errno = errnoOf(e);
    return new CapsaError('SYSCALL', `${field}: ${what} on ${cgroupDir}: ${errno ? describeErrno(errno) : String((e as Error)?.message ?? e)}`, { errno, configPath: field, cause: e });
  };
  let dirFd: number;
  try {
    dirFd = fs.openSync(cgroupDir, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
  } catch (e) {
    throw fail('open cgroup dir', e);
  }
  const toClose: number[] = [];
  try {
    let previous: number[];
    try {
      previous = sys.attachedDeviceFilters(dirFd);
    } catch (e) {
      throw fail('list attached device programs', e);
    }
    toClose.push(...previous);
    let prog: number;
    try {
      prog = sys.loadDeviceFilter(program, DEVICE_FILTER_LICENSE);
    } catch (e) {
      throw fail(`load device filter${verifierNote(e)}`, e);
    }
    toClose.push(prog);
    try {
      sys.attachDeviceFilter(dirFd, prog);
    } catch (e) {
      throw fail('attach device filter', e);
    }
    for (const old of previous) {
      try {
        sys.detachDeviceFilter(dirFd, old);
      } catch (e) {
        if (errnoOf(e) !== 'ENOENT') throw fail('detach previous device filter', e);
      }
    }
  } finally {
    for (const fd of toClose) sys.closeFd(fd);
    fs.closeSync(dirFd);
  }
}
