// Regenerates the syscall tables in this directory:  node src/seccomp/tables/generate.mjs
// Needs linux-libc-dev headers (x86_64 multiarch layout) and cpp. Rows the
// headers lack (ARM EABI, syscalls newer than the headers) come from
// sources/*.txt, transcribed from the kernel's syscall.tbl files.

import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const OUT = dirname(fileURLToPath(import.meta.url));
const ASM = '/usr/include/x86_64-linux-gnu/asm';

function fromHeader(path) {
  const map = new Map();
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    let m = /^#define __NR_(\w+)\s+(\d+)\s*$/.exec(line);
    if (m) { map.set(m[1], Number(m[2])); continue; }
    m = /^#define __NR_(\w+)\s+\(__X32_SYSCALL_BIT \+ (\d+)\)\s*$/.exec(line);
    if (m) map.set(m[1], Number(m[2]));
  }
  return map;
}

// asm-generic/unistd.h (64-bit) with an architecture's settings, the way
// its uapi asm/unistd.h includes it.
function generic(defines) {
  // unistd.h includes <asm/bitsperlong.h>; an empty one lets us set __BITS_PER_LONG
  const stub = mkdtempSync(join(tmpdir(), 'capsa-unistd-'));
  mkdirSync(join(stub, 'asm'));
  writeFileSync(join(stub, 'asm', 'bitsperlong.h'), '');
  const src = ['#define __BITS_PER_LONG 64', ...defines.map((d) => `#define ${d}`), '#include <asm-generic/unistd.h>'].join('\n');
  const defs = execFileSync('cpp', ['-dM', '-nostdinc', `-I${stub}`, '-I/usr/include', '-'], { input: src, encoding: 'utf8' });
  rmSync(stub, { recursive: true });
  const raw = new Map();
  for (const line of defs.split('\n')) {
    const m = /^#define __NR(3264)?_(\w+) (.+)$/.exec(line);
    if (m) raw.set((m[1] ? '3264_' : '') + m[2], m[3].trim());
  }
  const map = new Map();
  const resolve = (v) => { for (let i = 0; i < 5 && !/^\d+$/.test(v); i++) { v = raw.get(v.replace(/^__NR(3264)?_/, (_, a) => a ? '3264_' : '')) ?? v; } return v; };
  for (const [k, v] of raw) {
    if (k.startsWith('3264_') || k === 'syscalls' || k === 'arch_specific_syscall') continue;
    const n = resolve(v);
    if (/^\d+$/.test(n)) map.set(k, Number(n));
  }
  return map;
}

// arm64: renameat, rlimit, memfd_secret, clone3 (arch/arm64/include/uapi/asm/unistd.h)
const aarch64 = () => generic(['__ARCH_WANT_RENAMEAT', '__ARCH_WANT_NEW_STAT', '__ARCH_WANT_SET_GET_RLIMIT',
  '__ARCH_WANT_TIME32_SYSCALLS', '__ARCH_WANT_SYS_CLONE3', '__ARCH_WANT_MEMFD_SECRET']);
// riscv64: newstat, rlimit, memfd_secret (arch/riscv/kernel/Makefile.syscalls), plus its two
// private calls at __NR_arch_specific_syscall (244) + 14 and + 15.
function riscv64() {
  const map = generic(['__ARCH_WANT_NEW_STAT', '__ARCH_WANT_SET_GET_RLIMIT', '__ARCH_WANT_SYS_CLONE3', '__ARCH_WANT_MEMFD_SECRET']);
  map.set('riscv_hwprobe', 258);
  map.set('riscv_flush_icache', 259);
  return map;
}
// loongarch64: no extra ABIs (arch/loongarch/kernel/Makefile.syscalls): no renameat, rlimit, stat.
const loong64 = () => generic(['__ARCH_WANT_SYS_CLONE', '__ARCH_WANT_SYS_CLONE3']);

// Since Linux 5.1 every architecture numbers new syscalls alike, from 424 on.
function shared() {
  return new Map([...aarch64()].filter(([, n]) => n >= 424));
}

/** Rows "<nr> <abi> <name>" of a transcribed syscall.tbl whose ABI is one of `abis`. */
function fromAbiTbl(path, abis) {
  const map = new Map();
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    const m = /^(\d+) (\w+) (\w+)$/.exec(line.trim());
    if (m && abis.includes(m[2])) map.set(m[3], Number(m[1]));
  }
  for (const [name, n] of shared()) if (!map.has(name)) map.set(name, n);
  return map;
}

function fromTbl(path) {
  const map = new Map();
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    const m = /^(0x[0-9a-f]+|\d+) (\w+)$/.exec(line.trim());
    if (m) map.set(m[2], Number(m[1]));
  }
  return map;
}

function addExtras(map, arch) {
  for (const line of readFileSync(join(OUT, 'sources', 'newer-syscalls.txt'), 'utf8').split('\n')) {
    const m = /^(\d+) (\w+) (.+)$/.exec(line);
    if (!m) continue;
    const archs = m[3].split(' ');
    if (!archs.includes('all') && !archs.includes(arch)) continue;
    if (map.has(m[2]) && map.get(m[2]) !== Number(m[1])) throw new Error(`conflict ${arch} ${m[2]}`);
    map.set(m[2], Number(m[1]));
  }
  return map;
}

function emit(file, constName, map, source) {
  const entries = [...map].sort((a, b) => a[1] - b[1] || a[0].localeCompare(b[0]));
  const nums = new Set();
  for (const [name, n] of entries) { if (nums.has(n)) throw new Error(`dup number ${file} ${name} ${n}`); nums.add(n); }
  const lines = [];
  let cur = '';
  for (const [name, n] of entries) {
    const item = `${/^[a-z_]\w*$/.test(name) ? name : JSON.stringify(name)}: ${n >= 0x10000 ? '0x' + n.toString(16) : n},`;
    if (cur.length + item.length + 1 > 98) { lines.push('  ' + cur.trimEnd()); cur = ''; }
    cur += item + ' ';
  }
  if (cur) lines.push('  ' + cur.trimEnd());
  const text = `// Generated: syscall name -> number for ${constName.replace(/_SYSCALLS$/, '').toLowerCase()}.
// Source: ${source}
// Do not edit by hand; numbers come from the kernel's tables, never guessed.

export const ${constName}: Readonly<Record<string, number>> = Object.freeze({
${lines.join('\n')}
});
`;
  writeFileSync(`${OUT}/${file}.ts`, text);
  console.log(`${file}: ${entries.length} syscalls`);
}

const K618 = 'linux 6.18 syscall tables for entries 451-469 (and x86 uprobe/uretprobe)';
emit('x86_64', 'X86_64_SYSCALLS', addExtras(fromHeader(`${ASM}/unistd_64.h`), 'x86_64'), `linux-libc-dev 6.1 asm/unistd_64.h, plus ${K618}.`);
emit('x32', 'X32_SYSCALLS', addExtras(fromHeader(`${ASM}/unistd_x32.h`), 'x32'), `linux-libc-dev 6.1 asm/unistd_x32.h (without __X32_SYSCALL_BIT, added by arch.ts), plus ${K618}.`);
emit('x86', 'X86_SYSCALLS', addExtras(fromHeader(`${ASM}/unistd_32.h`), 'x86'), `linux-libc-dev 6.1 asm/unistd_32.h (i386), plus ${K618}.`);
emit('aarch64', 'AARCH64_SYSCALLS', addExtras(aarch64(), 'aarch64'), `linux-libc-dev 6.1 asm-generic/unistd.h with arm64's settings (64-bit; renameat, rlimit, memfd_secret, clone3), plus ${K618}.`);
emit('ppc64le', 'PPC64LE_SYSCALLS', addExtras(fromAbiTbl(join(OUT, 'sources', 'ppc.tbl'), ['common', '64', 'nospu']), 'ppc64le'), `linux arch/powerpc/kernel/syscalls/syscall.tbl (common, 64 and nospu rows), the shared numbers from 424 (linux-libc-dev 6.1 asm-generic/unistd.h), plus ${K618}.`);
emit('s390x', 'S390X_SYSCALLS', addExtras(fromAbiTbl(join(OUT, 'sources', 's390.tbl'), ['common', '64']), 's390x'), `linux arch/s390/kernel/syscalls/syscall.tbl (common and 64 rows), the shared numbers from 424 (linux-libc-dev 6.1 asm-generic/unistd.h), plus ${K618}.`);
emit('riscv64', 'RISCV64_SYSCALLS', addExtras(riscv64(), 'riscv64'), `linux-libc-dev 6.1 asm-generic/unistd.h with riscv64's settings (64-bit; newstat, rlimit, memfd_secret, clone3; riscv_hwprobe, riscv_flush_icache), plus ${K618}.`);
emit('loong64', 'LOONG64_SYSCALLS', addExtras(loong64(), 'loong64'), `linux-libc-dev 6.1 asm-generic/unistd.h with loongarch64's settings (64-bit; clone, clone3; no renameat, rlimit or stat), plus ${K618}.`);
emit('arm', 'ARM_SYSCALLS', addExtras(fromTbl(join(OUT, 'sources', 'arm-eabi.txt')), 'arm'), 'linux arch/arm/tools/syscall.tbl, EABI ("common"/"eabi" rows; OABI-only rows left out), and the ARM-private calls at 0x0f0000 from arch/arm/include/uapi/asm/unistd.h.');
