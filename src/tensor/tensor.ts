// GPU tensors: a pooled buffer plus shape and dtype. Row-major, contiguous, no views.
import { DisposedTensorError } from '../errors.js';
import type { Engine } from '../engine.js';
import type { GradNode } from '../graph/autograd.js';
import { byteSize, halfBitsToFloat, numel, type DType } from './dtype.js';

let nextTensorId = 1;

export class Tensor {
  readonly id = nextTensorId++;
  readonly size: number;
  private _buffer: GPUBuffer | null;
  /** Autograd (src/graph): leaves set this to collect a gradient; op outputs inherit it. */
  requiresGrad = false;
  /** Accumulated gradient of a leaf after backward(). */
  grad: Tensor | null = null;
  /** The recorded op that produced this tensor, when it was produced under autograd. */
  creator: GradNode | null = null;

  constructor(
    readonly engine: Engine,
    readonly shape: readonly number[],
    readonly dtype: DType,
    buffer: GPUBuffer,
  ) {
    this.size = numel(shape);
    this._buffer = buffer;
  }

  get rank(): number {
    return this.shape.length;
  }

  get byteLength(): number {
    return byteSize(this.shape, this.dtype);
  }

  get disposed(): boolean {
    return this._buffer === null;
  }

  /** The GPU buffer; throws if the tensor was disposed (its buffer may already hold other data). */
  get buffer(): GPUBuffer {
    if (!this._buffer) {
      throw new DisposedTensorError(`tensor #${this.id} (shape [${this.shape.join(', ')}]) was used after dispose()`);
    }
    return this._buffer;
  }

  /** Copies the data back to the CPU: f32 and f16 come back as Float32Array, integers as Int32Array/Uint32Array. */
  async read(): Promise<Float32Array | Int32Array | Uint32Array> {
    const bytes = await this.engine.runtime.readBuffer(this.buffer, byteSize(this.shape, this.dtype));
    switch (this.dtype) {
      case 'f32': return new Float32Array(bytes, 0, this.size);
      case 'i32': return new Int32Array(bytes, 0, this.size);
      case 'u32': return new Uint32Array(bytes, 0, this.size);
      case 'f16': {
        const halves = new Uint16Array(bytes, 0, this.size);
        const out = new Float32Array(this.size);
        for (let i = 0; i < out.length; i++) out[i] = halfBitsToFloat(halves[i]);
        return out;
      }
    }
  }

  /** read() for float tensors, typed as Float32Array. */
  async readFloat(): Promise<Float32Array> {
    const data = await this.read();
    if (!(data instanceof Float32Array)) throw new TypeError(`tensor #${this.id} has dtype ${this.dtype}, not a float type`);
    return data;
  }

  /** Returns the buffer to the pool. Safe to call twice. */
  dispose(): void {
    if (!this._buffer) return;
    this.engine.releaseTensor(this, this._buffer);
    this._buffer = null;
  }

  toString(): string {
    return `Tensor#${this.id}(${this.dtype}[${this.shape.join(', ')}]${this.disposed ? ', disposed' : ''})`;
  }
}
