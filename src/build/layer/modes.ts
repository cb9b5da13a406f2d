import { constants as fsc } from 'node:fs'

/**
 * The mode a layer entry gets from the file system it was read on. POSIX file systems say what
 * they mean. Windows has no permission bits: Node reports 0o666 for everything (0o444 when
 * read-only), which would make directories untraversable and files world-writable in the image,
 * so there directories and symlinks get 0o755 and 0o777 and files 0o644, as a fresh checkout
 * would have on Linux; executables must be marked explicitly.
 */
export const WINDOWS_DIR_MODE = 0o755
export const WINDOWS_FILE_MODE = 0o644
export const WINDOWS_SYMLINK_MODE = 0o777

/** `mode` (type bits included, as fs.Stats gives it) as the layer should hold it. */
export function layerMode(mode: number, platform: NodeJS.Platform = process.platform): number {
  if (platform !== 'win32') return mode
  const type = mode & fsc.S_IFMT
  if (type === fsc.S_IFDIR) return type | WINDOWS_DIR_MODE
  if (type === fsc.S_IFLNK) return type | WINDOWS_SYMLINK_MODE
  return type | WINDOWS_FILE_MODE
}
