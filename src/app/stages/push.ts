/**
 * Stage 8, begun early: the push. Blobs go up as soon as their digest is known to be right (a
 * built layer when it is built; configs and base blobs once staged: written, copied or linked
 * with their digest checked) while the layout is still being validated. The manifests and tags
 * go up only after the whole report passed (`finish`); a run that stops before that abandons the
 * session, so a failed gate pushes no manifest and no tag.
 */
import type { ImageGraph } from '../../oci/graph.js'
import type { RegistryOrigin } from '../../oci/blobs.js'
import type { Descriptor } from '../../oci/types.js'
import { LadingError } from '../../util/errors.js'
import type { Layout } from '../../transports/layout.js'
import { beginPush, type PushBlob, type PushSession } from '../../registry/index.js'
import type { Plan } from '../plan.js'
import type { RunContext } from '../context.js'
import type { PushSummary } from '../result.js'

export class EarlyPush {
  private finished = false

  private constructor(
    private readonly session: PushSession,
    private readonly layout: Layout
  ) {}

  /**
   * A push to the plan's tags, reading the blobs it is given from `layout` (the staged one) or
   * their source; none when the plan does not push. `mountFrom`: the sources' repositories.
   */
  static begin(
    plan: Plan,
    layout: Layout,
    mountFrom: RegistryOrigin[],
    ctx: RunContext
  ): EarlyPush | undefined {
    if (!plan.push) return undefined
    const session = beginPush(
      { targets: plan.tags, pushByDigest: plan.pushByDigest, mountFrom },
      {
        ...plan.auth,
        secrets: ctx.secrets,
        relief: ctx.relief,
        mounts: ctx.mounts,
        log: m => ctx.log.info(m)
      }
    )
    return new EarlyPush(session, layout)
  }

  /** A blob written into the staged layout, its digest computed as it was written. */
  staged(descriptor: Descriptor): void {
    void this.session.uploadBlob({ descriptor, reader: this.layout }).catch(() => undefined)
  }

  /** Every blob of the staged graph (those already given are not pushed twice). */
  graph(graph: ImageGraph): void {
    for (const b of graph.blobs.values()) {
      const blob: PushBlob = {
        descriptor: b.descriptor,
        reader: b.location.kind === 'layout' ? this.layout : b.location.reader,
        origin: b.origin
      }
      void this.session.uploadBlob(blob).catch(() => undefined)
    }
  }

  /**
   * Waits for every blob given to be up, before the staged layout moves to the output; returns
   * the failure the push will end with, if any (the output is committed all the same).
   */
  async blobsUp(): Promise<LadingError | undefined> {
    try {
      await this.session.blobsUp()
      return undefined
    } catch (err) {
      if (err instanceof LadingError) return err
      throw err
    }
  }

  /** The manifests, then the tags: only once the report passed. */
  async finish(graph: ImageGraph): Promise<{ refs: string[]; summary: PushSummary }> {
    this.finished = true
    const res = await this.session.finish(graph.root, await graph.pushOrder())
    const { uploaded, mounted, skipped, bytesUploaded } = res
    return { refs: res.refs, summary: { uploaded, mounted, skipped, bytesUploaded } }
  }

  /** Nothing more goes up; what is under way ends first. A finished push is left as it is. */
  async abandon(): Promise<void> {
    if (!this.finished) await this.session.abandon()
  }
}
