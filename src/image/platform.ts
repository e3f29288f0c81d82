// OS/architecture/variant matching, as registries and containerd name them.
import { CapsaError } from '../errors';

export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
  'os.version'?: string;
  'os.features'?: string[];
}

const ARCH_ALIASES: Record<string, string> = { x86_64: 'amd64', x64: 'amd64', aarch64: 'arm64', ia32: '386', i386: '386', armhf: 'arm', armel: 'arm' };

function normalizeArch(arch: string): string {
  return ARCH_ALIASES[arch] ?? arch;
}

function normalizeVariant(arch: string, variant: string | undefined): string | undefined {
  if (arch === 'arm64' && (variant === undefined || variant === '' || variant === 'v8')) return undefined;
  return variant || undefined;
}

/** Parses "os/arch[/variant]" such as "linux/arm64/v8". */
export function parsePlatform(text: string): Platform {
  const parts = text.split('/');
  if (parts.length < 2 || parts.length > 3 || parts.some((p) => p === '')) {
    throw new CapsaError('INVALID_ARGUMENT', `--platform ${JSON.stringify(text)}: expected os/arch[/variant], e.g. linux/amd64`);
  }
  const architecture = normalizeArch(parts[1]!);
  const p: Platform = { os: parts[0]!, architecture };
  const variant = normalizeVariant(architecture, parts[2]);
  if (variant) p.variant = variant;
  return p;
}

export function hostPlatform(): Platform {
  const architecture = normalizeArch(process.arch === 'ppc64' ? 'ppc64le' : process.arch);
  const p: Platform = { os: process.platform, architecture };
  if (architecture === 'arm') {
    const v = (process.config.variables as { arm_version?: string }).arm_version;
    if (v) p.variant = `v${v}`;
  }
  return p;
}

export function formatPlatform(p: Partial<Platform> | undefined): string {
  if (!p) return 'unknown';
  return [p.os ?? '?', p.architecture ?? '?', p.variant].filter(Boolean).join('/');
}

/** True when `have` (from an index) can serve `want`; a missing platform matches anything. */
export function platformMatches(want: Platform, have: Partial<Platform> | undefined): boolean {
  if (!have || (have.os === undefined && have.architecture === undefined)) return true;
  if (have.os !== want.os) return false;
  const arch = normalizeArch(have.architecture ?? '');
  if (arch !== want.architecture) return false;
  if (want.variant === undefined) return true;
  return normalizeVariant(arch, have.variant) === want.variant;
}
