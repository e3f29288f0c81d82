// The compiled CLI starts with JavaScriptCore's JIT held back (the
// --compile-jit-policy of scripts/compile-cli.mjs): right for a call that
// runs each function a few times. Work that runs long or loops hot (image
// imports, a relayed terminal) turns the normal policy back on. No-op on Node.
export function fullJit(): void {
  const bun = (globalThis as { Bun?: { unsafe?: { setJITPolicy?: (scale: number) => void } } }).Bun;
  bun?.unsafe?.setJITPolicy?.(1);
}
