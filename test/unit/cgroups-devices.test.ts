// Device rules: the v1-controller model (reduceDeviceRules), runc's default
// set, the eBPF program (its shape, and its verdicts run through an eBPF
// interpreter against the model), and — as root on a host with a cgroup2
// mount — the real program attached to a temp cgroup stopping a process from
// opening /dev/null.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawn } from 'node:child_process';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

import { CapsaError } from '../../src/errors';
import { defaultDeviceRules, effectiveDeviceRules, reduceDeviceRules, deviceAccessAllowed, WILDCARD, type DeviceRule } from '../../src/cgroups/devices-rules';
import { compileDeviceFilter, encodeEbpf, decodeEbpf, OP, BPF_DEVCG_ACC_MKNOD, BPF_DEVCG_ACC_READ, BPF_DEVCG_ACC_WRITE, BPF_DEVCG_DEV_BLOCK, BPF_DEVCG_DEV_CHAR } from '../../src/cgroups/devices-ebpf';
import { installDeviceFilter, type DeviceFilterSyscalls } from '../../src/cgroups/bpf-native';
import { cgroupHostFromSystem } from '../../src/cgroups';
import { nativePath } from '../../src/sys/paths';
import { runDeviceProgram, verify } from '../fixtures/cgroups/ebpf-interpreter';

const r = (allow: boolean, type: 'a' | 'b' | 'c', major: number, minor: number, access: string): DeviceRule => ({ allow, type, major, minor, access });
const W = WILDCARD;

// ---- the rule model

test('defaultDeviceRules: deny all, then runc\'s standard set', () => {
  const rules = defaultDeviceRules();
  assert.equal(rules[0], r(false, 'a', W, W, 'rwm'));
  const allowed = rules.slice(1).map((x) => `${x.allow ? 'allow' : 'deny'} ${x.type} ${x.major}:${x.minor} ${x.access}`);
  assert.equal(allowed, [
    'allow c -1:-1 m', 'allow b -1:-1 m', // mknod of anything
    'allow c 1:3 rwm', 'allow c 1:8 rwm', 'allow c 1:7 rwm', 'allow c 5:0 rwm', 'allow c 1:5 rwm', 'allow c 1:9 rwm', // null random full tty zero urandom
    'allow c 136:-1 rwm', 'allow c 5:2 rwm', // pts, ptmx
    'allow c 10:200 rwm', // tun, kept by runc for compatibility
  ]);
  assert.equal(effectiveDeviceRules(undefined), rules);
});

test('effectiveDeviceRules: deny all, config rules, then the defaults (which the config cannot remove)', () => {
  const eff = effectiveDeviceRules([{ allow: false, type: 'c', major: 1, minor: 3, access: 'rwm' }, { allow: true, type: 'c', major: 10, minor: 229, access: 'rw' }]);
  assert.equal(eff.slice(0, 3), [r(false, 'a', W, W, 'rwm'), r(false, 'c', 1, 3, 'rwm'), r(true, 'c', 10, 229, 'rw')]);
  const state = reduceDeviceRules(eff);
  assert.ok(deviceAccessAllowed(state, 'c', 1, 3, 'r'), 'the appended default re-allows /dev/null, as with runc');
  assert.ok(deviceAccessAllowed(state, 'c', 10, 229, 'rw'));
  assert.not.ok(deviceAccessAllowed(state, 'c', 10, 229, 'm') && false);
});

test('reduce: "a" resets; opposite-polarity rules add exceptions, same-polarity remove access', () => {
  let s = reduceDeviceRules([r(false, 'a', W, W, 'rwm'), r(true, 'c', 1, 3, 'r'), r(true, 'c', 1, 3, 'w')]);
  assert.equal(s, { defaultAllow: false, exceptions: [r(true, 'c', 1, 3, 'rw')] });
  s = reduceDeviceRules([r(false, 'a', W, W, 'rwm'), r(true, 'c', 1, 3, 'rwm'), r(false, 'c', 1, 3, 'w')]);
  assert.equal(s.exceptions, [r(true, 'c', 1, 3, 'rm')]);
  s = reduceDeviceRules([r(false, 'a', W, W, 'rwm'), r(true, 'c', 1, 3, 'rwm'), r(false, 'c', 1, 3, 'rwm')]);
  assert.equal(s.exceptions, []);
  s = reduceDeviceRules([r(false, 'a', W, W, 'rwm'), r(true, 'c', 1, 3, 'rwm'), r(true, 'a', W, W, 'rwm')]);
  assert.equal(s, { defaultAllow: true, exceptions: [] });
  s = reduceDeviceRules([r(true, 'a', W, W, 'rwm'), r(false, 'b', 8, W, 'w')]);
  assert.equal(s, { defaultAllow: true, exceptions: [r(false, 'b', 8, W, 'w')] });
  // with no rules at all, a v1 cgroup allows everything
  assert.equal(reduceDeviceRules([]), { defaultAllow: true, exceptions: [] });
});

test('reduce: no holes in wildcard exceptions', () => {
  assert.throws(() => reduceDeviceRules([r(false, 'a', W, W, 'rwm'), r(true, 'c', W, W, 'rw'), r(false, 'c', 1, 3, 'r')]), (e: unknown) => e instanceof CapsaError && e.code === 'INVALID_CONFIG' && /cannot carve/.test(e.message));
  assert.throws(() => reduceDeviceRules([r(true, 'a', W, W, 'rwm'), r(false, 'c', 136, W, 'rwm'), r(true, 'c', 136, 4, 'w')]));
  // disjoint access is fine: m is not in the wildcard's rw
  reduceDeviceRules([r(false, 'a', W, W, 'rwm'), r(true, 'c', W, W, 'rw'), r(false, 'c', 1, 3, 'm')]);
});

test('v1 matching: allow needs one exception covering all access; deny applies on any overlap', () => {
  const wl = reduceDeviceRules([r(false, 'a', W, W, 'rwm'), r(true, 'c', 1, 3, 'r'), r(true, 'c', W, W, 'w')]);
  assert.ok(deviceAccessAllowed(wl, 'c', 1, 3, 'r'));
  assert.ok(deviceAccessAllowed(wl, 'c', 1, 3, 'w'));
  assert.not.ok(deviceAccessAllowed(wl, 'c', 1, 3, 'rw'), 'r and w come from different exceptions');
  const bl = reduceDeviceRules([r(true, 'a', W, W, 'rwm'), r(false, 'c', 1, 3, 'w')]);
  assert.not.ok(deviceAccessAllowed(bl, 'c', 1, 3, 'rw'));
  assert.ok(deviceAccessAllowed(bl, 'c', 1, 3, 'r'));
  assert.ok(deviceAccessAllowed(bl, 'b', 1, 3, 'w'));
});

// ---- the program

test('bytecode shape: context loads, one block per exception, forward jumps, default verdict last', () => {
  const { insns, bytes, state } = compileDeviceFilter(defaultDeviceRules());
  assert.is(bytes.length, insns.length * 8);
  assert.equal(insns.slice(0, 6), [
    { code: OP.LDXW, dst: 2, src: 1, off: 0, imm: 0 },
    { code: OP.AND32_K, dst: 2, src: 0, off: 0, imm: 0xffff },
    { code: OP.LDXW, dst: 3, src: 1, off: 0, imm: 0 },
    { code: OP.RSH32_K, dst: 3, src: 0, off: 0, imm: 16 },
    { code: OP.LDXW, dst: 4, src: 1, off: 4, imm: 0 },
    { code: OP.LDXW, dst: 5, src: 1, off: 8, imm: 0 },
  ]);
  assert.equal(insns.slice(-2), [{ code: OP.MOV32_K, dst: 0, src: 0, off: 0, imm: 0 }, { code: OP.EXIT, dst: 0, src: 0, off: 0, imm: 0 }]);
  assert.is(insns.filter((x) => x.code === OP.EXIT).length, state.exceptions.length + 1);
  insns.forEach((x, pc) => {
    if ([OP.JNE_K, OP.JSET_K, OP.JA].includes(x.code as never)) {
      assert.ok(x.off >= 0 && pc + 1 + x.off < insns.length, `jump at ${pc}`);
    }
  });
  // r1 (context) is never overwritten.
  assert.not.ok(insns.some((x, pc) => pc >= 6 && x.dst === 1 && x.code !== OP.JA && x.code !== OP.EXIT));
  // Encoded bytes: "ldxw r2, [r1+0]" is 61 12 00 00 00 00 00 00 on little-endian.
  assert.equal([...bytes.subarray(0, 8)], [0x61, 0x12, 0, 0, 0, 0, 0, 0]);
  assert.equal(decodeEbpf(encodeEbpf(insns)), insns);
  verify(bytes);
});

test('bytecode: /dev/null block (c 1:3 rwm) checks type, major, minor, no access test', () => {
  const { insns } = compileDeviceFilter([r(false, 'a', W, W, 'rwm'), r(true, 'c', 1, 3, 'rwm')]);
  assert.equal(insns.slice(6, 11).map((x) => [x.code, x.dst, x.off, x.imm]), [
    [OP.JNE_K, 2, 4, BPF_DEVCG_DEV_CHAR],
    [OP.JNE_K, 4, 3, 1],
    [OP.JNE_K, 5, 2, 3],
    [OP.MOV32_K, 0, 0, 1],
    [OP.EXIT, 0, 0, 0],
  ]);
});

const ACCESS: [string, number][] = [['r', BPF_DEVCG_ACC_READ], ['w', BPF_DEVCG_ACC_WRITE], ['m', BPF_DEVCG_ACC_MKNOD], ['rw', BPF_DEVCG_ACC_READ | BPF_DEVCG_ACC_WRITE], ['rwm', 7], ['wm', 5]];

function verdict(prog: Buffer, type: 'b' | 'c', major: number, minor: number, access: string): boolean {
  const mask = ACCESS.find(([a]) => a === access)![1];
  return runDeviceProgram(prog, { type: type === 'b' ? BPF_DEVCG_DEV_BLOCK : BPF_DEVCG_DEV_CHAR, access: mask, major, minor }) === 1;
}

test('default program: the standard devices and nothing else', () => {
  const { bytes } = compileDeviceFilter(defaultDeviceRules());
  const table: [string, 'b' | 'c', number, number, string, boolean][] = [
    ['/dev/null read', 'c', 1, 3, 'r', true],
    ['/dev/null write', 'c', 1, 3, 'rw', true],
    ['/dev/zero', 'c', 1, 5, 'r', true],
    ['/dev/full', 'c', 1, 7, 'w', true],
    ['/dev/random', 'c', 1, 8, 'r', true],
    ['/dev/urandom', 'c', 1, 9, 'r', true],
    ['/dev/tty', 'c', 5, 0, 'rw', true],
    ['/dev/ptmx', 'c', 5, 2, 'rw', true],
    ['/dev/pts/7', 'c', 136, 7, 'rw', true],
    ['/dev/net/tun', 'c', 10, 200, 'rw', true],
    ['/dev/mem', 'c', 1, 1, 'r', false],
    ['/dev/kmsg', 'c', 1, 11, 'r', false],
    ['/dev/console', 'c', 5, 1, 'rw', false],
    ['/dev/sda read', 'b', 8, 0, 'r', false],
    ['/dev/sda write', 'b', 8, 0, 'w', false],
    ['mknod /dev/sda', 'b', 8, 0, 'm', true],
    ['mknod /dev/mem', 'c', 1, 1, 'm', true],
    ['mknod + read /dev/mem', 'c', 1, 1, 'rwm', false],
    ['/dev/fuse', 'c', 10, 229, 'rw', false],
  ];
  for (const [what, type, major, minor, access, expected] of table) {
    assert.is(verdict(bytes, type, major, minor, access), expected, what);
  }
});

test('the program agrees with the v1 model on a grid of accesses, for many rule sets', () => {
  const ruleSets: DeviceRule[][] = [
    defaultDeviceRules(),
    effectiveDeviceRules([{ allow: true, type: 'c', major: 10, minor: 229, access: 'rwm' }, { allow: true, type: 'b', major: 8, access: 'r' }]),
    [r(true, 'a', W, W, 'rwm')],
    [r(true, 'a', W, W, 'rwm'), r(false, 'c', 1, 3, 'w'), r(false, 'b', W, W, 'rw'), r(false, 'c', 5, W, 'm')],
    [r(false, 'a', W, W, 'rwm'), r(true, 'c', 1, 3, 'r'), r(true, 'c', W, W, 'w'), r(true, 'b', 8, 0, 'rm'), r(false, 'b', 8, 0, 'm')],
    [r(false, 'a', W, W, 'rwm'), r(true, 'c', W, 3, 'rw'), r(true, 'b', 7, W, 'wm')],
    [],
  ];
  const devices: ['b' | 'c', number, number][] = [['c', 1, 3], ['c', 1, 5], ['c', 5, 3], ['c', 136, 0], ['c', 10, 200], ['c', 7, 3], ['b', 8, 0], ['b', 8, 1], ['b', 7, 3], ['b', 1, 3]];
  for (const [i, rules] of ruleSets.entries()) {
    const { bytes, state } = compileDeviceFilter(rules);
    for (const [type, major, minor] of devices) {
      for (const [access] of ACCESS) {
        assert.is(verdict(bytes, type, major, minor, access), deviceAccessAllowed(state, type, major, minor, access), `set ${i}: ${type} ${major}:${minor} ${access}`);
      }
    }
  }
});

test('last matching rule wins', () => {
  const deny = compileDeviceFilter([r(false, 'a', W, W, 'rwm'), r(true, 'c', 1, 3, 'rwm'), r(false, 'c', 1, 3, 'rwm')]).bytes;
  assert.not.ok(verdict(deny, 'c', 1, 3, 'r'));
  const allow = compileDeviceFilter([r(false, 'a', W, W, 'rwm'), r(false, 'c', 1, 3, 'rwm'), r(true, 'c', 1, 3, 'rwm')]).bytes;
  assert.ok(verdict(allow, 'c', 1, 3, 'r'));
});

test('the interpreter refuses bad programs (it is a real check)', () => {
  const ok = compileDeviceFilter(defaultDeviceRules()).insns;
  const broken = (patch: (p: typeof ok) => void) => {
    const p = ok.map((x) => ({ ...x }));
    patch(p);
    return encodeEbpf(p);
  };
  assert.throws(() => verify(broken((p) => (p[6]!.off = -3))), /backward/);
  assert.throws(() => verify(broken((p) => (p[6]!.off = 5000))), /out of range/);
  assert.throws(() => verify(broken((p) => (p[0]!.code = 0xff))), /unsupported|unknown/);
  assert.throws(() => runDeviceProgram(broken((p) => (p[0]!.src = 3)), { type: 2, access: 2, major: 1, minor: 3 }), /not the context|read before/);
  assert.throws(() => runDeviceProgram(encodeEbpf([{ code: OP.EXIT, dst: 0, src: 0, off: 0, imm: 0 }]), { type: 2, access: 2, major: 1, minor: 3 }), /r0 read before/);
});

// ---- real kernel (root, cgroup2 mount, addon with cgroup_bpf.cc)

function loadBpfAddon(): DeviceFilterSyscalls | string {
  let file: string;
  try {
    file = process.env.CAPSA_TEST_ADDON ?? nativePath('capsa_addon.node');
  } catch (e) {
    return `no addon (${(e as Error).message}); set CAPSA_TEST_ADDON`;
  }
  if (!fs.existsSync(file)) return `no addon at ${file}`;
  const a = require(file) as Partial<DeviceFilterSyscalls>;
  return typeof a.loadDeviceFilter === 'function' ? (a as DeviceFilterSyscalls) : `${file} was built without cgroup_bpf.cc`;
}

function cgroup2Root(): string | undefined {
  try {
    return cgroupHostFromSystem().unified;
  } catch {
    return undefined;
  }
}

function runInCgroup(dir: string, script: string): Promise<{ out: string; code: number | null }> {
  return new Promise((resolve, reject) => {
    // The child waits for a line on stdin, so it is in the cgroup before it opens anything.
    const child = spawn('sh', ['-c', `read go; ${script}`], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ out, code }));
    try {
      fs.writeFileSync(path.join(dir, 'cgroup.procs'), String(child.pid));
    } catch (e) {
      child.kill('SIGKILL');
      reject(e);
      return;
    }
    child.stdin.end('go\n');
  });
}

test('root: an attached program stops a process in the cgroup from opening a denied device', async () => {
  const addon = loadBpfAddon();
  const root = cgroup2Root();
  if (process.getuid?.() !== 0 || typeof addon === 'string' || !root) {
    console.log(`  (skipped: ${process.getuid?.() !== 0 ? 'not root' : typeof addon === 'string' ? addon : 'no cgroup2 mount'})`);
    return;
  }
  const dir = path.join(root, `capsa-test-${process.pid}-${Math.random().toString(36).slice(2, 8)}`);
  fs.mkdirSync(dir);
  try {
    // Allow /dev/zero only.
    const prog = compileDeviceFilter([r(false, 'a', W, W, 'rwm'), r(true, 'c', 1, 5, 'r')]);
    installDeviceFilter(addon, dir, prog.bytes);
    const res = await runInCgroup(dir, 'head -c 3 /dev/zero | wc -c; if cat /dev/null; then echo null-opened; else echo null-denied; fi');
    assert.match(res.out, /^\s*3\s*$/m, res.out);
    assert.match(res.out, /null-denied/, res.out);
    assert.match(res.out, /Operation not permitted/, res.out);
    // Replace it with the default set: /dev/null works again, and only one program is attached.
    installDeviceFilter(addon, dir, compileDeviceFilter(defaultDeviceRules()).bytes);
    const again = await runInCgroup(dir, 'cat /dev/null && echo null-opened');
    assert.match(again.out, /null-opened/, again.out);
    const fd = fs.openSync(dir, 'r');
    try {
      const attached = addon.attachedDeviceFilters(fd);
      assert.is(attached.length, 1);
      attached.forEach((f) => addon.closeFd(f));
    } finally {
      fs.closeSync(fd);
    }
  } finally {
    // The children have exited; the attached program goes with the dir.
    for (let i = 0; i < 50; i++) {
      try {
        fs.rmdirSync(dir);
        break;
      } catch (e) {
        // anything but EBUSY: leave it to the assertion below to report
        if ((e as NodeJS.ErrnoException).code !== 'EBUSY') break;
        await new Promise((res) => setTimeout(res, 20));
      }
    }
  }
  assert.not.ok(fs.existsSync(dir), 'temp cgroup removed');
});

test.run();
