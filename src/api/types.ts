// The data the library API takes and returns: plain typed arrays with their sizes, so a host app
// passes pixels from a canvas, a DICOM viewer or a NIfTI reader without going through files.

/** Typed arrays accepted as image pixels (any intensity range: each image is min-max scaled). */
export type PixelArray = Float32Array | Float64Array | Uint8Array | Uint8ClampedArray | Uint16Array | Int16Array | Int32Array | Uint32Array;

/** A grey 2-D image, row-major: data[y * width + x]. */
export interface Image2D {
  data: PixelArray;
  height: number;
  width: number;
}

/** A label map, row-major: 0 = background, 1..C-1 = the classes. */
export interface LabelMap {
  data: Uint8Array;
  height: number;
  width: number;
}

/**
 * The frozen encoder's output for one image: (C, h, w) channels-first floats, C = 256 for SAM and
 * MobileSAM. `imageSize` is the [height, width] of the image it came from, the default output size
 * of predict().
 */
export interface Embedding {
  data: Float32Array;
  shape: number[];
  imageSize?: [number, number];
}

/** Progress of embed(): images done (of total), how many came from the cache. */
export interface EmbedProgress {
  done: number;
  total: number;
  cached: number;
}
