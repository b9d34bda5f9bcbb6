// Typed errors: every failure a user can cause or meet has a class of its own,
// so callers (CLI, app, embedding code) can tell them apart without parsing text.

export class AutosamError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** Bad command-line arguments or API parameters. */
export class UsageError extends AutosamError {}

/** Tensor shapes that do not fit an op; the message names the op and the shapes. */
export class ShapeError extends AutosamError {}

/** No WebGPU, no adapter, a lost device, or a failed GPU call. */
export class DeviceError extends AutosamError {}

/** A request beyond what the adapter allows (binding size, buffer size, workgroup memory). */
export class LimitError extends AutosamError {}

/** Use of a tensor after dispose(). */
export class DisposedTensorError extends AutosamError {}

/** A file that is corrupt, truncated, or not in the format it claims to be. */
export class FormatError extends AutosamError {}

/** Data that parses but makes no sense for the task (labels out of range, empty dataset...). */
export class DataError extends AutosamError {}
