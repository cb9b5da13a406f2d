/**
 * A tarball used as a layer: kept byte for byte when it is already in the chosen compression and
 * nothing follows its compressed stream, else decompressed and recompressed. Either way its tar is
 * hashed (diff_id) and checked by the validator as it is read, so it need not be read back.
 */
import { createReadStream } from 'node:fs'
import * as fs from 'node:fs/promises'
import type { Transform, Writable } from 'node:stream'
import { compressorStages } from '../../codec/compress.js'
import { createDecompressor, detectCompression, isZstdFrame } from '../../codec/decompress.js'
import { HashingStream } from '../../oci/digest.js'
import type { Compression } from '../../oci/mediatypes.js'
import type { BlobSink, TarStreamCheck } from '../../oci/scan.js'
import { messageOf } from '../../util/errors.js'
import { countingStage } from '../../util/progress.js'
import { fileSystemError, layerError, shownSource } from './input-errors.js'
import { layerName, type LayerInput } from './spec.js'
import { streamToBlob, tee } from './stream-to-blob.js'
import { builtLayerOf, hashed, type BuildSettings, type BuiltLayer } from './types.js'

/** Bytes per read of the tarball. */
const READ_CHUNK = 1024 * 1024

export async function tarballLayer(
  input: LayerInput,
  store: BlobSink,
  settings: BuildSettings,
  size: number
): Promise<BuiltLayer> {
  const format = detectCompression(await readBytesAt(input, 0, 6))
  if (format === 'xz' || format === 'bzip2')
    throw layerError(
      input,
      `"${input.source}" is compressed with ${format}, which layers cannot use; recompress it with gzip or zstd, or give the plain .tar`
    )
  // Bytes after the compressed stream (padding, a second zstd frame) are skipped by some readers and
  // fatal to others (Go's gzip: "invalid header"), so only a stream that is the whole file is kept.
  if (format === settings.compression) {
    const kept = await tarballPass({ input, format, size, keep: true }, store, settings)
    if (kept) return kept
  }
  return (await tarballPass({ input, format, size, keep: false }, store, settings))!
}

/** One read of a tarball, and what it is read for. */
interface TarballRead {
  input: LayerInput
  format: Compression
  size: number
  /** Keep the bytes as they are; else decompress and recompress them. */
  keep: boolean
}

/** How messages call the tarball. */
function kindOf(format: Compression): string {
  return format === 'none' ? 'tar' : `${format} tarball`
}

async function readBytesAt(input: LayerInput, at: number, n: number): Promise<Buffer> {
  const buf = Buffer.alloc(n)
  try {
    const fh = await fs.open(input.source, 'r')
    try {
      const { bytesRead } = await fh.read(buf, 0, n, at)
      return buf.subarray(0, bytesRead)
    } finally {
      await fh.close()
    }
  } catch (err) {
    throw fileSystemError(input, input.source, err)
  }
}

/** zlib streams count the input bytes they consumed, which stops short of trailing bytes. */
interface ZlibCounted {
  bytesWritten: number
}

/** The stages of one read of a tarball, and the hashes that name what it makes. */
interface TarballStages {
  stages: Transform[]
  /** The side branch feeding the validator's checks, settled once it has read the whole tar. */
  sideDone: Promise<void>
  digestHash: HashingStream
  diffHash: HashingStream
  decompressor?: Transform
}

function tarballStages(read: TarballRead, settings: BuildSettings, check: Writable): TarballStages {
  const hash = () => new HashingStream('sha256', settings.relief)
  const decompressor = read.format === 'none' ? undefined : createDecompressor(read.format)
  if (read.keep) {
    // The bytes are kept, and the tar inside is hashed and checked alongside.
    const digestHash = hash()
    const diffHash = decompressor ? hash() : digestHash
    const branch = tee(decompressor ? [decompressor, diffHash, check] : [check])
    return {
      stages: [digestHash, branch.stage],
      sideDone: branch.done,
      digestHash,
      diffHash,
      decompressor
    }
  }
  const decompress = decompressor ? [decompressor] : []
  const diffHash = hash()
  const branch = tee([check])
  if (settings.compression === 'none') {
    const stages = [...decompress, diffHash, branch.stage]
    return { stages, sideDone: branch.done, digestHash: diffHash, diffHash, decompressor }
  }
  const digestHash = hash()
  const compress = compressorStages(settings.compression, settings.level, {
    shared: settings.compressors
  })
  const stages = [...decompress, diffHash, branch.stage, ...compress, digestHash]
  return { stages, sideDone: branch.done, digestHash, diffHash, decompressor }
}

/** Stores the layer one read of a tarball makes; undefined when a kept tarball cannot be kept. */
async function tarballPass(
  read: TarballRead,
  store: BlobSink,
  settings: BuildSettings
): Promise<BuiltLayer | undefined> {
  const { input } = read
  const scanner = settings.checks.tarStream()
  const stages = tarballStages(read, settings, scanner.sink)
  const counted = settings.progress
    ? [countingStage(settings.progress(layerName(input), read.size))]
    : []
  const stored = await streamToBlob(store, {
    source: createReadStream(input.source, { highWaterMark: READ_CHUNK }),
    stages: [...counted, ...stages.stages],
    concurrentWork: [stages.sideDone],
    digest: stages.digestHash,
    storeError: err => layerError(input, `writing the layer into ${store.root}: ${messageOf(err)}`),
    streamError: err => {
      const e = err as NodeJS.ErrnoException
      if (e.code && e.syscall) return fileSystemError(input, input.source, err)
      const what = `"${input.source}" is not a readable ${kindOf(read.format)}: ${messageOf(err)}`
      return layerError(input, what)
    },
    accept: () => acceptTarball(read, scanner, stages.decompressor)
  })
  if (!stored) return undefined
  const createdBy = `lading: ADD ${shownSource(input.source)} /`
  const built = builtLayerOf(
    settings.compression,
    hashed(stages.digestHash),
    stages.diffHash.digest(),
    createdBy
  )
  built.scan = await scanner.result({ ...built.descriptor, diffId: built.diffId })
  return built
}

/**
 * Whether a tarball read to its end makes the layer: its tar must be whole, and a kept tarball
 * must end where its compressed stream does.
 */
async function acceptTarball(
  read: TarballRead,
  scanner: TarStreamCheck,
  decompressor: Transform | undefined
): Promise<boolean> {
  const { input, format, size } = read
  const tarError = await scanner.tarError()
  if (tarError !== undefined)
    throw layerError(input, `"${input.source}" is not a readable ${kindOf(format)}: ${tarError}`)
  const consumed = decompressor ? (decompressor as Transform & ZlibCounted).bytesWritten : size
  if (consumed >= size) return true
  // Node's zstd reader stops after one frame; what follows would be left out silently.
  if (format === 'zstd' && isZstdFrame(await readBytesAt(input, consumed, 4)))
    throw layerError(
      input,
      `"${input.source}" holds more than one zstd frame, which Lading cannot read; recompress it with plain zstd (one frame) or give the plain .tar`
    )
  return !read.keep
}
