/**
 * A source that holds no container image (an artifact manifest, an index of artifacts): Lading
 * validates it and passes it through unchanged. Layers, config edits and annotations are things
 * only an image can take, so asking for them is an error naming what was asked.
 */
import { hasConfigEdits } from '../../build/assemble.js'
import type { Plan } from '../plan.js'

/** The inputs of the plan that would change an image: none for a pass-through. */
export function artifactEdits(plan: Plan): string[] {
  const asked: string[] = []
  if (plan.layers.length) asked.push('layers')
  if (hasConfigEdits(plan.config)) asked.push('config edits (entrypoint, cmd, env, …)')
  if (Object.keys(plan.annotations.manifest).length) asked.push('manifest annotations')
  if (Object.keys(plan.annotations.index).length) asked.push('index annotations')
  if (plan.platforms.length) asked.push('platforms')
  return asked
}
