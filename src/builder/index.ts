// The spec builder: spec().withArgs(...).withMemoryLimit('64m').build() → Spec.
export { SpecBuilder, spec, NAMESPACE_TYPES, RLIMIT_TYPES, type BindOptions, type TmpfsOptions } from './spec-builder';
