/**
 * The local Docker, reached through its CLI (`@actions/exec`), for `load: true` and the
 * `docker-daemon:` source: Lading itself never needs a daemon, these two ask for one.
 */
import * as fs from 'node:fs/promises'
import * as os from 'node:os'
import * as path from 'node:path'
import { getExecOutput } from '@actions/exec'
import { LadingError, messageOf } from '../util/errors.js'
import type { Temps } from '../util/temps.js'

/**
 * Runs `docker ARGS` and returns its standard output; `why` names what asked for Docker (`load:
 * true`, a `from` line), for the message when there is none or it fails.
 */
export async function runDocker(args: string[], why: string): Promise<string> {
  let out
  try {
    out = await getExecOutput('docker', args, { silent: true, ignoreReturnCode: true })
  } catch (err) {
    if (/Unable to locate executable file/i.test(messageOf(err)))
      throw new LadingError(
        `${why} needs Docker, and there is no docker command on PATH: install Docker on the ` +
          'runner (GitHub-hosted Linux runners have it), or go without it'
      )
    throw new LadingError(`${why}: docker could not be run: ${messageOf(err)}`)
  }
  if (out.exitCode !== 0) {
    const said = out.stderr.trim().split('\n').slice(-3).join(' ').slice(0, 400)
    throw new LadingError(
      `${why}: \`docker ${args.join(' ')}\` failed (exit code ${out.exitCode})` +
        (said ? `: ${said}` : '') +
        (/cannot connect to the docker daemon|docker daemon.*running/i.test(said)
          ? '; start the Docker daemon, or go without it'
          : '')
    )
  }
  return out.stdout
}

/** Loads an archive (docker or oci format) into the local Docker; returns what Docker said. */
export async function dockerLoad(archive: string): Promise<string[]> {
  const said = await runDocker(['load', '--input', archive], 'load: true')
  return said
    .split('\n')
    .map(l => l.trim())
    .filter(l => l !== '')
}

/**
 * `docker save IMAGE` into a temporary file, tracked in `temps`: the caller reads it as a
 * docker-archive and removes it.
 */
export async function dockerSave(image: string, line: string, temps: Temps): Promise<string> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'lading-docker-'))
  temps.track(dir)
  const file = path.join(dir, 'image.tar')
  await runDocker(['save', '--output', file, image], `from "${line}"`)
  return file
}
