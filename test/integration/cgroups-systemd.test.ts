// Every cgroup case again with --systemd-cgroup against the real systemd
// (PID 1): the container's cgroup is a transient scope, its limits are the
// scope's properties, and they survive systemctl daemon-reload. This machine
// has no systemd as PID 1: here the cases are skipped with the reason, and
// npm run test:cgroup2 runs them on a guest that boots systemd.
// (test/integration/systemd-cgroup.test.ts checks the driver against a
// stand-in systemd on any host.)
import { V2, realSystemd } from '../helpers/cgroupfs';
import { cgroupContext } from './cgroup-cases/context';
import { badInputCases, deviceCases, freezerCases, pathCases } from './cgroup-cases/control';
import { limitCases, membershipCases, updateCases } from './cgroup-cases/limits';
import { systemdCases } from './cgroup-cases/systemd';
import { v2Cases } from './cgroup-cases/v2';

const c = cgroupContext('cgroups-systemd', 'systemd');
if (realSystemd()) {
  systemdCases(c, true);
  membershipCases(c);
  limitCases(c);
  updateCases(c);
  freezerCases(c);
  deviceCases(c);
  pathCases(c);
  badInputCases(c);
  if (V2) v2Cases(c);
} else {
  c.test.skip('--systemd-cgroup against the real systemd [SKIPPED: PID 1 is not systemd here; npm run test:cgroup2 runs these]', () => {});
}
c.test.run();
