// A classic-BPF interpreter for seccomp filters, for tests: it runs a
// compiled program against a seccomp_data and returns the u32 the kernel
// would act on. Byte order is the host's the filter is meant for: little-endian
// by default, big-endian (s390x) on request, for both the program and the data. It checks the program first, as the kernel's loader does
// (known opcodes only, jumps in range, forward only, ends in RET), and
// throws on anything it does not understand rather than guessing.

export interface SeccompData {
  nr: number;
  arch: number;
  instructionPointer?: bigint;
  /** Up to six u64 arguments; missing ones are zero. */
  args?: readonly bigint[];
}

const INSN_BYTES = 8;
const MAX_INSNS = 4096;
const DATA_BYTES = 64; // sizeof(struct seccomp_data)
const SCRATCH_WORDS = 16; // BPF_MEMWORDS

// class
const LD = 0x00, LDX = 0x01, ST = 0x02, STX = 0x03, ALU = 0x04, JMP = 0x05, RET = 0x06, MISC = 0x07;

interface Insn {
  code: number;
  jt: number;
  jf: number;
  k: number;
}

const CONDITIONAL = new Set([0x15, 0x25, 0x35, 0x45]); // JEQ/JGT/JGE/JSET with K

export function decodeProgram(program: Buffer, bigEndian = false): Insn[] {
  if (program.length === 0 || program.length % INSN_BYTES !== 0) {
    throw new Error(`bpf: program length ${program.length} is not a positive multiple of ${INSN_BYTES}`);
  }
  const count = program.length / INSN_BYTES;
  if (count > MAX_INSNS) throw new Error(`bpf: ${count} instructions exceed ${MAX_INSNS}`);
  const insns: Insn[] = [];
  for (let i = 0; i < count; i++) {
    const at = i * INSN_BYTES;
    insns.push({
      code: bigEndian ? program.readUInt16BE(at) : program.readUInt16LE(at),
      jt: program.readUInt8(at + 2),
      jf: program.readUInt8(at + 3),
      k: bigEndian ? program.readUInt32BE(at + 4) : program.readUInt32LE(at + 4),
    });
  }
  insns.forEach((insn, pc) => checkInstruction(insn, pc, count));
  const last = insns[count - 1]!;
  if ((last.code & 0x07) !== RET) throw new Error(`bpf: last instruction (pc ${count - 1}) is not RET`);
  return insns;
}

function checkInstruction(insn: Insn, pc: number, count: number): void {
  const where = `pc ${pc} (code 0x${insn.code.toString(16)})`;
  const inRange = (offset: number): void => {
    if (pc + 1 + offset >= count) throw new Error(`bpf: jump out of range at ${where}: +${offset} of ${count}`);
  };
  switch (insn.code) {
    case 0x20: // LD W ABS
      if (insn.k % 4 !== 0 || insn.k + 4 > DATA_BYTES) throw new Error(`bpf: bad load offset ${insn.k} at ${where}`);
      return;
    case 0x00: // LD IMM
    case 0x01: // LDX IMM
    case 0x54: // ALU AND K
    case 0x06: // RET K
    case 0x16: // RET A
    case 0x07: // MISC TAX
    case 0x87: // MISC TXA
      return;
    case 0x60: // LD MEM
    case 0x61: // LDX MEM
    case 0x02: // ST
    case 0x03: // STX
      if (insn.k >= SCRATCH_WORDS) throw new Error(`bpf: scratch slot ${insn.k} out of range at ${where}`);
      return;
    case 0x05: // JA
      return inRange(insn.k);
    default:
      if (CONDITIONAL.has(insn.code)) {
        inRange(insn.jt);
        inRange(insn.jf);
        return;
      }
      throw new Error(`bpf: unknown opcode at ${where}`);
  }
}

export function seccompDataBuffer(data: SeccompData, bigEndian = false): Buffer {
  const buf = Buffer.alloc(DATA_BYTES);
  if (bigEndian) {
    buf.writeInt32BE(data.nr | 0, 0);
    buf.writeUInt32BE(data.arch >>> 0, 4);
    buf.writeBigUInt64BE(BigInt.asUintN(64, data.instructionPointer ?? 0n), 8);
  } else {
    buf.writeInt32LE(data.nr | 0, 0);
    buf.writeUInt32LE(data.arch >>> 0, 4);
    buf.writeBigUInt64LE(BigInt.asUintN(64, data.instructionPointer ?? 0n), 8);
  }
  const args = data.args ?? [];
  if (args.length > 6) throw new Error('bpf: seccomp_data has six arguments');
  args.forEach((arg, i) => {
    if (bigEndian) buf.writeBigUInt64BE(BigInt.asUintN(64, arg), 16 + 8 * i);
    else buf.writeBigUInt64LE(BigInt.asUintN(64, arg), 16 + 8 * i);
  });
  return buf;
}

/** Run `program` on `data`; returns the filter's u32 result. */
export function runFilter(program: Buffer, data: SeccompData, opts: { bigEndian?: boolean } = {}): number {
  const insns = decodeProgram(program, opts.bigEndian);
  const mem = seccompDataBuffer(data, opts.bigEndian);
  const scratch = new Uint32Array(SCRATCH_WORDS);
  let a = 0;
  let x = 0;
  let pc = 0;
  for (let steps = 0; steps <= insns.length; steps++) {
    const insn = insns[pc];
    if (!insn) throw new Error(`bpf: ran off the end at pc ${pc}`);
    const { code, k } = insn;
    pc++;
    switch (code) {
      case 0x20: a = opts.bigEndian ? mem.readUInt32BE(k) : mem.readUInt32LE(k); break;
      case 0x00: a = k; break;
      case 0x01: x = k; break;
      case 0x60: a = scratch[k]!; break;
      case 0x61: x = scratch[k]!; break;
      case 0x02: scratch[k] = a; break;
      case 0x03: scratch[k] = x; break;
      case 0x54: a = (a & k) >>> 0; break;
      case 0x07: x = a; break;
      case 0x87: a = x; break;
      case 0x05: pc += k; break;
      case 0x15: pc += a === k ? insn.jt : insn.jf; break;
      case 0x25: pc += a > k ? insn.jt : insn.jf; break;
      case 0x35: pc += a >= k ? insn.jt : insn.jf; break;
      case 0x45: pc += (a & k) !== 0 ? insn.jt : insn.jf; break;
      case 0x06: return k >>> 0;
      case 0x16: return a >>> 0;
      default: throw new Error(`bpf: unknown opcode 0x${code.toString(16)} at pc ${pc - 1}`);
    }
  }
  throw new Error('bpf: program did not terminate');
}

/** Readable disassembly, one instruction a line, for failing-test output. */
export function disassemble(program: Buffer, bigEndian = false): string {
  const names: Record<number, string> = {
    0x20: 'ld  [k]', 0x00: 'ld  #k', 0x01: 'ldx #k', 0x60: 'ld  M[k]', 0x61: 'ldx M[k]', 0x02: 'st  M[k]',
    0x03: 'stx M[k]', 0x54: 'and #k', 0x07: 'tax', 0x87: 'txa', 0x05: 'ja', 0x15: 'jeq', 0x25: 'jgt',
    0x35: 'jge', 0x45: 'jset', 0x06: 'ret #k', 0x16: 'ret a',
  };
  const lines: string[] = [];
  for (let at = 0, pc = 0; at + INSN_BYTES <= program.length; at += INSN_BYTES, pc++) {
    const code = bigEndian ? program.readUInt16BE(at) : program.readUInt16LE(at);
    const jt = program.readUInt8(at + 2);
    const jf = program.readUInt8(at + 3);
    const k = bigEndian ? program.readUInt32BE(at + 4) : program.readUInt32LE(at + 4);
    const name = names[code] ?? `op 0x${code.toString(16)}`;
    const jumps = CONDITIONAL.has(code) ? ` -> ${pc + 1 + jt} / ${pc + 1 + jf}` : code === 0x05 ? ` -> ${pc + 1 + k}` : '';
    lines.push(`${String(pc).padStart(4)}: ${name.padEnd(8)} 0x${k.toString(16).padStart(8, '0')}${jumps}`);
  }
  return lines.join('\n');
}

// re-exported classes for tests that hand-craft programs
export const BPF_CLASS = { LD, LDX, ST, STX, ALU, JMP, RET, MISC } as const;
