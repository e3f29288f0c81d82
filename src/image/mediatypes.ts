// Media types capsa understands, and the checks that refuse the rest early.
import { CapsaError } from '../errors';
import { shortDigest } from './digest';

export const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
export const OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';
export const DOCKER_LIST = 'application/vnd.docker.distribution.manifest.list.v2+json';
export const DOCKER_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json';
export const DOCKER_CONFIG = 'application/vnd.docker.container.image.v1+json';

export const LAYER_TAR = 'application/vnd.oci.image.layer.v1.tar';
export const LAYER_GZIP = 'application/vnd.oci.image.layer.v1.tar+gzip';
export const LAYER_ZSTD = 'application/vnd.oci.image.layer.v1.tar+zstd';
export const DOCKER_LAYER_GZIP = 'application/vnd.docker.image.rootfs.diff.tar.gzip';

const LAYER_TYPES = new Set([LAYER_TAR, LAYER_GZIP, LAYER_ZSTD, DOCKER_LAYER_GZIP, 'application/vnd.docker.image.rootfs.diff.tar']);

export function isIndexType(mt: string | undefined): boolean {
  return mt === OCI_INDEX || mt === DOCKER_LIST;
}

export function isManifestType(mt: string | undefined): boolean {
  return mt === OCI_MANIFEST || mt === DOCKER_MANIFEST;
}

export function isConfigType(mt: string | undefined): boolean {
  return mt === OCI_CONFIG || mt === DOCKER_CONFIG;
}

/** Throws unless capsa can unpack a layer of this media type. */
export function checkLayerMediaType(mediaType: string | undefined, digest: string): void {
  const what = `layer ${shortDigest(digest)}`;
  if (mediaType && /nondistributable|foreign/.test(mediaType)) {
    throw new CapsaError(
      'IMAGE',
      `${what} is non-distributable (${mediaType}): its content is not in the image; capsa does not fetch foreign layers`,
    );
  }
  if (!mediaType || !LAYER_TYPES.has(mediaType)) {
    throw new CapsaError('UNSUPPORTED', `${what}: unsupported layer media type ${JSON.stringify(mediaType)}`);
  }
}
