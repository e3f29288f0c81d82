// systemd's Manager API over the system bus: start a transient scope holding
// the container's first process (with its limits as unit properties), change
// them on update, stop it on delete. Calls that return a job wait for
// systemd's JobRemoved signal for that job, as runc does, so the scope's
// cgroup exists (or is gone) when the call returns.
import { CapsaError } from '../errors';
import { BusConnection, systemBusPath, type Message, type Variant } from './dbus';
import type { PropertiesFor, SystemdScopeClient } from './systemd-host';

const SYSTEMD = { destination: 'org.freedesktop.systemd1', path: '/org/freedesktop/systemd1', interface: 'org.freedesktop.systemd1.Manager' };
const JOB_REMOVED_MATCH = "type='signal',sender='org.freedesktop.systemd1',interface='org.freedesktop.systemd1.Manager',member='JobRemoved'";

/** "252.39-1~deb12u2", "v245.4-1.fc32", "245" → the major number; 0 when unreadable. */
export function systemdMajorVersion(text: string): number {
  const m = /^"?v?(\d+)/.exec(text.trim());
  return m ? Number(m[1]) : 0;
}

/** Connections that asked for JobRemoved already (a second Subscribe is an AlreadySubscribed error). */
const subscribed = new WeakSet<BusConnection>();

export class DbusSystemdClient implements SystemdScopeClient {
  constructor(private readonly timeoutMs = 30_000, private readonly socketPath = systemBusPath()) {}

  async startTransientScope(unit: string, slice: string, pid: number, description: string, properties: PropertiesFor): Promise<void> {
    await this.withBus(async (bus) => {
      const props: [string, Variant][] = [
        ['Description', ['s', description]],
        ['Slice', ['s', slice]],
        // The container manages its own sub-cgroups (and capsa writes its limits).
        ['Delegate', ['b', true]],
        ['PIDs', ['au', [pid]]],
        // As runc: systemd accounts (and so enables the controllers) for the scope.
        ['MemoryAccounting', ['b', true]],
        ['CPUAccounting', ['b', true]],
        ['IOAccounting', ['b', true]],
        ['TasksAccounting', ['b', true]],
        ['DefaultDependencies', ['b', false]],
        ...properties(await this.versionOn(bus)),
      ];
      const start = () => this.job(bus, 'StartTransientUnit', 'ssa(sv)a(sa(sv))', [unit, 'replace', props, []], unit, 'start');
      try {
        await start();
      } catch (e) {
        // A failed unit of that name left from before: reset it and try once more (runc does).
        if (!/UnitExists/.test((e as Error).message)) throw e;
        await this.call(bus, 'ResetFailedUnit', 's', [unit]).catch(() => {});
        await start();
      }
    });
  }

  async setUnitProperties(unit: string, properties: PropertiesFor): Promise<void> {
    await this.withBus(async (bus) => {
      const props = properties(await this.versionOn(bus));
      if (props.length === 0) return;
      try {
        await bus.call({ ...SYSTEMD, member: 'SetUnitProperties', signature: 'sba(sv)', body: [unit, true, props] }, this.timeoutMs);
      } catch (e) {
        throw new CapsaError('SYSTEMD', `systemd: set properties of ${unit}: ${(e as Error).message}`);
      }
    });
  }

  async stopUnit(unit: string): Promise<void> {
    await this.withBus(async (bus) => {
      try {
        await this.job(bus, 'StopUnit', 'ss', [unit, 'replace'], unit, 'stop');
      } catch (e) {
        // Gone already: systemd collects an empty scope by itself.
        if (!/NoSuchUnit/.test((e as Error).message)) throw e;
      }
      // A scope that failed stays loaded until reset.
      await this.call(bus, 'ResetFailedUnit', 's', [unit]).catch(() => {});
    });
  }

  async unitResult(unit: string): Promise<string | undefined> {
    return this.withBus(async (bus) => {
      let unitPath: string;
      try {
        [unitPath] = (await this.call(bus, 'GetUnit', 's', [unit])) as [string];
      } catch {
        return undefined; // not loaded
      }
      const [[, result]] = (await bus.call({
        destination: SYSTEMD.destination, path: unitPath, interface: 'org.freedesktop.DBus.Properties',
        member: 'Get', signature: 'ss', body: ['org.freedesktop.systemd1.Scope', 'Result'],
      }, this.timeoutMs)) as [Variant];
      return String(result);
    });
  }

  private async withBus<T>(fn: (bus: BusConnection) => Promise<T>): Promise<T> {
    const bus = await BusConnection.connect(this.socketPath, this.timeoutMs);
    try {
      return await fn(bus);
    } finally {
      bus.close();
    }
  }

  private call(bus: BusConnection, member: string, signature: string, body: unknown[]): Promise<unknown[]> {
    return bus.call({ ...SYSTEMD, member, signature, body }, this.timeoutMs);
  }

  private async versionOn(bus: BusConnection): Promise<number> {
    const [[, text]] = (await bus.call({
      destination: SYSTEMD.destination, path: SYSTEMD.path, interface: 'org.freedesktop.DBus.Properties',
      member: 'Get', signature: 'ss', body: [SYSTEMD.interface, 'Version'],
    }, this.timeoutMs)) as [Variant];
    return systemdMajorVersion(String(text));
  }

  /** Calls a Manager method that returns a job and waits for that job's JobRemoved. */
  private async job(bus: BusConnection, member: string, signature: string, body: unknown[], unit: string, what: string): Promise<void> {
    // Signals can overtake the reply: keep every result until we know our job.
    const results = new Map<string, string>();
    let wake: (() => void) | undefined;
    bus.onSignal((m: Message) => {
      if (m.member !== 'JobRemoved' || m.interface !== SYSTEMD.interface) return;
      const [, job, , result] = m.body as [number, string, string, string];
      results.set(job, result);
      wake?.();
    });
    if (!subscribed.has(bus)) {
      await bus.call({ destination: 'org.freedesktop.DBus', path: '/org/freedesktop/DBus', interface: 'org.freedesktop.DBus', member: 'AddMatch', signature: 's', body: [JOB_REMOVED_MATCH] }, this.timeoutMs);
      await this.call(bus, 'Subscribe', '', []);
      subscribed.add(bus);
    }
    let job: string;
    try {
      [job] = (await this.call(bus, member, signature, body)) as [string];
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
  }
}
