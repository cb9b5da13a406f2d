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
