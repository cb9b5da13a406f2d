/** The Distribution-spec client's face to the engine: pushing. Sources use transports/registry.ts. */
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
