/**
 * Resolves once `s` can take more writes: on 'drain', or on 'error' or 'close', after which no
 * 'drain' comes and the writer learns of the failure elsewhere.
 */
export function waitDrain(s: NodeJS.EventEmitter): Promise<void> {
  return new Promise(resolve => {
    const done = (): void => {
      s.off('drain', done)
      s.off('error', done)
      s.off('close', done)
      resolve()
    }
    s.on('drain', done)
    s.on('error', done)
    s.on('close', done)
  })
}
