/**
 * Document-level rules: pure functions over parsed JSON, one module per kind of document. They
 * never throw, whatever the input, and report every problem they find rather than the first.
 */
export { at, digestFinding, isMediaType } from './fields.js'
export { checkDescriptor, EMPTY_DIGEST, type DescriptorOptions } from './descriptor.js'
export { checkPlatform } from './platform.js'
export { checkAnnotations } from './annotations.js'
export { checkManifest } from './manifest.js'
export { checkIndex } from './image-index.js'
export { checkConfig } from './config.js'
export { checkLayoutFile } from './layout-file.js'
