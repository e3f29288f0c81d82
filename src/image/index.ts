// Public API of the image module.
export { unpackImage, type UnpackOptions, type UnpackProgress, type UnpackResult } from './unpack';
export { mountBundle, removeBundle, readMarker, BUNDLE_MARKER, type BundleMarker, type MountOutcome } from './bundle';
export { LayerStore, DEFAULT_STORE, type ImageRecord, type LayerMeta, type BundleRef } from './store';
export { imageToSpec, imageAnnotations, VOLUMES_ANNOTATION } from './config';
export { resolveUser, parsePasswd, parseGroup } from './user';
export { parsePlatform, hostPlatform, formatPlatform, type Platform } from './platform';
export { extractLayer, type ExtractOptions, type WhiteoutMode } from './extract';
