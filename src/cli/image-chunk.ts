// Entry of dist/capsa-image.js: the image and bundle verbs, bundled apart.
export { imageCommand } from './verbs/image';
export { bundleCommand } from './verbs/bundle';
