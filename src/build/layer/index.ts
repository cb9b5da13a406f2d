/**
 * Builds one layer from a line of the `layers` input: a directory or a file written into a tar,
 * or a tarball kept or recompressed; stored in the run's blob store under its digest, with the
 * validator's findings made on the way.
 */
import * as fsSync from 'node:fs'
import type { Stats } from 'node:fs'
import * as fs from 'node:fs/promises'
import * as path from 'node:path'
import * as tar from 'tar-stream'
import { createHash } from 'node:crypto'
import {
  compressionLevel,
  compressorStages,
  GZIP_BLOCK,
  recipeCompressor
} from '../../codec/compress.js'
import type { MemberCompressor } from '../../codec/gzip-members.js'
import { HashingStream } from '../../oci/digest.js'
import type { BlobSink } from '../../oci/scan.js'
import { LadingError, messageOf } from '../../util/errors.js'
import { fileSystemError, layerError, shownSource, type LocatedInput } from './input-errors.js'
import { SlabPool } from './slabs.js'
import { isTarballName, layerName, type LayerInput } from './spec.js'
import { countingStage } from '../../util/progress.js'
import { streamToBlob } from './stream-to-blob.js'
import { tarballLayer } from './tarball.js'
import { packInChunks, writeEntries } from './tar-writer.js'
import { RecipeCutter, recipeBlocks } from './tar-recipes.js'
import { TreeHasher } from './tree-hash.js'
export { HashThreads } from './tree-hash.js'
import {
  builtLayerOf,
  hashed,
  layerRecipe,
  type BuildSettings,
  type BuiltLayer,
  type DiffPass,
  type LayerOptions
} from './types.js'
import {
  imagePath,
  parentEntries,
  refuseWhiteoutPath,
  resolveExclusions,
  walkTree,
  type TreeEntry
} from './walk.js'

export type { Compression } from '../../oci/mediatypes.js'
export { parseCompression } from '../../codec/compress.js'
export {
  expandForPlatform,
  isPerPlatform,
  isTarballName,
  layerName,
  parseLayerSpec,
  type LayerInput
} from './spec.js'
export { SlabPool } from './slabs.js'
export type { BuiltLayer, DiffPass, LayerOptions } from './types.js'
export { layerRecipe } from './types.js'

/**
 * Files up to this size are read by the main thread (into a slab, copied into the recipe), larger
 * ones by the compressor's threads. With every file deferred, 100,000 files of up to 1 KiB made
 * the main thread's young generation grow to 64 MiB (it walked them so fast) and the build peak
 * at 155-170 MiB; read here, 128-140 MiB in 35 runs of 37 (155 and 158 MiB in the other two),
 * 15% slower. On the benchmark's 200 MB tree the threads then have less to do and
 * the build is as fast or faster (1.07-1.19 s, 1.19-1.42 s); 16 KiB did as well as 64.
 */
const READ_HERE = 64 * 1024

/** What one tar entry is counted as for memory relief, beyond its bytes. */
const ENTRY_GARBAGE = 8 * 1024

/** A layer's tar to write: its entries, and its size when known (a single file's), for progress. */
interface EntriesContent {
  kind: 'entries'
  input: LocatedInput
  entries: Iterable<TreeEntry>
  createdBy: string
  size?: number
}

/** A layer's tar as the build would write it: its entries, or a tarball kept as it is. */
type LayerContent = EntriesContent | { kind: 'tarball'; size: number }

export async function buildLayer(
  input: LayerInput,
  store: BlobSink,
  opts: LayerOptions
): Promise<BuiltLayer> {
  const settings = settle(opts)
  const content = await layerContent(input, store, opts)
  const built =
    content.kind === 'tarball'
      ? await tarballLayer(input, store, settings, content.size)
      : await tarLayer(content.input, store, settings, content)
  return { ...built, comment: layerRecipe(settings.compression, settings.level) }
}

/**
 * The first pass of a layer when a cache may hold it: its tar written and hashed, not compressed
 * nor stored, with the validator's entry checks run on the way. None for a tarball (kept as it
 * is, it costs no compression to begin with).
 */
export async function layerDiffPass(
  input: LayerInput,
  store: BlobSink,
  opts: LayerOptions
): Promise<DiffPass | undefined> {
  const settings = settle(opts)
  const content = await layerContent(input, store, opts)
  if (content.kind === 'tarball') return undefined
  // The files' bytes are read and hashed on a thread of their own while this one walks the tree
  // and writes the tar's headers (tree-hash.ts).
  const hasher = new TreeHasher(content.input, opts.hashThreads)
  const { pack, check, written } = packEntries(
    content.input,
    settings,
    content.entries,
    (abs, size) => hasher.deferred(abs, size)
  )
  const hashed = (async () => {
    try {
      for await (const chunk of pack as AsyncIterable<Buffer>) await hasher.chunk(chunk)
    } catch (err) {
      pack.destroy(err as Error)
      throw err
    }
  })()
  const results = await Promise.allSettled([hashed, written])
  const failed = results.find(r => r.status === 'rejected')
  let diffId: string
  try {
    if (failed) throw failed.reason
    diffId = await hasher.digest()
  } catch (err) {
    pack.destroy()
    await hasher.stop()
    throw err instanceof LadingError ? err : layerError(content.input, messageOf(err))
  }
  return {
    diffId,
    createdBy: content.createdBy,
    comment: layerRecipe(settings.compression, settings.level),
    scan: layer => check.result(layer)
  }
}

function settle(opts: LayerOptions): BuildSettings {
  const seconds = opts.mtime.getTime() / 1000
  // tar-stream writes mtime as a signed 32-bit count of seconds.
  if (!(seconds >= 0 && seconds < 2 ** 31))
    throw new LadingError(
      `layers: timestamp ${Number.isNaN(seconds) ? '(invalid date)' : opts.mtime.toISOString()} is outside the range a layer can hold (1970-01-01 to 2038-01-19)`
    )
  return {
    ...opts,
    level: compressionLevel(opts.compression, opts.level),
    slabs: opts.slabs ?? new SlabPool()
  }
}

async function layerContent(
  input: LayerInput,
  store: BlobSink,
  opts: LayerOptions
): Promise<LayerContent> {
  let st: Stats
  const located: LocatedInput = { ...input }
  try {
    st = await fs.stat(input.source)
    // Real paths on both sides, so a symlink on the way to either still lets exclusions match.
    located.realSource = await fs.realpath(input.source)
  } catch (err) {
    throw fileSystemError(input, input.source, err)
  }
  const excluded = await resolveExclusions(store.root, opts.exclude ?? [])
  if (excluded.covers(located.realSource))
    throw layerError(
      input,
      `"${input.source}" is part of what this run writes (the output layout, archive or report); build layers from other paths`
    )
  if (st.isDirectory()) {
    const root = imagePath(input.dest ?? '/')
    refuseWhiteoutPath(located, root)
    const entries = walkTree(located, excluded, root)
    const createdBy = `lading: COPY ${shownSource(input.source)} /${root}`
    return { kind: 'entries', input: located, entries, createdBy }
  }
  if (!st.isFile())
    throw layerError(
      input,
      `"${input.source}" is not a directory, a regular file or a tarball; only those can become layers`
    )
  if (isTarballName(input.source)) {
    if (input.dest !== undefined)
      throw layerError(
        input,
        `a tarball is used as a layer as it is, so it takes no DEST; write "${input.source}" alone or repack it`
      )
    if (input.chown || input.chmod !== undefined)
      throw layerError(
        input,
        'a tarball is used as a layer as it is, so it takes no --chown or --chmod; its entries keep their owners and modes'
      )
    return { kind: 'tarball', size: st.size }
  }
  return singleFileContent(located, st.size)
}

function singleFileContent(input: LocatedInput, size: number): LayerContent {
  let dest = input.dest ?? '/'
  if (dest.endsWith('/')) dest += path.basename(input.source)
  const name = imagePath(dest)
  if (!name) throw layerError(input, `DEST "${input.dest}" names the root directory, not a file`)
  refuseWhiteoutPath(input, name)
  const entries: TreeEntry[] = [
    ...parentEntries(name),
    { name, abs: input.realSource, followLink: true }
  ]
  const createdBy = `lading: COPY ${shownSource(input.source)} /${name}`
  return { kind: 'entries', input, entries, createdBy, size }
}

/** The tar of the entries being written into a pack, checked entry by entry. */
function packEntries(
  input: LocatedInput,
  settings: BuildSettings,
  entries: Iterable<TreeEntry>,
  deferBody?: (abs: string, size: number) => void,
  readUpTo?: number
) {
  const pack = tar.pack()
  // A failure to read the tree destroys the pack with it; it is reported through `written`.
  pack.on('error', () => {})
  const check = settings.checks.entries()
  const written = writeEntries(input, pack, entries, {
    mtime: settings.mtime,
    slabs: settings.slabs,
    owner: input.chown,
    chmod: input.chmod,
    platform: settings.platform,
    deferBody,
    readUpTo,
    onHeader: h => {
      check.entry(h)
      // Each entry leaves a few KiB of objects (header, tar-stream sink, promises) besides its
      // bytes, which for trees of small files is most of the garbage. Where bytes go through
      // reused buffers only (deferBody: a diff pass, a gzip build's recipes) what is left is the
      // objects, which the young generation's collections take; counted, they started a full
      // collection every 2,000 entries, 10-20 ms each, for nothing (nor did counting them lower
      // the peak of a gzip build of 100,000 files, measured).
      if (!deferBody) settings.relief?.moved(ENTRY_GARBAGE)
    }
  }).then(
    () => pack.finalize(),
    (err: unknown) => {
      pack.destroy(err as Error)
      throw err
    }
  )
  return { pack, check, written }
}

/** A layer written as a tar from the entries, checked entry by entry, compressed and stored. */
async function tarLayer(
  input: LocatedInput,
  store: BlobSink,
  settings: BuildSettings,
  content: EntriesContent
): Promise<BuiltLayer> {
  const members = recipeCompressor(settings.compression, settings.level, settings.compressors)
  if (members) return recipeLayer(input, store, settings, content, members)
  const { entries, createdBy, size: total } = content
  const { pack, check, written } = packEntries(input, settings, entries)
  const compressed = settings.compression !== 'none'
  // Memory relief counts the garbage a build leaves: gzip gives the tar's chunks back to the pool
  // (they are not garbage), its members are; a tar stored as it is leaves its chunks behind.
  const gzip = settings.compression === 'gzip'
  const diffHash = new HashingStream('sha256', gzip ? undefined : settings.relief)
  const digestHash = compressed ? new HashingStream('sha256', settings.relief) : diffHash
  const counted = settings.progress
    ? [countingStage(settings.progress(layerName(input), total))]
    : []
  const stages = compressed
    ? [
        ...counted,
        diffHash,
        ...compressorStages(settings.compression, settings.level, {
          release: c => settings.slabs.release(c),
          shared: settings.compressors
        }),
        digestHash
      ]
    : [...counted, diffHash]
  await streamToBlob(store, {
    source: packInChunks(pack, settings.slabs),
    stages,
    concurrentWork: [written],
    stopConcurrentWork: () => pack.destroy(new Error('layer output failed')),
    digest: digestHash,
    storeError: err => layerError(input, `writing the layer into ${store.root}: ${messageOf(err)}`)
  })
  const built = builtLayerOf(settings.compression, hashed(digestHash), diffHash.digest(), createdBy)
  built.scan = check.result({ ...built.descriptor, diffId: built.diffId })
  return built
}

/**
 * A gzip layer whose 1 MiB blocks the libdeflate threads make from recipes, reading the files
 * themselves (tar-recipes.ts): this thread walks the tree, writes the tar's headers, hashes the tar
 * and the layer, and writes each member into the store's temp file with a synchronous write (of
 * a file in the page cache: cheaper than a round through libuv's pool, and the member's buffer
 * goes straight back to the compressor, leaving no garbage). The bytes are those of the streamed
 * build.
 */
async function recipeLayer(
  input: LocatedInput,
  store: BlobSink,
  settings: BuildSettings,
  content: EntriesContent,
  members: MemberCompressor
): Promise<BuiltLayer> {
  const { entries, createdBy, size: total } = content
  const cutter = new RecipeCutter(GZIP_BLOCK, () => members.recipeBuffer!())
  const { pack, check, written } = packEntries(
    input,
    settings,
    entries,
    (abs, size) => cutter.deferred(abs, size),
    READ_HERE
  )
  written.catch(() => {})
  const storeError = (err: unknown) =>
    layerError(input, `writing the layer into ${store.root}: ${messageOf(err)}`)
  const diffHash = createHash('sha256')
  const digestHash = createHash('sha256')
  const task = settings.progress?.(layerName(input), total)
  const tmp = store.tempPath()
  let fd = -1
  let size = 0
  let digest: string
  try {
    try {
      fd = fsSync.openSync(tmp, 'w')
    } catch (err) {
      throw storeError(err)
    }
    const tar = recipeBlocks(input, pack as AsyncIterable<Buffer>, cutter, members, c =>
      settings.slabs.release(c)
    )
    for await (const made of tar) {
      diffHash.update(made.block)
      digestHash.update(made.member)
      try {
        writeWhole(fd, made.member)
      } catch (err) {
        throw storeError(err)
      }
      size += made.member.length
      task?.advance(made.block.length)
      made.done()
    }
    await written
    digest = 'sha256:' + digestHash.digest('hex')
    try {
      fsSync.closeSync(fd)
      fd = -1
      await store.commit(tmp, digest)
    } catch (err) {
      throw storeError(err)
    }
  } catch (err) {
    pack.destroy()
    // The walk's own error (a file gone, a name refused) says more than what it broke.
    const walk = await written.then(
      () => undefined,
      (e: unknown) => e
    )
    if (fd >= 0) fsSync.closeSync(fd)
    await fs.rm(tmp, { force: true })
    const first = walk instanceof LadingError ? walk : err
    throw first instanceof LadingError ? first : layerError(input, messageOf(first))
  } finally {
    if (!settings.compressors) await members.close()
  }
  const built = builtLayerOf(
    'gzip',
    { digest, size },
    'sha256:' + diffHash.digest('hex'),
    createdBy
  )
  built.scan = check.result({ ...built.descriptor, diffId: built.diffId })
  return built
}

/** Writes all of `data` at the file's position, however many calls it takes. */
function writeWhole(fd: number, data: Buffer): void {
  for (let at = 0; at < data.length;) at += fsSync.writeSync(fd, data, at, data.length - at)
}
