import * as fs from 'node:fs'
import * as path from 'node:path'

/** A `docker` command in a directory of its own, to put first on a PATH. */
export interface DockerStandIn {
  dir: string
  /** One line per call: its arguments, space-separated. */
  calls(): string[]
  /** What `docker load --input FILE` was given, copied. */
  received: string
}

/**
 * Writes, in a new directory under `parent`, a `docker` that logs its argv; `load --input FILE`
 * copies FILE aside, `save --output FILE IMAGE` writes `prepared` there; a file `fail` beside it
 * makes it fail as a Docker without a daemon does. It never touches PATH: the caller puts `dir`
 * first on the PATH it gives.
 */
export function dockerStandIn(parent: string, prepared = ''): DockerStandIn {
  const dir = fs.mkdtempSync(path.join(parent, 'bin-'))
  const log = path.join(dir, 'calls.log')
  const received = path.join(dir, 'received.tar')
  fs.writeFileSync(
    path.join(dir, 'docker'),
    [
      '#!/bin/sh',
      `printf '%s\\n' "$*" >> '${log}'`,
      `if [ -e '${dir}/fail' ]; then`,
      '  echo "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?" >&2',
      '  exit 1',
      'fi',
      'case "$1" in',
      `  load) cp "$3" '${received}'; echo "Loaded image: app:1" ;;`,
      `  save) cp '${prepared}' "$3" ;;`,
      '  *) echo "unexpected: $*" >&2; exit 2 ;;',
      'esac'
    ].join('\n') + '\n',
    { mode: 0o755 }
  )
  return {
    dir,
    calls: () => (fs.existsSync(log) ? fs.readFileSync(log, 'utf8').trim().split('\n') : []),
    received
  }
}
