// Device rules → an eBPF program of type BPF_PROG_TYPE_CGROUP_DEVICE, the way
// cgroup v2 enforces device access (it has no devices.allow file).
//
// The kernel runs the program on every open/mknod of a device node with a
// struct bpf_cgroup_dev_ctx { u32 access_type; u32 major; u32 minor; } in r1,
// where access_type = (access << 16) | type, type BPF_DEVCG_DEV_BLOCK=1 or
// BPF_DEVCG_DEV_CHAR=2, access a mask of MKNOD=1 READ=2 WRITE=4. Returning 1
// allows, 0 denies (EPERM).
//
// The rules are first reduced to "default + exceptions" (devices-rules.ts);
// every exception has the opposite action of the default, so the order of the
// checks doesn't matter and the program is: load the context, one block per
// exception (first match returns), then return the default. Matching follows
// the v1 controller: an allow exception must cover all of the requested
// access, a deny exception applies when it shares any part of it.
import { reduceDeviceRules, WILDCARD, type DeviceRule, type DeviceRuleState } from './devices-rules';

// node:os only for this (loaded on first use: it costs the compiled CLI's every start).
const littleEndian = () => (require('node:os') as typeof import('node:os')).endianness() === 'LE';

export const BPF_DEVCG_DEV_BLOCK = 1;
export const BPF_DEVCG_DEV_CHAR = 2;
export const BPF_DEVCG_ACC_MKNOD = 1;
export const BPF_DEVCG_ACC_READ = 2;
export const BPF_DEVCG_ACC_WRITE = 4;

// Opcodes (class | op | source), from linux/bpf.h and linux/bpf_common.h.
export const OP = {
  LDXW: 0x61, // BPF_LDX | BPF_MEM | BPF_W: dst = *(u32 *)(src + off)
  AND32_K: 0x54, // BPF_ALU | BPF_AND | BPF_K
  RSH32_K: 0x74, // BPF_ALU | BPF_RSH | BPF_K
  MOV32_K: 0xb4, // BPF_ALU | BPF_MOV | BPF_K
  JA: 0x05, // BPF_JMP | BPF_JA
  JNE_K: 0x55, // BPF_JMP | BPF_JNE | BPF_K
  JSET_K: 0x45, // BPF_JMP | BPF_JSET | BPF_K: jump if dst & imm
  EXIT: 0x95, // BPF_JMP | BPF_EXIT
} as const;

export interface EbpfInsn {
  code: number;
  dst: number;
  src: number;
  off: number;
  imm: number;
}

export const EBPF_INSN_BYTES = 8;
export const DEVICE_FILTER_LICENSE = 'Apache';

// Register use: r1 ctx, r2 type, r3 access, r4 major, r5 minor, r0 verdict.
const R0 = 0, R1 = 1, R2 = 2, R3 = 3, R4 = 4, R5 = 5;

const insn = (code: number, dst = 0, src = 0, off = 0, imm = 0): EbpfInsn => ({ code, dst, src, off, imm });

function accessMask(access: string): number {
  let m = 0;
  if (access.includes('r')) m |= BPF_DEVCG_ACC_READ;
  if (access.includes('w')) m |= BPF_DEVCG_ACC_WRITE;
  if (access.includes('m')) m |= BPF_DEVCG_ACC_MKNOD;
  return m;
}

const ALL_ACCESS = BPF_DEVCG_ACC_READ | BPF_DEVCG_ACC_WRITE | BPF_DEVCG_ACC_MKNOD;

/** A jump whose target is "the start of the next block", patched once the block is complete. */
type Pending = EbpfInsn & { toNext?: true };

function exceptionBlock(e: DeviceRule): Pending[] {
  const block: Pending[] = [];
  const skip = (code: number, dst: number, imm: number): Pending => ({ ...insn(code, dst, 0, 0, imm), toNext: true });
  block.push(skip(OP.JNE_K, R2, e.type === 'b' ? BPF_DEVCG_DEV_BLOCK : BPF_DEVCG_DEV_CHAR));
  const mask = accessMask(e.access);
  if (mask !== ALL_ACCESS) {
    if (e.allow) {
      // Requested bits outside the exception's access → not covered.
      block.push(skip(OP.JSET_K, R3, ALL_ACCESS & ~mask));
    } else {
      // No requested bit inside the exception's access → does not apply.
      block.push(insn(OP.JSET_K, R3, 0, 1, mask));
      block.push(skip(OP.JA, 0, 0));
    }
  }
  if (e.major !== WILDCARD) block.push(skip(OP.JNE_K, R4, e.major));
  if (e.minor !== WILDCARD) block.push(skip(OP.JNE_K, R5, e.minor));
  block.push(insn(OP.MOV32_K, R0, 0, 0, e.allow ? 1 : 0), insn(OP.EXIT));
  return block;
}

/** The program for an already-reduced rule state. */
export function deviceFilterInsns(state: DeviceRuleState): EbpfInsn[] {
  const out: EbpfInsn[] = [
    insn(OP.LDXW, R2, R1, 0),
    insn(OP.AND32_K, R2, 0, 0, 0xffff),
    insn(OP.LDXW, R3, R1, 0),
    insn(OP.RSH32_K, R3, 0, 0, 16),
    insn(OP.LDXW, R4, R1, 4),
    insn(OP.LDXW, R5, R1, 8),
  ];
  for (const e of state.exceptions) {
    const block = exceptionBlock(e);
    const nextBlock = out.length + block.length;
    for (const { toNext, ...plain } of block) {
      out.push(toNext ? { ...plain, off: nextBlock - (out.length + 1) } : plain);
    }
  }
  out.push(insn(OP.MOV32_K, R0, 0, 0, state.defaultAllow ? 1 : 0), insn(OP.EXIT));
  return out;
}

/** struct bpf_insn as the kernel reads it: code, dst:4/src:4 (order by endianness), s16 off, s32 imm. */
export function encodeEbpf(insns: EbpfInsn[]): Buffer {
  const le = littleEndian();
  const buf = Buffer.alloc(insns.length * EBPF_INSN_BYTES);
  insns.forEach((x, i) => {
    const o = i * EBPF_INSN_BYTES;
    buf.writeUInt8(x.code, o);
    buf.writeUInt8(le ? ((x.src & 0xf) << 4) | (x.dst & 0xf) : ((x.dst & 0xf) << 4) | (x.src & 0xf), o + 1);
    if (le) {
      buf.writeInt16LE(x.off, o + 2);
      buf.writeInt32LE(x.imm | 0, o + 4);
    } else {
      buf.writeInt16BE(x.off, o + 2);
      buf.writeInt32BE(x.imm | 0, o + 4);
    }
  });
  return buf;
}

export function decodeEbpf(buf: Buffer): EbpfInsn[] {
  const le = littleEndian();
  const out: EbpfInsn[] = [];
  for (let o = 0; o + EBPF_INSN_BYTES <= buf.length; o += EBPF_INSN_BYTES) {
    const regs = buf.readUInt8(o + 1);
    out.push({
      code: buf.readUInt8(o),
      dst: le ? regs & 0xf : regs >> 4,
      src: le ? regs >> 4 : regs & 0xf,
      off: le ? buf.readInt16LE(o + 2) : buf.readInt16BE(o + 2),
      imm: le ? buf.readInt32LE(o + 4) : buf.readInt32BE(o + 4),
    });
  }
  return out;
}

/** Rule list (in config order) → program bytes ready for bpf(BPF_PROG_LOAD). */
export function compileDeviceFilter(rules: DeviceRule[]): { bytes: Buffer; insns: EbpfInsn[]; state: DeviceRuleState } {
  const state = reduceDeviceRules(rules);
  const insns = deviceFilterInsns(state);
  return { bytes: encodeEbpf(insns), insns, state };
}
