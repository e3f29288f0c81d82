// Pause/resume. Freezing is asynchronous in the kernel: v1's freezer.state
// reads FREEZING until every task has stopped, v2's cgroup.events says
// "frozen 1" when done. Poll a bounded number of times; a task stuck in
// uninterruptible sleep can hold v1 in FREEZING, so thaw and try again, and
// give up with an error (leaving the cgroup thawed) rather than hang.
import * as path from 'node:path';
import { CapsaError } from '../errors';
import { parseKeyValues, type CgroupFs } from './fsio';
import { syscallError } from './dirs';

const ATTEMPTS = 10;
const POLLS_PER_ATTEMPT = 40;
const pollDelay = (i: number) => Math.min(1 << i, 10); // 1, 2, 4, 8, 10, 10... ms

function write(cfs: CgroupFs, file: string, value: string): void {
  try {
    cfs.write(file, value);
  } catch (e) {
    throw syscallError(`write ${value} to ${file}`, e);
  }
}

function waitFor(done: () => boolean, sleep: (ms: number) => void): boolean {
  for (let i = 0; i < POLLS_PER_ATTEMPT; i++) {
    if (done()) return true;
    sleep(pollDelay(i));
  }
  return done();
}

export function freezeV1(cfs: CgroupFs, freezerDir: string, sleep: (ms: number) => void): void {
  const file = path.join(freezerDir, 'freezer.state');
  const state = () => cfs.read(file).trim();
  for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
    write(cfs, file, 'FROZEN');
    if (waitFor(() => state() === 'FROZEN', sleep)) return;
    write(cfs, file, 'THAWED');
  }
  throw new CapsaError('TIMEOUT', `freeze ${freezerDir}: still ${state()} after ${ATTEMPTS} attempts; left thawed`);
}

export function thawV1(cfs: CgroupFs, freezerDir: string): void {
  write(cfs, path.join(freezerDir, 'freezer.state'), 'THAWED');
}

export function isFrozenV1(cfs: CgroupFs, freezerDir: string): boolean {
  try {
    return cfs.read(path.join(freezerDir, 'freezer.state')).trim() === 'FROZEN';
  } catch {
    return false;
  }
}

function frozenV2(cfs: CgroupFs, dir: string): boolean {
  const events = path.join(dir, 'cgroup.events');
  // Without cgroup.events (very old kernels), the requested state is all there is.
  if (!cfs.exists(events)) return cfs.read(path.join(dir, 'cgroup.freeze')).trim() === '1';
  return parseKeyValues(cfs.read(events)).frozen === 1;
}

export function freezeV2(cfs: CgroupFs, dir: string, sleep: (ms: number) => void): void {
  const file = path.join(dir, 'cgroup.freeze');
  if (!cfs.exists(file)) throw new CapsaError('UNSUPPORTED', `freeze ${dir}: this kernel has no cgroup.freeze (needs Linux 5.2)`);
  for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
    write(cfs, file, '1');
    if (waitFor(() => frozenV2(cfs, dir), sleep)) return;
  }
  write(cfs, file, '0');
  throw new CapsaError('TIMEOUT', `freeze ${dir}: cgroup.events never reported frozen; left thawed`);
}

export function thawV2(cfs: CgroupFs, dir: string): void {
  write(cfs, path.join(dir, 'cgroup.freeze'), '0');
}

export function isFrozenV2(cfs: CgroupFs, dir: string): boolean {
  try {
    return cfs.read(path.join(dir, 'cgroup.freeze')).trim() === '1';
  } catch {
    return false;
  }
}
