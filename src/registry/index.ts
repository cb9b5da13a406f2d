/** The Distribution-spec client: what the engine and the transports use. */
export type { Credentials, AuthOptions, ResolvedCredentials } from './credentials.js'
export { resolveCredentials, dockerConfigPath } from './credentials.js'
export { RegistryClient, isLoopback, type ClientOptions } from './client.js'
export { RegistryError } from './errors.js'
export type { RetryPolicy } from './retry.js'
export {
  pushImage,
  type PushBlob,
  type PushRequest,
  type PushResult,
  type PushOptions
} from './push.js'
export { getManifest, putManifest, manifestExists, MANIFEST_ACCEPT } from './manifests.js'
export { blobExists, getBlob, readBlob, mountBlob, uploadBlob, type BlobTarget } from './blobs.js'
export { repositoryScope } from './auth.js'
