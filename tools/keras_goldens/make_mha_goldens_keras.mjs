// Writes tests/data/mha/keras_*.safetensors: Keras MultiHeadAttention reference data computed by
// TensorFlow.js's port of the Keras layer (@tensorflow/tfjs-layers 4.22.0,
// dist/layers/nlp/multihead_attention.js) on the pure-JavaScript CPU backend, in float32.
//
//   cd tools/keras_goldens && npm ci && node make_mha_goldens_keras.mjs [--out DIR]
//
// (default DIR: ../../tests/data/mha). Deterministic: inputs and weights come from a seeded
// xorshift/Box-Muller generator rounded to float32; reruns are byte-identical.
//
// The tfjs environment (module loading, seeded random numbers, the safetensors writer) is in
// tfjs_env.mjs. Weights are created with 'zeros' initializers and overwritten with seeded values.
//
// Weight naming (checked at run time, see WEIGHT_MAP): tfjs names the four EinsumDense sublayers
// 'query', 'key', 'value', 'attentionOutput' (Keras Python: 'attention_output'); each has
// weights 'kernel' and (when useBias) 'bias', with exactly Keras's shapes:
//   tfjs query/kernel           (d_q, heads, keyDim)       -> Keras query/kernel
//   tfjs query/bias             (heads, keyDim)            -> Keras query/bias
//   tfjs key/kernel             (d_k, heads, keyDim)       -> Keras key/kernel
//   tfjs key/bias               (heads, keyDim)            -> Keras key/bias
//   tfjs value/kernel           (d_v, heads, valueDim)     -> Keras value/kernel
//   tfjs value/bias             (heads, valueDim)          -> Keras value/bias
//   tfjs attentionOutput/kernel (heads, valueDim, out)     -> Keras attention_output/kernel
//   tfjs attentionOutput/bias   (out)                      -> Keras attention_output/bias
// The MultiHeadAttention layer's own `.weights` list is empty (the sublayers are not tracked), so
// weights are read and written through layer.queryDense/keyDense/valueDense/outputDense.
//
// Every case is also recomputed by an independent float64 loop implementation of Keras's formulas
// (einsum projections, query scaled by 1/sqrt(keyDim), scores + (1 - mask) * -1e9 rounded to
// float32 as tfjs does, softmax over keys, combine, output projection); tfjs must agree within a
// quarter of the recorded tolerance. The stored reference is always tfjs's own float32 output.
import { writeFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { tf, MultiHeadAttention, LAYERS_VERSION, Rng, safetensorsBytes } from './tfjs_env.mjs';

const ATOL = 2e-5;
const RTOL = 2e-4;

// ---------------------------------------------------------------------------------------------
// independent float64 implementation of Keras's formulas (self-check only, never stored)
function kerasFloat64(c, W, q, k, v, keep, causal) {
  const [B, T, D] = q.shape;
  const S = k.shape[1];
  const N = c.heads, H = c.keyDim, HV = c.valueDim, O = c.outputDim;
  const proj = (x, L, din, kern, bias, hd) => {
    const out = new Float64Array(B * L * N * hd);
    for (let b = 0; b < B; b++) for (let t = 0; t < L; t++) for (let n = 0; n < N; n++) for (let h = 0; h < hd; h++) {
      let s = bias ? bias.data[n * hd + h] : 0;
      for (let d = 0; d < din; d++) s += x.data[(b * L + t) * din + d] * kern.data[(d * N + n) * hd + h];
      out[((b * L + t) * N + n) * hd + h] = s;
    }
    return out;
  };
  const Q = proj(q, T, D, W['query/kernel'], W['query/bias'], H);
  const K = proj(k, S, k.shape[2], W['key/kernel'], W['key/bias'], H);
  const V = proj(v, S, v.shape[2], W['value/kernel'], W['value/bias'], HV);
  const scale = 1 / Math.sqrt(H);
  const P = new Float64Array(B * N * T * S);
  const ctx = new Float64Array(B * T * N * HV);
  for (let b = 0; b < B; b++) for (let n = 0; n < N; n++) for (let t = 0; t < T; t++) {
    const row = new Float64Array(S);
    for (let s = 0; s < S; s++) {
      let acc = 0;
      for (let h = 0; h < H; h++) acc += Q[((b * T + t) * N + n) * H + h] * scale * K[((b * S + s) * N + n) * H + h];
      let m = 1;
      if (keep) m = keep.data[(b * T + t) * S + s];
      if (causal && s > t) m = 0;
      // tfjs/Keras: scores + (1 - mask) * -1e9, evaluated in float32
      row[s] = m ? acc : Math.fround(Math.fround(acc) - 1e9);
    }
    const mx = Math.max(...row);
    let z = 0;
    for (let s = 0; s < S; s++) { row[s] = Math.exp(row[s] - mx); z += row[s]; }
    for (let s = 0; s < S; s++) P[((b * N + n) * T + t) * S + s] = row[s] / z;
    for (let h = 0; h < HV; h++) {
      let acc = 0;
      for (let s = 0; s < S; s++) acc += P[((b * N + n) * T + t) * S + s] * V[((b * S + s) * N + n) * HV + h];
      ctx[((b * T + t) * N + n) * HV + h] = acc;
    }
  }
  const out = new Float64Array(B * T * O);
  for (let b = 0; b < B; b++) for (let t = 0; t < T; t++) for (let o = 0; o < O; o++) {
    let s = W['attention_output/bias'] ? W['attention_output/bias'].data[o] : 0;
    for (let n = 0; n < N; n++) for (let h = 0; h < HV; h++) s += ctx[((b * T + t) * N + n) * HV + h] * W['attention_output/kernel'].data[(n * HV + h) * O + o];
    out[(b * T + t) * O + o] = s;
  }
  return { out, P };
}

function checkClose(name, got, ref) {
  let worst = -Infinity;
  for (let i = 0; i < ref.length; i++) {
    const slack = Math.abs(got[i] - ref[i]) - 0.25 * (ATOL + RTOL * Math.abs(ref[i]));
    if (!(slack <= worst)) worst = slack;
  }
  if (!(worst <= 0)) throw new Error(`${name}: tfjs disagrees with the float64 formula (slack ${worst})`);
}

// tfjs sublayer -> Keras weight names (see the table at the top)
const WEIGHT_MAP = [
  ['queryDense', 'query', 'query'],
  ['keyDense', 'key', 'key'],
  ['valueDense', 'value', 'value'],
  ['outputDense', 'attentionOutput', 'attention_output'],
];

function makeCase(outDir, name, o) {
  const rng = new Rng(o.seed);
  const { B, T, S, D, heads, keyDim } = o;
  const valueDim = o.valueDim ?? keyDim;
  const outputDim = o.outputShape ?? D;
  const dk = o.kdim ?? D;
  const useBias = o.useBias ?? true;
  const causal = o.causal ?? false;

  const q = rng.f32([B, T, D]);
  let k, v;
  if (o.inputs === 'self') { k = q; v = q; }
  else { v = rng.f32([B, S, D]); k = dk === D && o.inputs === 'kv_shared' ? v : rng.f32([B, S, dk]); }

  let keep = null;
  if (o.keep) {
    keep = { shape: [B, T, S], data: new Uint8Array(B * T * S) };
    for (let b = 0; b < B; b++) for (let t = 0; t < T; t++) for (let s = 0; s < S; s++) keep.data[(b * T + t) * S + s] = o.keep(b, t, s) ? 1 : 0;
  }

  const layer = new MultiHeadAttention({
    numHeads: heads, keyDim, valueDim: o.valueDim, outputShape: o.outputShape, useBias,
    kernelInitializer: 'zeros', biasInitializer: 'zeros', name: 'mha',
  });
  const tq = tf.tensor(q.data, q.shape, 'float32');
  const tk = k === q ? tq : tf.tensor(k.data, k.shape, 'float32');
  const tv = v === q ? tq : v === k ? tk : tf.tensor(v.data, v.shape, 'float32');
  const tkeep = keep ? tf.tensor(keep.data, keep.shape, 'bool') : undefined;
  const args = { value: tv, key: tk, attentionMask: tkeep, useCausalMask: causal, training: false };
  tf.dispose(layer.callAndReturnAttentionScores(tq, args)); // builds the sublayers

  // overwrite every weight with seeded values, checking tfjs's names and shapes on the way
  const W = {};
  const expectShapes = {
    query: [[D, heads, keyDim], [heads, keyDim]],
    key: [[dk, heads, keyDim], [heads, keyDim]],
    value: [[D, heads, valueDim], [heads, valueDim]],
    attention_output: [[heads, valueDim, outputDim], [outputDim]],
  };
  for (const [prop, tfjsName, kerasName] of WEIGHT_MAP) {
    const sub = layer[prop];
    // tfjs makes variable names unique per process (a second layer gets query/kernel_1, ...);
    // originalName keeps the unsuffixed name.
    const names = sub.weights.map((w) => w.originalName);
    const want = useBias ? [`${tfjsName}/kernel`, `${tfjsName}/bias`] : [`${tfjsName}/kernel`];
    if (JSON.stringify(names) !== JSON.stringify(want)) throw new Error(`unexpected tfjs weight names ${names}`);
    const values = sub.weights.map((w, i) => {
      const shape = w.shape;
      if (JSON.stringify(shape) !== JSON.stringify(expectShapes[kerasName][i])) throw new Error(`${w.name}: shape ${shape}`);
      const isKernel = i === 0;
      const fanIn = kerasName === 'attention_output' ? heads * valueDim : shape[0];
      const t = rng.f32(shape, isKernel ? 1 / Math.sqrt(fanIn) : 0.5);
      W[`${kerasName}/${isKernel ? 'kernel' : 'bias'}`] = t;
      return tf.tensor(t.data, t.shape, 'float32');
    });
    sub.setWeights(values);
    tf.dispose(values);
  }
  if (layer.weights.length !== 0) throw new Error('MultiHeadAttention now tracks its own weights; revisit');

  const [tout, tscores] = layer.callAndReturnAttentionScores(tq, args);
  const out = { shape: tout.shape, data: tout.dataSync().slice() };
  const scores = { shape: tscores.shape, data: tscores.dataSync().slice() };
  // layer.call() (the layer's forward without scores) must give the same output. (layer.apply() on
  // concrete tensors is broken in tfjs-layers 4.22: MultiHeadAttention.apply packs [query, value, key]
  // into one list that Layer.apply hands to call() as `query`, and the query EinsumDense then fails
  // with "Expected 2 input tensors, received 4"; so apply() is not used.)
  const viaCall = layer.call(tq, args);
  const callData = viaCall.dataSync();
  for (let i = 0; i < callData.length; i++) if (callData[i] !== out.data[i]) throw new Error(`${name}: call() differs from callAndReturnAttentionScores()`);
  if (JSON.stringify(out.shape) !== JSON.stringify([B, T, outputDim])) throw new Error(`output shape ${out.shape}`);
  if (JSON.stringify(scores.shape) !== JSON.stringify([B, heads, T, S])) throw new Error(`scores shape ${scores.shape}`);
  tf.dispose([tout, tscores, viaCall, tq, tk, tv, tkeep].filter((t) => t && !t.isDisposed));

  const ref = kerasFloat64({ heads, keyDim, valueDim, outputDim }, W, q, k, v, keep, causal);
  checkClose(`${name} output`, out.data, ref.out);
  checkClose(`${name} scores`, scores.data, ref.P);
  if (o.check) o.check(scores, out);

  const tensors = {};
  for (const [key, t] of Object.entries(W)) tensors[key] = { dtype: 'F32', ...t };
  tensors['golden.query'] = { dtype: 'F32', ...q };
  tensors['golden.key'] = { dtype: 'F32', ...k };
  tensors['golden.value'] = { dtype: 'F32', ...v };
  if (keep) tensors['golden.keep_mask'] = { dtype: 'U8', ...keep };
  tensors['golden.output'] = { dtype: 'F32', ...out };
  tensors['golden.attention_scores'] = { dtype: 'F32', ...scores };

  const common = ` Reference: TensorFlow.js ${LAYERS_VERSION} port of keras.layers.MultiHeadAttention ` +
    '(@tensorflow/tfjs-layers dist/layers/nlp/multihead_attention.js, callAndReturnAttentionScores, pure-JS CPU ' +
    'backend) run in float32 on these exact F32 weights and inputs; outputs are its float32 results as-is. ' +
    'atol 2e-5 / rtol 2e-4 allow for float32 rounding on both sides (tfjs agrees with a float64 evaluation of ' +
    "Keras's formulas within a quarter of that).";
  const config = {
    framework: 'keras',
    heads,
    d_model: D,
    kdim: dk,
    vdim: D,
    key_dim_per_head: keyDim,
    value_dim_per_head: valueDim,
    output_dim: outputDim,
    bias: useBias,
    causal: causal ? 'top_left' : 'none',
    atol: ATOL,
    rtol: RTOL,
    description: o.description + common,
  };
  const metadata = {
    config: JSON.stringify(config),
    generator: 'tools/keras_goldens/make_mha_goldens_keras.mjs',
    tfjs_layers_version: LAYERS_VERSION,
    case: name,
    seed: String(o.seed),
  };
  const file = path.join(outDir, `keras_${name}.safetensors`);
  const bytes = safetensorsBytes(tensors, metadata);
  writeFileSync(file, bytes);
  console.log(`${file}: ${bytes.length} bytes, ${Object.keys(tensors).length} tensors`);
}

// ---------------------------------------------------------------------------------------------
const here = path.dirname(fileURLToPath(import.meta.url));
const argv = process.argv.slice(2);
const outDir = path.resolve(argv[0] === '--out' && argv[1] ? argv[1] : path.join(here, '..', '..', 'tests', 'data', 'mha'));
mkdirSync(outDir, { recursive: true });

makeCase(outDir, 'projection_dims', {
  seed: 201, B: 2, T: 7, S: 7, D: 30, heads: 3, keyDim: 7, valueDim: 5, outputShape: 13, inputs: 'self',
  description: 'Self-attention (query = key = value, B=2 L=7 d_model=30) with num_heads=3, key_dim=7 (not ' +
    'd_model/heads), value_dim=5 (not key_dim) and output_shape=13 (not d_model), use_bias=True, no mask.',
});
makeCase(outDir, 'no_bias', {
  seed: 202, B: 2, T: 7, S: 11, D: 36, heads: 6, keyDim: 9, inputs: 'cross', useBias: false,
  description: 'use_bias=False (no query/key/value/attention_output biases); cross-attention with distinct ' +
    'query (B,7,36), key and value (B,11,36), num_heads=6, key_dim=value_dim=9, output_shape=d_model.',
});
makeCase(outDir, 'cross_keep_mask', {
  seed: 203, B: 3, T: 7, S: 11, D: 30, kdim: 17, heads: 3, keyDim: 8, valueDim: 6, inputs: 'cross',
  // keep key s for query t unless it is in a per-(b,t) pseudo-random masked set; key (t + b) % S always kept
  keep: (b, t, s) => s === (t + b) % 11 || ((b * 31 + t * 7 + s * 13) % 5) !== 0 && !(b === 1 && s >= 8),
  check: (scores) => {
    let masked = 0;
    for (const x of scores.data) if (x === 0) masked++;
    if (masked === 0) throw new Error('cross_keep_mask: no masked score is exactly 0');
  },
  description: 'Cross-attention with an explicit attention_mask golden.keep_mask (B,Lq,Lk) U8, Keras polarity ' +
    '1 = keep: every query row keeps some keys and masks others (batch 1 also masks keys 8..10 for all rows); ' +
    'query (B,7,30), key (B,11,17) with kdim 17, value (B,11,30); num_heads=3, key_dim=8, value_dim=6. Masked ' +
    'scores get (1 - mask) * -1e9 added before the softmax, so their attention scores are exactly 0.',
});
makeCase(outDir, 'causal_self', {
  seed: 204, B: 2, T: 7, S: 7, D: 30, heads: 3, keyDim: 10, inputs: 'self', causal: true,
  description: 'use_causal_mask=True on self-attention (B=2, L=7, d_model=30, num_heads=3, key_dim=10): tfjs ' +
    'builds linalg.bandPart(ones([1, T, S]), -1, 0), i.e. key j is kept iff j <= i; no other mask.',
});
makeCase(outDir, 'causal_lq7_lk11', {
  seed: 205, B: 2, T: 7, S: 11, D: 30, heads: 6, keyDim: 5, valueDim: 7, inputs: 'kv_shared', causal: true,
  keep: (b, t, s) => s < [11, 6][b],
  description: 'use_causal_mask=True with Lq=7 < Lk=11, combined (logical AND, as tfjs does) with an explicit ' +
    'golden.keep_mask (1 = keep) that keeps the first [11, 6] keys of batch entries [0, 1]. The Keras/tfjs causal ' +
    'mask is a lower band of ones([1, T, S]) anchored at the top-left: key j is kept iff j <= i (not the ' +
    'bottom-right KV-cache alignment). key is value (B,11,30); num_heads=6, key_dim=5, value_dim=7.',
});
makeCase(outDir, 'wide_heads', {
  seed: 207, B: 2, T: 5, S: 5, D: 8, heads: 2, keyDim: 512, inputs: 'self',
  description: 'Heads wider than d_model: num_heads=2, key_dim=value_dim=512 over d_model=8, so the projected ' +
    'queries and the attention output are 1024 floats (4 KiB) wide: typeformer lays their rows one cache ' +
    'line apart from 4 KiB multiples (kernels::gemm_input_stride), and this case covers that layout. ' +
    'Self-attention (B=2 L=5), use_bias=True, no mask.',
});
makeCase(outDir, 'fully_masked_row', {
  seed: 206, B: 2, T: 5, S: 11, D: 30, heads: 3, keyDim: 6, inputs: 'kv_shared',
  keep: (b, t, s) => !(b === 1 && t === 2) && (s < 9 || t === 0),
  check: (scores) => {
    const [B, N, T, S] = scores.shape;
    for (let n = 0; n < N; n++) for (let s = 0; s < S; s++) {
      const x = scores.data[((1 * N + n) * T + 2) * S + s];
      if (Math.abs(x - 1 / S) > 1e-7) throw new Error(`fully masked row is not uniform: ${x}`);
    }
  },
  description: 'Fully masked query row: golden.keep_mask (1 = keep) is all 0 for batch 1, query row 2 (other ' +
    'rows keep keys 0..8, row 0 keeps all). tfjs adds (1 - mask) * -1e9 to the float32 scores; -1e9 swamps them ' +
    '(float32 spacing at 1e9 is 64), so that row becomes a uniform softmax (every attention score 1/11) and its ' +
    'output is the plain average of the projected values of all 11 keys, masked ones included. This is what ' +
    'tfjs 4.22 (Keras 2 semantics) does; it is not NaN. Note: recent Keras 3 Softmax uses where(mask, x, -1e9) ' +
    'and then multiplies the probabilities by the mask, which would give all-zero scores for this row instead. ' +
    'Cross-attention-shaped: query (B,5,30), key = value (B,11,30), num_heads=3, key_dim=6.',
});
