#!/usr/bin/env node
import { createRequire as __WEBPACK_EXTERNAL_createRequire } from "module";
/******/ var __webpack_modules__ = ({

/***/ 57:
/***/ ((module) => {

function isBuffer(value) {
  return Buffer.isBuffer(value) || value instanceof Uint8Array
}

function isEncoding(encoding) {
  return Buffer.isEncoding(encoding)
}

function alloc(size, fill, encoding) {
  return Buffer.alloc(size, fill, encoding)
}

function allocUnsafe(size) {
  return Buffer.allocUnsafe(size)
}

function allocUnsafeSlow(size) {
  return Buffer.allocUnsafeSlow(size)
}

function byteLength(string, encoding) {
  return Buffer.byteLength(string, encoding)
}

function compare(a, b) {
  return Buffer.compare(a, b)
}

function concat(buffers, totalLength) {
  return Buffer.concat(buffers, totalLength)
}

function copy(source, target, targetStart, start, end) {
  return toBuffer(source).copy(target, targetStart, start, end)
}

function equals(a, b) {
  return toBuffer(a).equals(b)
}

function fill(buffer, value, offset, end, encoding) {
  return toBuffer(buffer).fill(value, offset, end, encoding)
}

function from(value, encodingOrOffset, length) {
  return Buffer.from(value, encodingOrOffset, length)
}

function includes(buffer, value, byteOffset, encoding) {
  return toBuffer(buffer).includes(value, byteOffset, encoding)
}

function indexOf(buffer, value, byfeOffset, encoding) {
  return toBuffer(buffer).indexOf(value, byfeOffset, encoding)
}

function lastIndexOf(buffer, value, byteOffset, encoding) {
  return toBuffer(buffer).lastIndexOf(value, byteOffset, encoding)
}

function swap16(buffer) {
  return toBuffer(buffer).swap16()
}

function swap32(buffer) {
  return toBuffer(buffer).swap32()
}

function swap64(buffer) {
  return toBuffer(buffer).swap64()
}

function toBuffer(buffer) {
  if (Buffer.isBuffer(buffer)) return buffer
  return Buffer.from(buffer.buffer, buffer.byteOffset, buffer.byteLength)
}

function toString(buffer, encoding, start, end) {
  return toBuffer(buffer).toString(encoding, start, end)
}

function toHex(buffer, start, end) {
  return toBuffer(buffer).toString('hex', start, end)
}

function write(buffer, string, offset, length, encoding) {
  return toBuffer(buffer).write(string, offset, length, encoding)
}

function readDoubleBE(buffer, offset) {
  return toBuffer(buffer).readDoubleBE(offset)
}

function readDoubleLE(buffer, offset) {
  return toBuffer(buffer).readDoubleLE(offset)
}

function readFloatBE(buffer, offset) {
  return toBuffer(buffer).readFloatBE(offset)
}

function readFloatLE(buffer, offset) {
  return toBuffer(buffer).readFloatLE(offset)
}

function readInt32BE(buffer, offset) {
  return toBuffer(buffer).readInt32BE(offset)
}

function readInt32LE(buffer, offset) {
  return toBuffer(buffer).readInt32LE(offset)
}

function readUInt32BE(buffer, offset) {
  return toBuffer(buffer).readUInt32BE(offset)
}

function readUInt32LE(buffer, offset) {
  return toBuffer(buffer).readUInt32LE(offset)
}

function writeDoubleBE(buffer, value, offset) {
  return toBuffer(buffer).writeDoubleBE(value, offset)
}

function writeDoubleLE(buffer, value, offset) {
  return toBuffer(buffer).writeDoubleLE(value, offset)
}

function writeFloatBE(buffer, value, offset) {
  return toBuffer(buffer).writeFloatBE(value, offset)
}

function writeFloatLE(buffer, value, offset) {
  return toBuffer(buffer).writeFloatLE(value, offset)
}

function writeInt32BE(buffer, value, offset) {
  return toBuffer(buffer).writeInt32BE(value, offset)
}

function writeInt32LE(buffer, value, offset) {
  return toBuffer(buffer).writeInt32LE(value, offset)
}

function writeUInt32BE(buffer, value, offset) {
  return toBuffer(buffer).writeUInt32BE(value, offset)
}

function writeUInt32LE(buffer, value, offset) {
  return toBuffer(buffer).writeUInt32LE(value, offset)
}

module.exports = {
  isBuffer,
  isEncoding,
  alloc,
  allocUnsafe,
  allocUnsafeSlow,
  byteLength,
  compare,
  concat,
  copy,
  equals,
  fill,
  from,
  includes,
  indexOf,
  lastIndexOf,
  swap16,
  swap32,
  swap64,
  toBuffer,
  toString,
  toHex,
  write,
  readDoubleBE,
  readDoubleLE,
  readFloatBE,
  readFloatLE,
  readInt32BE,
  readInt32LE,
  readUInt32BE,
  readUInt32LE,
  writeDoubleBE,
  writeDoubleLE,
  writeFloatBE,
  writeFloatLE,
  writeInt32BE,
  writeInt32LE,
  writeUInt32BE,
  writeUInt32LE
}


/***/ }),

/***/ 580:
/***/ ((module, __unused_webpack_exports, __nccwpck_require__) => {

module.exports = __nccwpck_require__(434)


/***/ }),

/***/ 587:
/***/ ((module) => {

module.exports = class FixedFIFO {
  constructor (hwm) {
    if (!(hwm > 0) || ((hwm - 1) & hwm) !== 0) throw new Error('Max size for a FixedFIFO should be a power of two')
    this.buffer = new Array(hwm)
    this.mask = hwm - 1
    this.top = 0
    this.btm = 0
    this.next = null
  }

  clear () {
    this.top = this.btm = 0
    this.next = null
    this.buffer.fill(undefined)
  }

  push (data) {
    if (this.buffer[this.top] !== undefined) return false
    this.buffer[this.top] = data
    this.top = (this.top + 1) & this.mask
    return true
  }

  shift () {
    const last = this.buffer[this.btm]
    if (last === undefined) return undefined
    this.buffer[this.btm] = undefined
    this.btm = (this.btm + 1) & this.mask
    return last
  }

  peek () {
    return this.buffer[this.btm]
  }

  isEmpty () {
    return this.buffer[this.btm] === undefined
  }
}


/***/ }),

/***/ 867:
/***/ ((module, __unused_webpack_exports, __nccwpck_require__) => {

const FixedFIFO = __nccwpck_require__(587)

module.exports = class FastFIFO {
  constructor (hwm) {
    this.hwm = hwm || 16
    this.head = new FixedFIFO(this.hwm)
    this.tail = this.head
    this.length = 0
  }

  clear () {
    this.head = this.tail
    this.head.clear()
    this.length = 0
  }

  push (val) {
    this.length++
    if (!this.head.push(val)) {
      const prev = this.head
      this.head = prev.next = new FixedFIFO(2 * this.head.buffer.length)
      this.head.push(val)
    }
  }

  shift () {
    if (this.length !== 0) this.length--
    const val = this.tail.shift()
    if (val === undefined && this.tail.next) {
      const next = this.tail.next
      this.tail.next = null
      this.tail = next
      return this.tail.shift()
    }

    return val
  }

  peek () {
    const val = this.tail.peek()
    if (val === undefined && this.tail.next) return this.tail.next.peek()
    return val
  }

  isEmpty () {
    return this.length === 0
  }
}


/***/ }),

/***/ 204:
/***/ ((module, __unused_webpack_exports, __nccwpck_require__) => {

const { EventEmitter } = __nccwpck_require__(580)
const FIFO = __nccwpck_require__(867)
const TextDecoder = __nccwpck_require__(934)

const StreamError = __nccwpck_require__(657)

// if we do a future major, expect queue microtask to be there always, for now a bit defensive
const qmt =
  typeof queueMicrotask === 'undefined' ? (fn) => global.process.nextTick(fn) : queueMicrotask

// 29 bits used total (4 from shared, 14 from read, and 11 from write)
const MAX = (1 << 29) - 1

// Shared state
const OPENING = 0b0001
const PREDESTROYING = 0b0010
const DESTROYING = 0b0100
const DESTROYED = 0b1000

const NOT_OPENING = MAX ^ OPENING
const NOT_PREDESTROYING = MAX ^ PREDESTROYING

// Read state (4 bit offset from shared state)
const READ_ACTIVE = 0b00000000000001 << 4
const READ_UPDATING = 0b00000000000010 << 4
const READ_PRIMARY = 0b00000000000100 << 4
const READ_QUEUED = 0b00000000001000 << 4
const READ_RESUMED = 0b00000000010000 << 4
const READ_PIPE_DRAINED = 0b00000000100000 << 4
const READ_ENDING = 0b00000001000000 << 4
const READ_EMIT_DATA = 0b00000010000000 << 4
const READ_EMIT_READABLE = 0b00000100000000 << 4
const READ_EMITTED_READABLE = 0b00001000000000 << 4
const READ_DONE = 0b00010000000000 << 4
const READ_NEXT_TICK = 0b00100000000000 << 4
const READ_NEEDS_PUSH = 0b01000000000000 << 4
const READ_READ_AHEAD = 0b10000000000000 << 4

// Combined read state
const READ_FLOWING = READ_RESUMED | READ_PIPE_DRAINED
const READ_ACTIVE_AND_NEEDS_PUSH = READ_ACTIVE | READ_NEEDS_PUSH
const READ_PRIMARY_AND_ACTIVE = READ_PRIMARY | READ_ACTIVE
const READ_EMIT_READABLE_AND_QUEUED = READ_EMIT_READABLE | READ_QUEUED
const READ_RESUMED_READ_AHEAD = READ_RESUMED | READ_READ_AHEAD

const READ_NOT_ACTIVE = MAX ^ READ_ACTIVE
const READ_NON_PRIMARY = MAX ^ READ_PRIMARY
const READ_NON_PRIMARY_AND_PUSHED = MAX ^ (READ_PRIMARY | READ_NEEDS_PUSH)
const READ_PUSHED = MAX ^ READ_NEEDS_PUSH
const READ_PAUSED = MAX ^ READ_RESUMED
const READ_NOT_QUEUED = MAX ^ (READ_QUEUED | READ_EMITTED_READABLE)
const READ_NOT_ENDING = MAX ^ READ_ENDING
const READ_PIPE_NOT_DRAINED = MAX ^ READ_FLOWING
const READ_NOT_NEXT_TICK = MAX ^ READ_NEXT_TICK
const READ_NOT_UPDATING = MAX ^ READ_UPDATING
const READ_NO_READ_AHEAD = MAX ^ READ_READ_AHEAD
const READ_PAUSED_NO_READ_AHEAD = MAX ^ READ_RESUMED_READ_AHEAD

// Write state (18 bit offset, 4 bit offset from shared state and 14 from read state)
const WRITE_ACTIVE = 0b00000000001 << 18
const WRITE_UPDATING = 0b00000000010 << 18
const WRITE_PRIMARY = 0b00000000100 << 18
const WRITE_QUEUED = 0b00000001000 << 18
const WRITE_UNDRAINED = 0b00000010000 << 18
const WRITE_DONE = 0b00000100000 << 18
const WRITE_EMIT_DRAIN = 0b00001000000 << 18
const WRITE_NEXT_TICK = 0b00010000000 << 18
const WRITE_WRITING = 0b00100000000 << 18
const WRITE_FINISHING = 0b01000000000 << 18
const WRITE_CORKED = 0b10000000000 << 18

const WRITE_NOT_ACTIVE = MAX ^ (WRITE_ACTIVE | WRITE_WRITING)
const WRITE_NON_PRIMARY = MAX ^ WRITE_PRIMARY
const WRITE_NOT_FINISHING = MAX ^ (WRITE_ACTIVE | WRITE_FINISHING)
const WRITE_DRAINED = MAX ^ WRITE_UNDRAINED
const WRITE_NOT_QUEUED = MAX ^ WRITE_QUEUED
const WRITE_NOT_NEXT_TICK = MAX ^ WRITE_NEXT_TICK
const WRITE_NOT_UPDATING = MAX ^ WRITE_UPDATING
const WRITE_NOT_CORKED = MAX ^ WRITE_CORKED

// Combined shared state
const ACTIVE = READ_ACTIVE | WRITE_ACTIVE
const NOT_ACTIVE = MAX ^ ACTIVE
const DONE = READ_DONE | WRITE_DONE
const DESTROY_STATUS = DESTROYING | DESTROYED | PREDESTROYING
const OPEN_STATUS = DESTROY_STATUS | OPENING
const AUTO_DESTROY = DESTROY_STATUS | DONE
const NON_PRIMARY = WRITE_NON_PRIMARY & READ_NON_PRIMARY
const ACTIVE_OR_TICKING = WRITE_NEXT_TICK | READ_NEXT_TICK
const TICKING = ACTIVE_OR_TICKING & NOT_ACTIVE
const IS_OPENING = OPEN_STATUS | TICKING

// Combined shared state and read state
const READ_PRIMARY_STATUS = OPEN_STATUS | READ_ENDING | READ_DONE
const READ_STATUS = OPEN_STATUS | READ_DONE | READ_QUEUED
const READ_ENDING_STATUS = OPEN_STATUS | READ_ENDING | READ_QUEUED
const READ_READABLE_STATUS = OPEN_STATUS | READ_EMIT_READABLE | READ_QUEUED | READ_EMITTED_READABLE
const SHOULD_NOT_READ =
  OPEN_STATUS | READ_ACTIVE | READ_ENDING | READ_DONE | READ_NEEDS_PUSH | READ_READ_AHEAD
const READ_BACKPRESSURE_STATUS = DESTROY_STATUS | READ_ENDING | READ_DONE
const READ_UPDATE_SYNC_STATUS = READ_UPDATING | OPEN_STATUS | READ_NEXT_TICK | READ_PRIMARY
const READ_NEXT_TICK_OR_OPENING = READ_NEXT_TICK | OPENING

// Combined write state
const WRITE_PRIMARY_STATUS = OPEN_STATUS | WRITE_FINISHING | WRITE_DONE
const WRITE_QUEUED_AND_UNDRAINED = WRITE_QUEUED | WRITE_UNDRAINED
const WRITE_QUEUED_AND_ACTIVE = WRITE_QUEUED | WRITE_ACTIVE
const WRITE_DRAIN_STATUS = WRITE_QUEUED | WRITE_UNDRAINED | OPEN_STATUS | WRITE_ACTIVE
const WRITE_STATUS = OPEN_STATUS | WRITE_ACTIVE | WRITE_QUEUED | WRITE_CORKED
const WRITE_PRIMARY_AND_ACTIVE = WRITE_PRIMARY | WRITE_ACTIVE
const WRITE_ACTIVE_AND_WRITING = WRITE_ACTIVE | WRITE_WRITING
const WRITE_FINISHING_STATUS = OPEN_STATUS | WRITE_FINISHING | WRITE_QUEUED_AND_ACTIVE | WRITE_DONE
const WRITE_BACKPRESSURE_STATUS = WRITE_UNDRAINED | DESTROY_STATUS | WRITE_FINISHING | WRITE_DONE
const WRITE_UPDATE_SYNC_STATUS = WRITE_UPDATING | OPEN_STATUS | WRITE_NEXT_TICK | WRITE_PRIMARY
const WRITE_DROP_DATA = WRITE_FINISHING | WRITE_DONE | DESTROY_STATUS

const asyncIterator = Symbol.asyncIterator || Symbol('asyncIterator')

class WritableState {
  constructor(
    stream,
    { highWaterMark = 16384, map = null, mapWritable, byteLength, byteLengthWritable } = {}
  ) {
    this.stream = stream
    this.queue = new FIFO()
    this.highWaterMark = highWaterMark
    this.buffered = 0
    this.error = null
    this.pipeline = null
    this.drains = null // if we add more seldomly used helpers we might them into a subobject so its a single ptr
    this.byteLength = byteLengthWritable || byteLength || defaultByteLength
    this.map = mapWritable || map
    this.afterWrite = afterWrite.bind(this)
    this.afterUpdateNextTick = updateWriteNT.bind(this)
  }

  get ending() {
    return (this.stream._duplexState & WRITE_FINISHING) !== 0
  }

  get ended() {
    return (this.stream._duplexState & WRITE_DONE) !== 0
  }

  push(data) {
    if ((this.stream._duplexState & WRITE_DROP_DATA) !== 0) return false
    if (this.map !== null) data = this.map(data)

    this.buffered += this.byteLength(data)
    this.queue.push(data)

    if (this.buffered < this.highWaterMark) {
      this.stream._duplexState |= WRITE_QUEUED
      return true
    }

    this.stream._duplexState |= WRITE_QUEUED_AND_UNDRAINED
    return false
  }

  shift() {
    const data = this.queue.shift()

    this.buffered -= this.byteLength(data)
    if (this.buffered === 0) this.stream._duplexState &= WRITE_NOT_QUEUED

    return data
  }

  end(data) {
    if (typeof data === 'function') {
      this.stream.once('finish', data)
    } else if (data !== undefined && data !== null) {
      this.push(data)
    }

    this.stream._duplexState = (this.stream._duplexState | WRITE_FINISHING) & WRITE_NON_PRIMARY
  }

  autoBatch(data, cb) {
    const buffer = []
    const stream = this.stream

    buffer.push(data)
    while ((stream._duplexState & WRITE_STATUS) === WRITE_QUEUED_AND_ACTIVE) {
      buffer.push(stream._writableState.shift())
    }

    if ((stream._duplexState & OPEN_STATUS) !== 0) return cb(null)
    stream._writev(buffer, cb)
  }

  update() {
    const stream = this.stream

    stream._duplexState |= WRITE_UPDATING

    do {
      while ((stream._duplexState & WRITE_STATUS) === WRITE_QUEUED) {
        const data = this.shift()
        stream._duplexState |= WRITE_ACTIVE_AND_WRITING
        stream._write(data, this.afterWrite)
      }

      if ((stream._duplexState & WRITE_PRIMARY_AND_ACTIVE) === 0) this.updateNonPrimary()
    } while (this.continueUpdate() === true)

    stream._duplexState &= WRITE_NOT_UPDATING
  }

  updateNonPrimary() {
    const stream = this.stream

    if ((stream._duplexState & WRITE_FINISHING_STATUS) === WRITE_FINISHING) {
      stream._duplexState = stream._duplexState | WRITE_ACTIVE
      stream._final(afterFinal.bind(this))
      return
    }

    if ((stream._duplexState & DESTROY_STATUS) === DESTROYING) {
      if ((stream._duplexState & ACTIVE_OR_TICKING) === 0) {
        stream._duplexState |= ACTIVE
        stream._destroy(afterDestroy.bind(this))
      }
      return
    }

    if ((stream._duplexState & IS_OPENING) === OPENING) {
      stream._duplexState = (stream._duplexState | ACTIVE) & NOT_OPENING
      stream._open(afterOpen.bind(this))
    }
  }

  continueUpdate() {
    if ((this.stream._duplexState & WRITE_NEXT_TICK) === 0) return false
    this.stream._duplexState &= WRITE_NOT_NEXT_TICK
    return true
  }

  updateCallback() {
    if ((this.stream._duplexState & WRITE_UPDATE_SYNC_STATUS) === WRITE_PRIMARY) {
      this.update()
    } else {
      this.updateNextTick()
    }
  }

  updateNextTick() {
    if ((this.stream._duplexState & WRITE_NEXT_TICK) !== 0) return
    this.stream._duplexState |= WRITE_NEXT_TICK
    if ((this.stream._duplexState & WRITE_UPDATING) === 0) qmt(this.afterUpdateNextTick)
  }
}

class ReadableState {
  constructor(
    stream,
    { highWaterMark = 16384, map = null, mapReadable, byteLength, byteLengthReadable } = {}
  ) {
    this.stream = stream
    this.queue = new FIFO()
    this.highWaterMark = highWaterMark === 0 ? 1 : highWaterMark
    this.buffered = 0
    this.readAhead = highWaterMark > 0
    this.error = null
    this.pipeline = null
    this.byteLength = byteLengthReadable || byteLength || defaultByteLength
    this.map = mapReadable || map
    this.pipeTo = null
    this.afterRead = afterRead.bind(this)
    this.afterUpdateNextTick = updateReadNT.bind(this)
  }

  get ending() {
    return (this.stream._duplexState & READ_ENDING) !== 0
  }

  get ended() {
    return (this.stream._duplexState & READ_DONE) !== 0
  }

  pipe(pipeTo, cb) {
    if (this.pipeTo !== null) throw StreamError.BAD_ARGUMENT('Can only pipe to one destination')
    if (typeof cb !== 'function') cb = null

    this.stream._duplexState |= READ_PIPE_DRAINED
    this.pipeTo = pipeTo
    this.pipeline = new Pipeline(this.stream, pipeTo, cb)

    if (cb) this.stream.on('error', noop) // We already error handle this so supress crashes

    if (isStreamx(pipeTo)) {
      pipeTo._writableState.pipeline = this.pipeline
      if (cb) pipeTo.on('error', noop) // We already error handle this so supress crashes
      pipeTo.on('finish', this.pipeline.finished.bind(this.pipeline)) // TODO: just call finished from pipeTo itself
    } else {
      const onerror = this.pipeline.done.bind(this.pipeline, pipeTo)
      const onclose = this.pipeline.done.bind(this.pipeline, pipeTo, null) // onclose has a weird bool arg
      pipeTo.on('error', onerror)
      pipeTo.on('close', onclose)
      pipeTo.on('finish', this.pipeline.finished.bind(this.pipeline))
    }

    pipeTo.on('drain', afterDrain.bind(this))
    this.stream.emit('piping', pipeTo)
    pipeTo.emit('pipe', this.stream)
  }

  push(data) {
    const stream = this.stream

    if (data === null) {
      this.highWaterMark = 0
      stream._duplexState = (stream._duplexState | READ_ENDING) & READ_NON_PRIMARY_AND_PUSHED
      return false
    }

    if (this.map !== null) {
      data = this.map(data)
      if (data === null) {
        stream._duplexState &= READ_PUSHED
        return this.buffered < this.highWaterMark
      }
    }

    this.buffered += this.byteLength(data)
    this.queue.push(data)

    stream._duplexState = (stream._duplexState | READ_QUEUED) & READ_PUSHED

    return this.buffered < this.highWaterMark
  }

  shift() {
    const data = this.queue.shift()

    this.buffered -= this.byteLength(data)
    if (this.buffered === 0) {
      this.stream._duplexState &= READ_NOT_QUEUED
    }

    return data
  }

  unshift(data) {
    const pending = [this.map !== null ? this.map(data) : data]
    while (this.buffered > 0) pending.push(this.shift())

    for (let i = 0; i < pending.length - 1; i++) {
      const data = pending[i]
      this.buffered += this.byteLength(data)
      this.queue.push(data)
    }

    this.push(pending[pending.length - 1])
  }

  read() {
    const stream = this.stream

    if ((stream._duplexState & READ_STATUS) === READ_QUEUED) {
      const data = this.shift()

      if (this.pipeTo !== null && this.pipeTo.write(data) === false) {
        stream._duplexState &= READ_PIPE_NOT_DRAINED
      }

      if ((stream._duplexState & READ_EMIT_DATA) !== 0) {
        stream.emit('data', data)
      }

      return data
    }

    if (this.readAhead === false) {
      stream._duplexState |= READ_READ_AHEAD
      this.updateNextTick()
    }

    return null
  }

  drain() {
    const stream = this.stream

    while (
      (stream._duplexState & READ_STATUS) === READ_QUEUED &&
      (stream._duplexState & READ_FLOWING) !== 0
    ) {
      const data = this.shift()

      if (this.pipeTo !== null && this.pipeTo.write(data) === false) {
        stream._duplexState &= READ_PIPE_NOT_DRAINED
      }

      if ((stream._duplexState & READ_EMIT_DATA) !== 0) {
        stream.emit('data', data)
      }
    }
  }

  update() {
    const stream = this.stream

    stream._duplexState |= READ_UPDATING

    do {
      this.drain()

      while (
        this.buffered < this.highWaterMark &&
        (stream._duplexState & SHOULD_NOT_READ) === READ_READ_AHEAD
      ) {
        stream._duplexState |= READ_ACTIVE_AND_NEEDS_PUSH
        stream._read(this.afterRead)
        this.drain()
      }

      if ((stream._duplexState & READ_READABLE_STATUS) === READ_EMIT_READABLE_AND_QUEUED) {
        stream._duplexState |= READ_EMITTED_READABLE
        stream.emit('readable')
      }

      if ((stream._duplexState & READ_PRIMARY_AND_ACTIVE) === 0) {
        this.updateNonPrimary()
      }
    } while (this.continueUpdate() === true)

    stream._duplexState &= READ_NOT_UPDATING
  }

  updateNonPrimary() {
    const stream = this.stream

    if ((stream._duplexState & READ_ENDING_STATUS) === READ_ENDING) {
      stream._duplexState = (stream._duplexState | READ_DONE) & READ_NOT_ENDING
      stream.emit('end')

      if ((stream._duplexState & AUTO_DESTROY) === DONE) {
        stream._duplexState |= DESTROYING
      }

      if (this.pipeTo !== null) {
        this.pipeTo.end()
      }
    }

    if ((stream._duplexState & DESTROY_STATUS) === DESTROYING) {
      if ((stream._duplexState & ACTIVE_OR_TICKING) === 0) {
        stream._duplexState |= ACTIVE
        stream._destroy(afterDestroy.bind(this))
      }
      return
    }

    if ((stream._duplexState & IS_OPENING) === OPENING) {
      stream._duplexState = (stream._duplexState | ACTIVE) & NOT_OPENING
      stream._open(afterOpen.bind(this))
    }
  }

  continueUpdate() {
    if ((this.stream._duplexState & READ_NEXT_TICK) === 0) return false
    this.stream._duplexState &= READ_NOT_NEXT_TICK
    return true
  }

  updateCallback() {
    if ((this.stream._duplexState & READ_UPDATE_SYNC_STATUS) === READ_PRIMARY) {
      this.update()
    } else {
      this.updateNextTick()
    }
  }

  updateNextTickIfOpen() {
    if ((this.stream._duplexState & READ_NEXT_TICK_OR_OPENING) !== 0) return
    this.stream._duplexState |= READ_NEXT_TICK
    if ((this.stream._duplexState & READ_UPDATING) === 0) qmt(this.afterUpdateNextTick)
  }

  updateNextTick() {
    if ((this.stream._duplexState & READ_NEXT_TICK) !== 0) return
    this.stream._duplexState |= READ_NEXT_TICK
    if ((this.stream._duplexState & READ_UPDATING) === 0) qmt(this.afterUpdateNextTick)
  }
}

class TransformState {
  constructor(stream) {
    this.data = null
    this.afterTransform = afterTransform.bind(stream)
    this.afterFinal = null
  }
}

class Pipeline {
  constructor(src, dst, cb) {
    this.from = src
    this.to = dst
    this.afterPipe = cb
    this.error = null
    this.pipeToFinished = false
  }

  finished() {
    this.pipeToFinished = true
  }

  done(stream, err) {
    if (err) this.error = err

    if (stream === this.to) {
      this.to = null

      if (this.from !== null) {
        if ((this.from._duplexState & READ_DONE) === 0 || !this.pipeToFinished) {
          this.from.destroy(this.error || StreamError.PREMATURE_CLOSE('Writable stream closed'))
        }
        return
      }
    }

    if (stream === this.from) {
      this.from = null

      if (this.to !== null) {
        if ((stream._duplexState & READ_DONE) === 0) {
          this.to.destroy(this.error || StreamError.PREMATURE_CLOSE('Readable stream closed'))
        }
        return
      }
    }

    if (this.afterPipe !== null) this.afterPipe(this.error)
    this.to = this.from = this.afterPipe = null
  }
}

function afterDrain() {
  this.stream._duplexState |= READ_PIPE_DRAINED
  this.updateCallback()
}

function afterFinal(err) {
  const stream = this.stream
  if (err) stream.destroy(err)

  if ((stream._duplexState & DESTROY_STATUS) === 0) {
    stream._duplexState |= WRITE_DONE
    stream.emit('finish')
  }

  if ((stream._duplexState & AUTO_DESTROY) === DONE) {
    stream._duplexState |= DESTROYING
  }

  stream._duplexState &= WRITE_NOT_FINISHING

  // no need to wait the extra tick here, so we short circuit that
  if ((stream._duplexState & WRITE_UPDATING) === 0) {
    this.update()
  } else {
    this.updateNextTick()
  }
}

function afterDestroy(err) {
  const stream = this.stream

  if (!err && !StreamError.isStreamDestroyed(this.error)) err = this.error
  if (err) stream.emit('error', err)

  stream._duplexState |= DESTROYED
  stream.emit('close')

  const rs = stream._readableState
  const ws = stream._writableState

  if (rs !== null && rs.pipeline !== null) {
    rs.pipeline.done(stream, err)
  }

  if (ws !== null) {
    while (ws.drains !== null && ws.drains.length > 0) {
      ws.drains.shift().resolve(false)
    }

    if (ws.pipeline !== null) {
      ws.pipeline.done(stream, err)
    }
  }
}

function afterWrite(err) {
  const stream = this.stream

  if (err) stream.destroy(err)
  stream._duplexState &= WRITE_NOT_ACTIVE

  if (this.drains !== null) tickDrains(this.drains)

  if ((stream._duplexState & WRITE_DRAIN_STATUS) === WRITE_UNDRAINED) {
    stream._duplexState &= WRITE_DRAINED

    if ((stream._duplexState & WRITE_EMIT_DRAIN) === WRITE_EMIT_DRAIN) {
      stream.emit('drain')
    }
  }

  this.updateCallback()
}

function afterRead(err) {
  if (err) this.stream.destroy(err)
  this.stream._duplexState &= READ_NOT_ACTIVE

  if (this.readAhead === false && (this.stream._duplexState & READ_RESUMED) === 0) {
    this.stream._duplexState &= READ_NO_READ_AHEAD
  }

  this.updateCallback()
}

function updateReadNT() {
  if ((this.stream._duplexState & READ_UPDATING) === 0) {
    this.stream._duplexState &= READ_NOT_NEXT_TICK
    this.update()
  }
}

function updateWriteNT() {
  if ((this.stream._duplexState & WRITE_UPDATING) === 0) {
    this.stream._duplexState &= WRITE_NOT_NEXT_TICK
    this.update()
  }
}

function tickDrains(drains) {
  for (let i = 0; i < drains.length; i++) {
    // drains.writes are monotonic, so if one is 0 its always the first one
    if (--drains[i].writes === 0) {
      drains.shift().resolve(true)
      i--
    }
  }
}

function afterOpen(err) {
  const stream = this.stream

  if (err) stream.destroy(err)

  if ((stream._duplexState & DESTROYING) === 0) {
    if ((stream._duplexState & READ_PRIMARY_STATUS) === 0) {
      stream._duplexState |= READ_PRIMARY
    }

    if ((stream._duplexState & WRITE_PRIMARY_STATUS) === 0) {
      stream._duplexState |= WRITE_PRIMARY
    }

    stream.emit('open')
  }

  stream._duplexState &= NOT_ACTIVE

  if (stream._writableState !== null) {
    stream._writableState.updateCallback()
  }

  if (stream._readableState !== null) {
    stream._readableState.updateCallback()
  }
}

function afterTransform(err, data) {
  if (data !== undefined && data !== null) this.push(data)
  this._writableState.afterWrite(err)
}

function newListener(name) {
  if (this._readableState !== null) {
    if (name === 'data') {
      this._duplexState |= READ_EMIT_DATA | READ_RESUMED_READ_AHEAD
      this._readableState.updateNextTick()
    }
    if (name === 'readable') {
      this._duplexState |= READ_EMIT_READABLE
      this._readableState.updateNextTick()
    }
  }

  if (this._writableState !== null) {
    if (name === 'drain') {
      this._duplexState |= WRITE_EMIT_DRAIN
      this._writableState.updateNextTick()
    }
  }
}

class Stream extends EventEmitter {
  constructor(opts) {
    super()

    this._duplexState = 0
    this._readableState = null
    this._writableState = null

    if (opts) {
      if (opts.open) this._open = opts.open
      if (opts.destroy) this._destroy = opts.destroy
      if (opts.predestroy) this._predestroy = opts.predestroy
      if (opts.signal) opts.signal.addEventListener('abort', abort.bind(this))
    }

    this.on('newListener', newListener)
  }

  _open(cb) {
    cb(null)
  }

  _destroy(cb) {
    cb(null)
  }

  _predestroy() {
    // does nothing
  }

  get readable() {
    return this._readableState !== null ? true : undefined
  }

  get writable() {
    return this._writableState !== null ? true : undefined
  }

  get destroyed() {
    return (this._duplexState & DESTROYED) !== 0
  }

  get destroying() {
    return (this._duplexState & DESTROY_STATUS) !== 0
  }

  destroy(err) {
    if ((this._duplexState & DESTROY_STATUS) === 0) {
      if (!err) err = StreamError.STREAM_DESTROYED()
      this._duplexState = (this._duplexState | DESTROYING) & NON_PRIMARY

      if (this._readableState !== null) {
        this._readableState.highWaterMark = 0
        this._readableState.error = err
      }

      if (this._writableState !== null) {
        this._writableState.highWaterMark = 0
        this._writableState.error = err
      }

      this._duplexState |= PREDESTROYING
      this._predestroy()
      this._duplexState &= NOT_PREDESTROYING

      if (this._readableState !== null) {
        this._readableState.updateNextTick()
      }

      if (this._writableState !== null) {
        this._writableState.updateNextTick()
      }
    }
  }
}

class Readable extends Stream {
  constructor(opts) {
    super(opts)

    this._duplexState |= OPENING | WRITE_DONE | READ_READ_AHEAD
    this._readableState = new ReadableState(this, opts)

    if (opts) {
      if (this._readableState.readAhead === false) this._duplexState &= READ_NO_READ_AHEAD
      if (opts.read) this._read = opts.read
      if (opts.eagerOpen) this._readableState.updateNextTick()
      if (opts.encoding) this.setEncoding(opts.encoding)
    }
  }

  static deferred(fn, opts) {
    const out = new PassThrough(opts)

    fn()
      .then((src) => {
        if (src === null) return out.end()
        if (out.destroying) return
        pipeline(src, out, noop)
      })
      .catch((err) => out.destroy(err))

    return out
  }

  setEncoding(encoding) {
    const dec = new TextDecoder(encoding)
    const map = this._readableState.map || echo
    this._readableState.map = mapOrSkip
    return this

    function mapOrSkip(data) {
      const next = dec.push(data)
      return next === '' && (data.byteLength !== 0 || dec.remaining > 0) ? null : map(next)
    }
  }

  _read(cb) {
    cb(null)
  }

  pipe(dest, cb) {
    this._readableState.updateNextTick()
    this._readableState.pipe(dest, cb)
    return dest
  }

  read() {
    this._readableState.updateNextTick()
    return this._readableState.read()
  }

  push(data) {
    this._readableState.updateNextTickIfOpen()
    return this._readableState.push(data)
  }

  unshift(data) {
    this._readableState.updateNextTickIfOpen()
    return this._readableState.unshift(data)
  }

  resume() {
    this._duplexState |= READ_RESUMED_READ_AHEAD
    this._readableState.updateNextTick()
    return this
  }

  pause() {
    this._duplexState &=
      this._readableState.readAhead === false ? READ_PAUSED_NO_READ_AHEAD : READ_PAUSED
    return this
  }

  static _fromAsyncIterator(ite, opts) {
    let destroy

    const rs = new Readable({
      ...opts,
      read(cb) {
        ite.next().then(push).then(cb.bind(null, null)).catch(cb)
      },
      predestroy() {
        destroy = ite.return()
      },
      destroy(cb) {
        if (!destroy) return cb(null)
        destroy.then(cb.bind(null, null)).catch(cb)
      }
    })

    return rs

    function push(data) {
      if (data.done) rs.push(null)
      else rs.push(data.value)
    }
  }

  static from(data, opts) {
    if (isReadStreamx(data)) return data
    if (data[asyncIterator]) return this._fromAsyncIterator(data[asyncIterator](), opts)
    if (!Array.isArray(data)) data = data === undefined ? [] : [data]

    let i = 0
    return new Readable({
      ...opts,
      read(cb) {
        this.push(i === data.length ? null : data[i++])
        cb(null)
      }
    })
  }

  static isBackpressured(rs) {
    return (
      (rs._duplexState & READ_BACKPRESSURE_STATUS) !== 0 ||
      rs._readableState.buffered >= rs._readableState.highWaterMark
    )
  }

  static isPaused(rs) {
    return (rs._duplexState & READ_RESUMED) === 0
  }

  [asyncIterator]() {
    const stream = this

    let error = null
    let promiseResolve = null
    let promiseReject = null

    this.on('error', (err) => {
      error = err
    })
    this.on('readable', onreadable)
    this.on('close', onclose)

    return {
      [asyncIterator]() {
        return this
      },
      next() {
        return new Promise(function (resolve, reject) {
          promiseResolve = resolve
          promiseReject = reject
          const data = stream.read()
          if (data !== null) ondata(data)
          else if ((stream._duplexState & DESTROYED) !== 0) ondata(null)
        })
      },
      return() {
        return destroy(null)
      },
      throw(err) {
        return destroy(err)
      }
    }

    function onreadable() {
      if (promiseResolve !== null) ondata(stream.read())
    }

    function onclose() {
      if (promiseResolve !== null) ondata(null)
    }

    function ondata(data) {
      if (promiseReject === null) return
      if (error) {
        promiseReject(error)
      } else if (data === null && (stream._duplexState & READ_DONE) === 0) {
        promiseReject(StreamError.STREAM_DESTROYED())
      } else {
        promiseResolve({ value: data, done: data === null })
      }
      promiseReject = promiseResolve = null
    }

    function destroy(err) {
      stream.destroy(err)
      return new Promise((resolve, reject) => {
        if (stream._duplexState & DESTROYED) return resolve({ value: undefined, done: true })
        stream.once('close', function () {
          if (err) reject(err)
          else resolve({ value: undefined, done: true })
        })
      })
    }
  }
}

class Writable extends Stream {
  constructor(opts) {
    super(opts)

    this._duplexState |= OPENING | READ_DONE
    this._writableState = new WritableState(this, opts)

    if (opts) {
      if (opts.writev) this._writev = opts.writev
      if (opts.write) this._write = opts.write
      if (opts.final) this._final = opts.final
      if (opts.eagerOpen) this._writableState.updateNextTick()
    }
  }

  cork() {
    this._duplexState |= WRITE_CORKED
  }

  uncork() {
    this._duplexState &= WRITE_NOT_CORKED
    this._writableState.updateNextTick()
  }

  _writev(batch, cb) {
    cb(null)
  }

  _write(data, cb) {
    this._writableState.autoBatch(data, cb)
  }

  _final(cb) {
    cb(null)
  }

  static isBackpressured(ws) {
    return (ws._duplexState & WRITE_BACKPRESSURE_STATUS) !== 0
  }

  static drained(ws) {
    if (ws.destroyed) return Promise.resolve(false)

    const state = ws._writableState
    const pending = isWritev(ws) ? Math.min(1, state.queue.length) : state.queue.length
    const writes = pending + (ws._duplexState & WRITE_WRITING ? 1 : 0)
    if (writes === 0) return Promise.resolve(true)

    if (state.drains === null) state.drains = []
    return new Promise((resolve) => {
      state.drains.push({ writes, resolve })
    })
  }

  write(data) {
    this._writableState.updateNextTick()
    return this._writableState.push(data)
  }

  end(data) {
    this._writableState.updateNextTick()
    this._writableState.end(data)
    return this
  }
}

class Duplex extends Readable {
  // and Writable
  constructor(opts) {
    super(opts)

    this._duplexState = OPENING | (this._duplexState & READ_READ_AHEAD)
    this._writableState = new WritableState(this, opts)

    if (opts) {
      if (opts.writev) this._writev = opts.writev
      if (opts.write) this._write = opts.write
      if (opts.final) this._final = opts.final
    }
  }

  cork() {
    this._duplexState |= WRITE_CORKED
  }

  uncork() {
    this._duplexState &= WRITE_NOT_CORKED
    this._writableState.updateNextTick()
  }

  _writev(batch, cb) {
    cb(null)
  }

  _write(data, cb) {
    this._writableState.autoBatch(data, cb)
  }

  _final(cb) {
    cb(null)
  }

  write(data) {
    this._writableState.updateNextTick()
    return this._writableState.push(data)
  }

  end(data) {
    this._writableState.updateNextTick()
    this._writableState.end(data)
    return this
  }
}

class Transform extends Duplex {
  constructor(opts) {
    super(opts)
    this._transformState = new TransformState(this)

    if (opts) {
      if (opts.transform) this._transform = opts.transform
      if (opts.flush) this._flush = opts.flush
    }
  }

  _write(data, cb) {
    if (this._readableState.buffered >= this._readableState.highWaterMark) {
      this._transformState.data = data
    } else {
      this._transform(data, this._transformState.afterTransform)
    }
  }

  _read(cb) {
    if (this._transformState.data !== null) {
      const data = this._transformState.data
      this._transformState.data = null
      cb(null)
      this._transform(data, this._transformState.afterTransform)
    } else {
      cb(null)
    }
  }

  destroy(err) {
    super.destroy(err)
    if (this._transformState.data !== null) {
      this._transformState.data = null
      this._transformState.afterTransform()
    }
  }

  _transform(data, cb) {
    cb(null, data)
  }

  _flush(cb) {
    cb(null)
  }

  _final(cb) {
    this._transformState.afterFinal = cb
    this._flush(transformAfterFlush.bind(this))
  }
}

class PassThrough extends Transform {}

function transformAfterFlush(err, data) {
  const cb = this._transformState.afterFinal
  if (err) return cb(err)

  if (data !== null && data !== undefined) this.push(data)
  this.push(null)
  cb(null)
}

function pipelinePromise(...streams) {
  return new Promise((resolve, reject) => {
    return pipeline(...streams, (err) => {
      if (err) return reject(err)
      resolve()
    })
  })
}

function pipeline(stream, ...streams) {
  const all = Array.isArray(stream) ? [...stream, ...streams] : [stream, ...streams]
  const done = all.length && typeof all[all.length - 1] === 'function' ? all.pop() : null

  if (all.length < 2) throw StreamError.BAD_ARGUMENT('Pipeline requires at least 2 streams')

  let src = all[0]
  let dest = null
  let error = null

  for (let i = 1; i < all.length; i++) {
    dest = all[i]

    if (isStreamx(src)) {
      src.pipe(dest, onerror)
    } else {
      errorHandle(src, true, i > 1, onerror)
      src.pipe(dest)
    }

    src = dest
  }

  if (done) {
    let fin = false

    const autoDestroy =
      isStreamx(dest) || !!(dest._writableState && dest._writableState.autoDestroy)

    dest.on('error', (err) => {
      if (error === null) error = err
    })

    dest.on('finish', () => {
      fin = true
      if (!autoDestroy) done(error)
    })

    if (autoDestroy) {
      dest.on('close', () => done(error || (fin ? null : StreamError.PREMATURE_CLOSE())))
    }
  }

  return dest

  function errorHandle(s, rd, wr, onerror) {
    s.on('error', onerror)
    s.on('close', onclose)

    function onclose() {
      if (rd && s._readableState && !s._readableState.ended) {
        return onerror(StreamError.PREMATURE_CLOSE())
      }
      if (wr && s._writableState && !s._writableState.ended) {
        return onerror(StreamError.PREMATURE_CLOSE())
      }
    }
  }

  function onerror(err) {
    if (!err || error) return
    error = err

    for (const s of all) {
      s.destroy(err)
    }
  }
}

function echo(s) {
  return s
}

function isStream(stream) {
  return !!stream._readableState || !!stream._writableState
}

function isStreamx(stream) {
  return typeof stream._duplexState === 'number' && isStream(stream)
}

function isEnding(stream) {
  return !!stream._readableState && stream._readableState.ending
}

function isEnded(stream) {
  return !!stream._readableState && stream._readableState.ended
}

function isFinishing(stream) {
  return !!stream._writableState && stream._writableState.ending
}

function isFinished(stream) {
  return !!stream._writableState && stream._writableState.ended
}

function getStreamError(stream, opts = {}) {
  const err =
    (stream._readableState && stream._readableState.error) ||
    (stream._writableState && stream._writableState.error)

  // avoid implicit errors by default
  return !opts.all && StreamError.isStreamDestroyed(err) ? null : err
}

function isReadStreamx(stream) {
  return isStreamx(stream) && stream.readable
}

function isDisturbed(stream) {
  return (
    (stream._duplexState & OPENING) !== OPENING ||
    (stream._duplexState & DESTROYING) === DESTROYING ||
    (stream._duplexState & ACTIVE_OR_TICKING) !== 0
  )
}

function isTypedArray(data) {
  return typeof data === 'object' && data !== null && typeof data.byteLength === 'number'
}

function defaultByteLength(data) {
  return isTypedArray(data) ? data.byteLength : 1024
}

function noop() {}

function abort() {
  this.destroy(StreamError.ABORTED())
}

function isWritev(s) {
  return s._writev !== Writable.prototype._writev && s._writev !== Duplex.prototype._writev
}

module.exports = {
  pipeline,
  pipelinePromise,
  isStream,
  isStreamx,
  isEnding,
  isEnded,
  isFinishing,
  isFinished,
  isDisturbed,
  getStreamError,
  Stream,
  Writable,
  Readable,
  Duplex,
  Transform,
  // Export PassThrough for compatibility with Node.js core's stream module
  PassThrough
}


/***/ }),

/***/ 657:
/***/ ((module) => {

module.exports = class StreamError extends Error {
  constructor(msg, code, fn = StreamError) {
    super(msg)

    this.code = code

    if (Error.captureStackTrace) {
      Error.captureStackTrace(this, fn)
    }
  }

  static isStreamDestroyed(err) {
    return err && err.code === 'STREAM_DESTROYED'
  }

  static isPrematureClose(err) {
    return err && err.code === 'PREMATURE_CLOSE'
  }

  static isAborted(err) {
    return err && err.code === 'ABORTED'
  }

  static isBadArgument(err) {
    return err && err.code === 'BAD_ARGUMENT'
  }

  get name() {
    return 'StreamError'
  }

  static STREAM_DESTROYED() {
    return new StreamError('Stream was destroyed', 'STREAM_DESTROYED', StreamError.STREAM_DESTROYED)
  }

  static PREMATURE_CLOSE(msg = 'Premature close') {
    return new StreamError(msg, 'PREMATURE_CLOSE', StreamError.PREMATURE_CLOSE)
  }

  static ABORTED() {
    return new StreamError('Stream aborted', 'ABORTED', StreamError.ABORTED)
  }

  static BAD_ARGUMENT(msg = 'Bad argument') {
    return new StreamError(msg, 'BAD_ARGUMENT', StreamError.BAD_ARGUMENT)
  }
}


/***/ }),

/***/ 775:
/***/ ((module, __unused_webpack_exports, __nccwpck_require__) => {

const constants = { // just for envs without fs
  S_IFMT: 61440,
  S_IFDIR: 16384,
  S_IFCHR: 8192,
  S_IFBLK: 24576,
  S_IFIFO: 4096,
  S_IFLNK: 40960
}

try {
  module.exports = (__nccwpck_require__(896).constants) || constants
} catch {
  module.exports = constants
}


/***/ }),

/***/ 763:
/***/ ((module, __unused_webpack_exports, __nccwpck_require__) => {

const { Writable, Readable, getStreamError } = __nccwpck_require__(204)
const FIFO = __nccwpck_require__(867)
const b4a = __nccwpck_require__(57)
const headers = __nccwpck_require__(428)

const EMPTY = b4a.alloc(0)
const MAX_HEADER_SIZE = 4 * 1024 * 1024 // arbitrary big number

class BufferList {
  constructor () {
    this.buffered = 0
    this.shifted = 0
    this.queue = new FIFO()

    this._offset = 0
  }

  push (buffer) {
    this.buffered += buffer.byteLength
    this.queue.push(buffer)
  }

  shiftFirst (size) {
    return this.buffered === 0 ? null : this._next(size)
  }

  shift (size) {
    if (size > this.buffered) return null
    if (size === 0) return EMPTY

    let chunk = this._next(size)

    if (size === chunk.byteLength) return chunk // likely case

    const chunks = [chunk]

    while ((size -= chunk.byteLength) > 0) {
      chunk = this._next(size)
      chunks.push(chunk)
    }

    return b4a.concat(chunks)
  }

  _next (size) {
    const buf = this.queue.peek()
    const rem = buf.byteLength - this._offset

    if (size >= rem) {
      const sub = this._offset ? buf.subarray(this._offset, buf.byteLength) : buf
      this.queue.shift()
      this._offset = 0
      this.buffered -= rem
      this.shifted += rem
      return sub
    }

    this.buffered -= size
    this.shifted += size

    return buf.subarray(this._offset, (this._offset += size))
  }
}

class Source extends Readable {
  constructor (self, header, offset) {
    super()

    this.header = header
    this.offset = offset

    this._parent = self
  }

  _read (cb) {
    if (this.header.size === 0) {
      this.push(null)
    }
    if (this._parent._stream === this) {
      this._parent._update()
    }
    cb(null)
  }

  _predestroy () {
    this._parent.destroy(getStreamError(this))
  }

  _detach () {
    if (this._parent._stream === this) {
      this._parent._stream = null
      this._parent._missing = overflow(this.header.size)
      this._parent._update()
    }
  }

  _destroy (cb) {
    this._detach()
    cb(null)
  }
}

class Extract extends Writable {
  constructor (opts) {
    super(opts)

    if (!opts) opts = {}

    this._buffer = new BufferList()
    this._offset = 0
    this._header = null
    this._stream = null
    this._missing = 0
    this._longHeader = false
    this._callback = noop
    this._locked = false
    this._finished = false
    this._pax = null
    this._paxGlobal = null
    this._gnuLongPath = null
    this._gnuLongLinkPath = null
    this._filenameEncoding = opts.filenameEncoding || 'utf-8'
    this._allowUnknownFormat = !!opts.allowUnknownFormat
    this._unlockBound = this._unlock.bind(this)
  }

  _unlock (err) {
    this._locked = false

    if (err) {
      this.destroy(err)
      this._continueWrite(err)
      return
    }

    this._update()
  }

  _consumeHeader () {
    if (this._locked) return false

    this._offset = this._buffer.shifted

    try {
      this._header = headers.decode(this._buffer.shift(512), this._filenameEncoding, this._allowUnknownFormat)
    } catch (err) {
      this._continueWrite(err)
      return false
    }

    if (!this._header) return true

    this._header.byteOffset = this._buffer.shifted

    switch (this._header.type) {
      case 'gnu-long-path':
      case 'gnu-long-link-path':
      case 'pax-global-header':
      case 'pax-header':
        this._longHeader = true
        this._missing = this._header.size
        if (this._missing > MAX_HEADER_SIZE) {
          this._continueWrite(new Error('Header exceeds max size'))
          return false
        }
        return true
    }

    this._locked = true
    this._applyLongHeaders()

    if (!(this._header.size >= 0)) {
      this._continueWrite(new Error('Invalid header'))
      return false
    }

    if (this._header.size === 0 || this._header.type === 'directory') {
      this.emit('entry', this._header, this._createStream(), this._unlockBound)
      return true
    }

    this._stream = this._createStream()
    this._missing = this._header.size

    this.emit('entry', this._header, this._stream, this._unlockBound)
    return true
  }

  _applyLongHeaders () {
    if (this._gnuLongPath) {
      this._header.name = this._gnuLongPath
      this._gnuLongPath = null
    }

    if (this._gnuLongLinkPath) {
      this._header.linkname = this._gnuLongLinkPath
      this._gnuLongLinkPath = null
    }

    if (this._pax) {
      if (this._pax.path) this._header.name = this._pax.path
      if (this._pax.linkpath) this._header.linkname = this._pax.linkpath
      if (this._pax.size) this._header.size = parseInt(this._pax.size, 10)
      this._header.pax = this._pax
      this._pax = null
    }
  }

  _decodeLongHeader (buf) {
    switch (this._header.type) {
      case 'gnu-long-path':
        this._gnuLongPath = headers.decodeLongPath(buf, this._filenameEncoding)
        break
      case 'gnu-long-link-path':
        this._gnuLongLinkPath = headers.decodeLongPath(buf, this._filenameEncoding)
        break
      case 'pax-global-header':
        this._paxGlobal = headers.decodePax(buf)
        break
      case 'pax-header':
        this._pax = this._paxGlobal === null
          ? headers.decodePax(buf)
          : Object.assign({}, this._paxGlobal, headers.decodePax(buf))
        break
    }
  }

  _consumeLongHeader () {
    this._longHeader = false
    this._missing = overflow(this._header.size)

    const buf = this._buffer.shift(this._header.size)

    try {
      this._decodeLongHeader(buf)
    } catch (err) {
      this._continueWrite(err)
      return false
    }

    return true
  }

  _consumeStream () {
    const buf = this._buffer.shiftFirst(this._missing)
    if (buf === null) return false

    this._missing -= buf.byteLength
    const drained = this._stream.push(buf)

    if (this._missing === 0) {
      this._stream.push(null)
      if (drained) this._stream._detach()
      return drained && this._locked === false
    }

    return drained
  }

  _createStream () {
    return new Source(this, this._header, this._offset)
  }

  _update () {
    while (this._buffer.buffered > 0 && !this.destroying) {
      if (this._missing > 0) {
        if (this._stream !== null) {
          if (this._consumeStream() === false) return
          continue
        }

        if (this._longHeader === true) {
          if (this._missing > this._buffer.buffered) break
          if (this._consumeLongHeader() === false) return false
          continue
        }

        const ignore = this._buffer.shiftFirst(this._missing)
        if (ignore !== null) this._missing -= ignore.byteLength
        continue
      }

      if (this._buffer.buffered < 512) break
      if (this._stream !== null || this._consumeHeader() === false) return
    }

    this._continueWrite(null)
  }

  _continueWrite (err) {
    const cb = this._callback
    this._callback = noop
    cb(err)
  }

  _write (data, cb) {
    this._callback = cb
    this._buffer.push(data)
    this._update()
  }

  _final (cb) {
    this._finished = this._missing === 0 && this._buffer.buffered === 0
    cb(this._finished ? null : new Error('Unexpected end of data'))
  }

  _predestroy () {
    this._continueWrite(null)
  }

  _destroy (cb) {
    if (this._stream) this._stream.destroy(getStreamError(this))
    cb(null)
  }

  [Symbol.asyncIterator] () {
    let error = null

    let promiseResolve = null
    let promiseReject = null

    let entryStream = null
    let entryCallback = null

    const extract = this

    this.on('entry', onentry)
    this.on('error', (err) => { error = err })
    this.on('close', onclose)

    return {
      [Symbol.asyncIterator] () {
        return this
      },
      next () {
        return new Promise(onnext)
      },
      return () {
        return destroy(null)
      },
      throw (err) {
        return destroy(err)
      }
    }

    function consumeCallback (err) {
      if (!entryCallback) return
      const cb = entryCallback
      entryCallback = null
      cb(err)
    }

    function onnext (resolve, reject) {
      if (error) {
        return reject(error)
      }

      if (entryStream) {
        resolve({ value: entryStream, done: false })
        entryStream = null
        return
      }

      promiseResolve = resolve
      promiseReject = reject

      consumeCallback(null)

      if (extract._finished && promiseResolve) {
        promiseResolve({ value: undefined, done: true })
        promiseResolve = promiseReject = null
      }
    }

    function onentry (header, stream, callback) {
      entryCallback = callback
      stream.on('error', noop) // no way around this due to tick sillyness

      if (promiseResolve) {
        promiseResolve({ value: stream, done: false })
        promiseResolve = promiseReject = null
      } else {
        entryStream = stream
      }
    }

    function onclose () {
      consumeCallback(error)
      if (!promiseResolve) return
      if (error) promiseReject(error)
      else promiseResolve({ value: undefined, done: true })
      promiseResolve = promiseReject = null
    }

    function destroy (err) {
      extract.destroy(err)
      consumeCallback(err)
      return new Promise((resolve, reject) => {
        if (extract.destroyed) return resolve({ value: undefined, done: true })
        extract.once('close', function () {
          if (err) reject(err)
          else resolve({ value: undefined, done: true })
        })
      })
    }
  }
}

module.exports = function extract (opts) {
  return new Extract(opts)
}

function noop () {}

function overflow (size) {
  size &= 511
  return size && 512 - size
}


/***/ }),

/***/ 428:
/***/ ((__unused_webpack_module, exports, __nccwpck_require__) => {

const b4a = __nccwpck_require__(57)

const ZEROS = '0000000000000000000'
const SEVENS = '7777777777777777777'
const ZERO_OFFSET = '0'.charCodeAt(0)
const USTAR_MAGIC = b4a.from([0x75, 0x73, 0x74, 0x61, 0x72, 0x00]) // ustar\x00
const USTAR_VER = b4a.from([ZERO_OFFSET, ZERO_OFFSET])
const GNU_MAGIC = b4a.from([0x75, 0x73, 0x74, 0x61, 0x72, 0x20]) // ustar\x20
const GNU_VER = b4a.from([0x20, 0x00])
const MASK = 0o7777
const MAGIC_OFFSET = 257
const VERSION_OFFSET = 263

exports.decodeLongPath = function decodeLongPath (buf, encoding) {
  return decodeStr(buf, 0, buf.length, encoding)
}

exports.encodePax = function encodePax (opts) { // TODO: encode more stuff in pax
  let result = ''
  if (opts.name) result += addLength(' path=' + opts.name + '\n')
  if (opts.linkname) result += addLength(' linkpath=' + opts.linkname + '\n')
  const pax = opts.pax
  if (pax) {
    for (const key in pax) {
      result += addLength(' ' + key + '=' + pax[key] + '\n')
    }
  }
  return b4a.from(result)
}

exports.decodePax = function decodePax (buf) {
  const result = {}

  while (buf.length) {
    let i = 0
    while (i < buf.length && buf[i] !== 32) i++
    const len = parseInt(b4a.toString(buf.subarray(0, i)), 10)
    if (!len) return result

    const b = b4a.toString(buf.subarray(i + 1, len - 1))
    const keyIndex = b.indexOf('=')
    if (keyIndex === -1) return result
    result[b.slice(0, keyIndex)] = b.slice(keyIndex + 1)

    buf = buf.subarray(len)
  }

  return result
}

exports.encode = function encode (opts) {
  const buf = b4a.alloc(512)
  let name = opts.name
  let prefix = ''

  if (opts.typeflag === 5 && name[name.length - 1] !== '/') name += '/'
  if (b4a.byteLength(name) !== name.length) return null // utf-8

  while (b4a.byteLength(name) > 100) {
    const i = name.indexOf('/')
    if (i === -1) return null
    prefix += prefix ? '/' + name.slice(0, i) : name.slice(0, i)
    name = name.slice(i + 1)
  }

  if (b4a.byteLength(name) > 100 || b4a.byteLength(prefix) > 155) return null
  if (opts.linkname && b4a.byteLength(opts.linkname) > 100) return null

  b4a.write(buf, name)
  b4a.write(buf, encodeOct(opts.mode & MASK, 6), 100)
  b4a.write(buf, encodeOct(opts.uid, 6), 108)
  b4a.write(buf, encodeOct(opts.gid, 6), 116)
  encodeSize(opts.size, buf, 124)
  b4a.write(buf, encodeOct((opts.mtime.getTime() / 1000) | 0, 11), 136)

  buf[156] = ZERO_OFFSET + toTypeflag(opts.type)

  if (opts.linkname) b4a.write(buf, opts.linkname, 157)

  b4a.copy(USTAR_MAGIC, buf, MAGIC_OFFSET)
  b4a.copy(USTAR_VER, buf, VERSION_OFFSET)
  if (opts.uname) b4a.write(buf, opts.uname, 265)
  if (opts.gname) b4a.write(buf, opts.gname, 297)
  b4a.write(buf, encodeOct(opts.devmajor || 0, 6), 329)
  b4a.write(buf, encodeOct(opts.devminor || 0, 6), 337)

  if (prefix) b4a.write(buf, prefix, 345)

  b4a.write(buf, encodeOct(cksum(buf), 6), 148)

  return buf
}

exports.decode = function decode (buf, filenameEncoding, allowUnknownFormat) {
  let typeflag = buf[156] === 0 ? 0 : buf[156] - ZERO_OFFSET

  let name = decodeStr(buf, 0, 100, filenameEncoding)
  const mode = decodeOct(buf, 100, 8)
  const uid = decodeOct(buf, 108, 8)
  const gid = decodeOct(buf, 116, 8)
  const size = decodeOct(buf, 124, 12)
  const mtime = decodeOct(buf, 136, 12)
  const type = toType(typeflag)
  const linkname = buf[157] === 0 ? null : decodeStr(buf, 157, 100, filenameEncoding)
  const uname = decodeStr(buf, 265, 32)
  const gname = decodeStr(buf, 297, 32)
  const devmajor = decodeOct(buf, 329, 8)
  const devminor = decodeOct(buf, 337, 8)

  const c = cksum(buf)

  // checksum is still initial value if header was null.
  if (c === 8 * 32) return null

  // valid checksum
  if (c !== decodeOct(buf, 148, 8)) throw new Error('Invalid tar header. Maybe the tar is corrupted or it needs to be gunzipped?')

  if (isUSTAR(buf)) {
    // ustar (posix) format.
    // prepend prefix, if present.
    if (buf[345]) name = decodeStr(buf, 345, 155, filenameEncoding) + '/' + name
  } else if (isGNU(buf)) {
    // 'gnu'/'oldgnu' format. Similar to ustar, but has support for incremental and
    // multi-volume tarballs.
  } else {
    if (!allowUnknownFormat) {
      throw new Error('Invalid tar header: unknown format.')
    }
  }

  // to support old tar versions that use trailing / to indicate dirs
  if (typeflag === 0 && name && name[name.length - 1] === '/') typeflag = 5

  return {
    name,
    mode,
    uid,
    gid,
    size,
    byteOffset: 0,
    mtime: new Date(1000 * mtime),
    type,
    linkname,
    uname,
    gname,
    devmajor,
    devminor,
    pax: null
  }
}

function isUSTAR (buf) {
  return b4a.equals(USTAR_MAGIC, buf.subarray(MAGIC_OFFSET, MAGIC_OFFSET + 6))
}

function isGNU (buf) {
  return b4a.equals(GNU_MAGIC, buf.subarray(MAGIC_OFFSET, MAGIC_OFFSET + 6)) &&
    b4a.equals(GNU_VER, buf.subarray(VERSION_OFFSET, VERSION_OFFSET + 2))
}

function clamp (index, len, defaultValue) {
  if (typeof index !== 'number') return defaultValue
  index = ~~index // Coerce to integer.
  if (index >= len) return len
  if (index >= 0) return index
  index += len
  if (index >= 0) return index
  return 0
}

function toType (flag) {
  switch (flag) {
    case 0:
      return 'file'
    case 1:
      return 'link'
    case 2:
      return 'symlink'
    case 3:
      return 'character-device'
    case 4:
      return 'block-device'
    case 5:
      return 'directory'
    case 6:
      return 'fifo'
    case 7:
      return 'contiguous-file'
    case 72:
      return 'pax-header'
    case 55:
      return 'pax-global-header'
    case 27:
      return 'gnu-long-link-path'
    case 28:
    case 30:
      return 'gnu-long-path'
  }

  return null
}

function toTypeflag (flag) {
  switch (flag) {
    case 'file':
      return 0
    case 'link':
      return 1
    case 'symlink':
      return 2
    case 'character-device':
      return 3
    case 'block-device':
      return 4
    case 'directory':
      return 5
    case 'fifo':
      return 6
    case 'contiguous-file':
      return 7
    case 'pax-header':
      return 72
  }

  return 0
}

function indexOf (block, num, offset, end) {
  for (; offset < end; offset++) {
    if (block[offset] === num) return offset
  }
  return end
}

function cksum (block) {
  let sum = 8 * 32
  for (let i = 0; i < 148; i++) sum += block[i]
  for (let j = 156; j < 512; j++) sum += block[j]
  return sum
}

function encodeOct (val, n) {
  val = val.toString(8)
  if (val.length > n) return SEVENS.slice(0, n) + ' '
  return ZEROS.slice(0, n - val.length) + val + ' '
}

function encodeSizeBin (num, buf, off) {
  buf[off] = 0x80
  for (let i = 11; i > 0; i--) {
    buf[off + i] = num & 0xff
    num = Math.floor(num / 0x100)
  }
}

function encodeSize (num, buf, off) {
  if (num.toString(8).length > 11) {
    encodeSizeBin(num, buf, off)
  } else {
    b4a.write(buf, encodeOct(num, 11), off)
  }
}

/* Copied from the node-tar repo and modified to meet
 * tar-stream coding standard.
 *
 * Source: https://github.com/npm/node-tar/blob/51b6627a1f357d2eb433e7378e5f05e83b7aa6cd/lib/header.js#L349
 */
function parse256 (buf) {
  // first byte MUST be either 80 or FF
  // 80 for positive, FF for 2's comp
  let positive
  if (buf[0] === 0x80) positive = true
  else if (buf[0] === 0xFF) positive = false
  else return null

  // build up a base-256 tuple from the least sig to the highest
  const tuple = []
  let i
  for (i = buf.length - 1; i > 0; i--) {
    const byte = buf[i]
    if (positive) tuple.push(byte)
    else tuple.push(0xFF - byte)
  }

  let sum = 0
  const l = tuple.length
  for (i = 0; i < l; i++) {
    sum += tuple[i] * Math.pow(256, i)
  }

  return positive ? sum : -1 * sum
}

function decodeOct (val, offset, length) {
  val = val.subarray(offset, offset + length)
  offset = 0

  // If prefixed with 0x80 then parse as a base-256 integer
  if (val[offset] & 0x80) {
    return parse256(val)
  } else {
    // Older versions of tar can prefix with spaces
    while (offset < val.length && val[offset] === 32) offset++
    const end = clamp(indexOf(val, 32, offset, val.length), val.length, val.length)
    while (offset < end && val[offset] === 0) offset++
    if (end === offset) return 0
    return parseInt(b4a.toString(val.subarray(offset, end)), 8)
  }
}

function decodeStr (val, offset, length, encoding) {
  return b4a.toString(val.subarray(offset, indexOf(val, 0, offset, offset + length)), encoding)
}

function addLength (str) {
  const len = b4a.byteLength(str)
  let digits = Math.floor(Math.log(len) / Math.log(10)) + 1
  if (len + digits >= Math.pow(10, digits)) digits++

  return (len + digits) + str
}


/***/ }),

/***/ 118:
/***/ ((__unused_webpack_module, exports, __nccwpck_require__) => {

exports.extract = __nccwpck_require__(763)
exports.pack = __nccwpck_require__(861)


/***/ }),

/***/ 861:
/***/ ((module, __unused_webpack_exports, __nccwpck_require__) => {

const { Readable, Writable, getStreamError } = __nccwpck_require__(204)
const b4a = __nccwpck_require__(57)

const constants = __nccwpck_require__(775)
const headers = __nccwpck_require__(428)

const DMODE = 0o755
const FMODE = 0o644

const END_OF_TAR = b4a.alloc(1024)

class Sink extends Writable {
  constructor (pack, header, callback) {
    super({ mapWritable, eagerOpen: true })

    this.written = 0
    this.header = header

    this._callback = callback
    this._linkname = null
    this._isLinkname = header.type === 'symlink' && !header.linkname
    this._isVoid = header.type !== 'file' && header.type !== 'contiguous-file'
    this._finished = false
    this._pack = pack
    this._openCallback = null

    if (this._pack._stream === null) this._pack._stream = this
    else this._pack._pending.push(this)
  }

  _open (cb) {
    this._openCallback = cb
    if (this._pack._stream === this) this._continueOpen()
  }

  _continuePack (err) {
    if (this._callback === null) return

    const callback = this._callback
    this._callback = null

    callback(err)
  }

  _continueOpen () {
    if (this._pack._stream === null) this._pack._stream = this

    const cb = this._openCallback
    this._openCallback = null
    if (cb === null) return

    if (this._pack.destroying) return cb(new Error('pack stream destroyed'))
    if (this._pack._finalized) return cb(new Error('pack stream is already finalized'))

    this._pack._stream = this

    if (!this._isLinkname) {
      this._pack._encode(this.header)
    }

    if (this._isVoid) {
      this._finish()
      this._continuePack(null)
    }

    cb(null)
  }

  _write (data, cb) {
    if (this._isLinkname) {
      this._linkname = this._linkname ? b4a.concat([this._linkname, data]) : data
      return cb(null)
    }

    if (this._isVoid) {
      if (data.byteLength > 0) {
        return cb(new Error('No body allowed for this entry'))
      }
      return cb()
    }

    this.written += data.byteLength
    if (this._pack.push(data)) return cb()
    this._pack._drain = cb
  }

  _finish () {
    if (this._finished) return
    this._finished = true

    if (this._isLinkname) {
      this.header.linkname = this._linkname ? b4a.toString(this._linkname, 'utf-8') : ''
      this._pack._encode(this.header)
    }

    overflow(this._pack, this.header.size)

    this._pack._done(this)
  }

  _final (cb) {
    if (this.written !== this.header.size) { // corrupting tar
      return cb(new Error('Size mismatch'))
    }

    this._finish()
    cb(null)
  }

  _getError () {
    return getStreamError(this) || new Error('tar entry destroyed')
  }

  _predestroy () {
    this._pack.destroy(this._getError())
  }

  _destroy (cb) {
    this._pack._done(this)

    this._continuePack(this._finished ? null : this._getError())

    cb()
  }
}

class Pack extends Readable {
  constructor (opts) {
    super(opts)
    this._drain = noop
    this._finalized = false
    this._finalizing = false
    this._pending = []
    this._stream = null
  }

  entry (header, buffer, callback) {
    if (this._finalized || this.destroying) throw new Error('already finalized or destroyed')

    if (typeof buffer === 'function') {
      callback = buffer
      buffer = null
    }

    if (!callback) callback = noop

    if (!header.size || header.type === 'symlink') header.size = 0
    if (!header.type) header.type = modeToType(header.mode)
    if (!header.mode) header.mode = header.type === 'directory' ? DMODE : FMODE
    if (!header.uid) header.uid = 0
    if (!header.gid) header.gid = 0
    if (!header.mtime) header.mtime = new Date()

    if (typeof buffer === 'string') buffer = b4a.from(buffer)

    const sink = new Sink(this, header, callback)

    if (b4a.isBuffer(buffer)) {
      header.size = buffer.byteLength
      sink.write(buffer)
      sink.end()
      return sink
    }

    if (sink._isVoid) {
      return sink
    }

    return sink
  }

  finalize () {
    if (this._stream || this._pending.length > 0) {
      this._finalizing = true
      return
    }

    if (this._finalized) return
    this._finalized = true

    this.push(END_OF_TAR)
    this.push(null)
  }

  _done (stream) {
    if (stream !== this._stream) return

    this._stream = null

    if (this._finalizing) this.finalize()
    if (this._pending.length) this._pending.shift()._continueOpen()
  }

  _encode (header) {
    if (!header.pax) {
      const buf = headers.encode(header)
      if (buf) {
        this.push(buf)
        return
      }
    }
    this._encodePax(header)
  }

  _encodePax (header) {
    const paxHeader = headers.encodePax({
      name: header.name,
      linkname: header.linkname,
      pax: header.pax
    })

    const newHeader = {
      name: 'PaxHeader',
      mode: header.mode,
      uid: header.uid,
      gid: header.gid,
      size: paxHeader.byteLength,
      mtime: header.mtime,
      type: 'pax-header',
      linkname: header.linkname && 'PaxHeader',
      uname: header.uname,
      gname: header.gname,
      devmajor: header.devmajor,
      devminor: header.devminor
    }

    this.push(headers.encode(newHeader))
    this.push(paxHeader)
    overflow(this, paxHeader.byteLength)

    newHeader.size = header.size
    newHeader.type = header.type
    this.push(headers.encode(newHeader))
  }

  _doDrain () {
    const drain = this._drain
    this._drain = noop
    drain()
  }

  _predestroy () {
    const err = getStreamError(this)

    if (this._stream) this._stream.destroy(err)

    while (this._pending.length) {
      const stream = this._pending.shift()
      stream.destroy(err)
      stream._continueOpen()
    }

    this._doDrain()
  }

  _read (cb) {
    this._doDrain()
    cb()
  }
}

module.exports = function pack (opts) {
  return new Pack(opts)
}

function modeToType (mode) {
  switch (mode & constants.S_IFMT) {
    case constants.S_IFBLK: return 'block-device'
    case constants.S_IFCHR: return 'character-device'
    case constants.S_IFDIR: return 'directory'
    case constants.S_IFIFO: return 'fifo'
    case constants.S_IFLNK: return 'symlink'
  }

  return 'file'
}

function noop () {}

function overflow (self, size) {
  size &= 511
  if (size) self.push(END_OF_TAR.subarray(0, 512 - size))
}

function mapWritable (buf) {
  return b4a.isBuffer(buf) ? buf : b4a.from(buf)
}


/***/ }),

/***/ 934:
/***/ ((module, __unused_webpack_exports, __nccwpck_require__) => {

const PassThroughDecoder = __nccwpck_require__(256)
const UTF8Decoder = __nccwpck_require__(414)

module.exports = class TextDecoder {
  constructor(encoding = 'utf8') {
    this.encoding = normalizeEncoding(encoding)

    switch (this.encoding) {
      case 'utf8':
        this.decoder = new UTF8Decoder()
        break
      case 'utf16le':
      case 'base64':
        throw new Error('Unsupported encoding: ' + this.encoding)
      default:
        this.decoder = new PassThroughDecoder(this.encoding)
    }
  }

  get remaining() {
    return this.decoder.remaining
  }

  push(data) {
    if (typeof data === 'string') return data
    return this.decoder.decode(data)
  }

  // For Node.js compatibility
  write(data) {
    return this.push(data)
  }

  end(data) {
    let result = ''
    if (data) result = this.push(data)
    result += this.decoder.flush()
    return result
  }
}

function normalizeEncoding(encoding) {
  encoding = encoding.toLowerCase()

  switch (encoding) {
    case 'utf8':
    case 'utf-8':
      return 'utf8'
    case 'ucs2':
    case 'ucs-2':
    case 'utf16le':
    case 'utf-16le':
      return 'utf16le'
    case 'latin1':
    case 'binary':
      return 'latin1'
    case 'base64':
    case 'ascii':
    case 'hex':
      return encoding
    default:
      throw new Error('Unknown encoding: ' + encoding)
  }
}


/***/ }),

/***/ 256:
/***/ ((module, __unused_webpack_exports, __nccwpck_require__) => {

const b4a = __nccwpck_require__(57)

module.exports = class PassThroughDecoder {
  constructor(encoding) {
    this.encoding = encoding
  }

  get remaining() {
    return 0
  }

  decode(data) {
    return b4a.toString(data, this.encoding)
  }

  flush() {
    return ''
  }
}


/***/ }),

/***/ 414:
/***/ ((module, __unused_webpack_exports, __nccwpck_require__) => {

const b4a = __nccwpck_require__(57)

/**
 * https://encoding.spec.whatwg.org/#utf-8-decoder
 */
module.exports = class UTF8Decoder {
  constructor() {
    this._reset()
  }

  get remaining() {
    return this.bytesSeen
  }

  decode(data) {
    if (data.byteLength === 0) return ''

    if (this.bytesNeeded === 0 && trailingIncomplete(data, 0) === 0) {
      this.bytesSeen = trailingBytesSeen(data)
      return b4a.toString(data, 'utf8')
    }

    let result = ''
    let start = 0

    if (this.bytesNeeded > 0) {
      while (start < data.byteLength) {
        const byte = data[start]

        if (byte < this.lowerBoundary || byte > this.upperBoundary) {
          result += '\ufffd'
          this._reset()
          break
        }

        this.lowerBoundary = 0x80
        this.upperBoundary = 0xbf
        this.codePoint = (this.codePoint << 6) | (byte & 0x3f)
        this.bytesSeen++
        start++

        if (this.bytesSeen === this.bytesNeeded) {
          result += String.fromCodePoint(this.codePoint)
          this._reset()
          break
        }
      }

      if (this.bytesNeeded > 0) return result
    }

    const trailing = trailingIncomplete(data, start)
    const end = data.byteLength - trailing

    if (end > start) result += b4a.toString(data, 'utf8', start, end)

    for (let i = end; i < data.byteLength; i++) {
      const byte = data[i]

      if (this.bytesNeeded === 0) {
        if (byte <= 0x7f) {
          this.bytesSeen = 0
          result += String.fromCharCode(byte)
        } else if (byte >= 0xc2 && byte <= 0xdf) {
          this.bytesNeeded = 2
          this.bytesSeen = 1
          this.codePoint = byte & 0x1f
        } else if (byte >= 0xe0 && byte <= 0xef) {
          if (byte === 0xe0) this.lowerBoundary = 0xa0
          else if (byte === 0xed) this.upperBoundary = 0x9f
          this.bytesNeeded = 3
          this.bytesSeen = 1
          this.codePoint = byte & 0xf
        } else if (byte >= 0xf0 && byte <= 0xf4) {
          if (byte === 0xf0) this.lowerBoundary = 0x90
          else if (byte === 0xf4) this.upperBoundary = 0x8f
          this.bytesNeeded = 4
          this.bytesSeen = 1
          this.codePoint = byte & 0x7
        } else {
          this.bytesSeen = 1
          result += '\ufffd'
        }

        continue
      }

      if (byte < this.lowerBoundary || byte > this.upperBoundary) {
        result += '\ufffd'
        i--
        this._reset()

        continue
      }

      this.lowerBoundary = 0x80
      this.upperBoundary = 0xbf

      this.codePoint = (this.codePoint << 6) | (byte & 0x3f)
      this.bytesSeen++

      if (this.bytesSeen === this.bytesNeeded) {
        result += String.fromCodePoint(this.codePoint)
        this._reset()
      }
    }

    return result
  }

  flush() {
    const result = this.bytesNeeded > 0 ? '\ufffd' : ''
    this._reset()
    return result
  }

  _reset() {
    this.codePoint = 0
    this.bytesNeeded = 0
    this.bytesSeen = 0
    this.lowerBoundary = 0x80
    this.upperBoundary = 0xbf
  }
}

function trailingIncomplete(data, start) {
  const len = data.byteLength
  if (len <= start) return 0

  const limit = Math.max(start, len - 4)

  let i = len - 1
  while (i > limit && (data[i] & 0xc0) === 0x80) i--

  if (i < start) return 0

  const byte = data[i]

  let needed
  if (byte <= 0x7f) return 0
  if (byte >= 0xc2 && byte <= 0xdf) needed = 2
  else if (byte >= 0xe0 && byte <= 0xef) needed = 3
  else if (byte >= 0xf0 && byte <= 0xf4) needed = 4
  else return 0

  const available = len - i
  return available < needed ? available : 0
}

function trailingBytesSeen(data) {
  const len = data.byteLength
  if (len === 0) return 0

  const last = data[len - 1]

  if (last <= 0x7f) return 0
  if ((last & 0xc0) !== 0x80) return 1

  const limit = Math.max(0, len - 4)

  let i = len - 2
  while (i >= limit && (data[i] & 0xc0) === 0x80) i--

  if (i < 0) return 1

  const first = data[i]

  let needed
  if (first >= 0xc2 && first <= 0xdf) needed = 2
  else if (first >= 0xe0 && first <= 0xef) needed = 3
  else if (first >= 0xf0 && first <= 0xf4) needed = 4
  else return 1

  if (len - i !== needed) return 1

  if (needed >= 3) {
    const second = data[i + 1]
    if (first === 0xe0 && second < 0xa0) return 1
    if (first === 0xed && second > 0x9f) return 1
    if (first === 0xf0 && second < 0x90) return 1
    if (first === 0xf4 && second > 0x8f) return 1
  }

  return 0
}


/***/ }),

/***/ 153:
/***/ ((__unused_webpack_module, __webpack_exports__, __nccwpck_require__) => {


// EXPORTS
__nccwpck_require__.d(__webpack_exports__, {
  iW: () => (/* binding */ main)
});

// UNUSED EXPORTS: UsageError, VERSION, parseArgs

;// CONCATENATED MODULE: external "node:fs"
const external_node_fs_namespaceObject = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("node:fs");
;// CONCATENATED MODULE: ./src/util/errors.ts
/**
 * An error a user can act on. Front ends print its message alone, never a stack trace; any
 * other error reaching a front end is a bug in Lading and is reported as such.
 */
class LadingError extends Error {
    constructor(message) {
        super(message);
        this.name = 'LadingError';
    }
}
/** The message of anything thrown, for wrapping into a LadingError with context. */
function errors_messageOf(err) {
    if (err instanceof Error) {
        const code = err.code;
        // Node's fs errors already name the path; keep them short and free of stack frames.
        return code && !err.message.includes(code) ? `${code}: ${err.message}` : err.message;
    }
    return String(err);
}

;// CONCATENATED MODULE: ./src/app/inputs.ts

/**
 * The action's inputs, their defaults as action.yml declares them (a test keeps the two equal), and
 * the parsing of list inputs. The runner fills in action.yml's defaults itself; running
 * `node dist/index.js` by hand does not, so the code applies them too.
 */
const INPUT_DEFAULTS = {
    from: 'scratch',
    platforms: '',
    layers: '',
    entrypoint: '',
    cmd: '',
    env: '',
    workdir: '',
    user: '',
    labels: '',
    annotations: '',
    'exposed-ports': '',
    created: '',
    compression: 'gzip',
    'compression-level': '',
    'cache-from': '',
    output: '',
    archive: '',
    'archive-format': 'oci',
    load: 'false',
    'ref-name': 'latest',
    'fail-on': 'error',
    tags: '',
    push: 'false',
    'push-by-digest': 'false',
    username: '',
    password: '',
    // action.yml says `${{ github.token }}`, which only the runner can expand.
    'github-token': '${{ github.token }}',
    'insecure-registries': '',
    attach: '',
    summary: 'true'
};
const INPUT_NAMES = Object.keys(INPUT_DEFAULTS);
function isInputName(name) {
    return Object.hasOwn(INPUT_DEFAULTS, name);
}
/** The inputs of the environment, as the runner passes them (`INPUT_<NAME>`, hyphens kept). */
function inputsFromEnv(env) {
    const given = {};
    for (const name of INPUT_NAMES)
        given[name] = env[`INPUT_${name.replace(/ /g, '_').toUpperCase()}`];
    return withDefaults(given);
}
function defaultFor(name) {
    const d = INPUT_DEFAULTS[name];
    return d.includes('${{') ? '' : d;
}
/** Applies defaults to inputs given by name: an input that is absent or blank takes its default. */
function withDefaults(given) {
    const raw = {};
    for (const name of INPUT_NAMES) {
        const v = given[name];
        raw[name] = v !== undefined && v.trim() !== '' ? v : defaultFor(name);
    }
    return raw;
}
/** One item a line; blank lines and surrounding spaces ignored. `commas` also splits on commas. */
function parseList(value, opts = {}) {
    const lines = value.split(/\r?\n/);
    const items = opts.commas ? lines.flatMap(l => l.split(',')) : lines;
    return items.map(s => s.trim()).filter(s => s !== '');
}
function parseBool(name, value) {
    const v = value.trim().toLowerCase();
    if (['true', 'yes', '1', 'on'].includes(v))
        return true;
    if (['false', 'no', '0', 'off', ''].includes(v))
        return false;
    throw new LadingError(`${name}: "${value}" is not true or false`);
}
/** How severe a finding must be to fail the run. */
function parseFailOn(value, name = 'fail-on') {
    const v = value.trim().toLowerCase();
    if (v !== 'error' && v !== 'warning' && v !== 'never')
        throw new LadingError(`${name}: "${value}" is not one of error, warning, never`);
    return v;
}

;// CONCATENATED MODULE: external "node:child_process"
const external_node_child_process_namespaceObject = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("node:child_process");
;// CONCATENATED MODULE: external "node:path"
const external_node_path_namespaceObject = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("node:path");
;// CONCATENATED MODULE: ./src/app/words.ts

/**
 * Splits a string into words as a POSIX shell would (quotes, backslash escapes), without any
 * expansion: `sh -c "echo hi"` → ["sh", "-c", "echo hi"].
 */
function shellWords(s, input) {
    const words = [];
    let cur = '';
    let inWord = false;
    let quote;
    for (let i = 0; i < s.length; i++) {
        const c = s[i];
        if (quote === "'") {
            if (c === "'")
                quote = undefined;
            else
                cur += c;
        }
        else if (quote === '"') {
            if (c === '"')
                quote = undefined;
            else if (c === '\\' && i + 1 < s.length && '"\\$`\n'.includes(s[i + 1]))
                cur += s[++i];
            else
                cur += c;
        }
        else if (c === "'" || c === '"') {
            quote = c;
            inWord = true;
        }
        else if (c === '\\') {
            if (i + 1 < s.length)
                cur += s[++i];
            inWord = true;
        }
        else if (/\s/.test(c)) {
            if (inWord)
                words.push(cur);
            cur = '';
            inWord = false;
        }
        else {
            cur += c;
            inWord = true;
        }
    }
    if (quote)
        throw new LadingError(`${input}: unterminated ${quote} quote in "${s}"`);
    if (inWord)
        words.push(cur);
    return words;
}
/** A JSON array of strings, or a string split as a shell splits words. */
function parseCommand(value, input) {
    const v = value.trim();
    if (v.startsWith('[')) {
        let parsed;
        try {
            parsed = JSON.parse(v);
        }
        catch (err) {
            throw new LadingError(`${input}: "${v}" starts with [ but is not a JSON array (${err.message})`);
        }
        if (!Array.isArray(parsed) || parsed.some(x => typeof x !== 'string'))
            throw new LadingError(`${input}: "${v}" must be a JSON array of strings`);
        return parsed;
    }
    return shellWords(v, input);
}

;// CONCATENATED MODULE: ./src/oci/platform.ts

/** Parses `os/arch[/variant]`, e.g. `linux/arm64/v8`. */
function parsePlatform(s) {
    const parts = s.trim().split('/');
    if (parts.length < 2 || parts.length > 3 || parts.some(p => !/^[a-z0-9._-]+$/i.test(p)))
        throw new LadingError(`platform "${s}" is not os/arch[/variant] (for example linux/amd64 or linux/arm/v7)`);
    return normalizePlatform({ os: parts[0], architecture: parts[1], variant: parts[2] });
}
/**
 * The platform with its fields in one fixed order (the spec's) and empty ones dropped, so the
 * same platform always serialises to the same bytes, whichever way it was read.
 */
function normalizePlatform(p) {
    const out = { architecture: p.architecture, os: p.os };
    if (p['os.version'])
        out['os.version'] = p['os.version'];
    if (p['os.features']?.length)
        out['os.features'] = p['os.features'];
    if (p.variant)
        out.variant = p.variant;
    if (p.features?.length)
        out.features = p.features;
    return out;
}
function formatPlatform(p) {
    return [p.os, p.architecture, p.variant].filter(Boolean).join('/');
}
/** The variant an architecture implies when none is given (arm64 is v8, as containerd assumes). */
function normalVariant(p) {
    if (p.architecture === 'arm64' && p.variant === 'v8')
        return undefined;
    return p.variant || undefined;
}
function platformsEqual(a, b) {
    return (a.os === b.os &&
        a.architecture === b.architecture &&
        normalVariant(a) === normalVariant(b) &&
        (a['os.version'] ?? '') === (b['os.version'] ?? ''));
}
/** Whether `p` is selected by the filter `want` (a filter without variant selects every variant). */
function platformMatches(want, p) {
    if (want.os !== p.os || want.architecture !== p.architecture)
        return false;
    if (want.variant === undefined)
        return true;
    return normalVariant(want) === normalVariant(p);
}
function platformOfConfig(c) {
    const p = { os: c.os, architecture: c.architecture };
    if (c.variant)
        p.variant = c.variant;
    if (c['os.version'])
        p['os.version'] = c['os.version'];
    return p;
}

;// CONCATENATED MODULE: ./src/app/annotations.ts
/**
 * The `annotations` input, with the levels buildx defines (`manifest`, `index`,
 * `manifest-descriptor`, `index-descriptor`) and docker/metadata-action's optional platform
 * selector: `manifest[linux/amd64]:KEY=VALUE`. Manifest and index annotations go into those
 * documents; descriptor annotations onto the descriptors that point at them: a manifest's entry in
 * the index (or the layout's index.json entry when the image has no index), and the root's entry
 * in index.json.
 */


const LEVEL = 'manifest-descriptor|index-descriptor|manifest|index';
const PREFIX = new RegExp(`^((?:${LEVEL})(?:,(?:${LEVEL}))*)(?:\\[([^\\]]*)\\])?:(.*)$`);
function emptyAnnotations() {
    return { manifest: {}, index: {}, manifestDescriptor: {}, indexDescriptor: {}, scoped: [] };
}
/** Parses `[LEVEL[,LEVEL…][\[PLATFORM,…\]]:]KEY=VALUE` lines; no prefix means `manifest`. */
function parseAnnotations(lines) {
    const out = emptyAnnotations();
    for (const line of lines) {
        const eq = line.indexOf('=');
        if (eq <= 0)
            throw new LadingError(`annotations: "${line}" is not key=value`);
        const [prefixed, value] = [line.slice(0, eq).trim(), line.slice(eq + 1)];
        const m = PREFIX.exec(prefixed);
        const levels = (m ? m[1].split(',') : ['manifest']);
        const key = m ? m[3].trim() : prefixed;
        if (!key)
            throw new LadingError(`annotations: "${line}" has no key after its level`);
        const platforms = m?.[2] === undefined ? undefined : selectorPlatforms(line, m[2]);
        for (const level of new Set(levels)) {
            if (!platforms) {
                out[recordOf(level)][key] = value;
                continue;
            }
            if (level === 'index' || level === 'index-descriptor')
                throw new LadingError(`annotations: "${line}": ${level} annotations are for the one index, so they take no [platform]; ` +
                    'a platform selector goes with manifest or manifest-descriptor');
            out.scoped.push({ level, platforms, key, value, line });
        }
    }
    return out;
}
function recordOf(level) {
    if (level === 'manifest-descriptor')
        return 'manifestDescriptor';
    if (level === 'index-descriptor')
        return 'indexDescriptor';
    return level;
}
function selectorPlatforms(line, selector) {
    const items = selector.split(',').map(s => s.trim());
    if (items.some(s => s === ''))
        throw new LadingError(`annotations: "${line}": the platform selector [${selector}] is empty; write e.g. manifest[linux/amd64]:KEY=VALUE`);
    return items.map(s => {
        try {
            return parsePlatform(s);
        }
        catch (err) {
            throw new LadingError(`annotations: "${line}": ${err.message}`);
        }
    });
}
/** A platform-scoped annotation for a platform the image lacks is a mistake, not a no-op. */
function checkAnnotationPlatforms(a, platforms) {
    for (const s of a.scoped)
        for (const want of s.platforms)
            if (!platforms.some(p => platformMatches(want, p)))
                throw new LadingError(`annotations: "${s.line}" is for ${formatPlatform(want)}, which the image does not have ` +
                    `(it has ${platforms.map(formatPlatform).join(', ')})`);
}
function scopedFor(a, level, p) {
    const out = {};
    for (const s of a.scoped)
        if (s.level === level && s.platforms.some(want => platformMatches(want, p)))
            out[s.key] = s.value;
    return out;
}
/** The annotations the user gives the manifest of platform `p`. */
function manifestAnnotationsFor(a, p) {
    return { ...a.manifest, ...scopedFor(a, 'manifest', p) };
}
/** The annotations of the descriptor of platform `p`'s manifest. */
function manifestDescriptorAnnotationsFor(a, p) {
    return { ...a.manifestDescriptor, ...scopedFor(a, 'manifest-descriptor', p) };
}
/** Whether any annotation goes on the descriptors of manifests: the index must be made anew. */
function hasManifestDescriptorAnnotations(a) {
    return (Object.keys(a.manifestDescriptor).length > 0 ||
        a.scoped.some(s => s.level === 'manifest-descriptor'));
}

;// CONCATENATED MODULE: external "node:crypto"
const external_node_crypto_namespaceObject = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("node:crypto");
;// CONCATENATED MODULE: external "node:stream"
const external_node_stream_namespaceObject = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("node:stream");
;// CONCATENATED MODULE: ./src/oci/digest.ts



/** Digest algorithms registered by the OCI Image Spec, with the length of their hex encoding. */
const REGISTERED = new Map([
    ['sha256', 64],
    ['sha512', 128]
]);
/** The hex length of a registered algorithm's digests, or undefined for any other name. */
function encodedLength(algorithm) {
    return REGISTERED.get(algorithm);
}
/** The two halves of the digest grammar of descriptor.md, algorithm ":" encoded. */
const ALGORITHM = /^[a-z0-9]+(?:[+._-][a-z0-9]+)*$/;
const ENCODED = /^[a-zA-Z0-9=_-]+$/;
/** Whether a name is an algorithm of the digest grammar, registered or not. */
function isAlgorithmName(s) {
    return ALGORITHM.test(s);
}
/** Whether a name is the encoded part of the digest grammar, of any algorithm. */
function isEncodedName(s) {
    return ENCODED.test(s);
}
/** Why `digest` is not a usable digest, or undefined when it is one Lading can verify. */
function digestProblem(digest) {
    if (typeof digest !== 'string')
        return { reason: 'not-a-string', message: 'is not a string' };
    const colon = digest.indexOf(':');
    const algorithm = digest.slice(0, colon);
    const encoded = digest.slice(colon + 1);
    if (colon < 0 || !isAlgorithmName(algorithm) || !isEncodedName(encoded))
        return {
            reason: 'grammar',
            message: 'does not match the digest grammar algorithm:encoded'
        };
    const len = encodedLength(algorithm);
    if (len === undefined)
        return {
            reason: 'unregistered-algorithm',
            message: `uses algorithm "${algorithm}", which is not sha256 or sha512`
        };
    if (!/^[a-f0-9]+$/.test(encoded))
        return { reason: 'encoding', message: 'is not lower-case hex' };
    if (encoded.length !== len)
        return {
            reason: 'encoding',
            message: `has ${encoded.length} hex characters; ${algorithm} needs ${len}`
        };
    return undefined;
}
/** Whether `digest` follows the grammar, whether or not Lading can verify its algorithm. */
function isGrammaticalDigest(digest) {
    const reason = digestProblem(digest)?.reason;
    return reason !== 'not-a-string' && reason !== 'grammar';
}
/** Whether the digest's algorithm is one Lading can hash (the digest may still be malformed). */
function isRegisteredAlgorithm(digest) {
    return REGISTERED.has(digest.split(':', 1)[0]);
}
function parseDigest(digest, where = 'digest') {
    const problem = digestProblem(digest);
    if (problem)
        throw new LadingError(`${where} "${digest}" ${problem.message}`);
    const [algorithm, encoded] = digest.split(':', 2);
    return { algorithm, encoded };
}
/** Whether `digest` is one Lading can verify: sha256 or sha512, in lower-case hex of its length. */
function isDigest(digest) {
    return digestProblem(digest) === undefined;
}
function digestOf(data, algorithm = 'sha256') {
    return `${algorithm}:` + (0,external_node_crypto_namespaceObject.createHash)(algorithm).update(data).digest('hex');
}
/**
 * A pass-through stream that hashes and counts what flows through it, so a blob is hashed in the
 * same pass that writes or uploads it.
 */
class HashingStream extends external_node_stream_namespaceObject.Transform {
    algorithm;
    relief;
    hash;
    count = 0;
    result;
    /** `relief` counts what is hashed: it was read or made into Buffers that are now garbage. */
    constructor(algorithm = 'sha256', relief) {
        super();
        this.algorithm = algorithm;
        this.relief = relief;
        this.hash = (0,external_node_crypto_namespaceObject.createHash)(algorithm);
    }
    _transform(chunk, _enc, cb) {
        this.hash.update(chunk);
        this.count += chunk.length;
        this.relief?.moved(chunk.length);
        cb(null, chunk);
    }
    _flush(cb) {
        this.result = `${this.algorithm}:` + this.hash.digest('hex');
        cb();
    }
    /** Whether the stream has ended, so that digest() can be called. */
    get ended() {
        return this.result !== undefined;
    }
    /** The digest, once the stream has ended. */
    digest() {
        if (!this.result)
            throw new Error('HashingStream.digest() called before the stream ended');
        return this.result;
    }
    get size() {
        return this.count;
    }
}
function verifyContent(data, digest, size, where) {
    const { algorithm } = parseDigest(digest, where);
    if (size !== undefined && data.length !== size)
        throw new LadingError(`${where}: expected ${size} bytes, got ${data.length}`);
    const actual = digestOf(data, algorithm);
    if (actual !== digest)
        throw new LadingError(`${where}: content has digest ${actual}, expected ${digest}`);
}

;// CONCATENATED MODULE: ./src/oci/reference.ts


const DOCKER_HUB = 'docker.io';
/** Docker Hub's API lives on another host than the name users write. */
const DOCKER_HUB_API = 'registry-1.docker.io';
/** image-layout.md's grammar of `org.opencontainers.image.ref.name`: components joined by `/`. */
const REF_NAME_COMPONENT = '[A-Za-z0-9]+(?:(?:[-._:@+]|--)[A-Za-z0-9]+)*';
const LAYOUT_REF_NAME = new RegExp(`^${REF_NAME_COMPONENT}(?:/${REF_NAME_COMPONENT})*$`);
const PATH_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG = /^[\w][\w.-]{0,127}$/;
const HOST = /^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*|\[[0-9a-fA-F:]+\])(?::[0-9]+)?$/;
/**
 * Parses `[docker://]HOST/REPO[:TAG][@DIGEST]`. `alpine` becomes `docker.io/library/alpine:latest`
 * when `defaultTag` is set (it is for bases, not for names whose tag must be explicit).
 */
function parseReference(input, opts = {}) {
    const raw = input.trim().replace(/^docker:\/\//, '');
    const fail = (why) => {
        throw new LadingError(`"${input}" is not a valid image reference: ${why}`);
    };
    if (!raw)
        fail('it is empty');
    let rest = raw;
    let digest;
    const at = rest.indexOf('@');
    if (at >= 0) {
        digest = rest.slice(at + 1);
        rest = rest.slice(0, at);
        const problem = digestProblem(digest);
        if (problem)
            fail(`the digest ${problem.message}`);
    }
    let tag;
    const lastSlash = rest.lastIndexOf('/');
    const colon = rest.lastIndexOf(':');
    if (colon > lastSlash) {
        tag = rest.slice(colon + 1);
        rest = rest.slice(0, colon);
        if (!TAG.test(tag))
            fail(`the tag "${tag}" is not [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`);
    }
    const parts = rest.split('/');
    let registry = DOCKER_HUB;
    if (parts.length > 1 &&
        (parts[0].includes('.') || parts[0].includes(':') || parts[0] === 'localhost')) {
        registry = parts.shift();
        if (!HOST.test(registry))
            fail(`the registry host "${registry}" is not a host[:port]`);
    }
    registry = canonicalRegistry(registry);
    if (registry === DOCKER_HUB && parts.length === 1)
        parts.unshift('library');
    for (const p of parts) {
        if (!PATH_COMPONENT.test(p))
            fail(`the repository component "${p}" must be lower-case letters, digits and separators (. _ __ -)`);
    }
    const repository = parts.join('/');
    if (repository.length > 255)
        fail('the repository name is longer than 255 characters');
    if (!tag && !digest && opts.defaultTag)
        tag = opts.defaultTag;
    return { registry, repository, tag, digest };
}
/** Whether `name` may be an image layout's `org.opencontainers.image.ref.name`. */
function isLayoutRefName(name) {
    return LAYOUT_REF_NAME.test(name);
}
/** The name a registry goes by: Docker Hub's several host names are all `docker.io`. */
function canonicalRegistry(host) {
    const h = host.toLowerCase();
    return h === 'index.docker.io' || h === DOCKER_HUB_API ? DOCKER_HUB : host;
}
function formatReference(ref) {
    let s = `${ref.registry}/${ref.repository}`;
    if (ref.tag)
        s += `:${ref.tag}`;
    if (ref.digest)
        s += `@${ref.digest}`;
    return s;
}
/** HOST/REPO, the name without tag or digest. */
function repositoryName(ref) {
    return `${ref.registry}/${ref.repository}`;
}
/** The host Lading talks to for a registry name (Docker Hub's API host differs from its name). */
function registryApiHost(registry) {
    return registry === DOCKER_HUB ? DOCKER_HUB_API : registry;
}

;// CONCATENATED MODULE: ./src/oci/time.ts
/**
 * RFC 3339 date-times (section 5.6), the form of `created` in configs and annotations: one strict
 * reader for the validator and for inputs, and the one way Lading writes them.
 */
const DATE_TIME = /^(\d{4})-(\d{2})-(\d{2})([Tt ])(\d{2}):(\d{2}):(\d{2})(\.\d+)?(?:[Zz]|([+-])(\d{2}):(\d{2}))$/;
function daysIn(year, month) {
    const leap = (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
    return [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1] ?? 0;
}
/**
 * The fields of an RFC 3339 date-time when the text is one and every field is in range (no
 * February 30th, no hour 24; second 60 is the grammar's leap second), else undefined.
 */
function readFields(text, opts) {
    if (typeof text !== 'string')
        return undefined;
    const m = DATE_TIME.exec(text);
    if (!m || (m[4] === ' ' && !opts.space))
        return undefined;
    const [year, month, day, hour, minute, second] = [1, 2, 3, 5, 6, 7].map(i => Number(m[i]));
    const offsetHours = m[9] === undefined ? 0 : Number(m[10]);
    const offsetMinutes = m[9] === undefined ? 0 : Number(m[11]);
    const inRange = month >= 1 &&
        month <= 12 &&
        day >= 1 &&
        day <= daysIn(year, month) &&
        hour <= 23 &&
        minute <= 59 &&
        second <= 60 &&
        offsetHours <= 23 &&
        offsetMinutes <= 59;
    if (!inRange)
        return undefined;
    const sign = m[9] === '-' ? -1 : 1;
    return {
        year,
        month,
        day,
        hour,
        minute,
        second,
        // Date holds milliseconds: further digits are dropped, as Date.parse drops them.
        milliseconds: m[8] ? Number(m[8].slice(1, 4).padEnd(3, '0')) : 0,
        offset: sign * (offsetHours * 60 + offsetMinutes)
    };
}
/** Whether `text` is an RFC 3339 date-time whose date exists (the validator's test). */
function isRFC3339(text, opts = {}) {
    return readFields(text, opts) !== undefined;
}
/**
 * The instant an RFC 3339 date-time names, or undefined when it is not one, or names a date that
 * does not exist (Date would roll 2024-02-30 over to March 1st), or a leap second (a Date cannot
 * hold one, and Go's time.Parse refuses it).
 */
function parseRFC3339(text, opts = {}) {
    const f = readFields(text, opts);
    if (!f || f.second === 60)
        return undefined;
    const d = new Date(0);
    // setUTCFullYear, not Date.UTC: Date.UTC reads years 0 to 99 as 1900 to 1999.
    d.setUTCFullYear(f.year, f.month - 1, f.day);
    d.setUTCHours(f.hour, f.minute - f.offset, f.second, f.milliseconds);
    return d;
}
/** The RFC 3339 form Lading writes: UTC, `Z`, milliseconds only when there are some. */
function formatRFC3339(d) {
    return d.toISOString().replace(/\.000Z$/, 'Z');
}

;// CONCATENATED MODULE: external "node:fs/promises"
const promises_namespaceObject = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("node:fs/promises");
// EXTERNAL MODULE: ./node_modules/tar-stream/index.js
var tar_stream = __nccwpck_require__(118);
;// CONCATENATED MODULE: external "node:zlib"
const external_node_zlib_namespaceObject = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("node:zlib");
;// CONCATENATED MODULE: external "node:os"
const external_node_os_namespaceObject = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("node:os");
;// CONCATENATED MODULE: external "node:worker_threads"
const external_node_worker_threads_namespaceObject = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("node:worker_threads");
;// CONCATENATED MODULE: ./src/codec/threads.ts
/**
 * The heap of each of Lading's worker threads (libdeflate's, the tree hasher's): each holds the
 * block in hand and little else, as the blocks pass between the threads whole and the wasm memory
 * lies outside the heap; small limits keep the idle space of several threads off the run's peak.
 */
const WORKER_LIMITS = {
    maxOldGenerationSizeMb: 16,
    maxYoungGenerationSizeMb: 4
};

;// CONCATENATED MODULE: ./src/codec/tar-recipe.ts
/**
 * A stretch of a tar as a recipe: what another thread needs to make those bytes itself. The main
 * thread writes the tar with placeholder bodies (the build's tar writer, deferBody) straight into
 * the recipe's buffer, where they will stay (headers, padding); each body becomes which file and
 * range to read into its place. Made by the diff pass's hashing thread and by the libdeflate
 * threads of a build, which hand the buffer back to be filled again: buffers that move between
 * threads are used again, never left for another thread's collector to free.
 */
/**
 * Reads a recipe's files into its block, with `reader`; undefined once they are all there, else
 * why one could not be read. Runs on worker threads as source text: names nothing outside itself.
 */
function fillRecipe(recipe, reader) {
    const target = new Uint8Array(recipe.block);
    const files = new Float64Array(recipe.files);
    let path = '';
    try {
        for (let i = 0; i < files.length; i += 5) {
            path = recipe.paths[files[i + 1]];
            if (!reader.read(path, files[i + 2], files[i + 3], files[i + 4] === 1, target, files[i]))
                return { path, changed: true, message: 'changed' };
        }
        return undefined;
    }
    catch (err) {
        const e = err;
        // ESPIPE: the file is a FIFO now, which cannot be read at a position.
        if (e.code === 'ESPIPE')
            return { path, changed: true, message: 'changed' };
        return { path, changed: false, code: e.code, message: String(e.message) };
    }
    finally {
        reader.close();
    }
}
/**
 * A RangeReader. It runs on worker threads, handed over as source text, so it names nothing
 * outside itself (only globals and `process.getBuiltinModule`).
 */
function rangeReader() {
    const fs = process.getBuiltinModule('node:fs');
    let fd = -1;
    let open = '';
    const close = () => {
        if (fd >= 0)
            fs.closeSync(fd);
        fd = -1;
        open = '';
    };
    const read = (path, at, length, last, target, offset) => {
        if (open !== path) {
            close();
            // Non-blocking: a file swapped for a FIFO since its stat would otherwise hang the open
            // until a writer came; this way its read fails at once (fillRecipe: changed).
            fd = fs.openSync(path, fs.constants.O_RDONLY | (fs.constants.O_NONBLOCK ?? 0));
            open = path;
        }
        let pos = at;
        let done = 0;
        // Whether the file is known to end where its size said: a read that asked for one byte more
        // than was left got exactly what was left. Else one more read tells it. The byte after the
        // range is the tar's next one, kept aside meanwhile.
        let ended = false;
        const after = last ? target[offset + length] : 0;
        try {
            while (done < length) {
                const left = length - done;
                const want = last ? left + 1 : left;
                const n = fs.readSync(fd, target, offset + done, want, pos);
                if (n === 0 || n > left) {
                    close();
                    return false;
                }
                ended = last && n === left;
                pos += n;
                done += n;
            }
            if (!last)
                return true;
            const grew = !ended && fs.readSync(fd, target, offset + length, 1, pos) !== 0;
            close();
            return !grew;
        }
        finally {
            if (last)
                target[offset + length] = after;
        }
    };
    return { read, close };
}
/** A recipe's file could not be read; the build names the file and the layer. */
class RecipeReadError extends Error {
    failure;
    constructor(failure) {
        super(failure.message);
        this.failure = failure;
    }
}

;// CONCATENATED MODULE: ./src/codec/deflate-worker.ts
/**
 * The code each libdeflate worker thread runs. It is handed to `new Worker(..., { eval: true })`
 * as source text, so that the bundle needs no second entry file: the function below must name
 * nothing outside itself (no import, no helper), only globals and `process.getBuiltinModule`.
 */

/**
 * libdeflate at `level`, instantiated once, as a maker of members. The same function runs on each
 * worker thread and, for a layer of a single small block, on the main thread (a thread costs more
 * to start than such a block to compress); so it too names nothing outside itself.
 */
function libdeflateMembers(module, level, maxBlock, ranges, fill) {
    const { crc32 } = process.getBuiltinModule('node:zlib');
    const wasm = new WebAssembly.Instance(module, {}).exports;
    const compressor = wasm.libdeflate_alloc_compressor(level);
    if (!compressor)
        throw new Error(`libdeflate has no compression level ${level}`);
    const room = wasm.libdeflate_deflate_compress_bound(compressor, maxBlock);
    const input = wasm.malloc(maxBlock);
    const output = wasm.malloc(room);
    if (!input || !output)
        throw new Error('libdeflate could not allocate its buffers');
    const reader = ranges();
    // XFL as zlib sets it: 4 for the fastest level, 2 for the slowest, else 0.
    const xfl = level <= 1 ? 4 : level >= 9 ? 2 : 0;
    // The memory's buffer is replaced whenever it grows: take it afresh each time.
    const memory = () => wasm.memory.buffer;
    return ({ buffer, length, crc, recipe }) => {
        if (length > maxBlock)
            throw new Error(`a block of ${length} bytes is too large`);
        let at = 0;
        if (recipe) {
            const failed = fill(recipe, reader);
            if (failed)
                return { buffer, size: 0, failed };
            const block = new Uint8Array(buffer, 0, length);
            crc = crc32(block);
            at = length;
        }
        new Uint8Array(memory(), input, length).set(new Uint8Array(buffer, 0, length));
        // Room for the member in the job's buffer too: libdeflate answers 0 when it would not fit.
        const avail = Math.min(room, buffer.byteLength - at - 18);
        const deflated = wasm.libdeflate_deflate_compress(compressor, input, length, output, avail);
        if (deflated === 0)
            throw new Error('libdeflate ran out of output room');
        const member = new Uint8Array(buffer, at, 10 + deflated + 8);
        // RFC 1952: magic, CM deflate, no flags, MTIME 0, XFL, OS 255 (unknown, as Go writes it).
        member.set([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, xfl, 0xff]);
        member.set(new Uint8Array(memory(), output, deflated), 10);
        const trailer = new DataView(buffer, at + 10 + deflated, 8);
        trailer.setUint32(0, crc, true);
        trailer.setUint32(4, length, true);
        return { buffer, size: member.length };
    };
}
/**
 * Answers each block with its whole gzip member, one at a time. Any failure is thrown: the thread
 * ends, and the pool fails every member still under way with it.
 */
function deflateWorkerMain(members, ranges, fill) {
    const { parentPort, workerData, receiveMessageOnPort } = process.getBuiltinModule('node:worker_threads');
    const { module, level, maxBlock } = workerData;
    const make = members(module, level, maxBlock, ranges, fill);
    const port = parentPort;
    // A job that arrives while the thread is idle comes as an event; each answered, the jobs that
    // came meanwhile are taken from the queue at once, and said to have been queued.
    port.on('message', (first) => {
        let job = first;
        let queued = false;
        for (;;) {
            port.postMessage({ ...make(job), queued }, [job.buffer]);
            const next = receiveMessageOnPort(port);
            if (!next)
                return;
            job = next.message;
            queued = true;
        }
    });
}
/** The worker's source text. */
const deflateWorkerSource = `(${deflateWorkerMain.toString()})(${libdeflateMembers.toString()}, ${rangeReader.toString()}, ${fillRecipe.toString()})`;

;// CONCATENATED MODULE: external "node:util"
const external_node_util_namespaceObject = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("node:util");
;// CONCATENATED MODULE: ./src/codec/gzip-members.ts




/** Uncompressed bytes per gzip member; fixed, so the output never depends on the machine. */
const GZIP_BLOCK = 1024 * 1024;
/**
 * zlib writes the build platform into the gzip header's OS byte (3 on Linux, 19 on macOS), which
 * would make the same layer differ by machine. 255 ("unknown") is what Go's gzip writer uses.
 */
const GZIP_OS_UNKNOWN = 0xff;
/**
 * Gzip that compresses fixed 1 MiB blocks as independent gzip members, several at once, and
 * emits them in order. A gzip file may hold several members (RFC 1952 §2.2) and every layer
 * reader tried accepts them; the gain is using every core, at a cost of well under 1% in size.
 * The output depends on the bytes and the compressor only: never on chunking or scheduling.
 */
class ParallelGzip extends external_node_stream_namespaceObject.Transform {
    members;
    release;
    parts = [];
    buffered = 0;
    wroteAny = false;
    membersClosed = false;
    inFlight = [];
    /**
     * `release` is given back each chunk that was a whole block on its own, once its member is
     * made: nothing here reads it again, so its owner may fill it anew.
     */
    constructor(members, release) {
        super();
        this.members = members;
        this.release = release;
    }
    _transform(chunk, _enc, cb) {
        // A chunk that is a whole block is its own member's input, given back once that is made.
        if (this.release && this.buffered === 0 && chunk.length === GZIP_BLOCK)
            this.submit(chunk, this.release);
        else {
            this.parts.push(chunk);
            this.buffered += chunk.length;
            while (this.buffered >= GZIP_BLOCK)
                this.submit(this.cut(GZIP_BLOCK));
        }
        this.emitUntil(this.members.maxInFlight).then(() => cb(), cb);
    }
    _flush(cb) {
        // An empty input still needs one member to be a gzip file.
        if (!this.wroteAny)
            this.submit(this.cut(this.buffered), undefined, true);
        else if (this.buffered > 0)
            this.submit(this.cut(this.buffered));
        this.emitUntil(0)
            .then(() => this.close())
            .then(() => cb(), cb);
    }
    _destroy(err, cb) {
        this.close().then(() => cb(err), () => cb(err));
    }
    close() {
        if (this.membersClosed)
            return Promise.resolve();
        this.membersClosed = true;
        return this.members.close();
    }
    cut(n) {
        const all = this.parts.length === 1 ? this.parts[0] : Buffer.concat(this.parts, this.buffered);
        const block = all.subarray(0, n);
        const rest = all.subarray(n);
        this.parts = rest.length ? [rest] : [];
        this.buffered = rest.length;
        return block;
    }
    submit(block, release, only = false) {
        this.wroteAny = true;
        const member = only && this.members.only ? this.members.only(block) : this.members.member(block);
        // Awaited in order later; this keeps an early failure from counting as unhandled meanwhile.
        member.then(() => release?.(block)).catch(() => { });
        this.inFlight.push(member);
    }
    async emitUntil(limit) {
        while (this.inFlight.length > limit)
            this.push(await this.inFlight.shift());
    }
}
const gzipAsync = (0,external_node_util_namespaceObject.promisify)(external_node_zlib_namespaceObject.gzip);
function threadPoolSize() {
    const n = Number(process.env.UV_THREADPOOL_SIZE);
    return Number.isInteger(n) && n > 0 ? n : 4;
}
/** Members made by Node's zlib on libuv's thread pool. */
function zlibMembers(level) {
    // zlib's async work shares libuv's pool (4 threads by default) with file reads and writes;
    // filling it with compression stalls the reads that feed it.
    const maxInFlight = Math.max(2, Math.min((0,external_node_os_namespaceObject.availableParallelism)() + 1, threadPoolSize() - 1));
    return {
        maxInFlight,
        async member(block) {
            // One output buffer for the member: zlib's default 16 KiB chunks cost a callback each.
            const member = await gzipAsync(block, { level, chunkSize: GZIP_BLOCK });
            member[9] = GZIP_OS_UNKNOWN;
            return member;
        },
        close: () => Promise.resolve()
    };
}

;// CONCATENATED MODULE: ./src/codec/deflate-wasm.ts









/**
 * libdeflate (src/codec/wasm/, built by scripts/build-libdeflate-wasm.sh), compiled once per
 * process: the module is immutable and shared by every worker of every pool.
 */
let compiled;
function libdeflateModule() {
    if (!compiled) {
        let bytes;
        try {
            // ncc copies the file next to the bundle when it sees this exact form, and only when it
            // can parse this whole file: its parser knows no `??=` (nor `||=`, `&&=`); with one here
            // it leaves the file to webpack, which emits a broken, renamed copy of the module.
            // __tests__/codec/libdeflate-licence.test.ts checks that the bundles read the committed one.
            bytes = (0,external_node_fs_namespaceObject.readFileSync)(__nccwpck_require__.ab + "libdeflate.wasm");
        }
        catch (err) {
            throw new LadingError(`gzip: Lading's libdeflate.wasm cannot be read: ${errors_messageOf(err)}`);
        }
        compiled = new WebAssembly.Module(bytes);
    }
    return compiled;
}
/**
 * Bytes of a job's buffer: a block, and then its member, which for a block that does not
 * compress is larger (libdeflate's bound: 5 bytes per 5,000 and 9 more; gzip's 18).
 */
const JOB_ROOM = 4096;
const JOB_BYTES = GZIP_BLOCK + JOB_ROOM;
/** Bytes of a recipe's buffer: its block, then the block's member. */
const RECIPE_JOB_BYTES = 2 * GZIP_BLOCK + JOB_ROOM;
/** Jobs posted to a worker at once: the one it makes, and the next. */
const POSTED = 2;
/**
 * Answers in a row of jobs that were queued (DeflateResult) before a thread more starts: more
 * than POSTED, which a thread gets in a row whenever this thread posts them at once, however
 * slowly it makes them.
 */
const BUSY_ANSWERS = POSTED + 2;
/** libdeflate on the main thread, by level: made once, for layers of a single small block. */
const onMainThread = new Map();
function mainThreadMembers(level) {
    let make = onMainThread.get(level);
    if (!make) {
        make = libdeflateMembers(libdeflateModule(), level, GZIP_BLOCK, rangeReader, fillRecipe);
        onMainThread.set(level, make);
    }
    return make;
}
/**
 * One worker per core but one, and two at most. The main thread walks the tree, writes the tar
 * and hashes it and the layer, most of a core's work (0.6-0.8 s of CPU for the benchmark's 208 MB
 * tar when the workers read the files, 1 s when it reads them), while compressing it takes 0.8 s:
 * past two workers the main thread is the bound, and each worker holds 15-20 MiB more (7 workers,
 * as on an 8-core runner, forced on 2 cores: 206-210 MiB). On 2 cores one worker built that layer
 * as fast as two (the three threads shared two cores) with 20 MiB less memory.
 */
const MAX_THREADS = 2;
function defaultThreads() {
    return Math.min(MAX_THREADS, Math.max(1, (0,external_node_os_namespaceObject.availableParallelism)() - 1));
}
/**
 * gzip members made by libdeflate in WebAssembly, on worker threads (one per core but one, two
 * at most), each worker compressing one block at a time. libdeflate compresses each block on its
 * own, so a member's bytes depend on the block and the level only, whichever worker made it.
 *
 * A block given as a recipe (tar-recipe.ts) is made by the worker, which reads its files: the
 * main thread then only walks the tree, writes the tar's headers and hashes.
 */
class DeflatePool {
    level;
    threads;
    workers = new Set();
    /** The jobs posted to each worker, in the order it answers them. */
    posted = new Map();
    queue = [];
    /** Job buffers back from the workers, so that a build allocates only as many as are in flight. */
    spare = [];
    recipeSpare = [];
    failure;
    closing = false;
    /** Answers in a row of jobs that were queued when their worker answered the one before. */
    busyAnswers = 0;
    constructor(level, threads = defaultThreads()) {
        this.level = level;
        this.threads = threads;
    }
    /**
     * One block running and one waiting per thread started, so a thread never waits for the stream,
     * and while the pool may start more, one waiting for room: what tells that it should (next).
     * Each holds a buffer of 2 MiB.
     */
    get maxInFlight() {
        const started = Math.max(1, this.workers.size);
        return POSTED * started + (started < this.threads ? 1 : 0);
    }
    /** Threads started so far. */
    threadsStarted = 0;
    member(block) {
        return this.run(this.job(block)).then(({ buffer, size }) => {
            const member = Buffer.allocUnsafe(size);
            member.set(new Uint8Array(buffer, 0, size));
            if (buffer.byteLength === JOB_BYTES)
                this.spare.push(buffer);
            return member;
        });
    }
    /**
     * A layer's only block, compressed right here unless a worker is running already: starting a
     * thread costs the process more than 0.1 s of CPU, compressing a block under 1 MiB far less.
     */
    only(block) {
        if (this.busy() || block.length > GZIP_BLOCK)
            return this.member(block);
        return this.here(this.job(block)).then(({ buffer, size }) => Buffer.from(buffer, 0, size));
    }
    /** The block of `length` bytes a recipe makes, made and compressed by a worker. */
    recipe(recipe, length) {
        return this.run(this.recipeJob(recipe, length)).then(result => this.recipeBlock(result, length));
    }
    /** A layer's only block as a recipe: made and compressed right here unless a worker runs. */
    onlyRecipe(recipe, length) {
        if (this.busy())
            return this.recipe(recipe, length);
        return this.here(this.recipeJob(recipe, length)).then(r => this.recipeBlock(r, length));
    }
    busy() {
        return this.workers.size > 0 || this.failure !== undefined || this.closing;
    }
    run(data) {
        if (this.failure)
            return Promise.reject(this.failure);
        if (this.closing)
            return Promise.reject(new Error('DeflatePool used after close'));
        return new Promise((resolve, reject) => {
            this.queue.push({ data, resolve, reject });
            this.dispatch();
        });
    }
    /** A job done on this thread, by the same code as the workers'. */
    here(data) {
        try {
            return Promise.resolve(mainThreadMembers(this.level)(data));
        }
        catch (err) {
            return Promise.reject(new LadingError(`gzip compression failed in libdeflate: ${errors_messageOf(err)}`));
        }
    }
    /**
     * A buffer for a recipe's block (its tar first, then room for its member): one given back by
     * an earlier block's `done`, else a new one.
     */
    recipeBuffer() {
        return this.recipeSpare.pop() ?? new ArrayBuffer(RECIPE_JOB_BYTES);
    }
    recipeJob(recipe, length) {
        if (length > GZIP_BLOCK || recipe.block.byteLength !== RECIPE_JOB_BYTES)
            throw new Error(`a recipe of ${length} bytes in a buffer not from recipeBuffer`);
        return { buffer: recipe.block, length, crc: 0, recipe };
    }
    recipeBlock({ buffer, size, failed }, length) {
        if (failed) {
            this.recipeSpare.push(buffer);
            throw new RecipeReadError(failed);
        }
        return {
            block: Buffer.from(buffer, 0, length),
            member: Buffer.from(buffer, length, size),
            done: () => void this.recipeSpare.push(buffer)
        };
    }
    /**
     * A block as a job: a copy in a buffer with room for its member, which a worker can take over
     * (the block is often a view into a larger pooled buffer), and its CRC-32, taken here while the
     * worker compresses, the build's slowest work.
     */
    job(block) {
        const buffer = block.length <= GZIP_BLOCK
            ? (this.spare.pop() ?? new ArrayBuffer(JOB_BYTES))
            : new ArrayBuffer(block.length + JOB_ROOM);
        new Uint8Array(buffer).set(block);
        return { buffer, length: block.length, crc: (0,external_node_zlib_namespaceObject.crc32)(block) };
    }
    /**
     * Starts the first thread now (see MemberCompressor.warm); `only` then uses it too. The others
     * start when blocks wait for it (next).
     */
    warm() {
        if (!this.failure && !this.closing && this.workers.size === 0)
            this.spawn();
    }
    async close() {
        this.closing = true;
        await Promise.all([...this.workers].map(w => w.terminate()));
    }
    dispatch() {
        while (this.queue.length > 0 && !this.failure) {
            const worker = this.next();
            if (!worker)
                return;
            const job = this.queue.shift();
            this.posted.get(worker).push(job);
            worker.postMessage(job.data, [job.data.buffer]);
        }
    }
    /**
     * The worker to post the next job to: the least busy with room, or when every one is full, a
     * new one while there are fewer than `threads`. Each takes POSTED jobs at once, so that when it
     * answers one the next is already in its queue: otherwise it would wait for this thread to hand
     * it one, and this thread is often busy for milliseconds at a time (a directory, a hash, a
     * collection). A thread more starts only once blocks come faster than the threads make them
     * (BUSY_ANSWERS of them queued in a row): each holds 15-30 MiB, and a tree of many small files, whose walk is the bound,
     * never needs a second (100,000 tiny files with two threads, as on a 4-core runner: 145-166 MiB
     * at peak, against 131-136 with one).
     */
    next() {
        let least;
        let load = POSTED;
        for (const [worker, jobs] of this.posted)
            if (jobs.length < load)
                [least, load] = [worker, jobs.length];
        if (least)
            return least;
        const behind = this.busyAnswers >= BUSY_ANSWERS;
        if (this.workers.size === 0 || (behind && this.workers.size < this.threads)) {
            this.busyAnswers = 0;
            return this.spawn();
        }
        return undefined;
    }
    spawn() {
        const workerData = {
            module: libdeflateModule(),
            level: this.level,
            maxBlock: GZIP_BLOCK
        };
        const worker = new external_node_worker_threads_namespaceObject.Worker(deflateWorkerSource, {
            eval: true,
            workerData,
            resourceLimits: WORKER_LIMITS
        });
        this.workers.add(worker);
        this.posted.set(worker, []);
        this.threadsStarted++;
        worker.on('message', (result) => {
            this.busyAnswers = result.queued ? this.busyAnswers + 1 : 0;
            this.posted.get(worker)?.shift()?.resolve(result);
            this.dispatch();
        });
        worker.on('error', err => this.fail(errors_messageOf(err)));
        worker.on('messageerror', err => this.fail(errors_messageOf(err)));
        worker.on('exit', code => {
            this.workers.delete(worker);
            this.posted.delete(worker);
            if (!this.closing)
                this.fail(`the thread stopped (exit code ${code})`);
        });
        return worker;
    }
    /** Ends every member under way or waiting with the first failure, and stops the threads. */
    fail(why) {
        if (!this.failure)
            this.failure = new LadingError(`gzip compression failed in a libdeflate worker thread: ${why}; ` +
                'if this repeats, build with compression: zstd and report it');
        const jobs = [...[...this.posted.values()].flat(), ...this.queue];
        for (const posted of this.posted.values())
            posted.length = 0;
        this.queue.length = 0;
        for (const job of jobs)
            job.reject(this.failure);
        for (const worker of this.workers)
            void worker.terminate();
    }
}

;// CONCATENATED MODULE: ./src/codec/compress.ts





const compressions = ['gzip', 'zstd', 'none'];
/** The user-facing `compression` input. */
function parseCompression(s) {
    const v = s.trim().toLowerCase();
    if (compressions.includes(v))
        return v;
    throw new LadingError(`compression: "${s}" is not one of ${compressions.join(', ')}`);
}
/**
 * gzip's default level is chosen by measurement: `npm run bench` (its levels section) compares
 * levels on the seeded tree; the figures are in bench/results/latest.md. Level 1 is libdeflate's
 * fastest, twice zlib level 4's speed per core for a layer 4% larger than umoci's.
 */
const levelRange = {
    gzip: { min: 0, max: 9, def: 1 },
    zstd: { min: 1, max: 22, def: 3 }
};
/**
 * The level to compress with: the given one once checked against what the compressor accepts,
 * else its usual default. A level given with `none` is ignored, since there is nothing to tune.
 */
function compress_compressionLevel(c, level) {
    if (c === 'none')
        return undefined;
    const range = levelRange[c];
    if (level === undefined || level === '')
        return range.def;
    const n = typeof level === 'number' ? level : Number(level.trim());
    if (!Number.isInteger(n) || n < range.min || n > range.max)
        throw new LadingError(`compression-level: "${level}" is not valid for ${c}; use a whole number from ${range.min} to ${range.max} (default ${range.def})`);
    return n;
}
/**
 * The deflate behind each gzip level (index = level), by measurement on the benchmark's tree
 * (docs/performance.md): libdeflate where it is faster than zlib at that level with a layer no
 * larger, zlib where it is not.
 */
const gzipCodecs = [
    'libdeflate', // level 0 stores: the same size, 3 times as fast
    'libdeflate',
    'zlib', // libdeflate 3% smaller but 7% slower
    'libdeflate',
    'libdeflate',
    'zlib', // libdeflate larger
    'zlib', // libdeflate larger
    'libdeflate',
    'libdeflate',
    'libdeflate'
];
function gzipCodec(level) {
    return gzipCodecs[level] ?? 'zlib';
}
function gzipMembers(level) {
    return gzipCodec(level) === 'libdeflate' ? new DeflatePool(level) : zlibMembers(level);
}
/**
 * The gzip compressors of one run, shared by the layers it compresses at once: one pool of
 * threads (one per core but one, two at most) whatever the number of layers, which on 2 cores is
 * as fast as a pool each and holds one thread's memory less. The run closes it once every layer
 * is written.
 */
class SharedCompressors {
    pools = new Map();
    /** The members of `level`, for one stream: closing the stream leaves the pool to the run. */
    gzip(level) {
        const shared = this.pool(level);
        return {
            get maxInFlight() {
                return shared.maxInFlight;
            },
            member: block => shared.member(block),
            only: shared.only ? block => shared.only(block) : undefined,
            recipe: shared.recipe ? (r, length) => shared.recipe(r, length) : undefined,
            recipeBuffer: shared.recipeBuffer ? () => shared.recipeBuffer() : undefined,
            onlyRecipe: shared.onlyRecipe ? (r, length) => shared.onlyRecipe(r, length) : undefined,
            close: () => Promise.resolve()
        };
    }
    /**
     * Starts the first thread of `level` now, while the run does its other first things, so that
     * the first blocks do not wait for it. A codec without threads (zlib's levels) starts nothing.
     */
    warm(level) {
        this.pool(level).warm?.();
    }
    /** Threads its pools have started so far (tests tell by it). */
    threads() {
        let n = 0;
        for (const pool of this.pools.values())
            if (pool instanceof DeflatePool)
                n += pool.threadsStarted;
        return n;
    }
    pool(level) {
        let pool = this.pools.get(level);
        if (!pool) {
            pool = gzipMembers(level);
            this.pools.set(level, pool);
        }
        return pool;
    }
    async close() {
        const pools = [...this.pools.values()];
        this.pools.clear();
        await Promise.all(pools.map(p => p.close()));
    }
}
/**
 * The compressor that makes blocks from recipes (MemberCompressor.recipe), where the codec has
 * one: gzip at a libdeflate level. The run's shared one, or else one the caller closes.
 */
function recipeCompressor(c, level, shared) {
    if (c !== 'gzip')
        return undefined;
    const lvl = compress_compressionLevel(c, level);
    if (gzipCodec(lvl) !== 'libdeflate')
        return undefined;
    return shared ? shared.gzip(lvl) : gzipMembers(lvl);
}
/**
 * The stages that compress with `c`, to splice into a pipeline. Deterministic: gzip headers carry
 * no file name, mtime 0 and a fixed OS byte.
 */
function compressorStages(c, level, opts = {}) {
    const lvl = compress_compressionLevel(c, level);
    switch (c) {
        case 'gzip': {
            const members = opts.shared ? opts.shared.gzip(lvl) : gzipMembers(lvl);
            return [new ParallelGzip(members, opts.release)];
        }
        case 'zstd':
            return [
                external_node_zlib_namespaceObject.createZstdCompress({
                    chunkSize: 256 * 1024,
                    params: {
                        [external_node_zlib_namespaceObject.constants.ZSTD_c_compressionLevel]: lvl,
                        // Costs little and lets readers detect a damaged blob without knowing its digest.
                        [external_node_zlib_namespaceObject.constants.ZSTD_c_checksumFlag]: 1
                    }
                })
            ];
        case 'none':
            return [];
    }
}

;// CONCATENATED MODULE: ./src/build/layer/input-errors.ts
/**
 * Errors about a layer's source, worded as the user wrote the `layers` line: the line quoted, and
 * paths under SOURCE shown from SOURCE as given rather than from where it really is.
 */


function layerError(input, what) {
    const where = input.platforms?.length ? ` for ${input.platforms.join(', ')}` : '';
    return new LadingError(`layers: "${input.spec}"${where}: ${what}`);
}
/** A path under SOURCE as the user would write it: SOURCE as given, then the rest. */
function shownPath(input, p) {
    if (p === input.source || !input.realSource)
        return p;
    if (p === input.realSource)
        return input.source;
    const rel = external_node_path_namespaceObject.relative(input.realSource, p);
    if (rel.startsWith('..') || external_node_path_namespaceObject.isAbsolute(rel))
        return p;
    return `${input.source.replace(/\/+$/, '')}/${rel}`;
}
/** What the history shows for a source: relative paths as written, absolute ones by name only. */
function shownSource(source) {
    return external_node_path_namespaceObject.isAbsolute(source) ? external_node_path_namespaceObject.basename(source) : source;
}
/** Bytes as text, printable ASCII kept and everything else as \xNN, for names that are not UTF-8. */
function escapeBytes(b) {
    let out = '';
    for (const byte of b)
        out +=
            byte >= 0x20 && byte < 0x7f && byte !== 0x5c
                ? String.fromCharCode(byte)
                : `\\x${byte.toString(16).padStart(2, '0')}`;
    return out;
}
/** A failed file system call on a path under SOURCE, in words the user can act on. */
function fileSystemError(input, p, err) {
    const code = err.code;
    const shown = shownPath(input, p);
    if (code === 'ENOENT' || code === 'ENOTDIR')
        return layerError(input, `path "${shown}" does not exist`);
    if (code === 'EACCES' || code === 'EPERM')
        return layerError(input, `path "${shown}" cannot be read (permission denied); make it readable`);
    return layerError(input, `reading "${shown}": ${errors_messageOf(err)}`);
}
/** A file whose size on disk no longer matches its stat: its tar entry would be cut or padded. */
function changedWhileRead(input, abs) {
    return layerError(input, `file "${shownPath(input, abs)}" changed while it was being read; retry`);
}

;// CONCATENATED MODULE: ./src/build/layer/slabs.ts
/** Bytes of the slabs files are read into. */
const SLAB_BYTES = 1024 * 1024;
/** Requests above this share no slab: they would waste most of one. */
const LARGEST_SHARED = SLAB_BYTES / 8;
/** Free slabs kept for reuse; more are left to the collector. */
const KEEP_FREE = 8;
/**
 * Hands out slices of 1 MiB slabs for the bytes of files: many small files share a slab, a large
 * file's reads take one each. A slab whose every slice has been given back (`release`, once the
 * tar has copied or hashed it) is used again, so that a build moves hundreds of megabytes through a
 * few slabs instead of leaving as many dead Buffers for the collector. A slice never given back
 * (a read that failed) only keeps its slab from being reused. One pool serves one run (or one
 * build), so nothing of a run outlives it in module state.
 */
class SlabPool {
    current;
    used = 0;
    /**
     * The slabs with slices out, by their memory: what `release` looks a Buffer up by. Weak, so a
     * slab whose slices are never all given back is still collected once nothing reads it.
     */
    lent = new WeakMap();
    free = [];
    /** A Buffer of `n` bytes, uninitialised: the caller fills it. */
    take(n) {
        if (n > SLAB_BYTES)
            return Buffer.allocUnsafe(n);
        if (n > LARGEST_SHARED) {
            const slab = this.lend();
            slab.out = 1;
            return slab.buf.subarray(0, n);
        }
        if (!this.current || this.used + n > SLAB_BYTES) {
            this.retire();
            this.current = this.lend();
            this.used = 0;
        }
        const slab = this.current;
        const slice = slab.buf.subarray(this.used, this.used + n);
        slab.out++;
        // 8-byte aligned, as Node's own pool is.
        this.used += (n + 7) & ~7;
        return slice;
    }
    /**
     * Gives back a Buffer that `take` handed out (or a part of one), once nothing will read it
     * again. Anything else is ignored, so a consumer may offer every Buffer it is done with.
     */
    release(chunk) {
        const slab = this.lent.get(chunk.buffer);
        if (!slab || slab.out === 0)
            return;
        slab.out--;
        if (slab.out === 0 && slab !== this.current)
            this.reuse(slab);
    }
    lend() {
        const buf = this.free.pop() ?? Buffer.allocUnsafe(SLAB_BYTES);
        const slab = { buf, out: 0 };
        this.lent.set(buf.buffer, slab);
        return slab;
    }
    /** Stops filling the current slab; reused at once when all its slices are back already. */
    retire() {
        const slab = this.current;
        this.current = undefined;
        if (slab && slab.out === 0)
            this.reuse(slab);
    }
    reuse(slab) {
        this.lent.delete(slab.buf.buffer);
        if (this.free.length < KEEP_FREE)
            this.free.push(slab.buf);
    }
}

;// CONCATENATED MODULE: ./src/util/drive.ts
/**
 * A Windows drive at the start of a path given in an input: one letter, a colon, then `/` or `\`.
 * Its colon never separates the fields of a `PATH:…` line, on whatever OS the line is read.
 */
const DRIVE = /^[A-Za-z]:[/\\]/;
/** How many characters of `text` a leading drive takes (`C:`), else 0. */
function driveLength(text) {
    return DRIVE.test(text) ? 2 : 0;
}

;// CONCATENATED MODULE: ./src/build/layer/spec.ts
/**
 * The `layers` input: one line per layer, `[--chown=UID[:GID]] [--chmod=MODE] SOURCE[:DEST]`,
 * where SOURCE and DEST may name the target platform as a Dockerfile does (`${TARGETARCH}`), and
 * SOURCE may start with a Windows drive (`C:\dist:/app`).
 */



/** The extensions that make a file a tarball to use as a layer rather than a file to put in one. */
const TARBALL = /\.(tar|tar\.gz|tgz|tar\.zst|tar\.zstd|tzst|tar\.xz|txz|tar\.bz2|tbz2?)$/i;
function isTarballName(source) {
    return TARBALL.test(source);
}
/** What the log calls a layer while it is built. */
function layerName(input) {
    const where = input.platforms?.length ? ` (${input.platforms.join(', ')})` : '';
    return `layer ${input.spec}${where}`;
}
/** Docker's names for the target platform, as a Dockerfile's `ARG TARGETARCH` sees them. */
const PLATFORM_VARIABLES = ['TARGETPLATFORM', 'TARGETOS', 'TARGETARCH', 'TARGETVARIANT'];
const VARIABLE = /\$\{([^}]*)\}/g;
/** Whether the line names the target platform, so that each platform may get its own layer. */
function isPerPlatform(input) {
    return [input.source, input.dest ?? ''].some(s => /\$\{/.test(s));
}
/** The values of the platform variables; arm64's implied v8 is no variant, as buildx has it. */
function platformVariables(p) {
    const variant = p.architecture === 'arm64' && p.variant === 'v8' ? '' : (p.variant ?? '');
    return {
        TARGETPLATFORM: [p.os, p.architecture, variant].filter(Boolean).join('/'),
        TARGETOS: p.os,
        TARGETARCH: p.architecture,
        TARGETVARIANT: variant
    };
}
/** The line for one platform: its variables replaced in SOURCE and DEST. */
function expandForPlatform(input, p) {
    const values = platformVariables(p);
    const expand = (s) => s.replace(VARIABLE, (_, name) => values[name]);
    const out = { ...input, source: expand(input.source) };
    if (input.dest !== undefined)
        out.dest = expand(input.dest);
    return out;
}
function refuseUnknownVariables(spec, part) {
    for (const m of part.matchAll(VARIABLE))
        if (!PLATFORM_VARIABLES.includes(m[1]))
            throw new LadingError(`layers: "${spec}": \${${m[1]}} is not a variable Lading knows; use ${PLATFORM_VARIABLES.map(v => `\${${v}}`).join(', ')}`);
    if (part.replace(VARIABLE, '').includes('${'))
        throw new LadingError(`layers: "${spec}": a "\${" is not closed by "}"`);
}
/** `--chown=UID[:GID]`: numbers only, since a layer has no /etc/passwd to look a name up in. */
function parseChown(spec, value) {
    const m = /^(\d{1,10})(?::(\d{1,10}))?$/.exec(value);
    const uid = Number(m?.[1]);
    const gid = Number(m?.[2] ?? m?.[1]);
    if (!m || uid > 0x7fffffff || gid > 0x7fffffff)
        throw new LadingError(`layers: "${spec}": --chown=${value} is not UID[:GID] in numbers (e.g. --chown=65532:65532); ` +
            'user and group names cannot be looked up when no base image is run');
    return { uid, gid };
}
/** `--chmod=MODE`: octal, as Dockerfile COPY takes it. */
function parseChmod(spec, value) {
    if (!/^[0-7]{3,4}$/.test(value))
        throw new LadingError(`layers: "${spec}": --chmod=${value} is not an octal mode of 3 or 4 digits (e.g. --chmod=0755)`);
    return parseInt(value, 8);
}
/** Splits the `--chown`/`--chmod` flags off the front of a line. */
function parseFlags(spec) {
    const flags = {};
    let rest = spec;
    for (let m; (m = /^--([a-z-]*)(?:=(\S*))?\s+/.exec(rest)); rest = rest.slice(m[0].length)) {
        const [, name, value = ''] = m;
        if (name === 'chown' && flags.chown === undefined)
            flags.chown = parseChown(spec, value);
        else if (name === 'chmod' && flags.chmod === undefined)
            flags.chmod = parseChmod(spec, value);
        else
            throw new LadingError(flags[name] !== undefined
                ? `layers: "${spec}": --${name} is given twice`
                : `layers: "${spec}": --${name} is not a flag of a layer; use --chown=UID[:GID] or --chmod=MODE before SOURCE`);
    }
    if (/^--(chown|chmod)(=\S*)?$/.test(rest))
        throw new LadingError(`layers: "${spec}": ${rest} must be followed by SOURCE[:DEST]`);
    return { flags, rest };
}
/** Parses one line of the `layers` input. */
function parseLayerSpec(line) {
    const spec = line.trim();
    if (!spec)
        throw new LadingError('layers: an empty line is not a layer; write SOURCE[:DEST]');
    const { flags, rest } = parseFlags(spec);
    const located = splitSourceDest(spec, rest);
    refuseUnknownVariables(spec, located.source);
    refuseUnknownVariables(spec, located.dest ?? '');
    return { ...located, spec, ...flags };
}
function splitSourceDest(spec, text) {
    // A name that holds ':' itself, such as "notes:v2.txt", is a SOURCE with no DEST.
    if ((0,external_node_fs_namespaceObject.existsSync)(text))
        return { source: text };
    // A drive's colon never separates DEST, whatever the OS parsing the line: `C:/x` is a SOURCE
    // (it need not exist here, as when it names the platform).
    const from = driveLength(text);
    // The last ':' before a '/' separates DEST, so sources may hold ':' themselves.
    let cut = text.lastIndexOf(':/');
    if (cut < from)
        cut = text.lastIndexOf(':');
    if (cut < from)
        return { source: text };
    const source = text.slice(0, cut);
    const dest = text.slice(cut + 1);
    if (!source)
        throw new LadingError(`layers: "${spec}": SOURCE is empty; write SOURCE[:DEST], e.g. dist:/app`);
    if (!dest.startsWith('/'))
        throw new LadingError(`layers: "${spec}": DEST "${dest}" must be an absolute path in the image, e.g. ${source}:/${dest || 'app'}`);
    return { source, dest };
}

;// CONCATENATED MODULE: ./src/util/progress.ts
/**
 * Progress of long byte work (a layer being built, a blob being uploaded), told through a callback
 * so the build and the registry know nothing of where it is shown. Reports are throttled: work that
 * ends within a few seconds says nothing, longer work says how far it is every few seconds.
 */

/** How long work runs before its first report, and then between reports. */
const PROGRESS_QUIET_MS = 5000;
const PROGRESS_EVERY_MS = 5000;
/**
 * Progress told to `report` as lines. Checked as bytes arrive rather than on a timer, so nothing is
 * left running when the work ends or fails; work that stalls says nothing until it moves again
 * (the registry's rate watch is what catches a stall).
 */
function throttledProgress(report, opts = {}) {
    const now = opts.now ?? (() => performance.now());
    const quiet = opts.quietMs ?? PROGRESS_QUIET_MS;
    const every = opts.everyMs ?? PROGRESS_EVERY_MS;
    return (what, total) => {
        const start = now();
        let next = start + quiet;
        let done = 0;
        return {
            advance(n) {
                done += n;
                const t = now();
                if (t < next)
                    return;
                next = t + every;
                report(progressLine(what, done, total, t - start));
            }
        };
    };
}
/** `layer dist: 1.2 GiB of 5.0 GiB (24%), 80.0 MiB/s`. */
function progressLine(what, done, total, ms) {
    const rate = ms > 0 ? humanSize(Math.round((done * 1000) / ms)) : '?';
    const of = total === undefined
        ? ' so far'
        : ` of ${humanSize(total)} (${total > 0 ? Math.floor((done * 100) / total) : 100}%)`;
    return `${what}: ${humanSize(done)}${of}, ${rate}/s`;
}
/** A stage that counts what passes through it into `task`. */
function countingStage(task) {
    return new external_node_stream_namespaceObject.Transform({
        transform(chunk, _enc, cb) {
            task.advance(chunk.length);
            cb(null, chunk);
        }
    });
}
function humanSize(n) {
    if (n < 1024)
        return `${n} B`;
    const units = ['KiB', 'MiB', 'GiB', 'TiB'];
    let v = n / 1024;
    let i = 0;
    while (v >= 1024 && i < units.length - 1) {
        v /= 1024;
        i++;
    }
    return `${v.toFixed(1)} ${units[i]}`;
}
/** `850 ms`, `12.3 s`, `2 min 05 s`. */
function humanDuration(ms) {
    if (ms < 1000)
        return `${Math.round(ms)} ms`;
    if (ms < 60_000)
        return `${(ms / 1000).toFixed(1)} s`;
    const s = Math.round(ms / 1000);
    return `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, '0')} s`;
}

;// CONCATENATED MODULE: external "node:stream/promises"
const external_node_stream_promises_namespaceObject = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("node:stream/promises");
;// CONCATENATED MODULE: ./src/build/layer/stream-to-blob.ts
/**
 * Runs a layer's bytes from a source through its stages (hashing, compressing, branches to the
 * validator's checks) into a temp file of the store, then commits the file under its digest. Every
 * stream is in one `pipeline`, whose first failure destroys them all; any failure removes the temp
 * file and ends in a LadingError.
 */





/**
 * Streams `source → stages → temp file`, then moves the file to its digest. The message comes from
 * where the failure began: a LadingError from anywhere first, then the store's file, then the rest.
 * Returns false when `accept` turned the result down.
 */
async function streamToBlob(store, blob) {
    const tmp = store.tempPath();
    const file = (0,external_node_fs_namespaceObject.createWriteStream)(tmp);
    const chain = [blob.source, ...blob.stages, file];
    let origin;
    // pipeline destroys every stream with the first error; the first to report it is where it began.
    for (const s of chain)
        s.once('error', () => (origin ??= s));
    const flowed = (0,external_node_stream_promises_namespaceObject.pipeline)(chain).catch((err) => {
        blob.stopConcurrentWork?.();
        throw err;
    });
    const results = await Promise.allSettled([flowed, ...blob.concurrentWork]);
    const errors = results.flatMap(r => (r.status === 'rejected' ? [r.reason] : []));
    if (errors.length) {
        await discard(file, tmp);
        const user = errors.find(e => e instanceof LadingError);
        if (user)
            throw user;
        if (origin === file || !blob.streamError)
            throw blob.storeError(errors[0]);
        throw blob.streamError(errors[0]);
    }
    let accepted;
    try {
        accepted = blob.accept ? await blob.accept() : true;
    }
    catch (err) {
        await discard(file, tmp);
        throw err;
    }
    if (!accepted) {
        await discard(file, tmp);
        return false;
    }
    try {
        await store.commit(tmp, blob.digest.digest());
    }
    catch (err) {
        await discard(file, tmp);
        throw blob.storeError(err);
    }
    return true;
}
/**
 * Removes the temp file once its stream has closed: a file still being opened when the pipeline
 * failed would otherwise be made again after its removal.
 */
async function discard(file, tmp) {
    if (!file.closed) {
        file.destroy();
        await new Promise(resolve => file.once('close', () => resolve()));
    }
    await promises_namespaceObject.rm(tmp, { force: true });
}
/**
 * A stage that also feeds what passes through to a side pipeline, waiting for it, so one read of
 * a stream serves two consumers with backpressure from both. `done` settles with the side; a
 * failure of the side destroys the stage, and so the main pipeline, too.
 */
function tee(side) {
    const head = new external_node_stream_namespaceObject.PassThrough();
    const done = (0,external_node_stream_promises_namespaceObject.pipeline)([head, ...side]);
    const stage = new external_node_stream_namespaceObject.Transform({
        transform(chunk, _enc, cb) {
            if (head.write(chunk))
                cb(null, chunk);
            else
                head.once('drain', () => cb(null, chunk));
        },
        flush(cb) {
            head.end();
            done.then(() => cb(), cb);
        },
        destroy(err, cb) {
            // The side must not wait for input that will never come once the main pipeline failed.
            if (!head.writableFinished)
                head.destroy(err ?? new Error('stopped'));
            cb(err);
        }
    });
    done.catch((err) => stage.destroy(err));
    return { stage, done };
}

;// CONCATENATED MODULE: ./src/util/streams.ts
/**
 * Resolves once `s` can take more writes: on 'drain', or on 'error' or 'close', after which no
 * 'drain' comes and the writer learns of the failure elsewhere.
 */
function waitDrain(s) {
    return new Promise(resolve => {
        const done = () => {
            s.off('drain', done);
            s.off('error', done);
            s.off('close', done);
            resolve();
        };
        s.on('drain', done);
        s.on('error', done);
        s.on('close', done);
    });
}

;// CONCATENATED MODULE: ./src/codec/decompress.ts
/**
 * Reading compressed layers: what their first bytes show, and a decompressor that reads every
 * gzip member and every zstd frame, counting the input it consumed so bytes after the last
 * member or frame can be told apart.
 */



function createDecompressor(c) {
    switch (c) {
        case 'gzip':
            return external_node_zlib_namespaceObject.createGunzip({ chunkSize: 256 * 1024 });
        case 'zstd':
            return external_node_zlib_namespaceObject.createZstdDecompress({ chunkSize: 256 * 1024 });
        case 'none':
            return new external_node_stream_namespaceObject.PassThrough();
    }
}
/** gzip or zstd as detected; xz, bzip2 and anything else are read as they are (and fail as tar). */
function readableCompression(head) {
    const c = detectCompression(head);
    return c === 'gzip' || c === 'zstd' ? c : 'none';
}
/**
 * Whether bytes start a zstd frame: a regular one, or a skippable one (0x184D2A50–5F), with which
 * a zstd stream may open (zstd:chunked metadata, seekable-format tables).
 */
function isZstdFrame(b) {
    if (b.length < 4)
        return false;
    const m = b.readUInt32LE(0);
    return m === 0xfd2fb528 || (m & 0xfffffff0) === 0x184d2a50;
}
/** The compression a file's first bytes show; anything unrecognised is taken as a plain tar. */
function detectCompression(head) {
    if (head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b)
        return 'gzip';
    if (isZstdFrame(head))
        return 'zstd';
    if (head.length >= 6 &&
        head.subarray(0, 6).equals(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0])))
        return 'xz';
    if (head.length >= 3 && head.subarray(0, 3).toString('latin1') === 'BZh')
        return 'bzip2';
    return 'none';
}
/**
 * Decompresses a gzip or zstd stream written chunk by chunk into `sink`, and counts the input
 * bytes the decompressors consumed, so bytes after the last member/frame can be reported. Node's
 * gunzip reads concatenated members itself and silently ignores what follows them; Node's zstd
 * decoder stops after one frame, so a new decoder is started for each further frame
 * (zstd:chunked layers have many) — and what is neither a frame nor a skippable frame is
 * trailing data, at which decoding stops.
 */
class MultiFrameDecompressor {
    kind;
    sink;
    sinkDrain;
    /** blob offset where the current decoder's input starts */
    start = 0;
    /** bytes handed to write() so far */
    written = 0;
    /** chunks written to the current decoder and not yet known to be consumed */
    pending = [];
    d;
    /** set when the current zstd decoder stopped at a frame end while input was left */
    stoppedAt;
    /** bytes after a frame end, until there are enough to tell what follows */
    between;
    error;
    ended = Promise.resolve();
    /** input bytes consumed by the decompressors, when decoding stopped at trailing data */
    trailingAt;
    /**
     * `sink` takes the decompressed bytes and returns false to ask for a pause, which lasts until
     * `sinkDrain` resolves.
     */
    constructor(kind, sink, sinkDrain) {
        this.kind = kind;
        this.sink = sink;
        this.sinkDrain = sinkDrain;
        this.open(0);
    }
    open(start) {
        this.start = start;
        this.stoppedAt = undefined;
        const d = createDecompressor(this.kind);
        this.d = d;
        d.on('data', (out) => {
            if (!this.sink(out)) {
                d.pause();
                void this.sinkDrain().then(() => d.resume());
            }
        });
        this.ended = new Promise(resolve => {
            d.on('end', () => {
                // Input left unconsumed means the zstd decoder stopped at the end of a frame.
                if (this.start + d.bytesWritten < this.written)
                    this.stoppedAt = this.start + d.bytesWritten;
                resolve();
            });
            d.on('error', (err) => {
                // A decoder that already stopped at a frame end fails on the input written after it.
                if (this.stoppedAt === undefined)
                    this.error ??= err.message;
                resolve();
            });
        });
    }
    /** Input bytes the decompressors consumed: less than was written when trailing bytes follow. */
    get consumed() {
        if (this.trailingAt !== undefined)
            return this.trailingAt;
        return this.d ? this.start + this.d.bytesWritten : this.start;
    }
    async write(chunk) {
        const off = this.written;
        this.written += chunk.length;
        if (this.error !== undefined || this.trailingAt !== undefined)
            return;
        if (this.between) {
            this.between = Buffer.concat([this.between, chunk]);
            this.next(false);
            return;
        }
        const d = this.d;
        this.pending.push({ off, buf: chunk });
        const done = this.start + d.bytesWritten;
        while (this.pending.length && this.pending[0].off + this.pending[0].buf.length <= done)
            this.pending.shift();
        if (!d.write(chunk))
            await waitDrain(d);
        if (this.stoppedAt !== undefined)
            this.frameEnded();
    }
    /** The zstd decoder stopped: collect what it left and decide what follows. */
    frameEnded() {
        const at = this.stoppedAt;
        this.d?.destroy();
        const rest = this.pending
            .filter(p => p.off + p.buf.length > at)
            .map(p => p.buf.subarray(Math.max(0, at - p.off)));
        this.pending = [];
        this.between = Buffer.concat(rest);
        this.start = at;
        this.d = undefined;
        this.next(false);
    }
    /** Starts a decoder on the bytes after a frame end if they open another frame; else stops. */
    next(final) {
        const b = this.between;
        if (b.length < 4 && !final)
            return;
        if (this.kind === 'zstd' && isZstdFrame(b)) {
            this.between = undefined;
            this.open(this.start);
            const d = this.d;
            this.pending.push({ off: this.start, buf: b });
            d.write(b);
        }
        else {
            this.trailingAt = this.start;
            this.between = undefined;
        }
    }
    /** Ends the input; resolves to why decompression failed, if it did. */
    async end() {
        // Each pass ends one frame's decoder; the guard only bounds a loop that should not happen.
        for (let guard = 0; guard < 1_000_000; guard++) {
            if (this.error !== undefined || this.trailingAt !== undefined)
                return this.error;
            if (this.between) {
                this.next(true);
                continue;
            }
            const d = this.d;
            if (!d.writableEnded)
                d.end();
            await this.ended;
            if (this.stoppedAt !== undefined) {
                this.frameEnded();
                continue;
            }
            return this.error;
        }
        return this.error;
    }
    destroy() {
        this.d?.destroy();
    }
}

;// CONCATENATED MODULE: ./src/oci/mediatypes.ts
/** Media types of the OCI Image Spec v1.1 and the Docker schema 2 types Lading reads. */
const MediaType = {
    ImageIndex: 'application/vnd.oci.image.index.v1+json',
    ImageManifest: 'application/vnd.oci.image.manifest.v1+json',
    ImageConfig: 'application/vnd.oci.image.config.v1+json',
    Layer: 'application/vnd.oci.image.layer.v1.tar',
    LayerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
    LayerZstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
    LayerNondistributable: 'application/vnd.oci.image.layer.nondistributable.v1.tar',
    LayerNondistributableGzip: 'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip',
    LayerNondistributableZstd: 'application/vnd.oci.image.layer.nondistributable.v1.tar+zstd',
    Empty: 'application/vnd.oci.empty.v1+json',
    DockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
    DockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
    DockerConfig: 'application/vnd.docker.container.image.v1+json',
    DockerLayerGzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
    DockerLayerForeignGzip: 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip'
};
function isIndexMediaType(mt) {
    return mt === MediaType.ImageIndex || mt === MediaType.DockerManifestList;
}
function isManifestMediaType(mt) {
    return mt === MediaType.ImageManifest || mt === MediaType.DockerManifest;
}
/** The compression a layer media type declares, or undefined when it is not a layer type Lading knows. */
function layerCompression(mt) {
    switch (mt) {
        case MediaType.Layer:
        case MediaType.LayerNondistributable:
            return 'none';
        case MediaType.LayerGzip:
        case MediaType.LayerNondistributableGzip:
        case MediaType.DockerLayerGzip:
        case MediaType.DockerLayerForeignGzip:
            return 'gzip';
        case MediaType.LayerZstd:
        case MediaType.LayerNondistributableZstd:
            return 'zstd';
        default:
            return undefined;
    }
}
function layerMediaType(c) {
    return c === 'gzip' ? MediaType.LayerGzip : c === 'zstd' ? MediaType.LayerZstd : MediaType.Layer;
}
/** Docker schema 2 media types mapped to their OCI equivalents, for converting docker images to OCI. */
function toOciMediaType(mt) {
    switch (mt) {
        case MediaType.DockerManifestList:
            return MediaType.ImageIndex;
        case MediaType.DockerManifest:
            return MediaType.ImageManifest;
        case MediaType.DockerConfig:
            return MediaType.ImageConfig;
        case MediaType.DockerLayerGzip:
            return MediaType.LayerGzip;
        case MediaType.DockerLayerForeignGzip:
            return MediaType.LayerNondistributableGzip;
        default:
            return mt;
    }
}

;// CONCATENATED MODULE: ./src/build/layer/types.ts

/**
 * Bumped whenever Lading's bytes for the same tree and settings change (the tar writer, the
 * compressor): a cached layer made by another format is not taken for a cold build's. 3: gzip
 * level 1 is libdeflate with scripts/libdeflate-fast.patch; 4: with its second version (5-byte
 * matches, repeat offsets, fewer positions hashed).
 */
const LAYER_FORMAT = 4;
/** The history comment of a layer Lading builds: its format and compression settings. */
function layerRecipe(compression, level) {
    const how = compression === 'none' ? 'uncompressed' : `${compression} level ${level ?? 'default'}`;
    return `lading layer format ${LAYER_FORMAT}: ${how}`;
}
/** A built layer from its blob's digest and size and its tar's digest. */
function builtLayerOf(compression, blob, diffId, createdBy) {
    return {
        descriptor: { mediaType: layerMediaType(compression), digest: blob.digest, size: blob.size },
        diffId,
        createdBy
    };
}
/** What a HashingStream hashed: a blob's digest and size. */
function hashed(h) {
    return { digest: h.digest(), size: h.size };
}

;// CONCATENATED MODULE: ./src/build/layer/tarball.ts
/**
 * A tarball used as a layer: kept byte for byte when it is already in the chosen compression and
 * nothing follows its compressed stream, else decompressed and recompressed. Either way its tar is
 * hashed (diff_id) and checked by the validator as it is read, so it need not be read back.
 */











/** Bytes per read of the tarball. */
const READ_CHUNK = 1024 * 1024;
async function tarballLayer(input, store, settings, size) {
    const format = detectCompression(await readBytesAt(input, 0, 6));
    if (format === 'xz' || format === 'bzip2')
        throw layerError(input, `"${input.source}" is compressed with ${format}, which layers cannot use; recompress it with gzip or zstd, or give the plain .tar`);
    // Bytes after the compressed stream (padding, a second zstd frame) are skipped by some readers and
    // fatal to others (Go's gzip: "invalid header"), so only a stream that is the whole file is kept.
    if (format === settings.compression) {
        const kept = await tarballPass({ input, format, size, keep: true }, store, settings);
        if (kept)
            return kept;
    }
    return (await tarballPass({ input, format, size, keep: false }, store, settings));
}
/** How messages call the tarball. */
function kindOf(format) {
    return format === 'none' ? 'tar' : `${format} tarball`;
}
async function readBytesAt(input, at, n) {
    const buf = Buffer.alloc(n);
    try {
        const fh = await promises_namespaceObject.open(input.source, 'r');
        try {
            const { bytesRead } = await fh.read(buf, 0, n, at);
            return buf.subarray(0, bytesRead);
        }
        finally {
            await fh.close();
        }
    }
    catch (err) {
        throw fileSystemError(input, input.source, err);
    }
}
function tarballStages(read, settings, check) {
    const hash = () => new HashingStream('sha256', settings.relief);
    const decompressor = read.format === 'none' ? undefined : createDecompressor(read.format);
    if (read.keep) {
        // The bytes are kept, and the tar inside is hashed and checked alongside.
        const digestHash = hash();
        const diffHash = decompressor ? hash() : digestHash;
        const branch = tee(decompressor ? [decompressor, diffHash, check] : [check]);
        return {
            stages: [digestHash, branch.stage],
            sideDone: branch.done,
            digestHash,
            diffHash,
            decompressor
        };
    }
    const decompress = decompressor ? [decompressor] : [];
    const diffHash = hash();
    const branch = tee([check]);
    if (settings.compression === 'none') {
        const stages = [...decompress, diffHash, branch.stage];
        return { stages, sideDone: branch.done, digestHash: diffHash, diffHash, decompressor };
    }
    const digestHash = hash();
    const compress = compressorStages(settings.compression, settings.level, {
        shared: settings.compressors
    });
    const stages = [...decompress, diffHash, branch.stage, ...compress, digestHash];
    return { stages, sideDone: branch.done, digestHash, diffHash, decompressor };
}
/** Stores the layer one read of a tarball makes; undefined when a kept tarball cannot be kept. */
async function tarballPass(read, store, settings) {
    const { input } = read;
    const scanner = settings.checks.tarStream();
    const stages = tarballStages(read, settings, scanner.sink);
    const counted = settings.progress
        ? [countingStage(settings.progress(layerName(input), read.size))]
        : [];
    const stored = await streamToBlob(store, {
        source: (0,external_node_fs_namespaceObject.createReadStream)(input.source, { highWaterMark: READ_CHUNK }),
        stages: [...counted, ...stages.stages],
        concurrentWork: [stages.sideDone],
        digest: stages.digestHash,
        storeError: err => layerError(input, `writing the layer into ${store.root}: ${errors_messageOf(err)}`),
        streamError: err => {
            const e = err;
            if (e.code && e.syscall)
                return fileSystemError(input, input.source, err);
            const what = `"${input.source}" is not a readable ${kindOf(read.format)}: ${errors_messageOf(err)}`;
            return layerError(input, what);
        },
        accept: () => acceptTarball(read, scanner, stages.decompressor)
    });
    if (!stored)
        return undefined;
    const createdBy = `lading: ADD ${shownSource(input.source)} /`;
    const built = builtLayerOf(settings.compression, hashed(stages.digestHash), stages.diffHash.digest(), createdBy);
    built.scan = await scanner.result({ ...built.descriptor, diffId: built.diffId });
    return built;
}
/**
 * Whether a tarball read to its end makes the layer: its tar must be whole, and a kept tarball
 * must end where its compressed stream does.
 */
async function acceptTarball(read, scanner, decompressor) {
    const { input, format, size } = read;
    const tarError = await scanner.tarError();
    if (tarError !== undefined)
        throw layerError(input, `"${input.source}" is not a readable ${kindOf(format)}: ${tarError}`);
    const consumed = decompressor ? decompressor.bytesWritten : size;
    if (consumed >= size)
        return true;
    // Node's zstd reader stops after one frame; what follows would be left out silently.
    if (format === 'zstd' && isZstdFrame(await readBytesAt(input, consumed, 4)))
        throw layerError(input, `"${input.source}" holds more than one zstd frame, which Lading cannot read; recompress it with plain zstd (one frame) or give the plain .tar`);
    return !read.keep;
}

;// CONCATENATED MODULE: ./src/build/layer/modes.ts

/**
 * The mode a layer entry gets from the file system it was read on. POSIX file systems say what
 * they mean. Windows has no permission bits: Node reports 0o666 for everything (0o444 when
 * read-only), which would make directories untraversable and files world-writable in the image,
 * so there directories and symlinks get 0o755 and 0o777 and files 0o644, as a fresh checkout
 * would have on Linux; executables must be marked explicitly.
 */
const WINDOWS_DIR_MODE = 0o755;
const WINDOWS_FILE_MODE = 0o644;
const WINDOWS_SYMLINK_MODE = 0o777;
/** `mode` (type bits included, as fs.Stats gives it) as the layer should hold it. */
function layerMode(mode, platform = process.platform) {
    if (platform !== 'win32')
        return mode;
    const type = mode & external_node_fs_namespaceObject.constants.S_IFMT;
    if (type === external_node_fs_namespaceObject.constants.S_IFDIR)
        return type | WINDOWS_DIR_MODE;
    if (type === external_node_fs_namespaceObject.constants.S_IFLNK)
        return type | WINDOWS_SYMLINK_MODE;
    return type | WINDOWS_FILE_MODE;
}

;// CONCATENATED MODULE: ./src/build/layer/tar-writer.ts
/**
 * Writes a layer's entries into a tar-stream pack: headers with fixed owners and times, hard links
 * to the first path of a file, PAX records for long names (tar-stream's), and file bodies read
 * from disk, small ones whole and large ones streamed.
 */







/** What a deferred file body is made of in the pack: its reader reads the file instead. */
const PLACEHOLDER = Buffer.alloc(1024 * 1024);
/** Files up to this size are read whole when their turn comes; larger ones are streamed. */
const WHOLE_FILE = 256 * 1024;
/** Bytes per read of a streamed file. */
const tar_writer_READ_CHUNK = 1024 * 1024;
/** Bytes per chunk handed on from the tar writer: one gzip member each, with no more copying. */
const OUTPUT_CHUNK = GZIP_BLOCK;
/**
 * Writes every entry into the pack, in order. Rejects with the first failure (a LadingError naming
 * the path for anything on disk), leaving the pack for the caller to destroy or finalize.
 */
async function writeEntries(input, pack, entries, opts) {
    const writer = new TarWriter(input, pack, opts);
    for (const e of entries)
        await writer.write(e);
}
/**
 * The pack's bytes in chunks of exactly OUTPUT_CHUNK (the last may be shorter), each byte copied
 * once. tar-stream emits each header, body and padding on its own; in large chunks, the stages
 * after it do their per-chunk work (hashing, compressing, writing) far fewer times.
 */
function packInChunks(pack, slabs) {
    return external_node_stream_namespaceObject.Readable.from(fixedChunks(pack, slabs), { objectMode: false });
}
/** Copies the pack's output into fixed chunks, giving each file's bytes back once copied. */
async function* fixedChunks(src, slabs) {
    let out = slabs.take(OUTPUT_CHUNK);
    let n = 0;
    for await (const c of src) {
        let at = 0;
        while (at < c.length) {
            const k = c.copy(out, n, at);
            n += k;
            at += k;
            if (n === OUTPUT_CHUNK) {
                yield out;
                out = slabs.take(OUTPUT_CHUNK);
                n = 0;
            }
        }
        slabs.release(c);
    }
    if (n)
        yield out.subarray(0, n);
}
/*
 * Stats and small files are read with synchronous calls. Through libuv's pool, each call costs
 * the main thread far more than a synchronous call on a cached file, which for trees of many small
 * files is most of a build. The pool stays free for the compressor.
 */
class TarWriter {
    input;
    pack;
    opts;
    /** The first path written for each (device, inode) of a file with several links. */
    firstPathOf = new Map();
    /** Owners and times fixed, so that the same tree makes the same layer on any machine. */
    common;
    /** The same for entries read from disk, with `--chown` applied. */
    owned;
    constructor(input, pack, opts) {
        this.input = input;
        this.pack = pack;
        this.opts = opts;
        this.common = { uid: 0, gid: 0, uname: '', gname: '', mtime: opts.mtime };
        this.owned = { ...this.common, ...opts.owner };
    }
    async write(e) {
        if (!e.abs) {
            // A parent of DEST stands for a directory the base most likely has: root's, 0755.
            const header = { ...this.common, name: `${e.name}/` };
            await this.add({ ...header, type: 'directory', mode: external_node_fs_namespaceObject.constants.S_IFDIR | 0o755 });
            return;
        }
        const base = { ...this.owned, name: e.name };
        const st = this.stat(e.abs, e.followLink ?? false);
        const mode = this.modeOf(st);
        if (st.isDirectory())
            await this.add({ ...base, name: `${e.name}/`, type: 'directory', mode });
        else if (st.isSymbolicLink())
            await this.add({ ...base, type: 'symlink', linkname: this.linkTarget(e.abs), mode });
        else if (st.isFile())
            await this.addFile(base, e, st);
        else if (st.isFIFO())
            await this.add({ ...base, type: 'fifo', mode });
        else if (st.isCharacterDevice() || st.isBlockDevice())
            await this.add({
                ...base,
                type: st.isCharacterDevice() ? 'character-device' : 'block-device',
                mode,
                devmajor: Math.floor(st.rdev / 256) & 0xfff,
                devminor: (st.rdev & 0xff) | (Math.floor(st.rdev / 4096) & 0xfff00)
            });
        // Sockets are runtime objects with no content; they are left out.
    }
    /**
     * The mode written for an entry: `--chmod`'s bits, or on Windows the fixed ones, with the type
     * bits kept (tar-stream replaces a zero mode by its default; the type bits keep 0o000 as given).
     * A symlink's own mode means nothing to Linux; it is left as read.
     */
    /**
     * An entry's mode: `--chmod` for files and directories, else what the file system says where
     * it means anything (modes.ts). tar-stream replaces a zero mode by its default, so the type
     * bits ride along to keep 0o000.
     */
    modeOf(st) {
        const type = st.mode & external_node_fs_namespaceObject.constants.S_IFMT;
        if (this.opts.chmod !== undefined && !st.isSymbolicLink())
            return type | this.opts.chmod;
        return layerMode(st.mode, this.opts.platform);
    }
    /** An entry's stat, following the SOURCE itself when it is a symlink to what is meant. */
    stat(abs, followLink) {
        try {
            return followLink ? external_node_fs_namespaceObject.statSync(abs) : external_node_fs_namespaceObject.lstatSync(abs);
        }
        catch (err) {
            throw fileSystemError(this.input, abs, err);
        }
    }
    linkTarget(abs) {
        let raw;
        try {
            raw = external_node_fs_namespaceObject.readlinkSync(abs, { encoding: 'buffer' });
        }
        catch (err) {
            throw fileSystemError(this.input, abs, err);
        }
        const target = raw.toString('utf8');
        if (!Buffer.from(target, 'utf8').equals(raw))
            throw layerError(this.input, `the symlink "${shownPath(this.input, abs)}" points to "${escapeBytes(raw)}", which is not valid UTF-8 as layer paths must be; change the link`);
        return target;
    }
    /** A regular file: a hard link to its first path if written already, else its bytes. */
    async addFile(base, e, st) {
        const abs = e.abs;
        if (st.nlink > 1) {
            const id = `${st.dev}:${st.ino}`;
            const first = this.firstPathOf.get(id);
            if (first !== undefined) {
                await this.add({ ...base, type: 'link', linkname: first, mode: this.modeOf(st) });
                return;
            }
            this.firstPathOf.set(id, e.name);
        }
        const header = { ...base, type: 'file', mode: this.modeOf(st), size: st.size };
        if (this.opts.deferBody && st.size > (this.opts.readUpTo ?? 0))
            return this.placeholderFile(header, abs, st.size);
        if (st.size > WHOLE_FILE)
            return this.streamFile(header, abs, st.size);
        let body;
        try {
            body = this.readWhole(abs, st.size);
        }
        catch (err) {
            throw fileSystemError(this.input, abs, err);
        }
        if (body.length !== st.size)
            throw changedWhileRead(this.input, abs);
        if (body.length === 0) {
            // tar-stream takes an empty buffer as "no body given" and waits for a stream; the slice
            // taken for the read goes back now, since the tar never sees it.
            this.opts.slabs.release(body);
            await this.add(header, Buffer.alloc(0));
            return;
        }
        await this.add(header, body);
    }
    /**
     * A file's bytes, asking for one byte more to notice a file that grew since its stat: a read
     * that gets exactly the size, short of that byte, has met the file's end (one read a file where
     * a second, answering nothing, told it before: for 100,000 small files, 100,000 calls fewer).
     */
    readWhole(abs, size) {
        const fd = external_node_fs_namespaceObject.openSync(abs, 'r');
        try {
            const buf = this.opts.slabs.take(size + 1);
            let n = 0;
            while (n < buf.length) {
                const got = external_node_fs_namespaceObject.readSync(fd, buf, n, buf.length - n, n);
                if (got === 0)
                    break;
                n += got;
                if (n === size)
                    break;
            }
            return buf.subarray(0, n);
        }
        finally {
            external_node_fs_namespaceObject.closeSync(fd);
        }
    }
    /** Adds an entry whose body, if any, is given whole; resolves once the pack has taken it. */
    async add(header, body) {
        this.opts.onHeader(header);
        const { written } = this.openEntry(header, body);
        await written;
    }
    /**
     * Starts an entry. Its sink's failures (the pack destroyed under it, a size mismatch) reach the
     * caller through `written`, so its 'error' event is taken here rather than left to crash the run.
     */
    openEntry(header, body) {
        let settle;
        const written = new Promise((resolve, reject) => {
            settle = err => (err ? reject(err) : resolve());
        });
        written.catch(() => { });
        const sink = body ? this.pack.entry(header, body, settle) : this.pack.entry(header, settle);
        sink.on('error', () => { });
        return { sink, written };
    }
    /** A file whose bytes its reader reads: PLACEHOLDER in its place, in views of at most 1 MiB. */
    async placeholderFile(header, abs, size) {
        this.opts.deferBody(abs, size);
        if (size <= PLACEHOLDER.length)
            return this.add(header, PLACEHOLDER.subarray(0, size));
        this.opts.onHeader(header);
        const { sink, written } = this.openEntry(header);
        for (let at = 0; at < size; at += PLACEHOLDER.length) {
            const part = PLACEHOLDER.subarray(0, Math.min(PLACEHOLDER.length, size - at));
            if (!sink.write(part))
                await drained(sink);
        }
        sink.end(null);
        await written;
    }
    /** A file too large to read whole, streamed into the tar in READ_CHUNK reads, one read ahead. */
    async streamFile(header, abs, size) {
        let fh;
        try {
            fh = await promises_namespaceObject.open(abs, 'r');
        }
        catch (err) {
            throw fileSystemError(this.input, abs, err);
        }
        try {
            this.opts.onHeader(header);
            const { sink, written } = this.openEntry(header);
            try {
                await this.copyBody(fh, sink, abs, size);
            }
            catch (err) {
                sink.destroy(err);
                throw err;
            }
            sink.end(null);
            await written;
        }
        finally {
            await fh.close();
        }
    }
    /** Exactly `size` bytes of the file into the sink; a file that is shorter or longer fails. */
    async copyBody(fh, sink, abs, size) {
        const readAt = (at) => {
            const want = Math.min(tar_writer_READ_CHUNK, size - at);
            const buf = this.opts.slabs.take(want);
            const read = fh.read(buf, 0, want, at).then(({ bytesRead }) => buf.subarray(0, bytesRead));
            // A read ahead may be left behind by a failure; its own failure then matters to no one.
            read.catch(() => { });
            return read;
        };
        let pos = 0;
        // The next read is under way while the last chunk goes into the tar.
        let pending = readAt(0);
        while (pos < size) {
            let chunk;
            try {
                chunk = await pending;
            }
            catch (err) {
                throw fileSystemError(this.input, abs, err);
            }
            if (chunk.length === 0)
                throw changedWhileRead(this.input, abs);
            pos += chunk.length;
            if (pos < size)
                pending = readAt(pos);
            if (!sink.write(chunk))
                await drained(sink);
        }
        // A file that grew since its stat would be cut short silently.
        let grew;
        try {
            ;
            ({ bytesRead: grew } = await fh.read(Buffer.alloc(1), 0, 1, size));
        }
        catch (err) {
            throw fileSystemError(this.input, abs, err);
        }
        if (grew !== 0)
            throw changedWhileRead(this.input, abs);
    }
}
/** Waits for the sink to take more; fails if it is destroyed instead (the pack failed). */
function drained(sink) {
    if (sink.destroying)
        return Promise.reject(new Error('the tar entry was destroyed'));
    return new Promise((resolve, reject) => {
        const settle = (err) => {
            sink.off('drain', onDrain);
            sink.off('close', onClose);
            sink.off('error', onError);
            if (err)
                reject(err);
            else
                resolve();
        };
        const onDrain = () => settle();
        const onClose = () => settle(new Error('the tar entry closed before its end'));
        const onError = (err) => settle(err instanceof Error ? err : new Error(String(err)));
        sink.once('drain', onDrain);
        sink.once('close', onClose);
        sink.once('error', onError);
    });
}

;// CONCATENATED MODULE: ./src/build/layer/tar-recipes.ts



/**
 * The pieces of a tar fed in order, cut every `size` bytes of tar into recipes. Each recipe's
 * block is a buffer `buffer` gives (of at least size + 1 bytes: a file's last read asks for one
 * byte more), into which the bytes written are copied where they go.
 */
class RecipeCutter {
    size;
    buffer;
    bodies = [];
    block;
    files = [];
    paths = [];
    filled = 0;
    /** Recipes cut and not yet taken, in order. */
    ready = [];
    constructor(size, buffer) {
        this.size = size;
        this.buffer = buffer;
    }
    /** A file body the tar will hold next (in the order of deferBody). */
    deferred(abs, size) {
        this.bodies.push({ abs, size, done: 0 });
    }
    /** The next chunk of the tar: bytes it holds, or a view of PLACEHOLDER standing for a body. */
    chunk(c) {
        const body = c.buffer === PLACEHOLDER.buffer;
        for (let at = 0; at < c.length;) {
            const n = Math.min(c.length - at, this.size - this.filled);
            if (body)
                this.body(n);
            else
                this.current().set(c.subarray(at, at + n), this.filled);
            at += n;
            this.filled += n;
            if (this.filled === this.size)
                this.ready.push(this.take());
        }
    }
    /** The last recipe, shorter than `size`, once the whole tar has been fed; none if empty. */
    rest() {
        return this.filled > 0 ? this.take() : undefined;
    }
    current() {
        if (!this.block) {
            const buffer = this.buffer();
            if (buffer.byteLength <= this.size)
                throw new Error('a recipe buffer too small for a block');
            this.block = new Uint8Array(buffer);
        }
        return this.block;
    }
    take() {
        const recipe = {
            block: this.current().buffer,
            files: new Float64Array(this.files).buffer,
            paths: this.paths
        };
        const length = this.filled;
        this.block = undefined;
        this.files = [];
        this.paths = [];
        this.filled = 0;
        return { recipe, length };
    }
    body(length) {
        const b = this.bodies[0];
        if (!b)
            throw new Error('a file body came with no file to read it from');
        const last = b.done + length === b.size;
        if (this.paths[this.paths.length - 1] !== b.abs)
            this.paths.push(b.abs);
        this.current();
        this.files.push(this.filled, this.paths.length - 1, b.done, length, last ? 1 : 0);
        b.done += length;
        if (last)
            this.bodies.shift();
    }
}
/** The error for a recipe's file that could not be read, as a build reading it would give. */
function recipeFailureError(input, failure) {
    const { path, changed, code, message } = failure;
    if (changed)
        return changedWhileRead(input, path);
    return fileSystemError(input, path, Object.assign(new Error(message), code ? { code } : {}));
}
/**
 * The blocks of a tar written with deferred bodies, in order, each made and compressed with its
 * member by `members`' threads from its recipe, at most `maxInFlight` at once. The tar is read
 * and cut as fast as the threads take recipes, not as the members are written: a member's way to
 * the file must not keep this thread from the next recipe. The caller gives each block back
 * (`done`) once it has read it and its member.
 */
async function* recipeBlocks(input, tar, cutter, members, 
/** Given each chunk of the tar once it is copied into a recipe. */
copied = () => { }) {
    if (!members.recipe || !members.onlyRecipe)
        throw new Error('the compressor takes no recipes');
    const recipe = members.recipe.bind(members);
    const onlyRecipe = members.onlyRecipe.bind(members);
    /** Blocks under way or made, not yet taken, in the tar's order. */
    const made = [];
    let ended = false;
    // Whoever waits: the reader for room under the limit, the writer for a member or the end.
    let wake;
    const signal = () => {
        const w = wake;
        wake = undefined;
        w?.();
    };
    const waitSignal = () => new Promise(resolve => (wake = resolve));
    const submit = (r) => {
        // Awaited in order later; this keeps an early failure from counting as unhandled meanwhile.
        r.catch(() => { });
        made.push(r);
        signal();
    };
    let stopped = false;
    const reading = (async () => {
        try {
            let any = false;
            for await (const chunk of tar) {
                cutter.chunk(chunk);
                copied(chunk);
                for (const r of cutter.ready.splice(0)) {
                    // Read each time: a pool allows more once it has started more threads.
                    while (made.length >= members.maxInFlight && !stopped)
                        await waitSignal();
                    if (stopped)
                        return;
                    submit(recipe(r.recipe, r.length));
                    any = true;
                }
            }
            const rest = cutter.rest();
            if (!any && !rest)
                throw new Error('a tar of no bytes');
            if (rest)
                submit((any ? recipe : onlyRecipe)(rest.recipe, rest.length));
        }
        finally {
            ended = true;
            signal();
        }
    })();
    reading.catch(() => { });
    try {
        for (;;) {
            if (made.length) {
                let block;
                try {
                    block = await made[0];
                }
                catch (err) {
                    throw err instanceof RecipeReadError ? recipeFailureError(input, err.failure) : err;
                }
                made.shift();
                signal();
                yield block;
            }
            else if (ended)
                break;
            else
                await waitSignal();
        }
        await reading;
    }
    finally {
        stopped = true;
        signal();
    }
}

;// CONCATENATED MODULE: ./src/build/layer/tree-hash.ts
/**
 * The sha256 of a layer's tar with the files' bytes read and hashed on a worker thread: the main
 * thread walks the tree and writes the tar with placeholder bodies (tar-writer's deferBody), cut
 * into 1 MiB recipes (tar-recipes.ts) that hold the bytes it wrote where they go; the worker reads
 * each body's file into its place and hashes the batch, in the tar's order, and gives the buffer
 * back. Walking and tar-writing on one core, reading and hashing on the other: on the benchmark's
 * tree the diff pass took 15% less time (the main thread's walk and tar-writing remain its bound).
 * A tar of up to HELD_BATCHES batches is hashed on the main thread instead, by the same code: a
 * thread costs about 0.1 s of CPU to start, which on 2 cores slowed the rest of the run more than
 * hashing a small app directory here. Used where only the digest is wanted; a build has its
 * recipes made and compressed by the libdeflate threads instead.
 */




/** Batches under way at once: bounds what waits for the worker, whatever the tree. */
const BATCHES_AHEAD = 4;
/**
 * Batches under way at once before the worker's first answer, while it may still be starting:
 * the walk goes on meanwhile. A batch not yet filled holds its headers only (a few pages).
 */
const BATCHES_AHEAD_AT_START = 16;
/** Bytes of tar (written or referenced) per batch. */
const BATCH_BYTES = 1024 * 1024;
/** Batches held before a thread is started: a tar of no more is hashed on the main thread. */
const HELD_BATCHES = 4;
/**
 * Hashes each batch once its files are read into its block, and answers it with the block. A
 * file read short of its range, or with bytes past its size, changed while it was read. Runs on
 * the worker, or on the main thread for a tar too small to be worth a thread; handed to the
 * worker as source text, so it names nothing outside itself.
 */
function batchHasher(ranges, fill) {
    const { createHash } = process.getBuiltinModule('node:crypto');
    const hash = createHash('sha256');
    const reader = ranges();
    const batch = (msg) => {
        const failed = fill(msg, reader);
        if (failed)
            return { failed };
        hash.update(new Uint8Array(msg.block, 0, msg.length));
        return { ack: msg.block };
    };
    const end = () => ({ digest: 'sha256:' + hash.digest('hex') });
    return { batch, end };
}
/** The worker: batchHasher's answers to the main thread's batches, until one fails. */
function hashWorkerMain(hasher, ranges, fill) {
    const { parentPort } = process.getBuiltinModule('node:worker_threads');
    const { batch, end } = hasher(ranges, fill);
    let failed = false;
    parentPort.on('message', (msg) => {
        if (failed)
            return;
        const answer = 'end' in msg ? end() : batch(msg);
        failed = 'failed' in answer;
        parentPort.postMessage(answer, 'ack' in answer ? [answer.ack] : []);
    });
}
const workerSource = `(${hashWorkerMain.toString()})(${batchHasher.toString()}, ${rangeReader.toString()}, ${fillRecipe.toString()})`;
let threadsStarted = 0;
/** Hashing threads started so far in this process (tests tell the two ways apart by it). */
function hashThreadsStarted() {
    return threadsStarted;
}
function hashWorker() {
    threadsStarted++;
    return new external_node_worker_threads_namespaceObject.Worker(workerSource, { eval: true, resourceLimits: WORKER_LIMITS });
}
/**
 * A run's hashing thread started before any pass needs one (`warm`), while the run does its
 * other first things: a thread takes 70-150 ms to start, which a pass otherwise waits out with its
 * first batches cut and the tree's walk stopped. The first pass that needs a thread takes it; the
 * others start their own. `close` stops it if no pass took it.
 */
class HashThreads {
    ready;
    warm() {
        if (this.ready)
            return;
        const worker = hashWorker();
        // Until a pass takes it, a thread that failed to start is simply not there to take.
        const gone = () => {
            if (this.ready?.worker === worker)
                this.ready = undefined;
        };
        worker.on('error', gone);
        worker.on('exit', gone);
        this.ready = { worker, gone };
    }
    /** The warm thread, now the caller's (with no listener of this one's left), or a new one. */
    take() {
        const ready = this.ready;
        this.ready = undefined;
        if (!ready)
            return hashWorker();
        ready.worker.off('error', ready.gone);
        ready.worker.off('exit', ready.gone);
        return ready.worker;
    }
    async close() {
        const ready = this.ready;
        this.ready = undefined;
        await ready?.worker.terminate();
    }
}
/** The pieces of a tar fed in order; `digest` once it has all been fed. */
class TreeHasher {
    input;
    threads;
    /** Started once more than HELD_BATCHES were cut: a smaller tar is hashed on this thread. */
    worker;
    /** Blocks back from the worker, filled again: BATCHES_AHEAD + 1 of them are kept. */
    spare = [];
    cutter = new RecipeCutter(BATCH_BYTES, () => this.spare.pop() ?? new ArrayBuffer(BATCH_BYTES + 1));
    /** Batches cut before the thread starts, hashed here if the tar ends first. */
    held = [];
    outstanding = 0;
    /** Whether the worker has answered once: it has started, and the batches ahead are fewer. */
    answered = false;
    wake;
    failure;
    result;
    constructor(input, threads) {
        this.input = input;
        this.threads = threads;
    }
    started() {
        if (this.worker)
            return this.worker;
        const worker = this.threads ? this.threads.take() : hashWorker();
        worker.on('message', (a) => this.answer(a));
        worker.on('error', err => this.fail(err));
        worker.on('exit', code => {
            if (!this.result && !this.failure)
                this.fail(new Error(`the thread stopped (${code})`));
        });
        this.worker = worker;
        return worker;
    }
    /** A file body the tar will hold next (in the order of deferBody). */
    deferred(abs, size) {
        this.cutter.deferred(abs, size);
    }
    /** The next chunk of the tar: bytes it holds, or a view of PLACEHOLDER standing for a body. */
    async chunk(c) {
        if (this.failure)
            throw this.failure;
        this.cutter.chunk(c);
        for (const { recipe, length } of this.cutter.ready.splice(0))
            await this.send({ ...recipe, length });
    }
    /** The tar's sha256, once every chunk has been given. */
    async digest() {
        // A small tar costs less to hash here than a thread costs to start (0.1 s of CPU).
        const cut = this.cutter.rest();
        if (cut)
            await this.send({ ...cut.recipe, length: cut.length }, true);
        if (!this.worker)
            return this.hashHere();
        while (this.outstanding > 0 && !this.failure)
            await this.waitForAck();
        if (this.failure)
            throw this.failure;
        const worker = this.worker;
        const answer = await new Promise(resolve => {
            this.result = resolve;
            worker.postMessage({ end: true });
        });
        await this.stop();
        if ('digest' in answer)
            return answer.digest;
        throw this.failure ?? new Error('the hashing thread answered nothing');
    }
    async stop() {
        await this.worker?.terminate();
    }
    hashHere() {
        const { batch, end } = batchHasher(rangeReader, fillRecipe);
        for (const b of this.held.splice(0)) {
            const answer = batch(b);
            if ('failed' in answer) {
                this.answer(answer);
                throw this.failure ?? new Error('the tar could not be hashed');
            }
        }
        const last = end();
        if ('digest' in last)
            return last.digest;
        throw new Error('the tar could not be hashed');
    }
    /** Sends a batch to the thread, started once more than HELD_BATCHES were cut; `last` ends. */
    async send(batch, last = false) {
        if (!this.worker) {
            this.held.push(batch);
            if (last || this.held.length <= HELD_BATCHES)
                return;
        }
        const worker = this.started();
        for (const b of this.held.length ? this.held.splice(0) : [batch]) {
            while (this.outstanding >= this.ahead() && !this.failure)
                await this.waitForAck();
            if (this.failure)
                throw this.failure;
            worker.postMessage(b, [b.block, b.files]);
            this.outstanding++;
        }
    }
    ahead() {
        return this.answered ? BATCHES_AHEAD : BATCHES_AHEAD_AT_START;
    }
    waitForAck() {
        return new Promise(resolve => (this.wake = resolve));
    }
    answer(a) {
        if ('ack' in a) {
            this.answered = true;
            this.outstanding--;
            // The blocks of the start's extra batches are left to the collector.
            if (this.spare.length <= BATCHES_AHEAD)
                this.spare.push(a.ack);
        }
        else if ('failed' in a)
            this.fail(recipeFailureError(this.input, a.failed));
        else
            this.result?.(a);
        const wake = this.wake;
        this.wake = undefined;
        wake?.();
    }
    fail(err) {
        this.failure ??= err;
        this.result?.({ failed: { path: '', changed: false, message: err.message } });
        const wake = this.wake;
        this.wake = undefined;
        wake?.();
    }
}

;// CONCATENATED MODULE: ./src/build/layer/walk.ts
/**
 * The entries of a layer built from a directory or a file: paths in the image, in the order
 * `tar --sort=name` writes them, with what the run itself writes left out.
 */




function treeEntry(name, abs, followLink = false) {
    return { name, abs, followLink };
}
/** `usr/local/app` → entries for `usr` and `usr/local`, so the tar needs nothing from a base. */
function parentEntries(name) {
    const parts = name.split('/');
    const out = [];
    for (let i = 1; i < parts.length; i++)
        out.push(treeEntry(parts.slice(0, i).join('/')));
    return out;
}
/** A DEST as a tar name: normalised, no leading or trailing '/', '' for the root. */
function imagePath(dest) {
    return external_node_path_namespaceObject.posix.normalize(dest).replace(/^\/+/, '').replace(/\/+$/, '');
}
/** The prefix by which the image format marks a whiteout: an entry that deletes a lower layer's path. */
const WHITEOUT_PREFIX = '.wh.';
const WHITEOUT_HARM = `a name starting with ${WHITEOUT_PREFIX} would be a whiteout that deletes the base image's ` +
    `file at that path; rename it`;
/**
 * Refuses a DEST or a single file's name holding a whiteout name: a layer built from files must
 * never delete anything of the base by accident.
 */
function refuseWhiteoutPath(input, name) {
    if (name.split('/').some(part => part.startsWith(WHITEOUT_PREFIX)))
        throw layerError(input, `"/${name}" in the image: ${WHITEOUT_HARM}`);
}
/** Where a path really is; for a path not made yet, where it would be. */
async function canonicalPath(p) {
    const abs = external_node_path_namespaceObject.resolve(p);
    try {
        return await promises_namespaceObject.realpath(abs);
    }
    catch {
        try {
            return external_node_path_namespaceObject.join(await promises_namespaceObject.realpath(external_node_path_namespaceObject.dirname(abs)), external_node_path_namespaceObject.basename(abs));
        }
        catch {
            return abs;
        }
    }
}
/**
 * The paths a directory layer leaves out: the store's root and `patterns`, each resolved to where
 * it really is so that a symlink on the way to either side still matches.
 */
async function resolveExclusions(storeRoot, patterns) {
    const exact = new Set([await canonicalPath(storeRoot)]);
    const prefixes = [];
    for (const p of patterns) {
        if (p.endsWith('*')) {
            // Canonicalise the directory part only: the rest is a name prefix, not a path.
            const stem = p.slice(0, -1);
            const dir = stem.endsWith('/') ? stem : external_node_path_namespaceObject.dirname(stem);
            const real = await canonicalPath(dir);
            prefixes.push(stem.endsWith('/') ? real.replace(/\/*$/, '/') : external_node_path_namespaceObject.join(real, external_node_path_namespaceObject.basename(stem)));
        }
        else
            exact.add(await canonicalPath(p));
    }
    const has = (abs) => exact.has(abs) || prefixes.some(pre => abs.startsWith(pre));
    // An entry of DIR (DIR/NAME) is an exact path only if that path's parent is DIR, and starts
    // with a prefix only if the prefix starts with DIR/, or DIR/ starts with the prefix.
    const exactParents = new Set([...exact].map(e => external_node_path_namespaceObject.dirname(e)));
    const mayHoldAny = (dir) => {
        const under = dir.endsWith(external_node_path_namespaceObject.sep) ? dir : dir + external_node_path_namespaceObject.sep;
        return (exactParents.has(dir) || prefixes.some(pre => pre.startsWith(under) || under.startsWith(pre)));
    };
    return {
        has,
        covers: abs => has(abs) || [...exact].some(e => abs.startsWith(e.endsWith('/') ? e : `${e}/`)),
        mayHoldAny
    };
}
/**
 * Every path under the source directory, with DEST and its parents, depth first: each directory
 * just before its contents, and the names in a directory in byte order (as `tar --sort=name`).
 * Directories are read one at a time as the tar is written, so a tree costs the memory of the
 * directories on one path down it, not of a list of every file in it.
 */
function* walkTree(input, excluded, root) {
    const top = input.realSource;
    if (root) {
        yield* parentEntries(root);
        yield treeEntry(root, top, true);
    }
    yield* walkDirectory(input, excluded, top, root);
}
function* walkDirectory(input, excluded, abs, name) {
    const children = sortedChildren(input, abs);
    const mayExclude = excluded.mayHoldAny(abs);
    for (const child of children) {
        const base = child.name;
        const childAbs = childPath(abs, base);
        // Building from '.' into a layout under '.' must not swallow the layer being written.
        if ((mayExclude && excluded.has(childAbs)) || child.isSocket())
            continue;
        if (base.startsWith(WHITEOUT_PREFIX))
            throw layerError(input, `"${shownPath(input, childAbs)}": ${WHITEOUT_HARM}`);
        const childName = name ? `${name}/${base}` : base;
        yield treeEntry(childName, childAbs);
        if (child.isDirectory())
            yield* walkDirectory(input, excluded, childAbs, childName);
    }
}
/**
 * A child's path: its directory's (absolute, normalised: a real path or one built here) and its
 * name. Not path.join, whose result is built a character run at a time: 100,000 paths of about 10
 * parts each held 63 MB of heap in a test script, about 600 bytes a path. A deferred file's path
 * is held until its recipe is cut (up to a thousand at a time); the builds measured no
 * difference.
 */
function childPath(dir, name) {
    return dir.endsWith(external_node_path_namespaceObject.sep) ? dir + name : dir + external_node_path_namespaceObject.sep + name;
}
/** Surrogates: the one place where text's order (UTF-16 units) and UTF-8's bytes disagree. */
const SURROGATE = /[\uD800-\uDFFF]/;
/**
 * A directory's entries in byte order, as `tar --sort=name`. Read as text, which costs far less
 * than a Buffer a name; a name that is not UTF-8 reads as U+FFFD, and then the directory is read
 * again as bytes to tell whether one is, and name it. Without surrogates (names beyond U+FFFF),
 * comparing the text orders names as their UTF-8 bytes do.
 */
function sortedChildren(input, abs) {
    let children;
    try {
        children = external_node_fs_namespaceObject.readdirSync(abs, { withFileTypes: true });
    }
    catch (err) {
        throw fileSystemError(input, abs, err);
    }
    if (children.some(c => c.name.includes('\uFFFD')))
        refuseNonUtf8Names(input, abs);
    if (children.some(c => SURROGATE.test(c.name)))
        children.sort((a, b) => Buffer.compare(Buffer.from(a.name), Buffer.from(b.name)));
    else
        children.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    return children;
}
/** Fails, naming it, on the first name in the directory that is not valid UTF-8. */
function refuseNonUtf8Names(input, abs) {
    let raw;
    try {
        // As bytes: a name that is not UTF-8 would otherwise be mangled into one that does not exist.
        raw = external_node_fs_namespaceObject.readdirSync(abs, { encoding: 'buffer' });
    }
    catch (err) {
        throw fileSystemError(input, abs, err);
    }
    raw.sort(Buffer.compare);
    for (const name of raw)
        if (!Buffer.from(name.toString('utf8'), 'utf8').equals(name))
            throw layerError(input, `the name "${escapeBytes(name)}" under "${shownPath(input, abs)}" is not valid UTF-8, which layer paths must be; rename it`);
}

;// CONCATENATED MODULE: ./src/build/layer/index.ts
/**
 * Builds one layer from a line of the `layers` input: a directory or a file written into a tar,
 * or a tarball kept or recompressed; stored in the run's blob store under its digest, with the
 * validator's findings made on the way.
 */
























/**
 * Files up to this size are read by the main thread (into a slab, copied into the recipe), larger
 * ones by the compressor's threads. With every file deferred, 100,000 files of up to 1 KiB made
 * the main thread's young generation grow to 64 MiB (it walked them so fast) and the build peak
 * at 155-170 MiB; read here, 128-140 MiB in 35 runs of 37 (155 and 158 MiB in the other two),
 * 15% slower. On the benchmark's 200 MB tree the threads then have less to do and
 * the build is as fast or faster (1.07-1.19 s, 1.19-1.42 s); 16 KiB did as well as 64.
 */
const READ_HERE = 64 * 1024;
/** What one tar entry is counted as for memory relief, beyond its bytes. */
const ENTRY_GARBAGE = 8 * 1024;
async function buildLayer(input, store, opts) {
    const settings = settle(opts);
    const content = await layerContent(input, store, opts);
    const built = content.kind === 'tarball'
        ? await tarballLayer(input, store, settings, content.size)
        : await tarLayer(content.input, store, settings, content);
    return { ...built, comment: layerRecipe(settings.compression, settings.level) };
}
/**
 * The first pass of a layer when a cache may hold it: its tar written and hashed, not compressed
 * nor stored, with the validator's entry checks run on the way. None for a tarball (kept as it
 * is, it costs no compression to begin with).
 */
async function layerDiffPass(input, store, opts) {
    const settings = settle(opts);
    const content = await layerContent(input, store, opts);
    if (content.kind === 'tarball')
        return undefined;
    // The files' bytes are read and hashed on a thread of their own while this one walks the tree
    // and writes the tar's headers (tree-hash.ts).
    const hasher = new TreeHasher(content.input, opts.hashThreads);
    const { pack, check, written } = packEntries(content.input, settings, content.entries, (abs, size) => hasher.deferred(abs, size));
    const hashed = (async () => {
        try {
            for await (const chunk of pack)
                await hasher.chunk(chunk);
        }
        catch (err) {
            pack.destroy(err);
            throw err;
        }
    })();
    const results = await Promise.allSettled([hashed, written]);
    const failed = results.find(r => r.status === 'rejected');
    let diffId;
    try {
        if (failed)
            throw failed.reason;
        diffId = await hasher.digest();
    }
    catch (err) {
        pack.destroy();
        await hasher.stop();
        throw err instanceof LadingError ? err : layerError(content.input, errors_messageOf(err));
    }
    return {
        diffId,
        createdBy: content.createdBy,
        comment: layerRecipe(settings.compression, settings.level),
        scan: layer => check.result(layer)
    };
}
function settle(opts) {
    const seconds = opts.mtime.getTime() / 1000;
    // tar-stream writes mtime as a signed 32-bit count of seconds.
    if (!(seconds >= 0 && seconds < 2 ** 31))
        throw new LadingError(`layers: timestamp ${Number.isNaN(seconds) ? '(invalid date)' : opts.mtime.toISOString()} is outside the range a layer can hold (1970-01-01 to 2038-01-19)`);
    return {
        ...opts,
        level: compress_compressionLevel(opts.compression, opts.level),
        slabs: opts.slabs ?? new SlabPool()
    };
}
async function layerContent(input, store, opts) {
    let st;
    const located = { ...input };
    try {
        st = await promises_namespaceObject.stat(input.source);
        // Real paths on both sides, so a symlink on the way to either still lets exclusions match.
        located.realSource = await promises_namespaceObject.realpath(input.source);
    }
    catch (err) {
        throw fileSystemError(input, input.source, err);
    }
    const excluded = await resolveExclusions(store.root, opts.exclude ?? []);
    if (excluded.covers(located.realSource))
        throw layerError(input, `"${input.source}" is part of what this run writes (the output layout, archive or report); build layers from other paths`);
    if (st.isDirectory()) {
        const root = imagePath(input.dest ?? '/');
        refuseWhiteoutPath(located, root);
        const entries = walkTree(located, excluded, root);
        const createdBy = `lading: COPY ${shownSource(input.source)} /${root}`;
        return { kind: 'entries', input: located, entries, createdBy };
    }
    if (!st.isFile())
        throw layerError(input, `"${input.source}" is not a directory, a regular file or a tarball; only those can become layers`);
    if (isTarballName(input.source)) {
        if (input.dest !== undefined)
            throw layerError(input, `a tarball is used as a layer as it is, so it takes no DEST; write "${input.source}" alone or repack it`);
        if (input.chown || input.chmod !== undefined)
            throw layerError(input, 'a tarball is used as a layer as it is, so it takes no --chown or --chmod; its entries keep their owners and modes');
        return { kind: 'tarball', size: st.size };
    }
    return singleFileContent(located, st.size);
}
function singleFileContent(input, size) {
    let dest = input.dest ?? '/';
    if (dest.endsWith('/'))
        dest += external_node_path_namespaceObject.basename(input.source);
    const name = imagePath(dest);
    if (!name)
        throw layerError(input, `DEST "${input.dest}" names the root directory, not a file`);
    refuseWhiteoutPath(input, name);
    const entries = [
        ...parentEntries(name),
        { name, abs: input.realSource, followLink: true }
    ];
    const createdBy = `lading: COPY ${shownSource(input.source)} /${name}`;
    return { kind: 'entries', input, entries, createdBy, size };
}
/** The tar of the entries being written into a pack, checked entry by entry. */
function packEntries(input, settings, entries, deferBody, readUpTo) {
    const pack = tar_stream.pack();
    // A failure to read the tree destroys the pack with it; it is reported through `written`.
    pack.on('error', () => { });
    const check = settings.checks.entries();
    const written = writeEntries(input, pack, entries, {
        mtime: settings.mtime,
        slabs: settings.slabs,
        owner: input.chown,
        chmod: input.chmod,
        platform: settings.platform,
        deferBody,
        readUpTo,
        onHeader: h => {
            check.entry(h);
            // Each entry leaves a few KiB of objects (header, tar-stream sink, promises) besides its
            // bytes, which for trees of small files is most of the garbage. Where bytes go through
            // reused buffers only (deferBody: a diff pass, a gzip build's recipes) what is left is the
            // objects, which the young generation's collections take; counted, they started a full
            // collection every 2,000 entries, 10-20 ms each, for nothing (nor did counting them lower
            // the peak of a gzip build of 100,000 files, measured).
            if (!deferBody)
                settings.relief?.moved(ENTRY_GARBAGE);
        }
    }).then(() => pack.finalize(), (err) => {
        pack.destroy(err);
        throw err;
    });
    return { pack, check, written };
}
/** A layer written as a tar from the entries, checked entry by entry, compressed and stored. */
async function tarLayer(input, store, settings, content) {
    const members = recipeCompressor(settings.compression, settings.level, settings.compressors);
    if (members)
        return recipeLayer(input, store, settings, content, members);
    const { entries, createdBy, size: total } = content;
    const { pack, check, written } = packEntries(input, settings, entries);
    const compressed = settings.compression !== 'none';
    // Memory relief counts the garbage a build leaves: gzip gives the tar's chunks back to the pool
    // (they are not garbage), its members are; a tar stored as it is leaves its chunks behind.
    const gzip = settings.compression === 'gzip';
    const diffHash = new HashingStream('sha256', gzip ? undefined : settings.relief);
    const digestHash = compressed ? new HashingStream('sha256', settings.relief) : diffHash;
    const counted = settings.progress
        ? [countingStage(settings.progress(layerName(input), total))]
        : [];
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
        : [...counted, diffHash];
    await streamToBlob(store, {
        source: packInChunks(pack, settings.slabs),
        stages,
        concurrentWork: [written],
        stopConcurrentWork: () => pack.destroy(new Error('layer output failed')),
        digest: digestHash,
        storeError: err => layerError(input, `writing the layer into ${store.root}: ${errors_messageOf(err)}`)
    });
    const built = builtLayerOf(settings.compression, hashed(digestHash), diffHash.digest(), createdBy);
    built.scan = check.result({ ...built.descriptor, diffId: built.diffId });
    return built;
}
/**
 * A gzip layer whose 1 MiB blocks the libdeflate threads make from recipes, reading the files
 * themselves (tar-recipes.ts): this thread walks the tree, writes the tar's headers, hashes the tar
 * and the layer, and writes each member into the store's temp file with a synchronous write (of
 * a file in the page cache: cheaper than a round through libuv's pool, and the member's buffer
 * goes straight back to the compressor, leaving no garbage). The bytes are those of the streamed
 * build.
 */
async function recipeLayer(input, store, settings, content, members) {
    const { entries, createdBy, size: total } = content;
    const cutter = new RecipeCutter(GZIP_BLOCK, () => members.recipeBuffer());
    const { pack, check, written } = packEntries(input, settings, entries, (abs, size) => cutter.deferred(abs, size), READ_HERE);
    written.catch(() => { });
    const storeError = (err) => layerError(input, `writing the layer into ${store.root}: ${errors_messageOf(err)}`);
    const diffHash = (0,external_node_crypto_namespaceObject.createHash)('sha256');
    const digestHash = (0,external_node_crypto_namespaceObject.createHash)('sha256');
    const task = settings.progress?.(layerName(input), total);
    const tmp = store.tempPath();
    let fd = -1;
    let size = 0;
    let digest;
    try {
        try {
            fd = external_node_fs_namespaceObject.openSync(tmp, 'w');
        }
        catch (err) {
            throw storeError(err);
        }
        const tar = recipeBlocks(input, pack, cutter, members, c => settings.slabs.release(c));
        for await (const made of tar) {
            diffHash.update(made.block);
            digestHash.update(made.member);
            try {
                writeWhole(fd, made.member);
            }
            catch (err) {
                throw storeError(err);
            }
            size += made.member.length;
            task?.advance(made.block.length);
            made.done();
        }
        await written;
        digest = 'sha256:' + digestHash.digest('hex');
        try {
            external_node_fs_namespaceObject.closeSync(fd);
            fd = -1;
            await store.commit(tmp, digest);
        }
        catch (err) {
            throw storeError(err);
        }
    }
    catch (err) {
        pack.destroy();
        // The walk's own error (a file gone, a name refused) says more than what it broke.
        const walk = await written.then(() => undefined, (e) => e);
        if (fd >= 0)
            external_node_fs_namespaceObject.closeSync(fd);
        await promises_namespaceObject.rm(tmp, { force: true });
        const first = walk instanceof LadingError ? walk : err;
        throw first instanceof LadingError ? first : layerError(input, errors_messageOf(first));
    }
    finally {
        if (!settings.compressors)
            await members.close();
    }
    const built = builtLayerOf('gzip', { digest, size }, 'sha256:' + diffHash.digest('hex'), createdBy);
    built.scan = check.result({ ...built.descriptor, diffId: built.diffId });
    return built;
}
/** Writes all of `data` at the file's position, however many calls it takes. */
function writeWhole(fd, data) {
    for (let at = 0; at < data.length;)
        at += external_node_fs_namespaceObject.writeSync(fd, data, at, data.length - at);
}

;// CONCATENATED MODULE: ./src/transports/spec.ts



/**
 * Transports of other tools (skopeo, podman) that a user may write out of habit. Named here so
 * `dir:x` gets a clear answer instead of being read as the Docker Hub image "dir" with tag "x".
 */
const FOREIGN_TRANSPORTS = new Set(['dir', 'containers-storage', 'ostree', 'sif', 'tarball']);
const USE = 'use scratch, oci:, oci-archive:, docker-archive:, docker-daemon: or a registry reference';
/**
 * Splits `PATH[:REF]` of the layout transports. A path may itself contain ':', so the part after
 * the last ':' is a REF only when it could not be part of a path (no '/' or '\'), or when the
 * path ends with a whole digest.
 */
function splitPathRef(rest) {
    const i = rest.lastIndexOf(':');
    // A digest REF has a ':' of its own.
    const digestStart = i > 0 ? rest.lastIndexOf(':', i - 1) : -1;
    if (digestStart > 0 && isDigest(rest.slice(digestStart + 1)))
        return { path: rest.slice(0, digestStart), ref: rest.slice(digestStart + 1) };
    if (i > 0) {
        const after = rest.slice(i + 1);
        if (!/[/\\]/.test(after)) {
            const path = rest.slice(0, i);
            return after ? { path, ref: after } : { path };
        }
    }
    return { path: rest };
}
/**
 * `docker-archive:PATH[:REPO:TAG]`, as skopeo writes it. The reference may contain '/' and ':',
 * so the path ends at the first ':' after which a valid reference follows.
 */
function splitPathDockerRef(rest) {
    for (let i = rest.indexOf(':'); i > 0; i = rest.indexOf(':', i + 1)) {
        const ref = rest.slice(i + 1);
        if (!ref)
            return { path: rest.slice(0, i) };
        try {
            parseReference(ref);
            return { path: rest.slice(0, i), ref };
        }
        catch {
            // not a reference: this ':' belongs to the path
        }
    }
    return { path: rest };
}
function parseSourceSpec(line) {
    const s = line.trim();
    if (!s)
        throw new LadingError(`from: is empty; ${USE}`);
    if (s === 'scratch')
        return { kind: 'scratch' };
    for (const kind of ['oci-archive', 'oci', 'docker-archive']) {
        const prefix = `${kind}:`;
        if (!s.startsWith(prefix))
            continue;
        const rest = s.slice(prefix.length);
        const parts = kind === 'docker-archive' ? splitPathDockerRef(rest) : splitPathRef(rest);
        if (!parts.path)
            throw new LadingError(`from: "${line}": ${kind}: needs a path, as in ${kind}:./image`);
        return { kind, ...parts };
    }
    if (s.startsWith('docker-daemon:')) {
        const image = s.slice('docker-daemon:'.length).trim();
        // Docker takes a name, a name:tag, a name@digest or an image ID; a flag would be read as one.
        if (!image || image.startsWith('-') || /\s/.test(image))
            throw new LadingError(`from: "${line}": docker-daemon: needs an image of the local Docker, as in docker-daemon:app:1`);
        return { kind: 'docker-daemon', image };
    }
    if (s.startsWith('docker://')) {
        parseReference(s);
        return { kind: 'registry', reference: s.slice('docker://'.length) };
    }
    const word = /^([A-Za-z][A-Za-z0-9+_-]*):/.exec(s)?.[1];
    if (word && FOREIGN_TRANSPORTS.has(word))
        throw new LadingError(`from: "${line}": unknown transport "${word}"; ${USE}`);
    try {
        parseReference(s);
    }
    catch (err) {
        // A bare word before ':' that is not a host (no '.', not localhost) reads as a transport.
        if (word && word !== 'localhost')
            throw new LadingError(`from: "${line}": unknown transport "${word}"; ${USE}`);
        throw err;
    }
    return { kind: 'registry', reference: s };
}

;// CONCATENATED MODULE: ./src/app/cache-from.ts
/** The `cache-from` input: images whose layers a build may reuse, one a line. */



/**
 * Each line read as a `from` line is (a registry reference, `oci:`, `oci-archive:`,
 * `docker-archive:`), or as docker/build-push-action writes its `cache-from`: `type=registry,
 * ref=REF` is REF, `type=local,src=DIR` the OCI layout DIR. A cache of another type (`gha`, `s3`,
 * ...) is BuildKit's own format: the line is left out with a warning, as an unreadable image is.
 * A line that names no image is a usage error.
 */
function parseCacheFrom(value, 
/** Sees each line that is not in buildx's form before it is read as a `from` line. */
checkLine = () => { }) {
    const out = { images: [], skipped: [] };
    for (const line of parseList(value)) {
        const named = buildxLine(line);
        if (named && 'why' in named) {
            out.skipped.push({ line, why: named.why });
            continue;
        }
        if (!named)
            checkLine(line);
        let spec;
        try {
            spec = parseSourceSpec(named ? named.source : line);
        }
        catch (err) {
            if (!(err instanceof LadingError))
                throw err;
            const message = err.message.replace(/^from: /, '');
            // A line in buildx's form is named whole: the reference alone may not show where it was.
            throw new LadingError(`cache-from: ${named ? `${quoted(line)}: ` : ''}${message}`);
        }
        if (spec.kind === 'scratch')
            throw new LadingError('cache-from: "scratch" has no layers; name an image');
        out.images.push({ line, spec });
    }
    return out;
}
/** A name for a line in an error: JSON-quoted, which shows stray spaces and control bytes. */
function quoted(line) {
    return JSON.stringify(line);
}
/**
 * A line in buildx's form, `key=value` pairs split by commas with `type` or `ref` among them:
 * the source it names, or why it is left out. Undefined for any other line (an image reference
 * has no `=` in its first comma-separated part).
 */
function buildxLine(line) {
    const parts = line.split(',');
    if (!/^(type|ref|src)=/.test(parts[0]))
        return undefined;
    const attrs = new Map();
    for (const part of parts) {
        const eq = part.indexOf('=');
        if (eq <= 0)
            throw new LadingError(`cache-from: ${quoted(line)}: "${part.trim()}" is not key=value, as in type=registry,ref=IMAGE`);
        const key = part.slice(0, eq).trim();
        if (attrs.has(key))
            throw new LadingError(`cache-from: ${quoted(line)}: "${key}" is given twice`);
        attrs.set(key, part.slice(eq + 1).trim());
    }
    const type = attrs.get('type') ?? (attrs.has('src') ? 'local' : 'registry');
    const need = (key) => {
        const v = attrs.get(key);
        if (!v)
            throw new LadingError(`cache-from: ${quoted(line)}: type=${type} needs ${key}=`);
        return v;
    };
    if (type === 'registry')
        return { source: need('ref') };
    if (type === 'local')
        return { source: `oci:${need('src')}` };
    return {
        why: `type=${type} is a BuildKit cache store, which Lading cannot read; ` +
            'name the previous push (type=registry,ref=IMAGE, or the image itself) instead'
    };
}

;// CONCATENATED MODULE: ./src/app/attach-input.ts
/**
 * The `attach` input: one `PATH[:ARTIFACT_TYPE]` a line, each file to become an OCI 1.1 artifact
 * whose subject is the image. Without a type, the file's name says what it most likely is.
 */





const MEDIA_TYPE = /^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}\/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}$/;
/** Media types by the end of a file name, the more specific suffixes first. */
const BY_SUFFIX = [
    ['.spdx.json', 'application/spdx+json'],
    ['.cdx.json', 'application/vnd.cyclonedx+json'],
    ['.intoto.jsonl', 'application/vnd.in-toto+json'],
    ['.sigstore.json', 'application/vnd.dev.sigstore.bundle.v0.3+json'],
    ['.sarif', 'application/sarif+json'],
    ['.json', 'application/json'],
    ['.txt', 'text/plain'],
    ['.md', 'text/markdown'],
    ['.html', 'text/html'],
    ['.xml', 'application/xml'],
    ['.tar.gz', 'application/gzip'],
    ['.tgz', 'application/gzip'],
    ['.zip', 'application/zip']
];
function guessMediaType(file) {
    const name = external_node_path_namespaceObject.basename(file).toLowerCase();
    return BY_SUFFIX.find(([suffix]) => name.endsWith(suffix))?.[1] ?? 'application/octet-stream';
}
function parseAttach(value, cwd) {
    return parseList(value).map(line => {
        // The type follows the last colon when it is one; otherwise the colon belongs to the path.
        // A drive's colon (`C:\sbom.json`) is the path's.
        const colon = line.lastIndexOf(':');
        const split = colon > 0 && colon >= driveLength(line);
        const typed = split && MEDIA_TYPE.test(line.slice(colon + 1));
        const file = external_node_path_namespaceObject.resolve(cwd, typed ? line.slice(0, colon) : line);
        const mediaType = typed ? line.slice(colon + 1) : guessMediaType(file);
        if (!typed && split && !external_node_fs_namespaceObject.existsSync(file))
            throw new LadingError(`attach: "${line.slice(colon + 1)}" in "${line}" is not a media type (type/subtype, RFC 6838)`);
        let st;
        try {
            st = external_node_fs_namespaceObject.statSync(file);
        }
        catch {
            throw new LadingError(`attach: "${line}": the file ${file} does not exist`);
        }
        if (!st.isFile())
            throw new LadingError(`attach: "${line}": ${file} is not a regular file`);
        return { path: file, mediaType };
    });
}

;// CONCATENATED MODULE: ./src/app/plan.ts















/** Where the JSON report of a run goes: beside the layout, never inside it. */
function reportPath(output) {
    return external_node_path_namespaceObject.join(external_node_path_namespaceObject.dirname(output), `${external_node_path_namespaceObject.basename(output)}-report.json`);
}
/** Turns raw inputs (defaults applied) into a plan, or throws a LadingError naming the input. */
function makePlan(raw, env = process.env, cwd = process.cwd()) {
    const from = parseFrom(raw, cwd);
    const platforms = parsePlatforms(raw);
    const layers = parseList(raw.layers).map(l => parseLayerSpec(l));
    const config = parseConfigEdits(raw);
    const annotations = parseAnnotations(parseList(raw.annotations));
    const created = parseCreated(raw.created, env, cwd);
    const compression = parseCompression(raw.compression);
    const compressionLevel = raw['compression-level'].trim()
        ? compress_compressionLevel(compression, raw['compression-level'])
        : undefined;
    const outputs = parseOutputs(raw, env, cwd);
    const refName = raw['ref-name'].trim() || 'latest';
    if (!isLayoutRefName(refName))
        throw new LadingError(`ref-name: "${refName}" does not match the ref.name grammar of the OCI image layout`);
    const failOn = parseFailOn(raw['fail-on']);
    const targets = parseTargets(raw);
    if (from[0].spec.kind === 'scratch' && layers.length === 0)
        throw new LadingError('layers: is empty and from is scratch, which would make an image with no filesystem ' +
            '(the OCI manifest needs at least one layer); give SOURCE[:DEST] lines, or a base image in from');
    return {
        from,
        platforms,
        layers,
        config,
        annotations,
        defaultAnnotations: defaultAnnotationsOf(created, env),
        created,
        compression,
        compressionLevel,
        ...outputs,
        refName,
        failOn,
        ...targets,
        ...cacheFromOf(raw['cache-from'], cwd),
        attach: parseAttach(raw.attach, cwd),
        summary: parseBool('summary', raw.summary),
        auth: {
            username: raw.username.trim() || undefined,
            password: raw.password || undefined,
            githubToken: raw['github-token'].trim() || undefined,
            insecureRegistries: parseList(raw['insecure-registries'], { commas: true }),
            credentialsRegistries: [...new Set(targets.tags.map(t => t.registry))]
        }
    };
}
/**
 * `image.tar` or `./build/layout` are not registry names; a local path is what was meant, and
 * the line is told to say which transport reads it.
 */
function notLocalPath(key, line, cwd) {
    if (/^(oci|oci-archive|docker-archive|docker-daemon|docker):/.test(line))
        return;
    // A name ending as a tarball does, unless what follows its last ':' is an image's tag.
    const tarName = isTarballName(line) && !/:[^/]*$/.test(line);
    if (!/^\.{0,2}\//.test(line) && !tarName)
        return;
    const local = external_node_path_namespaceObject.resolve(cwd, line);
    const st = external_node_fs_namespaceObject.statSync(local, { throwIfNoEntry: false });
    if (st?.isDirectory())
        throw new LadingError(`${key}: "${line}" looks like a local directory; write oci:${line} for an OCI layout`);
    if (st || tarName)
        throw new LadingError(`${key}: "${line}" looks like a local file; write oci-archive:${line} or docker-archive:${line}`);
    throw new LadingError(`${key}: "${line}" looks like a local path, where there is nothing yet; write oci:${line} for an OCI layout, oci-archive:${line} or docker-archive:${line} for a tarball`);
}
/** The `from` lines; scratch when none. A local path is told to say which transport it is. */
function parseFrom(raw, cwd) {
    const from = parseList(raw.from).map(line => {
        notLocalPath('from', line, cwd);
        return { line, spec: parseSourceSpec(line) };
    });
    if (from.length === 0)
        from.push({ line: 'scratch', spec: { kind: 'scratch' } });
    if (from.length > 1 && from.some(f => f.spec.kind === 'scratch'))
        throw new LadingError('from: "scratch" cannot be merged with other sources; give it alone');
    return from;
}
function parsePlatforms(raw) {
    const platforms = parseList(raw.platforms, { commas: true }).map(p => {
        try {
            return parsePlatform(p);
        }
        catch (err) {
            throw new LadingError(`platforms: ${err.message}`);
        }
    });
    platforms.forEach((p, i) => {
        const twin = platforms.findIndex(q => platformsEqual(p, q));
        if (twin < i)
            throw new LadingError(`platforms: ${formatPlatform(p)} is given twice (as ${formatPlatform(platforms[twin])} too)`);
    });
    return platforms;
}
/** entrypoint, cmd, env, workdir, user, labels and exposed-ports, as config edits. */
function parseConfigEdits(raw) {
    const config = { env: [], labels: {}, exposedPorts: [] };
    if (raw.entrypoint.trim())
        config.entrypoint = parseCommand(raw.entrypoint, 'entrypoint');
    if (raw.cmd.trim())
        config.cmd = parseCommand(raw.cmd, 'cmd');
    for (const line of parseList(raw.env)) {
        const eq = line.indexOf('=');
        if (eq <= 0)
            throw new LadingError(`env: "${line}" is not KEY=VALUE`);
        if (/[\s]/.test(line.slice(0, eq)))
            throw new LadingError(`env: "${line}": the name "${line.slice(0, eq)}" has white space`);
        config.env.push([line.slice(0, eq), line.slice(eq + 1)]);
    }
    if (raw.workdir.trim()) {
        const w = raw.workdir.trim();
        if (!w.startsWith('/'))
            throw new LadingError(`workdir: "${w}" must be an absolute path`);
        config.workdir = w;
    }
    if (raw.user.trim())
        config.user = raw.user.trim();
    for (const line of parseList(raw.labels)) {
        const [k, v] = keyValue(line, 'labels');
        config.labels[k] = v;
    }
    for (const p of parseList(raw['exposed-ports'], { commas: true })) {
        const m = /^(\d{1,5})(?:\/(tcp|udp|sctp))?$/i.exec(p);
        if (!m || Number(m[1]) < 1 || Number(m[1]) > 65535)
            throw new LadingError(`exposed-ports: "${p}" is not PORT or PORT/tcp|udp|sctp (1-65535)`);
        config.exposedPorts.push(`${Number(m[1])}/${(m[2] ?? 'tcp').toLowerCase()}`);
    }
    return config;
}
/** Where the run writes: the layout, the archive and its format, and whether Docker loads it. */
function parseOutputs(raw, env, cwd) {
    const output = external_node_path_namespaceObject.resolve(cwd, raw.output.trim() ||
        (env.RUNNER_TEMP ? external_node_path_namespaceObject.join(env.RUNNER_TEMP, 'lading', 'layout') : 'oci-layout'));
    const archive = raw.archive.trim() ? external_node_path_namespaceObject.resolve(cwd, raw.archive.trim()) : undefined;
    if (archive && (archive === output || archive.startsWith(output + external_node_path_namespaceObject.sep)))
        throw new LadingError(`archive: "${raw.archive}" must not be inside the output layout ${output}`);
    if (archive && archive === reportPath(output))
        throw new LadingError(`archive: "${raw.archive}" is where the validation report goes; choose another path`);
    const archiveFormat = raw['archive-format'].trim().toLowerCase() || 'oci';
    if (archiveFormat !== 'oci' && archiveFormat !== 'docker')
        throw new LadingError(`archive-format: "${raw['archive-format']}" is not oci or docker`);
    return { output, archive, archiveFormat, load: parseBool('load', raw.load) };
}
/** The tags, whether to push to them, and by digest; credentials come in pairs. */
function parseTargets(raw) {
    const pushByDigest = parseBool('push-by-digest', raw['push-by-digest']);
    const tags = parseList(raw.tags, { commas: true }).map(t => {
        let ref;
        try {
            ref = parseReference(t);
        }
        catch (err) {
            throw new LadingError(`tags: ${err.message}`);
        }
        if (ref.digest)
            throw new LadingError(`tags: "${t}" has a digest; give HOST/REPO:TAG`);
        if (!ref.tag && !pushByDigest)
            ref.tag = 'latest';
        return ref;
    });
    if (raw.username.trim() && !raw.password)
        throw new LadingError('username: is given without password; give both, or neither');
    if (raw.password && !raw.username.trim())
        throw new LadingError('password: is given without username; give both, or neither');
    // As docker/build-push-action: tags alone build for them; pushing is asked for.
    const push = parseBool('push', raw.push);
    if (pushByDigest && !push)
        throw new LadingError('push-by-digest: is true but push is not; give push: true to push by digest');
    if (push && tags.length === 0)
        throw new LadingError('push: is true but tags is empty; give the HOST/REPO:TAG references to push to');
    return { tags, push, pushByDigest };
}
/** The annotations Lading derives from the run (created) and the GitHub context; the user's win. */
function defaultAnnotationsOf(created, env) {
    const annotations = {
        'org.opencontainers.image.created': formatRFC3339(created)
    };
    if (env.GITHUB_REPOSITORY)
        annotations['org.opencontainers.image.source'] =
            `${env.GITHUB_SERVER_URL || 'https://github.com'}/${env.GITHUB_REPOSITORY}`;
    if (env.GITHUB_SHA)
        annotations['org.opencontainers.image.revision'] = env.GITHUB_SHA;
    return annotations;
}
function keyValue(line, input) {
    const eq = line.indexOf('=');
    if (eq <= 0)
        throw new LadingError(`${input}: "${line}" is not key=value`);
    return [line.slice(0, eq).trim(), line.slice(eq + 1)];
}
/** RFC 3339 or Unix seconds; default SOURCE_DATE_EPOCH, then HEAD's commit time, then the epoch. */
function parseCreated(value, env, cwd) {
    const v = value.trim();
    if (v)
        return parseTime(v, 'created');
    if (env.SOURCE_DATE_EPOCH?.trim())
        return parseTime(env.SOURCE_DATE_EPOCH.trim(), 'SOURCE_DATE_EPOCH');
    try {
        const out = (0,external_node_child_process_namespaceObject.execFileSync)('git', ['log', '-1', '--format=%ct'], {
            cwd: env.GITHUB_WORKSPACE || cwd,
            stdio: ['ignore', 'pipe', 'ignore'],
            timeout: 10000
        })
            .toString()
            .trim();
        if (/^\d+$/.test(out))
            return new Date(Number(out) * 1000);
    }
    catch {
        // Not a git repository, or git absent: fall through to the epoch, which is reproducible too.
    }
    return new Date(0);
}
function parseTime(v, input) {
    if (/^\d+$/.test(v))
        return new Date(Number(v) * 1000);
    const d = parseRFC3339(v, { space: true });
    if (d)
        return d;
    throw new LadingError(`${input}: "${v}" is neither RFC 3339 (2024-01-02T03:04:05Z) nor Unix seconds`);
}
function cacheFromOf(value, cwd) {
    const { images, skipped } = parseCacheFrom(value, line => notLocalPath('cache-from', line, cwd));
    return { cacheFrom: images, cacheFromSkipped: skipped };
}

;// CONCATENATED MODULE: ./src/transports/layout.ts
/**
 * An OCI image layout directory, read and written: `oci-layout`, `index.json`, and blobs at
 * `blobs/ALG/HEX`. The one place that knows where a blob's file is. Every blob written goes to a
 * temporary file while it is hashed, and is renamed into place only once its digest is known (and,
 * when one was expected, equal to it): a reader never sees a partial blob.
 */








/**
 * Bytes per read of a blob file: large reads mean few chunks through hashing, decompression and
 * the network.
 */
const BLOB_READ_CHUNK = 1024 * 1024;
/** Where a layout keeps its blobs while they are being written. */
const TEMP_DIR = '.lading-tmp';
class Layout {
    root;
    name;
    tmpDir;
    readChunk;
    relief;
    constructor(root, opts = {}) {
        this.root = root;
        this.name = opts.name ?? `oci:${root}`;
        this.tmpDir = external_node_path_namespaceObject.join(root, TEMP_DIR);
        this.readChunk = opts.readChunk ?? BLOB_READ_CHUNK;
        this.relief = opts.relief;
    }
    /** Where the layout keeps `digest` (`blobs/ALG/HEX`); the digest must be a registered one. */
    path(digest, where = `blob digest in ${this.name}`) {
        return blobPathIn(this.root, digest, where);
    }
    fileOf(digest) {
        return this.path(digest);
    }
    missing(desc) {
        return new LadingError(`blob ${desc.digest} (${desc.mediaType}) is missing from ${this.name}`);
    }
    async has(desc) {
        const digest = typeof desc === 'string' ? desc : desc.digest;
        try {
            return (await promises_namespaceObject.stat(this.path(digest))).isFile();
        }
        catch {
            return false;
        }
    }
    /** The blob's bytes, unverified (the caller hashes what it reads); opened before it resolves. */
    async open(desc) {
        const s = (0,external_node_fs_namespaceObject.createReadStream)(this.path(desc.digest), { highWaterMark: this.readChunk });
        // Open errors (a missing file, EACCES, EISDIR) surface here rather than mid-iteration.
        await new Promise((resolve, reject) => {
            s.once('ready', () => resolve());
            s.once('error', err => reject(err.code === 'ENOENT' ? this.missing(desc) : err));
        });
        return s;
    }
    /** A whole small blob, verified against its descriptor's digest and size. */
    async read(desc) {
        let data;
        try {
            data = await promises_namespaceObject.readFile(this.path(desc.digest));
        }
        catch {
            throw this.missing(desc);
        }
        const actual = digestOf(data, parseDigest(desc.digest).algorithm);
        if (actual !== desc.digest || data.length !== desc.size)
            throw new LadingError(`blob ${desc.digest} in ${this.name} is corrupt: it has ${data.length} bytes and digest ` +
                `${actual}; the descriptor says ${desc.size} bytes`);
        return data;
    }
    /** Makes the directories a layout being written needs. */
    async init() {
        await promises_namespaceObject.mkdir(external_node_path_namespaceObject.join(this.root, 'blobs', 'sha256'), { recursive: true });
        await promises_namespaceObject.mkdir(this.tmpDir, { recursive: true });
    }
    /** Removes the temporary area; called when the layout is complete. */
    async finish() {
        await promises_namespaceObject.rm(this.tmpDir, { recursive: true, force: true });
    }
    /** A fresh path in the temporary area, for writers that hash on their own. */
    tempPath() {
        return external_node_path_namespaceObject.join(this.tmpDir, (0,external_node_crypto_namespaceObject.randomBytes)(8).toString('hex'));
    }
    /** Moves a fully written and hashed temporary file to its content address. */
    async commit(tmp, digest) {
        const dest = this.path(digest);
        await promises_namespaceObject.mkdir(external_node_path_namespaceObject.dirname(dest), { recursive: true });
        await promises_namespaceObject.rename(tmp, dest);
    }
    /** Puts an already verified file at its content address: a hard link when it can, else a copy. */
    async linkOrCopy(file, digest) {
        const dest = this.path(digest);
        await promises_namespaceObject.mkdir(external_node_path_namespaceObject.dirname(dest), { recursive: true });
        try {
            await promises_namespaceObject.link(file, dest);
        }
        catch {
            const tmp = this.tempPath();
            await promises_namespaceObject.copyFile(file, tmp);
            await promises_namespaceObject.rename(tmp, dest);
        }
    }
    /** Streams `src` into the layout; verifies against `expected` when given. */
    async writeStream(src, expected, what = 'blob') {
        const algorithm = expected ? parseDigest(expected.digest).algorithm : 'sha256';
        const tmp = this.tempPath();
        const hasher = new HashingStream(algorithm, this.relief);
        try {
            await (0,external_node_stream_promises_namespaceObject.pipeline)(src, hasher, (0,external_node_fs_namespaceObject.createWriteStream)(tmp));
        }
        catch (err) {
            await promises_namespaceObject.rm(tmp, { force: true });
            throw new LadingError(`writing ${what} into ${this.root}: ${errors_messageOf(err)}`);
        }
        const digest = hasher.digest();
        if (expected && (digest !== expected.digest || hasher.size !== expected.size)) {
            await promises_namespaceObject.rm(tmp, { force: true });
            throw new LadingError(`${what} ${expected.digest}: content read has digest ${digest} and ${hasher.size} bytes, ` +
                `expected ${expected.size} bytes; the source is corrupt or was changed while being read`);
        }
        await this.commit(tmp, digest);
        return { digest, size: hasher.size };
    }
    async writeBuffer(data) {
        const digest = digestOf(data);
        const tmp = this.tempPath();
        try {
            await promises_namespaceObject.writeFile(tmp, data);
        }
        catch (err) {
            await promises_namespaceObject.rm(tmp, { force: true });
            throw err;
        }
        await this.commit(tmp, digest);
        return { digest, size: data.length };
    }
    /** Writes a JSON document (manifest, index, config) and returns its descriptor and bytes. */
    async writeJSON(value, mediaType) {
        const bytes = Buffer.from(JSON.stringify(value));
        const { digest, size } = await this.writeBuffer(bytes);
        return { mediaType, digest, size, bytes };
    }
    /** Writes `oci-layout` and `index.json`, the two files that make the directory a layout. */
    async writeIndex(manifests) {
        await writeLayoutIndex(this.root, manifests);
    }
}
/** Where a layout at `root` keeps the blob `digest` (`blobs/ALG/HEX`); the digest must be a registered one. */
function blobPathIn(root, digest, where = 'digest') {
    const { algorithm, encoded } = parseDigest(digest, where);
    return external_node_path_namespaceObject.join(root, 'blobs', algorithm, encoded);
}
/** Writes `oci-layout` and `index.json`, the two files that make a directory an OCI image layout. */
async function writeLayoutIndex(root, manifests) {
    await promises_namespaceObject.writeFile(external_node_path_namespaceObject.join(root, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
    const index = { schemaVersion: 2, mediaType: MediaType.ImageIndex, manifests };
    await promises_namespaceObject.writeFile(external_node_path_namespaceObject.join(root, 'index.json'), JSON.stringify(index));
}

;// CONCATENATED MODULE: ./src/oci/json.ts
/**
 * The one JSON reader for documents Lading did not write: it never throws on what it reads, and
 * says what JSON.parse silently accepts but I-JSON (RFC 7493) forbids. It returns reasons; the
 * validator maps them to its rule ids, and the transports turn a value-less result into an error.
 */

/**
 * The deepest nesting of arrays and objects Lading reads in a document. Manifests, indexes and
 * configs nest four or five levels (annotations and labels are flat maps); what reads a value
 * after it is parsed (JSON.stringify, structuredClone, the document rules) recurses once per
 * level, so a document nested thousands deep would overflow the stack there. Refused before it
 * is parsed, it is an error naming the document, never a stack trace.
 */
const MAX_JSON_DEPTH = 64;
/** Members that the OCI schemas type as integers: Go's decoder refuses `1.0` or `1e0` there. */
const INTEGER_MEMBERS = new Set(['schemaVersion', 'size']);
/** Beyond this many I-JSON problems in one document the rest are not listed. */
const MAX_SCAN_PROBLEMS = 20;
const utf8 = new TextDecoder('utf-8', { fatal: true });
function startsWithBOM(input) {
    return typeof input === 'string'
        ? input.startsWith('\uFEFF')
        : input.length >= 3 && input[0] === 0xef && input[1] === 0xbb && input[2] === 0xbf;
}
/** JSON.parse's verdict on the input, with the decoded text for the I-JSON scan. */
function parseText(input) {
    const problems = [];
    // TextDecoder drops a BOM silently, so it is looked for in the bytes.
    if (startsWithBOM(input)) {
        problems.push({
            kind: 'byte-order-mark',
            message: 'starts with a UTF-8 byte order mark, which JSON must not have (RFC 8259 section 8.1; Go readers reject it); remove the first 3 bytes'
        });
        return { problems };
    }
    let text;
    if (typeof input === 'string')
        text = input;
    else {
        try {
            text = utf8.decode(input);
        }
        catch {
            problems.push({ kind: 'not-utf8', message: 'the document is not valid UTF-8' });
            text = input.toString('utf8');
        }
    }
    const depth = jsonDepth(text);
    if (depth > MAX_JSON_DEPTH) {
        problems.push({
            kind: 'too-deep',
            message: `nests arrays and objects ${depth} levels deep, more than the ${MAX_JSON_DEPTH} (MAX_JSON_DEPTH) Lading reads; it was not read, so nothing it holds or references was checked`
        });
        return { problems };
    }
    try {
        return { value: JSON.parse(text), problems, text };
    }
    catch (err) {
        problems.push({ kind: 'invalid', message: `is not valid JSON: ${err.message}` });
        return { problems };
    }
}
/**
 * The deepest nesting of `[` and `{` in JSON text, brackets inside strings apart: one pass, no
 * recursion and no stack, so it is safe on any text (text that is not JSON gets a number too).
 */
function jsonDepth(text) {
    let depth = 0;
    let deepest = 0;
    let inString = false;
    for (let i = 0; i < text.length; i++) {
        const c = text.charCodeAt(i);
        if (inString) {
            if (c === 0x5c)
                i++;
            else if (c === 0x22)
                inString = false;
        }
        else if (c === 0x22)
            inString = true;
        else if (c === 0x5b || c === 0x7b)
            deepest = Math.max(deepest, ++depth);
        else if (c === 0x5d || c === 0x7d)
            depth--;
    }
    return deepest;
}
/** Parses a JSON document without throwing, and lists every I-JSON problem it has. */
function parseJSON(input) {
    const { value, problems, text } = parseText(input);
    if (text !== undefined)
        problems.push(...scanIJSON(text));
    return { value, problems };
}
/**
 * The value of a document that must be JSON, or a LadingError `${what} ${reason}`. Only what
 * JSON.parse refuses, a byte order mark and nesting deeper than MAX_JSON_DEPTH fail: reporting
 * I-JSON problems is the validator's.
 */
function parseJSONValue(input, what) {
    const parsed = parseText(input);
    if (parsed.text === undefined)
        throw new LadingError(`${what} ${parsed.problems[parsed.problems.length - 1].message}`);
    return parsed.value;
}
function isObject(v) {
    return typeof v === 'object' && v !== null && !Array.isArray(v);
}
function pathOf(state) {
    return state.path.join('.') || '(top level)';
}
function report(state, problem) {
    if (state.problems.length < MAX_SCAN_PROBLEMS)
        state.problems.push(problem);
}
/** Walks well-formed JSON text (JSON.parse accepted it) looking for I-JSON violations. */
function scanIJSON(text) {
    const state = { stack: [], path: [], problems: [] };
    const { stack, path } = state;
    let i = 0;
    const n = text.length;
    while (i < n) {
        const c = text[i];
        if (c === '{') {
            stack.push({ keys: new Set(), expectKey: true });
            i++;
        }
        else if (c === '[') {
            stack.push(undefined);
            i++;
        }
        else if (c === '}' || c === ']') {
            const top = stack.pop();
            if (top && !top.expectKey)
                path.pop();
            i++;
        }
        else if (c === ',') {
            const top = stack[stack.length - 1];
            if (top) {
                top.expectKey = true;
                path.pop();
            }
            i++;
        }
        else if (c === '"')
            i = scanString(text, i, state);
        else if (c === '-' || (c >= '0' && c <= '9'))
            i = scanNumber(text, i, state);
        else
            i++;
    }
    return state.problems;
}
/** A string at `i`: a name is checked against the names before it. Returns the index after it. */
function scanString(text, i, state) {
    let j = i + 1;
    while (j < text.length && text[j] !== '"')
        j += text[j] === '\\' ? 2 : 1;
    const top = state.stack[state.stack.length - 1];
    if (top && top.expectKey) {
        const key = JSON.parse(text.slice(i, j + 1));
        if (top.keys.has(key))
            report(state, {
                kind: 'duplicate-key',
                message: `name "${key}" appears twice in the object at ${pathOf(state)}`
            });
        top.keys.add(key);
        top.expectKey = false;
        state.path.push(key);
    }
    return j + 1;
}
/** A number at `i`. Returns the index after it. */
function scanNumber(text, i, state) {
    let j = i + 1;
    while (j < text.length && /[0-9eE.+-]/.test(text[j]))
        j++;
    const raw = text.slice(i, j);
    const top = state.stack[state.stack.length - 1];
    const key = top && !top.expectKey ? state.path[state.path.length - 1] : undefined;
    const integer = /^-?\d+$/.test(raw);
    if (key !== undefined && INTEGER_MEMBERS.has(key) && !integer)
        report(state, {
            kind: 'integer-form',
            message: `\`${key}\` at ${state.path.join('.')} is written ${raw}; it is an integer, and Go readers refuse a fraction or exponent here`
        });
    if (integer && !Number.isSafeInteger(Number(raw)))
        report(state, {
            kind: 'number-precision',
            message: `the integer ${raw} at ${pathOf(state)} is beyond ±2^53 and loses precision`
        });
    return j;
}

;// CONCATENATED MODULE: ./src/validate/rules.ts
/** The catalogue of validation rules: one id, one severity and one spec section each. */

const V = 'https://github.com/opencontainers/image-spec/blob/v1.1.1/';
/** Rules the spec's main branch tightened after v1.1.1; reported as warnings against v1.1.1. */
const MAIN = 'https://github.com/opencontainers/image-spec/blob/main/';
const DESC = `${V}descriptor.md#properties`;
const DIGESTS = `${V}descriptor.md#digests`;
const rules_REGISTERED = `${V}descriptor.md#registered-algorithms`;
const MANIFEST = `${V}manifest.md#image-manifest-property-descriptions`;
const INDEX = `${V}image-index.md#image-index-property-descriptions`;
const CONFIG = `${V}config.md#properties`;
const ANNOTATIONS = `${V}annotations.md#rules`;
const PREDEFINED = `${V}annotations.md#pre-defined-annotation-keys`;
const LAYER = `${V}layer.md#distributable-format`;
const WHITEOUTS = `${V}layer.md#whiteouts`;
const LAYOUT = `${V}image-layout.md`;
const DIST = 'https://github.com/opencontainers/distribution-spec/blob/v1.1.1/spec.md';
const list = [
    // image layout
    {
        id: 'layout-oci-layout',
        severity: 'error',
        summary: '`oci-layout` exists and is a JSON object with a string `imageLayoutVersion`',
        spec: `${LAYOUT}#oci-layout-file`
    },
    {
        id: 'layout-version',
        severity: 'error',
        summary: '`imageLayoutVersion` is `1.0.0`',
        spec: `${LAYOUT}#oci-layout-file`
    },
    {
        id: 'layout-index-json',
        severity: 'error',
        summary: '`index.json` exists and is an image index',
        spec: `${LAYOUT}#indexjson-file`
    },
    {
        id: 'layout-blobs-dir',
        severity: 'error',
        summary: 'the `blobs` directory exists',
        spec: `${LAYOUT}#content`
    },
    {
        id: 'layout-blob-name',
        severity: 'error',
        summary: 'every `blobs/ALG/ENCODED` name matches the digest grammar (and the registered encoding of sha256/sha512)',
        spec: `${LAYOUT}#blobs`
    },
    // JSON
    {
        id: 'json-invalid',
        severity: 'error',
        summary: 'a JSON document parses',
        spec: `${V}considerations.md#json`
    },
    {
        id: 'json-not-object',
        severity: 'error',
        summary: 'a manifest, index, config or descriptor is a JSON object',
        spec: DESC
    },
    {
        id: 'json-duplicate-key',
        severity: 'warning',
        summary: 'no object has the same name twice (I-JSON; required by the spec main branch)',
        spec: `${MAIN}considerations.md#json`
    },
    {
        id: 'json-not-utf8',
        severity: 'warning',
        summary: 'JSON is UTF-8 (I-JSON; required by the spec main branch)',
        spec: `${MAIN}considerations.md#json`
    },
    {
        id: 'json-number-precision',
        severity: 'warning',
        summary: 'numbers fit IEEE 754 double precision exactly (I-JSON)',
        spec: `${MAIN}considerations.md#json`
    },
    {
        id: 'json-integer',
        severity: 'error',
        summary: '`schemaVersion` and `size` are written as integers, without fraction or exponent (Go rejects `2.0`)',
        spec: DESC
    },
    {
        id: 'json-too-large',
        severity: 'error',
        summary: 'a manifest, index or config is at most 4 MiB, as registries require (a larger one is not read, so it cannot be checked)',
        spec: `${V}considerations.md#json`
    },
    {
        id: 'json-too-deep',
        severity: 'error',
        summary: `a manifest, index or config nests arrays and objects at most ${MAX_JSON_DEPTH} levels deep (a deeper one is not read, so it cannot be checked)`,
        spec: `${V}considerations.md#json`
    },
    // descriptors
    {
        id: 'descriptor-mediatype',
        severity: 'error',
        summary: '`mediaType` is present and complies with RFC 6838 section 4.2',
        spec: DESC
    },
    {
        id: 'descriptor-digest',
        severity: 'error',
        summary: '`digest` is present and matches the digest grammar',
        spec: DIGESTS
    },
    {
        id: 'descriptor-digest-encoding',
        severity: 'error',
        summary: 'sha256/sha512 digests are 64/128 lower-case hex characters',
        spec: rules_REGISTERED
    },
    {
        id: 'descriptor-digest-unregistered',
        severity: 'warning',
        summary: 'a digest algorithm that is not registered cannot be verified',
        spec: rules_REGISTERED
    },
    {
        id: 'descriptor-size',
        severity: 'error',
        summary: '`size` is present and an integer',
        spec: DESC
    },
    {
        id: 'descriptor-size-negative',
        severity: 'warning',
        summary: '`size` is not negative (v1.1.1 allows any int64; the main branch forbids negatives)',
        spec: `${MAIN}descriptor.md#properties`
    },
    {
        id: 'descriptor-urls',
        severity: 'error',
        summary: '`urls` is an array of RFC 3986 URIs',
        spec: DESC
    },
    {
        id: 'descriptor-urls-scheme',
        severity: 'warning',
        summary: '`urls` entries use http or https',
        spec: DESC
    },
    {
        id: 'descriptor-data',
        severity: 'error',
        summary: '`data` is padded standard base64 (RFC 4648 section 4)',
        spec: DESC
    },
    {
        id: 'descriptor-data-mismatch',
        severity: 'error',
        summary: "decoded `data` has the descriptor's size and digest",
        spec: `${V}descriptor.md#embedded-content`
    },
    {
        id: 'descriptor-artifacttype',
        severity: 'error',
        summary: '`artifactType` complies with RFC 6838',
        spec: DESC
    },
    {
        id: 'descriptor-empty',
        severity: 'error',
        summary: 'an empty descriptor (`application/vnd.oci.empty.v1+json`) has size 2 and the digest of `{}`',
        spec: `${V}manifest.md#guidance-for-an-empty-descriptor`
    },
    {
        id: 'descriptor-mediatype-mismatch',
        severity: 'error',
        summary: 'the `mediaType` of a manifest or index equals the `mediaType` of the descriptor that references it',
        spec: `${V}media-types.md#compatibility-matrix`
    },
    // annotations
    {
        id: 'annotations-type',
        severity: 'error',
        summary: 'annotations (and config Labels) are a map of string to string',
        spec: ANNOTATIONS
    },
    {
        id: 'annotation-created',
        severity: 'error',
        summary: '`org.opencontainers.image.created` is an RFC 3339 date-time',
        spec: PREDEFINED
    },
    {
        id: 'annotation-base-digest',
        severity: 'error',
        summary: '`org.opencontainers.image.base.digest` is a digest',
        spec: PREDEFINED
    },
    {
        id: 'annotation-ref-name',
        severity: 'error',
        summary: '`org.opencontainers.image.ref.name` matches the ref grammar',
        spec: PREDEFINED
    },
    {
        id: 'annotation-reserved-key',
        severity: 'warning',
        summary: 'keys in the reserved `org.opencontainers.` namespace are ones the spec defines (annotations.md and conversion.md)',
        spec: ANNOTATIONS
    },
    {
        id: 'annotation-key-empty',
        severity: 'warning',
        summary: 'no annotation key is the empty string',
        spec: ANNOTATIONS
    },
    // manifests and indexes
    {
        id: 'manifest-schema-version',
        severity: 'error',
        summary: 'a manifest has `schemaVersion` 2',
        spec: MANIFEST
    },
    {
        id: 'manifest-mediatype',
        severity: 'error',
        summary: "a manifest's `mediaType`, when present, is the OCI manifest media type",
        spec: MANIFEST
    },
    {
        id: 'manifest-config',
        severity: 'error',
        summary: 'a manifest has a `config` descriptor',
        spec: MANIFEST
    },
    {
        id: 'manifest-layers',
        severity: 'error',
        summary: 'a manifest has a `layers` array of descriptors',
        spec: MANIFEST
    },
    {
        id: 'manifest-layers-empty',
        severity: 'error',
        summary: '`layers` has at least one entry (minItems 1 in the v1.1.1 schema)',
        spec: MANIFEST
    },
    {
        id: 'manifest-artifacttype',
        severity: 'error',
        summary: 'a manifest or index `artifactType` complies with RFC 6838',
        spec: MANIFEST
    },
    {
        id: 'manifest-artifacttype-missing',
        severity: 'error',
        summary: '`artifactType` is set when `config.mediaType` is the empty media type',
        spec: MANIFEST
    },
    {
        id: 'manifest-layer-mediatype',
        severity: 'warning',
        summary: 'an image (OCI config) has layers of the layer media types',
        spec: MANIFEST
    },
    {
        id: 'manifest-subject',
        severity: 'error',
        summary: '`subject` is a descriptor',
        spec: MANIFEST
    },
    {
        id: 'subject-mediatype',
        severity: 'error',
        summary: '`subject` is the descriptor of a manifest or an index (its media type says so)',
        spec: MANIFEST
    },
    // referrers lists: the referrers API's answer and the fallback tag's index
    {
        id: 'referrers-index',
        severity: 'error',
        summary: 'a referrers list (the API answer or the `<alg>-<ref>` fallback tag) is an image index whose entries are manifests or indexes',
        spec: `${DIST}#referrers-tag-schema`
    },
    {
        id: 'referrers-subject',
        severity: 'error',
        summary: 'every manifest a referrers list names has the listed digest as its `subject`',
        spec: `${DIST}#listing-referrers`
    },
    {
        id: 'referrers-artifacttype',
        severity: 'error',
        summary: "a referrers list entry's `artifactType` is the manifest's `artifactType`, else its `config.mediaType`",
        spec: `${DIST}#listing-referrers`
    },
    {
        id: 'referrers-annotations',
        severity: 'error',
        summary: 'a referrers list entry carries the annotations of the manifest it names',
        spec: `${DIST}#listing-referrers`
    },
    {
        id: 'mediatype-docker',
        severity: 'warning',
        summary: 'a Docker schema 2 media type where OCI has its own',
        spec: `${V}media-types.md#compatibility-matrix`
    },
    {
        id: 'index-schema-version',
        severity: 'error',
        summary: 'an index has `schemaVersion` 2',
        spec: INDEX
    },
    {
        id: 'index-mediatype',
        severity: 'error',
        summary: "an index's `mediaType`, when present, is the OCI index media type",
        spec: INDEX
    },
    {
        id: 'index-manifests',
        severity: 'error',
        summary: 'an index has a `manifests` array of descriptors',
        spec: INDEX
    },
    {
        id: 'index-cycle',
        severity: 'error',
        summary: 'nested indexes do not loop',
        spec: INDEX
    },
    {
        id: 'index-depth',
        severity: 'error',
        summary: 'indexes nest at most 16 levels deep (what is deeper is not walked, so it cannot be checked)',
        spec: INDEX
    },
    {
        id: 'platform-required',
        severity: 'error',
        summary: '`platform` is an object with string `architecture` and `os`',
        spec: INDEX
    },
    {
        id: 'platform-type',
        severity: 'error',
        summary: '`platform` optional fields have their types (`os.version`, `variant` strings, `os.features` string array)',
        spec: INDEX
    },
    {
        id: 'platform-features-reserved',
        severity: 'warning',
        summary: '`platform.features` is reserved',
        spec: INDEX
    },
    {
        id: 'platform-mismatch',
        severity: 'error',
        summary: 'the platform of an index entry equals the os, architecture and variant of the config it leads to',
        spec: INDEX
    },
    // configs
    {
        id: 'config-required',
        severity: 'error',
        summary: '`architecture`, `os` (strings) and `rootfs` (object) are present',
        spec: CONFIG
    },
    {
        id: 'config-field-type',
        severity: 'error',
        summary: 'config fields have the types the spec gives them',
        spec: CONFIG
    },
    {
        id: 'config-rootfs-type',
        severity: 'error',
        summary: '`rootfs.type` is `layers`',
        spec: CONFIG
    },
    {
        id: 'config-diff-ids',
        severity: 'error',
        summary: '`rootfs.diff_ids` is an array of digests, one per layer',
        spec: CONFIG
    },
    {
        id: 'config-diff-id-mismatch',
        severity: 'error',
        summary: 'each diff_id is the digest of the uncompressed layer (in its own algorithm)',
        spec: `${V}config.md#layer-diffid`
    },
    {
        id: 'config-created',
        severity: 'error',
        summary: '`created` (and `history[].created`) are RFC 3339 date-times of real calendar days',
        spec: CONFIG
    },
    {
        id: 'config-env',
        severity: 'error',
        summary: '`config.Env` entries are `KEY=VALUE`',
        spec: CONFIG
    },
    {
        id: 'config-history-layers',
        severity: 'warning',
        summary: 'history entries without `empty_layer: true` are as many as the layers',
        spec: CONFIG
    },
    // layers
    {
        id: 'layer-compression-mismatch',
        severity: 'error',
        summary: "a layer's bytes are compressed as its media type says",
        spec: `${V}layer.md#gzip-media-types`
    },
    {
        id: 'layer-decompress',
        severity: 'error',
        summary: 'a compressed layer decompresses',
        spec: `${V}layer.md#gzip-media-types`
    },
    {
        id: 'layer-compression-trailing',
        severity: 'error',
        summary: 'nothing follows the last gzip member or zstd frame of a layer (Go readers fail with "gzip: invalid header")',
        spec: `${V}layer.md#gzip-media-types`
    },
    { id: 'layer-tar', severity: 'error', summary: 'a layer is a readable tar archive', spec: LAYER },
    {
        id: 'layer-tar-unterminated',
        severity: 'warning',
        summary: 'a layer tar ends with its blocks padded and two zero blocks (Go readers accept it without; GNU tar does not)',
        spec: LAYER
    },
    {
        id: 'layer-tar-trailing',
        severity: 'warning',
        summary: 'only zero bytes follow the end-of-archive marker of a layer tar (readers stop there; entries after it are ignored)',
        spec: LAYER
    },
    {
        id: 'layer-path-too-long',
        severity: 'error',
        summary: 'entry paths and link targets are at most 4096 bytes (Linux PATH_MAX): no runtime can extract a longer one',
        spec: `${V}layer.md#file-types`
    },
    {
        id: 'layer-name-too-long',
        severity: 'error',
        summary: 'each name in an entry path is at most 255 bytes (Linux NAME_MAX): no runtime can extract a longer one',
        spec: `${V}layer.md#file-types`
    },
    {
        id: 'layer-path-unchecked',
        severity: 'error',
        summary: "a layer's paths resolve through its symlinks within a few steps per byte of its headers (a crafted chain of long symlinks is not resolved, so its paths cannot be checked)",
        spec: `${V}layer.md#file-types`
    },
    {
        id: 'layer-duplicate-path',
        severity: 'error',
        summary: 'no path appears twice in a layer',
        spec: LAYER
    },
    {
        id: 'layer-path-escapes',
        severity: 'error',
        summary: 'no entry path leaves the root through `..` or through a symlink of the same layer that resolves outside it',
        spec: `${V}layer.md#file-types`
    },
    {
        id: 'layer-link-escapes',
        severity: 'error',
        summary: 'hardlink targets do not climb out of the root with `..` or through a symlink of the same layer that resolves outside it',
        spec: `${V}layer.md#hardlinks`
    },
    {
        id: 'layer-hardlink',
        severity: 'error',
        summary: 'no hardlink points at a directory',
        spec: `${V}layer.md#hardlinks`
    },
    {
        id: 'layer-hardlink-target',
        severity: 'warning',
        summary: 'a hardlink target is a relative path to an earlier entry of the same layer (absolute ones are resolved under the root)',
        spec: `${V}layer.md#hardlinks`
    },
    {
        id: 'layer-whiteout',
        severity: 'error',
        summary: 'whiteouts are empty regular files naming a path other than `.`/`..`, not also present in the same layer',
        spec: WHITEOUTS
    },
    {
        id: 'layer-whiteout-meta',
        severity: 'warning',
        summary: 'no aufs metadata entries `.wh..wh.*` other than the opaque marker `.wh..wh..opq`',
        spec: WHITEOUTS
    },
    {
        id: 'layer-whiteout-bare',
        severity: 'warning',
        summary: 'no whiteout `.wh.` without a name (invalid on the spec main branch)',
        spec: `${MAIN}layer.md#whiteouts`
    },
    // sources
    {
        id: 'source-unreadable',
        severity: 'error',
        summary: 'a source image could be opened and read',
        spec: LAYOUT
    },
    // blobs
    {
        id: 'blob-missing',
        severity: 'warning',
        summary: 'a referenced blob is absent from the layout (the spec lets an external store provide it)',
        spec: `${LAYOUT}#blobs`
    },
    {
        id: 'blob-missing-required',
        severity: 'error',
        summary: 'a referenced blob Lading must push is absent from the layout',
        spec: `${LAYOUT}#blobs`
    },
    {
        id: 'blob-not-downloaded',
        severity: 'info',
        summary: 'a blob deliberately not downloaded (it stays in its registry) was not checked',
        spec: `${LAYOUT}#blobs`
    },
    {
        id: 'blob-unreadable',
        severity: 'error',
        summary: 'a referenced blob can be read',
        spec: `${LAYOUT}#blobs`
    },
    {
        id: 'blob-digest-mismatch',
        severity: 'error',
        summary: "a blob's content has its descriptor's digest",
        spec: `${V}descriptor.md#verification`
    },
    {
        id: 'blob-size-mismatch',
        severity: 'error',
        summary: "a blob's content has its descriptor's size",
        spec: DESC
    }
];
const rules = (/* unused pure expression or super */ null && (list));
const byId = new Map(list.map(r => [r.id, r]));
/** A finding of rule `id`; an unknown id is a programming error, caught by the catalogue test. */
function rules_finding(id, location, message) {
    const r = byId.get(id);
    if (!r)
        throw new Error(`unknown validation rule ${id}`);
    return { rule: id, severity: r.severity, message, location, spec: r.spec };
}

;// CONCATENATED MODULE: ./src/validate/json.ts


/** The rule each problem of the JSON reader breaks. */
const RULE_OF = {
    'byte-order-mark': 'json-invalid',
    invalid: 'json-invalid',
    'not-utf8': 'json-not-utf8',
    'duplicate-key': 'json-duplicate-key',
    'integer-form': 'json-integer',
    'number-precision': 'json-number-precision',
    'too-deep': 'json-too-deep'
};
/** Parses a JSON document without throwing; what is wrong with it becomes findings at `location`. */
function json_parseDocument(input, location) {
    const { value, problems } = parseJSON(input);
    return { value, findings: problems.map(p => rules_finding(RULE_OF[p.kind], location, p.message)) };
}

;// CONCATENATED MODULE: ./src/validate/document/fields.ts
/** What every kind of document shares: locations, how values are quoted, media types, digests. */

const fields_MEDIA_TYPE = /^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}\/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}$/;
/** `part` of the document at `location`, e.g. `index.json manifests[0]`. */
function at(location, part) {
    return location ? `${location} ${part}` : part;
}
/** A value as a finding quotes it: its JSON, cut to 80 characters. */
function show(v) {
    const s = JSON.stringify(v);
    if (s === undefined)
        return String(v);
    return s.length > 80 ? s.slice(0, 77) + '...' : s;
}
function isMediaType(v) {
    return typeof v === 'string' && fields_MEDIA_TYPE.test(v);
}
/**
 * The rule a digest's problem breaks. A grammatical digest of an algorithm Lading cannot hash
 * breaks none here: the walker reports that it could not verify the blob.
 */
const DIGEST_RULE = {
    'not-a-string': 'descriptor-digest',
    grammar: 'descriptor-digest',
    encoding: 'descriptor-digest-encoding'
};
function digestWhy(v, reason) {
    if (reason === 'not-a-string')
        return `is ${show(v)}, not a string`;
    if (reason === 'grammar')
        return `"${String(v)}" does not match algorithm ":" encoded`;
    const [alg, enc] = String(v).split(':', 2);
    const upper = /[A-F]/.test(enc) ? ' with upper case' : '';
    return `"${String(v)}": ${alg} needs ${encodedLength(alg)} lower-case hex characters, found ${enc.length} characters${upper}`;
}
/** Why `v` is not a digest per the grammar and the registered encodings, with its rule id. */
function digestFinding(v) {
    const reason = digestProblem(v)?.reason;
    if (reason === undefined || reason === 'unregistered-algorithm')
        return undefined;
    return { rule: DIGEST_RULE[reason], why: digestWhy(v, reason) };
}

;// CONCATENATED MODULE: ./src/validate/document/annotations.ts
/** annotations.md: annotation maps (and a config's Labels, which carry the same keys). */





const PREDEFINED_KEYS = new Set([
    'created',
    'authors',
    'url',
    'documentation',
    'source',
    'version',
    'revision',
    'vendor',
    'licenses',
    'ref.name',
    'title',
    'description',
    'base.digest',
    'base.name'
].map(k => `org.opencontainers.image.${k}`));
/** Keys conversion.md defines for the runtime config (a config's Labels may carry them too). */
const CONVERSION_KEYS = new Set([
    'os',
    'architecture',
    'variant',
    'os.version',
    'os.features',
    'author',
    'stopSignal',
    'exposedPorts'
].map(k => `org.opencontainers.image.${k}`));
function checkAnnotations(a, loc, out, what = 'annotations') {
    if (!isObject(a)) {
        out.push(rules_finding('annotations-type', loc, `${what} is ${show(a)}, not a map of strings`));
        return;
    }
    for (const [k, v] of Object.entries(a)) {
        if (typeof v !== 'string') {
            out.push(rules_finding('annotations-type', loc, `the value of "${k}" is ${show(v)}, not a string`));
            continue;
        }
        if (k === '')
            out.push(rules_finding('annotation-key-empty', loc, 'a key is the empty string; keys should be namespaced'));
        // "While the value MUST be present, it MAY be an empty string" holds for pre-defined keys too.
        if (v !== '')
            checkAnnotation(k, v, loc, out);
    }
}
/** One annotation whose value is a non-empty string: pre-defined keys have their own grammar. */
function checkAnnotation(k, v, loc, out) {
    if (k === 'org.opencontainers.image.created' && !isRFC3339(v))
        out.push(rules_finding('annotation-created', loc, `"${k}" is "${v}", not an RFC 3339 date-time`));
    else if (k === 'org.opencontainers.image.base.digest') {
        const p = digestFinding(v);
        if (p)
            out.push(rules_finding('annotation-base-digest', loc, `"${k}" ${p.why}`));
    }
    else if (k === 'org.opencontainers.image.ref.name' && !isLayoutRefName(v))
        out.push(rules_finding('annotation-ref-name', loc, `"${k}" is "${v}", which does not match the ref grammar (components of A-Za-z0-9 joined by -._:@+ or --, separated by /)`));
    else if (k.startsWith('org.opencontainers.') &&
        !PREDEFINED_KEYS.has(k) &&
        !CONVERSION_KEYS.has(k))
        out.push(rules_finding('annotation-reserved-key', loc, `"${k}" is in the namespace org.opencontainers reserves for its specifications, but no OCI image spec key has this name`));
}

;// CONCATENATED MODULE: ./src/validate/document/platform.ts
/** image-index.md's `platform` of an index entry. */



function checkPlatform(p, loc, out) {
    if (!isObject(p)) {
        out.push(rules_finding('platform-required', loc, `the platform is ${show(p)}, not an object`));
        return;
    }
    for (const k of ['architecture', 'os'])
        if (typeof p[k] !== 'string')
            out.push(rules_finding('platform-required', loc, p[k] === undefined ? `\`${k}\` is missing` : `\`${k}\` is ${show(p[k])}, not a string`));
    for (const k of ['os.version', 'variant'])
        if (p[k] !== undefined && typeof p[k] !== 'string')
            out.push(rules_finding('platform-type', loc, `\`${k}\` is ${show(p[k])}, not a string`));
    const f = p['os.features'];
    if (f !== undefined && !(Array.isArray(f) && f.every(x => typeof x === 'string')))
        out.push(rules_finding('platform-type', loc, `\`os.features\` is ${show(f)}, not an array of strings`));
    if (p.features !== undefined)
        out.push(rules_finding('platform-features-reserved', loc, '`features` is reserved for future versions of the spec'));
}

;// CONCATENATED MODULE: ./src/validate/document/descriptor.ts
/** descriptor.md: the descriptors of indexes, manifests and `subject`, and their embedded data. */







const EMPTY_DIGEST = 'sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a';
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const URI = /^[A-Za-z][A-Za-z0-9+.-]*:[A-Za-z0-9\-._~:/?#[\]@!$&'()*+,;=%]*$/;
/**
 * Checks one descriptor. Returns true when it is usable to fetch its blob (object with a string
 * media type, a verifiable or at least grammatical digest and an integer size).
 */
function descriptor_checkDescriptor(d, loc, out, opts = {}) {
    if (!isObject(d)) {
        out.push(rules_finding('json-not-object', loc, `the descriptor is ${show(d)}, not an object`));
        return false;
    }
    const usable = checkAddress(d, loc, out);
    if (d.urls !== undefined)
        checkUrls(d.urls, loc, out);
    if (d.data !== undefined) {
        if (typeof d.data !== 'string' || !BASE64.test(d.data))
            out.push(rules_finding('descriptor-data', loc, `\`data\` ${show(d.data)} is not padded standard base64`));
        else
            checkEmbedded(d, d.data, loc, out);
    }
    if (d.artifactType !== undefined && !isMediaType(d.artifactType))
        out.push(rules_finding('descriptor-artifacttype', loc, `\`artifactType\` ${show(d.artifactType)} is not an RFC 6838 type/subtype`));
    if (d.annotations !== undefined)
        checkAnnotations(d.annotations, at(loc, 'annotations'), out);
    if (d.mediaType === MediaType.Empty && (d.digest !== EMPTY_DIGEST || d.size !== 2))
        out.push(rules_finding('descriptor-empty', loc, `the empty descriptor must have size 2 and digest ${EMPTY_DIGEST} (the content \`{}\`), found size ${show(d.size)} and digest ${show(d.digest)}`));
    if (d.platform !== undefined && opts.platform)
        checkPlatform(d.platform, at(loc, 'platform'), out);
    return usable;
}
/** `mediaType`, `digest` and `size`: whether the blob can be fetched by them. */
function checkAddress(d, loc, out) {
    let usable = true;
    if (d.mediaType === undefined) {
        out.push(rules_finding('descriptor-mediatype', loc, '`mediaType` is missing'));
        usable = false;
    }
    else if (!isMediaType(d.mediaType)) {
        out.push(rules_finding('descriptor-mediatype', loc, `\`mediaType\` ${show(d.mediaType)} is not an RFC 6838 type/subtype`));
        usable = false;
    }
    if (d.digest === undefined) {
        out.push(rules_finding('descriptor-digest', loc, '`digest` is missing'));
        usable = false;
    }
    else {
        const p = digestFinding(d.digest);
        if (p) {
            out.push(rules_finding(p.rule, loc, `\`digest\` ${p.why}`));
            usable = false;
        }
    }
    if (d.size === undefined) {
        out.push(rules_finding('descriptor-size', loc, '`size` is missing'));
        usable = false;
    }
    else if (typeof d.size !== 'number' || !Number.isInteger(d.size)) {
        out.push(rules_finding('descriptor-size', loc, `\`size\` is ${show(d.size)}, not an integer`));
        usable = false;
    }
    else if (d.size < 0) {
        out.push(rules_finding('descriptor-size-negative', loc, `\`size\` is ${d.size}; a size cannot be negative`));
    }
    return usable;
}
function checkUrls(urls, loc, out) {
    if (!Array.isArray(urls)) {
        out.push(rules_finding('descriptor-urls', loc, `\`urls\` is ${show(urls)}, not an array`));
        return;
    }
    urls.forEach((u, i) => {
        if (typeof u !== 'string' || !URI.test(u) || /%(?![0-9A-Fa-f]{2})/.test(u))
            out.push(rules_finding('descriptor-urls', loc, `\`urls[${i}]\` ${show(u)} is not an RFC 3986 URI`));
        else if (!/^https?:/i.test(u))
            out.push(rules_finding('descriptor-urls-scheme', loc, `\`urls[${i}]\` "${u}" uses neither http nor https`));
    });
}
function checkEmbedded(d, data, loc, out) {
    const bytes = Buffer.from(data, 'base64');
    if (typeof d.size === 'number' && bytes.length !== d.size)
        out.push(rules_finding('descriptor-data-mismatch', loc, `\`data\` decodes to ${bytes.length} bytes but \`size\` is ${d.size}`));
    if (typeof d.digest === 'string' && !digestFinding(d.digest) && isRegisteredAlgorithm(d.digest)) {
        const actual = digestOf(bytes, d.digest.split(':', 1)[0]);
        if (actual !== d.digest)
            out.push(rules_finding('descriptor-data-mismatch', loc, `\`data\` has digest ${actual}, not the descriptor's ${d.digest}`));
    }
}

;// CONCATENATED MODULE: ./src/validate/document/manifest-fields.ts
/** The fields image manifests and image indexes share: schemaVersion, mediaType, artifactType, subject. */





function checkSchemaVersion(doc, rule, loc, out) {
    if (doc.schemaVersion !== 2)
        out.push(rules_finding(rule, loc, doc.schemaVersion === undefined
            ? '`schemaVersion` is missing'
            : `\`schemaVersion\` is ${show(doc.schemaVersion)}, not 2`));
}
/** The document's own `mediaType`, when present, is the OCI one (`docker` is its Docker twin). */
function checkOwnMediaType(doc, oci, docker, rule, loc, out) {
    const mt = doc.mediaType;
    if (mt === undefined || mt === oci)
        return;
    if (mt === docker)
        out.push(rules_finding('mediatype-docker', loc, `\`mediaType\` is the Docker type ${docker}; OCI uses ${oci}`));
    else
        out.push(rules_finding(rule, loc, `\`mediaType\` is ${show(mt)}; it must be ${oci} when present`));
}
function checkArtifactType(doc, loc, out) {
    if (doc.artifactType !== undefined && !isMediaType(doc.artifactType))
        out.push(rules_finding('manifest-artifacttype', loc, `\`artifactType\` ${show(doc.artifactType)} is not an RFC 6838 type/subtype`));
}
function checkSubject(doc, loc, out) {
    if (doc.subject === undefined)
        return;
    if (!isObject(doc.subject))
        out.push(rules_finding('manifest-subject', at(loc, 'subject'), `\`subject\` is ${show(doc.subject)}, not a descriptor`));
    else if (descriptor_checkDescriptor(doc.subject, at(loc, 'subject'), out) &&
        !isManifestMediaType(doc.subject.mediaType) &&
        !isIndexMediaType(doc.subject.mediaType))
        // A referrer describes another manifest; a layer or config cannot be listed by the registry.
        out.push(rules_finding('subject-mediatype', at(loc, 'subject'), `\`subject\` has media type ${show(doc.subject.mediaType)}, which is neither a manifest nor an index`));
}

;// CONCATENATED MODULE: ./src/validate/document/manifest.ts
/** manifest.md: image manifests. */







/** The layer type of attestation manifests (buildkit provenance and SBOMs). */
const IN_TOTO = 'application/vnd.in-toto+json';
function manifest_checkManifest(doc, loc, out) {
    if (!isObject(doc)) {
        out.push(rules_finding('json-not-object', loc, `the manifest is ${show(doc)}, not an object`));
        return;
    }
    checkSchemaVersion(doc, 'manifest-schema-version', loc, out);
    checkOwnMediaType(doc, MediaType.ImageManifest, MediaType.DockerManifest, 'manifest-mediatype', loc, out);
    checkArtifactType(doc, loc, out);
    const config = doc.config;
    if (config === undefined)
        out.push(rules_finding('manifest-config', loc, '`config` is missing'));
    else if (!isObject(config))
        out.push(rules_finding('manifest-config', loc, `\`config\` is ${show(config)}, not a descriptor`));
    else
        descriptor_checkDescriptor(config, at(loc, 'config'), out);
    const configType = isObject(config) ? config.mediaType : undefined;
    if (configType === MediaType.Empty && doc.artifactType === undefined)
        out.push(rules_finding('manifest-artifacttype-missing', loc, '`config.mediaType` is the empty type, so `artifactType` must say what the artifact is'));
    const isImage = configType === MediaType.ImageConfig || configType === MediaType.DockerConfig;
    checkLayers(doc.layers, isImage, loc, out);
    checkSubject(doc, loc, out);
    if (doc.annotations !== undefined)
        checkAnnotations(doc.annotations, at(loc, 'annotations'), out);
}
/** `layers`: descriptors, and layer media types when the config says this is an image. */
function checkLayers(layers, isImage, loc, out) {
    if (layers === undefined) {
        out.push(rules_finding('manifest-layers', loc, '`layers` is missing'));
        return;
    }
    if (!Array.isArray(layers)) {
        out.push(rules_finding('manifest-layers', loc, `\`layers\` is ${show(layers)}, not an array`));
        return;
    }
    if (layers.length === 0)
        out.push(rules_finding('manifest-layers-empty', loc, '`layers` is empty; it must have at least one entry (an artifact without content uses the empty descriptor)'));
    layers.forEach((l, i) => {
        const lloc = at(loc, `layers[${i}]`);
        descriptor_checkDescriptor(l, lloc, out);
        if (isImage &&
            isObject(l) &&
            typeof l.mediaType === 'string' &&
            isMediaType(l.mediaType) &&
            layerCompression(l.mediaType) === undefined &&
            // buildkit's attestation manifests: an image config for unknown/unknown, in-toto layers.
            l.mediaType !== IN_TOTO)
            out.push(rules_finding('manifest-layer-mediatype', lloc, `an image layer of media type "${l.mediaType}", which is not a layer media type`));
    });
}

;// CONCATENATED MODULE: ./src/validate/document/image-index.ts
/** image-index.md: image indexes, and index.json of a layout. */







function image_index_checkIndex(doc, loc, out) {
    if (!isObject(doc)) {
        out.push(rules_finding('json-not-object', loc, `the index is ${show(doc)}, not an object`));
        return;
    }
    checkSchemaVersion(doc, 'index-schema-version', loc, out);
    checkOwnMediaType(doc, MediaType.ImageIndex, MediaType.DockerManifestList, 'index-mediatype', loc, out);
    checkArtifactType(doc, loc, out);
    const m = doc.manifests;
    if (m === undefined)
        out.push(rules_finding('index-manifests', loc, '`manifests` is missing'));
    else if (!Array.isArray(m))
        out.push(rules_finding('index-manifests', loc, `\`manifests\` is ${show(m)}, not an array`));
    else
        m.forEach((d, i) => descriptor_checkDescriptor(d, at(loc, `manifests[${i}]`), out, { platform: true }));
    checkSubject(doc, loc, out);
    if (doc.annotations !== undefined)
        checkAnnotations(doc.annotations, at(loc, 'annotations'), out);
}

;// CONCATENATED MODULE: ./src/validate/document/config.ts
/** config.md: image configs. */





const str = v => typeof v === 'string';
const strArray = v => Array.isArray(v) && v.every(x => typeof x === 'string');
const nullable = (c) => v => v === null || c(v);
const mapOf = (c) => v => isObject(v) && Object.values(v).every(c);
const CONTAINER_FIELDS = {
    User: [str, 'a string'],
    ExposedPorts: [mapOf(isObject), 'a map of objects'],
    Env: [strArray, 'an array of strings'],
    Entrypoint: [nullable(strArray), 'an array of strings or null'],
    Cmd: [nullable(strArray), 'an array of strings or null'],
    Volumes: [nullable(mapOf(isObject)), 'a map of objects or null'],
    WorkingDir: [str, 'a string'],
    StopSignal: [str, 'a string'],
    ArgsEscaped: [v => typeof v === 'boolean', 'a boolean']
};
function config_checkConfig(doc, loc, out) {
    if (!isObject(doc)) {
        out.push(rules_finding('json-not-object', loc, `the config is ${show(doc)}, not an object`));
        return;
    }
    checkPlatformFields(doc, loc, out);
    if (doc.created !== undefined && !isRFC3339(doc.created))
        out.push(rules_finding('config-created', loc, `\`created\` is ${show(doc.created)}, not an RFC 3339 date-time`));
    // The v1.1.1 prose allows a null `config` even though the schema types it as an object.
    if (doc.config !== undefined && doc.config !== null)
        checkContainerConfig(doc.config, loc, out);
    checkRootfs(doc.rootfs, loc, out);
    if (doc.history !== undefined)
        checkHistory(doc.history, loc, out);
}
/** `architecture` and `os`, required; `author`, `variant`, `os.version`, `os.features`. */
function checkPlatformFields(doc, loc, out) {
    for (const k of ['architecture', 'os'])
        if (typeof doc[k] !== 'string')
            out.push(rules_finding('config-required', loc, doc[k] === undefined ? `\`${k}\` is missing` : `\`${k}\` is ${show(doc[k])}, not a string`));
    for (const k of ['author', 'variant', 'os.version'])
        if (doc[k] !== undefined && typeof doc[k] !== 'string')
            out.push(rules_finding('config-field-type', loc, `\`${k}\` is ${show(doc[k])}, not a string`));
    if (doc['os.features'] !== undefined && !strArray(doc['os.features']))
        out.push(rules_finding('config-field-type', loc, `\`os.features\` is ${show(doc['os.features'])}, not an array of strings`));
}
/** The `config` member: what a runtime uses to run the image. */
function checkContainerConfig(c, loc, out) {
    if (!isObject(c)) {
        out.push(rules_finding('config-field-type', loc, `\`config\` is ${show(c)}, not an object`));
        return;
    }
    for (const [k, [check, what]] of Object.entries(CONTAINER_FIELDS))
        if (c[k] !== undefined && !check(c[k]))
            out.push(rules_finding('config-field-type', loc, `\`config.${k}\` is ${show(c[k])}, not ${what}`));
    if (Array.isArray(c.Env))
        c.Env.forEach((e, i) => {
            if (typeof e === 'string' && !/^[^=]+=/.test(e))
                out.push(rules_finding('config-env', loc, `\`config.Env[${i}]\` "${e}" is not KEY=VALUE`));
        });
    if (c.Labels !== undefined && c.Labels !== null)
        checkAnnotations(c.Labels, at(loc, 'config.Labels'), out, '`config.Labels`');
}
function checkRootfs(r, loc, out) {
    if (r === undefined) {
        out.push(rules_finding('config-required', loc, '`rootfs` is missing'));
        return;
    }
    if (!isObject(r)) {
        out.push(rules_finding('config-required', loc, `\`rootfs\` is ${show(r)}, not an object`));
        return;
    }
    if (r.type !== 'layers')
        out.push(rules_finding('config-rootfs-type', loc, r.type === undefined
            ? '`rootfs.type` is missing'
            : `\`rootfs.type\` is ${show(r.type)}, not "layers"`));
    if (!Array.isArray(r.diff_ids))
        out.push(rules_finding('config-diff-ids', loc, r.diff_ids === undefined
            ? '`rootfs.diff_ids` is missing'
            : `\`rootfs.diff_ids\` is ${show(r.diff_ids)}, not an array`));
    else
        r.diff_ids.forEach((id, i) => {
            const p = digestFinding(id);
            if (p)
                out.push(rules_finding('config-diff-ids', loc, `\`rootfs.diff_ids[${i}]\` ${p.why}`));
        });
}
function checkHistory(h, loc, out) {
    if (!Array.isArray(h)) {
        out.push(rules_finding('config-field-type', loc, `\`history\` is ${show(h)}, not an array`));
        return;
    }
    h.forEach((e, i) => checkHistoryEntry(e, `history[${i}]`, loc, out));
}
function checkHistoryEntry(e, name, loc, out) {
    if (!isObject(e)) {
        out.push(rules_finding('config-field-type', loc, `\`${name}\` is ${show(e)}, not an object`));
        return;
    }
    for (const k of ['author', 'created_by', 'comment'])
        if (e[k] !== undefined && typeof e[k] !== 'string')
            out.push(rules_finding('config-field-type', loc, `\`${name}.${k}\` is ${show(e[k])}, not a string`));
    if (e.empty_layer !== undefined && typeof e.empty_layer !== 'boolean')
        out.push(rules_finding('config-field-type', loc, `\`${name}.empty_layer\` is ${show(e.empty_layer)}, not a boolean`));
    if (e.created !== undefined && !isRFC3339(e.created))
        out.push(rules_finding('config-created', loc, `\`${name}.created\` is ${show(e.created)}, not an RFC 3339 date-time`));
}

;// CONCATENATED MODULE: ./src/validate/document/layout-file.ts
/** image-layout.md's `oci-layout` file. */



function layout_file_checkLayoutFile(doc, loc, out) {
    if (!isObject(doc)) {
        out.push(rules_finding('layout-oci-layout', loc, `the content is ${show(doc)}, not a JSON object`));
        return;
    }
    const v = doc.imageLayoutVersion;
    if (typeof v !== 'string')
        out.push(rules_finding('layout-oci-layout', loc, v === undefined
            ? '`imageLayoutVersion` is missing'
            : `\`imageLayoutVersion\` is ${show(v)}, not a string`));
    else if (v !== '1.0.0')
        out.push(rules_finding('layout-version', loc, `\`imageLayoutVersion\` is "${v}"; this spec version defines "1.0.0"`));
}

;// CONCATENATED MODULE: ./src/validate/document/index.ts
/**
 * Document-level rules: pure functions over parsed JSON, one module per kind of document. They
 * never throw, whatever the input, and report every problem they find rather than the first.
 */









;// CONCATENATED MODULE: ./src/oci/graph.ts


/** Indexes nested deeper than this are not walked: an error, since what is below goes unchecked. */
const MAX_INDEX_DEPTH = 16;
class ImageGraph {
    root;
    documents;
    blobs;
    constructor(root, documents, blobs) {
        this.root = root;
        this.documents = documents;
        this.blobs = blobs;
    }
    /** Indexes and manifests in push order: every child before the index that lists it, root last. */
    async pushOrder() {
        const out = [];
        await walkGraph(this.root, descriptors({
            children: d => this.childrenOf(d),
            leave: d => {
                const doc = this.documents.get(d.digest);
                if (doc)
                    out.push(doc);
            }
        }));
        return out;
    }
    /** The documents an index lists (its manifests and nested indexes) that the graph holds. */
    childrenOf(d) {
        const doc = this.documents.get(d.digest);
        if (!doc || !isIndexMediaType(d.mediaType))
            return [];
        return documentChildren(parseJSON(doc.bytes).value);
    }
}
/** The manifests and indexes an index lists; none for anything else. */
function documentChildren(doc) {
    const manifests = doc?.manifests;
    if (!Array.isArray(manifests))
        return [];
    return manifests.filter((m) => typeof m === 'object' &&
        m !== null &&
        typeof m.digest === 'string' &&
        (isIndexMediaType(m.mediaType) || isManifestMediaType(m.mediaType)));
}
/**
 * Walks the graph below `root` depth first, in the order the indexes list their entries, each key
 * once: an index listing the same child n times, k levels deep, costs n·k visits, not n^k.
 */
async function walkGraph(root, visitor, opts = {}) {
    const maxDepth = opts.maxDepth ?? MAX_INDEX_DEPTH;
    // Shared between walks of several roots (a layout's index.json entries) when given.
    const seen = opts.seen ?? new Set();
    const visit = async (node, at) => {
        const d = visitor.descriptor(node);
        if (at.ancestors.includes(d.digest)) {
            visitor.cycle?.(node, at);
            return;
        }
        if (at.depth > maxDepth && isIndexMediaType(d.mediaType)) {
            visitor.tooDeep?.(node, at);
            return;
        }
        const key = visitor.key?.(node, at) ?? d.digest;
        if (seen.has(key))
            return;
        seen.add(key);
        const children = (await visitor.children?.(node, at)) ?? [];
        const below = { depth: at.depth + 1, ancestors: [...at.ancestors, d.digest] };
        for (const c of children)
            await visit(c, below);
        await visitor.leave?.(node, at);
    };
    await visit(root, { depth: 0, ancestors: [] });
}
/** A walker over plain descriptors. */
function descriptors(visitor) {
    return { descriptor: d => d, ...visitor };
}

;// CONCATENATED MODULE: ./src/oci/scan.ts

/** Where a layer's content findings are: `layer sha256:0123456789ab…`. */
function layerLocation(digest) {
    return `layer ${digest.slice(0, 19)}…`;
}
/** The key of a blob's scan: its digest, how it is read (compression, or opaque) and the diff_id algorithm. */
function scanKey(desc, diffAlgorithm = 'sha256') {
    return `${desc.digest} ${layerCompression(desc.mediaType) ?? 'opaque'} ${diffAlgorithm}`;
}
/** The digest of the blob a scanKey names. */
function digestOfScanKey(key) {
    return key.slice(0, key.indexOf(' '));
}
function sameFile(a, b) {
    return (a.dev === b.dev &&
        a.ino === b.ino &&
        a.size === b.size &&
        a.mtimeNs === b.mtimeNs &&
        a.ctimeNs === b.ctimeNs);
}
/** Whether a scan read its blob whole and found the digest it was stored under: worth keeping. */
function isCompleteScan(scan, digest) {
    return !scan.unopened && scan.readError === undefined && scan.digest === digest;
}
/**
 * Blob scans of one run, shared by every validation in it, keyed by scanKey: a blob the run has
 * read and checked once (in a source, or as it built it) is not read again to check it again.
 * With a VerdictStore, a layout's blob file that an earlier step checked is not read either.
 */
class ScanCache {
    verdicts;
    relief;
    scans = new Map();
    /** blobs read to be checked */
    reads = 0;
    /** checks taken from earlier in the run instead of reading a blob again */
    reused = 0;
    /** checks taken from the verdicts of earlier steps instead of reading a blob file again */
    fromEarlierSteps = 0;
    /** `relief`: the run's, told of what the scans read. */
    constructor(verdicts, relief) {
        this.verdicts = verdicts;
        this.relief = relief;
    }
    get(key) {
        return this.scans.get(key);
    }
    set(key, scan) {
        this.scans.set(key, scan);
    }
    /** Every scan, for handing those of one source to the run's cache. */
    entries() {
        return this.scans.entries();
    }
}

;// CONCATENATED MODULE: ./src/validate/layer/findings.ts

/** Content findings per layer beyond this are summarised, so a hostile layer cannot flood memory. */
const MAX_FINDINGS = 50;
/** A finding list capped at MAX_FINDINGS, the rest counted and summarised by `close`. */
function cappedFindings() {
    const findings = [];
    let dropped = 0;
    return {
        findings,
        add: f => {
            if (findings.length < MAX_FINDINGS)
                findings.push(f);
            else
                dropped++;
        },
        close: location => {
            if (dropped)
                findings.push(rules_finding('layer-tar', location, `${dropped} more findings in this layer were not listed`));
        }
    };
}

;// CONCATENATED MODULE: ./src/codec/tar-header.ts
/**
 * Tar's block structure, read alongside a tar parser: the fields of 512-byte header blocks that
 * decide where the next header starts, and where the archive ends.
 */
const TAR_BLOCK = 512;
/** pax data read for its `size` record at most: a larger extended header is a hostile one. */
const MAX_PAX_READ = 1024 * 1024;
/** The data size a header block declares, octal or base-256 (GNU), as tar-stream reads it. */
function headerDataSize(block) {
    if (block[124] & 0x80) {
        let n = 0;
        for (let i = 125; i < 136; i++)
            n = n * 256 + block[i];
        return n;
    }
    const text = block
        .toString('latin1', 124, 136)
        .replace(/[\0 ]+$/g, '')
        .trim();
    const n = parseInt(text || '0', 8);
    return Number.isFinite(n) ? n : 0;
}
/** A header block's type flag: '0' a file, '5' a directory, 'x' a pax header, and so on. */
function headerTypeFlag(block) {
    return String.fromCharCode(block[156]);
}
/** The `size` record of pax extended header data, which overrides the next header's size. */
function paxSizeRecord(records) {
    const m = /(?:^|\n)\d+ size=(\d+)\n/.exec(records);
    return m ? parseInt(m[1], 10) : undefined;
}
/**
 * Follows a tar's block structure, fed the archive in chunks of any size, to find the
 * end-of-archive marker (two zero header blocks), where Go's archive/tar and GNU tar stop
 * reading. tar-stream skips zero blocks and reads on, so a reader that must stop where they do
 * needs this. Sizes are taken as tar-stream takes them (pax `size` overrides the header).
 */
class TarEndTracker {
    pos = 0;
    header = [];
    headerLen = 0;
    /** data bytes (padded) of the current entry still to skip */
    skip = 0;
    /** collecting a pax extended header's data, to read its `size` record */
    pax;
    paxLeft = 0;
    paxSize;
    zeros = 0;
    /** offset just after the end-of-archive marker */
    endAt;
    /** offset of the first non-zero byte after the marker */
    trailingAt;
    /** Returns the part of `d` that belongs to the archive. */
    feed(d) {
        if (this.endAt !== undefined) {
            this.after(d, this.pos);
            this.pos += d.length;
            return d.subarray(0, 0);
        }
        let i = 0;
        while (i < d.length && this.endAt === undefined) {
            if (this.skip > 0) {
                i += this.skipData(d, i);
                continue;
            }
            const n = Math.min(TAR_BLOCK - this.headerLen, d.length - i);
            this.header.push(d.subarray(i, i + n));
            this.headerLen += n;
            i += n;
            if (this.headerLen === TAR_BLOCK)
                this.block(Buffer.concat(this.header), this.pos + i);
        }
        const start = this.pos;
        this.pos += d.length;
        if (this.endAt === undefined)
            return d;
        const cut = this.endAt - start;
        this.after(d.subarray(cut), this.endAt);
        return d.subarray(0, cut);
    }
    /** Skips entry data from `d` at `i`, keeping what a pax header holds; returns bytes skipped. */
    skipData(d, i) {
        const n = Math.min(this.skip, d.length - i);
        if (this.pax && this.paxLeft > 0) {
            const m = Math.min(n, this.paxLeft);
            this.pax.push(d.subarray(i, i + m));
            this.paxLeft -= m;
        }
        this.skip -= n;
        if (this.skip === 0 && this.pax)
            this.endPax();
        return n;
    }
    after(d, offset) {
        if (this.trailingAt !== undefined)
            return;
        const k = d.findIndex(b => b !== 0);
        if (k >= 0)
            this.trailingAt = offset + k;
    }
    block(h, endOffset) {
        this.header = [];
        this.headerLen = 0;
        if (h.every(b => b === 0)) {
            if (++this.zeros === 2)
                this.endAt = endOffset;
            return;
        }
        this.zeros = 0;
        const type = headerTypeFlag(h);
        let size = headerDataSize(h);
        if (type === 'x') {
            this.pax = [];
            this.paxLeft = Math.min(size, MAX_PAX_READ);
        }
        else if (type !== 'g' && type !== 'L' && type !== 'K') {
            if (this.paxSize !== undefined)
                size = this.paxSize;
            this.paxSize = undefined;
            if (type === '5')
                size = 0;
        }
        this.skip = Math.ceil(size / TAR_BLOCK) * TAR_BLOCK;
        if (this.skip === 0 && this.pax)
            this.endPax();
    }
    endPax() {
        const records = Buffer.concat(this.pax ?? []).toString('utf8');
        this.pax = undefined;
        const size = paxSizeRecord(records);
        if (size !== undefined)
            this.paxSize = size;
    }
}

;// CONCATENATED MODULE: ./src/validate/layer/symlinks.ts
/**
 * The symlinks of one layer as a tree of names, so that resolving a path through them costs one
 * step per name visited, however deep the path: looking every prefix of a path up in a map of
 * joined paths costs the square of its depth.
 */
/** Symlinks followed while resolving one path, as Linux allows (ELOOP beyond). */
const MAX_HOPS = 40;
class SymlinkTree {
    /** Only directories that lead to a symlink have a node, so a layer without any costs nothing. */
    root = {};
    /** names visited and nodes made so far: the work the path checker bounds */
    steps = 0;
    /** Makes the path of `parts` (normalised, non-empty) a symlink to `target`. */
    set(parts, target) {
        let node = this.root;
        for (const p of parts) {
            this.steps++;
            node.children ??= new Map();
            let child = node.children.get(p);
            if (!child) {
                child = {};
                node.children.set(p, child);
            }
            node = child;
        }
        node.symlink = {
            path: parts.join('/'),
            target,
            parts: target.split('/'),
            absolute: target.startsWith('/')
        };
    }
    /** The path of `parts` is no longer a symlink (an entry of another type replaced it). */
    delete(parts) {
        let node = this.root;
        for (const p of parts) {
            if (!node?.children)
                return;
            this.steps++;
            node = node.children.get(p);
        }
        if (node)
            node.symlink = undefined;
    }
    /**
     * Resolves `parts` (normalised) through the symlinks, lexically: an absolute target restarts
     * at the root (as containerd resolves it), `..` above the root leaves it. The last name is
     * followed only when `followLast` (a hardlink's target, which Python's tarfile links through
     * its symlink; an entry's own name is replaced, not followed). Returns the symlink through
     * which the path leaves the root, if it does.
     */
    escapeVia(parts, followLast) {
        if (!this.root.children)
            return undefined;
        const pending = [{ parts, next: 0, end: parts.length - (followLast ? 0 : 1) }];
        // The directories resolved so far; undefined where no symlink lies below.
        let dirs = [];
        let hops = 0;
        let last;
        while (pending.length) {
            const top = pending[pending.length - 1];
            if (top.next >= top.end) {
                pending.pop();
                continue;
            }
            const c = top.parts[top.next++];
            this.steps++;
            if (c === '' || c === '.')
                continue;
            if (c === '..') {
                if (dirs.length === 0)
                    return last;
                dirs.pop();
                continue;
            }
            const parent = dirs.length === 0 ? this.root : dirs[dirs.length - 1];
            const node = parent?.children?.get(c);
            const link = node?.symlink;
            if (!link) {
                dirs.push(node);
                continue;
            }
            last = { path: link.path, target: link.target };
            // A loop fails extraction (ELOOP) without writing anywhere: not an escape.
            if (++hops > MAX_HOPS)
                return undefined;
            if (link.absolute)
                dirs = [];
            pending.push({ parts: link.parts, next: 0, end: link.parts.length });
        }
        return undefined;
    }
}

;// CONCATENATED MODULE: ./src/validate/layer/paths.ts


/** Linux PATH_MAX: the longest path, in bytes, that open(2) or symlink(2) takes. */
const MAX_PATH_BYTES = 4096;
/** Linux NAME_MAX: the longest name of one file, in bytes. */
const MAX_NAME_BYTES = 255;
/**
 * Resolving paths through a layer's symlinks may take this many steps per byte of its headers
 * (at least 512 per entry), beyond BASE_STEPS: a real layer needs a few; a crafted chain of long
 * symlinks needs thousands per entry, and is then not resolved any further (an error).
 */
const STEPS_PER_BYTE = 4;
const BASE_STEPS = 1 << 20;
const HEADER_BYTES = 512;
/** The names of a tar path, `./a//b/` → [a, b]; undefined when `..` climbs out of the root. */
function normalisedParts(p) {
    return normalisedNames(p.split('/'));
}
function normalisedNames(names) {
    const out = [];
    for (const part of names) {
        if (part === '' || part === '.')
            continue;
        if (part === '..') {
            if (out.length === 0)
                return undefined;
            out.pop();
        }
        else
            out.push(part);
    }
    return out;
}
/** Normalises a tar path: `./a//b/` → `a/b`; undefined when `..` climbs out of the root. */
function normalise(p) {
    return normalisedParts(p)?.join('/');
}
/** Whether a path has more bytes than PATH_MAX, without encoding a long one. */
function overPathMax(p) {
    return p.length > MAX_PATH_BYTES || Buffer.byteLength(p) > MAX_PATH_BYTES;
}
function longName(parts) {
    return parts.find(p => p.length > MAX_NAME_BYTES / 3 && Buffer.byteLength(p) > MAX_NAME_BYTES);
}
/**
 * Checks a layer's tar headers in order, adding what it finds at `location` entry "name";
 * `finish` adds the whiteout findings that need the whole layer. Its work and what it keeps are
 * proportional to the headers' size: paths over PATH_MAX are refused before they are looked at.
 */
class TarPathChecker {
    location;
    add;
    /** entry type per normalised path seen so far: to find duplicates and judge hardlink targets */
    types = new Map();
    symlinks = new SymlinkTree();
    whiteouts = new Map();
    /** the steps the symlink resolution may take so far */
    allowance = BASE_STEPS;
    /** set once the allowance was spent: symlinks are no longer resolved */
    unresolved = false;
    /** names normalised so far */
    normalised = 0;
    /** names visited: the checker's work, which grows with the headers' size (tests bound it) */
    get steps() {
        return this.normalised + this.symlinks.steps;
    }
    constructor(location, add) {
        this.location = location;
        this.add = add;
    }
    where(name) {
        // A name no runtime can extract is shown cut, so a hostile one cannot flood the report.
        const shown = name.length > MAX_PATH_BYTES ? JSON.stringify(name.slice(0, 100)) + '…' : JSON.stringify(name);
        return `${this.location} entry ${shown}`;
    }
    parts(p) {
        const names = p.split('/');
        this.normalised += names.length;
        return normalisedNames(names);
    }
    /** Resolves through this layer's symlinks unless they took more work than the layer allows. */
    escapeVia(parts, followLast, loc) {
        if (this.unresolved)
            return undefined;
        const via = this.symlinks.escapeVia(parts, followLast);
        if (this.symlinks.steps > this.allowance) {
            this.unresolved = true;
            this.add(rules_finding('layer-path-unchecked', loc, `resolving the layer's paths through its symlinks took more than ${STEPS_PER_BYTE} steps per byte of its headers; the paths from here on were not checked for escapes`));
        }
        return via;
    }
    entry(h) {
        const name = h.name;
        const link = h.type === 'symlink' || h.type === 'link' ? (h.linkname ?? '') : '';
        this.allowance += STEPS_PER_BYTE * (HEADER_BYTES + name.length + link.length);
        if (overPathMax(name)) {
            this.add(rules_finding('layer-path-too-long', this.where(name), `the path has ${Buffer.byteLength(name)} bytes, more than Linux's PATH_MAX of ${MAX_PATH_BYTES}; no runtime can extract it`));
            return;
        }
        const loc = this.where(name);
        const parts = this.parts(name);
        if (parts === undefined) {
            this.add(rules_finding('layer-path-escapes', loc, 'the path climbs out of the root with ".."'));
            return;
        }
        if (parts.length === 0)
            return; // the root directory itself
        if (!this.namesFit(parts, loc) || !this.linkFits(link, loc))
            return;
        const norm = parts.join('/');
        const via = this.escapeVia(parts, false, loc);
        if (via)
            this.add(rules_finding('layer-path-escapes', loc, `the path goes through "${via.path}", a symlink in this layer to "${via.target}" that resolves outside the root; extracting it writes outside the image`));
        if (this.types.has(norm))
            this.add(rules_finding('layer-duplicate-path', loc, `the path "${norm}" appears more than once in the layer`));
        if (h.type === 'link')
            this.hardlink(link, norm, loc);
        const wasSymlink = this.types.get(norm) === 'symlink';
        this.types.set(norm, h.type ?? 'file');
        if (this.unresolved) {
            // symlinks are no longer resolved: none is recorded
        }
        else if (h.type === 'symlink')
            this.symlinks.set(parts, link);
        else if (wasSymlink)
            this.symlinks.delete(parts);
        if (parts[parts.length - 1].startsWith('.wh.'))
            this.whiteout(h, parts, loc);
    }
    /** Whether every name of the path fits NAME_MAX; reports the first that does not. */
    namesFit(parts, loc) {
        const long = longName(parts);
        if (long === undefined)
            return true;
        this.add(rules_finding('layer-name-too-long', loc, `the name "${long.slice(0, 100)}${long.length > 100 ? '…' : ''}" has ${Buffer.byteLength(long)} bytes, more than Linux's NAME_MAX of ${MAX_NAME_BYTES}; no runtime can extract it`));
        return false;
    }
    /** Whether a link target fits PATH_MAX (symlink(2) and link(2) refuse longer ones). */
    linkFits(link, loc) {
        if (!overPathMax(link))
            return true;
        this.add(rules_finding('layer-path-too-long', loc, `the link target has ${Buffer.byteLength(link)} bytes, more than Linux's PATH_MAX of ${MAX_PATH_BYTES}; no runtime can extract it`));
        return false;
    }
    /** The rules of a whiteout entry, whose path `parts` ends in a `.wh.` name. */
    whiteout(h, parts, loc) {
        const base = parts[parts.length - 1];
        if (base === '.wh.') {
            this.add(rules_finding('layer-whiteout-bare', loc, 'a whiteout ".wh." without the name of what it deletes'));
            return;
        }
        if (base.startsWith('.wh..wh.') && base !== '.wh..wh..opq') {
            this.add(rules_finding('layer-whiteout-meta', loc, `"${base}" is aufs metadata, not a whiteout; OCI runtimes ignore or reject it`));
            return;
        }
        if (h.type !== 'file' && h.type !== 'contiguous-file')
            this.add(rules_finding('layer-whiteout', loc, `a whiteout is a ${h.type}; it must be an empty regular file`));
        else if ((h.size ?? 0) > 0)
            this.add(rules_finding('layer-whiteout', loc, `a whiteout has ${h.size} bytes of data; it must be an empty regular file`));
        if (base === '.wh..wh..opq')
            return;
        const target = base.slice(4);
        if (target === '.' || target === '..') {
            this.add(rules_finding('layer-whiteout', loc, `a whiteout of "${target}", which names nothing that can be deleted`));
            return;
        }
        this.whiteouts.set([...parts.slice(0, -1), target].join('/'), h.name);
    }
    hardlink(target, norm, loc) {
        const parts = this.parts(target);
        if (parts === undefined) {
            this.add(rules_finding('layer-link-escapes', loc, `the hardlink target "${target}" climbs out of the root with ".."`));
            return;
        }
        if (!this.namesFit(parts, loc))
            return;
        const t = parts.join('/');
        const via = parts.length > 0 ? this.escapeVia(parts, true, loc) : undefined;
        if (via) {
            this.add(rules_finding('layer-link-escapes', loc, `the hardlink target "${target}" goes through "${via.path}", a symlink in this layer to "${via.target}" that resolves outside the root; Python's tarfile links the file outside the image`));
            return;
        }
        if (target.startsWith('/'))
            this.add(rules_finding('layer-hardlink-target', loc, `the hardlink target "${target}" is absolute; containerd resolves it under the root, other extractors may not`));
        if (t === '' || this.types.get(t) === 'directory') {
            this.add(rules_finding('layer-hardlink', loc, `the hardlink target "${target}" is a directory; hardlinks to directories are not allowed`));
            return;
        }
        if (!this.types.has(t))
            this.add(rules_finding('layer-hardlink-target', loc, t === norm
                ? `the hardlink points at itself`
                : `the hardlink target "${target}" is not an earlier entry of this layer (missing, or later in the tar); extraction fails or links a file of a lower layer`));
    }
    finish() {
        for (const [target, name] of this.whiteouts)
            if (this.types.has(target))
                this.add(rules_finding('layer-whiteout', this.where(name), `the whiteout deletes "${target}", which the same layer adds; whiteouts apply only to lower layers`));
    }
}

;// CONCATENATED MODULE: ./src/validate/layer/tar.ts
/**
 * The tar rules of a layer scan, fed the decompressed bytes: the tar is readable to its end,
 * ends with its end-of-archive blocks, holds nothing after them, and its entries pass the path
 * and whiteout rules. tar-stream parses the entries; TarEndTracker cuts the stream where Go's
 * and GNU tar stop, so entries after the marker, which extraction never sees, are not checked.
 */





/** What tar-stream says of a tar whose last entry is complete but whose end blocks are missing. */
const UNTERMINATED = 'Unexpected end of data';
class LayerTarCheck {
    location;
    add;
    extract = tar_stream.extract();
    extracted;
    end = new TarEndTracker();
    paths;
    /** entries whose data has not been read to its end; none when a tar lacks only its trailer */
    openEntries = 0;
    /** what the tar reader said when the tar could not be read to its end */
    tarError;
    constructor(location, add) {
        this.location = location;
        this.add = add;
        this.paths = new TarPathChecker(location, add);
        this.extract.on('entry', (header, stream, next) => {
            this.paths.entry(header);
            this.openEntries++;
            stream.on('end', () => {
                this.openEntries--;
                next();
            });
            stream.on('error', (err) => {
                this.tarError ??= err.message;
            });
            stream.resume();
        });
        this.extracted = new Promise(resolve => {
            this.extract.on('error', (err) => {
                this.tarError ??= err.message;
                resolve();
            });
            this.extract.on('finish', () => resolve());
            this.extract.on('close', () => resolve());
        });
    }
    /** Takes the next decompressed bytes; false asks the writer to wait for `drained`. */
    write(d) {
        if (this.tarError !== undefined)
            return true;
        const archive = this.end.feed(d);
        return archive.length === 0 ? true : this.extract.write(archive);
    }
    drained() {
        return waitDrain(this.extract);
    }
    destroy() {
        this.extract.destroy();
    }
    /** Ends the tar once every byte was written, and adds the findings that need its end. */
    async finish() {
        if (this.tarError === undefined)
            this.extract.end(undefined);
        await this.extracted;
        if (this.tarError === UNTERMINATED && this.openEntries === 0) {
            this.add(rules_finding('layer-tar-unterminated', this.location, 'the tar ends without its last block padding or end-of-archive blocks; every entry is complete, but strict readers (GNU tar) reject it'));
            this.paths.finish();
        }
        else if (this.tarError !== undefined)
            this.add(rules_finding('layer-tar', this.location, `the layer is not a readable tar archive: ${this.tarError}`));
        else
            this.paths.finish();
        if (this.end.trailingAt !== undefined)
            this.add(rules_finding('layer-tar-trailing', this.location, `the tar has non-zero bytes at byte ${this.end.trailingAt}, after its end-of-archive marker (two zero blocks ending at byte ${this.end.endAt}); tar readers stop at the marker and ignore them`));
    }
}

;// CONCATENATED MODULE: ./src/validate/layer/scan.ts
/**
 * Reads a blob once: the raw bytes are hashed (the descriptor digest) while they are decompressed,
 * and the decompressed bytes are hashed (the diff_id) while tar-stream parses them for the path
 * and whiteout rules. Nothing is buffered beyond the streams' own chunks.
 */






/** The magic numbers that tell gzip and zstd apart need this many bytes. */
const MAGIC_BYTES = 4;
async function scanBlob(raw, opts) {
    const rawHash = (0,external_node_crypto_namespaceObject.createHash)(opts.algorithm);
    let size = 0;
    const layer = opts.compression !== undefined ? new LayerContentScan(opts, opts.compression) : undefined;
    try {
        for await (const c of raw) {
            rawHash.update(c);
            size += c.length;
            if (layer)
                await layer.write(c);
        }
    }
    catch (err) {
        layer?.destroy();
        return { size, readError: errors_messageOf(err), findings: layer?.out.findings ?? [] };
    }
    const digest = `${opts.algorithm}:` + rawHash.digest('hex');
    if (!layer)
        return { size, digest, findings: [] };
    return layer.end(size, digest);
}
/**
 * What scanBlob does with a layer's bytes beyond hashing them: tells the compression from the
 * first bytes, decompresses, hashes the diff_id and hands the tar to LayerTarCheck.
 */
class LayerContentScan {
    opts;
    declared;
    out = cappedFindings();
    diffAlgorithm;
    diffHash;
    /** the first bytes, until there are enough to tell the compression */
    head;
    started = false;
    actual = 'none';
    decompressor;
    tar;
    constructor(opts, declared) {
        this.opts = opts;
        this.declared = declared;
        this.diffAlgorithm = opts.diffAlgorithm ?? 'sha256';
        this.diffHash = (0,external_node_crypto_namespaceObject.createHash)(this.diffAlgorithm);
    }
    async write(c) {
        this.opts.relief?.moved(c.length);
        let chunk = c;
        if (!this.started) {
            // A stream may deliver fewer bytes than the magic numbers first.
            this.head = this.head ? Buffer.concat([this.head, c]) : c;
            if (this.head.length < MAGIC_BYTES)
                return;
            chunk = this.head;
            this.head = undefined;
            this.start(chunk);
        }
        if (this.decompressor)
            await this.decompressor.write(chunk);
        else if (!this.toTar(chunk) && this.tar)
            await this.tar.drained();
    }
    /** Sets up the reading of the content once its compression can be told. */
    start(head) {
        this.started = true;
        this.actual = readableCompression(head);
        if (this.actual !== this.declared)
            this.out.add(rules_finding('layer-compression-mismatch', this.opts.location, `the media type says ${this.declared === 'none' ? 'uncompressed tar' : this.declared} but the content is ${this.actual === 'none' ? 'not gzip or zstd' : this.actual}`));
        if (this.opts.checkTar)
            this.tar = new LayerTarCheck(this.opts.location, this.out.add);
        if (this.actual === 'none')
            return;
        this.decompressor = new MultiFrameDecompressor(this.actual, d => {
            // Each decompressed chunk is a new Buffer, dead once the tar reader has it: in a layer
            // three times its compressed size, most of the garbage a validation leaves.
            this.opts.relief?.moved(d.length);
            return this.toTar(d);
        }, () => (this.tar ? this.tar.drained() : Promise.resolve()));
    }
    /** Takes decompressed bytes; false when the tar reader asks for a pause. */
    toTar(d) {
        this.diffHash.update(d);
        return this.tar ? this.tar.write(d) : true;
    }
    /** A blob shorter than the magic numbers is read only once it has ended. */
    async startShort() {
        const head = this.head;
        this.start(head ?? Buffer.alloc(0));
        if (!head)
            return;
        if (this.decompressor)
            await this.decompressor.write(head);
        else
            this.toTar(head);
    }
    destroy() {
        this.decompressor?.destroy();
        this.tar?.destroy();
    }
    /** Finishes the scan once all `size` bytes of the blob, whose digest is `digest`, were written. */
    async end(size, digest) {
        if (!this.started)
            await this.startShort();
        const decompressError = this.decompressor ? await this.decompressor.end() : undefined;
        this.decompressionFindings(decompressError, size);
        if (decompressError !== undefined)
            this.tar?.destroy();
        else if (this.tar)
            await this.tar.finish();
        this.out.close(this.opts.location);
        return {
            size,
            digest,
            diffId: decompressError === undefined
                ? `${this.diffAlgorithm}:` + this.diffHash.digest('hex')
                : undefined,
            findings: this.out.findings,
            ...(this.tar?.tarError !== undefined ? { tarError: this.tar.tarError } : {})
        };
    }
    decompressionFindings(decompressError, size) {
        const d = this.decompressor;
        if (d && decompressError === undefined && d.consumed < size)
            this.out.add(rules_finding('layer-compression-trailing', this.opts.location, `layer ${this.opts.digest ?? '(this blob)'} has ${size - d.consumed} trailing bytes (of ${size}) after its ${d.kind} ${d.kind === 'gzip' ? 'members' : 'frames'} that are not another ${d.kind === 'gzip' ? 'gzip member' : 'zstd frame'}; Node ignores them but Go readers (containerd, skopeo, umoci, buildah) reject the layer ("gzip: invalid header" for gzip); recompress it or cut it at byte ${d.consumed}`));
        if (decompressError !== undefined)
            this.out.add(rules_finding('layer-decompress', this.opts.location, `the ${this.actual} stream is corrupt: ${decompressError}` +
                (/Unknown frame descriptor/.test(decompressError)
                    ? ' (bytes that do not start a zstd frame, possibly trailing bytes after the last frame; Go readers reject them too)'
                    : '')));
    }
}

;// CONCATENATED MODULE: ./src/oci/limits.ts
/**
 * The largest manifest, index or config Lading reads. Distribution and skopeo refuse manifests
 * and configs above the same 4 MiB, so no image a registry serves needs more; a bigger document
 * is refused rather than read, so a hostile one cannot fill memory or be skipped by the checks.
 */
const MAX_DOCUMENT_BYTES = 4 * 1024 * 1024;

;// CONCATENATED MODULE: ./src/validate/blob-reads.ts
/**
 * How the validator reads the blobs of a graph: whether each is there, its bytes verified against
 * its descriptor, JSON documents read whole but never past MAX_DOCUMENT_BYTES, other blobs scanned
 * once per run (the ScanCache). Every problem becomes a finding; nothing here throws for bad input.
 */








class BlobReads {
    reader;
    opts;
    add;
    json = new Map();
    scans;
    /** Scan keys this walk has read or reused, for the cache's counts. */
    counted = new Set();
    /** Digests of blobs read to their end, so a layout check does not read them again. */
    hashed = new Set();
    constructor(reader, opts, add) {
        this.reader = reader;
        this.opts = opts;
        this.add = add;
        this.scans = opts.scans ?? new ScanCache();
    }
    /** Whether the blob can be read; reports why not otherwise. */
    async present(desc, loc) {
        if (!isRegisteredAlgorithm(desc.digest)) {
            this.add(rules_finding('descriptor-digest-unregistered', loc, `the blob ${desc.digest} uses an algorithm Lading cannot verify (sha256 and sha512 are registered); it was not checked`));
            return false;
        }
        let has;
        try {
            has = await this.reader.has(desc);
        }
        catch (err) {
            this.add(rules_finding('blob-unreadable', loc, `could not look for blob ${desc.digest} in ${this.reader.name}: ${errors_messageOf(err)}`));
            return false;
        }
        if (!has)
            this.add(this.absent(desc, loc));
        return has;
    }
    absent(desc, loc) {
        const where = this.reader.name;
        const foreign = (Array.isArray(desc.urls) && desc.urls.length > 0) ||
            desc.mediaType.includes('.nondistributable.') ||
            desc.mediaType.includes('.foreign.');
        const blob = `blob ${desc.digest} (${desc.mediaType})`;
        if (this.opts.notDownloaded?.has(desc.digest))
            return rules_finding('blob-not-downloaded', loc, `${blob} was not downloaded (it stays in its registry), so its content was not checked`);
        if (foreign)
            return rules_finding('blob-missing', loc, `${blob} is not in ${where}; it is non-distributable or has \`urls\`, so it is fetched from elsewhere`);
        if (this.opts.requireAllBlobs)
            return rules_finding('blob-missing-required', loc, `${blob} is missing from ${where}, and it must be pushed; rebuild or re-copy the image`);
        return rules_finding('blob-missing', loc, `${blob} is missing from ${where}; only an external blob store can provide it`);
    }
    /** Compares what was read with the descriptor. */
    verify(desc, got, loc) {
        if (got.readError !== undefined) {
            this.add(rules_finding('blob-unreadable', loc, `reading blob ${desc.digest} failed after ${got.size} bytes: ${got.readError}`));
            return;
        }
        if (got.size !== desc.size)
            this.add(rules_finding('blob-size-mismatch', loc, `blob ${desc.digest} has ${got.size} bytes but the descriptor says ${desc.size}`));
        if (got.digest !== desc.digest)
            this.add(rules_finding('blob-digest-mismatch', loc, `blob ${desc.digest} has content with digest ${got.digest}`));
    }
    /** A JSON document's bytes, read once per walk whoever asks, never past MAX_DOCUMENT_BYTES. */
    readJson(desc) {
        let p = this.json.get(desc.digest);
        if (!p) {
            p = this.readJsonOnce(desc);
            this.json.set(desc.digest, p);
        }
        return p;
    }
    async readJsonOnce(desc) {
        // Whatever happens below, the blob was dealt with: the layout's blob sweep must not read it.
        this.hashed.add(desc.digest);
        // A descriptor that declares more is refused unread; one that lies is cut one byte past.
        if (desc.size > MAX_DOCUMENT_BYTES)
            return { size: 0, tooLarge: true };
        const algorithm = desc.digest.split(':', 1)[0];
        const chunks = [];
        let size = 0;
        const h = (0,external_node_crypto_namespaceObject.createHash)(algorithm);
        let s;
        try {
            s = await this.reader.open(desc);
            for await (const c of s) {
                const room = MAX_DOCUMENT_BYTES + 1 - size;
                const part = c.length > room ? c.subarray(0, room) : c;
                size += part.length;
                if (size > MAX_DOCUMENT_BYTES)
                    return { size, tooLarge: true };
                h.update(part);
                chunks.push(part);
            }
        }
        catch (err) {
            return { size, readError: errors_messageOf(err) };
        }
        finally {
            // Leaving the loop early ends the stream; a stream never iterated is closed here.
            s?.destroy();
        }
        return { size, digest: `${algorithm}:` + h.digest('hex'), bytes: Buffer.concat(chunks) };
    }
    /** Reads a blob to its end once per run: as a layer (decompressed, tar checked) or opaque. */
    async scan(desc, layer, diffAlgorithm = 'sha256') {
        const key = layer ? scanKey(desc, diffAlgorithm) : `${desc.digest} opaque ${diffAlgorithm}`;
        let p = this.scans.get(key);
        if (p) {
            // Counted once per walk: a layer listed twice, or read ahead, is not a second reuse.
            if (!this.counted.has(key))
                this.scans.reused++;
            this.counted.add(key);
        }
        else {
            this.counted.add(key);
            p = this.scanOnce(desc, key, layer, diffAlgorithm);
            this.scans.set(key, p);
        }
        const r = await p;
        // Read (if not to its end): the layout's sweep of unreferenced blobs need not read it again.
        if (!r.unopened)
            this.hashed.add(desc.digest);
        return r;
    }
    /**
     * A blob file unchanged since an earlier step checked it takes that step's verdict; a file read
     * here leaves its verdict for later steps, if it did not change while it was read.
     */
    async scanOnce(desc, key, layer, diffAlgorithm) {
        const verdicts = this.scans.verdicts;
        const file = verdicts ? this.fileOf(desc) : undefined;
        const before = file ? await verdicts?.identify(file) : undefined;
        if (!verdicts || !file || !before)
            return this.read(desc, layer, diffAlgorithm);
        const kept = await verdicts.lookup(key, desc.digest, before);
        if (kept) {
            this.scans.fromEarlierSteps++;
            return kept;
        }
        const scan = await this.read(desc, layer, diffAlgorithm);
        const after = await verdicts.identify(file);
        if (after && sameFile(before, after) && isCompleteScan(scan, desc.digest))
            await verdicts.record(key, desc.digest, before, scan);
        return scan;
    }
    fileOf(desc) {
        try {
            return this.reader.fileOf?.(desc.digest);
        }
        catch {
            return undefined;
        }
    }
    async read(desc, layer, diffAlgorithm) {
        this.scans.reads++;
        let s;
        try {
            s = await this.reader.open(desc);
        }
        catch (err) {
            return { size: 0, readError: errors_messageOf(err), findings: [], unopened: true };
        }
        return scanBlob(s, {
            algorithm: desc.digest.split(':', 1)[0],
            diffAlgorithm,
            compression: layer ? layerCompression(desc.mediaType) : undefined,
            checkTar: layer,
            location: layerLocation(desc.digest),
            digest: desc.digest,
            relief: this.scans.relief
        });
    }
}

;// CONCATENATED MODULE: ./src/validate/walker.ts











/** Layers of a manifest read at once beyond the one whose findings are being taken. */
const LAYERS_AHEAD = 2;
/** The algorithm of `rootfs.diff_ids[i]` when it is sha512 (the other registered one), else sha256. */
function diffAlgorithmOf(config, i) {
    const rootfs = config?.rootfs;
    const id = isObject(rootfs) && Array.isArray(rootfs.diff_ids) ? rootfs.diff_ids[i] : undefined;
    return typeof id === 'string' && id.startsWith('sha512:') ? 'sha512' : 'sha256';
}
function descriptorPlatform(d) {
    const p = d.platform;
    return isObject(p) && typeof p.os === 'string' && typeof p.architecture === 'string'
        ? p
        : undefined;
}
class Walker {
    opts;
    blobName;
    findings = [];
    reads;
    reportedContent = new Set();
    seenFindings = new Set();
    /** The walk's memo, shared by every root walked (a layout's index.json entries). */
    walked = new Set();
    constructor(reader, opts, blobName) {
        this.opts = opts;
        this.blobName = blobName;
        this.reads = new BlobReads(reader, opts, (...f) => this.add(...f));
    }
    /** Digests of blobs read to their end, so a layout check does not read them again. */
    get hashed() {
        return this.reads.hashed;
    }
    /** A finding reached through several paths (shared indexes, manifests) is reported once. */
    add(...f) {
        for (const x of f) {
            const key = `${x.rule}\0${x.location}\0${x.message}`;
            if (this.seenFindings.has(key))
                continue;
            this.seenFindings.add(key);
            this.findings.push(x);
        }
    }
    /** Walks what an index entry (or a root descriptor) points at; its own rules are its index's. */
    async entry(d, loc) {
        if (!isObject(d) || !descriptor_checkDescriptor(d, loc, []))
            return;
        const root = {
            desc: d,
            loc,
            platform: descriptorPlatform(d)
        };
        await walkGraph(root, {
            descriptor: n => n.desc,
            key: n => this.keyOf(n),
            cycle: n => this.add(rules_finding('index-cycle', n.loc, `the index ${n.desc.digest} is nested in itself`)),
            tooDeep: n => this.add(rules_finding('index-depth', n.loc, `the index ${n.desc.digest} is nested more than ${MAX_INDEX_DEPTH} indexes deep; Lading does not walk deeper, so nothing below it was checked`)),
            children: (n, at) => this.visit(n, at)
        }, { seen: this.walked });
    }
    /**
     * Manifests are walked once per platform their indexes give them (each is checked against its
     * config); indexes once; other blobs at each place, as only their bytes are checked (once).
     */
    keyOf(n) {
        if (isIndexMediaType(n.desc.mediaType))
            return n.desc.digest;
        if (isManifestMediaType(n.desc.mediaType))
            return `${n.desc.digest} ${n.platform ? JSON.stringify(n.platform) : ''}`;
        return `${n.desc.digest} ${n.loc}`;
    }
    async visit(n, _at) {
        try {
            if (isIndexMediaType(n.desc.mediaType))
                return await this.index(n);
            if (isManifestMediaType(n.desc.mediaType))
                await this.manifest(n);
            // An unknown media type in an index must not be an error: only its bytes are verified.
            else
                await this.opaque(n.desc, n.loc);
        }
        catch (err) {
            // A bug or an unforeseen input must still end in a report, never a crash.
            this.add(rules_finding('blob-unreadable', n.loc, `could not be checked: ${errors_messageOf(err)}`));
        }
        return [];
    }
    async index(n) {
        const doc = await this.document(n.desc, n.loc, 'index');
        if (doc === undefined)
            return [];
        const where = `${this.blobName(n.desc.digest)} (index)`;
        const out = [];
        image_index_checkIndex(doc, where, out);
        this.add(...out);
        this.checkOwnType(doc, n.desc, where);
        if (!isObject(doc) || !Array.isArray(doc.manifests))
            return [];
        const children = [];
        doc.manifests.forEach((m, i) => {
            const loc = at(where, `manifests[${i}]`);
            if (isObject(m) && descriptor_checkDescriptor(m, loc, []))
                children.push({ desc: m, loc, platform: descriptorPlatform(m) });
        });
        return children;
    }
    checkOwnType(doc, desc, where) {
        if (isObject(doc) && typeof doc.mediaType === 'string' && doc.mediaType !== desc.mediaType)
            this.add(rules_finding('descriptor-mediatype-mismatch', where, `the document says \`mediaType\` "${doc.mediaType}" but it is referenced as "${desc.mediaType}"`));
    }
    async manifest(n) {
        const { desc, loc, platform } = n;
        const doc = await this.document(desc, loc, 'manifest');
        if (doc === undefined)
            return;
        const where = `${this.blobName(desc.digest)} (manifest)`;
        const out = [];
        manifest_checkManifest(doc, where, out);
        this.add(...out);
        this.checkOwnType(doc, desc, where);
        if (!isObject(doc))
            return;
        const cd = isObject(doc.config) && descriptor_checkDescriptor(doc.config, at(where, 'config'), []);
        const configDesc = cd ? doc.config : undefined;
        const config = configDesc ? await this.config(configDesc, at(where, 'config')) : undefined;
        if (config && platform)
            this.checkPlatform(config, platform, loc);
        const layers = Array.isArray(doc.layers) ? doc.layers : [];
        const diffIds = await this.layers(layers, where, config);
        if (!config || !configDesc)
            return;
        const cwhere = `${this.blobName(configDesc.digest)} (config)`;
        this.checkRootfs(config, cwhere, desc, layers.length, diffIds);
        this.checkHistory(config, cwhere, layers.length);
    }
    /** A manifest's config: parsed and checked when it is an image config, else only verified. */
    async config(desc, loc) {
        if (desc.mediaType !== MediaType.ImageConfig && desc.mediaType !== MediaType.DockerConfig) {
            await this.opaque(desc, loc);
            return undefined;
        }
        const doc = await this.document(desc, loc, 'config');
        if (doc === undefined)
            return undefined;
        const out = [];
        config_checkConfig(doc, `${this.blobName(desc.digest)} (config)`, out);
        this.add(...out);
        return isObject(doc) ? doc : undefined;
    }
    checkPlatform(config, platform, loc) {
        if (typeof config.os !== 'string' || typeof config.architecture !== 'string')
            return;
        const cp = platformOfConfig(config);
        if (!platformsEqual(platform, cp))
            this.add(rules_finding('platform-mismatch', loc, `the index says platform ${formatPlatform(platform)} but the config says ${formatPlatform(cp)}`));
    }
    /**
     * Each layer's diff_id where it could be computed. Layers are read a few at a time (their
     * decompression runs on other cores), while their findings are still taken in order, so the
     * report does not depend on which finished first.
     */
    async layers(layers, where, config) {
        const readAhead = (i) => {
            const l = layers[i];
            if (this.opts.checkLayers === false || !isObject(l) || !descriptor_checkDescriptor(l, '', []))
                return;
            const d = l;
            // Layers left in their registry are not there to read.
            if (!isRegisteredAlgorithm(d.digest) || this.opts.notDownloaded?.has(d.digest))
                return;
            const isLayer = layerCompression(d.mediaType) !== undefined;
            this.reads.scan(d, isLayer, diffAlgorithmOf(config, i)).catch(() => { });
        };
        for (let i = 0; i < Math.min(LAYERS_AHEAD, layers.length); i++)
            readAhead(i);
        const diffIds = [];
        for (let i = 0; i < layers.length; i++) {
            if (i + LAYERS_AHEAD < layers.length)
                readAhead(i + LAYERS_AHEAD);
            const l = layers[i];
            const lloc = at(where, `layers[${i}]`);
            if (!isObject(l) || !descriptor_checkDescriptor(l, lloc, [])) {
                diffIds.push(undefined);
                continue;
            }
            diffIds.push(await this.layer(l, lloc, diffAlgorithmOf(config, i)));
        }
        return diffIds;
    }
    checkRootfs(config, cwhere, manifest, layerCount, diffIds) {
        const rootfs = config.rootfs;
        if (!isObject(rootfs) || !Array.isArray(rootfs.diff_ids))
            return;
        const ids = rootfs.diff_ids;
        if (ids.length !== layerCount)
            this.add(rules_finding('config-diff-ids', cwhere, `\`rootfs.diff_ids\` has ${ids.length} entries but the manifest ${this.blobName(manifest.digest)} has ${layerCount} layers`));
        for (let i = 0; i < Math.min(ids.length, layerCount); i++)
            if (diffIds[i] !== undefined && ids[i] !== diffIds[i])
                this.add(rules_finding('config-diff-id-mismatch', cwhere, `\`rootfs.diff_ids[${i}]\` is ${JSON.stringify(ids[i])} but layers[${i}] uncompressed has ${diffIds[i]}`));
    }
    checkHistory(config, cwhere, layerCount) {
        if (!Array.isArray(config.history))
            return;
        const nonEmpty = config.history.filter(h => !(isObject(h) && h.empty_layer === true)).length;
        if (nonEmpty !== layerCount)
            this.add(rules_finding('config-history-layers', cwhere, `\`history\` has ${nonEmpty} entries without \`empty_layer: true\` but the manifest has ${layerCount} layers`));
    }
    /** Reads, verifies and parses a JSON blob; undefined when there is nothing to parse. */
    async document(desc, loc, what) {
        if (!(await this.reads.present(desc, loc)))
            return undefined;
        const blob = await this.reads.readJson(desc);
        if (blob.tooLarge) {
            this.add(this.tooLarge(desc, loc, what));
            return undefined;
        }
        this.reads.verify(desc, blob, loc);
        if (!blob.bytes)
            return undefined;
        const parsed = json_parseDocument(blob.bytes, `${this.blobName(desc.digest)} (${what})`);
        if (!this.reportedContent.has(desc.digest))
            this.add(...parsed.findings);
        this.reportedContent.add(desc.digest);
        return parsed.value;
    }
    /** A document Lading does not read: an error, since nothing it holds or leads to is checked. */
    tooLarge(desc, loc, what) {
        const read = desc.size > MAX_DOCUMENT_BYTES
            ? `its descriptor declares ${desc.size} bytes, so it was not read`
            : `its descriptor declares ${desc.size} bytes but it holds more; reading stopped at byte ${MAX_DOCUMENT_BYTES + 1}`;
        return rules_finding('json-too-large', loc, `the ${what} ${desc.digest} is larger than the ${MAX_DOCUMENT_BYTES} bytes (4 MiB) Lading reads of a document: ${read}. Its digest could not be verified, and nothing it holds or references was checked`);
    }
    async opaque(desc, loc) {
        if (!(await this.reads.present(desc, loc)))
            return;
        this.reads.verify(desc, await this.reads.scan(desc, false), loc);
    }
    /** Returns the layer's diff_id when it could be computed. */
    async layer(desc, loc, diffAlgorithm = 'sha256') {
        if (!(await this.reads.present(desc, loc)))
            return undefined;
        // Without layer checks (registry sources) a layer is never downloaded: presence is all we ask.
        if (this.opts.checkLayers === false)
            return undefined;
        const isLayer = layerCompression(desc.mediaType) !== undefined;
        const r = await this.reads.scan(desc, isLayer, diffAlgorithm);
        this.reads.verify(desc, r, loc);
        const key = `layer ${desc.digest}`;
        if (!this.reportedContent.has(key))
            this.add(...r.findings);
        this.reportedContent.add(key);
        return r.diffId;
    }
}

;// CONCATENATED MODULE: ./src/validate/layout.ts
/** Validation of an OCI image layout directory: its files, its blob names, and every image it holds. */













/** A blob's name in findings: `blobs/sha256/0123456789ab…`. */
function layoutBlobName(digest) {
    const [alg, enc] = digest.split(':', 2);
    return `blobs/${alg}/${enc && enc.length > 12 ? enc.slice(0, 12) + '…' : (enc ?? '')}`;
}
/** A file's bytes, never more than MAX_DOCUMENT_BYTES + 1 of them (then it is too large to check). */
async function readBounded(file) {
    const chunks = [];
    // `end` is inclusive: one byte past the limit tells a document that is too large.
    for await (const c of (0,external_node_fs_namespaceObject.createReadStream)(file, { end: MAX_DOCUMENT_BYTES }))
        chunks.push(c);
    return Buffer.concat(chunks);
}
async function readFileOrFinding(file, rule, loc, out) {
    let bytes;
    try {
        bytes = await readBounded(file);
    }
    catch (err) {
        const code = err.code;
        out.push(rules_finding(rule, loc, code === 'ENOENT' ? 'the file is missing' : `cannot be read: ${errors_messageOf(err)}`));
        return undefined;
    }
    if (bytes.length <= MAX_DOCUMENT_BYTES)
        return bytes;
    out.push(rules_finding('json-too-large', loc, `the file is larger than the ${MAX_DOCUMENT_BYTES} bytes (4 MiB) Lading reads of a document; reading stopped at byte ${MAX_DOCUMENT_BYTES + 1}, so nothing it holds or references was checked`));
    return undefined;
}
/** Whether a directory entry is a regular file, or a symlink that resolves to one (the spec is silent on links). */
async function isFileOrLinkToFile(dir, f) {
    if (f.isFile())
        return true;
    if (!f.isSymbolicLink())
        return false;
    try {
        return (await promises_namespaceObject.stat(external_node_path_namespaceObject.join(dir, f.name))).isFile();
    }
    catch {
        return false;
    }
}
/** Returns the digests whose names are well formed and whose algorithm Lading can hash. */
async function checkBlobNames(root, out) {
    const named = [];
    const blobs = external_node_path_namespaceObject.join(root, 'blobs');
    let algs;
    try {
        algs = await promises_namespaceObject.readdir(blobs, { withFileTypes: true });
    }
    catch (err) {
        const code = err.code;
        out.push(rules_finding('layout-blobs-dir', 'blobs', code === 'ENOENT' ? 'the directory is missing' : `cannot be read: ${errors_messageOf(err)}`));
        return named;
    }
    for (const a of algs) {
        const loc = `blobs/${a.name}`;
        if (!a.isDirectory()) {
            out.push(rules_finding('layout-blob-name', loc, 'blobs/ holds only one directory per digest algorithm'));
            continue;
        }
        if (!isAlgorithmName(a.name)) {
            out.push(rules_finding('layout-blob-name', loc, `"${a.name}" is not a digest algorithm name`));
            continue;
        }
        let files;
        try {
            files = await promises_namespaceObject.readdir(external_node_path_namespaceObject.join(blobs, a.name), { withFileTypes: true });
        }
        catch (err) {
            out.push(rules_finding('layout-blob-name', loc, `cannot be read: ${errors_messageOf(err)}`));
            continue;
        }
        let reported = 0;
        for (const f of files) {
            const floc = `blobs/${a.name}/${f.name}`;
            let why;
            if (!(await isFileOrLinkToFile(external_node_path_namespaceObject.join(blobs, a.name), f)))
                why = 'is not a regular file';
            else if (!isEncodedName(f.name))
                why = `"${f.name}" is not an encoded digest`;
            else {
                const p = digestFinding(`${a.name}:${f.name}`);
                if (p)
                    why = p.why;
                else if (isRegisteredAlgorithm(`${a.name}:${f.name}`))
                    named.push(`${a.name}:${f.name}`);
            }
            if (why && reported++ < 50)
                out.push(rules_finding('layout-blob-name', floc, why));
        }
    }
    return named;
}
/** image-layout.md: "The content of blobs/<alg>/<encoded> MUST match the digest", referenced or not. */
async function checkUnreadBlobs(root, digests, hashed, out) {
    let reported = 0;
    for (const digest of digests) {
        if (hashed.has(digest))
            continue;
        const [alg, enc] = digest.split(':', 2);
        const file = external_node_path_namespaceObject.join(root, 'blobs', alg, enc);
        const r = await scanBlob((0,external_node_fs_namespaceObject.createReadStream)(file, { highWaterMark: 256 * 1024 }), {
            algorithm: alg,
            checkTar: false,
            location: layoutBlobName(digest)
        });
        if (r.readError !== undefined) {
            out.push(rules_finding('blob-unreadable', layoutBlobName(digest), `cannot be read: ${r.readError}`));
            continue;
        }
        const got = r.digest;
        if (got !== digest && reported++ < 50)
            out.push(rules_finding('blob-digest-mismatch', `blobs/${alg}/${enc}`, `the file's content has digest ${got}, not the digest its name gives; no descriptor references it, but every blob must match its name`));
    }
}
async function walkLayout(dir, opts) {
    const out = [];
    try {
        const layoutBytes = await readFileOrFinding(external_node_path_namespaceObject.join(dir, 'oci-layout'), 'layout-oci-layout', 'oci-layout', out);
        if (layoutBytes) {
            const p = json_parseDocument(layoutBytes, 'oci-layout');
            out.push(...p.findings);
            if (p.value !== undefined)
                layout_file_checkLayoutFile(p.value, 'oci-layout', out);
        }
        const named = await checkBlobNames(dir, out);
        const indexBytes = await readFileOrFinding(external_node_path_namespaceObject.join(dir, 'index.json'), 'layout-index-json', 'index.json', out);
        const hashed = new Set();
        try {
            if (indexBytes)
                await walkIndex(dir, indexBytes, opts, hashed, out);
        }
        finally {
            await checkUnreadBlobs(dir, named, hashed, out);
        }
    }
    catch (err) {
        out.push(rules_finding('blob-unreadable', dir, `the layout could not be read: ${errors_messageOf(err)}`));
    }
    return out;
}
async function walkIndex(dir, indexBytes, opts, hashed, out) {
    const p = json_parseDocument(indexBytes, 'index.json');
    out.push(...p.findings);
    if (p.value === undefined)
        return;
    image_index_checkIndex(p.value, 'index.json', out);
    if (isObject(p.value) &&
        p.value.mediaType !== undefined &&
        p.value.mediaType !== 'application/vnd.oci.image.index.v1+json')
        out.push(rules_finding('layout-index-json', 'index.json', `\`mediaType\` is ${JSON.stringify(p.value.mediaType)}; index.json must be an OCI image index`));
    if (!isObject(p.value) || !Array.isArray(p.value.manifests))
        return;
    // Validation reads in smaller chunks: they are decompressed, and their tars parsed, at once.
    const walker = new Walker(new Layout(dir, { readChunk: 256 * 1024 }), opts, layoutBlobName);
    for (let i = 0; i < p.value.manifests.length; i++)
        await walker.entry(p.value.manifests[i], at('index.json', `manifests[${i}]`));
    out.push(...walker.findings);
    for (const d of walker.hashed)
        hashed.add(d);
}

;// CONCATENATED MODULE: ./src/validate/report.ts
/**
 * valid: no error (failOn 'error' or 'never'), no error and no warning (failOn 'warning'); info
 * findings never count. 'never' only means the caller does not fail its step on an invalid report.
 */
function makeReport(findings, failOn = 'error') {
    const errors = findings.filter(f => f.severity === 'error').length;
    const warnings = findings.filter(f => f.severity === 'warning').length;
    const valid = failOn === 'warning' ? errors + warnings === 0 : errors === 0;
    return { valid, errors, warnings, findings };
}
function formatReport(report) {
    const lines = report.findings.map(f => `${f.severity.padEnd(7)} ${f.rule}  ${f.location}: ${f.message}`);
    const plural = (n, w) => `${n} ${w}${n === 1 ? '' : 's'}`;
    lines.push(`${report.valid ? 'valid' : 'invalid'}: ${plural(report.errors, 'error')}, ${plural(report.warnings, 'warning')}`);
    return lines.join('\n');
}

;// CONCATENATED MODULE: ./src/validate/layer/checks.ts
/**
 * The validator's layer checks as a builder runs them on a layer it writes or converts, so the
 * layer need not be read back: what they find is what scanBlob would find reading the layer.
 */





/** Stands for the layer's location until its digest is known. */
const PENDING = '\0layer';
/** What a layer's own scan gives for it, the findings made under PENDING moved to its location. */
function scanOf(layer, findings, tarError) {
    const location = layerLocation(layer.digest);
    return {
        size: layer.size,
        digest: layer.digest,
        diffId: layer.diffId,
        findings: findings.map(f => f.location.startsWith(PENDING)
            ? { ...f, location: location + f.location.slice(PENDING.length) }
            : f),
        ...(tarError !== undefined ? { tarError } : {})
    };
}
/**
 * The content checks of scanBlob for a tar Lading writes itself, fed each header as it is
 * written: the tar is well formed by construction, so its paths and whiteouts are all there is
 * to check, and the layer need not be read back to validate it.
 */
class HeaderCheck {
    out = cappedFindings();
    paths = new TarPathChecker(PENDING, this.out.add);
    entry(h) {
        this.paths.entry(h);
    }
    /** What scanBlob would have found reading the finished layer. */
    result(layer) {
        this.paths.finish();
        this.out.close(PENDING);
        return scanOf(layer, this.out.findings);
    }
}
/**
 * scanBlob over a plain tar written into `sink`, for a layer made from a tarball: its content
 * findings are found as the tarball is read, and `result` gives them for the layer the tar ends
 * up in (digest, size and diff_id computed by the builder), as scanBlob on the layer would.
 */
function tarScanner() {
    const sink = new external_node_stream_namespaceObject.PassThrough();
    const scan = scanBlob(sink, {
        algorithm: 'sha256',
        compression: 'none',
        checkTar: true,
        location: PENDING
    });
    return {
        sink,
        tarError: async () => (await scan).tarError,
        async result(layer) {
            const r = await scan;
            // Compression findings were the builder's to check (its own output, or a kept stream it
            // read to its end); what the plain tar shows is the tar's.
            const findings = r.findings.filter(f => !f.rule.startsWith('layer-compression'));
            return scanOf(layer, findings, r.tarError);
        }
    };
}
/** The validator's checks as a builder receives them. */
const layerChecks = {
    entries: () => new HeaderCheck(),
    tarStream: () => tarScanner()
};

;// CONCATENATED MODULE: ./src/util/listing.ts
/** Untrusted names in messages: escaped onto one line, and lists of them bounded. */
/** Names a message lists before it says how many more there are. */
const LISTED_AT_MOST = 10;
/**
 * A value as one line: control characters (a newline in a label, a terminal escape in a hostile
 * image) are written as escapes, so that a name read from input cannot start a line of its own
 * in a log (where `::` at a line's start is a workflow command) or move the terminal's cursor.
 */
function escapedLine(value) {
    // eslint-disable-next-line no-control-regex -- control characters are what must be escaped
    return value.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, escaped);
}
function escaped(c) {
    const named = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };
    return named[c] ?? `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`;
}
/**
 * Text for a log, whose lines are its own: control characters other than a newline or a tab are
 * escaped (a terminal escape, a carriage return that overwrites a line), and a line that would
 * start with `::`, which the Actions runner reads as a workflow command (`::error::`,
 * `::add-mask::`, `::stop-commands::`), starts with `\u003a:` instead. Lading writes no
 * command through its log: those go through @actions/core, which escapes what they carry.
 */
function commandFree(text) {
    return (text
        // eslint-disable-next-line no-control-regex -- control characters are what must be escaped
        .replace(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u2028\u2029]/g, escaped)
        // White space before it is any the runner trims (.NET's, within JavaScript's \s).
        .replace(/(^|\n)([^\S\n]*)::/g, '$1$2\\u003a:'));
}
/** `text` cut to `max` characters with an ellipsis: a quoted answer stays short. */
function clipped(text, max) {
    return text.length > max ? text.slice(0, max) + '…' : text;
}
/** `a, b, c`, or the first `max` and how many more: a message stays short whatever the input. */
function listed(items, max = LISTED_AT_MOST, separator = ', ') {
    const shown = items.slice(0, max).join(separator);
    return items.length > max ? `${shown} and ${items.length - max} more` : shown;
}

;// CONCATENATED MODULE: ./src/validate/referrers.ts
/**
 * Referrers lists (distribution-spec v1.1.1): the image index the referrers API answers, or the
 * one a registry without that API keeps under the fallback tag `<alg>-<ref>`. Both list the
 * manifests whose `subject` is one digest, each entry carrying the manifest's `artifactType` (or
 * its config's media type) and its annotations, so clients can filter without fetching them.
 */






/**
 * Checks a referrers list of `subject`. `manifests` holds the listed manifests the caller read,
 * parsed, by digest: entries whose manifest it holds are checked against it.
 */
function checkReferrersList(doc, subject, loc, manifests = new Map()) {
    const out = [];
    if (!isObject(doc) ||
        !Array.isArray(doc.manifests) ||
        !isIndexMediaType(doc.mediaType)) {
        out.push(rules_finding('referrers-index', loc, `the referrers list of ${subject} is not an image index with \`mediaType\` and \`manifests\``));
        if (!isObject(doc))
            return out;
    }
    image_index_checkIndex(doc, loc, out);
    if (!Array.isArray(doc.manifests))
        return out;
    doc.manifests.forEach((entry, i) => {
        const where = at(loc, `manifests[${i}]`);
        if (!isObject(entry))
            return;
        const mt = entry.mediaType;
        if (!isManifestMediaType(mt) && !isIndexMediaType(mt))
            out.push(rules_finding('referrers-index', where, `lists ${show(mt)}, which is neither a manifest nor an index`));
        const listed = typeof entry.digest === 'string' ? manifests.get(entry.digest) : undefined;
        if (isObject(listed))
            checkEntry(entry, listed, subject, where, out);
    });
    return out;
}
/** One entry against the manifest it names. */
function checkEntry(entry, manifest, subject, where, out) {
    const sub = isObject(manifest.subject) ? manifest.subject.digest : undefined;
    if (sub !== subject)
        out.push(rules_finding('referrers-subject', where, `${show(entry.digest)} has subject ${show(sub)}, not ${subject}: it does not refer to it`));
    const config = isObject(manifest.config) ? manifest.config.mediaType : undefined;
    const expected = manifest.artifactType ?? (isManifestMediaType(entry.mediaType) ? config : undefined);
    if (entry.artifactType !== expected)
        out.push(rules_finding('referrers-artifacttype', where, `\`artifactType\` is ${show(entry.artifactType)}, but the manifest says ${show(expected)}`));
    const own = isObject(manifest.annotations) ? manifest.annotations : {};
    const given = isObject(entry.annotations) ? entry.annotations : {};
    const missing = Object.keys(own).filter(k => given[k] !== own[k]);
    if (missing.length)
        out.push(rules_finding('referrers-annotations', where, `lacks the manifest's annotation(s) ${listed(missing.map(k => show(k)))}`));
}

;// CONCATENATED MODULE: ./src/validate/index.ts













/** Validates an OCI image layout directory and every image its index.json references. */
async function validateLayout(dir, opts = {}) {
    return makeReport(await walkLayout(dir, opts));
}
/**
 * Validates the image graph below `root` whose blobs are read through `reader` (registry,
 * archives). `location` prefixes finding locations.
 */
async function validateImage(reader, root, opts = {}) {
    const prefix = opts.location ?? reader.name;
    const where = prefix ? `${prefix} ` : '';
    const walker = new Walker(reader, opts, d => `${where}${d.slice(0, 19)}…`);
    const rootLoc = prefix || 'root';
    const out = [];
    if (!descriptor_checkDescriptor(root, rootLoc, out, { platform: true }))
        return out;
    try {
        await walker.entry(root, rootLoc);
    }
    catch (err) {
        out.push(rules_finding('blob-unreadable', rootLoc, `the image could not be read: ${errors_messageOf(err)}`));
    }
    return [...out, ...walker.findings];
}
const DIGEST = /sha(256|512):[0-9a-f]{64,128}/;
/**
 * Drops findings that repeat an earlier one: the same rule about the same blob (the first full
 * digest in the message), or, when the message names no digest, the same rule, location and
 * message. A base layer's problem is found once when a source is validated and again in the
 * output; the first (source) finding is kept. Locations are not searched for a digest: a source
 * reference such as `reg/x@sha256:…` prefixes every location of that source, so distinct
 * findings would collapse.
 */
function dedupeFindings(findings) {
    const seen = new Set();
    const out = [];
    for (const f of findings) {
        const digest = DIGEST.exec(f.message)?.[0];
        const key = digest ? `${f.rule}\0${digest}` : `${f.rule}\0${f.location}\0${f.message}`;
        if (seen.has(key))
            continue;
        seen.add(key);
        out.push(f);
    }
    return out;
}
/**
 * Document-level rules only (no blob access). `doc` is parsed JSON, or the raw text/bytes of a
 * document (then parse errors and I-JSON problems are findings too).
 */
function validateDocument(kind, doc, location = kind) {
    const out = [];
    let value = doc;
    if (typeof doc === 'string' || Buffer.isBuffer(doc)) {
        const p = parseDocument(doc, location);
        out.push(...p.findings);
        if (p.value === undefined)
            return out;
        value = p.value;
    }
    try {
        switch (kind) {
            case 'manifest':
                checkManifest(value, location, out);
                break;
            case 'index':
                checkIndex(value, location, out);
                break;
            case 'config':
                checkConfig(value, location, out);
                break;
            case 'layout':
                checkLayoutFile(value, location, out);
                break;
            default:
                checkDescriptor(value, location, out);
        }
    }
    catch (err) {
        out.push(finding('json-invalid', location, `could not be checked: ${messageOf(err)}`));
    }
    return out;
}

;// CONCATENATED MODULE: ./src/app/result.ts
/** The one-paragraph message of an invalid outcome, with its first errors. */
function invalidMessage(what, report) {
    const first = report.findings
        .filter(f => f.severity === 'error')
        .slice(0, 3)
        .map(f => `\n  ${f.rule}: ${f.location}: ${f.message}`)
        .join('');
    return (`${what} failed validation: ${report.errors} error(s), ${report.warnings} warning(s); ` +
        `nothing was written or pushed (see the report; fail-on decides what fails the step)` +
        first);
}
/** The message of a push-failed outcome. */
function pushFailedMessage(result, message) {
    return `the image ${result.digest} was written to ${result.layout} but not pushed: ${message}`;
}
/** What a run with tags but without `push: true` says of them. */
function notPushedMessage(tags) {
    return (`the image was built and validated but not pushed to ${tags.join(', ')}: ` +
        'push is false (the default); set push: true to push');
}

;// CONCATENATED MODULE: ./src/app/output-dir.ts
/**
 * The output directory: made ready before anything is built, its staging sibling, and the swap
 * that puts a finished layout in its place. Lading never deletes a directory it did not make.
 */





/** The staging layout beside `output`, named so that a later run can tell whose it was. */
function stagingPath(output) {
    const base = external_node_path_namespaceObject.basename(output);
    return external_node_path_namespaceObject.join(external_node_path_namespaceObject.dirname(output), `.${base}.lading-${process.pid}-${(0,external_node_crypto_namespaceObject.randomBytes)(4).toString('hex')}`);
}
/**
 * Checks the output and archive locations before anything is built, creating the parent
 * directories one at a time (Node's recursive mkdir can spin on paths such as /proc/x/y).
 */
async function prepareOutput(plan) {
    await mkdirParents(external_node_path_namespaceObject.dirname(plan.output), 'output', plan.output);
    await replaceableOutput(plan.output);
    if (plan.archive) {
        await mkdirParents(external_node_path_namespaceObject.dirname(plan.archive), 'archive', plan.archive);
        try {
            if ((await promises_namespaceObject.stat(plan.archive)).isDirectory())
                throw new LadingError(`archive: "${plan.archive}" is a directory; give a file path`);
        }
        catch (err) {
            if (err instanceof LadingError)
                throw err;
        }
    }
}
async function mkdirParents(dir, input, value) {
    const missing = [];
    let cur = dir;
    for (;;) {
        try {
            const st = await promises_namespaceObject.stat(cur);
            if (!st.isDirectory())
                throw new LadingError(`${input}: cannot create "${value}": ${cur} is not a directory`);
            break;
        }
        catch (err) {
            if (err instanceof LadingError)
                throw err;
            if (err.code !== 'ENOENT')
                throw new LadingError(`${input}: cannot create "${value}": ${errors_messageOf(err)}`);
            missing.unshift(cur);
            const up = external_node_path_namespaceObject.dirname(cur);
            if (up === cur)
                break;
            cur = up;
        }
    }
    for (const d of missing) {
        try {
            await promises_namespaceObject.mkdir(d);
        }
        catch (err) {
            if (err.code !== 'EEXIST')
                throw new LadingError(`${input}: cannot create "${value}": ${errors_messageOf(err)}`);
        }
    }
    try {
        await promises_namespaceObject.access(dir, external_node_fs_namespaceObject.constants.W_OK);
    }
    catch (err) {
        throw new LadingError(`${input}: cannot write in ${dir}: ${errors_messageOf(err)}`);
    }
}
/** Staging layouts left by runs that were killed (their process is gone) are removed. */
async function removeStaleStages(dir, base) {
    const prefix = `.${base}.lading-`;
    let names;
    try {
        names = await promises_namespaceObject.readdir(dir);
    }
    catch {
        return;
    }
    for (const n of names) {
        if (!n.startsWith(prefix))
            continue;
        const pid = Number(n.slice(prefix.length).split('-')[0]);
        if (!Number.isInteger(pid) || pid <= 0 || pid === process.pid)
            continue;
        let alive = true;
        try {
            process.kill(pid, 0);
        }
        catch (err) {
            alive = err.code === 'EPERM';
        }
        if (!alive)
            await promises_namespaceObject.rm(external_node_path_namespaceObject.join(dir, n), { recursive: true, force: true });
    }
}
/**
 * Moves the finished layout into place. A directory already there is replaced only when it is
 * an OCI layout (or empty): Lading never deletes a directory it did not make.
 */
async function swapInto(stage, output) {
    // Checked again: the run took time, and the directory may have changed meanwhile.
    const exists = await replaceableOutput(output);
    const old = `${stage}.old`;
    if (exists)
        await promises_namespaceObject.rename(output, old);
    await promises_namespaceObject.rename(stage, output);
    if (exists)
        await promises_namespaceObject.rm(old, { recursive: true, force: true });
}
/**
 * Whether `output` exists; throws when it is there but may not be replaced. Replacing deletes the
 * directory whole, so it must hold nothing but what a layout Lading wrote holds: an empty
 * directory, or `oci-layout`, `index.json`, `blobs/ALG/ENCODED` files and Lading's temporary
 * area. Anything else (a file of the user's beside a stray `oci-layout`) stops the run.
 */
async function replaceableOutput(output) {
    let foreign;
    try {
        if (!(await promises_namespaceObject.stat(output)).isDirectory())
            throw new LadingError(`output: "${output}" exists and is not a directory`);
        foreign = await foreignEntry(output);
    }
    catch (err) {
        if (err instanceof LadingError)
            throw err;
        if (err.code === 'ENOENT')
            return false;
        throw new LadingError(`output: cannot use "${output}": ${errors_messageOf(err)}`);
    }
    if (foreign !== undefined)
        throw new LadingError(`output: "${output}" holds "${foreign}", which is not part of an OCI layout; ` +
            'refusing to replace it (remove it, or choose another output)');
    return true;
}
/** An algorithm directory and a blob file name, as the digest grammar spells them. */
const ALGORITHM_NAME = /^[a-z0-9]+(?:[.+_-][a-z0-9]+)*$/;
const ENCODED_NAME = /^[a-zA-Z0-9=_-]+$/;
/** The top-level entries a layout Lading wrote may hold, and what each must be. */
const LAYOUT_ENTRIES = {
    'oci-layout': 'file',
    'index.json': 'file',
    blobs: 'dir',
    // Lading's own temporary area, left by a run that was killed.
    '.lading-tmp': 'any'
};
/** The first entry of `dir` (as a path relative to it) that an OCI layout does not hold. */
async function foreignEntry(dir) {
    const top = await promises_namespaceObject.readdir(dir, { withFileTypes: true });
    for (const e of byName(top)) {
        const want = LAYOUT_ENTRIES[e.name];
        if (want === undefined)
            return e.name;
        if (want === 'file' && !e.isFile())
            return e.name;
        if (want === 'dir' && !e.isDirectory())
            return e.name;
    }
    if (!top.some(e => e.name === 'blobs'))
        return undefined;
    const blobs = external_node_path_namespaceObject.join(dir, 'blobs');
    for (const alg of byName(await promises_namespaceObject.readdir(blobs, { withFileTypes: true }))) {
        const rel = `blobs/${alg.name}`;
        if (!alg.isDirectory() || !ALGORITHM_NAME.test(alg.name))
            return rel;
        for (const blob of byName(await promises_namespaceObject.readdir(external_node_path_namespaceObject.join(blobs, alg.name), { withFileTypes: true })))
            if (!blob.isFile() || !ENCODED_NAME.test(blob.name))
                return `${rel}/${blob.name}`;
    }
    return undefined;
}
/** Directory entries in code-point order, so that "the first foreign file" is always the same one. */
function byName(entries) {
    return entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

;// CONCATENATED MODULE: ./src/util/temps.ts


/**
 * The temporary files and directories of one run (staging layout, extracted archives, an archive
 * being written). Removed on the normal paths by their owners; when the run is stopped by a
 * signal (a cancelled workflow), the front end calls removeAll(), so a killed run leaves nothing.
 */
class Temps {
    paths = new Set();
    track(p) {
        this.paths.add(p);
    }
    untrack(p) {
        this.paths.delete(p);
    }
    /** Removes a temporary path on the normal path, and stops tracking it. */
    async remove(p) {
        await promises_namespaceObject.rm(p, { recursive: true, force: true });
        this.paths.delete(p);
    }
    /** Synchronous, for a process going down on a signal. */
    removeAll() {
        for (const p of this.paths) {
            try {
                external_node_fs_namespaceObject.rmSync(p, { recursive: true, force: true });
            }
            catch {
                // Best effort while the process is going down.
            }
        }
        this.paths.clear();
    }
}

;// CONCATENATED MODULE: ./src/oci/types.ts
/** The OCI Image Spec v1.1 data model: descriptors, manifests, indexes, configs, platforms. */
/** Annotation keys the spec pre-defines and Lading writes. */
const Annotation = {
    Created: 'org.opencontainers.image.created',
    Source: 'org.opencontainers.image.source',
    Revision: 'org.opencontainers.image.revision',
    RefName: 'org.opencontainers.image.ref.name',
    BaseName: 'org.opencontainers.image.base.name',
    BaseDigest: 'org.opencontainers.image.base.digest'
};

;// CONCATENATED MODULE: ./src/transports/layout-image.ts
/**
 * One image of an OCI image layout, selected by an entry of its index.json: a source. Its blobs
 * are read through the layout (transports/layout.ts).
 */









class LayoutImage {
    name;
    dir;
    root;
    onClose;
    scanned;
    warnings;
    impliedManifest;
    layout;
    constructor(name, dir, root, onClose, scanned, warnings = [], impliedManifest) {
        this.name = name;
        this.dir = dir;
        this.root = root;
        this.onClose = onClose;
        this.scanned = scanned;
        this.warnings = warnings;
        this.impliedManifest = impliedManifest;
        this.layout = new Layout(dir, { name });
    }
    get layoutDir() {
        return this.dir;
    }
    fileOf(digest) {
        return this.layout.fileOf(digest);
    }
    open(desc) {
        return this.layout.open(desc);
    }
    read(desc) {
        return this.layout.read(desc);
    }
    has(desc) {
        return this.layout.has(desc);
    }
    async close() {
        await this.onClose?.();
    }
}
function refNameOf(d) {
    return d.annotations?.[Annotation.RefName];
}
/** How the entries of an index.json can be named, for error messages. */
function describeEntries(manifests) {
    return listed(manifests.map(d => {
        const ref = refNameOf(d);
        return ref === undefined ? d.digest : `${JSON.stringify(ref)} (${d.digest})`;
    }));
}
async function readJSONFile(file, what, from) {
    let bytes;
    try {
        bytes = await promises_namespaceObject.readFile(file);
    }
    catch (err) {
        throw new LadingError(`from "${from}": cannot read ${what}: ${errors_messageOf(err)}`);
    }
    return parseJSONValue(bytes, `from "${from}": ${what}`);
}
/**
 * Opens the image `ref` names in the OCI image layout at `dir`. `ref` is an
 * `org.opencontainers.image.ref.name` annotation or the digest of an index.json entry; without it
 * the layout must hold exactly one image. `userSpec` is how the user wrote the source, for messages.
 */
async function openLayout(dir, ref, userSpec, opts = {}) {
    const from = userSpec ?? (ref ? `oci:${dir}:${ref}` : `oci:${dir}`);
    const where = opts.where ?? dir;
    const refHint = opts.refHint ?? `oci:${dir}:REF`;
    let st;
    try {
        st = await promises_namespaceObject.stat(dir);
    }
    catch {
        throw new LadingError(`from "${from}": the directory ${dir} does not exist`);
    }
    if (!st.isDirectory())
        throw new LadingError(`from "${from}": ${dir} is a file, not an OCI image layout directory` +
            (/\.tar(\.gz)?$/.test(dir) ? '; for a tarball use oci-archive: or docker-archive:' : ''));
    const layoutFile = await readJSONFile(external_node_path_namespaceObject.join(dir, 'oci-layout'), 'the oci-layout file (is this an OCI image layout?)', from);
    const version = layoutFile?.imageLayoutVersion;
    if (typeof version !== 'string' || !version.startsWith('1.'))
        throw new LadingError(`from "${from}": oci-layout has imageLayoutVersion ${JSON.stringify(version)}; ` +
            'Lading reads version 1.x layouts');
    const index = (await readJSONFile(external_node_path_namespaceObject.join(dir, 'index.json'), 'index.json', from));
    if (!index || !Array.isArray(index.manifests))
        throw new LadingError(`from "${from}": index.json has no "manifests" array`);
    const manifests = index.manifests;
    for (const [i, d] of manifests.entries()) {
        if (!d ||
            typeof d.mediaType !== 'string' ||
            !isDigest(d.digest) ||
            !Number.isSafeInteger(d.size) ||
            d.size < 0)
            throw new LadingError(`from "${from}": index.json manifests[${i}] is not a valid descriptor ` +
                '(needs mediaType, a sha256/sha512 digest and a size)');
    }
    if (manifests.length === 0)
        throw new LadingError(`from "${from}": index.json lists no images`);
    let root;
    if (ref === undefined) {
        // Artifacts attached to an image (referrers) are listed beside it: they are not the choice.
        const images = manifests.length > 1 ? await withoutReferrers(dir, manifests) : manifests;
        if (images.length !== 1)
            throw new LadingError(`from "${from}": the layout holds ${manifests.length} images: ${describeEntries(manifests)}; ` +
                `choose one with ${refHint} (a ref name or a digest)`);
        root = images[0];
    }
    else {
        const byName = manifests.filter(d => refNameOf(d) === ref);
        const matches = byName.length ? byName : manifests.filter(d => d.digest === ref);
        const distinct = new Set(matches.map(d => d.digest));
        if (matches.length === 0)
            throw new LadingError(`from "${from}": no image named "${ref}" in ${where}; it holds ${describeEntries(manifests)}`);
        if (distinct.size > 1)
            throw new LadingError(`from "${from}": "${ref}" names ${distinct.size} different images in ${where}: ` +
                `${describeEntries(matches)}; choose one by digest`);
        root = matches[0];
    }
    return new LayoutImage(from, dir, root, opts.onClose, opts.scanned, opts.warnings, opts.impliedManifest);
}
/** The entries that do not name another entry as their `subject`. */
async function withoutReferrers(dir, manifests) {
    const listed = new Set(manifests.map(d => d.digest));
    const layout = new Layout(dir);
    const out = [];
    for (const d of manifests) {
        let subject;
        if (d.size <= MAX_DOCUMENT_BYTES && (await layout.has(d))) {
            try {
                const doc = parseJSONValue(await layout.read(d), d.digest);
                subject = doc?.subject?.digest;
            }
            catch {
                // Unreadable here: opening it later says why.
            }
        }
        if (typeof subject !== 'string' || !listed.has(subject))
            out.push(d);
    }
    return out;
}

;// CONCATENATED MODULE: ./src/transports/entry-streams.ts
/** The streams an archive entry flows through on its way to disk. */


/** Hashes, counts and keeps the first bytes of what flows through. */
class Measuring extends HashingStream {
    head = Buffer.alloc(0);
    _transform(chunk, enc, cb) {
        if (this.head.length < 8)
            this.head = Buffer.concat([this.head, chunk.subarray(0, 8 - this.head.length)]);
        super._transform(chunk, enc, cb);
    }
}
/** Passes the first `limit` bytes on and drops the rest: a blob is written up to its declared size. */
class StopAt extends external_node_stream_namespaceObject.Transform {
    left;
    constructor(limit) {
        super();
        this.left = limit;
    }
    _transform(chunk, _enc, cb) {
        const take = Math.min(this.left, chunk.length);
        this.left -= take;
        cb(null, take > 0 ? chunk.subarray(0, take) : undefined);
    }
}

;// CONCATENATED MODULE: ./src/transports/entry-names.ts
/** Names of archive entries: which are safe to extract, which are blobs, where links lead. */



/**
 * The normalised name of an archive entry, or undefined for the archive root. Entries that would
 * land outside the extraction directory are refused: an archive that holds one was made to attack
 * whoever extracts it, and nothing of it is used.
 */
function safeEntryName(raw, from) {
    if (raw.startsWith('/') || /^[A-Za-z]:[\\/]/.test(raw))
        throw new LadingError(`from "${from}": the archive has an entry with an absolute path "${raw}"; refusing to extract it`);
    const norm = external_node_path_namespaceObject.posix.normalize(raw).replace(/\/+$/, '');
    if (norm === '..' || norm.startsWith('../'))
        throw new LadingError(`from "${from}": the archive has an entry "${raw}" that points outside the archive; refusing to extract it`);
    return norm === '.' || norm === '' ? undefined : norm;
}
/** The algorithm a `blobs/ALG/HEX` name promises, when the name is one. */
function blobAlgorithm(name) {
    const m = /^blobs\/([a-z0-9]+)\/([a-f0-9]+)$/.exec(name);
    return m && encodedLength(m[1]) === m[2].length ? m[1] : undefined;
}
/** Symlink targets are relative to the link's directory; hard link targets to the archive root. */
function linkTarget(name, h) {
    const target = h.linkname ?? '';
    const joined = h.type === 'symlink'
        ? external_node_path_namespaceObject.posix.join(external_node_path_namespaceObject.posix.dirname(name), target)
        : external_node_path_namespaceObject.posix.normalize(target);
    const norm = external_node_path_namespaceObject.posix.normalize(joined);
    const inside = !target.startsWith('/') && norm !== '..' && !norm.startsWith('../');
    return inside ? norm : undefined;
}

;// CONCATENATED MODULE: ./src/transports/tar-extract.ts
/**
 * Taking an image out of a tar archive (an oci-archive, a `docker save` tarball) with the disk it
 * uses bounded by what the image declares. What the image needs is learnt from its own documents
 * (index.json, manifests, manifest.json), which may come anywhere in the archive, so extraction
 * runs in passes: the first writes every entry that may be part of the image while a budget tied
 * to the archive's own size lasts; the graph is then read from what was written; a further pass
 * takes only the entries the image needs that the first one skipped, each stopped at its declared
 * size. Entries that are not part of the image are counted and reported, and not kept.
 */












/**
 * Bytes the first pass may write, per byte of the archive file, before the image's documents say
 * what it needs. A plain tar never holds more than its own size; a compressed one holds about as
 * much when its layers are compressed already. A decompression bomb (a few KB of zstd that
 * expand to gigabytes) is stopped by it: what does not fit is only written once a document
 * declares it, and then only up to its declared size.
 */
const ARCHIVE_EXPANSION_LIMIT = 4;
/** Passes over an archive at most: one per level of its graph, which walkGraph bounds anyway. */
const MAX_EXTRACT_PASSES = 24;
/** Names of entries not part of the image that the warning lists. */
const LISTED_FOREIGN = 3;
async function makeTempDir(temps) {
    const dir = await promises_namespaceObject.mkdtemp(external_node_path_namespaceObject.join(external_node_os_namespaceObject.tmpdir(), 'lading-src-'));
    temps.track(dir);
    return dir;
}
async function sniffFile(file) {
    const fh = await promises_namespaceObject.open(file, 'r');
    try {
        const buf = Buffer.alloc(8);
        const { bytesRead } = await fh.read(buf, 0, 8, 0);
        return buf.subarray(0, bytesRead);
    }
    finally {
        await fh.close();
    }
}
/** Entries that are not part of the image: how many, how big, the first few names. */
class Foreign {
    count = 0;
    bytes = 0;
    names = [];
    add(name, size) {
        this.count++;
        this.bytes += size;
        if (this.names.length < LISTED_FOREIGN)
            this.names.push(clipped(name, 100));
    }
    warning(from, archive) {
        if (this.count === 0)
            return [];
        const listed = this.names.map(n => JSON.stringify(n)).join(', ');
        const more = this.count > this.names.length ? ', …' : '';
        return [
            `from "${from}": ${this.count} entr${this.count === 1 ? 'y' : 'ies'} of ${archive} ` +
                `(${this.bytes} bytes) ${this.count === 1 ? 'is' : 'are'} not part of the image and ` +
                `${this.count === 1 ? 'was' : 'were'} not kept: ${listed}${more}`
        ];
    }
}
/** One extraction: the archive, where it goes, and what each pass learnt. */
class Extraction {
    archive;
    dest;
    from;
    rules;
    compression;
    files = new Map();
    /** Links by name: the normalised target inside the archive, or undefined when it leads out. */
    links = new Map();
    /** Entries the first pass did not write (over budget), by name, with their tar size. */
    skipped = new Map();
    /** The names of `rules.hints` the archive holds. */
    hinted = new Set();
    foreign = new Foreign();
    /** Bytes written to disk in all passes, kept or not. */
    written = 0;
    dirs = new Set();
    budget;
    constructor(archive, dest, from, rules, archiveSize, compression) {
        this.archive = archive;
        this.dest = dest;
        this.from = from;
        this.rules = rules;
        this.compression = compression;
        this.budget = archiveSize * ARCHIVE_EXPANSION_LIMIT;
    }
    /** The file `name` stands for, following links inside the archive (a bounded number of hops). */
    resolve(name) {
        let n = name;
        for (let hops = 0; n !== undefined && hops < 16; hops++) {
            const rec = this.files.get(n);
            if (rec || !this.links.has(n))
                return { name: n, rec };
            n = this.links.get(n);
        }
        return { name };
    }
    /** The first pass: every entry the rules accept, while the budget lasts. */
    async firstPass() {
        await this.pass(true, async (entry, name) => {
            const h = entry.header;
            if (!this.rules.accepts(name)) {
                if (!this.rules.expected(name))
                    this.foreign.add(name, h.size ?? 0);
                return false;
            }
            if (h.type === 'symlink' || h.type === 'link') {
                this.links.set(name, linkTarget(name, h));
                this.skipped.delete(name);
                await this.forget(name);
                return false;
            }
            const size = h.size ?? 0;
            if (this.rules.isDocument(name) && size > MAX_DOCUMENT_BYTES)
                throw new LadingError(`from "${this.from}": ${name} in ${this.archive} has ${size} bytes, more than the ` +
                    `${MAX_DOCUMENT_BYTES} bytes (MAX_DOCUMENT_BYTES) Lading reads of a document`);
            this.links.delete(name);
            if (size > this.budget) {
                // A later entry of the same name replaces an earlier one, in a tar as on disk.
                await this.forget(name);
                this.skipped.set(name, size);
                return false;
            }
            this.budget -= size;
            this.skipped.delete(name);
            await this.write(entry, name);
            return true;
        });
    }
    /** A later pass: only the entries in `need`, each stopped at its declared size. */
    async laterPass(need) {
        await this.pass(false, async (entry, name) => {
            if (!need.has(name) || entry.header.type === 'symlink' || entry.header.type === 'link')
                return false;
            await this.write(entry, name, need.get(name));
            this.skipped.delete(name);
            return true;
        });
    }
    async forget(name) {
        const rec = this.files.get(name);
        if (!rec)
            return;
        this.files.delete(name);
        await promises_namespaceObject.rm(rec.file, { force: true });
    }
    async write(entry, name, declared) {
        const file = external_node_path_namespaceObject.join(this.dest, ...name.split('/'));
        const parent = external_node_path_namespaceObject.dirname(file);
        const m = new Measuring(blobAlgorithm(name) ?? 'sha256');
        const stages = declared === undefined ? [m] : [new StopAt(declared), m];
        try {
            // Synchronously: an entry that fails (the archive ends) before the pipeline reads it would
            // never tell a pipeline attached after an await.
            if (!this.dirs.has(parent)) {
                (0,external_node_fs_namespaceObject.mkdirSync)(parent, { recursive: true });
                this.dirs.add(parent);
            }
            // tar-stream's entries are streamx streams, which Node's pipeline takes as they are.
            await (0,external_node_stream_promises_namespaceObject.pipeline)([entry, ...stages, (0,external_node_fs_namespaceObject.createWriteStream)(file)]);
        }
        catch (err) {
            // A failed system call is the disk's; anything else is the archive's (it ends too soon).
            if (!err.syscall)
                throw err;
            throw new LadingError(`from "${this.from}": cannot extract ${name} from ${this.archive} into ${this.dest}: ` +
                errors_messageOf(err));
        }
        // A blob that does not match its name is kept: validation reports it with everything else
        // that is wrong, instead of stopping at the first corrupt blob.
        this.written += m.size;
        this.files.set(name, { file, size: m.size, digest: m.digest(), head: m.head });
    }
    /**
     * One read of the archive: `take` sees each regular file or link entry that has a safe name and
     * says whether it consumed the body. In the first pass anything else (a device, a fifo, a name
     * that leads out) is counted as not part of the image; directories are made as files need them.
     */
    async pass(first, take) {
        const extract = tar_stream.extract();
        const source = (0,external_node_fs_namespaceObject.createReadStream)(this.archive);
        const stages = this.compression === 'none'
            ? [source, extract]
            : [source, createDecompressor(this.compression), extract];
        const feeding = (0,external_node_stream_promises_namespaceObject.pipeline)(stages).catch((err) => err);
        try {
            for await (const entry of extract) {
                const h = entry.header;
                const name = safeEntryName(h.name, this.from);
                if (first && name !== undefined && this.rules.hints.includes(name))
                    this.hinted.add(name);
                const kind = h.type;
                const wanted = ['file', 'contiguous-file', 'symlink', 'link'].includes(kind ?? '');
                let consumed = false;
                if (name !== undefined && wanted)
                    consumed = await take(entry, name);
                else if (first && kind !== 'directory')
                    this.foreign.add(h.name, h.size ?? 0);
                if (!consumed)
                    entry.resume();
            }
            const fed = await feeding;
            if (fed)
                throw fed;
        }
        catch (err) {
            source.destroy();
            extract.destroy();
            await feeding;
            throw this.notTar(err);
        }
    }
    notTar(err) {
        if (err instanceof LadingError)
            return err;
        return new LadingError(`from "${this.from}": ${this.archive} is not a readable tar archive` +
            (this.compression === 'none' ? '' : ` (${this.compression}-compressed)`) +
            `: ${errors_messageOf(err)}`);
    }
}
/**
 * Extracts from the tar (plain, gzip or zstd, told apart by magic bytes) at `archive` into `dest`
 * what `rules` say the image needs, one entry at a time straight to disk: no blob is ever held
 * in memory, and no entry is written that the rules do not accept. Every `blobs/ALG/HEX` entry is
 * hashed with its name's algorithm as it is written. Links are not recreated as links (they
 * could point anywhere); a needed one that resolves to a regular file inside the archive is made
 * a hard link to it.
 */
async function extractArchive(archive, dest, from, rules) {
    let head;
    let size;
    try {
        head = await sniffFile(archive);
        size = (await promises_namespaceObject.stat(archive)).size;
    }
    catch (err) {
        throw new LadingError(`from "${from}": cannot read ${archive}: ${errors_messageOf(err)}`);
    }
    const x = new Extraction(archive, dest, from, rules, size, readableCompression(head));
    await x.firstPass();
    const view = { get: name => x.resolve(name).rec };
    let wanted = await rules.wanted(view);
    for (let passes = 1;; passes++) {
        const need = new Map();
        for (const [name, declared] of wanted) {
            const target = x.resolve(name).name;
            if (x.skipped.has(target))
                need.set(target, declared);
        }
        if (need.size === 0)
            break;
        if (passes >= MAX_EXTRACT_PASSES)
            throw new LadingError(`from "${from}": ${archive} still lacks ${need.size} needed entries after ${passes} ` +
                'passes; was it changed while it was read?');
        await x.laterPass(need);
        wanted = await rules.wanted(view);
    }
    return await keepWanted(x, wanted);
}
/** Removes what the image does not need, links what it needs under every name it uses. */
async function keepWanted(x, wanted) {
    const needed = new Set();
    for (const name of wanted.keys()) {
        needed.add(name);
        needed.add(x.resolve(name).name);
    }
    for (const [name, rec] of [...x.files]) {
        if (needed.has(name))
            continue;
        x.foreign.add(name, rec.size);
        x.files.delete(name);
        await promises_namespaceObject.rm(rec.file, { force: true });
    }
    for (const [name, size] of x.skipped)
        if (!needed.has(name))
            x.foreign.add(name, size);
    // A link to a kept file (skopeo's `<id>/layer.tar` beside the `<digest>.tar` it lists) costs
    // nothing and is the format's own; only a link to nothing the image needs is reported.
    for (const name of x.links.keys())
        if (!needed.has(name) && !needed.has(x.resolve(name).name))
            x.foreign.add(name, 0);
    for (const name of wanted.keys()) {
        if (x.files.has(name))
            continue;
        const rec = x.resolve(name).rec;
        if (!rec)
            continue;
        const file = external_node_path_namespaceObject.join(x.dest, ...name.split('/'));
        try {
            await promises_namespaceObject.mkdir(external_node_path_namespaceObject.dirname(file), { recursive: true });
            await promises_namespaceObject.link(rec.file, file);
        }
        catch (err) {
            throw new LadingError(`from "${x.from}": cannot extract the link ${name} from ${x.archive}: ${errors_messageOf(err)}`);
        }
        x.files.set(name, { ...rec, file });
    }
    return {
        dir: x.dest,
        files: x.files,
        seen: name => x.hinted.has(name),
        warnings: x.foreign.warning(x.from, x.archive),
        written: x.written
    };
}

;// CONCATENATED MODULE: ./src/transports/archive-rules.ts
/**
 * What each archive format keeps of an archive (see tar-extract.ts): an oci-archive its layout's
 * own entries, as far as its index.json and documents reach; a `docker save` tarball its
 * manifest.json and the configs and layer files that lists, and its OCI view when it has one.
 */









/** The two files that make a directory an OCI image layout. */
const LAYOUT_FILES = ['oci-layout', 'index.json'];
/** Entries every `docker save` writes that are no part of the image. */
const DOCKER_METADATA = /^(repositories|[^/]+\/(json|VERSION))$/;
/**
 * A document's value, or undefined when it is absent, too big, too deep or not JSON (validation
 * says so).
 */
async function readArchiveDocument(view, name) {
    const rec = view.get(name);
    if (!rec || rec.size > MAX_DOCUMENT_BYTES)
        return undefined;
    return parseJSON(await promises_namespaceObject.readFile(rec.file)).value;
}
/** Descriptors Lading can name a blob file by: a digest it can read and a size. */
function validDescriptors(list) {
    return list.filter((d) => typeof d === 'object' &&
        d !== null &&
        isDigest(d.digest) &&
        Number.isSafeInteger(d.size) &&
        d.size >= 0);
}
function blobName(d) {
    const [algorithm, encoded] = d.digest.split(':', 2);
    return `blobs/${algorithm}/${encoded}`;
}
function tooBig(at, d, size) {
    return new LadingError(`from "${at.from}": the ${isIndexMediaType(d.mediaType) ? 'index' : 'manifest'} ${d.digest} ` +
        `in ${at.archive} has ${size} bytes, more than the ${MAX_DOCUMENT_BYTES} bytes ` +
        '(MAX_DOCUMENT_BYTES) Lading reads of a document; it cannot be checked');
}
/**
 * What a document references: an index its entries, a manifest its config, layers and subject.
 * A document too big to read is an error: what it references could not be checked.
 */
async function referenced(view, d, at) {
    if (!isIndexMediaType(d.mediaType) && !isManifestMediaType(d.mediaType))
        return [];
    if (d.size > MAX_DOCUMENT_BYTES)
        throw tooBig(at, d, d.size);
    const size = view.get(blobName(d))?.size ?? 0;
    if (size > MAX_DOCUMENT_BYTES)
        throw tooBig(at, d, size);
    const doc = (await readArchiveDocument(view, blobName(d)));
    if (typeof doc !== 'object' || doc === null)
        return [];
    const list = [];
    if (Array.isArray(doc.manifests))
        list.push(...doc.manifests);
    if (Array.isArray(doc.layers))
        list.push(...doc.layers);
    list.push(doc.config, doc.subject);
    return validDescriptors(list);
}
/**
 * The entries an OCI layout's graph needs, by name, with each blob's declared size: the graph is
 * walked from index.json as far as the documents extracted so far reach.
 */
async function layoutWanted(view, at) {
    const wanted = new Map(LAYOUT_FILES.map(n => [n, undefined]));
    const index = (await readArchiveDocument(view, 'index.json'));
    if (!Array.isArray(index?.manifests))
        return wanted;
    const seen = new Set();
    for (const root of validDescriptors(index.manifests)) {
        await walkGraph(root, descriptors({
            children: d => {
                wanted.set(blobName(d), d.size);
                return referenced(view, d, at);
            }
        }), { seen });
    }
    return wanted;
}
/** An oci-archive: `oci-layout`, `index.json` and `blobs/ALG/HEX`, nothing else. */
function ociArchiveRules(from, archive) {
    return {
        accepts: name => LAYOUT_FILES.includes(name) || blobAlgorithm(name) !== undefined,
        expected: () => false,
        hints: ['manifest.json'],
        isDocument: name => LAYOUT_FILES.includes(name),
        wanted: view => layoutWanted(view, { from, archive })
    };
}
/** How manifest.json names a member: relative to the archive root, perhaps with `./`. */
function memberName(name) {
    return external_node_path_namespaceObject.posix.normalize(name.replace(/^\.\//, ''));
}
/**
 * A `docker save` tarball: any file may be one manifest.json lists, so the first pass takes any
 * (but docker's own metadata) while its budget lasts, and keeps only what manifest.json lists,
 * and what the OCI view of a Docker 25+ save needs.
 */
function dockerArchiveRules(from, archive) {
    return {
        accepts: name => !DOCKER_METADATA.test(name),
        expected: name => DOCKER_METADATA.test(name),
        hints: ['oci-layout'],
        isDocument: name => name === 'manifest.json' || LAYOUT_FILES.includes(name),
        wanted: async (view) => {
            const wanted = view.get('oci-layout')
                ? await layoutWanted(view, { from, archive })
                : new Map();
            wanted.set('manifest.json', wanted.get('manifest.json'));
            const items = await readArchiveDocument(view, 'manifest.json');
            if (!Array.isArray(items))
                return wanted;
            for (const item of items) {
                const members = [item?.Config, ...(Array.isArray(item?.Layers) ? item.Layers : [])];
                for (const m of members)
                    if (typeof m === 'string' && !wanted.has(memberName(m)))
                        wanted.set(memberName(m), undefined);
            }
            return wanted;
        }
    };
}

;// CONCATENATED MODULE: ./src/transports/oci-archive.ts






/** Fails early, with a hint, when `archive` is not a file Lading could extract. */
async function checkArchiveFile(archive, from) {
    let st;
    try {
        st = await promises_namespaceObject.stat(archive);
    }
    catch {
        throw new LadingError(`from "${from}": the file ${archive} does not exist`);
    }
    if (st.isDirectory())
        throw new LadingError(`from "${from}": ${archive} is a directory; for an OCI image layout directory use oci:${archive}`);
}
/**
 * Opens an OCI image layout stored as a tar (plain, gzip or zstd), as buildkit's `type=oci` output,
 * `skopeo copy ... oci-archive:` and `docker save` of Docker 25+ write it. The layout's own
 * entries are extracted, blob by blob with each digest checked and no more of each than the
 * image declares, into a temporary directory that close() removes; it is then read as a layout.
 * Anything else in the archive is not written: the source's warnings say how much there was.
 */
async function openOciArchive(archive, ref, userSpec, temps = new Temps()) {
    const from = userSpec ?? (ref ? `oci-archive:${archive}:${ref}` : `oci-archive:${archive}`);
    await checkArchiveFile(archive, from);
    const dir = await makeTempDir(temps);
    const cleanup = () => temps.remove(dir);
    try {
        const { files, seen, warnings } = await extractArchive(archive, dir, from, ociArchiveRules(from, archive));
        if (!files.has('oci-layout') && !files.has('index.json')) {
            if (seen('manifest.json'))
                throw new LadingError(`from "${from}": ${archive} is a docker save tarball, not an OCI layout archive; ` +
                    `use docker-archive:${archive}`);
            throw new LadingError(`from "${from}": ${archive} is not an OCI layout archive nor a docker save tarball ` +
                '(it has neither oci-layout and index.json nor manifest.json)');
        }
        return await openLayout(dir, ref, from, {
            onClose: cleanup,
            where: archive,
            refHint: `oci-archive:${archive}:REF`,
            warnings
        });
    }
    catch (err) {
        await cleanup();
        throw err;
    }
}

;// CONCATENATED MODULE: ./src/transports/docker-archive.ts



















/** The containerd annotation Docker 25+ puts on index.json entries: the full image name. */
const CONTAINERD_IMAGE_NAME = 'io.containerd.image.name';
function normaliseRef(ref) {
    try {
        return formatReference(parseReference(ref, { defaultTag: 'latest' }));
    }
    catch {
        return undefined;
    }
}
function tagsOf(items) {
    return listed(items.map(i => (i.RepoTags?.length ? escapedLine(i.RepoTags.join(' ')) : '(untagged)')));
}
async function readJSON(file, what, from) {
    let bytes;
    try {
        bytes = await promises_namespaceObject.readFile(file);
    }
    catch (err) {
        throw new LadingError(`from "${from}": ${what} cannot be read as JSON: ${errors_messageOf(err)}`);
    }
    return parseJSONValue(bytes, `from "${from}": ${what}`);
}
/**
 * The index.json entry of Docker 25+'s OCI view that `ref` names, or the only entry; undefined
 * when the OCI view cannot tell (the manifest.json view is used then).
 */
function pickOciEntry(manifests, ref) {
    if (ref === undefined)
        return manifests.length === 1 ? manifests[0] : undefined;
    const want = normaliseRef(ref);
    const hits = manifests.filter(d => {
        const name = d.annotations?.[CONTAINERD_IMAGE_NAME];
        return name !== undefined && want !== undefined && normaliseRef(name) === want;
    });
    return new Set(hits.map(d => d.digest)).size === 1 ? hits[0] : undefined;
}
function selectItem(items, ref, from, archive) {
    if (ref === undefined) {
        if (items.length === 1)
            return items[0];
        throw new LadingError(`from "${from}": ${archive} holds ${items.length} images: ${tagsOf(items)}; ` +
            `choose one with docker-archive:${archive}:REPO:TAG`);
    }
    const want = normaliseRef(ref);
    const hit = items.find(i => (i.RepoTags ?? []).some(t => normaliseRef(t) === want));
    if (!hit)
        throw new LadingError(`from "${from}": no image tagged "${ref}" in ${archive}; it holds ${tagsOf(items)}`);
    return hit;
}
function validItems(value) {
    return (Array.isArray(value) &&
        value.every(i => i &&
            typeof i.Config === 'string' &&
            Array.isArray(i.Layers) &&
            i.Layers.every((l) => typeof l === 'string')));
}
/**
 * A layer read once: the validator's scan gives the digest of its uncompressed tar (which the
 * config's diff_ids must list) along with every content finding, so validating the converted
 * layout does not read it again.
 */
function scanLayer(scanBlob, rec, diffAlgorithm) {
    return scanBlob((0,external_node_fs_namespaceObject.createReadStream)(rec.file, { highWaterMark: BLOB_READ_CHUNK }), {
        algorithm: 'sha256',
        diffAlgorithm,
        compression: readableCompression(rec.head),
        checkTar: true,
        location: layerLocation(rec.digest),
        digest: rec.digest
    });
}
/**
 * Opens a `docker save` tarball (legacy `<id>/layer.tar` layout, skopeo's docker-archive, or
 * Docker 25+ with its OCI view). The image is served as OCI: when the archive carries an OCI
 * index.json that selects it, that view is read as is; otherwise the config is kept byte for byte
 * (its diff_ids must stay) under the OCI config media type, each layer is checked against its
 * diff_id, and a manifest is synthesised. `ref` (REPO:TAG) selects among several images;
 * `userSpec` is how the user wrote the source, for messages.
 */
async function openDockerArchive(archive, scanBlob, userSpec, ref, temps = new Temps()) {
    const from = userSpec ?? (ref ? `docker-archive:${archive}:${ref}` : `docker-archive:${archive}`);
    await checkArchiveFile(archive, from);
    const tmp = await makeTempDir(temps);
    const cleanup = () => temps.remove(tmp);
    try {
        const raw = external_node_path_namespaceObject.join(tmp, 'archive');
        const { files, seen, warnings } = await extractArchive(archive, raw, from, dockerArchiveRules(from, archive));
        const layoutOpts = {
            onClose: cleanup,
            where: archive,
            refHint: `docker-archive:${archive}:REF`,
            warnings
        };
        if (files.has('oci-layout') && files.has('index.json')) {
            const index = (await readJSON(external_node_path_namespaceObject.join(raw, 'index.json'), 'index.json', from));
            const entry = Array.isArray(index?.manifests) ? pickOciEntry(index.manifests, ref) : undefined;
            if (entry || !files.has('manifest.json'))
                return await openLayout(raw, entry?.digest ?? ref, from, layoutOpts);
        }
        if (!files.has('manifest.json')) {
            throw new LadingError(`from "${from}": ${archive} is not a docker save tarball` +
                (seen('oci-layout')
                    ? `; it looks like an OCI layout: use oci-archive:${archive}`
                    : ' nor an OCI layout archive (it has no manifest.json)'));
        }
        const items = await readJSON(external_node_path_namespaceObject.join(raw, 'manifest.json'), 'manifest.json', from);
        if (!validItems(items) || items.length === 0)
            throw new LadingError(`from "${from}": manifest.json in ${archive} is not a list of {Config, RepoTags, Layers}`);
        const item = selectItem(items, ref, from, archive);
        const save = { archive, from, files, layout: external_node_path_namespaceObject.join(tmp, 'layout') };
        await promises_namespaceObject.mkdir(external_node_path_namespaceObject.join(save.layout, 'blobs', 'sha256'), { recursive: true });
        const config = await readSaveConfig(save, item);
        const { layers, scanned } = await linkLayers(save, item, config.diffIds, scanBlob);
        await writeConvertedLayout(save, config, layers);
        // The converted layout holds links to what it needs; the rest of the extraction can go.
        await promises_namespaceObject.rm(raw, { recursive: true, force: true });
        const impliedManifest = dockerManifestOf(config, layers, config.diffIds);
        return await openLayout(save.layout, undefined, from, {
            ...layoutOpts,
            scanned,
            impliedManifest
        });
    }
    catch (err) {
        await cleanup();
        throw err;
    }
}
/** The extracted file manifest.json names, or a clear error when the tarball lacks it. */
function memberOf(save, name, what) {
    const rec = save.files.get(memberName(name));
    if (!rec)
        throw new LadingError(`from "${save.from}": manifest.json names ${what} "${name}", which is not in ${save.archive}`);
    return rec;
}
async function readSaveConfig(save, item) {
    const { from, archive } = save;
    const rec = memberOf(save, item.Config, 'the config');
    if (rec.size > MAX_DOCUMENT_BYTES)
        throw new LadingError(`from "${from}": the config ${item.Config} in ${archive} has ${rec.size} bytes, ` +
            `more than the ${MAX_DOCUMENT_BYTES} bytes (MAX_DOCUMENT_BYTES) Lading reads of a document`);
    const bytes = await promises_namespaceObject.readFile(rec.file);
    const config = parseJSONValue(bytes, `from "${from}": the config ${item.Config}`);
    const diffIds = config?.rootfs?.diff_ids;
    if (!Array.isArray(diffIds) || diffIds.length !== item.Layers.length)
        throw new LadingError(`from "${from}": the config ${item.Config} lists ` +
            `${Array.isArray(diffIds) ? diffIds.length : 'no'} rootfs.diff_ids but manifest.json ` +
            `lists ${item.Layers.length} layers; the tarball is inconsistent`);
    const platform = typeof config.os === 'string' && typeof config.architecture === 'string'
        ? platformOfConfig({
            os: config.os,
            architecture: config.architecture,
            variant: typeof config.variant === 'string' ? config.variant : undefined
        })
        : undefined;
    return { bytes, diffIds, platform };
}
/**
 * Each layer read once (its scan gives the diff_id the config must list, and every content
 * finding) and linked into the layout under its digest.
 */
async function linkLayers(save, item, diffIds, scanBlob) {
    const layers = [];
    const scanned = new Map();
    for (const [i, name] of item.Layers.entries()) {
        const rec = memberOf(save, name, `layer ${i}`);
        // As the validator reads the config: a sha512 diff_id is checked with sha512.
        const want = diffIds[i];
        const diffAlgorithm = typeof want === 'string' && want.startsWith('sha512:') ? 'sha512' : 'sha256';
        const scan = await scanLayer(scanBlob, rec, diffAlgorithm);
        // A layer that does not decompress is the validator's to report (layer-decompress).
        if (scan.diffId !== undefined && scan.diffId !== want)
            throw new LadingError(`from "${save.from}": layer ${i} (${name}) in ${save.archive} has uncompressed digest ` +
                `${scan.diffId}, but the config lists diff_id ${String(want)}; the tarball is corrupt`);
        const dest = blobPathIn(save.layout, rec.digest);
        // One file may back several layers (the same layer twice), so it is linked, not moved.
        await promises_namespaceObject.rm(dest, { force: true });
        await promises_namespaceObject.link(rec.file, dest);
        const desc = {
            mediaType: layerMediaType(readableCompression(rec.head)),
            digest: rec.digest,
            size: rec.size
        };
        layers.push(desc);
        scanned.set(scanKey(desc, diffAlgorithm), scan);
    }
    return { layers, scanned };
}
/** The config, a manifest made for it and the layers, and index.json naming it. */
async function writeConvertedLayout(save, config, layers) {
    const blob = (digest) => blobPathIn(save.layout, digest);
    const configDigest = digestOf(config.bytes);
    await promises_namespaceObject.writeFile(blob(configDigest), config.bytes);
    const manifest = {
        schemaVersion: 2,
        mediaType: MediaType.ImageManifest,
        config: { mediaType: MediaType.ImageConfig, digest: configDigest, size: config.bytes.length },
        layers
    };
    const manifestBytes = Buffer.from(JSON.stringify(manifest));
    const root = {
        mediaType: MediaType.ImageManifest,
        digest: digestOf(manifestBytes),
        size: manifestBytes.length,
        ...(config.platform ? { platform: config.platform } : {})
    };
    await promises_namespaceObject.writeFile(blob(root.digest), manifestBytes);
    await writeLayoutIndex(save.layout, [root]);
}
/**
 * The Docker schema 2 manifest a `docker save` tarball implies, byte for byte as containers/image
 * (skopeo) derives it: the Docker config type, each layer typed `rootfs.diff.tar.gzip` whatever
 * its compression, named by its diff_id with the size of its file; Go's field order, compact.
 */
function dockerManifestOf(config, layers, diffIds) {
    const body = {
        schemaVersion: 2,
        mediaType: MediaType.DockerManifest,
        config: {
            mediaType: MediaType.DockerConfig,
            size: config.bytes.length,
            digest: digestOf(config.bytes)
        },
        layers: layers.map((l, i) => ({
            mediaType: MediaType.DockerLayerGzip,
            size: l.size,
            digest: typeof diffIds[i] === 'string' ? diffIds[i] : l.digest
        }))
    };
    const bytes = Buffer.from(JSON.stringify(body));
    return {
        descriptor: {
            mediaType: MediaType.DockerManifest,
            digest: digestOf(bytes),
            size: bytes.length
        },
        bytes
    };
}

;// CONCATENATED MODULE: ./src/registry/errors.ts



/** A failure worth trying again (network error, 408, 429, 5xx); `retryAfterMs` is the server's wish. */
class RetryableError extends Error {
    retryAfterMs;
    exhausted;
    constructor(message, retryAfterMs, 
    /** The error to give the user when no attempt is left, knowing how many were made. */
    exhausted) {
        super(message);
        this.retryAfterMs = retryAfterMs;
        this.exhausted = exhausted;
        this.name = 'RetryableError';
    }
}
/** A failure from a registry that a retry cannot fix; its message tells the user what to do. */
class RegistryError extends LadingError {
    status;
    codes;
    constructor(message, status, codes = []) {
        super(message);
        this.status = status;
        this.codes = codes;
    }
}
function parseErrorBody(body) {
    // Proxies and object stores answer with HTML or plain text: then there is no entry.
    const parsed = parseJSON(body).value;
    if (!isObject(parsed) || !Array.isArray(parsed.errors))
        return [];
    return parsed.errors.filter(e => typeof e?.code === 'string');
}
/** Characters of a registry's answer a message quotes: of each error entry, or of a body. */
const QUOTED_CHARS = 200;
/** Error entries a message quotes: a registry may send any number. */
const QUOTED_ENTRIES = 5;
/** What the registry said, on one line: its first error entries, or the start of its body. */
function describeErrors(entries, body) {
    if (entries.length) {
        const said = entries.map(e => {
            const text = typeof e.message === 'string' && e.message ? `${e.code}: ${e.message}` : e.code;
            return clipped(escapedLine(text), QUOTED_CHARS);
        });
        return listed(said, QUOTED_ENTRIES, '; ');
    }
    return clipped(body.replace(/\s+/g, ' ').trim(), QUOTED_CHARS);
}
/** Network errors that a new connection can fix. */
const RETRYABLE_CODES = new Set([
    'ECONNRESET',
    'ECONNREFUSED',
    'ECONNABORTED',
    'EPIPE',
    'ETIMEDOUT',
    'EAI_AGAIN',
    'ENETUNREACH',
    'EHOSTUNREACH',
    'UND_ERR_SOCKET',
    'ERR_STREAM_PREMATURE_CLOSE'
]);
function isRetryableNetworkError(err) {
    if (err instanceof RetryableError)
        return true;
    // A LadingError already says what the user must do (a limit hit, a refusal): trying again
    // would only repeat it.
    if (err instanceof LadingError)
        return false;
    const code = err?.code;
    if (code && RETRYABLE_CODES.has(code))
        return true;
    return err instanceof Error && /socket hang up|aborted|timed out/i.test(err.message);
}
function isRetryableStatus(status) {
    return status === 408 || status === 429 || status >= 500;
}
const GHCR_HINT = ' For ghcr.io, the token needs the `packages: write` permission (in the workflow: ' +
    '`permissions: packages: write`) and, for an existing package, access granted to this ' +
    "repository in the package's settings.";
/** Turns a registry's refusal into a message naming what failed, where, and what to do. */
function registryError(status, body, ctx, attempts = 1) {
    const entries = parseErrorBody(body);
    const codes = entries.map(e => e.code);
    const said = describeErrors(entries, body);
    const head = `${ctx.what} failed: ${status}${said ? ` ${said}` : ''}`;
    const ghcr = ctx.registry === 'ghcr.io' ? GHCR_HINT : '';
    const repo = ctx.repository ? `${ctx.registry}/${ctx.repository}` : ctx.registry;
    let advice;
    if ((status === 401 || codes.includes('UNAUTHORIZED')) && ctx.inputsFor) {
        const mine = ctx.inputsFor.length
            ? `are for ${ctx.inputsFor.join(', ')} only`
            : 'are for the registries of the tags, and there are no tags';
        advice =
            `${ctx.registry} asks for credentials, and the username/password inputs ${mine}; ` +
                `log in to ${ctx.registry} with docker/login-action before Lading ` +
                `(used here: ${ctx.credentialSource}).` +
                ghcr;
    }
    else if (status === 401 || codes.includes('UNAUTHORIZED')) {
        advice =
            `${ctx.registry} did not accept the credentials from ${ctx.credentialSource}. ` +
                'Give the username/password inputs, or log in with docker/login-action before Lading.' +
                ghcr;
    }
    else if (status === 403 || codes.includes('DENIED')) {
        advice =
            `${ctx.registry} denied access to ${repo} with the credentials from ${ctx.credentialSource}: ` +
                'they are valid but lack permission for this repository.' +
                ghcr;
    }
    else if (codes.includes('NAME_UNKNOWN')) {
        advice = `the repository ${repo} does not exist (or these credentials cannot see it); check the name or create it.`;
    }
    else if (codes.includes('MANIFEST_UNKNOWN') || (status === 404 && /manifest/i.test(ctx.what))) {
        advice = `${repo} has no such tag or digest; check the reference.`;
    }
    else if (status === 429 || codes.includes('TOOMANYREQUESTS')) {
        advice =
            `${ctx.registry} is rate-limiting requests (still after ${attempts} attempts). ` +
                'Log in to raise the limit (anonymous pulls have the lowest), or run again later.';
    }
    else if (status >= 500) {
        advice = `${ctx.registry} kept failing (${attempts} attempts); it may be down, try again later.`;
    }
    else if (codes.includes('DIGEST_INVALID') || codes.includes('SIZE_INVALID')) {
        advice =
            'the registry computed another digest or size than the descriptor says; the source blob is corrupt.';
    }
    else if (codes.includes('MANIFEST_INVALID') || codes.includes('MANIFEST_BLOB_UNKNOWN')) {
        advice = 'the registry rejected the manifest; run Lading validation on the image to see why.';
    }
    else {
        advice = 'see the registry message above.';
    }
    return new RegistryError(`${head}. ${advice}`, status, codes);
}

;// CONCATENATED MODULE: ./src/util/secrets.ts
/**
 * The secrets one run has met (passwords, tokens, the base64 forms they travel in). Whoever
 * derives a credential adds it here; a front end decides what adding means: the action asks
 * GitHub Actions to mask it (`::add-mask::`, which prints the value, so only inside a runner), and
 * every front end can redact it from text it prints.
 */
class Secrets {
    onAdd;
    values = new Set();
    /** `onAdd` is called once for each new secret (the action's `core.setSecret`). */
    constructor(onAdd) {
        this.onAdd = onAdd;
    }
    add(value) {
        if (!value || this.values.has(value))
            return;
        this.values.add(value);
        this.onAdd?.(value);
    }
    /** A secret and the base64 `user:secret` form Basic auth sends. */
    addCredential(secret, username) {
        if (!secret)
            return;
        this.add(secret);
        if (username !== undefined)
            this.add(Buffer.from(`${username}:${secret}`).toString('base64'));
    }
    /** `text` with every known secret replaced by `***`. */
    redact(text) {
        let out = text;
        // Longest first, so a secret that contains another is replaced whole.
        for (const v of [...this.values].sort((a, b) => b.length - a.length))
            if (v.length >= 4)
                out = out.split(v).join('***');
        return out;
    }
}

;// CONCATENATED MODULE: external "node:http"
const external_node_http_namespaceObject = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("node:http");
;// CONCATENATED MODULE: external "node:https"
const external_node_https_namespaceObject = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("node:https");
;// CONCATENATED MODULE: external "node:tls"
const external_node_tls_namespaceObject = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("node:tls");
;// CONCATENATED MODULE: ./src/registry/proxy.ts




/** The proxy a request to `url` goes through, or undefined for a direct connection. */
function proxyFor(url, env = process.env) {
    if (bypassesProxy(url, env))
        return undefined;
    const value = url.protocol === 'https:'
        ? env.https_proxy || env.HTTPS_PROXY
        : env.http_proxy || env.HTTP_PROXY;
    if (!value)
        return undefined;
    let proxy;
    try {
        proxy = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(value) ? value : `http://${value}`);
    }
    catch {
        throw new LadingError(`the proxy for ${url.protocol}// URLs (${url.protocol === 'https:' ? 'HTTPS_PROXY' : 'HTTP_PROXY'}) ` +
            'is not a URL; set it to http://HOST:PORT');
    }
    if (proxy.protocol !== 'http:' && proxy.protocol !== 'https:')
        throw new LadingError(`the proxy ${proxyName(proxy)} is a ${proxy.protocol.slice(0, -1)} proxy; Lading speaks ` +
            'to http:// and https:// proxies only');
    return proxy;
}
function isLoopbackName(hostname) {
    const h = hostname.toLowerCase();
    return h === 'localhost' || h.startsWith('127.') || h === '[::1]' || h === '[0:0:0:0:0:0:0:1]';
}
/**
 * NO_PROXY's rules: `*` for every host; a name matches itself and its subdomains (`example.com`
 * and `.example.com` both cover `a.example.com`); `host:port` matches that port only. Case is
 * ignored; the port of a URL without one is its scheme's.
 */
function bypassesProxy(url, env = process.env) {
    if (!url.hostname)
        return false;
    if (isLoopbackName(url.hostname))
        return true;
    const noProxy = env.no_proxy || env.NO_PROXY || '';
    const host = url.hostname.toUpperCase();
    const port = url.port || (url.protocol === 'https:' ? '443' : '80');
    const names = [host, `${host}:${port}`];
    return noProxy
        .split(',')
        .map(entry => entry.trim().toUpperCase())
        .filter(entry => entry !== '')
        .some(entry => entry === '*' ||
        names.some(name => name === entry || name.endsWith(entry.startsWith('.') ? entry : `.${entry}`)));
}
/** The proxy's own credentials, from its URL's userinfo: only ever sent to the proxy. */
function proxyAuthorization(proxy) {
    if (!proxy.username && !proxy.password)
        return {};
    const pair = `${decodeURIComponent(proxy.username)}:${decodeURIComponent(proxy.password)}`;
    return { 'Proxy-Authorization': `Basic ${Buffer.from(pair).toString('base64')}` };
}
/** `HOST:PORT` of a proxy, the form messages use (never its userinfo). */
function proxyName(proxy) {
    return `${proxy.protocol}//${proxy.host}`;
}
/**
 * An https agent whose connections are tunnels through the proxy (CONNECT), with TLS to the
 * registry inside: the proxy sees the host and port, never a header or a byte of the exchange, so
 * the registry's credentials stay between Lading and the registry. Kept alive and pooled per
 * registry host like the direct agent.
 */
class TunnelAgent extends external_node_https_namespaceObject.Agent {
    proxy;
    constructor(proxy) {
        super({ keepAlive: true, maxSockets: 32 });
        this.proxy = proxy;
    }
    createConnection(options, done) {
        const target = `${options.host}:${options.port ?? 443}`;
        const lib = this.proxy.protocol === 'https:' ? external_node_https_namespaceObject : external_node_http_namespaceObject;
        const connect = lib.request({
            ...endpoint(this.proxy),
            method: 'CONNECT',
            path: target,
            headers: { Host: target, ...proxyAuthorization(this.proxy) },
            agent: false
        });
        let settled = false;
        const fail = (err) => {
            if (settled)
                return;
            settled = true;
            done(err);
        };
        connect.setTimeout(60_000, () => connect.destroy(Object.assign(new Error(`CONNECT ${target} through ${proxyName(this.proxy)} timed out`), {
            code: 'ETIMEDOUT'
        })));
        connect.once('error', fail);
        connect.once('connect', (res, socket) => {
            connect.setTimeout(0);
            if (res.statusCode !== 200) {
                socket.destroy();
                fail(tunnelRefused(this.proxy, target, res.statusCode ?? 0, res.statusMessage));
                return;
            }
            settled = true;
            done(null, external_node_tls_namespaceObject.connect({ ...options, socket }));
        });
        connect.end();
        return undefined;
    }
}
/** A proxy that refuses the tunnel: its 4xx is the same on every attempt, a 5xx may pass. */
function tunnelRefused(proxy, target, status, text) {
    const said = `the proxy ${proxyName(proxy)} answered ${status}${text ? ` ${text}` : ''} to CONNECT ${target}`;
    if (status === 407)
        return new LadingError(`${said}: it wants credentials; put them in the proxy URL (http://USER:PASSWORD@HOST:PORT)`);
    if (status >= 400 && status < 500)
        return new LadingError(`${said}: it does not let Lading through to ${target}; ask its operator to allow it, or ` +
            'list the host in NO_PROXY if it is reached directly');
    return new Error(said);
}
const tunnels = new Map();
const forwarders = {
    http: new external_node_http_namespaceObject.Agent({ keepAlive: true, maxSockets: 32 }),
    https: new external_node_https_namespaceObject.Agent({ keepAlive: true, maxSockets: 32 })
};
/**
 * How a request to `url` goes through `proxy`: an https URL through a CONNECT tunnel, an http URL
 * as an absolute-URI request to the proxy (the proxy reads it, as it must for plain HTTP). The
 * options name every field, so the proxy URL's userinfo never becomes an Authorization header.
 */
function viaProxy(url, proxy, headers) {
    if (url.protocol === 'https:') {
        let agent = tunnels.get(proxy.href);
        if (!agent)
            tunnels.set(proxy.href, (agent = new TunnelAgent(proxy)));
        return {
            lib: external_node_https_namespaceObject,
            options: { ...endpoint(url), path: url.pathname + url.search, headers, agent }
        };
    }
    const isHttps = proxy.protocol === 'https:';
    return {
        lib: isHttps ? external_node_https_namespaceObject : external_node_http_namespaceObject,
        options: {
            ...endpoint(proxy),
            path: url.href,
            headers: { ...headers, Host: url.host, ...proxyAuthorization(proxy) },
            agent: isHttps ? forwarders.https : forwarders.http
        }
    };
}
/** Host and port to connect to, brackets of an IPv6 literal removed. */
function endpoint(u) {
    const port = u.port ? Number(u.port) : u.protocol === 'https:' ? 443 : 80;
    return { host: u.hostname.replace(/^\[|\]$/g, ''), port };
}

;// CONCATENATED MODULE: ./src/registry/watch.ts

/** The whole of one request for a document, a token or a HEAD: headers and body. */
const REQUEST_DEADLINE_MS = 60_000;
/** The slowest a blob upload or download may go, in bytes per second... */
const MIN_TRANSFER_RATE = 10 * 1024;
/** ...averaged over this long, so a short stall of a healthy registry is not held against it. */
const RATE_WINDOW_MS = 30_000;
const defaultTransferLimits = {
    deadlineMs: REQUEST_DEADLINE_MS,
    minBytesPerSecond: MIN_TRANSFER_RATE,
    rateWindowMs: RATE_WINDOW_MS
};
/**
 * A registry too slow for a limit: not retried, since a registry that trickled once is no faster
 * the next time, and retries would multiply the wait the limit is there to bound.
 */
class TooSlow extends LadingError {
}
function seconds(ms) {
    return ms >= 1000 ? `${+(ms / 1000).toFixed(1)} s` : `${ms} ms`;
}
function rate(bytesPerSecond) {
    return bytesPerSecond >= 1024
        ? `${+(bytesPerSecond / 1024).toFixed(1)} KiB/s`
        : `${bytesPerSecond} B/s`;
}
function moved(s) {
    return (s.bytesRead ?? 0) + (s.bytesWritten ?? 0);
}
/**
 * Holds one exchange to its watch: on a breach the request and its response are destroyed with a
 * TooSlow naming the host, what was being done and the limit. `response` hands over the response
 * when it arrives, so its body is covered too.
 */
class ExchangeWatch {
    r;
    w;
    host;
    res;
    deadline;
    window;
    constructor(r, w, host, uploading) {
        this.r = r;
        this.w = w;
        this.host = host;
        if (w.minRate)
            this.watchRate(w.minRate, uploading);
        else if (w.deadlineMs !== undefined)
            this.startDeadline(w.deadlineMs, '');
        r.on('error', () => this.stop());
        r.on('close', () => {
            if (!this.res)
                this.stop();
        });
    }
    response(m) {
        this.res = m;
        m.on('end', () => this.stop());
        m.on('close', () => this.stop());
    }
    stop() {
        clearTimeout(this.deadline);
        clearTimeout(this.window);
    }
    fail(err) {
        this.stop();
        this.r.destroy(err);
        if (!this.res)
            return;
        // Whoever reads the body later finds the error on it; no one reading now is no crash.
        this.res.on('error', () => { });
        this.res.destroy(err);
    }
    startDeadline(limit, since) {
        const err = () => new TooSlow(`${this.w.what}: ${this.host} did not answer in full within ${seconds(limit)}${since} ` +
            '(REQUEST_DEADLINE_MS, the deadline of one request); the registry is stalled or far ' +
            'too slow');
        this.deadline = setTimeout(() => this.fail(err()), limit);
    }
    watchRate(minRate, uploading) {
        const { bytesPerSecond, windowMs } = minRate;
        let socket;
        let last = 0;
        this.r.on('socket', s => {
            socket = s;
            last = moved(s);
        });
        let checkedAt = Date.now();
        let behindAtStart = false;
        const check = () => {
            const now = socket ? moved(socket) : 0;
            const got = now - last;
            last = now;
            // A timer that fires late means this process was too busy to read: its stall, not the
            // registry's, so that window is not judged.
            const late = Date.now() - checkedAt > windowMs * 1.5;
            checkedAt = Date.now();
            if (late) {
                this.window = setTimeout(check, windowMs);
                return;
            }
            // A download whose reader is behind (bytes received and not yet read) waits on Lading,
            // not on the registry: the registry is only to blame when nothing waits to be read, at the
            // start of the window as at its end. (A reader that was behind and has just caught up
            // empties every buffer before the registry's next bytes can arrive.)
            const res = this.res;
            const waitingOnUs = (!!res && res.readableLength > 0) || (!!socket && socket.readableLength > 0);
            const judged = !waitingOnUs && !behindAtStart;
            behindAtStart = waitingOnUs;
            if (judged && got < (bytesPerSecond * windowMs) / 1000)
                return this.fail(new TooSlow(`${this.w.what}: ${got} bytes moved with ${this.host} in ${seconds(windowMs)}, ` +
                    `below the minimum rate of ${rate(bytesPerSecond)} (MIN_TRANSFER_RATE over ` +
                    'RATE_WINDOW_MS); the registry or the network is stalled or far too slow'));
            this.window = setTimeout(check, windowMs);
        };
        this.window = setTimeout(check, windowMs);
        // Once an upload's body is sent, the registry stores the blob: no bytes move meanwhile.
        const limit = this.w.deadlineMs;
        if (uploading)
            this.r.on('finish', () => {
                clearTimeout(this.window);
                if (limit !== undefined && !this.res)
                    this.startDeadline(limit, ' of the end of the upload');
            });
    }
}

;// CONCATENATED MODULE: ./src/registry/http.ts







// Keep-alive matters: a push is hundreds of small requests to one host.
/**
 * `scheme://host/path` of a URL, for messages: its userinfo and query (a signed URL's signature,
 * an upload's state) are credentials often enough that no message shows them.
 */
function displayUrl(u, base) {
    let url;
    try {
        url = new URL(u, base);
    }
    catch {
        return '(a URL that does not parse)';
    }
    return `${url.protocol}//${url.host}${url.pathname}`;
}
/** Slices a buffer body, so its progress (and a minimum rate) can be seen as it is sent. */
function sliced(body) {
    const size = 64 * 1024;
    return external_node_stream_namespaceObject.Readable.from((function* () {
        for (let at = 0; at < body.length; at += size)
            yield body.subarray(at, at + size);
    })());
}
const agents = {
    http: new external_node_http_namespaceObject.Agent({ keepAlive: true, maxSockets: 32 }),
    https: new external_node_https_namespaceObject.Agent({ keepAlive: true, maxSockets: 32 })
};
/**
 * One HTTP exchange; resolves when the response headers arrive, body left to the caller. It goes
 * through the proxy the environment names for its URL (proxy.ts), if any.
 */
function send(req, env = process.env) {
    const isHttps = req.url.protocol === 'https:';
    const lib = isHttps ? external_node_https_namespaceObject : external_node_http_namespaceObject;
    return new Promise((resolve, reject) => {
        // Thrown here, a misconfigured proxy variable becomes the exchange's rejection.
        const proxy = proxyFor(req.url, env);
        const headers = { 'User-Agent': 'lading', ...req.headers };
        if (Buffer.isBuffer(req.body))
            headers['Content-Length'] = String(req.body.length);
        else if (!req.body && ['PUT', 'POST', 'PATCH'].includes(req.method))
            headers['Content-Length'] = '0';
        const body = Buffer.isBuffer(req.body) && req.watch?.minRate ? sliced(req.body) : req.body;
        let watch;
        const answered = (res) => {
            watch?.response(res);
            resolve({ status: res.statusCode ?? 0, headers: res.headers, url: req.url, body: res });
        };
        let r;
        if (proxy) {
            const via = viaProxy(req.url, proxy, headers);
            r = via.lib.request({ ...via.options, method: req.method }, answered);
        }
        else {
            const agent = isHttps ? agents.https : agents.http;
            r = lib.request(req.url, { method: req.method, headers, agent }, answered);
        }
        if (req.watch)
            watch = new ExchangeWatch(r, req.watch, req.url.host, body !== undefined);
        // An idle socket for a minute is a dead registry: give up on this attempt (retries follow).
        r.setTimeout(req.timeoutMs ?? 60_000, () => r.destroy(Object.assign(new Error(`${req.method} ${req.url.host} timed out`), { code: 'ETIMEDOUT' })));
        r.on('error', reject);
        if (!body || Buffer.isBuffer(body)) {
            r.end(body);
            return;
        }
        body.on('error', err => r.destroy(err));
        body.pipe(r);
    });
}
async function readBody(res, limit = 64 * 1024 * 1024) {
    return readAll(res.body, limit, `response from ${res.url.host}`);
}
/** The size a response states, when it states one. */
function contentLength(res) {
    const v = header(res, 'content-length');
    return v !== undefined && /^\d+$/.test(v.trim()) ? Number(v) : undefined;
}
/**
 * A manifest, index or config, never read past MAX_DOCUMENT_BYTES nor past the size its
 * descriptor says, when one does: refused at once when the registry states a larger size, else as
 * soon as more arrives. `what` names the registry and the reference or digest.
 */
async function readDocument(res, what, declared) {
    const limit = Math.min(declared ?? MAX_DOCUMENT_BYTES, MAX_DOCUMENT_BYTES);
    const over = (seen) => new LadingError(`${what}: the registry sent ${seen}, more than ` +
        (declared !== undefined && declared <= MAX_DOCUMENT_BYTES
            ? `the ${declared} bytes its descriptor says`
            : `the ${MAX_DOCUMENT_BYTES}-byte limit on documents (MAX_DOCUMENT_BYTES)`) +
        '; it was not read');
    const stated = contentLength(res);
    if (stated !== undefined && stated > limit) {
        res.body.destroy();
        throw over(`${stated} bytes (Content-Length)`);
    }
    try {
        return await readAll(res.body, limit, what);
    }
    catch (err) {
        if (err instanceof TooLarge)
            throw over(`${err.seen} bytes before Lading stopped reading`);
        throw err;
    }
}
/** Raised when a body is longer than its caller allows; not worth a retry. */
class TooLarge extends LadingError {
    seen;
    constructor(message, 
    /** Bytes received when reading stopped. */
    seen) {
        super(message);
        this.seen = seen;
    }
}
/** A whole body, never more than `limit` bytes of it in memory. */
async function readAll(body, limit, what) {
    const chunks = [];
    let size = 0;
    for await (const chunk of body) {
        size += chunk.length;
        if (size > limit) {
            body.destroy();
            throw new TooLarge(`${what} is larger than ${limit} bytes`, size);
        }
        chunks.push(chunk);
    }
    return Buffer.concat(chunks);
}
/** Throws the body away so the connection can be reused. */
async function drain(res) {
    try {
        for await (const _ of res.body)
            void _;
    }
    catch {
        // The body of a response we do not use cannot matter.
    }
}
function header(res, name) {
    const v = res.headers[name.toLowerCase()];
    return Array.isArray(v) ? v[0] : v;
}

;// CONCATENATED MODULE: ./src/registry/retry.ts


const defaultRetryPolicy = {
    attempts: 6,
    maxElapsedMs: 5 * 60_000,
    baseDelayMs: 500,
    maxDelayMs: 30_000
};
/** Retry-After is either delta-seconds or an HTTP date (RFC 9110 §10.2.3). */
function parseRetryAfter(value, now = Date.now()) {
    if (!value)
        return undefined;
    const v = value.trim();
    if (/^\d+$/.test(v))
        return Number(v) * 1000;
    const when = Date.parse(v);
    return Number.isNaN(when) ? undefined : Math.max(0, when - now);
}
/**
 * Full jitter: a random delay below an exponentially growing cap, so many clients retrying the
 * same registry do not come back in step. The server's Retry-After wins when it asks for longer.
 */
function backoffDelay(attempt, policy, retryAfterMs, random = Math.random) {
    const cap = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (attempt - 1));
    const jittered = cap / 2 + random() * (cap / 2);
    if (retryAfterMs !== undefined)
        return Math.max(retryAfterMs, Math.min(jittered, retryAfterMs + 1000));
    return jittered;
}
const sleep = (ms) => new Promise(resolve => setTimeout(resolve, ms));
/**
 * Runs `fn` until it succeeds, throws something not retryable, or the policy's attempts or time
 * run out; then throws a LadingError naming `what` and the last cause.
 */
async function withRetry(what, fn, policy = defaultRetryPolicy, log) {
    const started = Date.now();
    for (let attempt = 1;; attempt++) {
        try {
            return await fn(attempt);
        }
        catch (err) {
            if (!isRetryableNetworkError(err))
                throw err;
            const retryAfter = err instanceof RetryableError ? err.retryAfterMs : undefined;
            const delay = backoffDelay(attempt, policy, retryAfter);
            const elapsed = Date.now() - started;
            if (attempt >= policy.attempts || elapsed + delay > policy.maxElapsedMs) {
                if (err instanceof RetryableError && err.exhausted)
                    throw err.exhausted(attempt);
                const tried = `${attempt} attempt${attempt > 1 ? 's' : ''} in ${Math.round(elapsed / 1000)}s`;
                throw new LadingError(`${what} failed after ${tried}: ${errors_messageOf(err)}`);
            }
            log?.(`${what}: ${errors_messageOf(err)}; retrying in ${(delay / 1000).toFixed(1)}s`);
            await sleep(delay);
        }
    }
}

;// CONCATENATED MODULE: ./src/registry/auth.ts






/** Parses `WWW-Authenticate: Bearer realm="…",service="…",scope="…"` (quoted or token values). */
function parseChallenge(value) {
    if (!value)
        return undefined;
    const m = /^\s*([A-Za-z]+)\s*(.*)$/.exec(value);
    if (!m)
        return undefined;
    const params = {};
    const re = /([A-Za-z_][A-Za-z0-9_-]*)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))/g;
    for (let p = re.exec(m[2]); p; p = re.exec(m[2]))
        params[p[1].toLowerCase()] = p[2] !== undefined ? p[2].replace(/\\(.)/g, '$1') : p[3];
    return { scheme: m[1].toLowerCase(), params };
}
function repositoryScope(repository, actions) {
    return `repository:${repository}:${actions}`;
}
/** Renew a token this long before it expires, so it does not lapse during a request. */
const EXPIRY_MARGIN_MS = 30_000;
/**
 * Produces the Authorization header for requests to one registry: none, Basic, or a Bearer token
 * obtained from the challenge's realm for a set of scopes, cached until it expires.
 */
class Authenticator {
    opts;
    challenge;
    tokens = new Map();
    registry;
    creds;
    log;
    secrets;
    constructor(opts) {
        this.opts = opts;
        this.registry = opts.registry;
        this.creds = opts.creds;
        this.log = opts.log;
        this.secrets = opts.secrets ?? new Secrets();
    }
    basic(username, password) {
        const b = Buffer.from(`${username}:${password}`).toString('base64');
        this.secrets.add(b);
        return b;
    }
    /** Learns the scheme from a 401 (of the ping or of any request). */
    setChallenge(value) {
        const c = parseChallenge(value);
        if (c)
            this.challenge = c;
    }
    get scheme() {
        return this.challenge?.scheme;
    }
    /** Forgets the cached token for these scopes, so the next header fetches a new one. */
    invalidate(scopes) {
        this.tokens.delete(scopeKey(scopes));
    }
    async header(scopes) {
        const c = this.challenge;
        if (!c)
            return undefined;
        if (c.scheme === 'basic') {
            const { credentials } = await this.creds();
            if (!credentials)
                return undefined;
            return 'Basic ' + this.basic(credentials.username, credentials.password);
        }
        if (c.scheme !== 'bearer')
            return undefined;
        const key = scopeKey(scopes);
        let cached = this.tokens.get(key);
        if (cached) {
            const t = await cached.catch(() => undefined);
            if (!t || t.expiresAt - EXPIRY_MARGIN_MS < Date.now())
                cached = undefined;
        }
        if (!cached) {
            cached = this.fetchToken(c, scopes);
            this.tokens.set(key, cached);
            cached.catch(() => this.tokens.delete(key));
        }
        return 'Bearer ' + (await cached).token;
    }
    async fetchToken(c, scopes) {
        const realm = c.params.realm;
        if (!realm)
            throw new LadingError(`${this.registry} asked for a bearer token but named no realm`);
        let url;
        try {
            url = new URL(realm);
        }
        catch {
            throw new LadingError(`${this.registry} named a token realm that is not a URL`);
        }
        const resolved = await this.creds();
        this.refuseClearText(url, resolved);
        const all = [...new Set([...scopes, ...(c.params.scope ? c.params.scope.split(' ') : [])])];
        let res;
        if (resolved.identityToken) {
            // An identity token is an OAuth2 refresh token: trade it with a form POST.
            const form = new URLSearchParams({
                grant_type: 'refresh_token',
                refresh_token: resolved.identityToken,
                service: c.params.service ?? '',
                client_id: 'lading',
                scope: all.join(' ')
            });
            res = await this.exchange(url, 'POST', form, {
                'Content-Type': 'application/x-www-form-urlencoded'
            });
        }
        else {
            if (c.params.service)
                url.searchParams.set('service', c.params.service);
            for (const s of all)
                url.searchParams.append('scope', s);
            const headers = {};
            if (resolved.credentials)
                headers.Authorization =
                    'Basic ' + this.basic(resolved.credentials.username, resolved.credentials.password);
            res = await this.exchange(url, 'GET', undefined, headers);
        }
        const token = res.token || res.access_token;
        if (!token)
            throw new LadingError(`the token server ${displayUrl(url)} answered without a token`);
        this.secrets.add(token);
        const lifetime = (typeof res.expires_in === 'number' && res.expires_in > 0 ? res.expires_in : 60) * 1000;
        const issued = res.issued_at ? Date.parse(res.issued_at) : NaN;
        const start = Number.isNaN(issued) ? Date.now() : Math.min(issued, Date.now());
        this.log(`got a token from ${url.host} for ${all.join(' ')}`);
        return { token, expiresAt: start + lifetime };
    }
    /**
     * Credentials travel in clear text only to a registry the user reaches in clear text (loopback,
     * insecure-registries): an HTTPS registry naming an http:// realm would otherwise have the
     * password read by anyone on the path.
     */
    refuseClearText(realm, resolved) {
        if (realm.protocol === 'https:' || this.opts.base.protocol !== 'https:')
            return;
        if (!resolved.credentials && !resolved.identityToken)
            return;
        throw new LadingError(`${this.registry} is reached over HTTPS but sends Lading to the token server ` +
            `${displayUrl(realm)} over plain HTTP; Lading does not send the credentials from ` +
            `${resolved.source} there in clear text. The registry's token realm must be https://; ` +
            'ask its operator to fix it');
    }
    async exchange(url, method, form, headers) {
        const where = `the token server ${displayUrl(url)} (for ${this.registry})`;
        let res;
        try {
            res = await send({
                method,
                url,
                headers,
                body: form ? Buffer.from(form.toString()) : undefined,
                watch: { what: `asking ${where} for a token`, deadlineMs: this.opts.deadlineMs }
            });
        }
        catch (err) {
            if (err instanceof LadingError)
                throw err;
            throw new RetryableError(`${where}: ${errors_messageOf(err)}`);
        }
        const body = (await readBody(res, 1024 * 1024)).toString('utf8');
        if (isRetryableStatus(res.status))
            throw new RetryableError(`${where} answered ${res.status}`, parseRetryAfter(header(res, 'retry-after')));
        if (res.status !== 200) {
            const said = describeErrors(parseErrorBody(body), body);
            const e = new LadingError(`${where} refused a token: ${res.status}${said ? ` ${said}` : ''}`);
            throw Object.assign(e, { status: res.status });
        }
        // JSON.parse's reason quotes the text, which may hold a token: it is left out.
        const { value } = parseJSON(body);
        if (value === undefined)
            throw new LadingError(`${where} answered something that is not JSON`);
        return value;
    }
}
function scopeKey(scopes) {
    return [...scopes].sort().join(' ');
}

;// CONCATENATED MODULE: ./src/registry/blobs.ts







/** `registry/repository`, for messages. */
function blobs_blobName(t) {
    return `${t.client.registry}/${t.repository}`;
}
async function blobExists(t, digest) {
    const res = await t.client.request({
        method: 'HEAD',
        path: `${t.repository}/blobs/${digest}`,
        scopes: t.scopes,
        expect: [200, 404],
        what: `HEAD blob ${digest} in ${blobs_blobName(t)}`,
        repository: t.repository
    });
    await drain(res);
    return res.status === 200;
}
function requestBlob(t, desc, what, transfer) {
    return t.client.request({
        method: 'GET',
        path: `${t.repository}/blobs/${desc.digest}`,
        scopes: t.scopes,
        expect: [200],
        what,
        repository: t.repository,
        transfer
    });
}
/**
 * Streams a blob, following redirects (credentials are not sent to another host), held to the
 * minimum rate. The stream ends with an error as soon as the registry sends more than the
 * descriptor's size (that chunk is not passed on, so nothing downstream writes more than
 * declared), or when it ends short of it.
 */
async function getBlob(t, desc) {
    const what = `GET blob ${desc.digest} (${desc.size} bytes) from ${blobs_blobName(t)}`;
    const res = await requestBlob(t, desc, what, true);
    const stated = contentLength(res);
    if (stated !== undefined && stated !== desc.size) {
        res.body.destroy();
        throw new LadingError(`${what}: the registry states ${stated} bytes (Content-Length), not the ${desc.size} ` +
            'its descriptor says; the registry holds something else under this digest');
    }
    return bounded(res.body, desc.size, what);
}
/** `body`, failing once it passes `size` bytes or ends short of it. */
function bounded(body, size, what) {
    let got = 0;
    const bound = new external_node_stream_namespaceObject.Transform({
        transform(chunk, _enc, cb) {
            got += chunk.length;
            if (got > size)
                return cb(new LadingError(`${what}: the registry sent more than the ${size} bytes its descriptor says ` +
                    `(${got} when Lading stopped reading); the registry is broken or hostile`));
            cb(null, chunk);
        },
        flush(cb) {
            if (got === size)
                return cb();
            cb(new LadingError(`${what}: the registry sent ${got} bytes, not the ${size} its descriptor says`));
        }
    });
    body.on('error', err => bound.destroy(err instanceof LadingError
        ? err
        : new LadingError(`${what}: the download broke after ${got} of ${size} bytes (${errors_messageOf(err)})`)));
    // A consumer that stops reading (or a failure) releases the connection.
    bound.on('close', () => body.destroy());
    return body.pipe(bound);
}
/**
 * A whole document (a config) by digest, verified against its descriptor, never read past the
 * descriptor's size nor MAX_DOCUMENT_BYTES.
 */
async function readBlob(t, desc) {
    const what = `blob ${desc.digest} from ${blobs_blobName(t)}`;
    if (desc.size > MAX_DOCUMENT_BYTES)
        throw new LadingError(`${what}: its descriptor says ${desc.size} bytes, more than the ${MAX_DOCUMENT_BYTES}-byte ` +
            'limit on documents (MAX_DOCUMENT_BYTES) that Lading reads; it was not fetched');
    return withRetry(`GET ${what}`, async () => {
        const res = await requestBlob(t, desc, `GET ${what}`, false);
        let data;
        try {
            data = await readDocument(res, what, desc.size);
        }
        catch (err) {
            if (err instanceof LadingError)
                throw err;
            throw new RetryableError(`reading ${what}: ${errors_messageOf(err)}`);
        }
        verifyContent(data, desc.digest, desc.size, what);
        return data;
    }, t.client.policy, t.client.log);
}

;// CONCATENATED MODULE: ./src/registry/credentials.ts








/** The keys docker writes for one registry: Docker Hub has historically used several. */
function registryKeys(registry) {
    if (canonicalRegistry(registry) === DOCKER_HUB)
        return ['https://index.docker.io/v1/', 'index.docker.io', DOCKER_HUB, DOCKER_HUB_API];
    return [registry];
}
/** `https://ghcr.io/v1/` → `ghcr.io`: docker config keys may carry a scheme and a path. */
function hostOfKey(key) {
    return key.replace(/^[a-z]+:\/\//i, '').replace(/\/.*$/, '');
}
function findKey(map, registry) {
    if (!map)
        return undefined;
    const wanted = registryKeys(registry).map(hostOfKey);
    for (const [key, value] of Object.entries(map))
        if (wanted.includes(hostOfKey(key)))
            return value;
    return undefined;
}
function dockerConfigPath(env = process.env) {
    const dir = env.DOCKER_CONFIG || external_node_path_namespaceObject.join(external_node_os_namespaceObject.homedir(), '.docker');
    return external_node_path_namespaceObject.join(dir, 'config.json');
}
/** Runs `docker-credential-HELPER get`, which reads the server on stdin and answers JSON. */
async function fromHelper(helper, registry, env, secrets) {
    const bin = `docker-credential-${helper}`;
    const server = registry === DOCKER_HUB ? 'https://index.docker.io/v1/' : registry;
    const out = await new Promise((resolve, reject) => {
        const child = (0,external_node_child_process_namespaceObject.execFile)(bin, ['get'], { timeout: 30_000, env }, (err, stdout, stderr) => {
            if (!err)
                return resolve(stdout);
            // Helpers say "credentials not found in native keychain" when they have nothing for this host.
            if (/not found/i.test(stdout + stderr))
                return resolve(undefined);
            reject(new LadingError(`the docker credential helper ${bin} failed for ${registry}: ${errors_messageOf(err)}; ` +
                'check that it is installed and on PATH, or remove it from the docker config'));
        });
        child.stdin?.end(server);
    });
    if (!out)
        return undefined;
    // JSON.parse's reason quotes the text, which holds the secret: it is left out.
    const answer = parseJSON(out).value;
    if (!isObject(answer))
        throw new LadingError(`the docker credential helper ${bin} answered something that is not JSON`);
    const parsed = answer;
    if (!parsed.Secret)
        return undefined;
    const source = `the docker credential helper ${bin}`;
    secrets.addCredential(parsed.Secret, parsed.Username ?? '');
    // Helpers return an identity token under the pseudo user name <token>.
    if (parsed.Username === '<token>')
        return { identityToken: parsed.Secret, source };
    return { credentials: { username: parsed.Username ?? '', password: parsed.Secret }, source };
}
async function fromDockerConfig(registry, env, secrets) {
    const file = dockerConfigPath(env);
    let text;
    try {
        text = await promises_namespaceObject.readFile(file, 'utf8');
    }
    catch (err) {
        if (err.code === 'ENOENT')
            return undefined;
        throw new LadingError(`the docker config ${file} cannot be read: ${errors_messageOf(err)}`);
    }
    // JSON.parse's reason quotes the text, which holds credentials: it is left out.
    const value = parseJSON(text).value;
    if (!isObject(value))
        throw new LadingError(`the docker config ${file} cannot be read: it is not a JSON object`);
    const config = value;
    // docker's order (cli/config/configfile GetCredentialsStore): the registry's credHelpers entry,
    // else the credsStore, else the auths entry. A store that knows nothing of the registry lets
    // the auths entry answer, which docker does not, but only ever finds more credentials.
    const helper = findKey(config.credHelpers, registry);
    if (helper)
        return fromHelper(helper, registry, env, secrets);
    if (config.credsStore) {
        const stored = await fromHelper(config.credsStore, registry, env, secrets);
        if (stored)
            return stored;
    }
    const entry = findKey(config.auths, registry);
    const source = `the docker config ${file}`;
    if (entry?.identitytoken) {
        secrets.addCredential(entry.identitytoken);
        return { identityToken: entry.identitytoken, source };
    }
    if (entry?.auth) {
        const decoded = Buffer.from(entry.auth, 'base64').toString('utf8');
        const colon = decoded.indexOf(':');
        if (colon < 0)
            throw new LadingError(`the docker config ${file} has an "auth" for ${registry} that is not base64 of user:password`);
        const credentials = { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
        secrets.addCredential(credentials.password, credentials.username);
        secrets.add(entry.auth);
        return { credentials, source };
    }
    if (entry?.username && entry.password) {
        secrets.addCredential(entry.password, entry.username);
        return { credentials: { username: entry.username, password: entry.password }, source };
    }
    return undefined;
}
/**
 * Where credentials for `registry` come from, first found wins: the username/password inputs;
 * docker's config.json (credHelpers, credsStore, auths), which docker/login-action writes; the
 * github-token input for ghcr.io; else none (anonymous).
 */
async function resolveCredentials(registry, opts, env = process.env) {
    const secrets = opts.secrets ?? new Secrets();
    const forRegistries = opts.credentialsRegistries;
    const inputsApply = !forRegistries || forRegistries.some(r => sameRegistry(r, registry));
    if (inputsApply && opts.password) {
        secrets.addCredential(opts.password, opts.username ?? '');
        return {
            credentials: { username: opts.username ?? '', password: opts.password },
            source: 'the username/password inputs'
        };
    }
    const inputsFor = opts.password && !inputsApply ? forRegistries : undefined;
    const fromConfig = await fromDockerConfig(registry, env, secrets);
    if (fromConfig)
        return { ...fromConfig, ...(inputsFor && { inputsFor }) };
    if (registry === 'ghcr.io' && opts.githubToken) {
        const username = env.GITHUB_ACTOR || 'x-access-token';
        secrets.addCredential(opts.githubToken, username);
        return {
            credentials: { username, password: opts.githubToken },
            source: 'the github-token input',
            ...(inputsFor && { inputsFor })
        };
    }
    return {
        source: inputsFor
            ? 'no credentials (anonymous; the username/password inputs are for other registries)'
            : 'no credentials (anonymous; none in the inputs or the docker config)',
        ...(inputsFor && { inputsFor })
    };
}
function sameRegistry(a, b) {
    return canonicalRegistry(a).toLowerCase() === canonicalRegistry(b).toLowerCase();
}

;// CONCATENATED MODULE: ./src/registry/tls.ts


const TLS_TRUST_CODES = new Set([
    'DEPTH_ZERO_SELF_SIGNED_CERT',
    'SELF_SIGNED_CERT_IN_CHAIN',
    'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
    'UNABLE_TO_GET_ISSUER_CERT',
    'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
    'CERT_HAS_EXPIRED',
    'CERT_NOT_YET_VALID',
    'CERT_UNTRUSTED',
    'CERT_REVOKED',
    'ERR_TLS_CERT_ALTNAME_INVALID',
    'HOSTNAME_MISMATCH'
]);
/**
 * A TLS handshake that failed: the same answer on every attempt, so it is not retried. Returns
 * the user's error, or undefined when `err` is something else.
 */
function tlsFailure(err, url, registry) {
    if (url.protocol !== 'https:')
        return undefined;
    const e = err;
    const code = e?.code ?? '';
    const msg = errors_messageOf(err);
    const own = url.host === registryApiHost(registry);
    const who = own ? `the registry ${url.host}` : `${url.host} (reached from ${registry})`;
    if (code === 'EPROTO' ||
        code.startsWith('ERR_SSL_') ||
        /wrong version number|packet length too long|unknown protocol|http request/i.test(msg))
        return new LadingError(`the TLS handshake with ${who} failed (${msg.replace(/\s+/g, ' ').slice(0, 160)}): ` +
            (own
                ? `is this registry plain HTTP? list it in insecure-registries (${url.host}) to use http://`
                : 'it does not speak TLS on that port'));
    if (TLS_TRUST_CODES.has(code) || /certificate|self[- ]signed/i.test(msg))
        return new LadingError(`the certificate of ${who} is not trusted (${code || msg}): ` +
            'install its CA in the system trust store and set NODE_EXTRA_CA_CERTS to its file' +
            (own ? `, or list ${url.host} in insecure-registries to use plain http://` : ''));
    return undefined;
}

;// CONCATENATED MODULE: ./src/registry/client.ts











const MAX_REDIRECTS = 5;
/** `http://vm:5081/` → `vm:5081`: insecure-registries entries are often written as URLs. */
function normalizeRegistryHost(entry) {
    return entry
        .trim()
        .replace(/^[a-z][a-z0-9+.-]*:\/\//i, '')
        .replace(/\/.*$/, '')
        .toLowerCase();
}
/**
 * Whether the registry's credentials may go with a request to `url`: only to the registry's own
 * scheme, host and port (a redirect to http:// of the same host would send them in clear text).
 */
function sameOrigin(base, url) {
    return base.origin === url.origin;
}
function isLoopback(host) {
    const name = host.replace(/:\d+$/, '').replace(/^\[|\]$/g, '');
    return name === 'localhost' || name === '::1' || /^127\.\d+\.\d+\.\d+$/.test(name);
}
/**
 * A client of one registry (Distribution spec v1.1): auth, retries, redirects, error messages.
 * Plain HTTP is used for loopback hosts and `insecureRegistries`, as docker does for localhost;
 * every other host gets verified TLS.
 */
class RegistryClient {
    registry;
    opts;
    /** The host requests go to (Docker Hub's name is not its API host). */
    host;
    base;
    log;
    policy;
    limits;
    relief;
    auth;
    creds;
    credSource = 'no credentials';
    inputsFor;
    pinged;
    refused = new Map();
    secrets;
    constructor(registry, opts) {
        this.registry = registry;
        this.opts = opts;
        this.host = registryApiHost(registry);
        const insecure = isLoopback(this.host) ||
            (opts.insecureRegistries ?? []).some(r => registryApiHost(normalizeRegistryHost(r)) === this.host.toLowerCase());
        this.base = new URL(`${insecure ? 'http' : 'https'}://${this.host}/v2/`);
        this.log = opts.log ?? (() => { });
        const proxy = proxyFor(this.base);
        if (proxy)
            this.log(`${this.registry}: through the proxy ${proxy.protocol}//${proxy.host}`);
        this.policy = { ...defaultRetryPolicy, ...opts.retry };
        this.limits = { ...defaultTransferLimits, ...opts.limits };
        this.relief = opts.relief;
        this.secrets = opts.secrets ?? new Secrets();
        this.auth = new Authenticator({
            registry: this.host,
            base: this.base,
            creds: () => this.credentials(),
            log: this.log,
            secrets: this.secrets,
            deadlineMs: this.limits.deadlineMs
        });
    }
    /** What one exchange is held to: a blob transfer to the minimum rate, the rest to the deadline. */
    watchOf(what, transfer = false) {
        const l = this.limits;
        const minRate = { bytesPerSecond: l.minBytesPerSecond, windowMs: l.rateWindowMs };
        return { what, deadlineMs: l.deadlineMs, ...(transfer && { minRate }) };
    }
    credentials() {
        this.creds ??= resolveCredentials(this.registry, { ...this.opts, secrets: this.secrets }).then(c => {
            this.credSource = c.source;
            this.inputsFor = c.inputsFor;
            return c;
        });
        return this.creds;
    }
    context(what, repository) {
        return {
            registry: this.registry,
            repository,
            what,
            credentialSource: this.credSource,
            inputsFor: this.inputsFor
        };
    }
    /** `GET /v2/` once, to learn whether and how the registry wants authentication. */
    ping() {
        const what = `reaching ${this.registry} (${displayUrl(this.base)})`;
        this.pinged ??= withRetry(what, async () => {
            await this.credentials();
            let res;
            try {
                res = await send({
                    method: 'GET',
                    url: this.base,
                    headers: {},
                    watch: this.watchOf(what)
                });
            }
            catch (err) {
                if (err instanceof LadingError)
                    throw err;
                throw tlsFailure(err, this.base, this.registry) ?? new RetryableError(errors_messageOf(err));
            }
            const body = (await readBody(res, 1024 * 1024)).toString('utf8');
            if (res.status === 401)
                this.auth.setChallenge(header(res, 'www-authenticate'));
            else if (isRetryableStatus(res.status))
                throw new RetryableError(`${res.status}`, parseRetryAfter(header(res, 'retry-after')));
            else if (res.status !== 200)
                throw registryError(res.status, body, this.context(`GET ${displayUrl(this.base)}`));
        }, this.policy, this.log).catch(err => {
            this.pinged = undefined;
            throw err;
        });
        return this.pinged;
    }
    urlOf(o) {
        if (o.url)
            return o.url;
        return new URL(o.path ?? '', this.base);
    }
    /**
     * Sends a request with authentication, following redirects for reads and retrying what can
     * be retried. Resolves with the response (body unread) when its status is expected.
     */
    async request(o) {
        await this.ping();
        if (typeof o.body === 'function' || o.retry === false)
            return this.attempt(o, o.retry === false);
        return withRetry(o.what, () => this.attempt(o, true), this.policy, this.log);
    }
    async authHeader(o) {
        try {
            return await this.auth.header(o.scopes);
        }
        catch (err) {
            const status = err.status;
            if (status === 401 || status === 403)
                throw registryError(status, errors_messageOf(err), this.context(o.what, o.repository));
            throw err;
        }
    }
    async attempt(o, replayable) {
        const refused = this.refused.get(o.scopes.join(' '));
        if (refused)
            throw refused;
        try {
            return await this.attemptOnce(o, replayable);
        }
        catch (err) {
            // Credentials refused once (401 after a fresh token) are refused for every request still
            // queued: asking again only floods the registry and may lock the account. A 403 is about
            // one request (a mount source, one tag) and is not held against the others.
            if (err instanceof RegistryError && err.status === 401 && !o.probe)
                this.refused.set(o.scopes.join(' '), err);
            throw err;
        }
    }
    async attemptOnce(o, replayable) {
        for (let reauthed = false;; reauthed = true) {
            const res = await this.sendFollowing(o, await this.authHeader(o));
            if ((res.status === 401 || res.status === 403) && !sameOrigin(this.base, res.url)) {
                // A redirect target (object storage) or a foreign upload Location never gets the
                // registry's credentials, so its challenge must not be answered with them either.
                await drain(res);
                throw new LadingError(`${o.what}: the storage host ${res.url.host} refused the redirected request ` +
                    `(${res.status}); Lading does not send registry credentials there. ` +
                    `${this.registry} should redirect to a URL that carries its own authorisation ` +
                    '(a signed URL); check the storage configuration of the registry.');
            }
            if (res.status === 401) {
                const body = (await readBody(res, 1024 * 1024)).toString('utf8');
                // One new token can fix an expired one or a challenge asking for more scope; a second
                // refusal means the credentials are wrong, and retrying would only lock the account.
                if (!reauthed)
                    this.auth.setChallenge(header(res, 'www-authenticate'));
                if (!reauthed && this.auth.scheme) {
                    this.auth.invalidate(o.scopes);
                    if (replayable)
                        continue;
                    throw new RetryableError(`${o.what}: 401, renewing the token`);
                }
                throw registryError(401, body, this.context(o.what, o.repository));
            }
            if (o.expect.includes(res.status))
                return res;
            const body = (await readBody(res, 1024 * 1024).catch(() => Buffer.alloc(0))).toString('utf8');
            if (isRetryableStatus(res.status)) {
                const ctx = this.context(o.what, o.repository);
                throw new RetryableError(`${o.what}: ${res.status} ${body.replace(/\s+/g, ' ').slice(0, 200)}`.trim(), parseRetryAfter(header(res, 'retry-after')), attempts => registryError(res.status, body, ctx, attempts));
            }
            throw registryError(res.status, body, this.context(o.what, o.repository));
        }
    }
    async sendFollowing(o, auth) {
        let url = this.urlOf(o);
        const follow = o.method === 'GET' || o.method === 'HEAD';
        for (let hops = 0;; hops++) {
            const headers = { ...o.headers };
            // Blob downloads are often redirected to object storage: the registry's credentials stay
            // with the registry's host.
            if (auth && sameOrigin(this.base, url))
                headers.Authorization = auth;
            let res;
            try {
                const body = typeof o.body === 'function' ? await o.body() : o.body;
                res = await send({
                    method: o.method,
                    url,
                    headers,
                    body,
                    watch: this.watchOf(o.what, o.transfer)
                });
            }
            catch (err) {
                if (err instanceof LadingError)
                    throw err;
                const tls = tlsFailure(err, url, this.registry);
                if (tls)
                    throw new LadingError(`${o.what}: ${tls.message}`);
                throw new RetryableError(`${o.what}: ${errors_messageOf(err)}`);
            }
            const location = header(res, 'location');
            if (!follow || !location || ![301, 302, 303, 307, 308].includes(res.status))
                return res;
            await drain(res);
            if (hops >= MAX_REDIRECTS)
                throw new LadingError(`${o.what}: more than ${MAX_REDIRECTS} redirects, the last to ` +
                    `${displayUrl(location, url)}; the registry's redirects go round in a loop`);
            url = this.resolve(location, url, o.what);
        }
    }
    /** Resolves a Location header (relative or absolute) against the request it answered. */
    locationOf(res, what) {
        const loc = header(res, 'location');
        if (!loc)
            throw new LadingError(`${what}: ${this.registry} answered ${res.status} without a Location header`);
        return this.resolve(loc, res.url, what);
    }
    resolve(location, base, what) {
        try {
            return new URL(location, base);
        }
        catch {
            throw new LadingError(`${what}: ${this.registry} answered with a Location that is not a URL; ` +
                'the registry or a proxy in front of it is misconfigured');
        }
    }
}

;// CONCATENATED MODULE: ./src/registry/manifests.ts





/** Every manifest and index type Lading reads, for the Accept header. */
const MANIFEST_ACCEPT = [
    MediaType.ImageIndex,
    MediaType.ImageManifest,
    MediaType.DockerManifestList,
    MediaType.DockerManifest
].join(', ');
function manifests_name(t, ref) {
    return `${t.client.registry}/${t.repository}${isDigest(ref) ? '@' : ':'}${ref}`;
}
/**
 * GETs a manifest by tag or digest, never past MAX_DOCUMENT_BYTES; verified when the digest is
 * known (asked for, or stated).
 */
async function getManifest(t, ref, accept = MANIFEST_ACCEPT) {
    const what = `GET manifest ${manifests_name(t, ref)}`;
    const res = await t.client.request({
        method: 'GET',
        path: `${t.repository}/manifests/${ref}`,
        scopes: t.scopes,
        headers: { Accept: accept },
        expect: [200],
        what,
        repository: t.repository
    });
    const bytes = await readDocument(res, what);
    const stated = header(res, 'docker-content-digest');
    const algorithm = isDigest(ref)
        ? parseDigest(ref).algorithm
        : stated && isDigest(stated)
            ? parseDigest(stated).algorithm
            : 'sha256';
    const digest = digestOf(bytes, algorithm);
    const expected = isDigest(ref) ? ref : stated;
    if (expected && isDigest(expected) && expected !== digest)
        throw new LadingError(`${what}: the content has digest ${digest}, but the registry said ${expected}`);
    let mediaType = (header(res, 'content-type') ?? '').split(';')[0].trim();
    const doc = parseJSONValue(bytes, `${what}: the registry answered a manifest that`);
    // The document's own mediaType is authoritative; some registries answer a generic Content-Type.
    const own = isObject(doc) ? doc.mediaType : undefined;
    if (typeof own === 'string' && own)
        mediaType = own;
    return { descriptor: { mediaType, digest, size: bytes.length }, bytes };
}
async function manifestExists(t, digest) {
    const res = await t.client.request({
        method: 'HEAD',
        path: `${t.repository}/manifests/${digest}`,
        scopes: t.scopes,
        headers: { Accept: MANIFEST_ACCEPT },
        expect: [200, 404],
        what: `HEAD manifest ${manifests_name(t, digest)}`,
        repository: t.repository
    });
    await drain(res);
    return res.status === 200;
}
/** PUTs a manifest under a tag or its digest and checks the digest the registry computed. */
async function putManifest(t, ref, m) {
    const what = `PUT manifest ${manifests_name(t, ref)}`;
    const res = await t.client.request({
        method: 'PUT',
        path: `${t.repository}/manifests/${ref}`,
        scopes: t.scopes,
        headers: { 'Content-Type': m.descriptor.mediaType },
        body: m.bytes,
        expect: [201],
        what,
        repository: t.repository
    });
    await drain(res);
    const stated = header(res, 'docker-content-digest');
    if (stated && stated !== m.descriptor.digest)
        throw new LadingError(`${what}: the registry stored it as ${stated}, not ${m.descriptor.digest}; ` +
            'it rewrote the manifest, so references by digest would not match');
}

;// CONCATENATED MODULE: ./src/registry/source.ts










/**
 * An image in a registry as a source. Documents (manifests, indexes, configs) are read whole,
 * each once, never past MAX_DOCUMENT_BYTES; layers are streamed on demand, and a push to the same
 * registry mounts them instead (see `origin`).
 */
class RegistrySource {
    target;
    ref;
    root;
    name;
    origin;
    /** Every document asked for, by digest: the engine and the validator share one fetch. */
    documents = new Map();
    /** The configs named by the manifests read here: documents, whatever their media type. */
    configs = new Set();
    constructor(target, ref, root, rootBytes) {
        this.target = target;
        this.ref = ref;
        this.root = root;
        this.name = formatReference(ref);
        this.origin = { registry: ref.registry, repository: ref.repository };
        this.documents.set(root.digest, Promise.resolve(rootBytes));
        this.noteConfig(rootBytes);
    }
    /** Resolves the reference's tag (or digest) to its top manifest or index. */
    static async open(ref, opts = {}) {
        const client = new RegistryClient(ref.registry, opts);
        const target = {
            client,
            repository: ref.repository,
            scopes: [repositoryScope(ref.repository, 'pull')]
        };
        const wanted = ref.digest ?? ref.tag ?? 'latest';
        const m = await getManifest(target, wanted);
        return new RegistrySource(target, ref, m.descriptor, m.bytes);
    }
    /** Manifests live under /manifests/; everything else, configs included, under /blobs/. */
    isManifest(desc) {
        return (isManifestMediaType(desc.mediaType) ||
            isIndexMediaType(desc.mediaType) ||
            desc.digest === this.root.digest);
    }
    /** Documents are read whole and once; small blobs that are not layers are treated alike. */
    isDocument(desc) {
        return (this.isManifest(desc) ||
            this.configs.has(desc.digest) ||
            (layerCompression(desc.mediaType) === undefined && desc.size <= MAX_DOCUMENT_BYTES));
    }
    noteConfig(bytes) {
        // Not JSON (or too deep): the validator says so; there is no config to note.
        const doc = parseJSON(bytes).value;
        const config = isObject(doc) ? doc.config : undefined;
        if (typeof config?.digest === 'string')
            this.configs.add(config.digest);
    }
    read(desc) {
        let p = this.documents.get(desc.digest);
        if (!p) {
            p = this.fetch(desc);
            this.documents.set(desc.digest, p);
            // A failure is not remembered: a later read may find the registry better.
            p.catch(() => this.documents.delete(desc.digest));
        }
        return p;
    }
    async fetch(desc) {
        if (!this.isManifest(desc))
            return readBlob(this.target, desc);
        if (desc.size > MAX_DOCUMENT_BYTES)
            throw new LadingError(`manifest ${desc.digest} in ${this.name}: its descriptor says ${desc.size} bytes, more ` +
                `than the ${MAX_DOCUMENT_BYTES}-byte limit on documents (MAX_DOCUMENT_BYTES) that ` +
                'Lading reads; it was not fetched');
        const m = await getManifest(this.target, desc.digest);
        if (m.bytes.length !== desc.size)
            throw new LadingError(`manifest ${desc.digest} in ${this.name} has ${m.bytes.length} bytes, the descriptor says ${desc.size}`);
        this.noteConfig(m.bytes);
        return m.bytes;
    }
    async open(desc) {
        // Readers such as the validator stream everything; documents come from the one read.
        if (this.isDocument(desc))
            return external_node_stream_namespaceObject.Readable.from([await this.read(desc)]);
        return getBlob(this.target, desc);
    }
    async has(desc) {
        // What was read is there; no need to ask again.
        if (this.documents.has(desc.digest))
            return true;
        return this.isManifest(desc)
            ? manifestExists(this.target, desc.digest)
            : blobExists(this.target, desc.digest);
    }
}

;// CONCATENATED MODULE: external "string_decoder"
const external_string_decoder_namespaceObject = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("string_decoder");
;// CONCATENATED MODULE: external "os"
const external_os_namespaceObject = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("os");
// EXTERNAL MODULE: external "events"
var external_events_ = __nccwpck_require__(434);
;// CONCATENATED MODULE: external "child_process"
const external_child_process_namespaceObject = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("child_process");
;// CONCATENATED MODULE: external "path"
const external_path_namespaceObject = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("path");
;// CONCATENATED MODULE: external "assert"
const external_assert_namespaceObject = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("assert");
// EXTERNAL MODULE: external "fs"
var external_fs_ = __nccwpck_require__(896);
;// CONCATENATED MODULE: ./node_modules/@actions/io/lib/io-util.js
var __awaiter = (undefined && undefined.__awaiter) || function (thisArg, _arguments, P, generator) {
    function adopt(value) { return value instanceof P ? value : new P(function (resolve) { resolve(value); }); }
    return new (P || (P = Promise))(function (resolve, reject) {
        function fulfilled(value) { try { step(generator.next(value)); } catch (e) { reject(e); } }
        function rejected(value) { try { step(generator["throw"](value)); } catch (e) { reject(e); } }
        function step(result) { result.done ? resolve(result.value) : adopt(result.value).then(fulfilled, rejected); }
        step((generator = generator.apply(thisArg, _arguments || [])).next());
    });
};


const { chmod, copyFile, lstat, mkdir, open: io_util_open, readdir, rename, rm, rmdir, stat, symlink, unlink } = external_fs_.promises;
// export const {open} = 'fs'
const IS_WINDOWS = process.platform === 'win32';
/**
 * Custom implementation of readlink to ensure Windows junctions
 * maintain trailing backslash for backward compatibility with Node.js < 24
 *
 * In Node.js 20, Windows junctions (directory symlinks) always returned paths
 * with trailing backslashes. Node.js 24 removed this behavior, which breaks
 * code that relied on this format for path operations.
 *
 * This implementation restores the Node 20 behavior by adding a trailing
 * backslash to all junction results on Windows.
 */
function readlink(fsPath) {
    return __awaiter(this, void 0, void 0, function* () {
        const result = yield fs.promises.readlink(fsPath);
        // On Windows, restore Node 20 behavior: add trailing backslash to all results
        // since junctions on Windows are always directory links
        if (IS_WINDOWS && !result.endsWith('\\')) {
            return `${result}\\`;
        }
        return result;
    });
}
// See https://github.com/nodejs/node/blob/d0153aee367422d0858105abec186da4dff0a0c5/deps/uv/include/uv/win.h#L691
const UV_FS_O_EXLOCK = 0x10000000;
const READONLY = external_fs_.constants.O_RDONLY;
function exists(fsPath) {
    return __awaiter(this, void 0, void 0, function* () {
        try {
            yield stat(fsPath);
        }
        catch (err) {
            if (err.code === 'ENOENT') {
                return false;
            }
            throw err;
        }
        return true;
    });
}
function isDirectory(fsPath_1) {
    return __awaiter(this, arguments, void 0, function* (fsPath, useStat = false) {
        const stats = useStat ? yield stat(fsPath) : yield lstat(fsPath);
        return stats.isDirectory();
    });
}
/**
 * On OSX/Linux, true if path starts with '/'. On Windows, true for paths like:
 * \, \hello, \\hello\share, C:, and C:\hello (and corresponding alternate separator cases).
 */
function isRooted(p) {
    p = normalizeSeparators(p);
    if (!p) {
        throw new Error('isRooted() parameter "p" cannot be empty');
    }
    if (IS_WINDOWS) {
        return (p.startsWith('\\') || /^[A-Z]:/i.test(p) // e.g. \ or \hello or \\hello
        ); // e.g. C: or C:\hello
    }
    return p.startsWith('/');
}
/**
 * Best effort attempt to determine whether a file exists and is executable.
 * @param filePath    file path to check
 * @param extensions  additional file extensions to try
 * @return if file exists and is executable, returns the file path. otherwise empty string.
 */
function tryGetExecutablePath(filePath, extensions) {
    return __awaiter(this, void 0, void 0, function* () {
        let stats = undefined;
        try {
            // test file exists
            stats = yield stat(filePath);
        }
        catch (err) {
            if (err.code !== 'ENOENT') {
                // eslint-disable-next-line no-console
                console.log(`Unexpected error attempting to determine if executable file exists '${filePath}': ${err}`);
            }
        }
        if (stats && stats.isFile()) {
            if (IS_WINDOWS) {
                // on Windows, test for valid extension
                const upperExt = external_path_namespaceObject.extname(filePath).toUpperCase();
                if (extensions.some(validExt => validExt.toUpperCase() === upperExt)) {
                    return filePath;
                }
            }
            else {
                if (isUnixExecutable(stats)) {
                    return filePath;
                }
            }
        }
        // try each extension
        const originalFilePath = filePath;
        for (const extension of extensions) {
            filePath = originalFilePath + extension;
            stats = undefined;
            try {
                stats = yield stat(filePath);
            }
            catch (err) {
                if (err.code !== 'ENOENT') {
                    // eslint-disable-next-line no-console
                    console.log(`Unexpected error attempting to determine if executable file exists '${filePath}': ${err}`);
                }
            }
            if (stats && stats.isFile()) {
                if (IS_WINDOWS) {
                    // preserve the case of the actual file (since an extension was appended)
                    try {
                        const directory = external_path_namespaceObject.dirname(filePath);
                        const upperName = external_path_namespaceObject.basename(filePath).toUpperCase();
                        for (const actualName of yield readdir(directory)) {
                            if (upperName === actualName.toUpperCase()) {
                                filePath = external_path_namespaceObject.join(directory, actualName);
                                break;
                            }
                        }
                    }
                    catch (err) {
                        // eslint-disable-next-line no-console
                        console.log(`Unexpected error attempting to determine the actual case of the file '${filePath}': ${err}`);
                    }
                    return filePath;
                }
                else {
                    if (isUnixExecutable(stats)) {
                        return filePath;
                    }
                }
            }
        }
        return '';
    });
}
function normalizeSeparators(p) {
    p = p || '';
    if (IS_WINDOWS) {
        // convert slashes on Windows
        p = p.replace(/\//g, '\\');
        // remove redundant slashes
        return p.replace(/\\\\+/g, '\\');
    }
    // remove redundant slashes
    return p.replace(/\/\/+/g, '/');
}
// on Mac/Linux, test the execute bit
//     R   W  X  R  W X R W X
//   256 128 64 32 16 8 4 2 1
function isUnixExecutable(stats) {
    return ((stats.mode & 1) > 0 ||
        ((stats.mode & 8) > 0 &&
            process.getgid !== undefined &&
            stats.gid === process.getgid()) ||
        ((stats.mode & 64) > 0 &&
            process.getuid !== undefined &&
            stats.uid === process.getuid()));
}
// Get the path of cmd.exe in windows
function getCmdPath() {
    var _a;
    return (_a = process.env['COMSPEC']) !== null && _a !== void 0 ? _a : `cmd.exe`;
}
//# sourceMappingURL=io-util.js.map
;// CONCATENATED MODULE: ./node_modules/@actions/io/lib/io.js
var io_awaiter = (undefined && undefined.__awaiter) || function (thisArg, _arguments, P, generator) {
    function adopt(value) { return value instanceof P ? value : new P(function (resolve) { resolve(value); }); }
    return new (P || (P = Promise))(function (resolve, reject) {
        function fulfilled(value) { try { step(generator.next(value)); } catch (e) { reject(e); } }
        function rejected(value) { try { step(generator["throw"](value)); } catch (e) { reject(e); } }
        function step(result) { result.done ? resolve(result.value) : adopt(result.value).then(fulfilled, rejected); }
        step((generator = generator.apply(thisArg, _arguments || [])).next());
    });
};



/**
 * Copies a file or folder.
 * Based off of shelljs - https://github.com/shelljs/shelljs/blob/9237f66c52e5daa40458f94f9565e18e8132f5a6/src/cp.js
 *
 * @param     source    source path
 * @param     dest      destination path
 * @param     options   optional. See CopyOptions.
 */
function cp(source_1, dest_1) {
    return io_awaiter(this, arguments, void 0, function* (source, dest, options = {}) {
        const { force, recursive, copySourceDirectory } = readCopyOptions(options);
        const destStat = (yield ioUtil.exists(dest)) ? yield ioUtil.stat(dest) : null;
        // Dest is an existing file, but not forcing
        if (destStat && destStat.isFile() && !force) {
            return;
        }
        // If dest is an existing directory, should copy inside.
        const newDest = destStat && destStat.isDirectory() && copySourceDirectory
            ? path.join(dest, path.basename(source))
            : dest;
        if (!(yield ioUtil.exists(source))) {
            throw new Error(`no such file or directory: ${source}`);
        }
        const sourceStat = yield ioUtil.stat(source);
        if (sourceStat.isDirectory()) {
            if (!recursive) {
                throw new Error(`Failed to copy. ${source} is a directory, but tried to copy without recursive flag.`);
            }
            else {
                yield cpDirRecursive(source, newDest, 0, force);
            }
        }
        else {
            if (path.relative(source, newDest) === '') {
                // a file cannot be copied to itself
                throw new Error(`'${newDest}' and '${source}' are the same file`);
            }
            yield io_copyFile(source, newDest, force);
        }
    });
}
/**
 * Moves a path.
 *
 * @param     source    source path
 * @param     dest      destination path
 * @param     options   optional. See MoveOptions.
 */
function mv(source_1, dest_1) {
    return io_awaiter(this, arguments, void 0, function* (source, dest, options = {}) {
        if (yield ioUtil.exists(dest)) {
            let destExists = true;
            if (yield ioUtil.isDirectory(dest)) {
                // If dest is directory copy src into dest
                dest = path.join(dest, path.basename(source));
                destExists = yield ioUtil.exists(dest);
            }
            if (destExists) {
                if (options.force == null || options.force) {
                    yield rmRF(dest);
                }
                else {
                    throw new Error('Destination already exists');
                }
            }
        }
        yield mkdirP(path.dirname(dest));
        yield ioUtil.rename(source, dest);
    });
}
/**
 * Remove a path recursively with force
 *
 * @param inputPath path to remove
 */
function rmRF(inputPath) {
    return io_awaiter(this, void 0, void 0, function* () {
        if (ioUtil.IS_WINDOWS) {
            // Check for invalid characters
            // https://docs.microsoft.com/en-us/windows/win32/fileio/naming-a-file
            if (/[*"<>|]/.test(inputPath)) {
                throw new Error('File path must not contain `*`, `"`, `<`, `>` or `|` on Windows');
            }
        }
        try {
            // note if path does not exist, error is silent
            yield ioUtil.rm(inputPath, {
                force: true,
                maxRetries: 3,
                recursive: true,
                retryDelay: 300
            });
        }
        catch (err) {
            throw new Error(`File was unable to be removed ${err}`);
        }
    });
}
/**
 * Make a directory.  Creates the full path with folders in between
 * Will throw if it fails
 *
 * @param   fsPath        path to create
 * @returns Promise<void>
 */
function mkdirP(fsPath) {
    return io_awaiter(this, void 0, void 0, function* () {
        ok(fsPath, 'a path argument must be provided');
        yield ioUtil.mkdir(fsPath, { recursive: true });
    });
}
/**
 * Returns path of a tool had the tool actually been invoked.  Resolves via paths.
 * If you check and the tool does not exist, it will throw.
 *
 * @param     tool              name of the tool
 * @param     check             whether to check if tool exists
 * @returns   Promise<string>   path to tool
 */
function which(tool, check) {
    return io_awaiter(this, void 0, void 0, function* () {
        if (!tool) {
            throw new Error("parameter 'tool' is required");
        }
        // recursive when check=true
        if (check) {
            const result = yield which(tool, false);
            if (!result) {
                if (IS_WINDOWS) {
                    throw new Error(`Unable to locate executable file: ${tool}. Please verify either the file path exists or the file can be found within a directory specified by the PATH environment variable. Also verify the file has a valid extension for an executable file.`);
                }
                else {
                    throw new Error(`Unable to locate executable file: ${tool}. Please verify either the file path exists or the file can be found within a directory specified by the PATH environment variable. Also check the file mode to verify the file is executable.`);
                }
            }
            return result;
        }
        const matches = yield findInPath(tool);
        if (matches && matches.length > 0) {
            return matches[0];
        }
        return '';
    });
}
/**
 * Returns a list of all occurrences of the given tool on the system path.
 *
 * @returns   Promise<string[]>  the paths of the tool
 */
function findInPath(tool) {
    return io_awaiter(this, void 0, void 0, function* () {
        if (!tool) {
            throw new Error("parameter 'tool' is required");
        }
        // build the list of extensions to try
        const extensions = [];
        if (IS_WINDOWS && process.env['PATHEXT']) {
            for (const extension of process.env['PATHEXT'].split(external_path_namespaceObject.delimiter)) {
                if (extension) {
                    extensions.push(extension);
                }
            }
        }
        // if it's rooted, return it if exists. otherwise return empty.
        if (isRooted(tool)) {
            const filePath = yield tryGetExecutablePath(tool, extensions);
            if (filePath) {
                return [filePath];
            }
            return [];
        }
        // if any path separators, return empty
        if (tool.includes(external_path_namespaceObject.sep)) {
            return [];
        }
        // build the list of directories
        //
        // Note, technically "where" checks the current directory on Windows. From a toolkit perspective,
        // it feels like we should not do this. Checking the current directory seems like more of a use
        // case of a shell, and the which() function exposed by the toolkit should strive for consistency
        // across platforms.
        const directories = [];
        if (process.env.PATH) {
            for (const p of process.env.PATH.split(external_path_namespaceObject.delimiter)) {
                if (p) {
                    directories.push(p);
                }
            }
        }
        // find all matches
        const matches = [];
        for (const directory of directories) {
            const filePath = yield tryGetExecutablePath(external_path_namespaceObject.join(directory, tool), extensions);
            if (filePath) {
                matches.push(filePath);
            }
        }
        return matches;
    });
}
function readCopyOptions(options) {
    const force = options.force == null ? true : options.force;
    const recursive = Boolean(options.recursive);
    const copySourceDirectory = options.copySourceDirectory == null
        ? true
        : Boolean(options.copySourceDirectory);
    return { force, recursive, copySourceDirectory };
}
function cpDirRecursive(sourceDir, destDir, currentDepth, force) {
    return io_awaiter(this, void 0, void 0, function* () {
        // Ensure there is not a run away recursive copy
        if (currentDepth >= 255)
            return;
        currentDepth++;
        yield mkdirP(destDir);
        const files = yield ioUtil.readdir(sourceDir);
        for (const fileName of files) {
            const srcFile = `${sourceDir}/${fileName}`;
            const destFile = `${destDir}/${fileName}`;
            const srcFileStat = yield ioUtil.lstat(srcFile);
            if (srcFileStat.isDirectory()) {
                // Recurse
                yield cpDirRecursive(srcFile, destFile, currentDepth, force);
            }
            else {
                yield io_copyFile(srcFile, destFile, force);
            }
        }
        // Change the mode for the newly created directory
        yield ioUtil.chmod(destDir, (yield ioUtil.stat(sourceDir)).mode);
    });
}
// Buffered file copy
function io_copyFile(srcFile, destFile, force) {
    return io_awaiter(this, void 0, void 0, function* () {
        if ((yield ioUtil.lstat(srcFile)).isSymbolicLink()) {
            // unlink/re-link it
            try {
                yield ioUtil.lstat(destFile);
                yield ioUtil.unlink(destFile);
            }
            catch (e) {
                // Try to override file permission
                if (e.code === 'EPERM') {
                    yield ioUtil.chmod(destFile, '0666');
                    yield ioUtil.unlink(destFile);
                }
                // other errors = it doesn't exist, no work to do
            }
            // Copy over symlink
            const symlinkFull = yield ioUtil.readlink(srcFile);
            yield ioUtil.symlink(symlinkFull, destFile, ioUtil.IS_WINDOWS ? 'junction' : null);
        }
        else if (!(yield ioUtil.exists(destFile)) || force) {
            yield ioUtil.copyFile(srcFile, destFile);
        }
    });
}
//# sourceMappingURL=io.js.map
;// CONCATENATED MODULE: external "timers"
const external_timers_namespaceObject = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("timers");
;// CONCATENATED MODULE: ./node_modules/@actions/exec/lib/toolrunner.js
var toolrunner_awaiter = (undefined && undefined.__awaiter) || function (thisArg, _arguments, P, generator) {
    function adopt(value) { return value instanceof P ? value : new P(function (resolve) { resolve(value); }); }
    return new (P || (P = Promise))(function (resolve, reject) {
        function fulfilled(value) { try { step(generator.next(value)); } catch (e) { reject(e); } }
        function rejected(value) { try { step(generator["throw"](value)); } catch (e) { reject(e); } }
        function step(result) { result.done ? resolve(result.value) : adopt(result.value).then(fulfilled, rejected); }
        step((generator = generator.apply(thisArg, _arguments || [])).next());
    });
};







/* eslint-disable @typescript-eslint/unbound-method */
const toolrunner_IS_WINDOWS = process.platform === 'win32';
/*
 * Class for running command line tools. Handles quoting and arg parsing in a platform agnostic way.
 */
class ToolRunner extends external_events_.EventEmitter {
    constructor(toolPath, args, options) {
        super();
        if (!toolPath) {
            throw new Error("Parameter 'toolPath' cannot be null or empty.");
        }
        this.toolPath = toolPath;
        this.args = args || [];
        this.options = options || {};
    }
    _debug(message) {
        if (this.options.listeners && this.options.listeners.debug) {
            this.options.listeners.debug(message);
        }
    }
    _getCommandString(options, noPrefix) {
        const toolPath = this._getSpawnFileName();
        const args = this._getSpawnArgs(options);
        let cmd = noPrefix ? '' : '[command]'; // omit prefix when piped to a second tool
        if (toolrunner_IS_WINDOWS) {
            // Windows + cmd file
            if (this._isCmdFile()) {
                cmd += toolPath;
                for (const a of args) {
                    cmd += ` ${a}`;
                }
            }
            // Windows + verbatim
            else if (options.windowsVerbatimArguments) {
                cmd += `"${toolPath}"`;
                for (const a of args) {
                    cmd += ` ${a}`;
                }
            }
            // Windows (regular)
            else {
                cmd += this._windowsQuoteCmdArg(toolPath);
                for (const a of args) {
                    cmd += ` ${this._windowsQuoteCmdArg(a)}`;
                }
            }
        }
        else {
            // OSX/Linux - this can likely be improved with some form of quoting.
            // creating processes on Unix is fundamentally different than Windows.
            // on Unix, execvp() takes an arg array.
            cmd += toolPath;
            for (const a of args) {
                cmd += ` ${a}`;
            }
        }
        return cmd;
    }
    _processLineBuffer(data, strBuffer, onLine) {
        try {
            let s = strBuffer + data.toString();
            let n = s.indexOf(external_os_namespaceObject.EOL);
            while (n > -1) {
                const line = s.substring(0, n);
                onLine(line);
                // the rest of the string ...
                s = s.substring(n + external_os_namespaceObject.EOL.length);
                n = s.indexOf(external_os_namespaceObject.EOL);
            }
            return s;
        }
        catch (err) {
            // streaming lines to console is best effort.  Don't fail a build.
            this._debug(`error processing line. Failed with error ${err}`);
            return '';
        }
    }
    _getSpawnFileName() {
        if (toolrunner_IS_WINDOWS) {
            if (this._isCmdFile()) {
                return process.env['COMSPEC'] || 'cmd.exe';
            }
        }
        return this.toolPath;
    }
    _getSpawnArgs(options) {
        if (toolrunner_IS_WINDOWS) {
            if (this._isCmdFile()) {
                let argline = `/D /S /C "${this._windowsQuoteCmdArg(this.toolPath)}`;
                for (const a of this.args) {
                    argline += ' ';
                    argline += options.windowsVerbatimArguments
                        ? a
                        : this._windowsQuoteCmdArg(a);
                }
                argline += '"';
                return [argline];
            }
        }
        return this.args;
    }
    _endsWith(str, end) {
        return str.endsWith(end);
    }
    _isCmdFile() {
        const upperToolPath = this.toolPath.toUpperCase();
        return (this._endsWith(upperToolPath, '.CMD') ||
            this._endsWith(upperToolPath, '.BAT'));
    }
    _windowsQuoteCmdArg(arg) {
        // for .exe, apply the normal quoting rules that libuv applies
        if (!this._isCmdFile()) {
            return this._uvQuoteCmdArg(arg);
        }
        // otherwise apply quoting rules specific to the cmd.exe command line parser.
        // the libuv rules are generic and are not designed specifically for cmd.exe
        // command line parser.
        //
        // for a detailed description of the cmd.exe command line parser, refer to
        // http://stackoverflow.com/questions/4094699/how-does-the-windows-command-interpreter-cmd-exe-parse-scripts/7970912#7970912
        // need quotes for empty arg
        if (!arg) {
            return '""';
        }
        // determine whether the arg needs to be quoted
        const cmdSpecialChars = [
            ' ',
            '\t',
            '&',
            '(',
            ')',
            '[',
            ']',
            '{',
            '}',
            '^',
            '=',
            ';',
            '!',
            "'",
            '+',
            ',',
            '`',
            '~',
            '|',
            '<',
            '>',
            '"'
        ];
        let needsQuotes = false;
        for (const char of arg) {
            if (cmdSpecialChars.some(x => x === char)) {
                needsQuotes = true;
                break;
            }
        }
        // short-circuit if quotes not needed
        if (!needsQuotes) {
            return arg;
        }
        // the following quoting rules are very similar to the rules that by libuv applies.
        //
        // 1) wrap the string in quotes
        //
        // 2) double-up quotes - i.e. " => ""
        //
        //    this is different from the libuv quoting rules. libuv replaces " with \", which unfortunately
        //    doesn't work well with a cmd.exe command line.
        //
        //    note, replacing " with "" also works well if the arg is passed to a downstream .NET console app.
        //    for example, the command line:
        //          foo.exe "myarg:""my val"""
        //    is parsed by a .NET console app into an arg array:
        //          [ "myarg:\"my val\"" ]
        //    which is the same end result when applying libuv quoting rules. although the actual
        //    command line from libuv quoting rules would look like:
        //          foo.exe "myarg:\"my val\""
        //
        // 3) double-up slashes that precede a quote,
        //    e.g.  hello \world    => "hello \world"
        //          hello\"world    => "hello\\""world"
        //          hello\\"world   => "hello\\\\""world"
        //          hello world\    => "hello world\\"
        //
        //    technically this is not required for a cmd.exe command line, or the batch argument parser.
        //    the reasons for including this as a .cmd quoting rule are:
        //
        //    a) this is optimized for the scenario where the argument is passed from the .cmd file to an
        //       external program. many programs (e.g. .NET console apps) rely on the slash-doubling rule.
        //
        //    b) it's what we've been doing previously (by deferring to node default behavior) and we
        //       haven't heard any complaints about that aspect.
        //
        // note, a weakness of the quoting rules chosen here, is that % is not escaped. in fact, % cannot be
        // escaped when used on the command line directly - even though within a .cmd file % can be escaped
        // by using %%.
        //
        // the saving grace is, on the command line, %var% is left as-is if var is not defined. this contrasts
        // the line parsing rules within a .cmd file, where if var is not defined it is replaced with nothing.
        //
        // one option that was explored was replacing % with ^% - i.e. %var% => ^%var^%. this hack would
        // often work, since it is unlikely that var^ would exist, and the ^ character is removed when the
        // variable is used. the problem, however, is that ^ is not removed when %* is used to pass the args
        // to an external program.
        //
        // an unexplored potential solution for the % escaping problem, is to create a wrapper .cmd file.
        // % can be escaped within a .cmd file.
        let reverse = '"';
        let quoteHit = true;
        for (let i = arg.length; i > 0; i--) {
            // walk the string in reverse
            reverse += arg[i - 1];
            if (quoteHit && arg[i - 1] === '\\') {
                reverse += '\\'; // double the slash
            }
            else if (arg[i - 1] === '"') {
                quoteHit = true;
                reverse += '"'; // double the quote
            }
            else {
                quoteHit = false;
            }
        }
        reverse += '"';
        return reverse.split('').reverse().join('');
    }
    _uvQuoteCmdArg(arg) {
        // Tool runner wraps child_process.spawn() and needs to apply the same quoting as
        // Node in certain cases where the undocumented spawn option windowsVerbatimArguments
        // is used.
        //
        // Since this function is a port of quote_cmd_arg from Node 4.x (technically, lib UV,
        // see https://github.com/nodejs/node/blob/v4.x/deps/uv/src/win/process.c for details),
        // pasting copyright notice from Node within this function:
        //
        //      Copyright Joyent, Inc. and other Node contributors. All rights reserved.
        //
        //      Permission is hereby granted, free of charge, to any person obtaining a copy
        //      of this software and associated documentation files (the "Software"), to
        //      deal in the Software without restriction, including without limitation the
        //      rights to use, copy, modify, merge, publish, distribute, sublicense, and/or
        //      sell copies of the Software, and to permit persons to whom the Software is
        //      furnished to do so, subject to the following conditions:
        //
        //      The above copyright notice and this permission notice shall be included in
        //      all copies or substantial portions of the Software.
        //
        //      THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
        //      IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
        //      FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
        //      AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
        //      LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING
        //      FROM, OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS
        //      IN THE SOFTWARE.
        if (!arg) {
            // Need double quotation for empty argument
            return '""';
        }
        if (!arg.includes(' ') && !arg.includes('\t') && !arg.includes('"')) {
            // No quotation needed
            return arg;
        }
        if (!arg.includes('"') && !arg.includes('\\')) {
            // No embedded double quotes or backslashes, so I can just wrap
            // quote marks around the whole thing.
            return `"${arg}"`;
        }
        // Expected input/output:
        //   input : hello"world
        //   output: "hello\"world"
        //   input : hello""world
        //   output: "hello\"\"world"
        //   input : hello\world
        //   output: hello\world
        //   input : hello\\world
        //   output: hello\\world
        //   input : hello\"world
        //   output: "hello\\\"world"
        //   input : hello\\"world
        //   output: "hello\\\\\"world"
        //   input : hello world\
        //   output: "hello world\\" - note the comment in libuv actually reads "hello world\"
        //                             but it appears the comment is wrong, it should be "hello world\\"
        let reverse = '"';
        let quoteHit = true;
        for (let i = arg.length; i > 0; i--) {
            // walk the string in reverse
            reverse += arg[i - 1];
            if (quoteHit && arg[i - 1] === '\\') {
                reverse += '\\';
            }
            else if (arg[i - 1] === '"') {
                quoteHit = true;
                reverse += '\\';
            }
            else {
                quoteHit = false;
            }
        }
        reverse += '"';
        return reverse.split('').reverse().join('');
    }
    _cloneExecOptions(options) {
        options = options || {};
        const result = {
            cwd: options.cwd || process.cwd(),
            env: options.env || process.env,
            silent: options.silent || false,
            windowsVerbatimArguments: options.windowsVerbatimArguments || false,
            failOnStdErr: options.failOnStdErr || false,
            ignoreReturnCode: options.ignoreReturnCode || false,
            delay: options.delay || 10000
        };
        result.outStream = options.outStream || process.stdout;
        result.errStream = options.errStream || process.stderr;
        return result;
    }
    _getSpawnOptions(options, toolPath) {
        options = options || {};
        const result = {};
        result.cwd = options.cwd;
        result.env = options.env;
        result['windowsVerbatimArguments'] =
            options.windowsVerbatimArguments || this._isCmdFile();
        if (options.windowsVerbatimArguments) {
            result.argv0 = `"${toolPath}"`;
        }
        return result;
    }
    /**
     * Exec a tool.
     * Output will be streamed to the live console.
     * Returns promise with return code
     *
     * @param     tool     path to tool to exec
     * @param     options  optional exec options.  See ExecOptions
     * @returns   number
     */
    exec() {
        return toolrunner_awaiter(this, void 0, void 0, function* () {
            // root the tool path if it is unrooted and contains relative pathing
            if (!isRooted(this.toolPath) &&
                (this.toolPath.includes('/') ||
                    (toolrunner_IS_WINDOWS && this.toolPath.includes('\\')))) {
                // prefer options.cwd if it is specified, however options.cwd may also need to be rooted
                this.toolPath = external_path_namespaceObject.resolve(process.cwd(), this.options.cwd || process.cwd(), this.toolPath);
            }
            // if the tool is only a file name, then resolve it from the PATH
            // otherwise verify it exists (add extension on Windows if necessary)
            this.toolPath = yield which(this.toolPath, true);
            return new Promise((resolve, reject) => toolrunner_awaiter(this, void 0, void 0, function* () {
                this._debug(`exec tool: ${this.toolPath}`);
                this._debug('arguments:');
                for (const arg of this.args) {
                    this._debug(`   ${arg}`);
                }
                const optionsNonNull = this._cloneExecOptions(this.options);
                if (!optionsNonNull.silent && optionsNonNull.outStream) {
                    optionsNonNull.outStream.write(this._getCommandString(optionsNonNull) + external_os_namespaceObject.EOL);
                }
                const state = new ExecState(optionsNonNull, this.toolPath);
                state.on('debug', (message) => {
                    this._debug(message);
                });
                if (this.options.cwd && !(yield exists(this.options.cwd))) {
                    return reject(new Error(`The cwd: ${this.options.cwd} does not exist!`));
                }
                const fileName = this._getSpawnFileName();
                const cp = external_child_process_namespaceObject.spawn(fileName, this._getSpawnArgs(optionsNonNull), this._getSpawnOptions(this.options, fileName));
                let stdbuffer = '';
                if (cp.stdout) {
                    cp.stdout.on('data', (data) => {
                        if (this.options.listeners && this.options.listeners.stdout) {
                            this.options.listeners.stdout(data);
                        }
                        if (!optionsNonNull.silent && optionsNonNull.outStream) {
                            optionsNonNull.outStream.write(data);
                        }
                        stdbuffer = this._processLineBuffer(data, stdbuffer, (line) => {
                            if (this.options.listeners && this.options.listeners.stdline) {
                                this.options.listeners.stdline(line);
                            }
                        });
                    });
                }
                let errbuffer = '';
                if (cp.stderr) {
                    cp.stderr.on('data', (data) => {
                        state.processStderr = true;
                        if (this.options.listeners && this.options.listeners.stderr) {
                            this.options.listeners.stderr(data);
                        }
                        if (!optionsNonNull.silent &&
                            optionsNonNull.errStream &&
                            optionsNonNull.outStream) {
                            const s = optionsNonNull.failOnStdErr
                                ? optionsNonNull.errStream
                                : optionsNonNull.outStream;
                            s.write(data);
                        }
                        errbuffer = this._processLineBuffer(data, errbuffer, (line) => {
                            if (this.options.listeners && this.options.listeners.errline) {
                                this.options.listeners.errline(line);
                            }
                        });
                    });
                }
                cp.on('error', (err) => {
                    state.processError = err.message;
                    state.processExited = true;
                    state.processClosed = true;
                    state.CheckComplete();
                });
                cp.on('exit', (code) => {
                    state.processExitCode = code;
                    state.processExited = true;
                    this._debug(`Exit code ${code} received from tool '${this.toolPath}'`);
                    state.CheckComplete();
                });
                cp.on('close', (code) => {
                    state.processExitCode = code;
                    state.processExited = true;
                    state.processClosed = true;
                    this._debug(`STDIO streams have closed for tool '${this.toolPath}'`);
                    state.CheckComplete();
                });
                state.on('done', (error, exitCode) => {
                    if (stdbuffer.length > 0) {
                        this.emit('stdline', stdbuffer);
                    }
                    if (errbuffer.length > 0) {
                        this.emit('errline', errbuffer);
                    }
                    cp.removeAllListeners();
                    if (error) {
                        reject(error);
                    }
                    else {
                        resolve(exitCode);
                    }
                });
                if (this.options.input) {
                    if (!cp.stdin) {
                        throw new Error('child process missing stdin');
                    }
                    cp.stdin.end(this.options.input);
                }
            }));
        });
    }
}
/**
 * Convert an arg string to an array of args. Handles escaping
 *
 * @param    argString   string of arguments
 * @returns  string[]    array of arguments
 */
function argStringToArray(argString) {
    const args = [];
    let inQuotes = false;
    let escaped = false;
    let arg = '';
    function append(c) {
        // we only escape double quotes.
        if (escaped && c !== '"') {
            arg += '\\';
        }
        arg += c;
        escaped = false;
    }
    for (let i = 0; i < argString.length; i++) {
        const c = argString.charAt(i);
        if (c === '"') {
            if (!escaped) {
                inQuotes = !inQuotes;
            }
            else {
                append(c);
            }
            continue;
        }
        if (c === '\\' && escaped) {
            append(c);
            continue;
        }
        if (c === '\\' && inQuotes) {
            escaped = true;
            continue;
        }
        if (c === ' ' && !inQuotes) {
            if (arg.length > 0) {
                args.push(arg);
                arg = '';
            }
            continue;
        }
        append(c);
    }
    if (arg.length > 0) {
        args.push(arg.trim());
    }
    return args;
}
class ExecState extends external_events_.EventEmitter {
    constructor(options, toolPath) {
        super();
        this.processClosed = false; // tracks whether the process has exited and stdio is closed
        this.processError = '';
        this.processExitCode = 0;
        this.processExited = false; // tracks whether the process has exited
        this.processStderr = false; // tracks whether stderr was written to
        this.delay = 10000; // 10 seconds
        this.done = false;
        this.timeout = null;
        if (!toolPath) {
            throw new Error('toolPath must not be empty');
        }
        this.options = options;
        this.toolPath = toolPath;
        if (options.delay) {
            this.delay = options.delay;
        }
    }
    CheckComplete() {
        if (this.done) {
            return;
        }
        if (this.processClosed) {
            this._setResult();
        }
        else if (this.processExited) {
            this.timeout = (0,external_timers_namespaceObject.setTimeout)(ExecState.HandleTimeout, this.delay, this);
        }
    }
    _debug(message) {
        this.emit('debug', message);
    }
    _setResult() {
        // determine whether there is an error
        let error;
        if (this.processExited) {
            if (this.processError) {
                error = new Error(`There was an error when attempting to execute the process '${this.toolPath}'. This may indicate the process failed to start. Error: ${this.processError}`);
            }
            else if (this.processExitCode !== 0 && !this.options.ignoreReturnCode) {
                error = new Error(`The process '${this.toolPath}' failed with exit code ${this.processExitCode}`);
            }
            else if (this.processStderr && this.options.failOnStdErr) {
                error = new Error(`The process '${this.toolPath}' failed because one or more lines were written to the STDERR stream`);
            }
        }
        // clear the timeout
        if (this.timeout) {
            clearTimeout(this.timeout);
            this.timeout = null;
        }
        this.done = true;
        this.emit('done', error, this.processExitCode);
    }
    static HandleTimeout(state) {
        if (state.done) {
            return;
        }
        if (!state.processClosed && state.processExited) {
            const message = `The STDIO streams did not close within ${state.delay / 1000} seconds of the exit event from process '${state.toolPath}'. This may indicate a child process inherited the STDIO streams and has not yet exited.`;
            state._debug(message);
        }
        state._setResult();
    }
}
//# sourceMappingURL=toolrunner.js.map
;// CONCATENATED MODULE: ./node_modules/@actions/exec/lib/exec.js
var exec_awaiter = (undefined && undefined.__awaiter) || function (thisArg, _arguments, P, generator) {
    function adopt(value) { return value instanceof P ? value : new P(function (resolve) { resolve(value); }); }
    return new (P || (P = Promise))(function (resolve, reject) {
        function fulfilled(value) { try { step(generator.next(value)); } catch (e) { reject(e); } }
        function rejected(value) { try { step(generator["throw"](value)); } catch (e) { reject(e); } }
        function step(result) { result.done ? resolve(result.value) : adopt(result.value).then(fulfilled, rejected); }
        step((generator = generator.apply(thisArg, _arguments || [])).next());
    });
};


/**
 * Exec a command.
 * Output will be streamed to the live console.
 * Returns promise with return code
 *
 * @param     commandLine        command to execute (can include additional args). Must be correctly escaped.
 * @param     args               optional arguments for tool. Escaping is handled by the lib.
 * @param     options            optional exec options.  See ExecOptions
 * @returns   Promise<number>    exit code
 */
function exec(commandLine, args, options) {
    return exec_awaiter(this, void 0, void 0, function* () {
        const commandArgs = argStringToArray(commandLine);
        if (commandArgs.length === 0) {
            throw new Error(`Parameter 'commandLine' cannot be null or empty.`);
        }
        // Path to tool to execute should be first arg
        const toolPath = commandArgs[0];
        args = commandArgs.slice(1).concat(args || []);
        const runner = new ToolRunner(toolPath, args, options);
        return runner.exec();
    });
}
/**
 * Exec a command and get the output.
 * Output will be streamed to the live console.
 * Returns promise with the exit code and collected stdout and stderr
 *
 * @param     commandLine           command to execute (can include additional args). Must be correctly escaped.
 * @param     args                  optional arguments for tool. Escaping is handled by the lib.
 * @param     options               optional exec options.  See ExecOptions
 * @returns   Promise<ExecOutput>   exit code, stdout, and stderr
 */
function getExecOutput(commandLine, args, options) {
    return exec_awaiter(this, void 0, void 0, function* () {
        var _a, _b;
        let stdout = '';
        let stderr = '';
        //Using string decoder covers the case where a mult-byte character is split
        const stdoutDecoder = new external_string_decoder_namespaceObject.StringDecoder('utf8');
        const stderrDecoder = new external_string_decoder_namespaceObject.StringDecoder('utf8');
        const originalStdoutListener = (_a = options === null || options === void 0 ? void 0 : options.listeners) === null || _a === void 0 ? void 0 : _a.stdout;
        const originalStdErrListener = (_b = options === null || options === void 0 ? void 0 : options.listeners) === null || _b === void 0 ? void 0 : _b.stderr;
        const stdErrListener = (data) => {
            stderr += stderrDecoder.write(data);
            if (originalStdErrListener) {
                originalStdErrListener(data);
            }
        };
        const stdOutListener = (data) => {
            stdout += stdoutDecoder.write(data);
            if (originalStdoutListener) {
                originalStdoutListener(data);
            }
        };
        const listeners = Object.assign(Object.assign({}, options === null || options === void 0 ? void 0 : options.listeners), { stdout: stdOutListener, stderr: stdErrListener });
        const exitCode = yield exec(commandLine, args, Object.assign(Object.assign({}, options), { listeners }));
        //flush any remaining characters
        stdout += stdoutDecoder.end();
        stderr += stderrDecoder.end();
        return {
            exitCode,
            stdout,
            stderr
        };
    });
}
//# sourceMappingURL=exec.js.map
;// CONCATENATED MODULE: ./src/app/docker.ts
/**
 * The local Docker, reached through its CLI (`@actions/exec`), for `load: true` and the
 * `docker-daemon:` source: Lading itself never needs a daemon, these two ask for one.
 */





/**
 * Runs `docker ARGS` and returns its standard output; `why` names what asked for Docker (`load:
 * true`, a `from` line), for the message when there is none or it fails.
 */
async function runDocker(args, why) {
    let out;
    try {
        out = await getExecOutput('docker', args, { silent: true, ignoreReturnCode: true });
    }
    catch (err) {
        if (/Unable to locate executable file/i.test(errors_messageOf(err)))
            throw new LadingError(`${why} needs Docker, and there is no docker command on PATH: install Docker on the ` +
                'runner (GitHub-hosted Linux runners have it), or go without it');
        throw new LadingError(`${why}: docker could not be run: ${errors_messageOf(err)}`);
    }
    if (out.exitCode !== 0) {
        const said = out.stderr.trim().split('\n').slice(-3).join(' ').slice(0, 400);
        throw new LadingError(`${why}: \`docker ${args.join(' ')}\` failed (exit code ${out.exitCode})` +
            (said ? `: ${said}` : '') +
            (/cannot connect to the docker daemon|docker daemon.*running/i.test(said)
                ? '; start the Docker daemon, or go without it'
                : ''));
    }
    return out.stdout;
}
/** Loads an archive (docker or oci format) into the local Docker; returns what Docker said. */
async function dockerLoad(archive) {
    const said = await runDocker(['load', '--input', archive], 'load: true');
    return said
        .split('\n')
        .map(l => l.trim())
        .filter(l => l !== '');
}
/**
 * `docker save IMAGE` into a temporary file, tracked in `temps`: the caller reads it as a
 * docker-archive and removes it.
 */
async function dockerSave(image, line, temps) {
    const dir = await promises_namespaceObject.mkdtemp(external_node_path_namespaceObject.join(external_node_os_namespaceObject.tmpdir(), 'lading-docker-'));
    temps.track(dir);
    const file = external_node_path_namespaceObject.join(dir, 'image.tar');
    await runDocker(['save', '--output', file, image], `from "${line}"`);
    return file;
}

;// CONCATENATED MODULE: ./src/app/sources.ts
/** Opens the image a `from` line names, whichever transport holds it. */








/** `scanner` reads the layers a docker-archive converts (the validator's scan unless the caller reads no layer). */
async function openSource(spec, line, auth, temps, scanner = scanBlob) {
    switch (spec.kind) {
        case 'oci':
            return openLayout(spec.path, spec.ref, line);
        case 'oci-archive':
            return openOciArchive(spec.path, spec.ref, line, temps);
        case 'docker-archive':
            return openDockerArchive(spec.path, scanner, line, spec.ref, temps);
        case 'docker-daemon': {
            const file = await dockerSave(spec.image, line, temps);
            try {
                return await openDockerArchive(file, scanner, line, undefined, temps);
            }
            finally {
                // Unpacked into a layout by now: the tarball is not read again.
                await temps.remove(external_node_path_namespaceObject.dirname(file));
            }
        }
        case 'registry':
            return RegistrySource.open(parseReference(spec.reference, { defaultTag: 'latest' }), auth);
        case 'scratch':
            throw new Error('internal: scratch has no source to open');
    }
}

;// CONCATENATED MODULE: ./src/app/stages/open-sources.ts






/** Opens and validates every source of the plan; scratch has none. The caller closes them. */
async function openSources(plan, ctx) {
    const sources = [];
    const findings = [];
    for (const f of plan.from) {
        if (f.spec.kind === 'scratch')
            continue;
        const opened = await openAndValidate(f.spec, f.line, plan.auth, ctx);
        for (const w of opened.source?.warnings ?? [])
            ctx.log.warning(w);
        findings.push(...opened.findings);
        if (!opened.source)
            continue;
        const clean = !opened.findings.some(x => x.severity === 'error');
        sources.push({ source: opened.source, line: f.line, verified: !opened.source.origin && clean });
    }
    return { sources, findings };
}
/**
 * Opens the image a `from` line names and validates it: a layout (or an unpacked archive) with its
 * layout-level rules, anything else from its root. One that cannot be opened is a finding. The
 * caller closes the source. Registry layers are not downloaded unless `checkLayers` says so.
 */
async function openAndValidate(spec, line, auth, ctx = {}, opts = {}) {
    let source;
    try {
        source = await openSource(spec, line, { ...auth, secrets: ctx.secrets, relief: ctx.relief }, ctx.temps ?? new Temps());
    }
    catch (err) {
        if (!(err instanceof LadingError))
            throw err;
        // A layout that cannot be opened usually has layout-level findings that say why.
        const layoutFindings = spec.kind === 'oci' ? prefixed(line, (await validateLayout(spec.path)).findings) : [];
        return {
            findings: layoutFindings.some(x => x.severity === 'error')
                ? layoutFindings
                : [rules_finding('source-unreadable', line, err.message)]
        };
    }
    const scans = ctx.scans ?? new ScanCache();
    // A docker-archive's layers were read and checked as it was converted: not again.
    for (const [key, scan] of source.scanned ?? [])
        scans.set(key, Promise.resolve(scan));
    const findings = source.layoutDir
        ? prefixed(line, (await validateLayout(source.layoutDir, { scans })).findings)
        : await validateImage(source, source.root, {
            location: line,
            checkLayers: opts.checkLayers ?? !source.origin,
            scans
        });
    return { source, findings };
}
/** Findings of a source layout, their locations prefixed with the `from` line. */
function prefixed(line, found) {
    return found.map(f => ({ ...f, location: `${line} ${f.location}` }));
}

;// CONCATENATED MODULE: ./src/build/assemble.ts
/** Pure construction of configs, manifests and indexes: no I/O, so each step is easy to test. */



function scratchConfig(platform) {
    const c = {
        architecture: platform.architecture,
        os: platform.os,
        config: {},
        rootfs: { type: 'layers', diff_ids: [] },
        history: []
    };
    if (platform.variant)
        c.variant = platform.variant;
    if (platform['os.version'])
        c['os.version'] = platform['os.version'];
    return c;
}
function hasConfigEdits(e) {
    return (e.entrypoint !== undefined ||
        e.cmd !== undefined ||
        e.env.length > 0 ||
        e.workdir !== undefined ||
        e.user !== undefined ||
        Object.keys(e.labels).length > 0 ||
        e.exposedPorts.length > 0);
}
/**
 * The base config with the new layers appended and the edits applied. Env entries replace the
 * base's of the same key; labels and exposed ports merge; entrypoint without cmd clears the base's
 * cmd, as a Dockerfile ENTRYPOINT does.
 */
function editConfig(base, edits, layers, created) {
    const cfg = structuredClone(base);
    const when = formatRFC3339(created);
    cfg.created = when;
    cfg.rootfs = {
        type: 'layers',
        diff_ids: [...(base.rootfs?.diff_ids ?? []), ...layers.map(l => l.diffId)]
    };
    const history = [...(base.history ?? [])];
    for (const l of layers)
        history.push({ created: when, created_by: l.createdBy, comment: l.comment ?? 'lading' });
    const c = { ...(cfg.config ?? {}) };
    if (edits.entrypoint !== undefined) {
        c.Entrypoint = edits.entrypoint;
        if (edits.cmd === undefined)
            delete c.Cmd;
    }
    if (edits.cmd !== undefined)
        c.Cmd = edits.cmd;
    if (edits.env.length) {
        const env = [...(c.Env ?? [])];
        for (const [k, v] of edits.env) {
            const i = env.findIndex(e => e === k || e.startsWith(k + '='));
            if (i >= 0)
                env[i] = `${k}=${v}`;
            else
                env.push(`${k}=${v}`);
        }
        c.Env = env;
    }
    if (edits.workdir !== undefined)
        c.WorkingDir = edits.workdir;
    if (edits.user !== undefined)
        c.User = edits.user;
    if (Object.keys(edits.labels).length)
        c.Labels = { ...(c.Labels ?? {}), ...edits.labels };
    if (edits.exposedPorts.length) {
        const ports = { ...(c.ExposedPorts ?? {}) };
        for (const p of edits.exposedPorts)
            ports[p] = {};
        c.ExposedPorts = ports;
    }
    const configEdited = hasConfigEdits(edits);
    if (configEdited && layers.length === 0)
        history.push({
            created: when,
            created_by: 'lading: config',
            comment: 'lading',
            empty_layer: true
        });
    cfg.history = history;
    cfg.config = c;
    return cfg;
}
function makeManifest(config, baseLayers, newLayers, annotations) {
    const m = {
        schemaVersion: 2,
        mediaType: MediaType.ImageManifest,
        config: { mediaType: MediaType.ImageConfig, digest: config.digest, size: config.size },
        // Docker's gzip layer type and OCI's name the same bytes, so converting is only a relabel.
        layers: [
            ...baseLayers.map(l => ({ ...l, mediaType: toOciMediaType(l.mediaType) })),
            ...newLayers.map(l => l.descriptor)
        ]
    };
    if (Object.keys(annotations).length)
        m.annotations = sortKeys(annotations);
    return m;
}
function makeIndex(manifests, annotations) {
    const idx = {
        schemaVersion: 2,
        mediaType: MediaType.ImageIndex,
        manifests: manifests.map(m => m.platform ? { ...m, platform: normalizePlatform(m.platform) } : m)
    };
    if (Object.keys(annotations).length)
        idx.annotations = sortKeys(annotations);
    return idx;
}
function sortKeys(r) {
    return Object.fromEntries(Object.entries(r).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

;// CONCATENATED MODULE: ./src/app/stages/attestations.ts
/**
 * Attestations and other referrers inside a source index: buildx's attestation manifests
 * (`vnd.docker.reference.type: attestation-manifest`, naming the manifest they describe in
 * `vnd.docker.reference.digest`) and any manifest whose `subject` names another entry. They follow
 * the manifest they describe: kept when it is kept byte for byte, dropped when it is rebuilt, since
 * they would then describe an image that is no longer there.
 */

const DockerReference = {
    Type: 'vnd.docker.reference.type',
    Digest: 'vnd.docker.reference.digest',
    Attestation: 'attestation-manifest'
};
/** Whether an index entry is one of buildx's attestation manifests (or another unknown/unknown). */
function isAttestationEntry(d) {
    return (d.annotations?.[DockerReference.Type] === DockerReference.Attestation ||
        (d.platform?.os === 'unknown' && d.platform?.architecture === 'unknown'));
}
/** The digest a manifest's or index's `subject` names, if any. */
function subjectDigest(doc) {
    const subject = isObject(doc) && isObject(doc.subject) ? doc.subject.digest : undefined;
    return typeof subject === 'string' ? subject : undefined;
}
/**
 * Which attestations go with the result: those whose subject was kept byte for byte. The others
 * are dropped, each with a line saying why.
 */
function attestationsKept(all, kept, rebuilt) {
    const out = [];
    const dropped = [];
    for (const a of all) {
        if (kept.has(a.subject))
            out.push(a);
        else if (rebuilt.has(a.subject))
            dropped.push(`dropped attestation ${a.entry.digest} of ${a.from.line}: it describes ${a.subject}, ` +
                `which was rebuilt as ${rebuilt.get(a.subject)}, so it would describe another image`);
        else
            dropped.push(`dropped attestation ${a.entry.digest} of ${a.from.line}: it describes ${a.subject}, ` +
                'which is not in the result (filtered out by platforms)');
    }
    return { kept: out, dropped };
}

;// CONCATENATED MODULE: ./src/app/stages/artifact.ts
/**
 * A source that holds no container image (an artifact manifest, an index of artifacts): Lading
 * validates it and passes it through unchanged. Layers, config edits and annotations are things
 * only an image can take, so asking for them is an error naming what was asked.
 */

/** The inputs of the plan that would change an image: none for a pass-through. */
function artifactEdits(plan) {
    const asked = [];
    if (plan.layers.length)
        asked.push('layers');
    if (hasConfigEdits(plan.config))
        asked.push('config edits (entrypoint, cmd, env, …)');
    if (Object.keys(plan.annotations.manifest).length)
        asked.push('manifest annotations');
    if (Object.keys(plan.annotations.index).length)
        asked.push('index annotations');
    if (plan.platforms.length)
        asked.push('platforms');
    return asked;
}

;// CONCATENATED MODULE: ./src/app/stages/resolve-platforms.ts
/**
 * Stage 2: the platforms the run works on. Each source's graph is walked (walkGraph) for its
 * image manifests and their configs; the sources' platforms are merged (each given once) and the
 * `platforms` filter applied. Attestations (entries that describe another entry) are collected to
 * follow their subjects; other artifacts inside an index are left out, with a note. A single
 * source that holds no image at all (an artifact) is passed through whole when nothing edits it.
 */









/** Reading a source failed half way: the run reports it as the source's finding. */
class SourceUnreadable extends LadingError {
    line;
    constructor(line, message) {
        super(message);
        this.line = line;
    }
}
async function resolvePlatforms(plan, sources) {
    if (sources.length === 0) {
        const platforms = plan.platforms.length
            ? plan.platforms
            : [{ os: 'linux', architecture: 'amd64' }];
        return { images: platforms.map(scratchImage), notes: [], attestations: [] };
    }
    const all = [];
    const notes = [];
    const attestations = [];
    for (const src of sources) {
        const found = await imagesOf(src, notes, attestations).catch(err => {
            throw err instanceof LadingError ? new SourceUnreadable(src.line, err.message) : err;
        });
        if (found.length === 0) {
            const edits = artifactEdits(plan);
            if (sources.length === 1 && edits.length === 0)
                return { images: [], notes, attestations: [], artifact: src };
            throw new LadingError(`${src.line}: ${src.source.root.digest} holds no container image (it is an artifact, or an ` +
                `index of artifacts), so ${edits.length ? edits.join(', ') : 'a merge with other sources'} ` +
                'cannot apply to it; Lading passes an artifact through only alone and unchanged');
        }
        for (const img of found) {
            const dup = all.find(o => platformsEqual(o.platform, img.platform));
            if (dup)
                throw new LadingError(`from: platform ${formatPlatform(img.platform)} is given twice: by "${dup.from?.line}" and by "${src.line}"; ` +
                    'give each platform once, or select with platforms');
            all.push(img);
        }
    }
    const kept = plan.platforms.length
        ? all.filter(img => plan.platforms.some(w => platformMatches(w, img.platform)))
        : all;
    if (kept.length === 0)
        throw new LadingError(`platforms: none of ${plan.platforms.map(formatPlatform).join(', ')} is in the base image(s), which have ` +
            listed([...new Set(all.map(i => escapedLine(formatPlatform(i.platform))))]));
    return { images: kept, notes, attestations };
}
function scratchImage(p) {
    const empty = { mediaType: MediaType.ImageManifest, digest: '', size: 0 };
    return {
        platform: p,
        manifestDesc: empty,
        manifestBytes: Buffer.alloc(0),
        manifest: {
            schemaVersion: 2,
            config: { ...empty, mediaType: MediaType.ImageConfig },
            layers: []
        },
        configBytes: Buffer.alloc(0),
        config: scratchConfig(p)
    };
}
/** The image manifests below a source's root, each with its config. */
async function imagesOf(src, notes, attestations) {
    const out = [];
    const source = src.source;
    await walkGraph({ desc: source.root }, {
        descriptor: n => n.desc,
        key: n => `${n.desc.digest} ${n.platform ? formatPlatform(n.platform) : ''}`,
        cycle: n => {
            throw new LadingError(`${src.line}: the index ${n.desc.digest} is nested in itself`);
        },
        tooDeep: n => {
            throw new LadingError(`${src.line}: the index ${n.desc.digest} is nested more than ${MAX_INDEX_DEPTH} indexes deep`);
        },
        children: async (n) => {
            const bytes = await source.read(n.desc);
            const doc = parseJSONValue(bytes, `${src.line}: ${n.desc.digest}`);
            const mt = doc.mediaType ?? n.desc.mediaType;
            if (isIndexMediaType(mt) || (Array.isArray(doc.manifests) && !doc.config))
                return indexEntries(doc, n.desc, src, notes, attestations);
            // A manifest inside an index that names a subject describes another: it follows it.
            const subject = n.desc !== source.root ? subjectDigest(doc) : undefined;
            if (subject)
                attestations.push({ from: src, entry: n.desc, subject });
            else if (n.desc !== source.root && isAttestationEntry(n.desc))
                notes.push(`${src.line}: left out ${n.desc.digest}, an attestation that names no subject`);
            else {
                const img = await imageOf(src, n, bytes, doc, mt, notes);
                if (img)
                    out.push(img);
            }
            return [];
        }
    });
    return out;
}
/**
 * An index's entries that may be images. buildx's attestations (which name their subject) are
 * collected apart; anything that is not a manifest or an index is left out.
 */
function indexEntries(doc, desc, src, notes, attestations) {
    const out = [];
    let skipped = 0;
    for (const child of doc.manifests ?? []) {
        const subject = child.annotations?.[DockerReference.Digest];
        if (subject)
            attestations.push({ from: src, entry: child, subject });
        else if (!isIndexMediaType(child.mediaType) && !isManifestMediaType(child.mediaType))
            skipped++;
        else
            out.push({ desc: child, platform: child.platform });
    }
    if (skipped)
        notes.push(`${src.line}: left out ${skipped} entr${skipped === 1 ? 'y' : 'ies'} of index ${desc.digest} that are neither manifests nor indexes`);
    return out;
}
async function imageOf(src, n, bytes, doc, mediaType, notes) {
    const { desc, platform } = n;
    if (!doc.config || !Array.isArray(doc.layers))
        throw new LadingError(`${src.line}: ${desc.digest} (${mediaType ?? 'no media type'}) is neither an image manifest nor an index`);
    const manifest = doc;
    const configType = manifest.config.mediaType;
    if (configType !== MediaType.ImageConfig && configType !== MediaType.DockerConfig) {
        // An artifact at the root: the source holds no image, which the caller decides about.
        if (platform === undefined && desc === src.source.root)
            return undefined;
        notes.push(`${src.line}: left out artifact manifest ${desc.digest} (config ${configType})`);
        return undefined;
    }
    const configBytes = await src.source.read(manifest.config);
    const what = `${src.line}: config ${manifest.config.digest}`;
    const config = parseJSONValue(configBytes, what);
    return {
        platform: normalizePlatform(platform ?? platformOfConfig(config)),
        from: src,
        manifestDesc: { mediaType: mediaType ?? desc.mediaType, digest: desc.digest, size: desc.size },
        manifestBytes: bytes,
        manifest,
        configBytes,
        config
    };
}

;// CONCATENATED MODULE: ./src/util/limit.ts
/**
 * `fn` over `items`, at most `limit` at once, results in the order of `items`. After a failure no
 * new item starts; the ones under way finish, then the first failure is thrown.
 */
async function mapLimited(items, limit, fn) {
    const out = new Array(items.length);
    let next = 0;
    let failed;
    const worker = async () => {
        while (next < items.length && failed === undefined) {
            const i = next++;
            try {
                out[i] = await fn(items[i], i);
            }
            catch (err) {
                failed ??= { err };
            }
        }
    };
    await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
    if (failed)
        throw failed.err;
    return out;
}
/**
 * At most `limit` tasks at once, for work that arrives over time (mapLimited takes a list known
 * up front); the others wait their turn in the order they came.
 */
class Slots {
    free;
    waiting = [];
    constructor(limit) {
        this.free = Math.max(1, limit);
    }
    async run(fn) {
        if (this.free > 0)
            this.free--;
        else
            await new Promise(resolve => this.waiting.push(resolve));
        try {
            return await fn();
        }
        finally {
            const next = this.waiting.shift();
            if (next)
                next();
            else
                this.free++;
        }
    }
}

;// CONCATENATED MODULE: ./src/app/stages/build-layers.ts
/**
 * Stage 3: the new layers, built into the staged layout. A line of `layers` is built once and
 * shared by every platform, unless it names the target platform (`${TARGETARCH}`): then once per
 * distinct expansion, platforms whose expansions are equal sharing the layer. Each layer's content
 * is checked as it is written (the validator's checks, handed to the builder), so validating the
 * layout does not read it back.
 */








/**
 * Layers built at once. Each already compresses on every core; a second one overlaps its reading of
 * files with the other's compression, while more would only add memory.
 */
const LAYERS_AT_ONCE = 2;
/**
 * The run's layer threads, those its first layers will need started now, as the run begins: a
 * thread takes 70-150 ms to start, which the run then spends reading its sources and the cache
 * images rather than with the first layer's walk stopped. With `cache-from` the layers are first
 * only hashed (one thread); else a gzip build compresses on libdeflate's threads from the start.
 */
function startLayerThreads(plan) {
    const compressors = new SharedCompressors();
    const hashing = new HashThreads();
    if (plan.layers.length > 0) {
        if (plan.cacheFrom.length > 0)
            hashing.warm();
        // A gzip level that zlib makes has no threads: warming it starts none.
        else if (plan.compression === 'gzip')
            compressors.warm(compress_compressionLevel('gzip', plan.compressionLevel));
    }
    return {
        compressors,
        hashing,
        close: () => Promise.all([compressors.close(), hashing.close()]).then(() => undefined)
    };
}
async function buildLayers(plan, platforms, layout, ctx, hooks, 
/** The run's (startLayerThreads): closed here once the layers are written. */
threads) {
    const base = external_node_path_namespaceObject.basename(plan.output);
    // One pool of small-file buffers, and one of compressors, for the run's layers.
    const slabs = new SlabPool();
    const { compressors, hashing } = threads;
    const jobs = layerJobs(plan.layers, platforms);
    const built = await mapLimited(jobs, LAYERS_AT_ONCE, async (job) => {
        const opts = {
            compression: plan.compression,
            level: plan.compressionLevel,
            mtime: plan.created,
            checks: layerChecks,
            relief: ctx.relief,
            slabs,
            compressors,
            hashThreads: hashing,
            progress: ctx.progress,
            // Never pack Lading's own outputs into a layer built from a directory that holds them.
            exclude: [
                plan.output,
                reportPath(plan.output),
                ...(plan.archive ? [plan.archive] : []),
                external_node_path_namespaceObject.join(external_node_path_namespaceObject.dirname(plan.output), `.${base}.lading-*`)
            ]
        };
        const cached = await hooks.reuse?.(job.input, layout, opts);
        if (cached)
            return cached;
        const layer = await buildLayer(job.input, layout, opts);
        if (layer.scan)
            ctx.scans.set(scanKey(layer.descriptor), Promise.resolve(layer.scan));
        hooks.built?.(layer);
        return layer;
    }).finally(() => threads.close());
    const byImage = platforms.map(() => []);
    jobs.forEach((job, i) => {
        const d = built[i].descriptor;
        ctx.log.info(`${layerName(job.input)}: ${d.digest} (${d.size} bytes, ${d.mediaType})`);
        for (const img of job.images)
            byImage[img][job.line] = built[i];
    });
    return { any: jobs.length > 0, forImage: i => byImage[i] };
}
/**
 * The layers to build, in the order of the lines: one per line, or for a line naming the target
 * platform, one per distinct expansion of it.
 */
function layerJobs(layers, platforms) {
    const all = platforms.map((_, i) => i);
    return layers.flatMap((input, line) => {
        if (!isPerPlatform(input))
            return [{ input, line, images: all }];
        const byExpansion = new Map();
        platforms.forEach((p, img) => {
            const expanded = expandForPlatform(input, p);
            const key = `${expanded.source}\0${expanded.dest ?? ''}`;
            const job = byExpansion.get(key);
            if (job) {
                job.images.push(img);
                job.input.platforms.push(formatPlatform(p));
            }
            else
                byExpansion.set(key, {
                    input: { ...expanded, platforms: [formatPlatform(p)] },
                    line,
                    images: [img]
                });
        });
        return [...byExpansion.values()];
    });
}

;// CONCATENATED MODULE: ./src/app/stages/editable-config.ts


const isStringList = (v) => Array.isArray(v) && v.every(x => typeof x === 'string');
/**
 * Throws a LadingError naming the config, its source and the field when the config cannot take
 * the edits (and new layers); `what` names the config in messages.
 */
function checkEditableConfig(config, edits, what) {
    const cannot = (field, shape) => new LadingError(`${what}: its \`${field}\` is not ${shape}, so it cannot take new layers or edits`);
    if (!isObject(config))
        throw cannot('(top level)', 'an object');
    const optional = (v, ok) => v === undefined || v === null || ok(v);
    const rootfs = config.rootfs;
    if (!optional(rootfs, isObject))
        throw cannot('rootfs', 'an object');
    if (isObject(rootfs) && !optional(rootfs.diff_ids, Array.isArray))
        throw cannot('rootfs.diff_ids', 'a list');
    if (!optional(config.history, Array.isArray))
        throw cannot('history', 'a list');
    const c = config.config;
    if (!optional(c, isObject))
        throw cannot('config', 'an object');
    if (!isObject(c))
        return;
    if (edits.env.length && !optional(c.Env, isStringList))
        throw cannot('config.Env', 'a list of strings');
    if (Object.keys(edits.labels).length && !optional(c.Labels, isObject))
        throw cannot('config.Labels', 'an object');
    if (edits.exposedPorts.length && !optional(c.ExposedPorts, isObject))
        throw cannot('config.ExposedPorts', 'an object');
}

;// CONCATENATED MODULE: ./src/app/stages/assemble.ts









/** The documents and blobs of the graph being made. */
class GraphParts {
    documents = new Map();
    blobs = new Map();
    document(descriptor, bytes) {
        const { mediaType, digest, size } = descriptor;
        this.documents.set(digest, { descriptor: { mediaType, digest, size }, bytes });
    }
    /** The first place a blob is found wins: a config written to the layout over a source's. */
    inLayout(descriptor) {
        if (!this.blobs.has(descriptor.digest))
            this.blobs.set(descriptor.digest, { descriptor, location: { kind: 'layout' } });
    }
    fromSource(descriptor, src) {
        if (this.blobs.has(descriptor.digest))
            return;
        this.blobs.set(descriptor.digest, {
            descriptor,
            location: { kind: 'source', reader: src.source, verified: src.verified },
            origin: src.source.origin
        });
    }
}
async function assembleGraph(plan, resolution, newLayers, sources, layout) {
    const parts = new GraphParts();
    const images = [];
    const entries = [];
    const kept = new Set();
    const rebuilt = new Map();
    let mutate = false;
    for (const [i, img] of resolution.images.entries()) {
        const layers = newLayers.forImage(i);
        const annotations = manifestAnnotationsFor(plan.annotations, img.platform);
        // An image nothing changes keeps its bytes, even when another platform's changes.
        const changed = layers.length > 0 || hasConfigEdits(plan.config) || Object.keys(annotations).length > 0;
        mutate ||= changed;
        const keep = !changed && img.from;
        const made = keep
            ? await keepImage(img, img.from, parts, layout)
            : await rebuildImage(plan, img, layers, annotations, parts, layout);
        const onEntry = manifestDescriptorAnnotationsFor(plan.annotations, img.platform);
        entries.push({ ...made.descriptor, platform: img.platform, ...annotationsField(onEntry) });
        images.push(made.result);
        if (keep)
            kept.add(made.descriptor.digest);
        else if (img.manifestDesc.digest)
            rebuilt.set(img.manifestDesc.digest, made.descriptor.digest);
    }
    const whole = resolution.artifact ??
        (sources.length === 1 && !mutate ? wholeIndex(plan, sources[0]) : undefined);
    if (whole) {
        await copyGraph(whole, whole.source.root, parts, layout);
        const { mediaType, digest, size } = whole.source.root;
        const root = { mediaType, digest, size, ...annotationsField(plan.annotations.indexDescriptor) };
        return { graph: graphOf(root, parts), images, copiedWhole: true, dropped: [] };
    }
    const followed = attestationsKept(resolution.attestations, kept, rebuilt);
    const listed = new Set(entries.map(e => e.digest));
    for (const a of followed.kept) {
        if (listed.has(a.entry.digest))
            continue;
        listed.add(a.entry.digest);
        await copyGraph(a.from, a.entry, parts, layout);
        entries.push(a.entry);
    }
    const root = await rootOf(plan, entries, parts, layout);
    return { graph: graphOf(root, parts), images, copiedWhole: false, dropped: followed.dropped };
}
/** `{annotations}` when there are any, so a descriptor without them keeps its bytes. */
function annotationsField(a) {
    return Object.keys(a).length ? { annotations: sortKeys(a) } : {};
}
function graphOf(root, parts) {
    return new ImageGraph(root, parts.documents, parts.blobs);
}
/** An image nothing changes: its manifest and config bytes as they are. */
async function keepImage(img, src, parts, layout) {
    await layout.writeBuffer(img.manifestBytes);
    await layout.writeBuffer(img.configBytes);
    parts.document(img.manifestDesc, img.manifestBytes);
    parts.inLayout(img.manifest.config);
    for (const l of img.manifest.layers)
        parts.fromSource(l, src);
    const { mediaType, digest, size } = img.manifestDesc;
    return {
        descriptor: { mediaType, digest, size },
        result: {
            platform: formatPlatform(img.platform),
            digest,
            configDigest: img.manifest.config.digest,
            layers: img.manifest.layers,
            source: src.line
        }
    };
}
/** An image with the new layers appended and the config edits applied. */
async function rebuildImage(plan, img, newLayers, userAnnotations, parts, layout) {
    if (img.from)
        checkEditableConfig(img.config, plan.config, `from "${img.from.line}": the config ${img.manifest.config.digest}`);
    const config = editConfig(img.config, plan.config, newLayers, plan.created);
    const configDesc = await layout.writeJSON(config, MediaType.ImageConfig);
    const annotations = { ...plan.defaultAnnotations, ...userAnnotations };
    if (img.from?.source.origin) {
        annotations[Annotation.BaseName] = img.from.line.replace(/^docker:\/\//, '');
        annotations[Annotation.BaseDigest] = img.manifestDesc.digest;
    }
    const manifest = makeManifest(configDesc, img.manifest.layers, newLayers, annotations);
    parts.inLayout(manifest.config);
    manifest.layers.forEach((l, i) => {
        if (img.from && i < img.manifest.layers.length)
            parts.fromSource(l, img.from);
        else
            parts.inLayout(l);
    });
    const written = await layout.writeJSON(manifest, MediaType.ImageManifest);
    const descriptor = {
        mediaType: MediaType.ImageManifest,
        digest: written.digest,
        size: written.size
    };
    parts.document(descriptor, written.bytes);
    return {
        descriptor,
        result: {
            platform: formatPlatform(img.platform),
            digest: written.digest,
            configDigest: configDesc.digest,
            layers: manifest.layers,
            source: img.from?.line || 'scratch'
        }
    };
}
/** The single source whose index is copied whole: nothing changed, nothing filtered. */
function wholeIndex(plan, src) {
    if (plan.platforms.length > 0 ||
        Object.keys(plan.annotations.index).length > 0 ||
        hasManifestDescriptorAnnotations(plan.annotations))
        return undefined;
    return isIndexMediaType(src.source.root.mediaType) ? src : undefined;
}
/** Every document and blob below `top` in the source, its documents written to the layout. */
async function copyGraph(src, top, parts, layout) {
    const { mediaType, digest, size } = top;
    await walkGraph({ mediaType, digest, size }, descriptors({
        children: async (d) => {
            const bytes = await src.source.read(d);
            await layout.writeBuffer(bytes);
            parts.document(d, bytes);
            const doc = parseJSONValue(bytes, `${src.line}: ${d.digest}`);
            const children = documentChildren(doc);
            const listed = new Set(children.map(c => c.digest));
            for (const m of doc.manifests ?? [])
                if (!listed.has(m.digest))
                    parts.fromSource(m, src);
            for (const b of [...(doc.config ? [doc.config] : []), ...(doc.layers ?? [])])
                parts.fromSource(b, src);
            return children;
        }
    }));
}
/** A manifest for one platform; an index for several, or when index annotations are asked for. */
async function rootOf(plan, entries, parts, layout) {
    const onRoot = plan.annotations.indexDescriptor;
    if (entries.length === 1 && Object.keys(plan.annotations.index).length === 0) {
        // With no index, the layout's index.json entry is the manifest's descriptor and the root's.
        const { mediaType, digest, size, annotations } = entries[0];
        return { mediaType, digest, size, ...annotationsField({ ...annotations, ...onRoot }) };
    }
    const index = makeIndex(entries, { ...plan.defaultAnnotations, ...plan.annotations.index });
    const written = await layout.writeJSON(index, MediaType.ImageIndex);
    const root = { mediaType: MediaType.ImageIndex, digest: written.digest, size: written.size };
    parts.document(root, written.bytes);
    return { ...root, ...annotationsField(onRoot) };
}

;// CONCATENATED MODULE: ./src/app/stages/stage-layout.ts




async function stageLayout(plan, graph, layout, ctx, referrers = []) {
    const blobs = new Map();
    const notDownloaded = [];
    // When pushing, registry layers stay where they are, and so do layers a layout Lading wrote
    // while pushing left out; an archive (or an image for docker load) must be complete, though.
    const lazy = plan.push && !plan.archive && !plan.load;
    for (const [digest, blob] of graph.blobs) {
        const staged = await stageBlob(blob, layout, lazy, ctx);
        if (staged.location.kind === 'source')
            notDownloaded.push(digest);
        blobs.set(digest, staged);
    }
    // The root's descriptor annotations (index-descriptor) beside its ref name; then the referrers.
    const annotations = { ...graph.root.annotations, [Annotation.RefName]: plan.refName };
    await layout.writeIndex([{ ...graph.root, annotations }, ...referrers]);
    await layout.finish();
    return { graph: new ImageGraph(graph.root, graph.documents, blobs), notDownloaded };
}
async function stageBlob(blob, layout, lazy, ctx) {
    const loc = blob.location;
    if (loc.kind === 'layout')
        return blob;
    const inLayout = { ...blob, location: { kind: 'layout' } };
    if (await layout.has(blob.descriptor))
        return inLayout;
    const reader = loc.reader;
    if (lazy && reader.origin)
        return blob;
    const present = await reader.has(blob.descriptor);
    if (lazy && !present)
        return blob;
    if (!present)
        throw missing(blob.descriptor, reader.name);
    try {
        if (loc.verified && reader.fileOf) {
            // Its digest was checked when the source was validated: link or copy the file, no re-hash.
            await layout.linkOrCopy(reader.fileOf(blob.descriptor.digest), blob.descriptor.digest);
        }
        else {
            const d = blob.descriptor;
            ctx.log.info(`copying ${d.mediaType} ${d.digest} from ${reader.name}`);
            await layout.writeStream(await reader.open(d), d, `blob ${d.digest} from ${reader.name}`);
        }
    }
    catch (err) {
        if (err instanceof LadingError)
            throw new SourceUnreadable(reader.name, err.message);
        throw err;
    }
    return inLayout;
}
function missing(d, where) {
    return new SourceUnreadable(where, `blob ${d.digest} (${d.mediaType}) is missing, so the image cannot be completed ` +
        '(a layout Lading wrote while pushing leaves registry base layers out: build it ' +
        'again without pushing, or use the registry image itself as the base)');
}

;// CONCATENATED MODULE: ./src/app/stages/validate-output.ts

async function validateOutput(plan, stage, notDownloaded, sourceFindings, ctx) {
    const { scans } = ctx;
    const readBefore = scans.reads;
    const reusedBefore = scans.reused;
    const out = await validateLayout(stage, {
        requireAllBlobs: plan.push,
        notDownloaded: new Set(notDownloaded),
        scans
    });
    ctx.log.info(`validated the assembled layout: ${scans.reads - readBefore} blob(s) read, ` +
        `${scans.reused - reusedBefore} already checked in this run (built, or read in a source)`);
    // Counted over the whole run: a source layout's blobs are taken when the source is validated.
    if (scans.fromEarlierSteps)
        ctx.log.info(`${scans.fromEarlierSteps} blob(s) of this run were checked by an earlier Lading step ` +
            'of this job and are unchanged since: taken from its verdicts, not read again');
    return makeReport(dedupeFindings([...sourceFindings, ...out.findings]), plan.failOn);
}

;// CONCATENATED MODULE: ./src/transports/archive-writer.ts









/** Fixed metadata so that the same layout always gives the same archive bytes. */
const EPOCH = new Date(0);
/** Docker 25+ names an image it loads from an oci-archive by this annotation of index.json. */
const archive_writer_CONTAINERD_IMAGE_NAME = 'io.containerd.image.name';
/** Directories and files under `rel` (a path inside the layout), sorted by name at each level. */
async function walk(root, rel, out) {
    const names = (await promises_namespaceObject.readdir(external_node_path_namespaceObject.join(root, rel))).sort();
    for (const n of names) {
        // Archive names use '/', whatever the separator of the runner's file system.
        const relChild = `${rel}/${n}`;
        const abs = external_node_path_namespaceObject.join(root, ...relChild.split('/'));
        const st = await promises_namespaceObject.stat(abs);
        if (st.isDirectory()) {
            out.push({ name: `${relChild}/`, size: 0 });
            await walk(root, relChild, out);
        }
        else if (st.isFile()) {
            out.push({ name: relChild, file: abs, size: st.size });
        }
    }
}
/**
 * The layout's index.json with `io.containerd.image.name` on each entry, so Docker 25+ names the
 * image it loads; the layout itself is left as it is.
 */
async function namedIndex(layoutDir, imageName) {
    const file = external_node_path_namespaceObject.join(layoutDir, 'index.json');
    const index = parseJSONValue(await promises_namespaceObject.readFile(file), file);
    if (!isObject(index) || !Array.isArray(index.manifests))
        throw new LadingError(`${file} is not an image index`);
    for (const entry of index.manifests)
        if (isObject(entry))
            entry.annotations = {
                ...(isObject(entry.annotations) ? entry.annotations : {}),
                [archive_writer_CONTAINERD_IMAGE_NAME]: imageName
            };
    return Buffer.from(JSON.stringify(index));
}
/**
 * Writes the OCI image layout at `layoutDir` as an oci-archive tar at `archivePath`: `oci-layout`,
 * `index.json`, then the `blobs/` tree in name order, each with mtime 0, owner 0:0 and modes
 * 0644/0755, so equal layouts give byte-identical archives. Anything else in the layout directory
 * (Lading's own `.lading-tmp`) is left out. With `imageName` (a full reference), index.json's
 * entries carry it as `io.containerd.image.name`.
 */
async function writeOciArchive(layoutDir, archivePath, temps = new Temps(), opts = {}) {
    const members = [];
    try {
        const layoutFile = external_node_path_namespaceObject.join(layoutDir, 'oci-layout');
        members.push({ name: 'oci-layout', file: layoutFile, size: (await promises_namespaceObject.stat(layoutFile)).size });
        const indexFile = external_node_path_namespaceObject.join(layoutDir, 'index.json');
        if (opts.imageName) {
            const bytes = await namedIndex(layoutDir, opts.imageName);
            members.push({ name: 'index.json', bytes, size: bytes.length });
        }
        else
            members.push({ name: 'index.json', file: indexFile, size: (await promises_namespaceObject.stat(indexFile)).size });
        members.push({ name: 'blobs/', size: 0 });
        await walk(layoutDir, 'blobs', members);
    }
    catch (err) {
        throw new LadingError(`cannot archive ${layoutDir}: it is not a complete OCI image layout (${errors_messageOf(err)})`);
    }
    await writeTar(members, archivePath, temps, 'the OCI archive');
}
/**
 * Writes `members` as a tar at `archivePath`, each with mtime 0, owner 0:0 and modes 0644/0755.
 * Files are streamed one by one, and members may be made as they are asked for (an async
 * iterable), so a large member need exist only while it is written. The archive appears under its
 * name only once complete (written to a temporary file, then renamed).
 */
async function writeTar(members, archivePath, temps, what) {
    const tmp = external_node_path_namespaceObject.join(external_node_path_namespaceObject.dirname(archivePath), `.${external_node_path_namespaceObject.basename(archivePath)}.${(0,external_node_crypto_namespaceObject.randomBytes)(6).toString('hex')}.tmp`);
    temps.track(tmp);
    const pack = tar_stream.pack();
    const written = (0,external_node_stream_promises_namespaceObject.pipeline)(pack, (0,external_node_fs_namespaceObject.createWriteStream)(tmp)).then(() => undefined, (err) => err);
    try {
        for await (const m of members) {
            const isDir = m.name.endsWith('/');
            const header = {
                name: m.name,
                size: isDir ? 0 : m.size,
                mode: isDir ? 0o755 : 0o644,
                mtime: EPOCH,
                uid: 0,
                gid: 0,
                uname: '',
                gname: '',
                type: isDir ? 'directory' : 'file'
            };
            await new Promise((resolve, reject) => {
                // A directory entry has no body: tar-stream completes it on its own.
                if (m.bytes)
                    pack.entry(header, m.bytes, err => (err ? reject(err) : resolve()));
                else {
                    const sink = pack.entry(header, err => (err ? reject(err) : resolve()));
                    if (m.file)
                        (0,external_node_stream_promises_namespaceObject.pipeline)((0,external_node_fs_namespaceObject.createReadStream)(m.file), sink).catch(reject);
                }
            });
        }
        pack.finalize();
        const err = await written;
        if (err)
            throw err;
        await promises_namespaceObject.rename(tmp, archivePath);
        temps.untrack(tmp);
    }
    catch (err) {
        pack.destroy();
        await written;
        await temps.remove(tmp);
        if (err instanceof LadingError)
            throw err;
        throw new LadingError(`writing ${what} ${archivePath}: ${errors_messageOf(err)}`);
    }
}

;// CONCATENATED MODULE: ./src/transports/docker-archive-writer.ts















/**
 * `docker save`'s name for a reference: Docker Hub's shown short (`app:1`, `org/app:1`), others
 * in full. Only tags can be RepoTags.
 */
function repoTagOf(ref) {
    if (!ref.tag)
        return undefined;
    const repo = ref.registry === DOCKER_HUB
        ? ref.repository.replace(/^library\//, '')
        : `${ref.registry}/${ref.repository}`;
    return `${repo}:${ref.tag}`;
}
function hexOf(digest, where) {
    return parseDigest(digest, where).encoded;
}
/**
 * The one image of a layout a `docker save` archive can hold: its root manifest, or the only
 * image of its root index (attestation manifests, platform unknown/unknown, set aside).
 */
async function pickImage(layout, layoutDir) {
    const index = parseJSONValue(await promises_namespaceObject.readFile(external_node_path_namespaceObject.join(layoutDir, 'index.json')), `${layoutDir}/index.json`);
    if (!isObject(index) || !Array.isArray(index.manifests) || index.manifests.length !== 1)
        throw new LadingError(`${layoutDir}: index.json does not name one image`);
    const root = index.manifests[0];
    if (isManifestMediaType(root.mediaType))
        return root;
    if (!isIndexMediaType(root.mediaType))
        throw new LadingError(`${layoutDir}: ${root.mediaType} is not an image`);
    const inner = parseJSONValue(await layout.read(root), `index ${root.digest}`);
    const images = (inner.manifests ?? []).filter(d => isManifestMediaType(d.mediaType) && d.platform?.os !== 'unknown');
    if (images.length === 1)
        return images[0];
    const platforms = images.map(d => (d.platform ? formatPlatform(d.platform) : '?')).join(', ');
    throw new LadingError(`archive-format docker holds one image, and this one has ${images.length} platforms ` +
        `(${platforms}): pick one with platforms, or use archive-format oci (Docker 25+ loads it)`);
}
/**
 * A layer uncompressed into a temporary file beside the archive, its sha256 checked against the
 * config's diff_id as it is written: `docker load` and podman check it too, later and less clearly.
 */
async function uncompressed(layout, desc, diffId, dir, temps) {
    const compression = layerCompression(desc.mediaType);
    if (!compression)
        throw new LadingError(`layer ${desc.digest} has media type ${desc.mediaType}, not a layer`);
    const file = external_node_path_namespaceObject.join(dir, `.lading-layer-${(0,external_node_crypto_namespaceObject.randomBytes)(6).toString('hex')}.tar`);
    temps.track(file);
    const hash = new HashingStream('sha256');
    await (0,external_node_stream_promises_namespaceObject.pipeline)(await layout.open(desc), createDecompressor(compression), hash, (0,external_node_fs_namespaceObject.createWriteStream)(file));
    if (hash.digest() !== diffId)
        throw new LadingError(`layer ${desc.digest} uncompresses to ${hash.digest()}, but the config's diff_id says ` +
            `${diffId}; the image is not consistent and cannot be written as a docker archive`);
    return { file, size: (await promises_namespaceObject.stat(file)).size };
}
/**
 * The members of a `docker save` archive, layers uncompressed one at a time as the tar asks for
 * them: `manifest.json` (Config, RepoTags, Layers), the config as `HEX.json`, each layer as
 * `DIFFID-HEX/layer.tar`: the legacy format older Docker, podman and skopeo read.
 */
async function* members(layout, manifest, config, repoTags, dir, temps) {
    const parsed = parseJSONValue(config, `config ${manifest.config.digest}`);
    const diffIds = parsed.rootfs?.diff_ids ?? [];
    if (diffIds.length !== manifest.layers.length)
        throw new LadingError(`config ${manifest.config.digest} lists ${diffIds.length} diff_ids for ` +
            `${manifest.layers.length} layers; it cannot be written as a docker archive`);
    const configName = `${hexOf(manifest.config.digest, 'config digest')}.json`;
    const layerNames = diffIds.map(d => `${hexOf(d, 'diff_id')}/layer.tar`);
    const saved = [{ Config: configName, RepoTags: repoTags, Layers: layerNames }];
    const manifestJson = Buffer.from(JSON.stringify(saved));
    yield { name: 'manifest.json', bytes: manifestJson, size: manifestJson.length };
    yield { name: configName, bytes: config, size: config.length };
    const written = new Set();
    for (const [i, layer] of manifest.layers.entries()) {
        if (written.has(layerNames[i]))
            continue;
        written.add(layerNames[i]);
        const { file, size } = await uncompressed(layout, layer, diffIds[i], dir, temps);
        try {
            yield { name: layerNames[i].replace(/layer\.tar$/, ''), size: 0 };
            yield { name: layerNames[i], file, size };
        }
        finally {
            await temps.remove(file);
        }
    }
}
/**
 * Writes the image of the OCI layout at `layoutDir` as a `docker save` tarball at `archivePath`,
 * named by `repoTags` (`docker load` tags it so). Deterministic like the oci-archive: the same
 * layout and tags give the same bytes.
 */
async function writeDockerArchive(layoutDir, archivePath, opts = {}) {
    const temps = opts.temps ?? new Temps();
    const layout = new Layout(layoutDir);
    const image = await pickImage(layout, layoutDir);
    const manifest = parseJSONValue(await layout.read(image), `manifest ${image.digest}`);
    const config = await layout.read(manifest.config);
    await writeTar(members(layout, manifest, config, opts.repoTags ?? [], external_node_path_namespaceObject.dirname(archivePath), temps), archivePath, temps, 'the docker archive');
}

;// CONCATENATED MODULE: ./src/app/stages/archive.ts
/**
 * The image out of the layout into a tar: the `archive` input (oci-archive or `docker save`
 * format), and `load: true`, which hands an archive to the local Docker.
 */








/** Writes the image of `layoutDir` to `file` in `format`, named by the plan's tags. */
async function writeArchive(plan, layoutDir, file, format, ctx) {
    try {
        if (format === 'docker') {
            const repoTags = plan.tags.map(repoTagOf).filter((t) => t !== undefined);
            await writeDockerArchive(layoutDir, file, { repoTags, temps: ctx.temps });
        }
        else {
            // Docker 25+ names what it loads by this one name: the first tag, as buildx does.
            const first = plan.tags.find(t => t.tag);
            const imageName = first ? formatReference(first) : undefined;
            await writeOciArchive(layoutDir, file, ctx.temps, { imageName });
        }
    }
    catch (err) {
        throw err instanceof LadingError
            ? err
            : new LadingError(`archive: could not write ${file}: ${errors_messageOf(err)}`);
    }
}
/**
 * `docker load` of the committed image: the archive when one was written, else a temporary one,
 * in docker format for one platform (any Docker, podman) and oci for several (Docker 25+).
 */
async function loadIntoDocker(plan, platformCount, ctx) {
    let file = plan.archive;
    let dir;
    if (!file) {
        dir = await promises_namespaceObject.mkdtemp(external_node_path_namespaceObject.join(external_node_os_namespaceObject.tmpdir(), 'lading-load-'));
        ctx.temps.track(dir);
        file = external_node_path_namespaceObject.join(dir, 'image.tar');
        await writeArchive(plan, plan.output, file, platformCount === 1 ? 'docker' : 'oci', ctx);
    }
    try {
        if (plan.tags.length === 0)
            ctx.log.info('load: no tags, so Docker loads the image without a name (see its image ID)');
        for (const line of await dockerLoad(file))
            ctx.log.info(`docker load: ${line}`);
    }
    finally {
        if (dir)
            await ctx.temps.remove(dir);
    }
}

;// CONCATENATED MODULE: ./src/app/stages/commit.ts


/** Returns the archive written, if one was asked for. */
async function commitOutput(plan, stage, ctx) {
    if (plan.archive)
        await writeArchive(plan, stage, plan.archive, plan.archiveFormat, ctx);
    await swapInto(stage, plan.output);
    ctx.temps.untrack(stage);
    return plan.archive;
}

;// CONCATENATED MODULE: ./src/registry/upload.ts







/**
 * Chunks are 4 MiB unless the registry asks for more: GHCR refuses a PATCH body above 4 MiB
 * (416 "exceeds the maximum permissible limit of 4.00MiB").
 */
const DEFAULT_CHUNK_SIZE = 4 * 1024 * 1024;
/**
 * Blobs up to this size go in one streamed PUT, as containerd (and so BuildKit) pushes every
 * blob: one request instead of a PATCH per 4 MiB, nothing held in memory, and a failure costs at
 * most this much sent again. Larger blobs go in chunks that resume where a failure stopped them.
 */
const DEFAULT_WHOLE_MAX = 256 * 1024 * 1024;
async function startUpload(t) {
    const what = `POST blob upload to ${blobs_blobName(t)}`;
    const res = await t.client.request({
        method: 'POST',
        path: `${t.repository}/blobs/uploads/`,
        scopes: t.scopes,
        expect: [202],
        what,
        repository: t.repository
    });
    await drain(res);
    return sessionOf(t, res, what);
}
function sessionOf(t, res, what) {
    const min = Number(header(res, 'oci-chunk-min-length'));
    return { location: t.client.locationOf(res, what), minChunk: min > 0 ? min : undefined };
}
/**
 * Asks the registry to link a blob it holds in `from` into the target repository. It answers 201
 * when it did, or 202 with an upload session when it could not (then the caller uploads there).
 */
async function mountBlob(t, digest, from) {
    const what = `mount blob ${digest} from ${from} into ${blobs_blobName(t)}`;
    const url = new URL(`${t.repository}/blobs/uploads/`, t.client.base);
    url.searchParams.set('mount', digest);
    url.searchParams.set('from', from);
    const res = await t.client.request({
        method: 'POST',
        url,
        scopes: t.scopes,
        expect: [201, 202],
        what,
        repository: t.repository,
        probe: true
    });
    await drain(res);
    if (res.status === 201)
        return { mounted: true };
    return { mounted: false, session: sessionOf(t, res, what) };
}
/** Upload errors after which the session is unusable and the upload must start over. */
function restartable(err) {
    if (!(err instanceof RegistryError))
        return false;
    return (err.status === 416 ||
        err.codes.includes('BLOB_UPLOAD_INVALID') ||
        err.codes.includes('BLOB_UPLOAD_UNKNOWN'));
}
/**
 * Uploads a blob from a stream opened by `open` (reopened when the upload must start over):
 * one PUT when it is small, PATCH chunks otherwise. Resolves with the bytes sent.
 */
async function uploadBlob(t, desc, open, session) {
    const what = `upload of blob ${desc.digest} (${desc.size} bytes) to ${blobs_blobName(t)}`;
    let sent = 0;
    await withRetry(what, async (attempt) => {
        const s = attempt === 1 && session ? session : await startUpload(t);
        const chunk = Math.max(t.chunkSize ?? DEFAULT_CHUNK_SIZE, s.minChunk ?? 0);
        const whole = Math.max(t.chunkSize ?? DEFAULT_WHOLE_MAX, chunk);
        try {
            sent +=
                desc.size <= whole
                    ? await monolithic(t, desc, open, s.location)
                    : await chunked(t, desc, open, s.location, chunk);
        }
        catch (err) {
            if (restartable(err))
                throw new RetryableError(errors_messageOf(err));
            throw err;
        }
    }, t.client.policy, t.client.log);
    return sent;
}
function withDigest(location, digest) {
    const url = new URL(location);
    url.searchParams.set('digest', digest);
    return url;
}
async function monolithic(t, desc, open, location) {
    const hasher = new HashingStream(parseDigest(desc.digest).algorithm, t.client.relief);
    const res = await t.client.request({
        method: 'PUT',
        url: withDigest(location, desc.digest),
        scopes: t.scopes,
        headers: { 'Content-Type': 'application/octet-stream', 'Content-Length': String(desc.size) },
        body: async () => {
            const src = await open();
            src.on('error', err => hasher.destroy(err));
            return src.pipe(hasher);
        },
        expect: [201],
        what: `PUT blob ${desc.digest} (${desc.size} bytes) to ${blobs_blobName(t)}`,
        repository: t.repository,
        transfer: true
    });
    await drain(res);
    // The registry can answer as soon as it has the last byte, before the source has said it
    // ended; the hash is final only then (bounded: a source with bytes to spare never ends).
    if (!hasher.ended && hasher.size === desc.size)
        await Promise.race([
            (0,external_node_stream_promises_namespaceObject.finished)(hasher, { readable: false }).catch(() => undefined),
            new Promise(resolve => setTimeout(resolve, SOURCE_END_WAIT_MS).unref())
        ]);
    checkSent(desc, hasher);
    return hasher.size;
}
/** How long a PUT's source may take to end after the registry took its last byte. */
const SOURCE_END_WAIT_MS = 10_000;
function checkSent(desc, hasher) {
    const got = hasher.ended ? hasher.digest() : undefined;
    if (hasher.size !== desc.size || got !== desc.digest)
        throw new LadingError(`blob ${desc.digest}: the source gave ${hasher.size} bytes` +
            (got ? ` with digest ${got}` : hasher.size >= desc.size ? ' or more' : '') +
            `, expected ${desc.size} bytes; the source is corrupt or changed while being read`);
}
/** Pulls exactly `n` bytes at a time out of a stream (fewer only at its end). */
class ChunkReader {
    it;
    pending = [];
    pendingSize = 0;
    done = false;
    constructor(src) {
        this.it = src[Symbol.asyncIterator]();
    }
    async next(n) {
        while (this.pendingSize < n && !this.done) {
            const r = await this.it.next();
            if (r.done)
                this.done = true;
            else {
                this.pending.push(r.value);
                this.pendingSize += r.value.length;
            }
        }
        const all = Buffer.concat(this.pending);
        const out = all.subarray(0, n);
        const rest = all.subarray(n);
        this.pending = rest.length ? [rest] : [];
        this.pendingSize = rest.length;
        return out;
    }
    async close() {
        await this.it.return?.();
    }
}
/** The offset the registry has stored for an upload (Range: 0-LAST), from its upload status. */
async function uploadOffset(t, location) {
    const what = `GET upload status of ${blobs_blobName(t)}`;
    const res = await t.client.request({
        method: 'GET',
        url: location,
        scopes: t.scopes,
        expect: [204],
        what,
        repository: t.repository
    });
    await drain(res);
    const m = /^(?:bytes=)?0-(\d+)$/.exec(header(res, 'range') ?? '');
    const next = header(res, 'location') ? t.client.locationOf(res, what) : location;
    // distribution answers `0-0` both for nothing stored and for one byte (it clamps the end at
    // 0): resuming from 0 is right for the first and only costs a restart for the second.
    const last = m ? Number(m[1]) : -1;
    return { offset: last > 0 ? last + 1 : 0, location: next };
}
async function chunked(t, desc, open, start, chunkSize) {
    const hasher = new HashingStream(parseDigest(desc.digest).algorithm, t.client.relief);
    const src = await open();
    src.on('error', err => hasher.destroy(err));
    const reader = new ChunkReader(src.pipe(hasher));
    let location = start;
    let offset = 0;
    try {
        for (;;) {
            const chunk = await reader.next(chunkSize);
            if (!chunk.length)
                break;
            location = await sendChunk(t, desc, location, chunk, offset);
            offset += chunk.length;
        }
    }
    finally {
        await reader.close();
    }
    checkSent(desc, hasher);
    const res = await t.client.request({
        method: 'PUT',
        url: withDigest(location, desc.digest),
        scopes: t.scopes,
        headers: { 'Content-Type': 'application/octet-stream' },
        body: Buffer.alloc(0),
        expect: [201],
        what: `PUT (close upload of) blob ${desc.digest} to ${blobs_blobName(t)}`,
        repository: t.repository
    });
    await drain(res);
    return offset;
}
/**
 * Sends one chunk. After a failure it asks the registry how much it stored and sends the rest of
 * the chunk from there; when the registry's offset is outside this chunk the upload restarts.
 */
async function sendChunk(t, desc, location, chunk, offset) {
    let loc = location;
    return withRetry(`PATCH blob ${desc.digest} bytes ${offset}-${offset + chunk.length - 1} to ${blobs_blobName(t)}`, async (attempt) => {
        let from = offset;
        if (attempt > 1) {
            const status = await uploadOffset(t, loc);
            loc = status.location;
            from = status.offset;
            if (from < offset || from > offset + chunk.length)
                throw new RegistryError(`registry holds ${from} bytes of the upload, expected ${offset}`, 416);
            if (from === offset + chunk.length)
                return loc;
        }
        const part = chunk.subarray(from - offset);
        const res = await t.client.request({
            method: 'PATCH',
            url: loc,
            scopes: t.scopes,
            headers: {
                'Content-Type': 'application/octet-stream',
                'Content-Range': `${from}-${from + part.length - 1}`
            },
            body: part,
            retry: false,
            expect: [202],
            what: `PATCH blob ${desc.digest} bytes ${from}-${from + part.length - 1} to ${blobs_blobName(t)}`,
            repository: t.repository,
            transfer: true
        });
        await drain(res);
        return t.client.locationOf(res, `PATCH blob ${desc.digest}`);
    }, t.client.policy, t.client.log);
}

;// CONCATENATED MODULE: ./src/registry/mounts.ts

/**
 * Where blobs are known to be, by registry API host: a push to another repository of the same
 * registry mounts from there instead of uploading again. Whoever shares one between pushes lets
 * them mount from each other.
 */
class MountLocations {
    byHost = new Map();
    remember(host, digest, repository) {
        let byDigest = this.byHost.get(host);
        if (!byDigest)
            this.byHost.set(host, (byDigest = new Map()));
        let repos = byDigest.get(digest);
        if (!repos)
            byDigest.set(digest, (repos = new Set()));
        repos.add(repository);
    }
    /** The repositories of `host` known to hold `digest`. */
    repositories(host, digest) {
        return this.byHost.get(host)?.get(digest) ?? [];
    }
}
/** The repositories of `host` other than `repository` that may hold the blob, its origin first. */
function mountSources(mounts, host, blob, repository) {
    const out = [];
    const o = blob.origin ?? blob.reader.origin;
    if (o && registryApiHost(o.registry) === host && o.repository !== repository)
        out.push(o.repository);
    for (const r of mounts.repositories(host, blob.descriptor.digest))
        if (r !== repository && !out.includes(r))
            out.push(r);
    return out;
}

;// CONCATENATED MODULE: ./src/registry/push.ts
/**
 * Pushing an image: a session that takes blobs as soon as the caller has them verified (a layer
 * when it is built, a base blob when it is copied) while the rest of the run goes on, and, once
 * the caller says the image may go (its validation passed), its manifests and then its tags. A
 * session the caller abandons pushes no manifest and no tag: what it uploaded stays unreferenced,
 * as after any interrupted push, and the registry collects it.
 */













/** A blob's bytes for an upload, counted into a progress task of their own (one per attempt). */
function openCounted(blob, where, progress) {
    const d = blob.descriptor;
    return async () => {
        const src = await blob.reader.open(d);
        if (!progress)
            return src;
        const counter = countingStage(progress(`upload of ${d.digest} to ${where}`, d.size));
        // Either side failing or stopping ends the other; the upload sees the failure on `counter`.
        return (0,external_node_stream_namespaceObject.pipeline)(src, counter, () => { });
    };
}
/** Opens a push to every target; nothing is sent until the first blob or `finish`. */
function beginPush(req, opts) {
    if (!req.targets.length)
        throw new LadingError('nothing to push to: no target reference given');
    return new PushSession(req, opts);
}
/** Pushes a whole image at once: every blob, then manifests and tags. */
async function pushImage(req, opts) {
    const session = beginPush(req, opts);
    for (const b of req.blobs)
        void session.uploadBlob(b).catch(() => undefined);
    return session.finish(req.root, req.manifests);
}
class PushSession {
    req;
    result = { refs: [], uploaded: 0, mounted: 0, skipped: 0, bytesUploaded: 0 };
    repositories;
    mounts;
    log;
    progress;
    /** Each blob's push to every repository, by digest: a blob offered twice goes up once. */
    uploads = new Map();
    /** Set by the first failure, or by abandon: no blob starts after it. */
    stopped;
    constructor(req, opts) {
        this.req = req;
        this.mounts = opts.mounts ?? new MountLocations();
        this.log = opts.log ?? (() => { });
        this.progress = opts.progress;
        const clients = new Map();
        this.repositories = groupTargets(req.targets).map(g => {
            const host = registryApiHost(g.registry);
            let client = clients.get(host);
            if (!client)
                clients.set(host, (client = new RegistryClient(g.registry, opts)));
            const from = (req.mountFrom ?? [])
                .filter(o => registryApiHost(o.registry) === host && o.repository !== g.repository)
                .map(o => o.repository);
            for (const b of req.blobs ?? [])
                from.push(...mountSources(this.mounts, host, b, g.repository));
            // One token covers the whole repository push: push here, pull where blobs are mounted from.
            const scopes = [
                repositoryScope(g.repository, 'pull,push'),
                ...[...new Set(from)].map(s => repositoryScope(s, 'pull'))
            ];
            const target = {
                client,
                repository: g.repository,
                scopes,
                chunkSize: opts.chunkSize
            };
            return {
                ...g,
                host,
                target,
                where: `${g.registry}/${g.repository}`,
                slots: new Slots(opts.concurrency ?? 4)
            };
        });
    }
    /**
     * Pushes a blob to every repository, starting now (within the concurrency): skipped where it is,
     * mounted where the registry holds it elsewhere, else uploaded. The caller may leave the promise:
     * a failure is kept and thrown by `finish`.
     */
    uploadBlob(blob) {
        const digest = blob.descriptor.digest;
        let p = this.uploads.get(digest);
        if (!p) {
            p = Promise.all(this.repositories.map(r => this.toRepository(r, blob))).then(() => undefined);
            p.catch((err) => (this.stopped ??= { err }));
            this.uploads.set(digest, p);
        }
        return p;
    }
    /**
     * Once every blob is up: the manifests, children first and the root, all by digest, in every
     * repository; only then the tags, so that no repository is tagged with an image another lacks.
     */
    async finish(root, manifests) {
        const last = manifests[manifests.length - 1];
        if (last?.descriptor.digest !== root.digest)
            throw new LadingError(`internal: the root manifest ${root.digest} is not the last to push`);
        await this.blobsUp();
        for (const r of this.repositories) {
            for (const m of manifests) {
                if (m.descriptor.digest === root.digest)
                    continue;
                if (!(await manifestExists(r.target, m.descriptor.digest)))
                    await putManifest(r.target, m.descriptor.digest, m);
            }
            // The root by digest too, so every repository holds the whole image before any is tagged.
            await putManifest(r.target, root.digest, last);
            this.log(`pushed ${r.where}@${root.digest}`);
        }
        for (const r of this.repositories)
            await this.tag(r, root, last);
        return this.result;
    }
    /** Waits for every blob given so far to be up; throws the first failure. */
    async blobsUp() {
        await Promise.all(this.uploads.values());
        if (this.stopped)
            throw this.stopped.err;
    }
    /** Stops taking blobs and waits for those under way, whatever their end: nothing more is sent. */
    async abandon() {
        this.stopped ??= { err: new LadingError('the push was abandoned') };
        await Promise.allSettled(this.uploads.values());
    }
    async toRepository(r, blob) {
        if (!r.first) {
            r.first = r.slots.run(() => this.pushBlob(r, blob));
            return r.first;
        }
        await r.first;
        return r.slots.run(() => this.pushBlob(r, blob));
    }
    async pushBlob(r, blob) {
        if (this.stopped)
            throw this.stopped.err;
        const d = blob.descriptor;
        if (await blobExists(r.target, d.digest)) {
            this.result.skipped++;
            this.mounts.remember(r.host, d.digest, r.repository);
            return;
        }
        let session;
        for (const from of mountSources(this.mounts, r.host, blob, r.repository)) {
            let m;
            try {
                m = await mountBlob(r.target, d.digest, from);
            }
            catch (err) {
                // A source the credentials may not read (or a registry that refuses mounts) only
                // costs the upload the mount would have saved.
                if (!(err instanceof RegistryError) || (err.status !== 401 && err.status !== 403))
                    throw err;
                this.log(`could not mount ${d.digest} into ${r.where} from ${from} (${err.status}); uploading`);
                break;
            }
            if (m.mounted) {
                this.result.mounted++;
                this.mounts.remember(r.host, d.digest, r.repository);
                this.log(`mounted ${d.digest} into ${r.where} from ${from}`);
                return;
            }
            session = m.session;
            break;
        }
        const bytes = await uploadBlob(r.target, d, openCounted(blob, r.where, this.progress), session);
        this.result.uploaded++;
        this.result.bytesUploaded += bytes;
        this.mounts.remember(r.host, d.digest, r.repository);
        this.log(`uploaded ${d.digest} (${d.size} bytes) to ${r.where}`);
    }
    async tag(r, root, doc) {
        const tags = this.req.pushByDigest ? [] : r.tags;
        const ref = (tag) => formatReference({ registry: r.registry, repository: r.repository, tag, digest: root.digest });
        if (!tags.length)
            this.result.refs.push(ref());
        for (const tag of tags) {
            await putManifest(r.target, tag, doc);
            this.result.refs.push(ref(tag));
        }
        if (tags.length)
            this.log(`tagged ${r.where} as ${tags.join(', ')}`);
    }
}
function groupTargets(targets) {
    const groups = new Map();
    for (const t of targets) {
        const key = `${registryApiHost(t.registry)}/${t.repository}`;
        let g = groups.get(key);
        if (!g)
            groups.set(key, (g = { registry: t.registry, repository: t.repository, tags: [] }));
        if (t.tag && !g.tags.includes(t.tag))
            g.tags.push(t.tag);
    }
    return [...groups.values()];
}

;// CONCATENATED MODULE: ./src/registry/link.ts
/**
 * The `Link` header (RFC 8288, formerly RFC 5988) with which a registry pages a list: the
 * referrers API and the tags list answer `Link: <URL>; rel="next"` while more follows.
 */
/**
 * The target of the first `rel="next"` link in a Link header, resolved against `base` (the URL
 * of the response that carried it), or undefined when there is none. Whatever the header holds,
 * it gives a URL or nothing and never throws: a link that does not parse is no link. Where the
 * URL may be followed (its origin) is the caller's decision.
 */
function nextLink(value, base) {
    if (!value)
        return undefined;
    for (const link of parseLinks(value)) {
        const rels = (link.params.get('rel') ?? '').toLowerCase().split(/[ \t]+/);
        if (!rels.includes('next'))
            continue;
        try {
            return new URL(link.target, base);
        }
        catch {
            return undefined;
        }
    }
    return undefined;
}
/**
 * `<a>; rel="next"; title="x, y", <b>; rel=prev`: each link-value's target and parameters.
 * Commas inside `<…>` and inside quoted strings belong to them; text that fits no link-value is
 * skipped up to the next comma.
 */
function parseLinks(s) {
    const links = [];
    let i = 0;
    const n = s.length;
    const skipSpace = () => {
        while (i < n && (s[i] === ' ' || s[i] === '\t'))
            i++;
    };
    const skipToComma = () => {
        while (i < n && s[i] !== ',') {
            if (s[i] === '"')
                skipQuoted();
            else
                i++;
        }
    };
    const skipQuoted = () => {
        for (i++; i < n && s[i] !== '"'; i++)
            if (s[i] === '\\')
                i++;
        i++;
    };
    while (i < n) {
        skipSpace();
        if (s[i] === ',') {
            i++;
            continue;
        }
        if (s[i] !== '<') {
            skipToComma();
            continue;
        }
        const close = s.indexOf('>', i + 1);
        if (close < 0)
            break;
        const link = { target: s.slice(i + 1, close).trim(), params: new Map() };
        i = close + 1;
        for (;;) {
            skipSpace();
            if (i >= n || s[i] === ',')
                break;
            if (s[i] !== ';') {
                skipToComma();
                break;
            }
            i++;
            skipSpace();
            const start = i;
            while (i < n && !'=;, \t'.includes(s[i]))
                i++;
            const name = s.slice(start, i).toLowerCase();
            skipSpace();
            let value = '';
            if (s[i] === '=') {
                i++;
                skipSpace();
                if (s[i] === '"') {
                    let v = '';
                    for (i++; i < n && s[i] !== '"'; i++) {
                        if (s[i] === '\\' && i + 1 < n)
                            i++;
                        v += s[i];
                    }
                    i++;
                    value = v;
                }
                else {
                    const from = i;
                    while (i < n && !';,'.includes(s[i]))
                        i++;
                    value = s.slice(from, i).trim();
                }
            }
            if (name && !link.params.has(name))
                link.params.set(name, value);
        }
        links.push(link);
    }
    return links;
}

;// CONCATENATED MODULE: ./src/registry/referrers.ts












/** The fallback tag of a subject: `<alg>-<ref>`, the algorithm cut to 32 and the hex to 64. */
function fallbackTag(digest) {
    const { algorithm, encoded } = parseDigest(digest);
    return `${algorithm.slice(0, 32)}-${encoded.slice(0, 64)}`;
}
/**
 * Pushes one referrer into a repository: its blobs where missing, the manifest by digest, then,
 * unless the registry answered `OCI-Subject` (it lists referrers itself), the fallback tag.
 */
async function pushReferrer(t, subject, r) {
    for (const b of r.blobs)
        if (!(await blobExists(t, b.descriptor.digest)))
            await uploadBlob(t, b.descriptor, b.open);
    const d = r.manifest.descriptor;
    const what = `PUT manifest ${t.client.registry}/${t.repository}@${d.digest}`;
    const res = await t.client.request({
        method: 'PUT',
        path: `${t.repository}/manifests/${d.digest}`,
        scopes: t.scopes,
        headers: { 'Content-Type': d.mediaType },
        body: r.manifest.bytes,
        expect: [201],
        what,
        repository: t.repository
    });
    await drain(res);
    const stated = header(res, 'docker-content-digest');
    if (stated && stated !== d.digest)
        throw new LadingError(`${what}: the registry stored it as ${stated}, not ${d.digest}`);
    if (header(res, 'oci-subject') === subject)
        return 'api';
    await addToFallbackTag(t, subject, r.entry);
    return 'tag';
}
/**
 * How many times Lading reads, merges, writes and checks the fallback tag before it gives up:
 * each failed check means another writer replaced the index in between (matrix jobs attaching to
 * one image), and the distribution spec offers no lock.
 */
const MAX_FALLBACK_ATTEMPTS = 5;
/** The least time a write to the fallback tag is given to settle before it is read back. */
const FALLBACK_SETTLE_MS = 100;
const referrers_sleep = (ms) => new Promise(resolve => setTimeout(resolve, ms));
const imageIndex = (manifests) => ({
    schemaVersion: 2,
    mediaType: MediaType.ImageIndex,
    manifests
});
const lists = (index, digest) => (index?.manifests ?? []).some(m => isObject(m) && m.digest === digest);
/**
 * Adds the entry to the fallback tag's index: read, merge, write, then read back. There is no
 * lock, so a writer that read the index before this one wrote it may replace it with its own
 * merge; the read-back sees that (the entry is missing) and merges again, up to
 * MAX_FALLBACK_ATTEMPTS times. The read-back waits as long as the read and write took (at least
 * FALLBACK_SETTLE_MS), so that a writer as slow as this one has landed by then.
 */
async function addToFallbackTag(t, subject, entry) {
    const tag = fallbackTag(subject);
    const where = `${t.client.registry}/${t.repository}:${tag}`;
    for (let attempt = 1;; attempt++) {
        const started = Date.now();
        const current = await fallbackIndex(t, subject, attempt === 1);
        if (lists(current?.index, entry.digest))
            return;
        const index = imageIndex([...(current?.index.manifests ?? []), entry]);
        const bytes = Buffer.from(JSON.stringify(index));
        const descriptor = {
            mediaType: MediaType.ImageIndex,
            digest: digestOf(bytes),
            size: bytes.length
        };
        await putManifest(t, tag, { descriptor, bytes });
        await referrers_sleep(Math.max(FALLBACK_SETTLE_MS, Date.now() - started));
        const now = await fallbackIndex(t, subject, false);
        // Another writer that merged this entry in kept it: that is as good as this write.
        if (now && (now.digest === descriptor.digest || lists(now.index, entry.digest)))
            return;
        if (attempt >= MAX_FALLBACK_ATTEMPTS)
            throw new LadingError(`${where}: another writer replaced the referrers tag ${attempt} times while Lading ` +
                `added ${entry.digest} (MAX_FALLBACK_ATTEMPTS); the artifact is in the repository ` +
                'by digest but the tag does not list it. Attach again once the other jobs writing ' +
                'to this image are done, or use a registry with the referrers API');
        t.client.log(`${where}: another writer replaced the referrers tag while Lading added ` +
            `${entry.digest}; merging again (attempt ${attempt + 1} of ${MAX_FALLBACK_ATTEMPTS})`);
        // Jittered, so that writers which lost together do not come back together.
        await referrers_sleep(FALLBACK_SETTLE_MS * attempt * (0.5 + Math.random()));
    }
}
/**
 * The index under the fallback tag of `subject` and its digest, or undefined when there is
 * none. With `report`, what is wrong in it is logged (another client's mistakes are kept, since
 * they are its entries, but said).
 */
async function fallbackIndex(t, subject, report = true) {
    let fetched;
    try {
        fetched = await getManifest(t, fallbackTag(subject), MediaType.ImageIndex);
    }
    catch (err) {
        if (err instanceof RegistryError && err.status === 404)
            return undefined;
        throw err;
    }
    const where = `${t.client.registry}/${t.repository}:${fallbackTag(subject)}`;
    const doc = parseJSONValue(fetched.bytes, `the referrers tag ${where}`);
    if (report)
        for (const f of checkReferrersList(doc, subject, where))
            t.client.log(`${f.severity} ${f.rule}: ${f.location}: ${f.message}`);
    if (!isObject(doc) || !Array.isArray(doc.manifests))
        throw new LadingError(`${where} is the referrers tag of ${subject} but holds no image index; ` +
            'remove or fix it, then attach again');
    return { index: doc, digest: fetched.descriptor.digest };
}
/**
 * The most pages of one referrers list Lading reads. A registry pages a long list with `Link:
 * <URL>; rel="next"`; one whose links never end is stopped here rather than followed forever.
 */
const MAX_REFERRERS_PAGES = 100;
/**
 * The referrers of `subject`: the registry's referrers API where it has one (200), else the
 * fallback tag (404 from the API). A paged answer is read page by page, following its `rel="next"`
 * links on the registry's own origin only (its credentials go nowhere else), at most
 * MAX_REFERRERS_PAGES of them and never one twice; the pages' manifests are merged in order.
 */
async function listReferrers(t, subject) {
    const what = `GET referrers of ${t.client.registry}/${t.repository}@${subject}`;
    const pages = [];
    const seen = new Set();
    let url = t.client.urlOf({ path: `${t.repository}/referrers/${subject}` });
    for (;;) {
        const page = pages.length + 1;
        const asked = page === 1 ? what : `${what} (page ${page}, ${displayUrl(url)})`;
        const res = await t.client.request({
            method: 'GET',
            url,
            scopes: t.scopes,
            headers: { Accept: MediaType.ImageIndex },
            expect: page === 1 ? [200, 404] : [200],
            what: asked,
            repository: t.repository
        });
        if (res.status === 404) {
            await drain(res);
            const fallback = await fallbackIndex(t, subject);
            return { via: 'tag', index: fallback?.index ?? imageIndex([]) };
        }
        seen.add(url.href);
        const bytes = await readDocument(res, asked);
        pages.push(parseJSONValue(bytes, `${asked}: the answer`));
        const next = nextLink(header(res, 'link'), res.url);
        if (!next)
            break;
        if (!sameOrigin(t.client.base, next))
            throw new LadingError(`${what}: page ${page} links its next page to ${displayUrl(next)}, off the registry's ` +
                `origin ${t.client.base.origin}; Lading does not follow it (the registry's ` +
                'credentials go to the registry only), so the list would be incomplete. The registry ' +
                'or a proxy in front of it is misconfigured');
        if (seen.has(next.href))
            throw new LadingError(`${what}: page ${page} links its next page to ${displayUrl(next)}, a page already ` +
                "read; the registry's pages go round in a loop");
        if (page >= MAX_REFERRERS_PAGES)
            throw new LadingError(`${what}: ${t.client.registry} pages the list beyond ${MAX_REFERRERS_PAGES} pages ` +
                '(MAX_REFERRERS_PAGES); Lading stopped reading it rather than list part of it');
        url = next;
    }
    if (pages.length === 1)
        return { via: 'api', index: pages[0] };
    const manifests = [];
    pages.forEach((p, i) => {
        if (!isObject(p) || !Array.isArray(p.manifests))
            throw new LadingError(`${what}: page ${i + 1} of ${pages.length} is not an image index with \`manifests\`, ` +
                'so the pages cannot be merged; the registry answered something else than a referrers list');
        manifests.push(...p.manifests);
    });
    return { via: 'api', index: { ...pages[0], manifests } };
}

;// CONCATENATED MODULE: ./src/registry/index.ts
/** The Distribution-spec client's face to the app: pushing, and mount locations. Sources are in source.ts. */







;// CONCATENATED MODULE: ./src/app/stages/push.ts


class EarlyPush {
    session;
    layout;
    finished = false;
    constructor(session, layout) {
        this.session = session;
        this.layout = layout;
    }
    /**
     * A push to the plan's tags, reading the blobs it is given from `layout` (the staged one) or
     * their source; none when the plan does not push. `mountFrom`: the sources' repositories.
     */
    static begin(plan, layout, mountFrom, ctx) {
        if (!plan.push)
            return undefined;
        const session = beginPush({ targets: plan.tags, pushByDigest: plan.pushByDigest, mountFrom }, {
            ...plan.auth,
            secrets: ctx.secrets,
            relief: ctx.relief,
            mounts: ctx.mounts,
            progress: ctx.progress,
            log: m => ctx.log.info(m)
        });
        return new EarlyPush(session, layout);
    }
    /** A blob written into the staged layout, its digest computed as it was written. */
    staged(descriptor) {
        void this.session.uploadBlob({ descriptor, reader: this.layout }).catch(() => undefined);
    }
    /** Every blob of the staged graph (those already given are not pushed twice). */
    graph(graph) {
        for (const b of graph.blobs.values()) {
            const blob = {
                descriptor: b.descriptor,
                reader: b.location.kind === 'layout' ? this.layout : b.location.reader,
                origin: b.origin
            };
            void this.session.uploadBlob(blob).catch(() => undefined);
        }
    }
    /**
     * Waits for every blob given to be up, before the staged layout moves to the output; returns
     * the failure the push will end with, if any (the output is committed all the same).
     */
    async blobsUp() {
        try {
            await this.session.blobsUp();
            return undefined;
        }
        catch (err) {
            if (err instanceof LadingError)
                return err;
            throw err;
        }
    }
    /** The manifests, then the tags: only once the report passed. */
    async finish(graph) {
        this.finished = true;
        const res = await this.session.finish(graph.root, await graph.pushOrder());
        const { uploaded, mounted, skipped, bytesUploaded } = res;
        return { refs: res.refs, summary: { uploaded, mounted, skipped, bytesUploaded } };
    }
    /** Nothing more goes up; what is under way ends first. A finished push is left as it is. */
    async abandon() {
        if (!this.finished)
            await this.session.abandon();
    }
}

;// CONCATENATED MODULE: ./src/app/stages/layer-cache.ts









/**
 * Attempts at each request to a cached image's registry. A cache is worth a short wait at most:
 * a registry that cannot be reached (a refused connection, a name that does not resolve) is
 * given up after about a second, not the push's 6 attempts and 10-odd seconds, and the layers
 * are built. A reused blob read later still has a second and third attempt.
 */
const CACHE_ATTEMPTS = 3;
/** Documents (manifests, indexes) of one cached image read at most: a cache is worth a bounded look. */
const MAX_CACHE_DOCUMENTS = 256;
/** Documents of one cached image read at once. */
const CACHE_READS_AT_ONCE = 8;
class LayerCache {
    byDiffId = new Map();
    reused = new Map();
    sources = [];
    /** The cached images opened, each or with a warning: where they are is known then. */
    opened = Promise.resolve();
    /**
     * The cached images' manifests and configs read: under way while the first layers' tars are
     * hashed (a registry's round trips overlap the pass), awaited before any lookup.
     */
    indexed = Promise.resolve();
    /**
     * The plan's cache images, opened and read in the background as far as they can be (an image
     * that cannot be read is a warning); none when the plan names none.
     */
    static start(plan, ctx) {
        for (const { line, why } of plan.cacheFromSkipped)
            ctx.log.warning(`cache-from: ${line} is left out: ${why}`);
        if (!plan.cacheFrom.length)
            return undefined;
        const cache = new LayerCache();
        const warn = (line, err, opening = false) => {
            if (!(err instanceof LadingError))
                throw err;
            // Not there at all: what the first run of a workflow meets, its cache not pushed yet.
            if (opening && err instanceof RegistryError && err.status === 404)
                ctx.log.warning(`cache-from: ${line} is not in its registry (${statusAndCodes(err)}), as on a first run: every layer is built; if it should be there, check the reference and the credentials`);
            else
                ctx.log.warning(`cache-from: ${line} could not be read; no layer is taken from it: ${err.message}`);
        };
        const reading = [];
        cache.opened = (async () => {
            for (const { line, spec } of plan.cacheFrom) {
                try {
                    const retry = { attempts: CACHE_ATTEMPTS };
                    const auth = { ...plan.auth, retry, secrets: ctx.secrets, relief: ctx.relief };
                    const source = await openSource(spec, line, auth, ctx.temps);
                    cache.sources.push(source);
                    reading.push(cache.index({ line, source }, ctx.log).catch((err) => warn(line, err)));
                }
                catch (err) {
                    warn(line, err, true);
                }
            }
        })();
        cache.indexed = cache.opened.then(() => Promise.all(reading)).then(() => undefined);
        // A failure other than an unreadable image (a bug) reaches the run through the first lookup,
        // the push's start or close.
        cache.indexed.catch(() => undefined);
        return cache;
    }
    /**
     * Where the cached images live in registries, once they are open: a push may mount from there.
     */
    async origins() {
        await this.opened;
        return this.sources.flatMap(s => (s.origin ? [s.origin] : []));
    }
    /** The layers taken from the cache so far, each with the line of the image it came from. */
    taken() {
        return [...this.reused].map(([digest, r]) => ({ digest, image: r.line }));
    }
    /** The cached layer a cold build of `input` would make, if there is one; the tar is only hashed. */
    async reuse(input, store, opts, ctx) {
        const [pass] = await Promise.all([layerDiffPass(input, store, opts), this.indexed]);
        if (!pass)
            return undefined;
        const mediaType = layerMediaType(opts.compression);
        const hit = this.byDiffId
            .get(pass.diffId)
            ?.find(c => c.descriptor.mediaType === mediaType &&
            c.createdBy === pass.createdBy &&
            c.comment === pass.comment);
        if (!hit)
            return undefined;
        const { digest, size } = hit.descriptor;
        const scan = pass.scan({ digest, size, diffId: pass.diffId });
        this.reused.set(digest, {
            line: hit.image.line,
            source: hit.image.source,
            findings: scan.findings
        });
        ctx.log.info(`${layerName(input)}: taken from the cache ${hit.image.line} (${digest}), not built`);
        const { createdBy, comment, diffId } = pass;
        return { descriptor: { mediaType, digest, size }, diffId, createdBy, comment };
    }
    /** The graph with each reused layer read from its cache image rather than the layout. */
    relocate(graph) {
        if (!this.reused.size)
            return graph;
        const blobs = new Map();
        for (const [digest, blob] of graph.blobs) {
            const r = this.reused.get(digest);
            blobs.set(digest, r && blob.location.kind === 'layout'
                ? {
                    ...blob,
                    location: { kind: 'source', reader: r.source, verified: false },
                    origin: r.source.origin
                }
                : blob);
        }
        return new ImageGraph(graph.root, graph.documents, blobs);
    }
    /** The content findings of reused layers the validator will not read (left in their registry). */
    findingsOf(notDownloaded) {
        return notDownloaded.flatMap(d => this.reused.get(d)?.findings ?? []);
    }
    async close() {
        await this.indexed.catch(() => undefined);
        for (const s of this.sources)
            await s.close?.().catch(() => undefined);
    }
    /**
     * Reads the manifests and configs of a cached image into byDiffId: up to CACHE_READS_AT_ONCE
     * documents at once (a multi-platform image's platforms side by side, as the first layers'
     * tars are hashed), and no more than MAX_CACHE_DOCUMENTS of them, whatever its index holds.
     */
    async index(image, log) {
        const { source, line } = image;
        const slots = new Slots(CACHE_READS_AT_ONCE);
        const seen = new Set();
        let passedOver = 0;
        const read = async (d, what) => parseJSONValue(await slots.run(() => source.read(d)), `${line}: ${what}`);
        const visit = async (d, depth) => {
            if (seen.has(d.digest))
                return;
            if (seen.size >= MAX_CACHE_DOCUMENTS) {
                passedOver++;
                return;
            }
            seen.add(d.digest);
            const doc = (await read(d, d.digest));
            if (doc.config && Array.isArray(doc.layers)) {
                const config = await read(doc.config, `config ${doc.config.digest}`);
                this.add(image, doc.layers, config);
            }
            else if (depth < MAX_INDEX_DEPTH)
                await Promise.all(documentChildren(doc).map(c => visit(c, depth + 1)));
        };
        await visit(source.root, 0);
        if (passedOver)
            log.info(`cache-from: ${line}: its first ${MAX_CACHE_DOCUMENTS} manifests and indexes were read, ${passedOver} more were not; their layers are not taken`);
    }
    /** Layers paired with their diff_ids and with the history entries of non-empty layers. */
    add(image, layers, config) {
        const diffIds = config.rootfs?.diff_ids;
        if (!Array.isArray(diffIds) || diffIds.length !== layers.length)
            return;
        const history = (config.history ?? []).filter(h => !h.empty_layer);
        // Without one history entry per layer, nothing says who made which layer.
        if (history.length !== layers.length)
            return;
        layers.forEach((descriptor, i) => {
            const list = this.byDiffId.get(diffIds[i]) ?? [];
            list.push({
                descriptor,
                createdBy: history[i].created_by,
                comment: history[i].comment,
                image
            });
            this.byDiffId.set(diffIds[i], list);
        });
    }
}
/** `404 NAME_UNKNOWN MANIFEST_UNKNOWN`: the status and the registry's first distinct error codes. */
function statusAndCodes(err) {
    const codes = [...new Set(err.codes)].map(escapedLine);
    return listed([String(err.status), ...codes], 4, ' ');
}

;// CONCATENATED MODULE: ./src/app/stages/remember-verdicts.ts


async function rememberVerdicts(output, graph, ctx) {
    const verdicts = ctx.scans.verdicts;
    if (!verdicts)
        return;
    const inLayout = new Set([...graph.blobs.values()]
        .filter(b => b.location.kind === 'layout')
        .map(b => b.descriptor.digest));
    for (const [key, pending] of ctx.scans.entries()) {
        const digest = digestOfScanKey(key);
        if (!inLayout.has(digest))
            continue;
        const scan = await pending.catch(() => undefined);
        if (!scan || !isCompleteScan(scan, digest))
            continue;
        const file = await verdicts.identify(blobPathIn(output, digest));
        if (file)
            await verdicts.record(key, digest, file, scan);
    }
}

;// CONCATENATED MODULE: ./src/app/stages/attach.ts
/**
 * The `attach` files as OCI 1.1 artifacts whose `subject` is the image: each an artifact manifest
 * with the empty config and the file as its one layer. They are written into the staged layout
 * (index.json lists them after the image, so an archive carries them and validation checks them)
 * and, after the image, pushed to every tag's repository as referrers.
 */








/** `{}`, the content of the empty descriptor. */
const EMPTY = Buffer.from('{}');
const Title = 'org.opencontainers.image.title';
/** Writes each file and its artifact manifest into the layout; `subject` is the image's root. */
async function makeAttachments(plan, subject, layout) {
    if (plan.attach.length === 0)
        return [];
    const empty = await layout.writeBuffer(EMPTY);
    const config = { mediaType: MediaType.Empty, ...empty, data: EMPTY.toString('base64') };
    const out = [];
    for (const file of plan.attach) {
        const title = external_node_path_namespaceObject.basename(file.path);
        const written = await layout.writeStream((0,external_node_fs_namespaceObject.createReadStream)(file.path), undefined, `attach file ${file.path}`);
        const layer = { mediaType: file.mediaType, ...written, annotations: { [Title]: title } };
        const annotations = { [Annotation.Created]: formatRFC3339(plan.created), [Title]: title };
        const manifest = {
            schemaVersion: 2,
            mediaType: MediaType.ImageManifest,
            artifactType: file.mediaType,
            config,
            layers: [layer],
            subject: { mediaType: subject.mediaType, digest: subject.digest, size: subject.size },
            annotations
        };
        const doc = await layout.writeJSON(manifest, MediaType.ImageManifest);
        const descriptor = { mediaType: doc.mediaType, digest: doc.digest, size: doc.size };
        out.push({
            file,
            entry: { ...descriptor, artifactType: file.mediaType, annotations },
            manifest: { descriptor, bytes: doc.bytes },
            blobs: [config, layer]
        });
    }
    return out;
}
/**
 * Pushes the attachments to every repository the image went to, after the image: through the
 * referrers API where the registry has it, else under the fallback tag. Blobs are read from the
 * committed output.
 */
async function pushAttachments(plan, attachments, subject, ctx) {
    if (attachments.length === 0)
        return;
    const output = new Layout(plan.output, { relief: ctx.relief });
    const clients = new Map();
    const repositories = new Map(plan.tags.map(t => [`${registryApiHost(t.registry)}/${t.repository}`, t]));
    for (const ref of repositories.values()) {
        const host = registryApiHost(ref.registry);
        let client = clients.get(host);
        if (!client) {
            const opts = {
                ...plan.auth,
                secrets: ctx.secrets,
                relief: ctx.relief,
                log: (m) => ctx.log.info(m)
            };
            clients.set(host, (client = new RegistryClient(ref.registry, opts)));
        }
        const target = {
            client,
            repository: ref.repository,
            scopes: [repositoryScope(ref.repository, 'pull,push')]
        };
        const where = formatReference({ ...ref, tag: undefined, digest: subject.digest });
        for (const a of attachments) {
            const blobs = a.blobs.map(d => ({ descriptor: d, open: () => output.open(d) }));
            const via = await pushReferrer(target, subject.digest, { ...a, blobs });
            ctx.log.info(`attached ${external_node_path_namespaceObject.basename(a.file.path)} (${a.entry.digest}) to ${where} ` +
                (via === 'api'
                    ? 'through the referrers API'
                    : `under the tag ${fallbackTag(subject.digest)}`));
        }
    }
}

;// CONCATENATED MODULE: ./src/app/phases.ts
/**
 * The phases of a run as the log shows them: each in a group (a collapsible log group in the
 * action, a header line in the CLI) closed by its duration, which the job summary lists too.
 */

async function phase(ctx, name, work) {
    const start = ctx.now();
    if (ctx.log.startGroup)
        ctx.log.startGroup(name);
    else
        ctx.log.info(`== ${name}`);
    let ok = false;
    try {
        const out = await work();
        ok = true;
        return out;
    }
    finally {
        const ms = ctx.now() - start;
        ctx.timings.push({ name, ms });
        ctx.log.info(`${name}: ${ok ? 'done' : 'stopped'} in ${humanDuration(ms)}`);
        ctx.log.endGroup?.();
    }
}

;// CONCATENATED MODULE: ./src/app/pipeline.ts
/**
 * One run: open sources → resolve platforms → build layers → assemble the graph → stage the layout
 * → validate → commit the output → push. Each stage is a module of ./stages with typed input and
 * output; this function only runs them in order and turns their results into an Outcome. A push
 * begins early: blobs go up as they are built and staged, while the layout is validated; the
 * manifests and tags only once the report passed.
 * Exceptions are for usage errors and bugs; a bad image is an outcome.
 */
























async function runPlan(plan, ctx) {
    const stage = stagingPath(plan.output);
    ctx.temps.track(stage);
    let opened = [];
    let findings = [];
    let cache;
    let pushBegun = Promise.resolve(undefined);
    // Started first, to be ready when the first layer is walked; closed once the layers are built.
    const threads = startLayerThreads(plan);
    try {
        await prepareRun(plan);
        ({ sources: opened, findings } = await phase(ctx, 'read sources', () => openSources(plan, ctx)));
        const sourceReport = makeReport(findings, plan.failOn);
        // An unreadable source fails the run even at fail-on never: there is nothing to build from.
        if (failed(plan, sourceReport) || findings.some(f => f.rule === 'source-unreadable'))
            return { status: 'invalid', what: 'a source image', report: sourceReport };
        const resolution = await phase(ctx, 'resolve platforms', () => resolvePlatforms(plan, opened));
        const platforms = resolution.images.map(img => img.platform);
        checkAnnotationPlatforms(plan.annotations, platforms);
        const layout = new Layout(stage, { relief: ctx.relief });
        await layout.init();
        cache = LayerCache.start(plan, ctx);
        // The push begins once the cache images are open (it may mount from their repositories);
        // the layers' tars are hashed meanwhile, and a layer built before goes up once it has begun.
        const begun = pipeline_beginPush(plan, layout, opened, cache, ctx);
        pushBegun = begun;
        const newLayers = await phase(ctx, 'build layers', () => buildLayers(plan, platforms, layout, ctx, {
            reuse: cache && ((l, store, opts) => cache.reuse(l, store, opts, ctx)),
            built: plan.push
                ? l => void begun.then(p => p?.staged(l.descriptor), () => undefined)
                : undefined
        }, threads));
        const push = await begun;
        const { assembled, attached, staged } = await phase(ctx, 'assemble', () => assembleAndStage(plan, { resolution, newLayers, opened, layout, cache }, ctx));
        push?.graph(staged.graph);
        findings.push(...(cache?.findingsOf(staged.notDownloaded) ?? []));
        const report = await phase(ctx, 'validate', () => validateOutput(plan, stage, staged.notDownloaded, findings, ctx));
        if (failed(plan, report))
            return { status: 'invalid', what: 'the assembled image', report };
        const uploadError = await push?.blobsUp();
        const archive = await phase(ctx, 'write output', () => commitOutput(plan, stage, ctx));
        if (plan.load)
            await phase(ctx, 'load', () => loadIntoDocker(plan, assembled.images.length, ctx));
        await rememberVerdicts(plan.output, staged.graph, ctx);
        const result = resultOf(plan, assembled, staged, archive, report, attached, cache);
        if (!push)
            return notPushed(plan, result, ctx);
        const attach = () => pushAttachments(plan, attached, staged.graph.root, ctx);
        return await phase(ctx, 'push', () => finishPush(push, staged.graph, result, report, uploadError, attach));
    }
    catch (err) {
        if (err instanceof SourceUnreadable)
            return unreadableSource(err, findings, plan);
        throw err;
    }
    finally {
        await threads.close();
        // Manifests and tags go up only from finishPush: any other ending pushes none.
        await (await pushBegun.catch(() => undefined))?.abandon();
        // Gone once committed (swapped into the output); left over from any other ending.
        await ctx.temps.remove(stage).catch(() => undefined);
        for (const s of opened)
            await s.source.close?.().catch(() => undefined);
        await cache?.close();
    }
}
/** The result's graph assembled, the files to attach made, and the layout completed. */
async function assembleAndStage(plan, input, ctx) {
    const { resolution, newLayers, opened, layout, cache } = input;
    const assembled = await assembleGraph(plan, resolution, newLayers, opened, layout);
    if (!assembled.copiedWhole)
        for (const n of resolution.notes)
            ctx.log.info(n);
    for (const d of assembled.dropped)
        ctx.log.warning(d);
    const attached = await makeAttachments(plan, assembled.graph.root, layout);
    const graph = cache ? cache.relocate(assembled.graph) : assembled.graph;
    const referrers = attached.map(a => a.entry);
    const staged = await stageLayout(plan, graph, layout, ctx, referrers);
    return { assembled, attached, staged };
}
function resultOf(plan, assembled, staged, archive, report, attached, cache) {
    const root = staged.graph.root;
    return {
        digest: root.digest,
        mediaType: root.mediaType,
        size: root.size,
        configDigest: assembled.images.length === 1 ? assembled.images[0].configDigest : undefined,
        platforms: assembled.images.map(r => r.platform),
        images: assembled.images,
        layout: plan.output,
        archive,
        imageRefs: [],
        imageName: imageNameOf(plan),
        report,
        notDownloaded: staged.notDownloaded,
        fromCache: cache?.taken() ?? [],
        attached: attached.map(a => a.entry.digest),
        dropped: assembled.dropped
    };
}
/**
 * The manifests and tags, once the report passed, then the attachments that refer to the image;
 * a failed upload or push is the outcome.
 */
async function finishPush(push, graph, result, report, uploadError, attach) {
    try {
        if (uploadError)
            throw uploadError;
        const pushed = await push.finish(graph);
        await attach();
        return {
            status: 'ok',
            result: { ...result, imageRefs: pushed.refs, pushed: pushed.summary },
            report
        };
    }
    catch (err) {
        if (!(err instanceof LadingError))
            throw err;
        return { status: 'push-failed', result, report, message: err.message };
    }
}
/**
 * The push to the plan's tags, mounting from the sources' and the cache images' repositories;
 * none when the plan does not push. Its failure to begin reaches the run after the builds.
 */
function pipeline_beginPush(plan, layout, opened, cache, ctx) {
    if (!plan.push)
        return Promise.resolve(undefined);
    const begun = (async () => {
        const fromSources = opened.flatMap(s => (s.source.origin ? [s.source.origin] : []));
        const mountFrom = [...fromSources, ...((await cache?.origins()) ?? [])];
        return EarlyPush.begin(plan, layout, mountFrom, ctx);
    })();
    begun.catch(() => undefined);
    return begun;
}
/** The output's place made ready, stale staging dirs and an earlier run's report removed. */
async function prepareRun(plan) {
    await prepareOutput(plan);
    await removeStaleStages(external_node_path_namespaceObject.dirname(plan.output), external_node_path_namespaceObject.basename(plan.output));
    // A report left by an earlier run must not pass for this run's.
    await promises_namespaceObject.rm(reportPath(plan.output), { force: true }).catch(() => undefined);
}
/**
 * A run that was not asked to push. With tags given, the log says so, lest a workflow ported from
 * a `push`-by-default era believe its tags were pushed.
 */
function notPushed(plan, result, ctx) {
    const tags = plan.tags.map(t => formatReference(t));
    if (tags.length) {
        ctx.log.info(notPushedMessage(tags));
        result.notPushedTo = tags;
    }
    return { status: 'ok', result, report: result.report };
}
function failed(plan, report) {
    return plan.failOn !== 'never' && !report.valid;
}
/**
 * A source that could not be read to the end is a validation failure like any other: the report
 * keeps what was found so far and names what could not be read.
 */
function unreadableSource(err, findings, plan) {
    const all = dedupeFindings([...findings, rules_finding('source-unreadable', err.line, err.message)]);
    return { status: 'invalid', what: 'a source image', report: makeReport(all, plan.failOn) };
}
function imageNameOf(plan) {
    return plan.pushByDigest
        ? [...new Set(plan.tags.map(t => repositoryName(t)))].join(',')
        : plan.tags.map(t => formatReference(t)).join(',');
}

;// CONCATENATED MODULE: external "node:v8"
const external_node_v8_namespaceObject = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("node:v8");
;// CONCATENATED MODULE: external "node:vm"
const external_node_vm_namespaceObject = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("node:vm");
;// CONCATENATED MODULE: ./src/util/memory.ts
/**
 * Keeps a run's memory flat while it streams hundreds of megabytes through Buffers.
 *
 * V8 frees a dead Buffer's memory only at a full collection, and starts one for Buffers alone once
 * about 64 MB of them have been allocated since the last. A build, a validation or an upload
 * allocates a few bytes of Buffers for every byte it moves (file reads, tar blocks, compressor
 * output), so without help that much dead Buffer memory sits in the process at any time. So every
 * RELIEF_BYTES moved (MemoryRelief.moved), Lading looks at its resident size and, above
 * RELIEF_RSS and grown since the last collection (or above RELIEF_HIGH), asks for another. Only
 * then: a collection costs the main thread time, and collecting on every look slowed builds
 * measurably (see the benchmark).
 *
 * The collector is reached through V8's `--expose-gc` flag, set at run time; where that is not
 * possible, relief is a no-op and V8's own schedule applies. Collections are started asynchronously:
 * V8 marks on its helper threads while the work goes on, which costs the build far less than
 * stopping for each one.
 */


/** Bytes moved between looks at memory. */
const RELIEF_BYTES = 16 * 1024 * 1024;
/** The resident size above which a look at memory starts a collection. */
const RELIEF_RSS = 104 * 1024 * 1024;
/** V8's collector, looked up once: reaching it sets a V8 flag for the whole process. */
let collect;
function collector() {
    if (collect !== undefined)
        return collect;
    try {
        let g = globalThis.gc;
        if (typeof g !== 'function') {
            external_node_v8_namespaceObject.setFlagsFromString('--expose-gc');
            const fn = external_node_vm_namespaceObject.runInNewContext('gc');
            g = typeof fn === 'function' ? fn : undefined;
        }
        const gc = g;
        // Asynchronous: V8 marks on its helper threads while this one goes on with the work.
        collect = gc
            ? () => {
                const p = gc({ type: 'major', execution: 'async' });
                if (p instanceof Promise)
                    p.catch(() => { });
            }
            : null;
    }
    catch {
        collect = null;
    }
    return collect;
}
/**
 * What resident memory must have grown by since the last collection (from the lowest it was seen
 * at since) before a look starts another. Memory that stays level holds little a collection
 * would free: what keeps it above RELIEF_RSS is then threads, code and live objects. Collecting at
 * every look above the mark cost a build of 100,000 small files a sixth of its time (2.4-2.5 s,
 * 2.05-2.15 s without); it held a build of two layers at once 2 MiB lower (138-140 MiB, 140-142).
 */
const RELIEF_GROWTH = 256 * 1024;
/**
 * The resident size above which every look starts a collection, grown or not: near the 150 MiB
 * a run should stay under, what little a collection frees counts. Builds of two layers at once
 * peaked at 142-145 MiB without it, 136-142 with it, as when every look collected.
 */
const RELIEF_HIGH = 128 * 1024 * 1024;
/**
 * The memory relief of one run: counts the bytes it moves through Buffers and, every RELIEF_BYTES,
 * starts a collection when the process is above `above` resident bytes and has grown by
 * RELIEF_GROWTH since the last collection, or is above `high`.
 */
class MemoryRelief {
    above;
    high;
    movedSince = 0;
    /** The lowest resident size seen since the last collection. */
    low = 0;
    /** Collections asked for so far. */
    collections = 0;
    constructor(above = RELIEF_RSS, high = RELIEF_HIGH) {
        this.above = above;
        this.high = high;
    }
    /** Notes that `bytes` went through Buffers (read, compressed, hashed, sent). */
    moved(bytes) {
        this.movedSince += bytes;
        if (this.movedSince < RELIEF_BYTES)
            return;
        this.movedSince = 0;
        // Only when memory is high and growing: each collection costs the main thread time, most of
        // it for nothing while the dead Buffers are few.
        const rss = process.memoryUsage.rss();
        const due = this.collections === 0 || rss >= this.low + RELIEF_GROWTH || rss > this.high;
        this.low = Math.min(this.low, rss);
        if (rss <= this.above || !due)
            return;
        const c = collector();
        if (!c)
            return;
        this.collections++;
        this.low = rss;
        c();
    }
}

;// CONCATENATED MODULE: ./src/transports/verdicts.ts
/**
 * The verdicts of the Lading steps of one job, kept in the runner's temp dir: one small JSON file
 * per blob digest, each holding the scans of the files (of any layout) that held that blob, with
 * the identity each file had when it was read. A later step that finds the same file unchanged
 * takes the scan instead of decompressing and parsing the blob again. Whatever is wrong with the
 * store (missing, corrupt, foreign, too large, not writable) only costs a read: it is ignored.
 */






/** The directory under the runner's temp dir. */
const VERDICTS_DIR = 'lading-verdicts';
/** A verdict file larger than this is neither written nor read (a scan with many findings). */
const MAX_VERDICT_BYTES = 64 * 1024;
/** Files (layouts) remembered per digest; the oldest go first. */
const MAX_FILES_PER_DIGEST = 8;
/** Marks the files this module writes; anything else in the directory is ignored. */
const FORMAT = 'lading-verdicts/1';
/** Where a run keeps verdicts: `RUNNER_TEMP` in a workflow, the system's temp dir elsewhere. */
function defaultVerdictsDir(env = process.env) {
    return external_node_path_namespaceObject.join(env.RUNNER_TEMP || external_node_os_namespaceObject.tmpdir(), VERDICTS_DIR);
}
class FileVerdicts {
    dir;
    constructor(dir) {
        this.dir = dir;
    }
    async identify(file) {
        try {
            const st = await promises_namespaceObject.stat(file, { bigint: true });
            if (!st.isFile())
                return undefined;
            return {
                dev: String(st.dev),
                ino: String(st.ino),
                size: String(st.size),
                mtimeNs: String(st.mtimeNs),
                ctimeNs: String(st.ctimeNs)
            };
        }
        catch {
            return undefined;
        }
    }
    async lookup(key, digest, file) {
        const kept = await this.load(digest);
        return kept?.entries.find(e => e.key === key && sameFile(e.file, file))?.scan;
    }
    async record(key, digest, file, scan) {
        const name = this.fileName(digest);
        if (!name)
            return;
        const kept = (await this.load(digest))?.entries ?? [];
        const others = kept.filter(e => !(e.key === key && sameFile(e.file, file)));
        const entries = [...others, { key, file, scan }].slice(-MAX_FILES_PER_DIGEST);
        const bytes = Buffer.from(JSON.stringify({ format: FORMAT, digest, entries }));
        if (bytes.length > MAX_VERDICT_BYTES)
            return;
        const tmp = external_node_path_namespaceObject.join(this.dir, `.${(0,external_node_crypto_namespaceObject.randomBytes)(8).toString('hex')}.tmp`);
        try {
            await promises_namespaceObject.mkdir(this.dir, { recursive: true });
            await promises_namespaceObject.writeFile(tmp, bytes);
            // A rename: a reader sees the old file or the new one, never half of one.
            await promises_namespaceObject.rename(tmp, name);
        }
        catch {
            await promises_namespaceObject.rm(tmp, { force: true }).catch(() => undefined);
        }
    }
    fileName(digest) {
        try {
            const { algorithm, encoded } = parseDigest(digest);
            return external_node_path_namespaceObject.join(this.dir, `${algorithm}-${encoded}.json`);
        }
        catch {
            return undefined;
        }
    }
    async load(digest) {
        const name = this.fileName(digest);
        if (!name)
            return undefined;
        try {
            const fh = await promises_namespaceObject.open(name, 'r');
            try {
                if ((await fh.stat()).size > MAX_VERDICT_BYTES)
                    return undefined;
                const value = JSON.parse((await fh.readFile()).toString('utf8'));
                return isVerdictFile(value, digest) ? value : undefined;
            }
            finally {
                await fh.close();
            }
        }
        catch {
            return undefined;
        }
    }
}
function isVerdictFile(v, digest) {
    const f = v;
    return (typeof f === 'object' &&
        f !== null &&
        f.format === FORMAT &&
        f.digest === digest &&
        Array.isArray(f.entries) &&
        f.entries.every(isEntry));
}
function isEntry(v) {
    const e = v;
    if (typeof e !== 'object' || e === null || typeof e.key !== 'string')
        return false;
    const id = e.file;
    const ids = [id?.dev, id?.ino, id?.size, id?.mtimeNs, id?.ctimeNs];
    const s = e.scan;
    return (ids.every(x => typeof x === 'string') &&
        typeof s === 'object' &&
        s !== null &&
        typeof s.size === 'number' &&
        typeof s.digest === 'string' &&
        (s.diffId === undefined || typeof s.diffId === 'string') &&
        Array.isArray(s.findings) &&
        s.findings.every(isFinding));
}
function isFinding(v) {
    const f = v;
    return (typeof f === 'object' &&
        f !== null &&
        [f.rule, f.message, f.location, f.spec].every(x => typeof x === 'string') &&
        (f.severity === 'error' || f.severity === 'warning' || f.severity === 'info'));
}

;// CONCATENATED MODULE: ./src/app/context.ts
/**
 * What one run carries besides its plan: where it logs, the secrets it met, its temporary files,
 * its memory relief and what it knows of each blob it read. Made by a front end for each run and
 * passed down, so two runs in one process share nothing.
 */







/**
 * `verdicts`: where the job's steps keep their scans (the runner's temp dir unless said);
 * `clock`: the progress reports' clock and interval (tests make them short).
 */
function newRunContext(log, secrets = new Secrets(), opts = {}) {
    const verdicts = 'verdicts' in opts ? opts.verdicts : new FileVerdicts(defaultVerdictsDir());
    const clock = opts.clock ?? {};
    const now = clock.now ?? (() => performance.now());
    const relief = new MemoryRelief();
    return {
        log,
        secrets,
        temps: new Temps(),
        relief,
        scans: new ScanCache(verdicts, relief),
        mounts: new MountLocations(),
        progress: throttledProgress(m => log.info(m), { ...clock, now }),
        now,
        timings: []
    };
}
/**
 * A cancelled workflow (or Ctrl-C) stops the run with a signal: its temporary files go with it.
 * Returns the function that stops listening, for when the run is over.
 */
function cleanUpOnSignals(ctx) {
    const stop = (sig) => {
        ctx.temps.removeAll();
        process.exit(sig === 'SIGINT' ? 130 : 143);
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    return () => {
        process.off('SIGINT', stop);
        process.off('SIGTERM', stop);
    };
}

;// CONCATENATED MODULE: ./src/app/outputs.ts


async function writeReport(file, report) {
    await promises_namespaceObject.mkdir(external_node_path_namespaceObject.dirname(file), { recursive: true });
    await promises_namespaceObject.writeFile(file, JSON.stringify(report, null, 2) + '\n');
}
/** buildx's metadata keys, so workflows written for docker/build-push-action read Lading's the same way. */
function metadataOf(r) {
    const m = {
        'containerimage.digest': r.digest,
        'containerimage.descriptor': { mediaType: r.mediaType, digest: r.digest, size: r.size }
    };
    if (r.configDigest)
        m['containerimage.config.digest'] = r.configDigest;
    if (r.imageName)
        m['image.name'] = r.imageName;
    return m;
}
/** The action's outputs of a run that produced an image (`valid` and `report` aside), by name. */
function outputsOf(r) {
    return {
        digest: r.digest,
        'media-type': r.mediaType,
        'config-digest': r.configDigest ?? '',
        imageid: imageIdOf(r),
        'platform-digests': JSON.stringify(platformDigestsOf(r)),
        platforms: r.platforms.join(','),
        layout: r.layout ?? '',
        archive: r.archive ?? '',
        'image-refs': JSON.stringify(r.imageRefs),
        attached: JSON.stringify(r.attached),
        metadata: JSON.stringify(metadataOf(r))
    };
}

/**
 * The image ID as docker/build-push-action gives it: buildx writes its `--iidfile` with the config
 * digest when the result has one config, else with the image's digest (an index's, when
 * multi-platform).
 */
function imageIdOf(r) {
    return r.configDigest ?? r.digest;
}
/** Each platform's manifest digest, by platform: what signing each image needs. */
function platformDigestsOf(r) {
    return Object.fromEntries(r.images.map(i => [i.platform, i.digest]));
}

;// CONCATENATED MODULE: ./src/app/inspect.ts






/** The largest document inspect reads whole, as the validator parses JSON: bigger is no image. */
const MAX_DOCUMENT = 16 * 1024 * 1024;
/** The annotation buildx puts on the index entry of an attestation manifest. */
const REFERENCE_TYPE = 'vnd.docker.reference.type';
/** …and the one naming the manifest it attests. */
const REFERENCE_DIGEST = 'vnd.docker.reference.digest';
const inspect_str = (v) => (typeof v === 'string' ? v : null);
const strList = (v) => Array.isArray(v) ? v.filter((x) => typeof x === 'string') : null;
const strMap = (v) => isObject(v)
    ? Object.fromEntries(Object.entries(v).filter((e) => typeof e[1] === 'string'))
    : {};
const keysOf = (v) => (isObject(v) ? Object.keys(v).sort() : []);
function inspect_parseDocument(doc, what) {
    const value = parseJSONValue(doc.bytes, `the ${what} ${doc.descriptor.digest}`);
    if (!isObject(value))
        throw new LadingError(`the ${what} ${doc.descriptor.digest} is not a JSON object`);
    return value;
}
/** A descriptor found in a document, checked enough to be read and shown. */
function descriptorAt(v, where) {
    if (!isObject(v) ||
        typeof v.mediaType !== 'string' ||
        typeof v.digest !== 'string' ||
        !isDigest(v.digest) ||
        !Number.isSafeInteger(v.size) ||
        v.size < 0)
        throw new LadingError(`${where} is not a valid descriptor (needs mediaType, a sha256/sha512 digest and a size)`);
    const d = { mediaType: v.mediaType, digest: v.digest, size: v.size };
    const p = v.platform;
    if (isObject(p) && typeof p.os === 'string' && typeof p.architecture === 'string')
        d.platform = { os: p.os, architecture: p.architecture, variant: inspect_str(p.variant) ?? undefined };
    if (isObject(v.annotations))
        d.annotations = strMap(v.annotations);
    if (typeof v.artifactType === 'string')
        d.artifactType = v.artifactType;
    return d;
}
/** Whether a document is an index (else a manifest), by its own mediaType first. */
function isIndexDocument(body, desc, source) {
    const mediaType = inspect_str(body.mediaType) ?? desc.mediaType;
    if (isIndexMediaType(mediaType) || (!isManifestMediaType(mediaType) && 'manifests' in body))
        return true;
    if (isManifestMediaType(mediaType) || 'config' in body)
        return false;
    throw new LadingError(`${desc.digest} in ${source} is neither an image index nor a manifest (media type ${mediaType})`);
}
function entriesOf(body, desc) {
    if (!Array.isArray(body.manifests))
        throw new LadingError(`the index ${desc.digest} has no "manifests" array`);
    return body.manifests.map((m, i) => descriptorAt(m, `manifests[${i}] of the index ${desc.digest}`));
}
function entryKind(d) {
    if (isIndexMediaType(d.mediaType))
        return 'index';
    if (d.annotations?.[REFERENCE_TYPE] === 'attestation-manifest')
        return 'attestation';
    if (d.artifactType !== undefined || !isManifestMediaType(d.mediaType))
        return 'artifact';
    return 'image';
}
function isImageConfig(mediaType) {
    return mediaType === MediaType.ImageConfig || mediaType === MediaType.DockerConfig;
}
/** The platforms of the images of an index, each once, for messages that ask to choose one. */
function offered(entries) {
    const list = entries
        .filter(d => entryKind(d) === 'image' && d.platform)
        .map(d => escapedLine(formatPlatform(d.platform)));
    return list.length ? listed([...new Set(list)]) : 'no image that names a platform';
}
/** The index entry `want` selects among the images of an index, or an error naming them. */
function selectEntry(entries, want, source) {
    const hits = entries.filter(d => entryKind(d) === 'image' && d.platform && platformMatches(want, d.platform));
    if (hits.length === 0)
        throw new LadingError(`no image for ${formatPlatform(want)} in ${source}; it has ${offered(entries)}`);
    if (new Set(hits.map(d => d.digest)).size > 1)
        throw new LadingError(`${hits.length} images in ${source} match ${formatPlatform(want)}: ` +
            listed(hits.map(d => `${escapedLine(formatPlatform(d.platform))} (${d.digest})`)) +
            '; name the platform whole (os/arch/variant)');
    return hits[0];
}
async function readShownDocument(source, desc) {
    if (desc.size > MAX_DOCUMENT)
        throw new LadingError(`${desc.digest} in ${source.name} is ${desc.size} bytes, more than the ${MAX_DOCUMENT} ` +
            'Lading reads as a document');
    return { descriptor: desc, bytes: await source.read(desc) };
}
/**
 * Reads what `want` needs, and nothing else: the top document, the manifest of the image shown
 * (one more read when --platform selects it in an index) and its config.
 */
async function readDocuments(source, opts = {}) {
    const want = opts.want ?? 'facts';
    // A docker save tarball stores no manifest: shown is the one it implies, as skopeo shows it.
    const top = source.impliedManifest ?? (await readShownDocument(source, source.root));
    const docs = { source: source.name, top };
    const body = inspect_parseDocument(top, 'top document');
    if (isIndexDocument(body, top.descriptor, source.name)) {
        const entries = entriesOf(body, top.descriptor);
        if (!opts.platform) {
            if (want === 'config')
                throw new LadingError(`${source.name} is an index (it has ${offered(entries)}); ` +
                    '--config needs --platform to choose one image');
            return docs;
        }
        docs.manifest = await readShownDocument(source, selectEntry(entries, opts.platform, source.name));
    }
    else {
        docs.manifest = top;
    }
    // --raw prints the shown document; only --platform on a single image reads on, to check it.
    if (want === 'raw' && (docs.manifest !== top || !opts.platform))
        return docs;
    const manifest = inspect_parseDocument(docs.manifest, 'manifest');
    if (isIndexDocument(manifest, docs.manifest.descriptor, source.name))
        throw new LadingError(`${docs.manifest.descriptor.digest} in ${source.name} is an index, not an image manifest`);
    const configDesc = descriptorAt(manifest.config, `the config of ${docs.manifest.descriptor.digest}`);
    const image = isImageConfig(configDesc.mediaType) && manifest.artifactType === undefined;
    if (image || want === 'config')
        docs.config = await readShownDocument(source, configDesc);
    if (opts.platform && docs.manifest === top)
        inspect_checkPlatform(docs, opts.platform);
    return docs;
}
/** --platform on a single image: it must be that image's platform, or the user is misled. */
function inspect_checkPlatform(docs, want) {
    const config = docs.config && inspect_parseDocument(docs.config, 'config');
    const platform = config ? configPlatformText(config) : null;
    if (!platform)
        throw new LadingError(`${docs.source} is a single manifest with no platform in a config; --platform selects ` +
            'an image of an index');
    const [os, architecture, variant] = platform.split('/');
    if (!platformMatches(want, { os, architecture, variant }))
        throw new LadingError(`${docs.source} is one image, for ${platform}, not ${formatPlatform(want)}`);
}
function configPlatformText(config) {
    const os = inspect_str(config.os);
    const architecture = inspect_str(config.architecture);
    if (!os || !architecture)
        return null;
    return formatPlatform({ os, architecture, variant: inspect_str(config.variant) ?? undefined });
}
function entryOf(d) {
    const kind = entryKind(d);
    return {
        platform: d.platform ? formatPlatform(d.platform) : null,
        digest: d.digest,
        mediaType: d.mediaType,
        size: d.size,
        kind,
        artifactType: d.artifactType ?? null,
        attests: kind === 'attestation' ? (d.annotations?.[REFERENCE_DIGEST] ?? null) : null,
        annotations: d.annotations ?? {}
    };
}
function inspect_imageOf(doc, configDoc) {
    const m = inspect_parseDocument(doc, 'manifest');
    const where = doc.descriptor.digest;
    const configDesc = descriptorAt(m.config, `the config of ${where}`);
    if (!Array.isArray(m.layers))
        throw new LadingError(`the manifest ${where} has no "layers" array`);
    const layers = m.layers.map((l, i) => descriptorAt(l, `layers[${i}] of ${where}`));
    const artifactType = inspect_str(m.artifactType);
    const kind = isImageConfig(configDesc.mediaType) && artifactType === null ? 'image' : 'artifact';
    // An artifact's config is not an image config: none of its fields mean anything here.
    const config = kind === 'image' && configDoc ? inspect_parseDocument(configDoc, 'config') : {};
    const run = isObject(config.config) ? config.config : {};
    const rootfs = isObject(config.rootfs) ? config.rootfs : {};
    const diffIds = strList(rootfs.diff_ids) ?? [];
    return {
        digest: doc.descriptor.digest,
        mediaType: inspect_str(m.mediaType) ?? doc.descriptor.mediaType,
        size: doc.descriptor.size,
        kind,
        artifactType,
        platform: configPlatformText(config),
        config: { digest: configDesc.digest, mediaType: configDesc.mediaType, size: configDesc.size },
        created: inspect_str(config.created),
        author: inspect_str(config.author),
        user: inspect_str(run.User),
        entrypoint: strList(run.Entrypoint),
        cmd: strList(run.Cmd),
        workingDir: inspect_str(run.WorkingDir),
        env: strList(run.Env) ?? [],
        exposedPorts: keysOf(run.ExposedPorts),
        volumes: keysOf(run.Volumes),
        stopSignal: inspect_str(run.StopSignal),
        labels: strMap(run.Labels),
        annotations: strMap(m.annotations),
        layers: layers.map((l, i) => ({
            digest: l.digest,
            mediaType: l.mediaType,
            size: l.size,
            diffId: kind === 'image' ? (diffIds[i] ?? null) : null
        }))
    };
}
/** The documents read → the facts shown. Pure. */
function inspectionOf(docs) {
    const top = docs.top.descriptor;
    const body = inspect_parseDocument(docs.top, 'top document');
    const manifests = isIndexDocument(body, top, docs.source)
        ? entriesOf(body, top).map(entryOf)
        : null;
    const image = docs.manifest ? inspect_imageOf(docs.manifest, docs.config) : null;
    return {
        source: docs.source,
        digest: top.digest,
        mediaType: inspect_str(body.mediaType) ?? top.mediaType,
        size: top.size,
        kind: manifests ? 'index' : image.kind,
        artifactType: inspect_str(body.artifactType),
        annotations: strMap(body.annotations),
        manifests,
        image
    };
}
/**
 * A docker-archive's layers are checked against their diff_ids as it is converted; inspect
 * reads no layer, so it hands the conversion this scanner, which closes the stream unread.
 */
async function skipLayerScan(raw) {
    raw.destroy();
    return { size: 0, findings: [] };
}

;// CONCATENATED MODULE: ./src/app/inspect-text.ts


/** The longest value shown on a line; the JSON output has every value whole. */
const VALUE_WIDTH = 100;
/** Ends a value that was cut. */
const CUT_MARKER = '…';
/** Hex digits of a digest shown in the layers table (the JSON output has them whole). */
const SHORT_DIGEST = 12;
const LABEL_WIDTH = 14;
const PLATFORM_WIDTH = 32;
const MEDIA_TYPE_WIDTH = 64;
/**
 * A value as one safe line: control characters (a newline in a label, a terminal escape in a
 * hostile image) are written as escapes, and what is longer than `width` is cut.
 */
function shownLine(value, width = VALUE_WIDTH) {
    const escaped = escapedLine(value);
    const chars = Array.from(escaped);
    return chars.length <= width ? escaped : chars.slice(0, width - 1).join('') + CUT_MARKER;
}
function shortDigest(digest) {
    const i = digest.indexOf(':');
    const hex = digest.slice(i + 1);
    return hex.length <= SHORT_DIGEST ? digest : digest.slice(0, i + 1 + SHORT_DIGEST) + CUT_MARKER;
}
/** `label  value`, or the label with one line per value (several values), or `-` (none). */
function field(label, values) {
    const list = values === null ? [] : Array.isArray(values) ? values : [values];
    const pad = ' '.repeat(LABEL_WIDTH);
    if (list.length === 0)
        return [`${label.padEnd(LABEL_WIDTH)}-`];
    return list.map((v, i) => `${i === 0 ? label.padEnd(LABEL_WIDTH) : pad}${shownLine(v)}`);
}
const pairs = (m) => Object.entries(m).map(([k, v]) => `${k}=${v}`);
const argv = (a) => (a === null ? null : JSON.stringify(a));
/** Rows of cells as columns, each as wide as its widest cell (the last one not padded). */
function table(rows) {
    const widths = rows[0].map((_, c) => Math.max(...rows.map(r => r[c].length)));
    return rows.map(r => '  ' + r.map((cell, c) => (c < r.length - 1 ? cell.padEnd(widths[c]) : cell)).join('  '));
}
function entriesBlock(entries) {
    const rows = [['PLATFORM', 'KIND', 'SIZE', 'DIGEST']];
    for (const e of entries) {
        const digest = e.attests ? `${e.digest} (of ${shortDigest(e.attests)})` : e.digest;
        rows.push([
            shownLine(e.platform ?? '-', PLATFORM_WIDTH),
            e.kind,
            humanSize(e.size),
            shownLine(digest, 2 * VALUE_WIDTH)
        ]);
    }
    const lines = [`manifests (${entries.length}):`, ...table(rows)];
    const first = entries.find(e => e.kind === 'image' && e.platform);
    if (first)
        lines.push(`inspect one image with --platform, e.g. --platform ${shownLine(first.platform)}`);
    return lines;
}
function layersBlock(layers, kind) {
    const total = layers.reduce((n, l) => n + l.size, 0);
    const head = kind === 'image'
        ? ['#', 'DIGEST', 'SIZE', 'MEDIA TYPE', 'DIFF_ID']
        : ['#', 'DIGEST', 'SIZE', 'MEDIA TYPE'];
    const rows = [head];
    for (const [i, l] of layers.entries()) {
        const row = [
            String(i),
            shortDigest(l.digest),
            humanSize(l.size),
            shownLine(l.mediaType, MEDIA_TYPE_WIDTH)
        ];
        if (kind === 'image')
            row.push(l.diffId ? shortDigest(l.diffId) : '-');
        rows.push(row);
    }
    const what = kind === 'image' ? 'layers' : 'blobs';
    const title = `${what} (${layers.length}, ${humanSize(total)} compressed):`;
    return layers.length ? [title, ...table(rows)] : [`${what.padEnd(LABEL_WIDTH)}-`];
}
function imageBlock(img) {
    const config = [img.config.digest, `${img.config.mediaType}, ${humanSize(img.config.size)}`];
    if (img.kind === 'artifact')
        return [
            ...field('artifact type', img.artifactType),
            ...field('config', config),
            ...field('annotations', pairs(img.annotations)),
            ...layersBlock(img.layers, img.kind)
        ];
    return [
        ...field('platform', img.platform),
        ...field('created', img.created),
        ...(img.author !== null ? field('author', img.author) : []),
        ...field('user', img.user),
        ...field('entrypoint', argv(img.entrypoint)),
        ...field('cmd', argv(img.cmd)),
        ...field('workdir', img.workingDir),
        ...field('env', img.env),
        ...field('exposed ports', img.exposedPorts.join(', ') || null),
        ...(img.volumes.length ? field('volumes', img.volumes.join(', ')) : []),
        ...(img.stopSignal !== null ? field('stop signal', img.stopSignal) : []),
        ...field('labels', pairs(img.labels)),
        ...field('annotations', pairs(img.annotations)),
        ...field('config', config),
        ...layersBlock(img.layers, img.kind)
    ];
}
function inspect_text_header(digest, mediaType, size, kind) {
    return [
        ...field('digest', digest),
        ...field('media type', mediaType),
        ...field('size', humanSize(size)),
        ...field('kind', kind)
    ];
}
function formatInspection(i) {
    const lines = [...field('source', i.source), ...inspect_text_header(i.digest, i.mediaType, i.size, i.kind)];
    if (i.manifests) {
        if (i.artifactType !== null)
            lines.push(...field('artifact type', i.artifactType));
        if (Object.keys(i.annotations).length)
            lines.push(...field('annotations', pairs(i.annotations)));
        if (i.image) {
            const img = i.image;
            lines.push('', `image ${shownLine(img.platform ?? '')}`.trimEnd() + ':');
            lines.push(...inspect_text_header(img.digest, img.mediaType, img.size, img.kind), ...imageBlock(img));
        }
        else {
            lines.push(...entriesBlock(i.manifests));
        }
    }
    else if (i.image) {
        lines.push(...imageBlock(i.image));
    }
    return lines.join('\n') + '\n';
}

;// CONCATENATED MODULE: ./src/cli/referrers.ts
/**
 * `lading referrers REF`: the artifacts that refer to an image (signatures, SBOMs, attestations),
 * as the registry lists them through its referrers API or, lacking one, under the fallback tag.
 * The list and each manifest it names are checked against the distribution spec's rules.
 */






/** Lists the referrers of the image `reference` names (a tag is resolved to its digest first). */
async function referrersOf(reference, opts) {
    let ref;
    try {
        ref = parseReference(reference, { defaultTag: 'latest' });
    }
    catch (err) {
        throw new LadingError(`referrers: ${err.message}`);
    }
    const target = {
        client: new RegistryClient(ref.registry, opts),
        repository: ref.repository,
        scopes: [repositoryScope(ref.repository, 'pull')]
    };
    const subject = ref.digest ?? (await getManifest(target, ref.tag ?? 'latest')).descriptor.digest;
    const list = await listReferrers(target, subject);
    const entries = isObject(list.index) && Array.isArray(list.index.manifests) ? list.index.manifests : [];
    const referrers = entries.filter(isObject);
    const manifests = new Map();
    for (const d of referrers) {
        if (typeof d.digest !== 'string')
            continue;
        const m = await getManifest(target, d.digest);
        manifests.set(d.digest, parseJSONValue(m.bytes, `referrer ${d.digest}`));
    }
    const where = list.via === 'api' ? `referrers of ${subject}` : `tag ${fallbackTag(subject)}`;
    return {
        subject,
        via: list.via,
        tag: list.via === 'tag' ? fallbackTag(subject) : undefined,
        referrers,
        findings: checkReferrersList(list.index, subject, where, manifests)
    };
}
/** The listing as a table: digest, artifact type, size, and the title and creation annotations. */
function formatReferrers(l) {
    const head = `referrers of ${l.subject} (${l.via === 'api' ? 'referrers API' : `fallback tag ${l.tag}`}): ${l.referrers.length}\n`;
    if (l.referrers.length === 0)
        return head;
    const rows = l.referrers.map(d => [
        d.digest,
        d.artifactType ?? '',
        String(d.size),
        d.annotations?.['org.opencontainers.image.title'] ?? '',
        d.annotations?.['org.opencontainers.image.created'] ?? ''
    ]);
    const table = [['DIGEST', 'ARTIFACT TYPE', 'SIZE', 'TITLE', 'CREATED'], ...rows];
    const widths = table[0].map((_, i) => Math.max(...table.map(r => r[i].length)));
    return (head +
        table
            .map(r => r
            .map((c, i) => c.padEnd(widths[i]))
            .join('  ')
            .trimEnd())
            .join('\n') +
        '\n');
}

;// CONCATENATED MODULE: ./src/cli/cli.ts
/** The CLI: argv → the same plan as the action → the same engine. */





















const VERSION = '0.1.0';
/** A mistake in how the CLI was called (exit status 2), rather than in what it was asked to do. */
class UsageError extends LadingError {
}
const USAGE = `lading ${VERSION} — build, reassemble, validate and push OCI images, with no Docker daemon

Usage:
  lading build [options]              assemble an image into an OCI layout (and push it when --tags is given)
  lading validate SOURCE [options]    validate an image against the OCI Image Spec v1.1.1
  lading inspect SOURCE [options]     show an image: its index entries, config and layers (no layer is read)
  lading referrers HOST/REPO[:TAG|@DIGEST] [options]
                                      list the artifacts that refer to an image (referrers API or fallback tag)
  lading --help | --version

build options (the action's inputs but summary; list inputs take one item per flag, or several lines):
  --from SOURCE             scratch | oci:PATH[:REF] | oci-archive:PATH[:REF] | docker-archive:PATH |
                            docker-daemon:IMAGE |
                            [docker://]HOST/REPO[:TAG|@DIGEST]; repeat to merge into one index
  --platforms P             os/arch[/variant], repeatable or comma-separated
  --layers [--chown=UID[:GID]] [--chmod=MODE] SOURCE[:DEST]
                            a directory, a tarball or a file; repeatable, applied in order;
                            \${TARGETOS}, \${TARGETARCH}, \${TARGETVARIANT}, \${TARGETPLATFORM} per platform
  --entrypoint CMD          JSON array or shell words      --cmd CMD
  --env KEY=VALUE           repeatable                     --workdir DIR   --user USER
  --labels k=v              repeatable
  --annotations [LEVEL:]k=v LEVEL: manifest, index, manifest-descriptor, index-descriptor;
                            manifest[os/arch]: and manifest-descriptor[os/arch]: for one platform
  --exposed-ports 8080/tcp  repeatable                     --created RFC3339|UNIX-SECONDS
  --compression gzip|zstd|none   --compression-level N
  --cache-from IMAGE        an image (registry reference or oci:PATH) whose layers a new layer may
                            reuse instead of compressing it again; repeatable
  --output DIR              layout directory (default ./oci-layout)
  --archive FILE            also write an oci-archive tar
  --archive-format oci|docker   oci (default) or a docker save tarball of one platform
  --load [true|false]       docker load the result (needs the docker CLI and a daemon)
  --ref-name NAME           ref name in index.json (default latest)
  --fail-on error|warning|never
  --tags HOST/REPO:TAG      repeatable; pushed to only with --push
  --push [true|false]       --push-by-digest [true|false]
  --username U  --password P (or LADING_USERNAME / LADING_PASSWORD)   --github-token T
  --insecure-registries HOST[:PORT]
  --attach PATH[:ARTIFACT_TYPE]  a file to attach to the image as an OCI 1.1 artifact; repeatable

validate options:
  --format text|json        (default text)
  --fail-on error|warning|never

inspect options (SOURCE as for validate; --username, --password, --insecure-registries as for build):
  --platform os/arch[/variant]   the image of an index to show (an index alone lists its entries)
  --format text|json        (default text)
  --raw                     print the top document (or the --platform image's manifest) as stored
  --config                  print the image's config as stored

referrers options (--username, --password, --insecure-registries as for build):
  --format text|json        (default text)

SOURCE: oci:PATH[:REF] or a layout directory, oci-archive:PATH[:REF], docker-archive:PATH[:REPO:TAG],
        [docker://]HOST/REPO[:TAG|@DIGEST]

Exit status: 0 success, 1 failure (including validation), 2 usage error (unknown option or invalid input value).
`;
const BOOLEAN_FLAGS = new Set(['push', 'push-by-digest', 'load']);
const VALIDATE_OPTIONS = new Set(['fail-on', 'username', 'password', 'insecure-registries']);
const INSPECT_OPTIONS = new Set(['username', 'password', 'insecure-registries']);
/** Options of validate and inspect that are not action inputs: with a value, or switches. */
const COMMAND_OPTIONS = new Set(['format', 'platform']);
const SWITCHES = new Set(['raw', 'config']);
/**
 * Inputs of the action that mean nothing in a shell: a usage error says what the CLI does instead,
 * rather than the option being taken and ignored.
 */
const ACTION_ONLY = {
    summary: "is the action's job summary (GITHUB_STEP_SUMMARY), which the CLI does not write: " +
        'build prints its outputs and findings, and writes the report beside the layout (OUTPUT-report.json); ' +
        'validate prints its report (--format json for all of it)'
};
/** Inputs that are lists: the only options that may be repeated. */
const LIST_INPUTS = new Set([
    'from',
    'platforms',
    'layers',
    'env',
    'labels',
    'annotations',
    'exposed-ports',
    'tags',
    'insecure-registries',
    'cache-from',
    'attach'
]);
function parseArgs(args) {
    const inputs = {};
    const extra = {};
    const positional = [];
    for (let i = 0; i < args.length; i++) {
        const a = args[i];
        if (!a.startsWith('--')) {
            positional.push(a);
            continue;
        }
        let name = a.slice(2);
        let value;
        const eq = name.indexOf('=');
        if (eq >= 0) {
            value = name.slice(eq + 1);
            name = name.slice(0, eq);
        }
        const actionOnly = ACTION_ONLY[name];
        if (actionOnly !== undefined)
            throw new UsageError(`--${name} ${actionOnly}`);
        const isCommandOption = COMMAND_OPTIONS.has(name) || SWITCHES.has(name);
        if (!isInputName(name) && !isCommandOption)
            throw new UsageError(`unknown option --${name}; see lading --help`);
        if (SWITCHES.has(name)) {
            if (value !== undefined)
                throw new UsageError(`option --${name} takes no value`);
            value = 'true';
        }
        else if (value === undefined) {
            if (BOOLEAN_FLAGS.has(name) && (i + 1 >= args.length || args[i + 1].startsWith('--')))
                value = 'true';
            else if (i + 1 < args.length)
                value = args[++i];
            else
                throw new UsageError(`option --${name} needs a value`);
        }
        if (isCommandOption || !isInputName(name)) {
            if (extra[name] !== undefined)
                throw new UsageError(`option --${name} is given twice; it takes one value`);
            extra[name] = value;
            continue;
        }
        if (inputs[name] && !LIST_INPUTS.has(name))
            throw new UsageError(`option --${name} is given twice; it takes one value`);
        (inputs[name] ??= []).push(value);
    }
    const given = {};
    for (const name of Object.keys(inputs))
        given[name] = inputs[name]?.join('\n');
    return { inputs: given, positional, extra };
}
async function main(argv, given = defaultIO, env = process.env) {
    // What goes to stderr is log text, and may quote the input: see commandFree.
    const io = { ...given, err: s => given.err(commandFree(s)) };
    const [command, ...rest] = argv;
    if (!command || command === '--help' || command === '-h' || command === 'help') {
        io.out(USAGE);
        return command ? 0 : 2;
    }
    if (command === '--version') {
        io.out(VERSION + '\n');
        return 0;
    }
    try {
        if (rest.includes('--help') || rest.includes('-h')) {
            io.out(USAGE);
            return 0;
        }
        if (command === 'build')
            return await build(rest, io, env);
        if (command === 'validate')
            return await validate(rest, io);
        if (command === 'inspect')
            return await inspect(rest, io, env);
        if (command === 'referrers')
            return await referrers(rest, io, env);
        io.err(`lading: unknown command "${command}"; see lading --help\n`);
        return 2;
    }
    catch (err) {
        if (err instanceof LadingError) {
            io.err(`lading: ${err.message}\n`);
            return err instanceof UsageError ? 2 : 1;
        }
        io.err(`lading: internal error (please report it): ${err instanceof Error ? err.stack : String(err)}\n`);
        return 1;
    }
}
async function build(args, io, env) {
    const { inputs, positional, extra } = parseArgs(args);
    const strayOption = Object.keys(extra)[0];
    if (strayOption !== undefined)
        throw new UsageError(`build does not take --${strayOption}; see lading --help`);
    if (positional.length)
        throw new UsageError(`unexpected argument "${positional[0]}"; see lading --help`);
    inputs.username ??= env.LADING_USERNAME ?? '';
    inputs.password ??= env.LADING_PASSWORD ?? '';
    let plan;
    try {
        plan = makePlan(withDefaults(inputs), { ...env, RUNNER_TEMP: env.RUNNER_TEMP });
    }
    catch (err) {
        throw err instanceof LadingError && !(err instanceof UsageError)
            ? new UsageError(err.message)
            : err;
    }
    const file = reportPath(plan.output);
    const ctx = newRunContext({ info: m => io.err(m + '\n'), warning: m => io.err(`warning: ${m}\n`) }, undefined, { verdicts: new FileVerdicts(defaultVerdictsDir(env)) });
    const release = cleanUpOnSignals(ctx);
    let outcome;
    try {
        outcome = await runPlan(plan, ctx);
    }
    finally {
        release();
    }
    await writeReport(file, outcome.report);
    if (outcome.report.findings.length)
        io.err(formatReport(outcome.report) + '\n');
    switch (outcome.status) {
        case 'ok':
            io.out(outputLines(outcome.result, file));
            return 0;
        case 'invalid':
            io.out(`valid: false\nreport: ${file}\n`);
            throw new LadingError(invalidMessage(outcome.what, outcome.report));
        case 'push-failed':
            io.out(outputLines(outcome.result, file));
            throw new LadingError(pushFailedMessage(outcome.result, outcome.message));
    }
}
function outputLines(r, file) {
    const lines = Object.entries(outputsOf(r))
        .filter(([, v]) => v !== '' && v !== '[]')
        .map(([k, v]) => `${k}: ${v}`);
    return [...lines, `valid: ${r.report.valid}`, `report: ${file}`].join('\n') + '\n';
}
async function validate(args, io) {
    const { inputs, positional, extra } = parseArgs(args);
    if (positional.length !== 1)
        throw new UsageError('validate needs exactly one SOURCE, e.g. lading validate oci:./layout');
    const stray = [...Object.keys(inputs), ...Object.keys(extra)].filter(k => !VALIDATE_OPTIONS.has(k) && k !== 'format');
    if (stray.length)
        throw new UsageError(`validate does not take --${stray[0]}; see lading --help`);
    const format = formatOf(extra);
    let failOn;
    try {
        failOn = parseFailOn(inputs['fail-on'] ?? INPUT_DEFAULTS['fail-on'], '--fail-on');
    }
    catch (err) {
        throw new UsageError(errors_messageOf(err));
    }
    const { line, spec } = sourceOf(positional[0], 'validate');
    // Every layer is read and decompressed: the scans tell memory relief of the Buffers they leave.
    const relief = new MemoryRelief();
    const scans = new ScanCache(undefined, relief);
    let report;
    if (spec.kind === 'oci' && !external_node_fs_namespaceObject.existsSync(spec.path))
        throw new LadingError(`validate: "${line}": the directory ${spec.path} does not exist`);
    if (spec.kind === 'oci' && !spec.ref) {
        report = makeReport((await validateLayout(spec.path, { scans })).findings, failOn);
    }
    else if (spec.kind === 'scratch') {
        throw new LadingError('validate: scratch is an empty base, there is nothing to validate');
    }
    else {
        // Layers too, wherever the image lives: validating is what was asked for.
        const { source, findings } = await openAndValidate(spec, line, {
            username: inputs.username,
            password: inputs.password,
            insecureRegistries: parseList(inputs['insecure-registries'] ?? '', { commas: true })
        }, { scans, relief }, { checkLayers: true });
        for (const w of source?.warnings ?? [])
            io.err(`warning: ${w}\n`);
        await source?.close?.();
        report = makeReport(findings, failOn);
    }
    io.out(format === 'json' ? JSON.stringify(report, null, 2) + '\n' : formatReport(report) + '\n');
    return report.valid || failOn === 'never' ? 0 : 1;
}
function formatOf(extra) {
    const format = extra.format ?? 'text';
    if (format !== 'text' && format !== 'json')
        throw new UsageError(`--format: "${format}" is not text or json`);
    return format;
}
/** SOURCE as validate and inspect take it: a transport line, or a layout directory as such. */
function sourceOf(arg, command) {
    let line = arg;
    if (!/^[a-z-]+:/.test(line) && external_node_fs_namespaceObject.existsSync(line)) {
        if (!external_node_fs_namespaceObject.statSync(line).isDirectory())
            throw new LadingError(`${command}: "${line}" is a file; name its format: oci-archive:${line} or docker-archive:${line}`);
        line = `oci:${line}`;
    }
    return { line, spec: parseSourceSpec(line) };
}
async function inspect(args, io, env) {
    const { inputs, positional, extra } = parseArgs(args);
    if (positional.length !== 1)
        throw new UsageError('inspect needs exactly one SOURCE, e.g. lading inspect oci:./layout');
    const stray = Object.keys(inputs).filter(k => !INSPECT_OPTIONS.has(k));
    if (stray.length)
        throw new UsageError(`inspect does not take --${stray[0]}; see lading --help`);
    const format = formatOf(extra);
    if (extra.raw && extra.config)
        throw new UsageError('--raw and --config: choose one');
    const want = extra.raw ? 'raw' : extra.config ? 'config' : 'facts';
    if (want !== 'facts' && extra.format !== undefined)
        throw new UsageError(`--${want} prints the document as stored; it takes no --format`);
    let platform;
    try {
        platform = extra.platform === undefined ? undefined : parsePlatform(extra.platform);
    }
    catch (err) {
        throw err instanceof LadingError ? new UsageError(`--platform: ${err.message}`) : err;
    }
    const { line, spec } = sourceOf(positional[0], 'inspect');
    if (spec.kind === 'scratch')
        throw new LadingError('inspect: scratch is an empty base, there is nothing to inspect');
    const auth = {
        username: inputs.username ?? env.LADING_USERNAME ?? '',
        password: inputs.password ?? env.LADING_PASSWORD ?? '',
        insecureRegistries: parseList(inputs['insecure-registries'] ?? '', { commas: true })
    };
    const temps = new Temps();
    const source = await openSource(spec, line, auth, temps, skipLayerScan);
    for (const w of source.warnings ?? [])
        io.err(`warning: ${w}\n`);
    try {
        const docs = await readDocuments(source, { platform, want });
        // With --platform, the document shown is the image selected (or the one image, checked).
        if (want === 'raw')
            io.bytes((platform && docs.manifest ? docs.manifest : docs.top).bytes);
        else if (want === 'config')
            io.bytes(docs.config.bytes);
        else {
            const facts = inspectionOf(docs);
            io.out(format === 'json' ? JSON.stringify(facts, null, 2) + '\n' : formatInspection(facts));
        }
        return 0;
    }
    finally {
        await source.close?.();
        temps.removeAll();
    }
}
async function referrers(args, io, env) {
    const { inputs, positional, extra } = parseArgs(args);
    if (positional.length !== 1)
        throw new UsageError('referrers needs exactly one image, e.g. lading referrers ghcr.io/o/r:1');
    const stray = [...Object.keys(inputs), ...Object.keys(extra)].filter(k => !INSPECT_OPTIONS.has(k) && k !== 'format');
    if (stray.length)
        throw new UsageError(`referrers does not take --${stray[0]}; see lading --help`);
    const format = formatOf(extra);
    const listing = await referrersOf(positional[0].replace(/^docker:\/\//, ''), {
        username: inputs.username ?? env.LADING_USERNAME ?? '',
        password: inputs.password ?? env.LADING_PASSWORD ?? '',
        insecureRegistries: parseList(inputs['insecure-registries'] ?? '', { commas: true })
    });
    const report = makeReport(listing.findings);
    if (format === 'json')
        io.out(JSON.stringify(listing, null, 2) + '\n');
    else {
        io.out(formatReferrers(listing));
        if (listing.findings.length)
            io.err(formatReport(report) + '\n');
    }
    return report.valid ? 0 : 1;
}
const defaultIO = {
    out: s => process.stdout.write(s),
    bytes: b => process.stdout.write(b),
    err: s => process.stderr.write(s)
};


/***/ }),

/***/ 486:
/***/ ((module, __unused_webpack___webpack_exports__, __nccwpck_require__) => {

__nccwpck_require__.a(module, async (__webpack_handle_async_dependencies__, __webpack_async_result__) => { try {
/* harmony import */ var _cli_js__WEBPACK_IMPORTED_MODULE_0__ = __nccwpck_require__(153);

process.exitCode = await (0,_cli_js__WEBPACK_IMPORTED_MODULE_0__/* .main */ .iW)(process.argv.slice(2));

__webpack_async_result__();
} catch(e) { __webpack_async_result__(e); } }, 1);

/***/ }),

/***/ 434:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("events");

/***/ }),

/***/ 896:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("fs");

/***/ })

/******/ });
/************************************************************************/
/******/ // The module cache
/******/ var __webpack_module_cache__ = {};
/******/ 
/******/ // The require function
/******/ function __nccwpck_require__(moduleId) {
/******/ 	// Check if module is in cache
/******/ 	var cachedModule = __webpack_module_cache__[moduleId];
/******/ 	if (cachedModule !== undefined) {
/******/ 		return cachedModule.exports;
/******/ 	}
/******/ 	// Create a new module (and put it into the cache)
/******/ 	var module = __webpack_module_cache__[moduleId] = {
/******/ 		// no module.id needed
/******/ 		// no module.loaded needed
/******/ 		exports: {}
/******/ 	};
/******/ 
/******/ 	// Execute the module function
/******/ 	var threw = true;
/******/ 	try {
/******/ 		__webpack_modules__[moduleId](module, module.exports, __nccwpck_require__);
/******/ 		threw = false;
/******/ 	} finally {
/******/ 		if(threw) delete __webpack_module_cache__[moduleId];
/******/ 	}
/******/ 
/******/ 	// Return the exports of the module
/******/ 	return module.exports;
/******/ }
/******/ 
/************************************************************************/
/******/ /* webpack/runtime/asset-relocator-loader */
/******/ if (typeof __nccwpck_require__ !== 'undefined') __nccwpck_require__.ab = decodeURIComponent(new URL('.', import.meta.url).pathname).slice(import.meta.url.match(/^file:\/\/\/\w:/) ? 1 : 0, -1) + "/";
/******/ 
/******/ /* webpack/runtime/async module */
/******/ (() => {
/******/ 	var webpackQueues = typeof Symbol === "function" ? Symbol("webpack queues") : "__webpack_queues__";
/******/ 	var webpackExports = typeof Symbol === "function" ? Symbol("webpack exports") : "__webpack_exports__";
/******/ 	var webpackError = typeof Symbol === "function" ? Symbol("webpack error") : "__webpack_error__";
/******/ 	var resolveQueue = (queue) => {
/******/ 		if(queue && queue.d < 1) {
/******/ 			queue.d = 1;
/******/ 			queue.forEach((fn) => (fn.r--));
/******/ 			queue.forEach((fn) => (fn.r-- ? fn.r++ : fn()));
/******/ 		}
/******/ 	}
/******/ 	var wrapDeps = (deps) => (deps.map((dep) => {
/******/ 		if(dep !== null && typeof dep === "object") {
/******/ 			if(dep[webpackQueues]) return dep;
/******/ 			if(dep.then) {
/******/ 				var queue = [];
/******/ 				queue.d = 0;
/******/ 				dep.then((r) => {
/******/ 					obj[webpackExports] = r;
/******/ 					resolveQueue(queue);
/******/ 				}, (e) => {
/******/ 					obj[webpackError] = e;
/******/ 					resolveQueue(queue);
/******/ 				});
/******/ 				var obj = {};
/******/ 				obj[webpackQueues] = (fn) => (fn(queue));
/******/ 				return obj;
/******/ 			}
/******/ 		}
/******/ 		var ret = {};
/******/ 		ret[webpackQueues] = x => {};
/******/ 		ret[webpackExports] = dep;
/******/ 		return ret;
/******/ 	}));
/******/ 	__nccwpck_require__.a = (module, body, hasAwait) => {
/******/ 		var queue;
/******/ 		hasAwait && ((queue = []).d = -1);
/******/ 		var depQueues = new Set();
/******/ 		var exports = module.exports;
/******/ 		var currentDeps;
/******/ 		var outerResolve;
/******/ 		var reject;
/******/ 		var promise = new Promise((resolve, rej) => {
/******/ 			reject = rej;
/******/ 			outerResolve = resolve;
/******/ 		});
/******/ 		promise[webpackExports] = exports;
/******/ 		promise[webpackQueues] = (fn) => (queue && fn(queue), depQueues.forEach(fn), promise["catch"](x => {}));
/******/ 		module.exports = promise;
/******/ 		body((deps) => {
/******/ 			currentDeps = wrapDeps(deps);
/******/ 			var fn;
/******/ 			var getResult = () => (currentDeps.map((d) => {
/******/ 				if(d[webpackError]) throw d[webpackError];
/******/ 				return d[webpackExports];
/******/ 			}))
/******/ 			var promise = new Promise((resolve) => {
/******/ 				fn = () => (resolve(getResult));
/******/ 				fn.r = 0;
/******/ 				var fnQueue = (q) => (q !== queue && !depQueues.has(q) && (depQueues.add(q), q && !q.d && (fn.r++, q.push(fn))));
/******/ 				currentDeps.map((dep) => (dep[webpackQueues](fnQueue)));
/******/ 			});
/******/ 			return fn.r ? promise : getResult();
/******/ 		}, (err) => ((err ? reject(promise[webpackError] = err) : outerResolve(exports)), resolveQueue(queue)));
/******/ 		queue && queue.d < 0 && (queue.d = 0);
/******/ 	};
/******/ })();
/******/ 
/******/ /* webpack/runtime/define property getters */
/******/ (() => {
/******/ 	// define getter functions for harmony exports
/******/ 	__nccwpck_require__.d = (exports, definition) => {
/******/ 		for(var key in definition) {
/******/ 			if(__nccwpck_require__.o(definition, key) && !__nccwpck_require__.o(exports, key)) {
/******/ 				Object.defineProperty(exports, key, { enumerable: true, get: definition[key] });
/******/ 			}
/******/ 		}
/******/ 	};
/******/ })();
/******/ 
/******/ /* webpack/runtime/hasOwnProperty shorthand */
/******/ (() => {
/******/ 	__nccwpck_require__.o = (obj, prop) => (Object.prototype.hasOwnProperty.call(obj, prop))
/******/ })();
/******/ 
/************************************************************************/
/******/ 
/******/ // startup
/******/ // Load entry module and return exports
/******/ // This entry module used 'module' so it can't be inlined
/******/ var __webpack_exports__ = __nccwpck_require__(486);
/******/ __webpack_exports__ = await __webpack_exports__;
/******/ 
