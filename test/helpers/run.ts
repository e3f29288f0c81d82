// One bundle or one foreground container (`capsa run`) per call, with the
// container force-deleted and the bundle removed afterwards.
import * as assert from 'uvu/assert';
import { makeBundle, type TestBundle } from './bundle';
import type { CapsaSuite, RunResult } from './capsa';
import type { Config } from './config';
import { until } from './wait';

/** The runtime-spec state `capsa state` prints. */
export interface OciState {
  ociVersion: string;
  id: string;
  status: string;
  pid: number;
  bundle: string;
  created: string;
  annotations?: Record<string, string>;
  [k: string]: unknown;
}

/** state: `capsa state ID`, parsed; waitStatus: polls it until the status is reached (not found counts as not yet). */
export function stateHelpersFor(suite: Pick<CapsaSuite, 'capsa' | 'capsaOk'>) {
  async function state(id: string): Promise<OciState> {
    return JSON.parse((await suite.capsaOk(['state', id])).stdout) as OciState;
  }
  async function waitStatus(id: string, status: string): Promise<OciState> {
    return until(`${id} to be ${status}`, async () => {
      const r = await suite.capsa(['state', id]);
      if (r.code !== 0) return undefined;
      const s = JSON.parse(r.stdout) as OciState;
      return s.status === status ? s : undefined;
    });
  }
  return { state, waitStatus };
}

export interface RunInOptions {
  rootfs?: string;
  /** The container's stdin. */
  input?: string;
  /** Options for `capsa run` before -b. */
  extraArgs?: string[];
  /** Called with the bundle before the run. */
  bundle?: (b: TestBundle) => void;
}

/** withBundle: a bundle for `fn`, always force-deleted (container and bundle) afterwards. */
export function withBundleFor(capsa: CapsaSuite['capsa'], base: { idPrefix?: string } = {}) {
  return async function withBundle(config: Config | undefined, fn: (b: TestBundle) => Promise<void>, opts: { rootfs?: string } = {}): Promise<void> {
    const b = makeBundle({ config, rootfs: opts.rootfs, idPrefix: base.idPrefix });
    try {
      await fn(b);
    } finally {
      await capsa(['delete', '--force', b.id]);
      b.cleanup();
    }
  };
}

/** runIn: `capsa run` of a bundle made with `config`; runOk: the same, asserting exit 0, giving stdout. */
export function runnersFor(capsa: CapsaSuite['capsa']) {
  async function runIn(config: Config, opts: RunInOptions = {}): Promise<RunResult> {
    const b = makeBundle({ config, rootfs: opts.rootfs });
    try {
      opts.bundle?.(b);
      return await capsa(['run', ...(opts.extraArgs ?? []), '-b', b.dir, b.id], { input: opts.input });
    } finally {
      await capsa(['delete', '--force', b.id]);
      b.cleanup();
    }
  }
  async function runOk(config: Config, opts: RunInOptions = {}): Promise<string> {
    const r = await runIn(config, opts);
    assert.is(r.code, 0, `container exited ${r.code}: ${r.stderr}`);
    return r.stdout;
  }
  return { runIn, runOk };
}
