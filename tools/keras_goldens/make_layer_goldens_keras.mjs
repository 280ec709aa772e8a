// Writes tests/data/layers/keras_*.safetensors: Keras-semantics reference data for Dense (each
// activation), Embedding, LayerNormalization and the "wrapper" attention block Keras users write,
// x -> LayerNormalization(epsilon=1e-6)(x + MultiHeadAttention(x, x)), computed by TensorFlow.js's
// Keras port (@tensorflow/tfjs-layers 4.22.0, pure-JavaScript CPU backend) in float32.
//
//   cd tools/keras_goldens && npm ci && node make_layer_goldens_keras.mjs [--out DIR]
//   node make_layer_goldens_keras.mjs --example FILE   # the d_model 512 wrapper block of
//                                                      # examples/keras_wrapper_attention.cpp
//   node make_layer_goldens_keras.mjs --multi-head-examples [DIR]
//                                                      # the weights of examples/multi_head_*.cpp
//
// Deterministic (seeded inputs and weights, see tfjs_env.mjs): reruns are byte-identical. Every
// case is also recomputed by a float64 loop implementation of Keras's formula, which tfjs must
// match within a quarter of the stored tolerance; the stored reference is tfjs's own output.
// Weight names are Keras's: `kernel`, `bias`, `embeddings`, `gamma`, `beta`, and for the block
// `mha/query/kernel` ... `mha/attention_output/bias`, `norm/gamma`, `norm/beta`.

import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { tf, layers, MultiHeadAttention, LAYERS_VERSION, Rng, safetensorsBytes } from './tfjs_env.mjs';

const GENERATOR = 'tools/keras_goldens/make_layer_goldens_keras.mjs';

function write(file, tensors, config, name, seed) {
  const metadata = {
    config: JSON.stringify(config),
    generator: GENERATOR,
    tfjs_layers_version: LAYERS_VERSION,
    case: name,
    seed: String(seed),
  };
  // A sample's tolerance in the library's self-test convention (decimal strings a C++ program
  // reads without parsing JSON), as tools/safetensors_io.py's self_test_metadata writes it.
  if (Object.keys(tensors).some((n) => n.startsWith('selftest.')) && config.atol !== undefined) {
    metadata['selftest.atol'] = String(config.atol);
    metadata['selftest.rtol'] = String(config.rtol);
  }
  const bytes = safetensorsBytes(tensors, metadata);
  writeFileSync(file, bytes);
  console.log(`${file}: ${bytes.length} bytes, ${Object.keys(tensors).length} tensors`);
}

function checkClose(name, got, ref, atol, rtol) {
  for (let i = 0; i < ref.length; i++)
    if (!(Math.abs(got[i] - ref[i]) <= 0.25 * (atol + rtol * Math.abs(ref[i]))))
      throw new Error(`${name}: tfjs ${got[i]} vs float64 ${ref[i]} at ${i}`);
}

const erf = (x) => { // Abramowitz-Stegun 7.1.26 is too coarse; use a series/continued fraction
  const t = Math.abs(x);
  if (t < 3) { // Taylor series, converges fast here
    let sum = t, term = t;
    for (let n = 1; n < 200; n++) { term *= -t * t / n; const add = term / (2 * n + 1); sum += add; if (Math.abs(add) < 1e-17) break; }
    return Math.sign(x) * 2 / Math.sqrt(Math.PI) * sum;
  }
  // erfc continued fraction (Lentz), for |x| >= 3
  let f = t, C = t, D = 0;
  for (let n = 1; n < 200; n++) {
    const a = n / 2;
    D = t + a * D; D = 1 / D; C = t + a / C; const delta = C * D; f *= delta;
    if (Math.abs(delta - 1) < 1e-16) break;
  }
  return Math.sign(x) * (1 - Math.exp(-t * t) / Math.sqrt(Math.PI) / f);
};
const ACTIVATIONS = {
  linear: (z) => z,
  relu: (z) => Math.max(z, 0),
  tanh: Math.tanh,
  sigmoid: (z) => 1 / (1 + Math.exp(-z)),
  gelu: (z) => 0.5 * z * (1 + erf(z / Math.SQRT2)),
  softmax: null, // a row operation, below
};

const f32tensor = (t) => tf.tensor(t.data, t.shape, 'float32');
const read = (t) => ({ shape: t.shape, data: t.dataSync().slice() });

function denseCase(outDir, activation, useBias, seed) {
  const rng = new Rng(seed);
  const [B, L, IN, UNITS] = [2, 5, 29, 19];
  const x = rng.f32([B, L, IN]);
  const kernel = rng.f32([IN, UNITS], 0.4);
  const bias = rng.f32([UNITS], 0.4);
  const layer = layers.dense({ units: UNITS, activation, useBias, kernelInitializer: 'zeros', biasInitializer: 'zeros', name: 'd' });
  const tx = f32tensor(x);
  tf.dispose(layer.apply(tx)); // builds the weights
  const names = layer.weights.map((w) => w.originalName);
  const want = useBias ? ['d/kernel', 'd/bias'] : ['d/kernel'];
  if (JSON.stringify(names) !== JSON.stringify(want)) throw new Error(`dense weight names ${names}`);
  layer.setWeights(useBias ? [f32tensor(kernel), f32tensor(bias)] : [f32tensor(kernel)]);
  const ty = layer.apply(tx);
  const y = read(ty);
  tf.dispose([tx, ty]);
  // float64: z = x·W + b, then the activation
  const ref = new Float64Array(B * L * UNITS);
  for (let r = 0; r < B * L; r++) {
    const z = new Float64Array(UNITS);
    for (let u = 0; u < UNITS; u++) {
      let s = useBias ? bias.data[u] : 0;
      for (let k = 0; k < IN; k++) s += x.data[r * IN + k] * kernel.data[k * UNITS + u];
      z[u] = s;
    }
    if (activation === 'softmax') {
      const m = Math.max(...z);
      let sum = 0;
      for (let u = 0; u < UNITS; u++) sum += Math.exp(z[u] - m);
      for (let u = 0; u < UNITS; u++) ref[r * UNITS + u] = Math.exp(z[u] - m) / sum;
    } else {
      for (let u = 0; u < UNITS; u++) ref[r * UNITS + u] = ACTIVATIONS[activation](z[u]);
    }
  }
  const [atol, rtol] = [1e-5, 1e-4];
  const name = useBias ? `dense_${activation}` : 'dense_no_bias';
  checkClose(name, y.data, ref, atol, rtol);
  const tensors = { kernel: { dtype: 'F32', ...kernel }, 'golden.input': { dtype: 'F32', ...x }, 'golden.output': { dtype: 'F32', ...y } };
  if (useBias) tensors.bias = { dtype: 'F32', ...bias };
  write(path.join(outDir, `keras_${name}.safetensors`), tensors, {
    framework: 'keras', d_model: IN, units: UNITS, activation, bias: useBias, atol, rtol,
    description: `tf.layers.dense({units: ${UNITS}, activation: '${activation}', useBias: ${useBias}}) (Keras Dense) ` +
      `on (${B}, ${L}, ${IN}) inputs, tfjs ${LAYERS_VERSION} float32 output; tfjs 'gelu' is the exact erf form.`,
  }, name, seed);
}

function embeddingCase(outDir, seed) {
  const rng = new Rng(seed);
  const [V, D] = [37, 12];
  const table = rng.f32([V, D]);
  const ids = { shape: [2, 5], data: new Int32Array([0, 36, 5, 5, 17, 1, 2, 3, 35, 0]) };
  const layer = layers.embedding({ inputDim: V, outputDim: D, embeddingsInitializer: 'zeros', name: 'embed' });
  const tids = tf.tensor(ids.data, ids.shape, 'int32');
  tf.dispose(layer.apply(tids));
  if (layer.weights.map((w) => w.originalName).join() !== 'embed/embeddings') throw new Error('embedding weight names');
  layer.setWeights([f32tensor(table)]);
  const ty = layer.apply(tids);
  const y = read(ty);
  tf.dispose([tids, ty]);
  for (let i = 0; i < 10; i++) for (let d = 0; d < D; d++)
    if (y.data[i * D + d] !== table.data[ids.data[i] * D + d]) throw new Error('embedding is not a copy');
  write(path.join(outDir, 'keras_embedding.safetensors'), {
    embeddings: { dtype: 'F32', ...table }, 'golden.ids': { dtype: 'I32', ...ids }, 'golden.output': { dtype: 'F32', ...y },
  }, { framework: 'keras', vocabulary: V, dim: D, atol: 0, rtol: 0,
    description: `tf.layers.embedding({inputDim: ${V}, outputDim: ${D}}) on ids including 0 and ${V - 1}: an exact copy` },
  'embedding', seed);
}

function layerNormFloat64(x, rows, D, gamma, beta, eps) {
  const out = new Float64Array(rows * D);
  for (let r = 0; r < rows; r++) {
    let mean = 0;
    for (let d = 0; d < D; d++) mean += x[r * D + d];
    mean /= D;
    let v = 0;
    for (let d = 0; d < D; d++) v += (x[r * D + d] - mean) ** 2;
    v /= D;
    for (let d = 0; d < D; d++) out[r * D + d] = (x[r * D + d] - mean) / Math.sqrt(v + eps) * gamma[d] + beta[d];
  }
  return out;
}

function layerNormCase(outDir, epsilon, name, seed) {
  const rng = new Rng(seed);
  const [B, L, D] = [2, 5, 37];
  const x = rng.f32([B, L, D]);
  for (let i = 0; i < x.data.length; i++) x.data[i] = Math.fround(x.data[i] * 3 + 50);
  const gamma = rng.f32([D]), beta = rng.f32([D]);
  const layer = layers.layerNormalization(epsilon === undefined ? { name: 'norm' } : { epsilon, name: 'norm' });
  const tx = f32tensor(x);
  tf.dispose(layer.apply(tx));
  if (layer.weights.map((w) => w.originalName).join() !== 'norm/gamma,norm/beta') throw new Error('layer norm weight names');
  layer.setWeights([f32tensor(gamma), f32tensor(beta)]);
  const ty = layer.apply(tx);
  const y = read(ty);
  tf.dispose([tx, ty]);
  const eps = epsilon ?? 1e-3;
  const [atol, rtol] = [2e-5, 2e-4];
  checkClose(name, y.data, layerNormFloat64(x.data, B * L, D, gamma.data, beta.data, eps), atol, rtol);
  write(path.join(outDir, `keras_${name}.safetensors`), {
    gamma: { dtype: 'F32', ...gamma }, beta: { dtype: 'F32', ...beta }, 'golden.input': { dtype: 'F32', ...x }, 'golden.output': { dtype: 'F32', ...y },
  }, { framework: 'keras', d_model: D, epsilon: eps, atol, rtol,
    description: `tf.layers.layerNormalization(${epsilon === undefined ? '' : `{epsilon: ${epsilon}}`}) (Keras LayerNormalization, ` +
      `epsilon ${eps}${epsilon === undefined ? ", Keras's default" : ''}) on inputs with mean ~50, tfjs float32 output` },
  name, seed);
}

// Seeded weights for a built self-attention MultiHeadAttention named 'mha' (D-wide input,
// value_dim = key_dim), checking tfjs's shapes; recorded in W under Keras's names.
function seedSelfAttention(rng, mha, W, D, heads, keyDim) {
  const shapes = { query: [[D, heads, keyDim], [heads, keyDim]], key: [[D, heads, keyDim], [heads, keyDim]],
    value: [[D, heads, keyDim], [heads, keyDim]], attention_output: [[heads, keyDim, D], [D]] };
  for (const [prop, kerasName] of [['queryDense', 'query'], ['keyDense', 'key'], ['valueDense', 'value'], ['outputDense', 'attention_output']]) {
    const sub = mha[prop];
    const values = sub.weights.map((w, i) => {
      if (JSON.stringify(w.shape) !== JSON.stringify(shapes[kerasName][i])) throw new Error(`${w.name}: shape ${w.shape}`);
      const fanIn = kerasName === 'attention_output' ? heads * keyDim : w.shape[0];
      const t = rng.f32(w.shape, i === 0 ? 1 / Math.sqrt(fanIn) : 0.5);
      W[`mha/${kerasName}/${i === 0 ? 'kernel' : 'bias'}`] = { dtype: 'F32', ...t };
      return f32tensor(t);
    });
    sub.setWeights(values);
    tf.dispose(values);
  }
}

// Seeded gamma (around 1) and beta for a built LayerNormalization named 'norm'; returns them.
function seedLayerNorm(rng, norm, W, D) {
  const gamma = rng.f32([D], 0.2), beta = rng.f32([D], 0.2);
  for (let i = 0; i < D; i++) gamma.data[i] = Math.fround(1 + gamma.data[i]);
  norm.setWeights([f32tensor(gamma), f32tensor(beta)]);
  W['norm/gamma'] = { dtype: 'F32', ...gamma };
  W['norm/beta'] = { dtype: 'F32', ...beta };
  return [gamma, beta];
}

// x -> LayerNormalization(epsilon=1e-6)(x + MultiHeadAttention(num_heads, key_dim)(x, x))
function wrapperBlock(file, o) {
  const rng = new Rng(o.seed);
  const { B, T, D, heads, keyDim } = o;
  const x = rng.f32([B, T, D]);
  const mha = new MultiHeadAttention({ numHeads: heads, keyDim, kernelInitializer: 'zeros', biasInitializer: 'zeros', name: 'mha' });
  const norm = layers.layerNormalization({ epsilon: 1e-6, name: 'norm' });
  const tx = f32tensor(x);
  tf.dispose(mha.call(tx, { value: tx, training: false }));
  const W = {};
  seedSelfAttention(rng, mha, W, D, heads, keyDim);
  const attention = mha.call(tx, { value: tx, training: false });
  const sum = tf.add(tx, attention);
  tf.dispose(norm.apply(sum));
  const [gamma, beta] = seedLayerNorm(rng, norm, W, D);
  const ty = norm.apply(sum);
  const y = read(ty);
  const [atol, rtol] = [5e-5, 5e-4];
  // Self-check of the residual and the normalisation (the attention itself is checked against a
  // float64 formula by make_mha_goldens_keras.mjs).
  checkClose('wrapper block', y.data, layerNormFloat64(sum.dataSync(), B * T, D, gamma.data, beta.data, 1e-6), atol, rtol);
  tf.dispose([tx, attention, sum, ty]);
  const sample = o.samplePrefix ?? 'golden.';
  write(file, { ...W, [`${sample}input`]: { dtype: 'F32', ...x }, [`${sample}output`]: { dtype: 'F32', ...y } }, {
    framework: 'keras', d_model: D, heads, key_dim_per_head: keyDim, epsilon: 1e-6, atol, rtol,
    description: `LayerNormalization(epsilon=1e-6)(x + MultiHeadAttention(num_heads=${heads}, key_dim=${keyDim})(x, x)) ` +
      `on (${B}, ${T}, ${D}) inputs, tfjs ${LAYERS_VERSION} float32 output`,
  }, o.name, o.seed);
}

// A float32 safetensors file's tensors (for the cross-check against the PyTorch goldens).
function readSafetensors(file) {
  const bytes = readFileSync(file);
  const headerLength = Number(bytes.readBigUInt64LE(0));
  const header = JSON.parse(bytes.subarray(8, 8 + headerLength).toString('utf8'));
  const out = {};
  for (const [name, info] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    if (info.dtype !== 'F32') continue;
    const [begin, end] = info.data_offsets;
    const data = new Float32Array((end - begin) / 4);
    for (let i = 0; i < data.length; i++) data[i] = bytes.readFloatLE(8 + headerLength + begin + 4 * i);
    out[name] = { shape: info.shape, data };
  }
  return out;
}

// float64 LSTM with Keras's layout: kernel (in, 4u), recurrent (u, 4u), bias (4u), gates i, f, c, o.
function lstmFloat64(x, [B, T, IN], U, kernel, recurrent, bias, h0, c0, returnSequences) {
  const sig = (z) => 1 / (1 + Math.exp(-z));
  const out = new Float64Array(returnSequences ? B * T * U : B * U);
  for (let b = 0; b < B; b++) {
    const h = new Float64Array(U), c = new Float64Array(U);
    if (h0) for (let u = 0; u < U; u++) { h[u] = h0[b * U + u]; c[u] = c0[b * U + u]; }
    for (let t = 0; t < T; t++) {
      const g = new Float64Array(4 * U);
      for (let j = 0; j < 4 * U; j++) {
        let s = bias[j];
        for (let k = 0; k < IN; k++) s += x[(b * T + t) * IN + k] * kernel[k * 4 * U + j];
        for (let k = 0; k < U; k++) s += h[k] * recurrent[k * 4 * U + j];
        g[j] = s;
      }
      for (let u = 0; u < U; u++) {
        c[u] = sig(g[U + u]) * c[u] + sig(g[u]) * Math.tanh(g[2 * U + u]);
        h[u] = sig(g[3 * U + u]) * Math.tanh(c[u]);
      }
      if (returnSequences) for (let u = 0; u < U; u++) out[(b * T + t) * U + u] = h[u];
    }
    if (!returnSequences) for (let u = 0; u < U; u++) out[b * U + u] = h[u];
  }
  return out;
}

// tf.layers.lstm with recurrentActivation 'sigmoid' (tfjs defaults to hard sigmoid; Keras 2.3+
// and PyTorch use the logistic one).
function runLstm(x, U, returnSequences, kernel, recurrent, bias, h0, c0) {
  const layer = layers.lstm({ units: U, returnSequences, recurrentActivation: 'sigmoid', kernelInitializer: 'zeros',
    recurrentInitializer: 'zeros', biasInitializer: 'zeros', name: 'lstm' });
  const tx = f32tensor(x);
  tf.dispose(layer.apply(tx));
  const names = layer.weights.map((w) => w.originalName).join();
  if (names !== 'lstm/kernel,lstm/recurrent_kernel,lstm/bias') throw new Error(`lstm weight names ${names}`);
  layer.setWeights([f32tensor(kernel), f32tensor(recurrent), f32tensor(bias)]);
  const initial = h0 ? [f32tensor(h0), f32tensor(c0)] : null;
  const ty = initial ? layer.apply(tx, { initialState: initial }) : layer.apply(tx);
  const y = read(ty);
  tf.dispose([tx, ty, ...(initial ?? [])]);
  return y;
}

function lstmCases(outDir, seed) {
  const [atol, rtol] = [1e-5, 1e-4];
  // Every output, from a given initial state.
  {
    const rng = new Rng(seed);
    const [B, T, IN, U] = [3, 7, 5, 9];
    const x = rng.f32([B, T, IN]);
    const kernel = rng.f32([IN, 4 * U], 0.4), recurrent = rng.f32([U, 4 * U], 0.4), bias = rng.f32([4 * U], 0.4);
    const h0 = rng.f32([B, U]), c0 = rng.f32([B, U]);
    const y = runLstm(x, U, true, kernel, recurrent, bias, h0, c0);
    checkClose('lstm_sequences', y.data, lstmFloat64(x.data, [B, T, IN], U, kernel.data, recurrent.data, bias.data, h0.data, c0.data, true), atol, rtol);
    write(path.join(outDir, 'keras_lstm_sequences.safetensors'), {
      'lstm/kernel': { dtype: 'F32', ...kernel }, 'lstm/recurrent_kernel': { dtype: 'F32', ...recurrent },
      'lstm/bias': { dtype: 'F32', ...bias }, 'golden.input': { dtype: 'F32', ...x }, 'golden.h0': { dtype: 'F32', ...h0 },
      'golden.c0': { dtype: 'F32', ...c0 }, 'golden.output': { dtype: 'F32', ...y },
    }, { framework: 'keras', d_model: IN, units: U, return_sequences: true, atol, rtol,
      description: `tf.layers.lstm({units: ${U}, returnSequences: true, recurrentActivation: 'sigmoid'}) with ` +
        `initialState [h0, c0] on (${B}, ${T}, ${IN}) inputs, tfjs ${LAYERS_VERSION} float32 output` }, 'lstm_sequences', seed);
  }
  // The last output, with PyTorch's pytorch_lstm_last weights moved to Keras's layout: tfjs must give
  // PyTorch's float64 output, which cross-checks the two layouts.
  {
    const torch = readSafetensors(path.join(outDir, 'pytorch_lstm_last.safetensors'));
    const [B, T, IN] = torch['golden.input'].shape, U = torch['lstm.weight_hh_l0'].shape[1];
    const transpose = ({ data }, rows, cols) => { // (rows, cols) -> (cols, rows)
      const out = new Float32Array(rows * cols);
      for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = data[r * cols + c];
      return out;
    };
    const kernel = { shape: [IN, 4 * U], data: transpose(torch['lstm.weight_ih_l0'], 4 * U, IN) };
    const recurrent = { shape: [U, 4 * U], data: transpose(torch['lstm.weight_hh_l0'], 4 * U, U) };
    const bias = { shape: [4 * U], data: torch['lstm.bias_ih_l0'].data.map((v, i) => Math.fround(v + torch['lstm.bias_hh_l0'].data[i])) };
    const x = torch['golden.input'];
    const y = runLstm(x, U, false, kernel, recurrent, bias, null, null);
    checkClose('lstm_last (tfjs vs PyTorch)', y.data, torch['golden.output'].data, atol, rtol);
    write(path.join(outDir, 'keras_lstm_last.safetensors'), {
      'lstm/kernel': { dtype: 'F32', ...kernel }, 'lstm/recurrent_kernel': { dtype: 'F32', ...recurrent },
      'lstm/bias': { dtype: 'F32', ...bias }, 'golden.input': { dtype: 'F32', ...x }, 'golden.output': { dtype: 'F32', ...y },
    }, { framework: 'keras', d_model: IN, units: U, return_sequences: false, atol, rtol,
      description: `tf.layers.lstm({units: ${U}, recurrentActivation: 'sigmoid'}) (last output only) with ` +
        `pytorch_lstm_last's nn.LSTM weights in Keras layout (kernels transposed, biases summed); tfjs matches ` +
        `PyTorch's float64 output within a quarter of the tolerance. tfjs ${LAYERS_VERSION} float32 output` }, 'lstm_last', seed);
  }
}

// float64 Conv1D, channels-last, Keras kernel (K, in, filters), zeros outside, `left` zeros before.
function conv1dFloat64(x, [B, L, C], kernel, K, F, bias, stride, dilation, left, outLength, act) {
  const out = new Float64Array(B * outLength * F);
  for (let b = 0; b < B; b++) for (let t = 0; t < outLength; t++) for (let f = 0; f < F; f++) {
    let s = bias ? bias[f] : 0;
    for (let k = 0; k < K; k++) {
      const at = t * stride + k * dilation - left;
      if (at < 0 || at >= L) continue;
      for (let c = 0; c < C; c++) s += x[(b * L + at) * C + c] * kernel[(k * C + c) * F + f];
    }
    out[(b * outLength + t) * F + f] = ACTIVATIONS[act](s);
  }
  return out;
}

function conv1dCase(outDir, o) {
  const rng = new Rng(o.seed);
  const { B, L, C, F, K, stride, dilation, padding, activation, useBias } = o;
  const x = rng.f32([B, L, C]);
  const kernel = rng.f32([K, C, F], 0.4), bias = rng.f32([F], 0.4);
  // tfjs has no causal Conv1D: Keras's definition, d(K−1) zeros on the left and then 'valid'.
  const causal = padding === 'causal';
  const layer = layers.conv1d({ filters: F, kernelSize: K, strides: stride, dilationRate: dilation, padding: causal ? 'valid' : padding,
    activation, useBias, kernelInitializer: 'zeros', biasInitializer: 'zeros', name: 'conv' });
  const unpadded = f32tensor(x);
  const tx = causal ? tf.pad(unpadded, [[0, 0], [dilation * (K - 1), 0], [0, 0]]) : unpadded;
  tf.dispose(layer.apply(tx));
  const names = layer.weights.map((w) => w.originalName).join();
  if (names !== (useBias ? 'conv/kernel,conv/bias' : 'conv/kernel')) throw new Error(`conv1d weight names ${names}`);
  layer.setWeights(useBias ? [f32tensor(kernel), f32tensor(bias)] : [f32tensor(kernel)]);
  const ty = layer.apply(tx);
  const y = read(ty);
  tf.dispose([tx, ty, unpadded]);
  const span = dilation * (K - 1) + 1;
  const outLength = padding === 'valid' ? Math.floor((L - span) / stride) + 1 : Math.ceil(L / stride);
  const left = padding === 'causal' ? span - 1
    : padding === 'same' ? Math.floor(Math.max((outLength - 1) * stride + span - L, 0) / 2) : 0;
  if (JSON.stringify(y.shape) !== JSON.stringify([B, outLength, F])) throw new Error(`${o.name}: shape ${y.shape}`);
  const [atol, rtol] = [1e-5, 1e-4];
  checkClose(o.name, y.data, conv1dFloat64(x.data, [B, L, C], kernel.data, K, F, useBias ? bias.data : null, stride, dilation, left, outLength, activation), atol, rtol);
  const tensors = { 'conv/kernel': { dtype: 'F32', ...kernel }, 'golden.input': { dtype: 'F32', ...x }, 'golden.output': { dtype: 'F32', ...y } };
  if (useBias) tensors['conv/bias'] = { dtype: 'F32', ...bias };
  write(path.join(outDir, `keras_${o.name}.safetensors`), tensors, {
    framework: 'keras', d_model: C, filters: F, kernel_size: K, strides: stride, dilation_rate: dilation, padding, activation,
    use_bias: useBias, left_padding: left, atol, rtol,
    description: `tf.layers.conv1d({filters: ${F}, kernelSize: ${K}, strides: ${stride}, dilationRate: ${dilation}, ` +
      `padding: '${padding}', activation: '${activation}', useBias: ${useBias}}) on (${B}, ${L}, ${C}) inputs, ` +
      `tfjs ${LAYERS_VERSION} float32 output${o.note ?? ''}`,
  }, o.name, o.seed);
}

// keras-multi-head models, built from tfjs layers as MultiHead builds them: every head reads the
// same input, the outputs are stacked on a new last axis (K.stack(outputs, axis=-1)) or
// concatenated, then Flatten and a softmax Dense. Weight names: embed/embeddings,
// <head>/kernel ..., dense/kernel, dense/bias.
function multiHeadModelCase(outDir, o) {
  const rng = new Rng(o.seed);
  const { B, T, V, D, name } = o;
  const ids = { shape: [B, T], data: new Int32Array(B * T) };
  for (let i = 0; i < ids.data.length; i++) ids.data[i] = Math.floor(rng.uniform() * V);
  const W = {};
  const setWeights = (layer, layerName, scales) => {
    const values = layer.weights.map((w, i) => {
      const t = rng.f32(w.shape, scales[i]);
      const wanted = `${layerName}/${w.originalName.split('/').pop()}`;
      if (w.originalName !== wanted) throw new Error(`${name}: weight ${w.originalName}, expected ${wanted}`);
      W[w.originalName] = { dtype: 'F32', ...t };
      return f32tensor(t);
    });
    layer.setWeights(values);
    tf.dispose(values);
  };
  const tids = tf.tensor(ids.data, ids.shape, 'int32');
  const embed = layers.embedding({ inputDim: V, outputDim: D, embeddingsInitializer: 'zeros', name: 'embed' });
  tf.dispose(embed.apply(tids));
  setWeights(embed, 'embed', [1]);
  const e = embed.apply(tids);
  const outputs = o.heads.map((h) => {
    const layer = h.make();
    tf.dispose(layer.apply(e));
    setWeights(layer, h.name, h.scales);
    return layer.apply(e);
  });
  const merged = o.merge === 'stack' ? tf.stack(outputs, -1) : tf.concat(outputs, -1);
  const flat = o.flatten ? tf.reshape(merged, [B, -1]) : merged;
  const dense = layers.dense({ units: 4, activation: 'softmax', kernelInitializer: 'zeros', biasInitializer: 'zeros', name: 'dense' });
  tf.dispose(dense.apply(flat));
  setWeights(dense, 'dense', [o.denseScale ?? 0.3, 0.3]);
  const ty = dense.apply(flat);
  const y = read(ty);
  const mergedShape = merged.shape;
  tf.dispose([tids, e, ...outputs, merged, flat, ty]);
  const [atol, rtol] = [2e-5, 2e-4];
  const sample = o.samplePrefix ?? 'golden.';
  write(o.file ?? path.join(outDir, `keras_${name}.safetensors`), {
    ...W, [`${sample}ids`]: { dtype: 'I32', ...ids }, [`${sample}output`]: { dtype: 'F32', ...y },
  }, { framework: 'keras', vocabulary: V, dim: D, merged_shape: mergedShape, atol, rtol, description: o.description +
      `; tfjs ${LAYERS_VERSION} float32 output (the LSTMs with recurrentActivation 'sigmoid')` }, name, o.seed);
}

function multiHeadModelCases(outDir, examples) {
  const zeros = { kernelInitializer: 'zeros', biasInitializer: 'zeros' };
  const lstm = (units, name, returnSequences = false) => () =>
    layers.lstm({ units, returnSequences, recurrentActivation: 'sigmoid', recurrentInitializer: 'zeros', ...zeros, name });
  const conv = (kernelSize, name) => () => layers.conv1d({ filters: 6, kernelSize, padding: 'same', activation: 'relu', ...zeros, name });
  const lstmScales = [0.4, 0.4, 0.4], convScales = [0.4, 0.4];
  if (examples) {
    // examples/multi_head_lstm.cpp and examples/multi_head_cnn.cpp, at the sizes of the issue's
    // models; the sample is the weight file's self-test (`selftest.` tensors).
    const file = (n) => path.join(examples, `${n}.safetensors`);
    multiHeadModelCase(outDir, { name: 'keras_multi_head_lstm', file: file('keras_multi_head_lstm'), samplePrefix: 'selftest.',
      seed: 330, B: 8, T: 50, V: 100, D: 20, merge: 'stack', flatten: true,
      heads: [1, 2, 3].map((i) => ({ name: `lstm_${i}`, make: lstm(64, `lstm_${i}`), scales: [0.2, 0.2, 0.2] })),
      description: 'Embedding(100, 20) -> MultiHead(LSTM(64), layer_num=3) -> Flatten -> Dense(4, softmax) on 50 tokens' });
    multiHeadModelCase(outDir, { name: 'keras_multi_head_cnn', file: file('keras_multi_head_cnn'), samplePrefix: 'selftest.',
      seed: 331, B: 8, T: 50, V: 100, D: 20, merge: 'stack', flatten: true,
      heads: [3, 5, 7].map((k) => ({ name: `conv${k}`, make: () => layers.conv1d({ filters: 32, kernelSize: k, padding: 'same',
        activation: 'relu', ...zeros, name: `conv${k}` }), scales: [0.15, 0.15] })), denseScale: 0.03,
      description: "Embedding(100, 20) -> MultiHead([Conv1D(32, k, padding='same', activation='relu') for k in 3, 5, 7]) " +
        '-> Flatten -> Dense(4, softmax) on 50 tokens' });
    return;
  }
  multiHeadModelCase(outDir, { name: 'multi_head_lstm_model', seed: 320, B: 3, T: 9, V: 30, D: 8, merge: 'stack', flatten: true,
    heads: [1, 2, 3].map((i) => ({ name: `lstm_${i}`, make: lstm(12, `lstm_${i}`), scales: lstmScales })),
    description: 'Embedding(30, 8) -> MultiHead(LSTM(12), layer_num=3) (stacked: (batch, 12, 3)) -> Flatten -> Dense(4, softmax)' });
  multiHeadModelCase(outDir, { name: 'multi_head_cnn_model', seed: 321, B: 2, T: 11, V: 30, D: 8, merge: 'stack', flatten: true,
    heads: [3, 5, 7].map((k) => ({ name: `conv${k}`, make: conv(k, `conv${k}`), scales: convScales })),
    description: "Embedding(30, 8) -> MultiHead([Conv1D(6, k, padding='same', activation='relu') for k in 3, 5, 7]) " +
      '(stacked: (batch, 11, 6, 3)) -> Flatten -> Dense(4, softmax)' });
  multiHeadModelCase(outDir, { name: 'multi_head_lstm_concatenated', seed: 322, B: 2, T: 6, V: 30, D: 8, merge: 'concatenate', flatten: false,
    heads: [1, 2].map((i) => ({ name: `lstm_${i}`, make: lstm(5, `lstm_${i}`, true), scales: lstmScales })),
    description: 'Embedding(30, 8) -> two LSTM(5, return_sequences=True) copies concatenated on the features ' +
      '(batch, 6, 10) -> Dense(4, softmax) at each position' });
}

// (4, 8) token ids with right padding, left padding, none, and 0s in the middle.
function maskedIds(B, T) {
  if (B !== 4 || T !== 8) throw new Error('the masked ids are (4, 8)');
  return { shape: [B, T], data: new Int32Array([
    5, 3, 9, 0, 0, 0, 0, 0,
    0, 0, 4, 7, 2, 8, 1, 6,
    3, 1, 4, 1, 5, 9, 2, 6,
    7, 0, 3, 11, 0, 0, 19, 0]) };
}

// Sets a built layer's weights to seeded values (scales[i] for weight i) and records them in W
// under their Keras names.
function seededWeights(rng, W) {
  return (layer, scales) => {
    const values = layer.weights.map((w, i) => {
      const t = rng.f32(w.shape, scales[i]);
      W[w.originalName] = { dtype: 'F32', ...t };
      return f32tensor(t);
    });
    layer.setWeights(values);
    tf.dispose(values);
  };
}

// Keras's mask propagation: Embedding(mask_zero=True) makes mask = ids != 0, which the LSTMs
// after it receive (tfjs's RNN carries the states over masked steps and repeats the last output).
// Ids include right padding, left padding and a 0 in the middle.
function maskedModelCase(outDir, o) {
  const rng = new Rng(o.seed);
  const [B, T, V, D] = [4, 8, 20, 6];
  const ids = maskedIds(B, T);
  const W = {};
  const setWeights = seededWeights(rng, W);
  const zeros = { kernelInitializer: 'zeros', biasInitializer: 'zeros' };
  const lstm = (units, name, returnSequences) =>
    layers.lstm({ units, returnSequences, recurrentActivation: 'sigmoid', recurrentInitializer: 'zeros', ...zeros, name });
  const tids = tf.tensor(ids.data, ids.shape, 'int32');
  const embed = layers.embedding({ inputDim: V, outputDim: D, maskZero: true, embeddingsInitializer: 'zeros', name: 'embed' });
  tf.dispose(embed.apply(tids));
  setWeights(embed, [1]);
  const e = embed.apply(tids);
  const mask = embed.computeMask(tids);
  const build = (layer, input, scales) => {
    tf.dispose(layer.apply(input, { mask }));
    setWeights(layer, scales);
    return layer.apply(input, { mask });
  };
  let features;
  const owned = [];
  if (o.heads) {
    const outs = [1, 2].map((i) => build(lstm(4, `lstm_${i}`, false), e, [0.5, 0.5, 0.5]));
    const stacked = tf.stack(outs, -1);
    features = tf.reshape(stacked, [B, -1]);
    owned.push(...outs, stacked);
  } else {
    const h1 = build(lstm(7, 'lstm_seq', true), e, [0.5, 0.5, 0.5]);
    features = build(lstm(5, 'lstm_last', false), h1, [0.5, 0.5, 0.5]);
    owned.push(h1);
  }
  const dense = layers.dense({ units: 3, activation: 'softmax', ...zeros, name: 'dense' });
  tf.dispose(dense.apply(features));
  setWeights(dense, [0.5, 0.3]);
  const ty = dense.apply(features);
  const y = read(ty);
  tf.dispose([tids, e, mask, features, ty, ...owned]);
  const [atol, rtol] = [2e-5, 2e-4];
  write(path.join(outDir, `keras_${o.name}.safetensors`), {
    ...W, 'golden.ids': { dtype: 'I32', ...ids }, 'golden.output': { dtype: 'F32', ...y },
  }, { framework: 'keras', atol, rtol, description: o.description + `; tfjs ${LAYERS_VERSION} float32 output` }, o.name, o.seed);
}

// Keras's mask propagation into MultiHeadAttention: Embedding(mask_zero=True) gives its output a
// mask (tfjs stores it as tensor.kerasMask), and the attention ANDs the query's mask [B, T, 1]
// with the value's [B, 1, S], so padded query rows are fully masked rows: under Keras's -1e9
// they average every value. The model: y = Dense(LN(e + MHA(e, e))), e = Embedding(ids).
function maskedAttentionModelCase(outDir, o) {
  const rng = new Rng(o.seed);
  const [B, T, V, D, heads, keyDim, units] = [4, 8, 20, 8, 2, 4, 3];
  const ids = maskedIds(B, T);
  const W = {};
  const setWeights = seededWeights(rng, W);
  const zeros = { kernelInitializer: 'zeros', biasInitializer: 'zeros' };
  const tids = tf.tensor(ids.data, ids.shape, 'int32');
  const embed = layers.embedding({ inputDim: V, outputDim: D, maskZero: true, embeddingsInitializer: 'zeros', name: 'embed' });
  tf.dispose(embed.apply(tids));
  setWeights(embed, [1]);
  const e = embed.apply(tids);
  if (!e.kerasMask) throw new Error('tfjs no longer attaches the embedding mask to its output');
  const mha = new MultiHeadAttention({ numHeads: heads, keyDim, ...zeros, name: 'mha' });
  tf.dispose(mha.call(e, { value: e, training: false }));
  seedSelfAttention(rng, mha, W, D, heads, keyDim);
  // o.window: a causal sliding window of that many keys (j <= i && i - j < window) given as the
  // call's attention_mask, which Keras ANDs with the propagated mask.
  const windowMask = o.window ? tf.tensor3d(Array.from({ length: B }, () =>
    Array.from({ length: T }, (_, i) => Array.from({ length: T }, (_, j) => j <= i && i - j < o.window))), [B, T, T], 'bool') : null;
  const withWindow = (m) => (windowMask ? tf.logicalAnd(m, windowMask) : m);
  const call = (x, mask) => mha.call(x, { value: x, ...(mask ? { attentionMask: mask } : {}), training: false });
  const attention = call(e, windowMask);  // reads e.kerasMask
  // The same through an explicit attention mask mask[:, :, None] & mask[:, None, :] (and the
  // window) on a tensor without a mask: tfjs must have built exactly that one.
  const keep = e.kerasMask.cast('bool');
  const pairs = tf.logicalAnd(keep.expandDims(2), keep.expandDims(1));
  const bare = tf.add(e, 0);
  const explicit = call(bare, withWindow(pairs));
  const keysOnly = call(bare, withWindow(tf.logicalAnd(tf.onesLike(pairs), keep.expandDims(1))));
  const [a, x, k] = [attention.dataSync(), explicit.dataSync(), keysOnly.dataSync()];
  let rowsDiffer = false;
  for (let i = 0; i < a.length; i++) {
    if (a[i] !== x[i]) throw new Error(`masked attention: propagated ${a[i]} vs explicit ${x[i]} at ${i}`);
    rowsDiffer = rowsDiffer || Math.abs(a[i] - k[i]) > 1e-3;
  }
  if (!rowsDiffer) throw new Error('masked attention: the query mask changed nothing; pick other ids');
  const sum = tf.add(e, attention);
  const norm = layers.layerNormalization({ epsilon: 1e-6, name: 'norm' });
  tf.dispose(norm.apply(sum));
  seedLayerNorm(rng, norm, W, D);
  const normed = norm.apply(sum);
  const dense = layers.dense({ units, ...zeros, name: 'dense' });
  tf.dispose(dense.apply(normed));
  setWeights(dense, [0.5, 0.3]);
  const ty = dense.apply(normed);
  const y = read(ty);
  tf.dispose([tids, e, attention, keep, pairs, bare, explicit, keysOnly, sum, normed, ty]);
  if (windowMask) windowMask.dispose();
  const [atol, rtol] = [5e-5, 5e-4];
  const windowText = o.window ? `, attention_mask = a causal sliding window of ${o.window} keys (j <= i and i - j < ${o.window})` : '';
  write(path.join(outDir, `keras_${o.name}.safetensors`), {
    ...W, 'golden.ids': { dtype: 'I32', ...ids }, 'golden.output': { dtype: 'F32', ...y },
  }, { framework: 'keras', atol, rtol, ...(o.window ? { window: o.window } : {}),
    description: `Embedding(${V}, ${D}, mask_zero=True) -> ` +
    `LayerNormalization(epsilon=1e-6)(e + MultiHeadAttention(num_heads=${heads}, key_dim=${keyDim})(e, e${windowText})) -> ` +
    `Dense(${units}), the mask propagated to the attention's query and value${o.window ? ' and ANDed with the window' : ''} ` +
    `(padded query rows are fully masked rows, averaged under -1e9); tfjs ${LAYERS_VERSION} float32 output at every position` }, o.name, o.seed);
}

// ---------------------------------------------------------------------------------------------
const here = path.dirname(fileURLToPath(import.meta.url));
const argv = process.argv.slice(2);
if (argv[0] === '--multi-head-examples') {
  // Small enough to commit (about 270 and 130 KB): examples/data.
  const dir = path.resolve(argv[1] ?? path.join(here, '..', '..', 'examples', 'data'));
  multiHeadModelCases(dir, dir);
} else if (argv[0] === '--example') {
  if (!argv[1]) throw new Error('--example needs an output file');
  mkdirSync(path.dirname(path.resolve(argv[1])), { recursive: true });
  // The sample is stored as the weight file's self-test (`selftest.` tensors, which loading skips).
  wrapperBlock(path.resolve(argv[1]), { name: 'example_wrapper_block', seed: 401, B: 2, T: 40, D: 512, heads: 8, keyDim: 512, samplePrefix: 'selftest.' });
} else {
  const outDir = path.resolve(argv[0] === '--out' && argv[1] ? argv[1] : path.join(here, '..', '..', 'tests', 'data', 'layers'));
  mkdirSync(outDir, { recursive: true });
  ['linear', 'relu', 'tanh', 'sigmoid', 'softmax', 'gelu'].forEach((a, i) => denseCase(outDir, a, true, 301 + i));
  denseCase(outDir, 'relu', false, 310);
  embeddingCase(outDir, 311);
  layerNormCase(outDir, undefined, 'layer_norm', 312);
  layerNormCase(outDir, 1e-6, 'layer_norm_eps1e-6', 313);
  wrapperBlock(path.join(outDir, 'keras_wrapper_attention_block.safetensors'),
    { name: 'wrapper_attention_block', seed: 314, B: 2, T: 7, D: 24, heads: 3, keyDim: 24 });
  lstmCases(outDir, 315);
  multiHeadModelCases(outDir);
  maskedModelCase(outDir, { name: 'masked_lstm_model', seed: 340,
    description: 'Embedding(20, 6, mask_zero=True) -> LSTM(7, return_sequences=True) -> LSTM(5) -> Dense(3, softmax), ' +
      'the mask propagated (right, left and inner padding)' });
  maskedModelCase(outDir, { name: 'masked_multi_head_model', seed: 341, heads: true,
    description: 'Embedding(20, 6, mask_zero=True) -> MultiHead(LSTM(4), layer_num=2), each copy given the mask -> ' +
      'Flatten -> Dense(3, softmax)' });
  maskedAttentionModelCase(outDir, { name: 'masked_attention_model', seed: 342 });
  maskedAttentionModelCase(outDir, { name: 'masked_window_attention_model', seed: 343, window: 3 });
  const conv = { B: 2, C: 4, F: 6, dilation: 1, activation: 'linear', useBias: true };
  conv1dCase(outDir, { ...conv, name: 'conv1d_same_strided', seed: 316, L: 10, K: 3, stride: 2, padding: 'same', activation: 'relu',
    note: '; at L = 10 Keras pads 1 zero (on the right), not d(K-1) = 2' });
  conv1dCase(outDir, { ...conv, name: 'conv1d_causal_dilated', seed: 317, L: 9, K: 3, stride: 1, dilation: 2, padding: 'causal',
    note: "; 'causal' built as Keras defines it (tfjs lacks it): d(K-1) zeros on the left, then 'valid'" });
  conv1dCase(outDir, { ...conv, name: 'conv1d_valid_no_bias', seed: 318, L: 11, K: 5, stride: 3, padding: 'valid', activation: 'tanh', useBias: false });
}
