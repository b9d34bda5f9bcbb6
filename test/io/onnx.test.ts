import { describe, expect, it } from 'vitest';
import { FormatError } from '../../src/errors.js';
import { constantTensors, decodeOnnxProto, encodeOnnxProto, readOnnx, tensorAsFloat32, withExtraOutputs, type RawModel } from '../../src/io/onnx.js';
import { modelProtoType, ONNX_ATTRIBUTE_TYPE as A, ONNX_DATA_TYPE as D } from '../../src/io/onnx-schema.js';

const f32Bytes = (values: number[]) => new Uint8Array(new Float32Array(values).buffer);

/** A two-node model (MatMul by an initializer, Add of a Constant) built with protobufjs from the schema. */
function tinyModel(overrides: Record<string, unknown> = {}): Uint8Array {
  const type = modelProtoType();
  const model = {
    ir_version: 7,
    producer_name: 'test',
    opset_import: [{ domain: '', version: 12 }],
    graph: {
      name: 'tiny',
      node: [
        { name: '/lin/MatMul', op_type: 'MatMul', input: ['x', 'W'], output: ['h'] },
        {
          name: '/Constant', op_type: 'Constant', output: ['c'],
          attribute: [{ name: 'value', type: A.TENSOR, t: { dims: [2], data_type: D.FLOAT, float_data: [0.5, -1.5] } }],
        },
        {
          name: '/Add', op_type: 'Add', input: ['h', 'c'], output: ['y'],
          attribute: [
            { name: 'ints', type: A.INTS, ints: [1, -2, 3] },
            { name: 'mode', type: A.STRING, s: new TextEncoder().encode('constant') },
            { name: 'alpha', type: A.FLOAT, f: 0.25 },
          ],
        },
      ],
      initializer: [
        { name: 'W', dims: [3, 2], data_type: D.FLOAT, raw_data: f32Bytes([1, 2, 3, 4, 5, 6]) },
        { name: 'steps', dims: [2], data_type: D.INT64, int64_data: [7, -9] },
      ],
      input: [
        { name: 'x', type: { tensor_type: { elem_type: D.FLOAT, shape: { dim: [{ dim_param: 'batch' }, { dim_value: 3 }] } } } },
        { name: 'W' }, // initializers may also be listed as inputs; readOnnx leaves them out
      ],
      output: [{ name: 'y', type: { tensor_type: { elem_type: D.FLOAT } } }],
      ...overrides,
    },
  };
  return type.encode(type.fromObject(model)).finish();
}

describe('readOnnx', () => {
  it('reads initializers (raw_data and typed fields), nodes, attributes, inputs and outputs', () => {
    const m = readOnnx(tinyModel());
    expect(m.irVersion).toBe(7);
    expect(m.opsetImports).toEqual([{ domain: '', version: 12 }]);
    const w = m.graph.initializers.get('W')!;
    expect(w.dims).toEqual([3, 2]);
    expect(Array.from(w.data as Float32Array)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(Array.from(m.graph.initializers.get('steps')!.data as BigInt64Array)).toEqual([7n, -9n]);
    expect(m.graph.nodes.map((n) => n.opType)).toEqual(['MatMul', 'Constant', 'Add']);
    expect(m.graph.nodes[2].attributes).toEqual({ ints: [1, -2, 3], mode: 'constant', alpha: 0.25 });
    expect(m.graph.inputs).toEqual([{ name: 'x', elemType: D.FLOAT, shape: ['batch', 3] }]);
    expect(m.graph.outputs).toEqual([{ name: 'y', elemType: D.FLOAT, shape: null }]);
    const constants = constantTensors(m);
    expect(Array.from(tensorAsFloat32(constants.get('c')!))).toEqual([0.5, -1.5]);
    expect(constants.has('W')).toBe(true);
  });

  it('round-trips through decode/encode and adds graph outputs', () => {
    const raw: RawModel = withExtraOutputs(decodeOnnxProto(tinyModel()), ['h', 'y']);
    const m = readOnnx(encodeOnnxProto(raw));
    expect(m.graph.outputs.map((o) => o.name)).toEqual(['y', 'h']);
    expect(Array.from(m.graph.initializers.get('W')!.data as Float32Array)).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it('refuses truncated and garbage bytes with FormatError', () => {
    const bytes = tinyModel();
    expect(() => readOnnx(bytes.subarray(0, bytes.length - 7))).toThrow(FormatError);
    expect(() => readOnnx(new Uint8Array([0xff, 0xff, 0xff, 0xff, 0x0f, 1, 2, 3]))).toThrow(FormatError);
    expect(() => readOnnx(new TextEncoder().encode('not an onnx model at all'))).toThrow(FormatError);
    expect(() => readOnnx(new Uint8Array(0))).toThrow(/not an ONNX model/);
  });

  it('refuses raw_data of the wrong length', () => {
    const bad = tinyModel({ initializer: [{ name: 'W', dims: [3, 2], data_type: D.FLOAT, raw_data: f32Bytes([1, 2, 3]) }] });
    expect(() => readOnnx(bad)).toThrow(/raw_data has 12 bytes, expected 24/);
  });

  it('refuses external data with a message that says what to do', () => {
    const external = tinyModel({
      initializer: [{ name: 'W', dims: [3, 2], data_type: D.FLOAT, data_location: 1, external_data: [{ key: 'location', value: 'weights.bin' }] }],
    });
    expect(() => readOnnx(external)).toThrow(FormatError);
    expect(() => readOnnx(external)).toThrow(/external file \('weights.bin'\).*save_as_external_data=False/);
  });
});
