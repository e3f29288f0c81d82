// linux.netDevices (runtime-spec 1.3), as root with real links: a veth the
// test makes (this kernel has no dummy driver) is moved into the container's
// network namespace, renamed, set up, with its permanent global addresses
// and its MTU and MAC kept — read back from inside through /sys/class/net and
// /proc/net. After delete the host's links are read again: nothing is moved
// back (the spec forbids it); a namespace capsa made takes a virtual link with
// it, a namespace joined by path keeps it. Every link and namespace the test
// makes is removed even when it fails.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as assert from 'uvu/assert';

import { capsaSuite, messageOf } from '../helpers/capsa';
import { addNamespace, all, cmd, dropNamespace, type Config } from '../helpers/config';
import { netTestsUnavailable } from '../helpers/netns';
import { runnersFor } from '../helpers/run';
import { skipUnless } from '../helpers/skip';

const { test, capsa } = capsaSuite('netdevices');
const { runIn } = runnersFor(capsa);
const skip = netTestsUnavailable();
/** Counted as skipped, with the reason, where ip(8) or nsenter is missing. */
const netTest = (name: string, fn: () => Promise<void>) => test(name, async () => { if (skipUnless(skip === undefined, skip ?? '')) return; await fn(); });

interface Veth {
  /** The end the container gets. */
  name: string;
  /** Its peer, left on the host: gone exactly when the moved end is destroyed. */
  peer: string;
  cleanup(): void;
}

const ip = (...args: string[]) => execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
const onHost = (link: string) => fs.existsSync(`/sys/class/net/${link}`);

/** A veth pair with MTU 1789, a fixed MAC, and three addresses: global IPv4, global IPv6, host-scope IPv4. */
function makeVeth(): Veth {
  const tag = randomBytes(3).toString('hex');
  const name = `capsa-nd${tag}`;
  const peer = `capsa-np${tag}`;
  ip('link', 'add', name, 'type', 'veth', 'peer', 'name', peer);
  const cleanup = () => {
    for (const l of [name, peer]) if (onHost(l)) try { ip('link', 'del', l); } catch { /* gone with its peer */ }
  };
  try {
    ip('link', 'set', name, 'mtu', '1789', 'address', '02:00:00:c0:ff:ee');
    ip('addr', 'add', '192.0.2.77/24', 'dev', name);
    ip('addr', 'add', '2001:db8::77/64', 'dev', name, 'nodad');
    ip('addr', 'add', '127.0.0.33/8', 'dev', name);
    ip('link', 'set', name, 'up');
  } catch (e) {
    cleanup();
    throw e;
  }
  return { name, peer, cleanup };
}

async function withVeth(fn: (v: Veth) => Promise<void>): Promise<void> {
  const v = makeVeth();
  try { await fn(v); } finally { v.cleanup(); }
}

/** A named network namespace (ip netns), deleted afterwards with whatever is in it. */
async function withNetns(fn: (name: string, path: string) => Promise<void>): Promise<void> {
  const name = `capsa-test-ns${randomBytes(3).toString('hex')}`;
  ip('netns', 'add', name);
  try { await fn(name, `/run/netns/${name}`); } finally { try { ip('netns', 'del', name); } catch { /* already gone */ } }
}

const netDevices = (devices: Record<string, { name?: string }>): Config => (s) => { s.linux!.netDevices = devices; };

/** Everything the tests read about link `name` from inside, in one testinit call. */
const readInside = (name: string) => cmd('cat', '/proc/net/dev', `/sys/class/net/${name}/mtu`, `/sys/class/net/${name}/address`, `/sys/class/net/${name}/flags`, '/proc/net/if_inet6', '/proc/net/fib_trie');

function assertMovedLink(out: string, name: string, hostName: string): void {
  const links = out.split('\n').filter((l) => l.includes(':') && /^\s*[\w%.-]+:\s+\d/.test(l)).map((l) => l.split(':')[0]!.trim());
  assert.ok(links.includes(name), `${name} inside: ${links.join(' ')}`);
  assert.not.ok(links.includes(hostName), 'under its container name only');
  assert.match(out, /^1789$/m, 'MTU kept');
  assert.match(out, /^02:00:00:c0:ff:ee$/m, 'MAC kept');
  const flags = out.split('\n').find((l) => /^0x[0-9a-f]+$/.test(l.trim()));
  assert.ok(flags && (Number(flags) & 1) === 1, `set up (IFF_UP) inside: flags ${flags}`);
  assert.match(out, new RegExp(`^20010db8000000000000000000000077 \\w+ 40 00 \\w+\\s+${name}$`, 'm'), 'the global IPv6 address, /64');
  assert.match(out, /\|-- 192\.0\.2\.77\n\s+\/32 host LOCAL/, 'the global IPv4 address');
  assert.not.match(out, /127\.0\.0\.33/, 'a host-scope address is not carried over');
}

netTest('a host link is moved in, renamed, set up, keeping MTU, MAC and its global addresses; after delete nothing is moved back and the veth is gone', async () => {
  await withVeth(async (v) => {
    const r = await runIn(all(netDevices({ [v.name]: { name: 'ctr0' } }), readInside('ctr0')));
    assert.is(r.code, 0, r.stderr);
    assertMovedLink(r.stdout, 'ctr0', v.name);
    // The container's own namespace died with it: a virtual link is destroyed with it (its peer too).
    assert.not.ok(onHost(v.name), `${v.name} is not back on the host`);
    assert.not.ok(onHost('ctr0'), 'nor under its container name');
    assert.not.ok(onHost(v.peer), 'the veth was destroyed with the namespace (its peer went too)');
  });
});

netTest('without a name the link keeps its host name inside', async () => {
  await withVeth(async (v) => {
    const r = await runIn(all(netDevices({ [v.name]: {} }), cmd('cat', `/sys/class/net/${v.name}/mtu`)));
    assert.is(r.code, 0, r.stderr);
    assert.is(r.stdout, '1789\n');
  });
});

netTest('a "%d" template name is filled in by the kernel, and the link is still set up', async () => {
  await withVeth(async (v) => {
    const r = await runIn(all(netDevices({ [v.name]: { name: 'ctr%d' } }), cmd('cat', '/sys/class/net/ctr0/flags', '/sys/class/net/ctr0/mtu')));
    assert.is(r.code, 0, r.stderr);
    const [flags, mtu] = r.stdout.trim().split('\n');
    assert.is(Number(flags) & 1, 1, `up: ${flags}`);
    assert.is(mtu, '1789');
  });
});

netTest('a network namespace joined by path keeps the link, under its container name, after delete', async () => {
  await withVeth(async (v) => {
    await withNetns(async (ns, nsPath) => {
      const r = await runIn(all(addNamespace('network', nsPath), netDevices({ [v.name]: { name: 'ctr0' } }), readInside('ctr0')));
      assert.is(r.code, 0, r.stderr);
      assertMovedLink(r.stdout, 'ctr0', v.name);
      // The namespace's owner decides its fate: still there, renamed, with its address.
      assert.not.ok(onHost(v.name), 'not moved back');
      assert.ok(onHost(v.peer), 'alive: its peer is still on the host');
      const inNs = execFileSync('ip', ['netns', 'exec', ns, 'cat', '/sys/class/net/ctr0/address', '/proc/net/fib_trie'], { encoding: 'utf8' });
      assert.match(inNs, /^02:00:00:c0:ff:ee$/m);
      assert.match(inNs, /192\.0\.2\.77/);
    });
  });
});

netTest('in a user namespace too: moved by the runtime, set up and addressed by the container\'s root', async () => {
  const userNs: Config = (s) => {
    s.linux!.namespaces = [...(s.linux!.namespaces ?? []), { type: 'user' }];
    s.linux!.uidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
    s.linux!.gidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
  };
  await withVeth(async (v) => {
    const r = await runIn(all(userNs, netDevices({ [v.name]: { name: 'ctr0' } }), readInside('ctr0')));
    assert.is(r.code, 0, r.stderr);
    assertMovedLink(r.stdout, 'ctr0', v.name);
  });
});

// ---- refused, with nothing left behind and the link untouched on the host ----

async function expectRefused(config: Config, field: string, text: RegExp): Promise<void> {
  const r = await runIn(all(config, cmd('true')));
  assert.is(r.code, 1, r.stderr);
  const msg = messageOf(r.stderr);
  assert.ok(msg.startsWith(`config.${field}`), msg);
  assert.match(msg, text);
  assert.not.match(r.stderr.trim(), /\n/, 'one line');
}

netTest('a link the host does not have: one line naming it', async () => {
  await expectRefused(netDevices({ 'capsa-nothere': {} }), 'linux.netDevices["capsa-nothere"]', /no network device "capsa-nothere" on the host/);
});

netTest('no network namespace of its own (host network, or the runtime\'s own joined by path): refused, the link stays on the host', async () => {
  await withVeth(async (v) => {
    await expectRefused(all(dropNamespace('network'), netDevices({ [v.name]: {} })), 'linux.netDevices', /without a private network namespace/);
    await expectRefused(all(addNamespace('network', `/proc/${process.pid}/ns/net`), netDevices({ [v.name]: {} })), 'linux.netDevices', /is the runtime's own/);
    assert.ok(onHost(v.name), 'untouched');
    assert.match(fs.readFileSync(`/sys/class/net/${v.name}/mtu`, 'utf8'), /^1789/);
  });
});

netTest('a name the container already has (lo): refused naming the field before the move, the container is not created, the link stays on the host', async () => {
  await withVeth(async (v) => {
    await expectRefused(netDevices({ [v.name]: { name: 'lo' } }), `linux.netDevices["${v.name}"]`, /move it in as "lo": a network device named "lo" already exists in the container$/);
    assert.ok(onHost(v.name), 'still on the host, under its own name');
  });
});

netTest('the loopback device cannot be moved: refused before anything is made', async () => {
  await expectRefused(netDevices({ lo: { name: 'hostlo' } }), 'linux.netDevices["lo"]', /loopback/);
});

test.run();
