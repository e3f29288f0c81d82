// The CPUs and NUMA nodes online on this host, read only when a config names
// some (execCPUAffinity, memoryPolicy): the plan checks values against them.
import * as fs from 'node:fs';
import { parseKernelList, type HostTopology } from '../plan/process-attrs';
import type { MemoryPolicy, Process } from '../spec/types';

function readList(file: string): number[] | undefined {
  try {
    return parseKernelList(fs.readFileSync(file, 'utf8'));
  } catch {
    return undefined;
  }
}

export function hostTopology(proc: Process | undefined, memoryPolicy: MemoryPolicy | undefined): HostTopology {
  const out: HostTopology = {};
  if (proc?.execCPUAffinity) out.onlineCpus = readList('/sys/devices/system/cpu/online');
  if (memoryPolicy) out.onlineNodes = readList('/sys/devices/system/node/online');
  return out;
}
