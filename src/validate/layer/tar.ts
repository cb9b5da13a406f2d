/**
 * The tar rules of a layer scan, fed the decompressed bytes: the tar is readable to its end,
 * ends with its end-of-archive blocks, holds nothing after them, and its entries pass the path
 * and whiteout rules. tar-stream parses the entries; TarEndTracker cuts the stream where Go's
 * and GNU tar stop, so entries after the marker, which extraction never sees, are not checked.
 */
import tar from 'tar-stream'
import { TarEndTracker } from '../../codec/tar-header.js'
import { waitDrain } from '../../util/streams.js'
import { finding, type Finding } from '../rules.js'
import { TarPathChecker } from './paths.js'

/** What tar-stream says of a tar whose last entry is complete but whose end blocks are missing. */
const UNTERMINATED = 'Unexpected end of data'

export class LayerTarCheck {
  private readonly extract = tar.extract()
  private readonly extracted: Promise<void>
  private readonly end = new TarEndTracker()
  private readonly paths: TarPathChecker
  /** entries whose data has not been read to its end; none when a tar lacks only its trailer */
  private openEntries = 0
  /** what the tar reader said when the tar could not be read to its end */
  tarError: string | undefined

  constructor(
    private readonly location: string,
    private readonly add: (f: Finding) => void
  ) {
    this.paths = new TarPathChecker(location, add)
    this.extract.on('entry', (header, stream, next) => {
      this.paths.entry(header)
      this.openEntries++
      stream.on('end', () => {
        this.openEntries--
        next()
      })
      stream.on('error', (err: Error) => {
        this.tarError ??= err.message
      })
      stream.resume()
    })
    this.extracted = new Promise(resolve => {
      this.extract.on('error', (err: Error) => {
        this.tarError ??= err.message
        resolve()
      })
      this.extract.on('finish', () => resolve())
      this.extract.on('close', () => resolve())
    })
  }

  /** Takes the next decompressed bytes; false asks the writer to wait for `drained`. */
  write(d: Buffer): boolean {
    if (this.tarError !== undefined) return true
    const archive = this.end.feed(d)
    return archive.length === 0 ? true : this.extract.write(archive)
  }

  drained(): Promise<void> {
    return waitDrain(this.extract as unknown as NodeJS.EventEmitter)
  }

  destroy(): void {
    this.extract.destroy()
  }

  /** Ends the tar once every byte was written, and adds the findings that need its end. */
  async finish(): Promise<void> {
    if (this.tarError === undefined) this.extract.end(undefined)
    await this.extracted
    if (this.tarError === UNTERMINATED && this.openEntries === 0) {
      this.add(
        finding(
          'layer-tar-unterminated',
          this.location,
          'the tar ends without its last block padding or end-of-archive blocks; every entry is complete, but strict readers (GNU tar) reject it'
        )
      )
      this.paths.finish()
    } else if (this.tarError !== undefined)
      this.add(
        finding(
          'layer-tar',
          this.location,
          `the layer is not a readable tar archive: ${this.tarError}`
        )
      )
    else this.paths.finish()
    if (this.end.trailingAt !== undefined)
      this.add(
        finding(
          'layer-tar-trailing',
          this.location,
          `the tar has non-zero bytes at byte ${this.end.trailingAt}, after its end-of-archive marker (two zero blocks ending at byte ${this.end.endAt}); tar readers stop at the marker and ignore them`
        )
      )
  }
}
