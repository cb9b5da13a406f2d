/** The Distribution-spec client's face to the app: pushing, and mount locations. Sources are in source.ts. */
export { RegistryError } from './errors.js'
export {
  MountLocations,
  pushImage,
  beginPush,
  PushSession,
  type PushBlob,
  type PushRequest,
  type PushResult,
  type PushOptions
} from './push.js'
export {
  fallbackTag,
  listReferrers,
  pushReferrer,
  type ReferrerPush,
  type ReferrersList,
  type ReferrersVia
} from './referrers.js'
export { RegistryClient, type ClientOptions } from './client.js'
export { repositoryScope } from './auth.js'
export { getManifest } from './manifests.js'
export type { BlobTarget } from './blobs.js'
