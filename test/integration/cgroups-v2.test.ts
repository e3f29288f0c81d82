// What only a pure cgroup v2 host offers (cgroup namespaces rooted at the
// container, cgroup ownership for a user namespace, cgroup.kill, pressure
// stats, exec --cgroup SUB), with the cgroupfs driver. This machine is
// hybrid: here they are skipped with the reason, and npm run test:cgroup2
// runs them on a cgroup v2 guest.
import { LAYOUT, V2 } from '../helpers/cgroupfs';
import { cgroupContext } from './cgroup-cases/context';
import { v2Cases } from './cgroup-cases/v2';

const c = cgroupContext('cgroups-v2', 'cgroupfs');
if (V2) v2Cases(c);
else c.test.skip(`cgroup v2 only [SKIPPED: this host's cgroups are ${LAYOUT}; npm run test:cgroup2 runs these]`, () => {});
c.test.run();
