// Writes tests/data/layers/keras_*.safetensors: Keras-semantics reference data for Dense (each
// activation), Embedding, LayerNormalization and the "wrapper" attention block Keras users write,
// x -> LayerNormalization(epsilon=1e-6)(x + MultiHeadAttention(x, x)), computed by TensorFlow.js's
// Keras port (@tensorflow/tfjs-layers 4.22.0, pure-JavaScript CPU backend) in float32.
//
//   cd tools/keras_goldens && npm ci && node make_layer_goldens_keras.mjs [--out DIR]
//   node make_layer_goldens_keras.mjs --example FILE   # the d_model 512 wrapper block of
//                                                      # examples/keras_wrapper_attention.cpp
//
// Deterministic (seeded inputs and weights, see tfjs_env.mjs): reruns are byte-identical. Every
// case is also recomputed by a float64 loop implementation of Keras's formula, which tfjs must
// match within a quarter of the stored tolerance; the stored reference is tfjs's own output.
// Weight names are Keras's: `kernel`, `bias`, `embeddings`, `gamma`, `beta`, and for the block
// `mha/query/kernel` ... `mha/attention_output/bias`, `norm/gamma`, `norm/beta`.

import { writeFileSync, mkdirSync } from 'node:fs';
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
  const attention = mha.call(tx, { value: tx, training: false });
  const sum = tf.add(tx, attention);
  tf.dispose(norm.apply(sum));
  const gamma = rng.f32([D], 0.2), beta = rng.f32([D], 0.2);
  for (let i = 0; i < D; i++) gamma.data[i] = Math.fround(1 + gamma.data[i]);
  norm.setWeights([f32tensor(gamma), f32tensor(beta)]);
  W['norm/gamma'] = { dtype: 'F32', ...gamma };
  W['norm/beta'] = { dtype: 'F32', ...beta };
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

// ---------------------------------------------------------------------------------------------
const here = path.dirname(fileURLToPath(import.meta.url));
const argv = process.argv.slice(2);
if (argv[0] === '--example') {
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
}
