// The engine tests' image: the project's test rootfs (/bin/testinit plus
// busybox) as a one-layer `docker save` archive, which `ctr images import`,
// `podman load` and `docker load` all read. No registry is involved.
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { sharedTestRootfs } from '../rootfs';

/** The tag inside the archive; each engine qualifies it its own way. */
export const IMAGE_TAG = 'capsa-test/testinit:latest';
/** How containerd names it after import (docker.io/ is implied by the tag). */
export const CTR_IMAGE = `docker.io/${IMAGE_TAG}`;
/** How podman names it after `podman load`. */
export const PODMAN_IMAGE = `localhost/${IMAGE_TAG}`;
/** How docker names it after `docker load`. */
export const DOCKER_IMAGE = IMAGE_TAG;

export interface TestImage {
  archive: string;
  /** sha256 hex of the config blob (the image id docker and podman show). */
  configHex: string;
}

const hex = (data: Buffer) => createHash('sha256').update(data).digest('hex');

function goArch(): string {
  return ({ x64: 'amd64', ia32: '386', arm64: 'arm64', arm: 'arm' } as Record<string, string>)[process.arch] ?? process.arch;
}

/** Writes `<dir>/image.tar` (once per dir) and returns where it is. */
export function buildTestImage(dir: string): TestImage {
  const archive = path.join(dir, 'image.tar');
  const work = path.join(dir, 'image-build');
  fs.rmSync(work, { recursive: true, force: true });
  fs.mkdirSync(work, { recursive: true });
  try {
    const rootfs = sharedTestRootfs();
    const layerFile = path.join(work, 'layer.tar');
    execFileSync('tar', ['--numeric-owner', '-C', rootfs, '-cf', layerFile, '.'], { timeout: 60_000 });
    const layerHex = hex(fs.readFileSync(layerFile));
    const created = '2024-01-01T00:00:00Z';
    const config = Buffer.from(JSON.stringify({
      architecture: goArch(),
      os: 'linux',
      created,
      config: { Cmd: ['/bin/testinit', 'sleep', 'forever'], Env: ['PATH=/bin'], WorkingDir: '/' },
      rootfs: { type: 'layers', diff_ids: [`sha256:${layerHex}`] },
      history: [{ created, created_by: 'capsa test/helpers/engines/image.ts' }],
    }));
    const configHex = hex(config);
    fs.writeFileSync(path.join(work, `${configHex}.json`), config);
    fs.mkdirSync(path.join(work, layerHex));
    fs.renameSync(layerFile, path.join(work, layerHex, 'layer.tar'));
    fs.writeFileSync(path.join(work, layerHex, 'VERSION'), '1.0');
    fs.writeFileSync(path.join(work, 'manifest.json'), JSON.stringify([
      { Config: `${configHex}.json`, RepoTags: [IMAGE_TAG], Layers: [`${layerHex}/layer.tar`] },
    ]));
    fs.writeFileSync(path.join(work, 'repositories'), JSON.stringify({ [IMAGE_TAG.split(':')[0]!]: { latest: layerHex } }));
    execFileSync('tar', ['-C', work, '-cf', archive, 'manifest.json', 'repositories', `${configHex}.json`, `${layerHex}/VERSION`, `${layerHex}/layer.tar`], { timeout: 60_000 });
    return { archive, configHex };
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}
