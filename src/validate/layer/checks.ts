/**
 * The validator's layer checks as a builder runs them on a layer it writes or converts, so the
 * layer need not be read back: what they find is what scanBlob would find reading the layer.
 */
import { PassThrough } from 'node:stream'
import type tar from 'tar-stream'
import type {
  BlobScan as ScanResult,
  EntryCheck,
  LayerChecks,
  TarEntryHeader,
  TarStreamCheck,
  WrittenLayer
} from '../../oci/scan.js'
import { layerLocation } from '../../oci/scan.js'
import type { Finding } from '../rules.js'
import { cappedFindings } from './findings.js'
import { TarPathChecker } from './paths.js'
import { scanBlob } from './scan.js'

/** Stands for the layer's location until its digest is known. */
const PENDING = '\0layer'

/** What a layer's own scan gives for it, the findings made under PENDING moved to its location. */
function scanOf(layer: WrittenLayer, findings: Finding[], tarError?: string): ScanResult {
  const location = layerLocation(layer.digest)
  return {
    size: layer.size,
    digest: layer.digest,
    diffId: layer.diffId,
    findings: findings.map(f =>
      f.location.startsWith(PENDING)
        ? { ...f, location: location + f.location.slice(PENDING.length) }
        : f
    ),
    ...(tarError !== undefined ? { tarError } : {})
  }
}

/**
 * The content checks of scanBlob for a tar Lading writes itself, fed each header as it is
 * written: the tar is well formed by construction, so its paths and whiteouts are all there is
 * to check, and the layer need not be read back to validate it.
 */
export class HeaderCheck implements EntryCheck {
  private readonly out = cappedFindings()
  private readonly paths = new TarPathChecker(PENDING, this.out.add)

  entry(h: TarEntryHeader): void {
    this.paths.entry(h as tar.Header)
  }

  /** What scanBlob would have found reading the finished layer. */
  result(layer: WrittenLayer): ScanResult {
    this.paths.finish()
    this.out.close(PENDING)
    return scanOf(layer, this.out.findings)
  }
}

/**
 * scanBlob over a plain tar written into `sink`, for a layer made from a tarball: its content
 * findings are found as the tarball is read, and `result` gives them for the layer the tar ends
 * up in (digest, size and diff_id computed by the builder), as scanBlob on the layer would.
 */
export function tarScanner(): TarStreamCheck & { sink: PassThrough } {
  const sink = new PassThrough()
  const scan = scanBlob(sink, {
    algorithm: 'sha256',
    compression: 'none',
    checkTar: true,
    location: PENDING
  })
  return {
    sink,
    tarError: async () => (await scan).tarError,
    async result(layer) {
      const r = await scan
      // Compression findings were the builder's to check (its own output, or a kept stream it
      // read to its end); what the plain tar shows is the tar's.
      const findings = r.findings.filter(f => !f.rule.startsWith('layer-compression'))
      return scanOf(layer, findings, r.tarError)
    }
  }
}

/** The validator's checks as a builder receives them. */
export const layerChecks: LayerChecks = {
  entries: () => new HeaderCheck(),
  tarStream: () => tarScanner()
}
