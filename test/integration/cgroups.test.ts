// Resource limits and the cgroup verbs, as root with real containers, with
// the cgroupfs driver, on whatever layout the host has (this machine is
// hybrid; npm run test:cgroup2 runs the same cases on pure cgroup v2 with
// systemd as PID 1). Each limit is read back from the container's cgroup
// files and shown to act on the container. The cases are in cgroup-cases/.
import { cgroupContext } from './cgroup-cases/context';
import { badInputCases, deviceCases, freezerCases, pathCases } from './cgroup-cases/control';
import { limitCases, membershipCases, updateCases } from './cgroup-cases/limits';

const c = cgroupContext('cgroups', 'cgroupfs');
membershipCases(c);
limitCases(c);
updateCases(c);
freezerCases(c);
deviceCases(c);
pathCases(c);
badInputCases(c);
c.test.run();
