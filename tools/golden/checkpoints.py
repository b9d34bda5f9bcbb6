"""Checkpoint fixtures in the real formats, written by the reference code itself.

Writes into test/fixtures/checkpoints/:
  sam_tiny.pth               torch.save(sam.state_dict()) of a TINY segment-anything Sam (the zip format)
  sam_tiny_f16.pth           the same state dict cast to float16
  sam_tiny.safetensors       safetensors.torch.save_file of the same state dict (segment-anything names)
  sam_tiny_hf.safetensors    the same tensors under the Hugging Face facebook/sam-vit-* key names
  dtypes.pth / dtypes.safetensors   one tensor per supported dtype, special values, views and strides
  wrapped.pth                {'model': state_dict, 'epoch': 3, 'note': ...} as training scripts save it
  reference/*.npy + manifest.json   every expected tensor, written by numpy
  attacks/*                  malicious pickles and .pth files, built by hand from pickle opcodes
  attacks.json               for each attack: the file, what must be refused, and its marker file

Run from the repository root:  .venv/bin/python tools/golden/checkpoints.py
(needs torch, numpy and segment-anything from tools/golden/requirements.txt, plus safetensors:
.venv/bin/pip install safetensors==0.8.0).

Weights come from numpy (one generator per tensor, seeded from its name), so the fixtures do not
depend on torch's RNG. The attack payloads are only ever written and disassembled with
pickletools (which reads opcodes and runs nothing); this script never unpickles them.
"""

from __future__ import annotations

import importlib.util
import io
import json
import pickletools
import shutil
import struct
import sys
import types
import zipfile
import zlib
from collections import OrderedDict
from functools import partial
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save_file


def import_sam_modeling():
    """segment_anything/__init__.py imports the predictor, which needs torchvision; the modeling code
    needs only torch, so a bare package object stands in for the top level (as modules.py does)."""
    spec = importlib.util.find_spec("segment_anything")
    if spec is None or spec.submodule_search_locations is None:
        raise SystemExit("segment-anything is not installed: .venv/bin/pip install -r tools/golden/requirements.txt")
    if "segment_anything" not in sys.modules:
        package = types.ModuleType("segment_anything")
        package.__path__ = list(spec.submodule_search_locations)
        sys.modules["segment_anything"] = package
    from segment_anything import modeling

    return modeling


modeling = import_sam_modeling()

SEED = 20240611
OUT_DIR = Path(__file__).resolve().parents[2] / "test" / "fixtures" / "checkpoints"
SIZE_BUDGET_BYTES = 1024 * 1024
MARKER_DIR = "/tmp"


def build_tiny_sam() -> torch.nn.Module:
    """segment-anything's Sam with a tiny ViT: 64x64 image, patch 16 (4x4 tokens), window 2, block 1 global."""
    embed_dim, prompt_dim = 16, 16
    image_encoder = modeling.ImageEncoderViT(
        img_size=64, patch_size=16, in_chans=3, embed_dim=embed_dim, depth=2, num_heads=2, mlp_ratio=4.0,
        out_chans=prompt_dim, qkv_bias=True, norm_layer=partial(torch.nn.LayerNorm, eps=1e-6),
        use_abs_pos=True, use_rel_pos=True, window_size=2, global_attn_indexes=(1,),
    )
    prompt_encoder = modeling.PromptEncoder(
        embed_dim=prompt_dim, image_embedding_size=(4, 4), input_image_size=(64, 64), mask_in_chans=4,
    )
    mask_decoder = modeling.MaskDecoder(
        num_multimask_outputs=3,
        transformer=modeling.TwoWayTransformer(depth=2, embedding_dim=prompt_dim, mlp_dim=32, num_heads=2),
        transformer_dim=prompt_dim, iou_head_depth=3, iou_head_hidden_dim=16,
    )
    return modeling.Sam(image_encoder, prompt_encoder, mask_decoder)


def seeded_state_dict(model: torch.nn.Module) -> "OrderedDict[str, torch.Tensor]":
    state = model.state_dict()
    with torch.no_grad():
        for key, value in state.items():
            rng = np.random.default_rng([SEED, zlib.crc32(key.encode())])
            value.copy_(torch.from_numpy((rng.standard_normal(value.shape) * 0.5).astype(np.float32)))
    return state


def hf_sam_key(key: str) -> str:
    """segment-anything name -> the name in Hugging Face's facebook/sam-vit-* checkpoints, following the
    renaming rules of transformers' SAM conversion script (convert_sam_to_hf.py), re-expressed here."""
    renames = [
        ("iou_prediction_head.layers.0", "iou_prediction_head.proj_in"),
        ("iou_prediction_head.layers.1", "iou_prediction_head.layers.0"),
        ("iou_prediction_head.layers.2", "iou_prediction_head.proj_out"),
        ("mask_decoder.output_upscaling.0", "mask_decoder.upscale_conv1"),
        ("mask_decoder.output_upscaling.1", "mask_decoder.upscale_layer_norm"),
        ("mask_decoder.output_upscaling.3", "mask_decoder.upscale_conv2"),
        ("mask_downscaling.0", "mask_embed.conv1"),
        ("mask_downscaling.1", "mask_embed.layer_norm1"),
        ("mask_downscaling.3", "mask_embed.conv2"),
        ("mask_downscaling.4", "mask_embed.layer_norm2"),
        ("mask_downscaling.6", "mask_embed.conv3"),
        ("point_embeddings", "point_embed"),
        ("pe_layer.positional_encoding_gaussian_matrix", "shared_embedding.positional_embedding"),
        ("image_encoder", "vision_encoder"),
        ("neck.0", "neck.conv1"),
        ("neck.1", "neck.layer_norm1"),
        ("neck.2", "neck.conv2"),
        ("neck.3", "neck.layer_norm2"),
        ("patch_embed.proj", "patch_embed.projection"),
        (".norm", ".layer_norm"),
        ("blocks", "layers"),
    ]
    for old, new in renames:
        if old in key:
            key = key.replace(old, new)
    parts = key.split(".")
    if "output_hypernetworks_mlps" in parts and len(parts) > 4 and parts[3] == "layers":
        parts[3:5] = {"0": ["proj_in"], "1": ["layers", "0"], "2": ["proj_out"]}[parts[4]]
        key = ".".join(parts)
    return key


# ---------------------------------------------------------------- reference dumps

manifest: dict = {"sam_tiny": [], "sam_tiny_f16": [], "dtypes": [], "wrapped": []}


def add_reference(group: str, key: str, array: np.ndarray):
    file = f"{group}/{key}.npy"
    path = OUT_DIR / "reference" / file
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, np.ascontiguousarray(array))
    manifest[group].append({"key": key, "shape": list(array.shape), "dtype": str(array.dtype), "file": file})


def dtypes_state_dict() -> "OrderedDict[str, torch.Tensor]":
    special = np.array([0.0, -0.0, 1.5, np.inf, -np.inf, np.nan, 1e-40, 3.4e38, -2.5e-8], dtype=np.float32)
    base = torch.arange(20, dtype=torch.float32) * 0.25
    grid = torch.from_numpy(np.arange(12, dtype=np.float32).reshape(3, 4) - 5.5)
    return OrderedDict(
        [
            ("f32_special", torch.from_numpy(special)),
            ("f64", torch.tensor([[1.0 / 3.0, -2.0], [1e300, 5e-324]], dtype=torch.float64)),
            ("f16", torch.tensor([0.1, -65504.0, 6e-8, float("inf"), -0.0, 1024.5], dtype=torch.float16)),
            ("bf16", torch.tensor([0.1, -3.0e38, 1e-39, float("nan"), 2.0, -7.25], dtype=torch.bfloat16)),
            ("i64", torch.tensor([-(2**40), -1, 0, 7, 2**53 + 1], dtype=torch.int64)),
            ("i32", torch.tensor([[-(2**31), 2**31 - 1], [0, 42]], dtype=torch.int32)),
            ("u8", torch.tensor([0, 1, 128, 255], dtype=torch.uint8)),
            ("bool", torch.tensor([True, False, True], dtype=torch.bool)),
            ("scalar", torch.tensor(2.75, dtype=torch.float32)),
            ("empty", torch.zeros((0, 3), dtype=torch.float32)),
            # Non-contiguous: shape (4, 3) with strides (1, 4) over a 12-element storage.
            ("transposed", grid.t()),
            # Two views of one storage, at offsets 2 and 10: torch.save writes the storage once.
            ("view_a", base[2:8].view(2, 3)),
            ("view_b", base[10:]),
        ]
    )


def reference_array(t: torch.Tensor) -> np.ndarray:
    """What the loader must return: float dtypes as float32 (numpy's/torch's rounding), integers as stored."""
    if t.dtype in (torch.float16, torch.bfloat16, torch.float64, torch.float32):
        return t.to(torch.float32).contiguous().numpy()
    return t.contiguous().numpy()


# ---------------------------------------------------------------- attack corpus

attacks: list[dict] = []


class P:
    """Pickle opcodes, by hand. Only constants: nothing here imports or calls what it names."""

    PROTO2 = b"\x80\x02"
    PROTO4 = b"\x80\x04"
    MARK, STOP, TUPLE, TUPLE1, TUPLE2, EMPTY_TUPLE = b"(", b".", b"t", b"\x85", b"\x86", b")"
    REDUCE, BUILD, NONE, EMPTY_DICT, SETITEM, STACK_GLOBAL = b"R", b"b", b"N", b"}", b"s", b"\x93"
    BINPERSID, NEWFALSE = b"Q", b"\x89"

    @staticmethod
    def glob(module: str, name: str) -> bytes:
        return b"c" + module.encode() + b"\n" + name.encode() + b"\n"

    @staticmethod
    def s(text: str) -> bytes:  # BINUNICODE
        data = text.encode()
        return b"X" + struct.pack("<I", len(data)) + data

    @staticmethod
    def short(text: str) -> bytes:  # SHORT_BINUNICODE (protocol 4)
        data = text.encode()
        return b"\x8c" + bytes([len(data)]) + data

    @staticmethod
    def binbytes(data: bytes) -> bytes:
        return b"B" + struct.pack("<I", len(data)) + data

    @staticmethod
    def int1(n: int) -> bytes:
        return b"K" + bytes([n])

    @staticmethod
    def int4(n: int) -> bytes:
        """BININT where it fits, else LONG1 (as pickle itself writes large ints)."""
        if -(2**31) <= n < 2**31:
            return b"J" + struct.pack("<i", n)
        data = n.to_bytes((n.bit_length() + 8) // 8, "little", signed=True)
        return b"\x8a" + bytes([len(data)]) + data


def marker_for(name: str) -> str:
    return f"{MARKER_DIR}/autosam-pickle-attack-{name}"


def touch_cmd(name: str) -> str:
    return f"touch {marker_for(name)}"


def call_global(module: str, name: str, *args: bytes, proto4: bool = False) -> bytes:
    """module.name(*args) as GLOBAL (protocol 2) or STACK_GLOBAL (protocol 4) then REDUCE."""
    head = (P.PROTO4 + P.short(module) + P.short(name) + P.STACK_GLOBAL) if proto4 else (P.PROTO2 + P.glob(module, name))
    return head + P.MARK + b"".join(args) + P.TUPLE + P.REDUCE


def add_attack(name: str, payload: bytes, refused: str, description: str, *, as_pth: bool = False):
    pickletools.dis(payload, out=io.StringIO())  # proves the payload is well-formed pickle; runs nothing
    if as_pth:
        file = f"attacks/{name}.pth"
        write_zip_archive(OUT_DIR / file, "archive", {"data.pkl": payload, "data/0": struct.pack("<4f", 1, 2, 3, 4)})
    else:
        file = f"attacks/{name}.pkl"
        (OUT_DIR / file).write_bytes(payload)
    attacks.append({"name": name, "file": file, "refused": refused, "marker": marker_for(name), "description": description})


def write_zip_archive(path: Path, prefix: str, records: dict[str, bytes]):
    """The layout torch.save writes: stored (uncompressed) records under one top-level folder."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as archive:
        for record, data in records.items():
            archive.writestr(f"{prefix}/{record}", data)
        archive.writestr(f"{prefix}/version", b"3\n")


def storage_tensor_pickle(key: str, numel: int, size: tuple[int, ...], storage_class: str = "FloatStorage") -> bytes:
    """An OrderedDict {'w': _rebuild_tensor_v2(storage(key), 0, size, stride, False, OrderedDict())}, as torch.save writes it."""
    stride = []
    acc = 1
    for d in reversed(size):
        stride.insert(0, acc)
        acc *= d
    ints = lambda xs: P.MARK + b"".join(P.int4(x) for x in xs) + P.TUPLE
    persid = P.MARK + P.s("storage") + P.glob("torch", storage_class) + P.s(key) + P.s("cpu") + P.int4(numel) + P.TUPLE + P.BINPERSID
    tensor = (
        P.glob("torch._utils", "_rebuild_tensor_v2")
        + P.MARK + persid + P.int1(0) + ints(size) + ints(stride) + P.NEWFALSE
        + P.glob("collections", "OrderedDict") + P.EMPTY_TUPLE + P.REDUCE + P.TUPLE + P.REDUCE
    )
    return P.PROTO2 + P.glob("collections", "OrderedDict") + P.EMPTY_TUPLE + P.REDUCE + P.s("w") + tensor + P.SETITEM + P.STOP


def build_attacks():
    (OUT_DIR / "attacks").mkdir(parents=True, exist_ok=True)
    os_system = lambda n: call_global("os", "system", P.s(touch_cmd(n))) + P.STOP
    add_attack("global_os_system", os_system("global_os_system"), "os.system", "GLOBAL os.system + REDUCE")
    add_attack("global_posix_system", call_global("posix", "system", P.s(touch_cmd("global_posix_system"))) + P.STOP,
               "posix.system", "GLOBAL posix.system + REDUCE")
    add_attack("global_nt_system", call_global("nt", "system", P.s(touch_cmd("global_nt_system"))) + P.STOP,
               "nt.system", "GLOBAL nt.system (the Windows spelling)")
    popen_args = P.MARK + P.s("touch") + P.s(marker_for("stack_global_subprocess_popen")) + b"l"  # LIST
    add_attack("stack_global_subprocess_popen",
               call_global("subprocess", "Popen", popen_args, proto4=True) + P.STOP,
               "subprocess.Popen", "STACK_GLOBAL subprocess.Popen(['touch', marker])")
    add_attack("subprocess_check_output",
               call_global("subprocess", "check_output", P.s(touch_cmd("subprocess_check_output"))) + P.STOP,
               "subprocess.check_output", "GLOBAL subprocess.check_output")
    py_touch = lambda n: f"open('{marker_for(n)}', 'w').close()"
    add_attack("builtins_eval", call_global("builtins", "eval", P.s(py_touch("builtins_eval"))) + P.STOP,
               "builtins.eval", "GLOBAL builtins.eval of Python source")
    add_attack("builtins_exec", call_global("builtins", "exec", P.s(py_touch("builtins_exec")), proto4=True) + P.STOP,
               "builtins.exec", "STACK_GLOBAL builtins.exec of Python source")
    add_attack("python2_builtin_eval", call_global("__builtin__", "eval", P.s(py_touch("python2_builtin_eval"))) + P.STOP,
               "__builtin__.eval", "GLOBAL __builtin__.eval (Python 2 name, mapped by pickle's fix_imports)")
    add_attack("builtins_open", call_global("builtins", "open", P.s(marker_for("builtins_open")), P.s("w")) + P.STOP,
               "builtins.open", "GLOBAL builtins.open(marker, 'w') creates the file")
    # getattr(__import__('os'), 'system')('touch marker')
    import_os = P.glob("builtins", "__import__") + P.MARK + P.s("os") + P.TUPLE + P.REDUCE
    getattr_chain = P.PROTO2 + P.glob("builtins", "getattr") + P.MARK + import_os + P.s("system") + P.TUPLE + P.REDUCE
    getattr_chain += P.MARK + P.s(touch_cmd("getattr_chain")) + P.TUPLE + P.REDUCE + P.STOP
    add_attack("getattr_chain", getattr_chain, "builtins.getattr", "getattr(__import__('os'), 'system')(...)")
    # Protocol 4 resolves dotted names attribute by attribute: an allowed function's module globals, then os.
    dotted = P.PROTO4 + P.short("torch._utils") + P.short("_rebuild_tensor_v2.__globals__") + P.STACK_GLOBAL + P.STOP
    add_attack("dotted_name_traversal", dotted, "torch._utils._rebuild_tensor_v2.__globals__",
               "STACK_GLOBAL with a dotted name walking out of an allowed function")
    dotted_od = P.PROTO4 + P.short("collections") + P.short("OrderedDict.__class__") + P.STACK_GLOBAL + P.STOP
    add_attack("dotted_name_allowed_prefix", dotted_od, "collections.OrderedDict.__class__",
               "an allowed name followed by an attribute")
    # REDUCE on an allowed global that is not a callable we rebuild with.
    reduce_storage = P.PROTO2 + P.glob("torch", "FloatStorage") + P.MARK + P.int4(2**30) + P.TUPLE + P.REDUCE + P.STOP
    add_attack("reduce_storage_class", reduce_storage, "REDUCE on torch.FloatStorage", "calling a storage class directly")
    reduce_string = P.PROTO2 + P.s("os.system") + P.MARK + P.s("x") + P.TUPLE + P.REDUCE + P.STOP
    add_attack("reduce_non_callable", reduce_string, "REDUCE on str", "REDUCE on a value that is no global at all")
    # BUILD: set __setstate__ on an instance, then BUILD again to call it (a real exploit in Python).
    od = P.glob("collections", "OrderedDict") + P.EMPTY_TUPLE + P.REDUCE
    build_setstate = P.PROTO2 + od + P.NONE + P.EMPTY_DICT + P.s("__setstate__") + P.glob("os", "system") + P.SETITEM
    build_setstate += P.TUPLE2 + P.BUILD + P.s(touch_cmd("build_setstate")) + P.BUILD + P.STOP
    add_attack("build_setstate", build_setstate, "os.system", "BUILD slot state setting __setstate__ = os.system, then BUILD")
    build_slots = P.PROTO2 + od + P.NONE + P.EMPTY_DICT + P.s("__class__") + P.s("x") + P.SETITEM + P.TUPLE2 + P.BUILD + P.STOP
    add_attack("build_slot_state", build_slots, "BUILD", "BUILD with (None, slotstate): attribute assignment")
    build_on_str = P.PROTO2 + P.s("victim") + P.EMPTY_DICT + P.BUILD + P.STOP
    add_attack("build_on_non_dict", build_on_str, "BUILD", "BUILD on a value that is not an OrderedDict")
    # INST and OBJ: the protocol 0/1 ways to call a class.
    inst = P.PROTO2 + P.MARK + P.s(touch_cmd("inst_os_system")) + b"ios\nsystem\n" + P.STOP
    add_attack("inst_os_system", inst, "INST", "INST os.system (the protocol 0 way to call a class)")
    obj = P.PROTO2 + P.MARK + P.glob("os", "system") + P.s(touch_cmd("obj_os_system")) + b"o" + P.STOP
    add_attack("obj_os_system", obj, "os.system", "OBJ opcode with os.system")
    newobj = P.PROTO2 + P.glob("collections", "OrderedDict") + P.EMPTY_TUPLE + b"\x81" + P.STOP
    add_attack("newobj", newobj, "NEWOBJ", "NEWOBJ (cls.__new__) on an allowed class")
    add_attack("ext1", P.PROTO2 + b"\x82\x01" + P.STOP, "EXT1", "extension registry lookup")
    add_attack("text_persid", P.PROTO2 + b"P0\n" + P.STOP, "PERSID", "text persistent id (not what torch.save writes)")
    # Nested pickles: a pickle inside bytes, handed to a loader.
    inner = os_system("nested_pickle_loads")
    nested = call_global("pickle", "loads", P.binbytes(inner)) + P.STOP
    add_attack("nested_pickle_loads", nested, "pickle.loads", "pickle.loads(b'<os.system pickle>')")
    nested_c = call_global("_pickle", "loads", P.binbytes(os_system("nested_cpickle_loads"))) + P.STOP
    add_attack("nested_cpickle_loads", nested_c, "_pickle.loads", "_pickle.loads of a nested pickle")
    torch_load = call_global("torch", "load", P.s(marker_for("torch_load"))) + P.STOP
    add_attack("torch_load", torch_load, "torch.load", "torch.load of another file")
    numpy_load = call_global("numpy", "load", P.s("/etc/passwd"), P.s("r")) + P.STOP
    add_attack("numpy_load", numpy_load, "numpy.load", "numpy.load with allow_pickle")
    add_attack("runpy", call_global("runpy", "_run_code", P.s(py_touch("runpy")), P.EMPTY_DICT) + P.STOP,
               "runpy._run_code", "runpy._run_code")
    add_attack("torch_rebuild_from_type", call_global("torch._tensor", "_rebuild_from_type_v2", P.NONE) + P.STOP,
               "torch._tensor._rebuild_from_type_v2", "tensor subclass rebuild (calls a pickled type)")
    # The same attacks inside the zip layout torch.load reads.
    add_attack("pth_os_system", os_system("pth_os_system"), "os.system", ".pth whose data.pkl calls os.system", as_pth=True)
    add_attack("pth_persid_outside_archive", storage_tensor_pickle("../../../../etc/passwd", 4, (4,)),
               "../../../../etc/passwd", "persistent id naming a path outside the archive", as_pth=True)
    add_attack("pth_persid_absolute", storage_tensor_pickle("/etc/passwd", 4, (4,)),
               "/etc/passwd", "persistent id with an absolute path", as_pth=True)
    add_attack("pth_persid_missing_record", storage_tensor_pickle("7", 4, (4,)),
               "7", "persistent id naming a record the archive does not hold", as_pth=True)
    add_attack("pth_persid_data_pkl", storage_tensor_pickle("../data.pkl", 4, (4,)),
               "../data.pkl", "persistent id pointing at the pickle itself", as_pth=True)
    add_attack("pth_storage_class_unknown", storage_tensor_pickle("0", 4, (4,), "UntypedStorage"),
               "torch.UntypedStorage", "a storage class outside the allowlist", as_pth=True)
    add_attack("pth_gigabyte_claim", storage_tensor_pickle("0", 2**40, (2**20, 2**20)),
               "1099511627776", "storage claims 2^40 floats; the record holds 4", as_pth=True)


def main():
    if OUT_DIR.exists():
        shutil.rmtree(OUT_DIR)
    OUT_DIR.mkdir(parents=True)
    torch.manual_seed(0)  # unused by the weights (numpy draws them); keeps any default init deterministic

    sam = build_tiny_sam()
    state = seeded_state_dict(sam)
    torch.save(state, OUT_DIR / "sam_tiny.pth")
    for key, value in state.items():
        add_reference("sam_tiny", key, value.numpy())

    state_f16 = OrderedDict((k, v.half()) for k, v in state.items())
    torch.save(state_f16, OUT_DIR / "sam_tiny_f16.pth")
    for key, value in state_f16.items():
        add_reference("sam_tiny_f16", key, value.numpy())

    save_file({k: v.contiguous() for k, v in state.items()}, str(OUT_DIR / "sam_tiny.safetensors"), metadata={"format": "pt"})
    hf = {hf_sam_key(k): v.contiguous() for k, v in state.items()}
    # SamModel shares the prompt encoder's positional embedding with the top-level shared_image_embedding.
    hf["shared_image_embedding.positional_embedding"] = hf["prompt_encoder.shared_embedding.positional_embedding"].clone()
    save_file(hf, str(OUT_DIR / "sam_tiny_hf.safetensors"), metadata={"format": "pt"})
    manifest["hf_key_map"] = {hf_sam_key(k): k for k in state}

    dtypes = dtypes_state_dict()
    torch.save(dtypes, OUT_DIR / "dtypes.pth")
    save_file({k: v.contiguous().clone() for k, v in dtypes.items()}, str(OUT_DIR / "dtypes.safetensors"))
    for key, value in dtypes.items():
        add_reference("dtypes", key, reference_array(value))

    small = OrderedDict((k, v) for k, v in state.items() if k.startswith("prompt_encoder."))
    torch.save({"model": small, "epoch": 3, "note": "trained 3 epochs", "lr": 1e-4}, OUT_DIR / "wrapped.pth")
    for key, value in small.items():
        add_reference("wrapped", key, value.numpy())

    build_attacks()
    (OUT_DIR / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    (OUT_DIR / "attacks.json").write_text(json.dumps({"attacks": attacks}, indent=1) + "\n")

    for path in OUT_DIR.rglob("*.safetensors"):
        path.chmod(0o644)  # save_file creates files readable by the owner only
    total = sum(p.stat().st_size for p in OUT_DIR.rglob("*") if p.is_file())
    print(f"wrote {OUT_DIR} ({total} bytes, {len(attacks)} attacks)")
    assert total <= SIZE_BUDGET_BYTES, f"fixtures are {total} bytes, over the {SIZE_BUDGET_BYTES} budget"


if __name__ == "__main__":
    main()
