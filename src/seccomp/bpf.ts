// Classic BPF as seccomp uses it: instruction encoding and an assembler that
// resolves symbolic labels. Conditional jumps carry 8-bit offsets, so the
// assembler rewrites any branch whose target is too far to go through a JA
// trampoline (JA has a 32-bit offset).

import { CapsaError } from '../errors';

/** Opcodes the compiler emits (class | size/op | mode/source). */
export const OP = {
  LD_W_ABS: 0x20, // A = u32 at seccomp_data[k]
  ALU_AND_K: 0x54, // A &= k
  JA: 0x05, // pc += k
  JEQ_K: 0x15, // pc += (A == k) ? jt : jf
  JGT_K: 0x25, // unsigned A > k
  JGE_K: 0x35, // unsigned A >= k
  JSET_K: 0x45, // (A & k) != 0
  RET_K: 0x06, // return k
} as const;

/** The kernel refuses filters longer than this (BPF_MAXINSNS). */
export const MAX_INSTRUCTIONS = 4096;
export const INSTRUCTION_BYTES = 8;
const MAX_SHORT_JUMP = 255;

/** A position in the program, placed once with `place`. */
export interface Label {
  readonly id: number;
  readonly name: string;
}

/** Where a branch goes: a label, or NEXT for the following instruction. */
export type Target = Label | typeof NEXT;
export const NEXT = null;

export type BranchOp = 'jeq' | 'jgt' | 'jge' | 'jset';
const BRANCH_CODE: Record<BranchOp, number> = {
  jeq: OP.JEQ_K,
  jgt: OP.JGT_K,
  jge: OP.JGE_K,
  jset: OP.JSET_K,
};

type Item =
  | { kind: 'label'; label: Label }
  | { kind: 'simple'; code: number; k: number }
  | { kind: 'jump'; target: Label }
  | { kind: 'branch'; code: number; k: number; whenTrue: Target; whenFalse: Target };

export class ProgramBuilder {
  private readonly items: Item[] = [];
  private labelCount = 0;
  private readonly placed = new Set<number>();

  newLabel(name = 'L'): Label {
    return { id: this.labelCount++, name };
  }

  place(label: Label): void {
    if (this.placed.has(label.id)) throw internal(`label ${label.name}#${label.id} placed twice`);
    this.placed.add(label.id);
    this.items.push({ kind: 'label', label });
  }

  loadWord(offset: number): void {
    this.items.push({ kind: 'simple', code: OP.LD_W_ABS, k: offset });
  }

  and(mask: number): void {
    this.items.push({ kind: 'simple', code: OP.ALU_AND_K, k: mask >>> 0 });
  }

  ret(value: number): void {
    this.items.push({ kind: 'simple', code: OP.RET_K, k: value >>> 0 });
  }

  jump(target: Label): void {
    this.items.push({ kind: 'jump', target });
  }

  branch(op: BranchOp, k: number, whenTrue: Target, whenFalse: Target): void {
    this.items.push({ kind: 'branch', code: BRANCH_CODE[op], k: k >>> 0, whenTrue, whenFalse });
  }

  /** Resolve labels (adding trampolines where needed) and encode, in the host's byte order. */
  assemble(bigEndian = false): Buffer {
    while (this.addTrampolines()) {
      // each pass fixes every branch that was too far; fixed branches stay fixed
    }
    const positions = this.labelPositions();
    const count = this.instructionCount();
    if (count > MAX_INSTRUCTIONS) {
      throw new CapsaError(
        'INVALID_CONFIG',
        `linux.seccomp: the compiled filter has ${count} instructions; the kernel accepts at most ${MAX_INSTRUCTIONS}`,
        { configPath: 'linux.seccomp' },
      );
    }
    const out = Buffer.alloc(count * INSTRUCTION_BYTES);
    let pc = 0;
    for (const item of this.items) {
      if (item.kind === 'label') continue;
      const at = pc * INSTRUCTION_BYTES;
      if (item.kind === 'simple') {
        encode(out, at, item.code, 0, 0, item.k, bigEndian);
      } else if (item.kind === 'jump') {
        encode(out, at, OP.JA, 0, 0, offsetTo(positions, item.target, pc), bigEndian);
      } else {
        const jt = item.whenTrue === NEXT ? 0 : offsetTo(positions, item.whenTrue, pc);
        const jf = item.whenFalse === NEXT ? 0 : offsetTo(positions, item.whenFalse, pc);
        if (jt > MAX_SHORT_JUMP || jf > MAX_SHORT_JUMP) throw internal('branch still too far after trampolines');
        encode(out, at, item.code, jt, jf, item.k, bigEndian);
      }
      pc++;
    }
    return out;
  }

  private instructionCount(): number {
    return this.items.reduce((n, item) => (item.kind === 'label' ? n : n + 1), 0);
  }

  private labelPositions(): Map<number, number> {
    const positions = new Map<number, number>();
    let pc = 0;
    for (const item of this.items) {
      if (item.kind === 'label') positions.set(item.label.id, pc);
      else pc++;
    }
    return positions;
  }

  /**
   * For each branch with a target more than 255 instructions ahead, insert
   * right after it a JA per far target, and point the branch at those. A
   * fall-through target becomes an explicit label after the trampolines.
   * Returns whether anything changed (positions then need recomputing).
   */
  private addTrampolines(): boolean {
    const positions = this.labelPositions();
    const rewritten: Item[] = [];
    let changed = false;
    let pc = 0;
    for (const item of this.items) {
      if (item.kind !== 'branch') {
        rewritten.push(item);
        if (item.kind !== 'label') pc++;
        continue;
      }
      const isFar = (t: Target): boolean => t !== NEXT && offsetTo(positions, t, pc) > MAX_SHORT_JUMP;
      const far = { whenTrue: isFar(item.whenTrue), whenFalse: isFar(item.whenFalse) };
      pc++;
      if (!far.whenTrue && !far.whenFalse) {
        rewritten.push(item);
        continue;
      }
      changed = true;
      const after = this.newLabel('after-trampoline');
      const fixed = { ...item };
      const tail: Item[] = [];
      for (const side of ['whenTrue', 'whenFalse'] as const) {
        const target = item[side];
        if (far[side] && target !== NEXT) {
          const hop = this.newLabel('trampoline');
          tail.push({ kind: 'label', label: hop }, { kind: 'jump', target });
          fixed[side] = hop;
        } else if (target === NEXT) {
          fixed[side] = after;
        }
      }
      this.placed.add(after.id);
      rewritten.push(fixed, ...tail, { kind: 'label', label: after });
    }
    if (changed) this.items.splice(0, this.items.length, ...rewritten);
    return changed;
  }
}

function offsetTo(positions: Map<number, number>, label: Label, fromPc: number): number {
  const at = positions.get(label.id);
  if (at === undefined) throw internal(`label ${label.name}#${label.id} was never placed`);
  const offset = at - (fromPc + 1);
  // seccomp filters may only jump forward
  if (offset < 0) throw internal(`backward jump to ${label.name}#${label.id}`);
  return offset;
}

function encode(out: Buffer, at: number, code: number, jt: number, jf: number, k: number, bigEndian: boolean): void {
  if (bigEndian) out.writeUInt16BE(code, at);
  else out.writeUInt16LE(code, at);
  out.writeUInt8(jt, at + 2);
  out.writeUInt8(jf, at + 3);
  if (bigEndian) out.writeUInt32BE(k >>> 0, at + 4);
  else out.writeUInt32LE(k >>> 0, at + 4);
}

function internal(message: string): CapsaError {
  return new CapsaError('INTERNAL', `seccomp assembler: ${message}`);
}
