// ONNX model reader: initializers, Constant nodes' values, graph nodes with their attributes, and
// the graph's inputs and outputs, decoded with protobufjs against the onnx.proto subset in
// onnx-schema.ts. This is a weight source for models written in our engine, not an interpreter.
import { FormatError } from '../errors.js';
import { modelProtoType, ONNX_ATTRIBUTE_TYPE, ONNX_DATA_LOCATION, ONNX_DATA_TYPE } from './onnx-schema.js';

export type OnnxTensorData = Float32Array | Float64Array | Int32Array | BigInt64Array | Uint8Array;

export interface OnnxTensor {
  name: string;
  dims: number[];
  /** onnx.TensorProto.DataType (ONNX_DATA_TYPE). */
  dataType: number;
  /** FLOAT -> Float32Array, DOUBLE -> Float64Array, INT64 -> BigInt64Array, INT32/INT16/INT8/UINT16 -> Int32Array, UINT8/BOOL -> Uint8Array. */
  data: OnnxTensorData;
}

export type OnnxAttributeValue = number | bigint | string | number[] | bigint[] | string[] | OnnxTensor | null;

export interface OnnxNode {
  name: string;
  opType: string;
  domain: string;
  inputs: string[];
  outputs: string[];
  attributes: Record<string, OnnxAttributeValue>;
}

export interface OnnxValueInfo {
  name: string;
  /** onnx.TensorProto.DataType of the tensor, 0 when absent. */
  elemType: number;
  /** A number per fixed dimension, the symbol's name for a symbolic one, null when unknown. */
  shape: (number | string | null)[] | null;
}

export interface OnnxGraph {
  name: string;
  nodes: OnnxNode[];
  initializers: Map<string, OnnxTensor>;
  inputs: OnnxValueInfo[];
  outputs: OnnxValueInfo[];
}

export interface OnnxModel {
  irVersion: number;
  producerName: string;
  producerVersion: string;
  opsetImports: { domain: string; version: number }[];
  graph: OnnxGraph;
}

// ---- raw protobuf messages (the shape protobufjs decodes into; snake_case as in onnx.proto) ----

type Int64 = number | { toNumber(): number; toString(): string };

interface RawTensor {
  dims?: Int64[];
  data_type?: number;
  segment?: unknown;
  float_data?: number[];
  int32_data?: number[];
  int64_data?: Int64[];
  double_data?: number[];
  uint64_data?: Int64[];
  string_data?: Uint8Array[];
  name?: string;
  raw_data?: Uint8Array;
  external_data?: { key?: string; value?: string }[];
  data_location?: number;
}

interface RawAttribute {
  name?: string;
  type?: number;
  f?: number;
  i?: Int64;
  s?: Uint8Array;
  t?: RawTensor;
  floats?: number[];
  ints?: Int64[];
  strings?: Uint8Array[];
  g?: unknown;
  graphs?: unknown[];
  tensors?: RawTensor[];
}

interface RawNode {
  input?: string[];
  output?: string[];
  name?: string;
  op_type?: string;
  domain?: string;
  attribute?: RawAttribute[];
}

interface RawValueInfo {
  name?: string;
  type?: { tensor_type?: { elem_type?: number; shape?: { dim?: { dim_value?: Int64; dim_param?: string }[] } } };
}

export interface RawGraph {
  node?: RawNode[];
  name?: string;
  initializer?: RawTensor[];
  input?: RawValueInfo[];
  output?: RawValueInfo[];
  value_info?: RawValueInfo[];
  sparse_initializer?: Uint8Array[];
}

export interface RawModel {
  ir_version?: Int64;
  producer_name?: string;
  producer_version?: string;
  opset_import?: { domain?: string; version?: Int64 }[];
  graph?: RawGraph;
  functions?: Uint8Array[];
  training_info?: Uint8Array[];
}

const toNumber = (v: Int64 | undefined): number => (v === undefined ? 0 : typeof v === 'number' ? v : v.toNumber());
const toBigInt = (v: Int64): bigint => BigInt(typeof v === 'number' ? v : v.toString());
const utf8 = new TextDecoder();
// Not `a.s ? utf8.decode(a.s) : ''`: protobufjs gives an absent bytes field its prototype default,
// an empty plain array, which is truthy and which TextDecoder refuses with a TypeError.
const text = (b: Uint8Array | undefined): string => (b instanceof Uint8Array ? utf8.decode(b) : '');

// ---- decoding -----------------------------------------------------------------------------------

/** Decodes the protobuf bytes of a ModelProto into its raw message (for inspection or rewriting). */
export function decodeOnnxProto(bytes: Uint8Array, source = 'ONNX model'): RawModel {
  let raw: RawModel;
  try {
    raw = modelProtoType().decode(bytes) as unknown as RawModel;
  } catch (err) {
    throw new FormatError(`${source}: not a valid ONNX protobuf (${(err as Error).message})`, { cause: err });
  }
  if (!raw.graph || toNumber(raw.ir_version) === 0) {
    throw new FormatError(`${source}: not an ONNX model (no ir_version or no graph in the protobuf message)`);
  }
  return raw;
}

/** Encodes a raw ModelProto (e.g. one with extra graph outputs added) back to bytes. */
export function encodeOnnxProto(raw: RawModel): Uint8Array {
  const type = modelProtoType();
  return type.encode(type.fromObject(raw as unknown as Record<string, unknown>)).finish();
}

/** Reads an ONNX model from its bytes. External data and sparse initializers are refused. */
export function readOnnx(bytes: Uint8Array, source = 'ONNX model'): OnnxModel {
  const raw = decodeOnnxProto(bytes, source);
  if (raw.functions?.length) throw new FormatError(`${source}: model-local functions are not supported`);
  const g = raw.graph!;
  if (g.sparse_initializer?.length) throw new FormatError(`${source}: sparse initializers are not supported`);
  const initializers = new Map<string, OnnxTensor>();
  for (const t of g.initializer ?? []) {
    const tensor = decodeTensor(t, source);
    initializers.set(tensor.name, tensor);
  }
  return {
    irVersion: toNumber(raw.ir_version),
    producerName: raw.producer_name ?? '',
    producerVersion: raw.producer_version ?? '',
    opsetImports: (raw.opset_import ?? []).map((o) => ({ domain: o.domain ?? '', version: toNumber(o.version) })),
    graph: {
      name: g.name ?? '',
      nodes: (g.node ?? []).map((n) => decodeNode(n, source)),
      initializers,
      inputs: (g.input ?? []).filter((v) => !initializers.has(v.name ?? '')).map(decodeValueInfo),
      outputs: (g.output ?? []).map(decodeValueInfo),
    },
  };
}

function decodeValueInfo(v: RawValueInfo): OnnxValueInfo {
  const tt = v.type?.tensor_type;
  const dims = tt?.shape?.dim;
  return {
    name: v.name ?? '',
    elemType: tt?.elem_type ?? 0,
    shape: dims ? dims.map((d) => (d.dim_param ? d.dim_param : d.dim_value !== undefined ? toNumber(d.dim_value) : null)) : null,
  };
}

function decodeNode(n: RawNode, source: string): OnnxNode {
  const attributes: Record<string, OnnxAttributeValue> = {};
  for (const a of n.attribute ?? []) attributes[a.name ?? ''] = decodeAttribute(a, `${source}: node '${n.name}'`);
  return { name: n.name ?? '', opType: n.op_type ?? '', domain: n.domain ?? '', inputs: n.input ?? [], outputs: n.output ?? [], attributes };
}

function decodeAttribute(a: RawAttribute, where: string): OnnxAttributeValue {
  const T = ONNX_ATTRIBUTE_TYPE;
  switch (a.type) {
    case T.FLOAT: return a.f ?? 0;
    case T.INT: return toNumber(a.i);
    case T.STRING: return text(a.s);
    case T.TENSOR: return a.t ? decodeTensor(a.t, where) : null;
    case T.FLOATS: return a.floats ?? [];
    case T.INTS: return (a.ints ?? []).map(toNumber);
    case T.STRINGS: return (a.strings ?? []).map(text);
    default: return null; // graphs, sparse tensors and type protos: not needed by any model we load
  }
}

const elementCount = (dims: number[]) => dims.reduce((a, b) => a * b, 1);

/** Copies raw little-endian bytes into a fresh (aligned) typed array. */
function fromRaw<T extends OnnxTensorData>(bytes: Uint8Array, n: number, bytesPer: number, make: (buf: ArrayBuffer) => T, what: string): T {
  if (bytes.byteLength !== n * bytesPer) throw new FormatError(`${what}: raw_data has ${bytes.byteLength} bytes, expected ${n * bytesPer}`);
  const copy = new Uint8Array(bytes.byteLength);
  copy.set(bytes);
  return make(copy.buffer);
}

/** Decodes one TensorProto's values from raw_data or its typed field. */
export function decodeTensor(t: RawTensor, source: string): OnnxTensor {
  const name = t.name ?? '';
  const what = `${source}: tensor '${name}'`;
  if (t.data_location === ONNX_DATA_LOCATION.EXTERNAL || (t.external_data?.length ?? 0) > 0) {
    const location = t.external_data?.find((e) => e.key === 'location')?.value ?? '?';
    throw new FormatError(`${what} keeps its data in an external file ('${location}'); external data is not supported: save the model with all tensors inside the .onnx file (onnx.save_model(..., save_as_external_data=False))`);
  }
  if (t.segment) throw new FormatError(`${what} is a segment of a larger tensor; segmented tensors are not supported`);
  const dims = (t.dims ?? []).map(toNumber);
  if (dims.some((d) => !Number.isInteger(d) || d < 0)) throw new FormatError(`${what} has invalid dims [${dims}]`);
  const n = elementCount(dims);
  const dataType = t.data_type ?? 0;
  const raw = t.raw_data && t.raw_data.byteLength > 0 ? t.raw_data : null;
  const D = ONNX_DATA_TYPE;
  let data: OnnxTensorData;
  switch (dataType) {
    case D.FLOAT:
      data = raw ? fromRaw(raw, n, 4, (b) => new Float32Array(b), what) : Float32Array.from(t.float_data ?? []);
      break;
    case D.DOUBLE:
      data = raw ? fromRaw(raw, n, 8, (b) => new Float64Array(b), what) : Float64Array.from(t.double_data ?? []);
      break;
    case D.INT64:
      data = raw ? fromRaw(raw, n, 8, (b) => new BigInt64Array(b), what) : BigInt64Array.from((t.int64_data ?? []).map(toBigInt));
      break;
    case D.INT32:
      data = raw ? fromRaw(raw, n, 4, (b) => new Int32Array(b), what) : Int32Array.from(t.int32_data ?? []);
      break;
    case D.INT16:
    case D.INT8:
    case D.UINT16: {
      if (!raw) { data = Int32Array.from(t.int32_data ?? []); break; }
      const width = dataType === D.INT8 ? 1 : 2;
      const view = fromRaw(raw, n, width, (b) => new Uint8Array(b), what);
      const dv = new DataView(view.buffer);
      data = Int32Array.from({ length: n }, (_, i) => (dataType === D.INT8 ? dv.getInt8(i) : dataType === D.INT16 ? dv.getInt16(2 * i, true) : dv.getUint16(2 * i, true)));
      break;
    }
    case D.UINT8:
    case D.BOOL:
      data = raw ? fromRaw(raw, n, 1, (b) => new Uint8Array(b), what) : Uint8Array.from(t.int32_data ?? []);
      break;
    default:
      throw new FormatError(`${what} has data type ${dataType}, which this reader does not decode`);
  }
  if (data.length !== n) throw new FormatError(`${what}: ${data.length} values for dims [${dims}] (${n} elements)`);
  return { name, dims, dataType, data };
}

// ---- conveniences for weight mapping ------------------------------------------------------------

/** A tensor's values as float32 (FLOAT as is, DOUBLE and integer types converted). */
export function tensorAsFloat32(t: OnnxTensor): Float32Array {
  if (t.data instanceof Float32Array) return t.data;
  if (t.data instanceof BigInt64Array) return Float32Array.from(t.data, (v) => Number(v));
  return Float32Array.from(t.data as ArrayLike<number>);
}

/** Every tensor that a node reads as a constant: initializers plus the values of Constant nodes, by output name. */
export function constantTensors(model: OnnxModel): Map<string, OnnxTensor> {
  const out = new Map(model.graph.initializers);
  for (const node of model.graph.nodes) {
    if (node.opType !== 'Constant') continue;
    const value = node.attributes.value;
    if (value && typeof value === 'object' && 'dims' in value) out.set(node.outputs[0], { ...value, name: node.outputs[0] });
  }
  return out;
}

/** Adds graph outputs (by value name, type float) to a raw model, so a runtime exposes those intermediates. */
export function withExtraOutputs(raw: RawModel, names: readonly string[]): RawModel {
  const graph = raw.graph!;
  const existing = new Set((graph.output ?? []).map((o) => o.name));
  const added = names.filter((n) => !existing.has(n)).map((name) => ({ name, type: { tensor_type: { elem_type: ONNX_DATA_TYPE.FLOAT } } }));
  return { ...raw, graph: { ...graph, output: [...(graph.output ?? []), ...added] } };
}

