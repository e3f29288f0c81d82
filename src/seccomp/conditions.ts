// Code for one argument comparison. seccomp_data.args[i] is a u64 the filter
// reads as two u32 words (low word first on little-endian ABIs, high word
// first on big-endian s390x), so a 64-bit compare becomes: decide on the high
// words, and only when they are equal, on the low words. All compares are
// unsigned, as in libseccomp.
//
// Each emitter falls through when the condition holds and jumps to `fail`
// when it does not. It clobbers the accumulator.

import type { ArchInfo } from './arch';
import { Label, NEXT, ProgramBuilder } from './bpf';
import type { ArgCondition } from './profile';

const ARGS_OFFSET = 16; // offsetof(struct seccomp_data, args)
const U32 = 0xffffffffn;

export interface Words {
  hi: number;
  lo: number;
}

export function splitU64(value: bigint): Words {
  return { hi: Number((value >> 32n) & U32), lo: Number(value & U32) };
}

export function argOffsets(index: number, bigEndian = false): { lo: number; hi: number } {
  const first = ARGS_OFFSET + 8 * index;
  return bigEndian ? { hi: first, lo: first + 4 } : { lo: first, hi: first + 4 };
}

export function emitCondition(b: ProgramBuilder, cond: ArgCondition, arch: Pick<ArchInfo, 'args32' | 'bigEndian'>, fail: Label): void {
  const at = argOffsets(cond.index, arch.bigEndian);
  if (arch.args32) emitLowWordCondition(b, cond, at, fail);
  else emitWideCondition(b, cond, at, fail);
}

/** 32-bit ABIs: the high word is always zero, compare the low word only. */
function emitLowWordCondition(b: ProgramBuilder, cond: ArgCondition, at: { lo: number }, fail: Label): void {
  const v = splitU64(cond.value).lo;
  b.loadWord(at.lo);
  switch (cond.op) {
    case 'EQ': return b.branch('jeq', v, NEXT, fail);
    case 'NE': return b.branch('jeq', v, fail, NEXT);
    case 'GT': return b.branch('jgt', v, NEXT, fail);
    case 'GE': return b.branch('jge', v, NEXT, fail);
    case 'LT': return b.branch('jge', v, fail, NEXT);
    case 'LE': return b.branch('jgt', v, fail, NEXT);
    case 'MASKED_EQ': {
      if (v !== 0xffffffff) b.and(v);
      return b.branch('jeq', splitU64(cond.valueTwo).lo, NEXT, fail);
    }
  }
}

function emitWideCondition(b: ProgramBuilder, cond: ArgCondition, at: { lo: number; hi: number }, fail: Label): void {
  const v = splitU64(cond.value);
  const pass = b.newLabel('arg-pass');
  switch (cond.op) {
    case 'EQ':
      b.loadWord(at.hi);
      b.branch('jeq', v.hi, NEXT, fail);
      b.loadWord(at.lo);
      b.branch('jeq', v.lo, NEXT, fail);
      break;
    case 'NE': // not EQ
      b.loadWord(at.hi);
      b.branch('jeq', v.hi, NEXT, pass);
      b.loadWord(at.lo);
      b.branch('jeq', v.lo, fail, NEXT);
      break;
    case 'GT':
    case 'GE':
      b.loadWord(at.hi);
      b.branch('jgt', v.hi, pass, NEXT);
      b.branch('jeq', v.hi, NEXT, fail);
      b.loadWord(at.lo);
      b.branch(cond.op === 'GT' ? 'jgt' : 'jge', v.lo, NEXT, fail);
      break;
    case 'LT': // not GE
    case 'LE': // not GT
      b.loadWord(at.hi);
      b.branch('jgt', v.hi, fail, NEXT);
      b.branch('jeq', v.hi, NEXT, pass);
      b.loadWord(at.lo);
      b.branch(cond.op === 'LT' ? 'jge' : 'jgt', v.lo, fail, NEXT);
      break;
    case 'MASKED_EQ': {
      const want = splitU64(cond.valueTwo);
      // a zero high mask with a zero wanted high word always holds
      if (v.hi !== 0 || want.hi !== 0) {
        b.loadWord(at.hi);
        if (v.hi !== 0xffffffff) b.and(v.hi);
        b.branch('jeq', want.hi, NEXT, fail);
      }
      b.loadWord(at.lo);
      if (v.lo !== 0xffffffff) b.and(v.lo);
      b.branch('jeq', want.lo, NEXT, fail);
      break;
    }
  }
  b.place(pass);
}
