// Which cgroup dirs a process exec'd into a container joins: the
// container's own, or with runc's `exec --cgroup [CONTROLLER[,...]:]PATH`
// existing sub-cgroups of it (per v1 controller, or the one v2 dir).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CapsaError } from '../errors';
import type { CgroupMembership, CgroupRecord } from './manager';

/**
 * The cgroup dirs the exec process joins: the container's, or with runc's
 * exec --cgroup ([CONTROLLER[,...]:]PATH) existing sub-cgroups of it.
 */
export function execCgroupMembership(record: CgroupRecord | undefined, base: CgroupMembership | undefined, specs: string[]): CgroupMembership | undefined {
  if (!specs.length) return base;
  if (!record || !base) throw new CapsaError('BAD_STATE', 'exec --cgroup: the container has no cgroup');
  const v1 = [...base.v1];
  let v2 = base.v2;
  for (const spec of specs) {
    const colon = spec.indexOf(':');
    const sub = colon >= 0 ? spec.slice(colon + 1) : spec;
    if (sub.split('/').includes('..')) throw new CapsaError('INVALID_ARGUMENT', `exec --cgroup ${spec}: ".." is not allowed`);
    const check = (dir: string) => {
      if (!fs.existsSync(dir)) throw new CapsaError('INVALID_ARGUMENT', `exec --cgroup ${spec}: ${dir} does not exist`);
      return dir;
    };
    if (record.layout === 'v2') {
      v2 = { dir: check(path.join(record.mountRoot, record.path, sub)), optional: false };
      continue;
    }
    const controllers = colon >= 0 ? spec.slice(0, colon).split(',') : Object.keys(record.hierarchies ?? {});
    for (const c of controllers) {
      const mount = record.hierarchies?.[c];
      if (!mount) throw new CapsaError('INVALID_ARGUMENT', `exec --cgroup ${spec}: controller "${c}" is not mounted`);
      const i = v1.indexOf(path.join(mount, record.path));
      if (i >= 0) v1[i] = check(path.join(mount, record.path, sub));
    }
  }
  return { v1, ...(v2 ? { v2 } : {}) };
}
