"""Writing small CTranslate2 model.bin files for tests (the format training/encoder/ct2.py reads), and a numpy Whisper
encoder written from the paper's description, independent of the Keras one under test."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
from scipy.special import erf

CODES = {np.dtype(np.float32): 0, np.dtype(np.int8): 1, np.dtype(np.int16): 2, np.dtype(np.int32): 3,
         np.dtype(np.float16): 4}


def _string(text: str) -> bytes:
    raw = text.encode() + b"\0"
    return struct.pack("<H", len(raw)) + raw


def ct2_bytes(variables: dict[str, np.ndarray], aliases: dict[str, str] | None = None, version: int = 6,
              spec: str = "WhisperSpec") -> bytes:
    out = [struct.pack("<I", version), _string(spec), struct.pack("<I", 3), struct.pack("<I", len(variables))]
    for name, value in variables.items():
        value = np.asarray(value)
        out += [_string(name), struct.pack("<B", value.ndim), struct.pack(f"<{value.ndim}I", *value.shape),
                struct.pack("<BI", CODES[value.dtype], value.nbytes), value.tobytes()]
    aliases = aliases or {}
    out.append(struct.pack("<I", len(aliases)))
    for alias, target in aliases.items():
        out += [_string(alias), _string(target)]
    return b"".join(out)


def whisper_variables(dim: int = 32, heads: int = 4, layers: int = 2, mels: int = 80, positions: int = 200,
                      seed: int = 0, dtype=np.float16) -> dict[str, np.ndarray]:
    """A random Whisper-shaped encoder checkpoint (CTranslate2 names and layouts)."""
    rng = np.random.default_rng(seed)

    def w(*shape, scale=0.2):
        return (scale * rng.standard_normal(shape)).astype(dtype)

    v = {"encoder/conv1/weight": w(dim, mels, 3), "encoder/conv1/bias": w(dim),
         "encoder/conv2/weight": w(dim, dim, 3, scale=0.1), "encoder/conv2/bias": w(dim),
         "encoder/position_encodings/encodings": w(positions, dim), "encoder/num_heads": np.array(heads, np.int16)}
    for i in range(layers):
        p = f"encoder/layer_{i}/"
        v |= {p + "self_attention/layer_norm/gamma": (1 + w(dim)).astype(dtype),
              p + "self_attention/layer_norm/beta": w(dim),
              p + "self_attention/linear_0/weight": w(3 * dim, dim), p + "self_attention/linear_0/bias": w(3 * dim),
              p + "self_attention/linear_1/weight": w(dim, dim), p + "self_attention/linear_1/bias": w(dim),
              p + "ffn/layer_norm/gamma": (1 + w(dim)).astype(dtype), p + "ffn/layer_norm/beta": w(dim),
              p + "ffn/linear_0/weight": w(4 * dim, dim), p + "ffn/linear_0/bias": w(4 * dim),
              p + "ffn/linear_1/weight": w(dim, 4 * dim, scale=0.1), p + "ffn/linear_1/bias": w(dim)}
    v |= {"encoder/layer_norm/gamma": (1 + w(dim)).astype(dtype), "encoder/layer_norm/beta": w(dim)}
    return v


def write_ct2(path: Path, variables: dict[str, np.ndarray], parts: int = 1,
              aliases: dict[str, str] | None = None) -> list[Path]:
    """Write the file, split into `parts` pieces of roughly equal size when asked (as wheels ship it)."""
    data = ct2_bytes(variables, aliases)
    cuts = np.linspace(0, len(data), parts + 1).astype(int)
    paths = [path.with_name(f"{path.name}.part{k + 1}") if parts > 1 else path for k in range(parts)]
    for p, a, b in zip(paths, cuts[:-1], cuts[1:], strict=True):
        p.write_bytes(data[a:b])
    return paths


def _gelu(x):
    return 0.5 * x * (1 + erf(x / np.sqrt(2)))


def _norm(x, g, b):
    mu, var = x.mean(-1, keepdims=True), x.var(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + 1e-5) * g + b


def _conv(x, weight, bias, stride):
    """torch.nn.Conv1d with padding 1 on (T, in) input; weight (out, in, 3)."""
    xp = np.pad(x, ((1, 1), (0, 0)))
    steps = range(0, xp.shape[0] - 2, stride)
    return np.stack([np.einsum("ki,oik->o", xp[t:t + 3], weight) for t in steps]) + bias


def reference_encoder(v: dict[str, np.ndarray], mel: np.ndarray) -> list[np.ndarray]:
    """Hidden states of Whisper's encoder for one (frames, mels) input, in float64."""
    g = {k: np.asarray(a, np.float64) for k, a in v.items()}
    x = _gelu(_conv(mel.astype(np.float64), g["encoder/conv1/weight"], g["encoder/conv1/bias"], 1))
    x = _gelu(_conv(x, g["encoder/conv2/weight"], g["encoder/conv2/bias"], 2))
    x = x + g["encoder/position_encodings/encodings"][: x.shape[0]]
    heads, dim = int(v["encoder/num_heads"]), x.shape[1]
    states, i = [x], 0
    while f"encoder/layer_{i}/ffn/linear_0/weight" in g:
        p = f"encoder/layer_{i}/"
        h = _norm(x, g[p + "self_attention/layer_norm/gamma"], g[p + "self_attention/layer_norm/beta"])
        q, k, val = np.split(h @ g[p + "self_attention/linear_0/weight"].T + g[p + "self_attention/linear_0/bias"],
                             3, axis=-1)
        split = [a.reshape(-1, heads, dim // heads).transpose(1, 0, 2) for a in (q, k, val)]
        scores = split[0] @ split[1].transpose(0, 2, 1) / np.sqrt(dim // heads)
        attn = np.exp(scores - scores.max(-1, keepdims=True))
        attn /= attn.sum(-1, keepdims=True)
        ctx = (attn @ split[2]).transpose(1, 0, 2).reshape(-1, dim)
        x = x + ctx @ g[p + "self_attention/linear_1/weight"].T + g[p + "self_attention/linear_1/bias"]
        h = _norm(x, g[p + "ffn/layer_norm/gamma"], g[p + "ffn/layer_norm/beta"])
        h = _gelu(h @ g[p + "ffn/linear_0/weight"].T + g[p + "ffn/linear_0/bias"])
        x = x + h @ g[p + "ffn/linear_1/weight"].T + g[p + "ffn/linear_1/bias"]
        states.append(x)
        i += 1
    states[-1] = _norm(states[-1], g["encoder/layer_norm/gamma"], g["encoder/layer_norm/beta"])
    return states
