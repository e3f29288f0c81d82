// systemd's Manager API over the system bus: start a transient scope holding
// the container's first process, stop it on delete. Each call waits for
// systemd's JobRemoved signal for its job, as runc does, so the scope's
// cgroup exists (or is gone) when the call returns.
import { CapsaError } from '../errors';
import { BusConnection, systemBusPath, type Message, type Variant } from './dbus';
import type { SystemdScopeClient } from './systemd';

const SYSTEMD = { destination: 'org.freedesktop.systemd1', path: '/org/freedesktop/systemd1', interface: 'org.freedesktop.systemd1.Manager' };
const JOB_REMOVED_MATCH = "type='signal',sender='org.freedesktop.systemd1',interface='org.freedesktop.systemd1.Manager',member='JobRemoved'";

export class DbusSystemdClient implements SystemdScopeClient {
  constructor(private readonly timeoutMs = 30_000, private readonly socketPath = systemBusPath()) {}

  async startTransientScope(unit: string, slice: string, pid: number, description: string): Promise<void> {
    const props: [string, Variant][] = [
      ['Description', ['s', description]],
      ['Slice', ['s', slice]],
      // The container manages its own sub-cgroups (and capsa writes its limits).
      ['Delegate', ['b', true]],
      ['PIDs', ['au', [pid]]],
      ['DefaultDependencies', ['b', false]],
    ];
    await this.job('StartTransientUnit', 'ssa(sv)a(sa(sv))', [unit, 'replace', props, []], unit, 'start');
  }

  async stopUnit(unit: string): Promise<void> {
    try {
      await this.job('StopUnit', 'ss', [unit, 'replace'], unit, 'stop');
    } catch (e) {
      // Gone already: systemd collects an empty scope by itself.
      if (/NoSuchUnit/.test((e as Error).message)) return;
      throw e;
    }
  }

  /** Calls a Manager method that returns a job and waits for that job's JobRemoved. */
  private async job(member: string, signature: string, body: unknown[], unit: string, what: string): Promise<void> {
    const bus = await BusConnection.connect(this.socketPath, this.timeoutMs);
    try {
      // Signals can overtake the reply: keep every result until we know our job.
      const results = new Map<string, string>();
      let wake: (() => void) | undefined;
      bus.onSignal((m: Message) => {
        if (m.member !== 'JobRemoved' || m.interface !== SYSTEMD.interface) return;
        const [, job, , result] = m.body as [number, string, string, string];
        results.set(job, result);
        wake?.();
      });
      await bus.call({ destination: 'org.freedesktop.DBus', path: '/org/freedesktop/DBus', interface: 'org.freedesktop.DBus', member: 'AddMatch', signature: 's', body: [JOB_REMOVED_MATCH] }, this.timeoutMs);
      await bus.call({ ...SYSTEMD, member: 'Subscribe' }, this.timeoutMs);
      let job: string;
      try {
        [job] = (await bus.call({ ...SYSTEMD, member, signature, body }, this.timeoutMs)) as [string];
      } catch (e) {
        throw new CapsaError('SYSTEMD', `systemd: ${what} ${unit}: ${(e as Error).message}`);
      }
      const deadline = Date.now() + this.timeoutMs;
      while (!results.has(job)) {
        const left = deadline - Date.now();
        if (left <= 0) throw new CapsaError('TIMEOUT', `systemd: ${what} ${unit}: job ${job} did not finish within ${this.timeoutMs} ms`);
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, left);
          wake = () => { clearTimeout(t); resolve(); };
        });
      }
      const result = results.get(job);
      if (result !== 'done') throw new CapsaError('SYSTEMD', `systemd: ${what} ${unit}: job ${result}`);
    } finally {
      bus.close();
    }
  }
}
