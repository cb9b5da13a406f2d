import { describe, expect, it } from '@jest/globals'
import { createHash } from 'node:crypto'
import {
  ImageGraph,
  descriptors,
  walkGraph,
  MAX_INDEX_DEPTH,
  type GraphDocument
} from '../../src/oci/graph.js'
import { MediaType } from '../../src/oci/mediatypes.js'
import type { Descriptor } from '../../src/oci/types.js'

function doc(value: unknown, mediaType: string): GraphDocument {
  const bytes = Buffer.from(JSON.stringify(value))
  const digest = 'sha256:' + createHash('sha256').update(bytes).digest('hex')
  return { descriptor: { mediaType, digest, size: bytes.length }, bytes }
}

function manifest(n: number): GraphDocument {
  return doc(
    {
      schemaVersion: 2,
      mediaType: MediaType.ImageManifest,
      config: {
        mediaType: MediaType.ImageConfig,
        digest: 'sha256:' + `${n}`.repeat(64).slice(0, 64),
        size: 2
      },
      layers: []
    },
    MediaType.ImageManifest
  )
}

function index(children: Descriptor[]): GraphDocument {
  return doc(
    { schemaVersion: 2, mediaType: MediaType.ImageIndex, manifests: children },
    MediaType.ImageIndex
  )
}

/** An index listing the one below it `fanOut` times, `depth` levels down to one manifest. */
function fanOut(fanOut: number, depth: number): { root: Descriptor; docs: GraphDocument[] } {
  const docs = [manifest(1)]
  let below = docs[0].descriptor
  for (let level = 0; level < depth; level++) {
    const idx = index(Array.from({ length: fanOut }, () => below))
    docs.push(idx)
    below = idx.descriptor
  }
  return { root: below, docs }
}

function graphOf(root: Descriptor, docs: GraphDocument[]): ImageGraph {
  return new ImageGraph(root, new Map(docs.map(d => [d.descriptor.digest, d])), new Map())
}

describe('walkGraph', () => {
  it('visits each document once however often the indexes list it', async () => {
    const { root, docs } = fanOut(10, 5)
    const byDigest = new Map(docs.map(d => [d.descriptor.digest, d]))
    const visits = new Map<string, number>()
    await walkGraph(
      root,
      descriptors({
        children: d => {
          visits.set(d.digest, (visits.get(d.digest) ?? 0) + 1)
          const parsed = JSON.parse(byDigest.get(d.digest)!.bytes.toString()) as {
            manifests?: Descriptor[]
          }
          return parsed.manifests ?? []
        }
      })
    )
    expect(visits.size).toBe(docs.length)
    expect([...visits.values()].every(n => n === 1)).toBe(true)
  })

  it('reports an index nested in itself and does not walk it again', async () => {
    const a: Descriptor = {
      mediaType: MediaType.ImageIndex,
      digest: 'sha256:' + 'a'.repeat(64),
      size: 1
    }
    const b: Descriptor = {
      mediaType: MediaType.ImageIndex,
      digest: 'sha256:' + 'b'.repeat(64),
      size: 1
    }
    const cycles: string[] = []
    await walkGraph(
      a,
      descriptors({
        children: d => (d.digest === a.digest ? [b] : [a]),
        cycle: d => cycles.push(d.digest)
      })
    )
    expect(cycles).toEqual([a.digest])
  })

  it('stops at indexes nested deeper than the limit and says so', async () => {
    const tooDeep: number[] = []
    let deepest = 0
    const chain = (n: number): Descriptor => ({
      mediaType: MediaType.ImageIndex,
      digest: 'sha256:' + n.toString(16).padStart(64, '0'),
      size: 1
    })
    await walkGraph(
      chain(0),
      descriptors({
        children: (d, at) => {
          deepest = Math.max(deepest, at.depth)
          return [chain(parseInt(d.digest.slice(7), 16) + 1)]
        },
        tooDeep: (_d, at) => tooDeep.push(at.depth)
      })
    )
    expect(deepest).toBe(MAX_INDEX_DEPTH)
    expect(tooDeep).toEqual([MAX_INDEX_DEPTH + 1])
  })

  it('keys by what the visitor says: a manifest under two platforms is visited twice', async () => {
    const m = manifest(2).descriptor
    const amd = { ...m, platform: { os: 'linux', architecture: 'amd64' } }
    const arm = { ...m, platform: { os: 'linux', architecture: 'arm64' } }
    const root: Descriptor = {
      mediaType: MediaType.ImageIndex,
      digest: 'sha256:' + 'c'.repeat(64),
      size: 1
    }
    const seen: string[] = []
    await walkGraph(
      root,
      descriptors({
        key: d => `${d.digest} ${d.platform?.architecture ?? ''}`,
        children: d => {
          if (d === root) return [amd, arm, amd]
          seen.push(d.platform!.architecture)
        }
      })
    )
    expect(seen).toEqual(['amd64', 'arm64'])
  })
})

describe('ImageGraph.pushOrder', () => {
  it('puts every child before the index that lists it and the root last', async () => {
    const m1 = manifest(1)
    const m2 = manifest(2)
    const inner = index([m2.descriptor])
    const root = index([m1.descriptor, inner.descriptor, m1.descriptor])
    const order = await graphOf(root.descriptor, [root, inner, m2, m1]).pushOrder()
    const names = order.map(d => d.descriptor.digest)
    expect(names).toEqual([m1, m2, inner, root].map(d => d.descriptor.digest))
  })

  it('pushes a deep fan-out index once per document', async () => {
    const { root, docs } = fanOut(10, 5)
    const order = await graphOf(root, docs).pushOrder()
    expect(order).toHaveLength(docs.length)
    expect(order[order.length - 1].descriptor.digest).toBe(root.digest)
  })
})
