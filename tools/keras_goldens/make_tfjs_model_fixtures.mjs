// Writes tests/data/tfjs/<case>/: models in the TensorFlow.js Layers format (model.json plus
// binary weight shards), for typeformer's `load_weights<Model>("model.json", naming::keras)`.
//
//   cd tools/keras_goldens && npm ci && node make_tfjs_model_fixtures.mjs [--out DIR]
//
// (default DIR: ../../tests/data/tfjs). Deterministic (seeded inputs and weights, see
// tfjs_env.mjs; no dates or counters in the files): reruns are byte-identical.
//
// Every model.json carries a self-test in userDefinedMetadata.typeformer_selftest: a seeded input
// and the output tfjs computes for it (floats printed as JavaScript Numbers of float32 values, so
// they parse back to the exact float32), with atol/rtol (|got - ref| <= atol + rtol * |ref|).
//
// How each fixture is made:
// - dense_norm, embedding_lstm, conv1d: Sequential models saved by tfjs itself (model.save through
//   tf.io.withSaveHandler), model.json assembled by tfjs-core's own getModelJSONForModelArtifacts
//   with the one weight file `./model.weights.bin`, exactly as tfjs's http and browser-download
//   save handlers write it. The self-test is set with model.setUserDefinedMetadata before saving.
// - dense_norm_sharded: dense_norm's saved weight data split into group1-shard1of2.bin and
//   group1-shard2of2.bin at byte SHARD_BYTES (inside out/kernel, in the middle of a float), as
//   tensorflowjs_converter --weight_shard_size_bytes SHARD_BYTES cuts a group.
// - dense_norm_{float16,uint8,uint16}: dense_norm's weights rewritten as tensorflowjs_converter's
//   write_weights.py / quantization.py quantise them (float16: IEEE half, round to nearest even;
//   uint8/uint16: per-tensor affine q = round((clip(x, min, max) - min) / scale) with the range
//   nudged so that 0 is exact when the tensor spans 0; manifest quantization {dtype, min, scale,
//   original_dtype}). tfjs cannot write these; the self-test output is computed by tfjs loading
//   the quantised artifacts back (its io.decodeWeights dequantises: v * scale + min in double,
//   stored into a Float32Array; float16 through its bit-table decoder).
// - mha_block, mha_block_causal: tfjs 4.22 cannot serialise MultiHeadAttention (its sublayers'
//   weights are not tracked), so the Keras 2 functional model.json is written by hand:
//   InputLayer 'input' -> MultiHeadAttention 'mha' (mha(x, x), optionally use_causal_mask) ->
//   Add 'add' -> LayerNormalization 'norm' (epsilon 1e-6); weights under Keras's names
//   (tfjs's sublayer 'attentionOutput' is written as 'attention_output'). The self-test output is
//   tfjs's MultiHeadAttention + add + LayerNormalization applied directly.
// - hostile/<name>: dense_norm with one defect each (see hostile/README.md, written from HOSTILE
//   below); a loader must refuse every one with a format error.
//
// Before finishing, every fixture is read back from the written files (shards concatenated in
// manifest order) and recomputed by tfjs: loadLayersModel through tf.io.fromMemory for the
// layers models, decodeWeights + the layers for the attention blocks; it must reproduce the
// recorded output exactly.

import { readFileSync, writeFileSync, mkdirSync, rmSync, existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { tf, layers, MultiHeadAttention, LAYERS_VERSION, Rng } from './tfjs_env.mjs';

// Loaded after tfjs_env.mjs has registered its module-resolution hook, so that these are the same
// ES-module instances tfjs_env.mjs uses.
const tfl = await import('@tensorflow/tfjs-layers');
const { getModelJSONForModelArtifacts } = await import('@tensorflow/tfjs-core/dist/io/io_utils');

const GENERATOR = 'tools/keras_goldens/make_tfjs_model_fixtures.mjs';
const ATOL = 1e-5, RTOL = 1e-4;
const SHARD_BYTES = 1002; // dense_norm_sharded: out/kernel spans bytes 832..1088
const ZEROS = { kernelInitializer: 'zeros', biasInitializer: 'zeros' };

const f32tensor = (t) => tf.tensor(t.data, t.shape, 'float32');
const numbers = (typed) => Array.from(typed); // JSON.stringify prints each float32 exactly

function selftest(input, output, extra = {}) {
  return {
    typeformer_selftest: {
      input: { dtype: input.dtype, shape: input.shape, values: numbers(input.data) },
      output: { dtype: 'float32', shape: output.shape, values: numbers(output.data) },
      atol: ATOL, rtol: RTOL, generator: GENERATOR, tfjs_layers_version: LAYERS_VERSION, ...extra,
    },
  };
}

// Overwrites every weight of a built model with seeded values: kernels ~ N(0, 1/fan_in),
// embeddings ~ N(0, 1), biases and beta ~ N(0, 0.5^2), gamma ~ 1 + N(0, 0.2^2).
function seedWeights(rng, model) {
  const values = model.weights.map((w) => {
    const kind = w.originalName.split('/').pop();
    let t;
    if (kind === 'gamma') {
      t = rng.f32(w.shape, 0.2);
      for (let i = 0; i < t.data.length; i++) t.data[i] = Math.fround(1 + t.data[i]);
    } else if (kind === 'bias' || kind === 'beta') {
      t = rng.f32(w.shape, 0.5);
    } else if (kind === 'embeddings') {
      t = rng.f32(w.shape, 1);
    } else {
      const fanIn = w.shape.slice(0, -1).reduce((a, b) => a * b, 1);
      t = rng.f32(w.shape, 1 / Math.sqrt(fanIn));
    }
    return f32tensor(t);
  });
  model.setWeights(values);
  tf.dispose(values);
}

function predict(model, input) {
  const x = tf.tensor(input.data, input.shape, input.dtype);
  const y = model.predict(x);
  const out = { shape: y.shape, data: y.dataSync().slice() };
  tf.dispose([x, y]);
  return out;
}

// What tfjs hands a save handler (modelTopology, format, generatedBy, convertedBy,
// userDefinedMetadata, weightSpecs, weightData).
async function saveArtifacts(model) {
  let artifacts;
  await model.save(tf.io.withSaveHandler(async (a) => {
    artifacts = a;
    return { modelArtifactsInfo: { dateSaved: new Date(0), modelTopologyType: 'JSON' } };
  }));
  return artifacts;
}

// Writes model.json (tfjs's own layout: getModelJSONForModelArtifacts, compact JSON.stringify as
// tfjs's save handlers do) and the shards.
function writeModel(dir, artifacts, manifest, shards) {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const json = JSON.stringify(getModelJSONForModelArtifacts(artifacts, manifest));
  writeFileSync(path.join(dir, 'model.json'), json);
  for (const [name, bytes] of Object.entries(shards)) writeFileSync(path.join(dir, name), bytes);
  return json;
}

const bytesOf = (weightData) => Buffer.from(tf.io.CompositeArrayBuffer.join(weightData));

// ---------------------------------------------------------------------------------------------
// real tfjs-saved models

function buildDenseNorm() {
  return tfl.sequential({ name: 'dense_norm', layers: [
    layers.dense({ units: 16, activation: 'relu', inputShape: [6, 10], name: 'hidden', ...ZEROS }),
    layers.layerNormalization({ epsilon: 1e-5, name: 'norm' }),
    layers.dense({ units: 4, name: 'out', ...ZEROS }),
  ] });
}

function buildEmbeddingLstm() {
  // recurrentActivation 'sigmoid' is Keras's default since 2.3 (tfjs's default is hard_sigmoid).
  return tfl.sequential({ name: 'embedding_lstm', layers: [
    layers.embedding({ inputDim: 30, outputDim: 8, inputLength: 7, name: 'embedding', embeddingsInitializer: 'zeros' }),
    layers.lstm({ units: 12, returnSequences: true, recurrentActivation: 'sigmoid', name: 'lstm', recurrentInitializer: 'zeros', ...ZEROS }),
    layers.dense({ units: 3, activation: 'softmax', name: 'classifier', ...ZEROS }),
  ] });
}

function buildConv1d() {
  return tfl.sequential({ name: 'conv1d', layers: [
    layers.conv1d({ filters: 6, kernelSize: 3, padding: 'same', activation: 'relu', inputShape: [9, 5], name: 'conv', ...ZEROS }),
    layers.dense({ units: 2, name: 'out', ...ZEROS }),
  ] });
}

const REAL = [
  { name: 'dense_norm', seed: 501, build: buildDenseNorm, input: (rng) => ({ dtype: 'float32', ...rng.f32([2, 6, 10]) }),
    expectNames: 'hidden/kernel,hidden/bias,norm/gamma,norm/beta,out/kernel,out/bias' },
  { name: 'embedding_lstm', seed: 502, build: buildEmbeddingLstm,
    input: (rng) => {
      const data = new Int32Array(3 * 7);
      for (let i = 0; i < data.length; i++) data[i] = Math.floor(rng.uniform() * 30);
      data[0] = 0; data[1] = 29; // both ends of the vocabulary
      return { dtype: 'int32', shape: [3, 7], data };
    },
    expectNames: 'embedding/embeddings,lstm/kernel,lstm/recurrent_kernel,lstm/bias,classifier/kernel,classifier/bias' },
  { name: 'conv1d', seed: 503, build: buildConv1d, input: (rng) => ({ dtype: 'float32', ...rng.f32([2, 9, 5]) }),
    expectNames: 'conv/kernel,conv/bias,out/kernel,out/bias' },
];

async function realCase(outDir, c) {
  const rng = new Rng(c.seed);
  const model = c.build();
  seedWeights(rng, model);
  const names = model.weights.map((w) => w.originalName).join();
  if (names !== c.expectNames) throw new Error(`${c.name}: weight names ${names}`);
  const input = c.input(rng);
  const output = predict(model, input);
  model.setUserDefinedMetadata(selftest(input, output, { case: c.name, seed: c.seed }));
  const artifacts = await saveArtifacts(model);
  const manifest = [{ paths: ['./model.weights.bin'], weights: artifacts.weightSpecs }];
  writeModel(path.join(outDir, c.name), artifacts, manifest, { 'model.weights.bin': bytesOf(artifacts.weightData) });
  model.dispose();
  return { artifacts, input, output };
}

// dense_norm's tfjs-saved data cut into two shards at SHARD_BYTES.
function shardedCase(outDir, base) {
  const { artifacts } = base;
  const bytes = bytesOf(artifacts.weightData);
  let offset = 0;
  const inside = artifacts.weightSpecs.find((s) => {
    const n = 4 * s.shape.reduce((a, b) => a * b, 1);
    const hit = offset < SHARD_BYTES && SHARD_BYTES < offset + n;
    offset += n;
    return hit;
  });
  if (!inside) throw new Error('the shard boundary must fall inside a tensor');
  const a = {
    ...artifacts,
    userDefinedMetadata: { typeformer_selftest: { ...artifacts.userDefinedMetadata.typeformer_selftest, case: 'dense_norm_sharded',
      synthetic: `dense_norm's tfjs-saved weight data (${bytes.length} bytes) cut into two shards at byte ${SHARD_BYTES}, ` +
        `inside ${inside.name} and in the middle of a float32, as tensorflowjs_converter --weight_shard_size_bytes ` +
        `${SHARD_BYTES} cuts a group; model.json otherwise as tfjs saved it` } },
  };
  const paths = ['group1-shard1of2.bin', 'group1-shard2of2.bin'];
  writeModel(path.join(outDir, 'dense_norm_sharded'), a, [{ paths, weights: artifacts.weightSpecs }],
    { [paths[0]]: bytes.subarray(0, SHARD_BYTES), [paths[1]]: bytes.subarray(SHARD_BYTES) });
  return inside.name;
}

// ---------------------------------------------------------------------------------------------
// tensorflowjs_converter's quantisation

// float32 -> IEEE binary16 bits, round to nearest even (numpy's astype(np.float16)).
function halfBits(value) {
  const u = new Uint32Array(new Float32Array([value]).buffer)[0];
  const sign = (u >>> 16) & 0x8000;
  const exp = (u >>> 23) & 0xff;
  let mant = u & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) { // subnormal half (or zero)
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let h = mant >>> shift;
    const rem = mant & ((1 << shift) - 1), half = 1 << (shift - 1);
    if (rem > half || (rem === half && (h & 1))) h++;
    return sign | h;
  }
  let h = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && (h & 1))) h++; // a carry into the exponent is correct
  return sign | h;
}

const roundHalfEven = (x) => {
  const r = Math.round(x);
  return (Math.abs(x % 1) === 0.5 && r % 2 !== 0) ? r - 1 : r;
};

// quantization.py quantize_weights for uint8/uint16, in float64 (the min and max are the float32
// extremes as float64; _get_affine_quantization_range nudges the range so 0 is exact).
function affineQuantize(values, bits) {
  const qmax = 2 ** bits - 1;
  let min = Infinity, max = -Infinity;
  for (const v of values) { min = Math.min(min, v); max = Math.max(max, v); }
  if (min === max) return { q: new (bits === 8 ? Uint8Array : Uint16Array)(values.length), min, scale: 1.0 };
  const scale = (max - min) / qmax;
  let nmin = min, nmax = max;
  if (min <= 0 && 0 <= max) {
    const zero = roundHalfEven((0 - min) / scale);
    nmin = -zero * scale;
    nmax = qmax * scale + nmin;
  }
  const q = new (bits === 8 ? Uint8Array : Uint16Array)(values.length);
  for (let i = 0; i < values.length; i++) {
    const c = Math.min(Math.max(values[i], nmin), nmax);
    q[i] = Math.min(Math.max(roundHalfEven((c - nmin) / scale), 0), qmax);
  }
  return { q, min: nmin + 0, scale }; // + 0 turns -0 into 0
}

function quantizeArtifacts(artifacts, dtype) {
  const all = new Float32Array(new Uint8Array(bytesOf(artifacts.weightData)).buffer);
  let offset = 0;
  const specs = [], parts = [];
  for (const spec of artifacts.weightSpecs) {
    const n = spec.shape.reduce((a, b) => a * b, 1);
    const values = all.subarray(offset, offset + n);
    offset += n;
    if (dtype === 'float16') {
      const h = new Uint16Array(n);
      for (let i = 0; i < n; i++) h[i] = halfBits(values[i]);
      parts.push(Buffer.from(h.buffer));
      specs.push({ name: spec.name, shape: spec.shape, dtype: 'float32', quantization: { dtype: 'float16', original_dtype: 'float32' } });
    } else {
      const { q, min, scale } = affineQuantize(values, dtype === 'uint8' ? 8 : 16);
      parts.push(Buffer.from(q.buffer));
      specs.push({ name: spec.name, shape: spec.shape, dtype: 'float32', quantization: { dtype, min, scale, original_dtype: 'float32' } });
    }
  }
  return { specs, data: Buffer.concat(parts) };
}

const arrayBuffer = (buf) => buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength);

async function quantizedCase(outDir, base, dtype) {
  const { artifacts, input, output: floatOutput } = base;
  const { specs, data } = quantizeArtifacts(artifacts, dtype);
  // tfjs's dequantisation is the reference: load the quantised artifacts back and predict.
  const model = await tfl.loadLayersModel(tf.io.fromMemory({
    modelTopology: artifacts.modelTopology, weightSpecs: specs, weightData: arrayBuffer(data) }));
  const output = predict(model, input);
  // The dequantised weights must be what the converter's quantisation promises.
  const decoded = tf.io.decodeWeights(arrayBuffer(data), specs);
  const original = tf.io.decodeWeights(arrayBuffer(bytesOf(artifacts.weightData)), artifacts.weightSpecs);
  let maxWeightError = 0;
  for (const s of specs) {
    const [d, o] = [decoded[s.name].dataSync(), original[s.name].dataSync()];
    const bound = dtype === 'float16' ? Infinity : s.quantization.scale / 2 * (1 + 1e-6) + 1e-7;
    for (let i = 0; i < d.length; i++) {
      const err = Math.abs(d[i] - o[i]);
      const b = dtype === 'float16' ? Math.max(Math.abs(o[i]) * 2 ** -11, 2 ** -25) * (1 + 1e-6) : bound;
      if (!(err <= b)) throw new Error(`${dtype} ${s.name}[${i}]: ${o[i]} dequantised to ${d[i]}`);
      maxWeightError = Math.max(maxWeightError, err);
    }
  }
  tf.dispose([...Object.values(decoded), ...Object.values(original)]);
  model.dispose();
  let maxOutputChange = 0;
  for (let i = 0; i < output.data.length; i++) maxOutputChange = Math.max(maxOutputChange, Math.abs(output.data[i] - floatOutput.data[i]));
  const how = dtype === 'float16'
    ? 'every weight of dense_norm (tfjs-saved float32) rounded to IEEE half (round to nearest even), stored as 2-byte halves; ' +
      'manifest entries "dtype": "float32", "quantization": {"dtype": "float16", "original_dtype": "float32"}'
    : `every weight of dense_norm (tfjs-saved float32) quantised per tensor to ${dtype} as tensorflowjs_converter's ` +
      'quantize_weights does (scale = (max - min) / ' + (dtype === 'uint8' ? '255' : '65535') + ', min nudged so that 0 is exact when ' +
      'the tensor spans 0, q = round_half_even((clip(x, min, max) - min) / scale), in float64); manifest "quantization": ' +
      `{"dtype": "${dtype}", "min": m, "scale": s, "original_dtype": "float32"}; value = q * scale + min`;
  const a = {
    modelTopology: artifacts.modelTopology, format: artifacts.format, generatedBy: artifacts.generatedBy,
    convertedBy: `${GENERATOR} (tensorflowjs_converter's ${dtype} quantisation, by hand)`,
    userDefinedMetadata: selftest(input, output, { case: `dense_norm_${dtype}`,
      synthetic: how + '. The output is tfjs ' + LAYERS_VERSION + "'s prediction from the artifacts loaded back with " +
        'tf.io.fromMemory + loadLayersModel, i.e. with tfjs-core io.decodeWeights\' dequantisation' }),
  };
  writeModel(path.join(outDir, `dense_norm_${dtype}`), a, [{ paths: ['group1-shard1of1.bin'], weights: specs }],
    { 'group1-shard1of1.bin': data });
  return { maxWeightError, maxOutputChange };
}

// ---------------------------------------------------------------------------------------------
// hand-built Keras 2 functional model with MultiHeadAttention

const GLOROT = { class_name: 'GlorotUniform', config: { seed: null } };
const ZEROS_INIT = { class_name: 'Zeros', config: {} };

function mhaTopology(name, B, T, D, heads, keyDim, causal) {
  const kwargs = { value: ['input', 0, 0] };
  if (causal) kwargs.use_causal_mask = true;
  return {
    class_name: 'Functional',
    config: {
      name,
      trainable: true,
      layers: [
        { class_name: 'InputLayer', config: { batch_input_shape: [null, T, D], dtype: 'float32', sparse: false, ragged: false, name: 'input' },
          name: 'input', inbound_nodes: [] },
        { class_name: 'MultiHeadAttention', config: {
          name: 'mha', trainable: true, dtype: 'float32', num_heads: heads, key_dim: keyDim, value_dim: keyDim, dropout: 0.0,
          use_bias: true, output_shape: null, attention_axes: [1], kernel_initializer: GLOROT, bias_initializer: ZEROS_INIT,
          kernel_regularizer: null, bias_regularizer: null, activity_regularizer: null, kernel_constraint: null, bias_constraint: null,
          query_shape: [null, T, D], key_shape: [null, T, D], value_shape: [null, T, D] },
          name: 'mha', inbound_nodes: [[['input', 0, 0, kwargs]]] },
        { class_name: 'Add', config: { name: 'add', trainable: true, dtype: 'float32' },
          name: 'add', inbound_nodes: [[['input', 0, 0, {}], ['mha', 0, 0, {}]]] },
        { class_name: 'LayerNormalization', config: {
          name: 'norm', trainable: true, dtype: 'float32', axis: [2], epsilon: 1e-6, center: true, scale: true,
          beta_initializer: ZEROS_INIT, gamma_initializer: { class_name: 'Ones', config: {} }, beta_regularizer: null,
          gamma_regularizer: null, beta_constraint: null, gamma_constraint: null },
          name: 'norm', inbound_nodes: [[['add', 0, 0, {}]]] },
      ],
      input_layers: [['input', 0, 0]],
      output_layers: [['norm', 0, 0]],
    },
    keras_version: '2.15.0',
    backend: 'tensorflow',
  };
}

const MHA_SUBLAYERS = [['queryDense', 'query'], ['keyDense', 'key'], ['valueDense', 'value'], ['outputDense', 'attention_output']];

// LayerNormalization(epsilon 1e-6)(x + MultiHeadAttention(x, x)) by tfjs's layers, from named
// float32 tensors (Keras names).
function runMhaBlock(weights, x, heads, keyDim, causal) {
  const mha = new MultiHeadAttention({ numHeads: heads, keyDim, ...ZEROS, name: 'mha' });
  const norm = layers.layerNormalization({ epsilon: 1e-6, name: 'norm' });
  const tx = tf.tensor(x.data, x.shape, 'float32');
  tf.dispose(mha.call(tx, { value: tx, useCausalMask: causal, training: false }));
  for (const [prop, kerasName] of MHA_SUBLAYERS) {
    const sub = mha[prop];
    const tfjsNames = sub.weights.map((w) => w.originalName).join();
    const tfjsSub = kerasName === 'attention_output' ? 'attentionOutput' : kerasName;
    if (tfjsNames !== `${tfjsSub}/kernel,${tfjsSub}/bias`) throw new Error(`tfjs MultiHeadAttention sublayer weights ${tfjsNames}`);
    sub.setWeights([weights[`mha/${kerasName}/kernel`], weights[`mha/${kerasName}/bias`]]);
  }
  const attention = mha.call(tx, { value: tx, useCausalMask: causal, training: false });
  const sum = tf.add(tx, attention);
  tf.dispose(norm.apply(sum));
  norm.setWeights([weights['norm/gamma'], weights['norm/beta']]);
  const ty = norm.apply(sum);
  const out = { shape: ty.shape, data: ty.dataSync().slice() };
  tf.dispose([tx, attention, sum, ty]);
  return out;
}

async function mhaCase(outDir, name, seed, causal) {
  const rng = new Rng(seed);
  const [B, T, D, heads, keyDim] = [2, 5, 12, 3, 4];
  const shapes = [
    ['mha/query/kernel', [D, heads, keyDim]], ['mha/query/bias', [heads, keyDim]],
    ['mha/key/kernel', [D, heads, keyDim]], ['mha/key/bias', [heads, keyDim]],
    ['mha/value/kernel', [D, heads, keyDim]], ['mha/value/bias', [heads, keyDim]],
    ['mha/attention_output/kernel', [heads, keyDim, D]], ['mha/attention_output/bias', [D]],
    ['norm/gamma', [D]], ['norm/beta', [D]],
  ];
  const named = shapes.map(([n, shape]) => {
    let t;
    if (n === 'norm/gamma') {
      t = rng.f32(shape, 0.2);
      for (let i = 0; i < t.data.length; i++) t.data[i] = Math.fround(1 + t.data[i]);
    } else if (n.endsWith('/kernel')) {
      t = rng.f32(shape, 1 / Math.sqrt(n.includes('attention_output') ? heads * keyDim : D));
    } else {
      t = rng.f32(shape, 0.5);
    }
    return { name: n, tensor: f32tensor(t) };
  });
  const x = { dtype: 'float32', ...rng.f32([B, T, D]) };
  const weights = Object.fromEntries(named.map((w) => [w.name, w.tensor]));
  const output = runMhaBlock(weights, x, heads, keyDim, causal);
  const { data, specs } = await tf.io.encodeWeights(named); // tfjs's own encoder: {name, shape, dtype}
  tf.dispose(named.map((w) => w.tensor));
  const a = {
    modelTopology: mhaTopology(name, B, T, D, heads, keyDim, causal),
    format: 'layers-model',
    generatedBy: `${GENERATOR} (hand-built Keras 2.15 functional layout)`,
    convertedBy: null,
    userDefinedMetadata: selftest(x, output, { case: name, seed,
      synthetic: 'hand-built: tfjs ' + LAYERS_VERSION + ' cannot serialise MultiHeadAttention, so model.json is written in the ' +
        'Keras 2 functional layout by the generator (InputLayer -> MultiHeadAttention(num_heads 3, key_dim 4) called as ' +
        `mha(x, x)${causal ? ' with use_causal_mask=True' : ''} -> Add([input, mha]) -> LayerNormalization(epsilon 1e-6)); ` +
        'weights encoded by tf.io.encodeWeights under Keras names; the output is tfjs\'s MultiHeadAttention (its ' +
        'attentionOutput sublayer holding attention_output) + add + LayerNormalization applied directly' }),
  };
  writeModel(path.join(outDir, name), a, [{ paths: ['group1-shard1of1.bin'], weights: specs }],
    { 'group1-shard1of1.bin': Buffer.from(data) });
}

// ---------------------------------------------------------------------------------------------
// hostile variants of dense_norm

const HOSTILE = [
  { name: 'shape_past_end',
    wrong: '`out/bias` (the last tensor) has shape [400] instead of [4]: its data would run 1584 bytes past the end of the 1104-byte shard',
    must: 'refuse: `model.weights.bin` too short for `out/bias` (name the shard, the tensor, the bytes needed and present)',
    edit: (m) => { m.weightsManifest[0].weights[5].shape = [400]; } },
  { name: 'shard_truncated',
    wrong: 'the shard is 4 bytes short (1100 bytes; the manifest needs 1104): `out/bias` is cut',
    must: 'refuse: the shards hold 1100 bytes, the manifest needs 1104 (name the shard and `out/bias`, the tensor that does not fit)',
    shard: (b) => b.subarray(0, b.length - 4) },
  { name: 'shard_extra_bytes',
    wrong: 'the shard has 4 bytes more than the manifest describes (1108 bytes for 1104)',
    must: 'refuse: 4 bytes not described by the manifest (name the shard); tfjs itself ignores them',
    shard: (b) => Buffer.concat([b, Buffer.from([0xde, 0xad, 0xbe, 0xef])]) },
  { name: 'dtype_float64',
    wrong: '`norm/gamma` has `"dtype": "float64"`, which the tfjs format does not have (its data is stored as 16 float64 values, so the sizes agree)',
    must: 'refuse: unsupported dtype `float64` for `norm/gamma` (name model.json and the tensor); no silent conversion',
    edit: (m) => { m.weightsManifest[0].weights[2].dtype = 'float64'; },
    shard: (b) => {
      const g = new Float32Array(new Uint8Array(b.subarray(704, 768)).buffer);
      return Buffer.concat([b.subarray(0, 704), Buffer.from(new Float64Array(g).buffer), b.subarray(768)]);
    } },
  { name: 'dtype_complex64',
    wrong: '`norm/gamma` has `"dtype": "complex64"` (a tfjs dtype, 8 bytes per element, stored with zero imaginary parts so the sizes agree), which is no weight type of a float model',
    must: 'refuse: unsupported dtype `complex64` for `norm/gamma` (name model.json and the tensor)',
    edit: (m) => { m.weightsManifest[0].weights[2].dtype = 'complex64'; },
    shard: (b) => {
      const g = new Float32Array(new Uint8Array(b.subarray(704, 768)).buffer);
      const c = new Float32Array(32);
      g.forEach((v, i) => { c[2 * i] = v; });
      return Buffer.concat([b.subarray(0, 704), Buffer.from(c.buffer), b.subarray(768)]);
    } },
  { name: 'quantization_int4',
    wrong: '`hidden/kernel` has `"quantization": {"dtype": "int4", "min": -1, "scale": 0.125}`: tfjs knows only uint8, uint16 and float16',
    must: 'refuse: unknown quantization dtype `int4` for `hidden/kernel` (name model.json and the tensor)',
    edit: (m) => { m.weightsManifest[0].weights[0].quantization = { dtype: 'int4', min: -1, scale: 0.125 }; } },
  { name: 'path_traversal',
    wrong: '`"paths": ["../../../etc/passwd"]`: a shard path escaping the model directory',
    must: 'refuse without opening anything: the path leaves the model directory (name model.json and the path)',
    edit: (m) => { m.weightsManifest[0].paths = ['../../../etc/passwd']; }, noShard: true },
  { name: 'path_absolute',
    wrong: '`"paths": ["/etc/passwd"]`: an absolute shard path',
    must: 'refuse without opening anything: absolute shard path (name model.json and the path)',
    edit: (m) => { m.weightsManifest[0].paths = ['/etc/passwd']; }, noShard: true },
  { name: 'shard_missing',
    wrong: 'the manifest lists `./model.weights.bin`, which is not there',
    must: 'refuse: cannot open `model.weights.bin` (name the shard path as resolved against the model directory)', noShard: true },
  { name: 'shape_negative',
    wrong: '`hidden/kernel` has shape [10, -16]',
    must: "refuse: negative dimension in `hidden/kernel`'s shape (name model.json and the tensor)",
    edit: (m) => { m.weightsManifest[0].weights[0].shape = [10, -16]; } },
  { name: 'shape_overflow',
    wrong: '`hidden/kernel` has shape [4294967296, 4294967296, 16]: 2^68 elements, whose count (and byte size) overflows 64 bits (wraps to 0)',
    must: "refuse before allocating: `hidden/kernel`'s element count overflows (checked multiplication; name model.json and the tensor)",
    edit: (m) => { m.weightsManifest[0].weights[0].shape = [4294967296, 4294967296, 16]; } },
  { name: 'weight_duplicate',
    wrong: '`norm/gamma` is listed twice (its 64 bytes are stored twice, so the sizes agree)',
    must: 'refuse: `norm/gamma` listed twice (name model.json and the tensor)',
    edit: (m) => { const w = m.weightsManifest[0].weights; w.splice(3, 0, { ...w[2] }); },
    shard: (b) => Buffer.concat([b.subarray(0, 768), b.subarray(704, 768), b.subarray(768)]) },
  { name: 'manifest_missing',
    wrong: 'model.json has no `weightsManifest` key',
    must: 'refuse: model.json has no `weightsManifest` (name model.json)',
    edit: (m) => { delete m.weightsManifest; } },
  { name: 'model_json_truncated',
    wrong: 'model.json is cut half way (not JSON)',
    must: 'refuse: model.json is not valid JSON (name model.json and, if known, the offset)', truncate: true },
  { name: 'weight_without_name',
    wrong: 'the manifest entry of `norm/beta` (the 4th) has no `"name"`',
    must: "refuse: manifest entry 4 (group 1) has no name (name model.json and the entry's position)",
    edit: (m) => { delete m.weightsManifest[0].weights[3].name; } },
];

function hostileCases(outDir, baseJson, baseShard) {
  const root = path.join(outDir, 'hostile');
  const rows = [];
  for (const h of HOSTILE) {
    const dir = path.join(root, h.name);
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    let json;
    if (h.truncate) {
      json = baseJson.slice(0, Math.floor(baseJson.length / 2));
    } else {
      const m = JSON.parse(baseJson);
      if (h.edit) h.edit(m);
      json = JSON.stringify(m);
    }
    writeFileSync(path.join(dir, 'model.json'), json);
    if (!h.noShard) writeFileSync(path.join(dir, 'model.weights.bin'), h.shard ? h.shard(baseShard) : baseShard);
    rows.push(`| \`${h.name}/\` | ${h.wrong} | ${h.must} |`);
  }
  writeFileSync(path.join(root, 'README.md'), [
    '# Hostile TensorFlow.js model fixtures',
    '',
    `Written by \`${GENERATOR}\` from \`../dense_norm\` (a tfjs-saved`,
    'Sequential Dense → LayerNormalization → Dense; weights `hidden/kernel` (10, 16), `hidden/bias`, `norm/gamma`,',
    '`norm/beta` (16 each), `out/kernel` (16, 4), `out/bias` (4): 1104 bytes in `./model.weights.bin`). Each directory holds',
    'a `model.json` and (unless the defect is a missing or unreachable shard) `model.weights.bin`, with exactly one',
    'thing wrong; everything else is as tfjs saved it, self-test included.',
    '',
    'What a loader must do, for every one: refuse before creating any tensor, with a format error that names',
    'the file (`model.json` or the shard) and, when the defect belongs to one, the tensor (its manifest name,',
    'or its position when it has none). Never read outside the model directory, never allocate from an',
    'unchecked shape, never return a partly loaded model.',
    '',
    '| file | what is wrong | what a loader must do |',
    '| --- | --- | --- |',
    ...rows,
    '',
  ].join('\n'));
}

// ---------------------------------------------------------------------------------------------
// reading every fixture back from disk

function readFixture(dir) {
  const modelJson = JSON.parse(readFileSync(path.join(dir, 'model.json'), 'utf8'));
  const specs = [], shards = [];
  for (const group of modelJson.weightsManifest) {
    specs.push(...group.weights);
    for (const p of group.paths) shards.push(readFileSync(path.join(dir, p)));
  }
  const weightData = arrayBuffer(Buffer.concat(shards));
  return { modelJson, specs, weightData, test: modelJson.userDefinedMetadata.typeformer_selftest };
}

function compare(name, got, test) {
  if (JSON.stringify(got.shape) !== JSON.stringify(test.output.shape)) throw new Error(`${name}: shape ${got.shape}`);
  let maxDiff = 0;
  got.data.forEach((v, i) => {
    const ref = test.output.values[i];
    if (!(Math.abs(v - ref) <= test.atol + test.rtol * Math.abs(ref))) throw new Error(`${name}: ${v} vs recorded ${ref} at ${i}`);
    maxDiff = Math.max(maxDiff, Math.abs(v - ref));
  });
  return maxDiff;
}

async function checkLayersFixture(dir, name) {
  const { modelJson, specs, weightData, test } = readFixture(dir);
  const model = await tfl.loadLayersModel(tf.io.fromMemory({ modelTopology: modelJson.modelTopology, weightSpecs: specs, weightData }));
  const input = { dtype: test.input.dtype, shape: test.input.shape,
    data: test.input.dtype === 'int32' ? Int32Array.from(test.input.values) : Float32Array.from(test.input.values) };
  const got = predict(model, input);
  model.dispose();
  return compare(name, got, test);
}

function checkMhaFixture(dir, name) {
  const { modelJson, specs, weightData, test } = readFixture(dir);
  const mhaLayer = modelJson.modelTopology.config.layers.find((l) => l.class_name === 'MultiHeadAttention');
  const causal = mhaLayer.inbound_nodes[0][0][3].use_causal_mask === true;
  const weights = tf.io.decodeWeights(weightData, specs);
  const x = { shape: test.input.shape, data: Float32Array.from(test.input.values) };
  const got = runMhaBlock(weights, x, mhaLayer.config.num_heads, mhaLayer.config.key_dim, causal);
  tf.dispose(Object.values(weights));
  return compare(name, got, test);
}

// ---------------------------------------------------------------------------------------------
const here = path.dirname(fileURLToPath(import.meta.url));
const argv = process.argv.slice(2);
const outDir = path.resolve(argv[0] === '--out' && argv[1] ? argv[1] : path.join(here, '..', '..', 'tests', 'data', 'tfjs'));
mkdirSync(outDir, { recursive: true });

const saved = {};
for (const c of REAL) saved[c.name] = await realCase(outDir, c);
const cutInside = shardedCase(outDir, saved.dense_norm);
const quantStats = {};
for (const dtype of ['float16', 'uint8', 'uint16']) quantStats[dtype] = await quantizedCase(outDir, saved.dense_norm, dtype);
await mhaCase(outDir, 'mha_block', 511, false);
await mhaCase(outDir, 'mha_block_causal', 512, true);
hostileCases(outDir, readFileSync(path.join(outDir, 'dense_norm', 'model.json'), 'utf8'),
  readFileSync(path.join(outDir, 'dense_norm', 'model.weights.bin')));

console.log(`dense_norm_sharded: cut at byte ${SHARD_BYTES}, inside ${cutInside}`);
for (const [dtype, s] of Object.entries(quantStats))
  console.log(`dense_norm_${dtype}: max |dequantised - float32 weight| ${s.maxWeightError.toExponential(2)}, ` +
    `max |output change| vs dense_norm ${s.maxOutputChange.toExponential(2)}`);

console.log('read-back check (from the written files, shards concatenated in manifest order):');
const fixtures = ['dense_norm', 'dense_norm_sharded', 'dense_norm_float16', 'dense_norm_uint8', 'dense_norm_uint16',
  'embedding_lstm', 'conv1d', 'mha_block', 'mha_block_causal'];
for (const name of fixtures) {
  const dir = path.join(outDir, name);
  const maxDiff = name.startsWith('mha_') ? checkMhaFixture(dir, name) : await checkLayersFixture(dir, name);
  const files = ['model.json', ...JSON.parse(readFileSync(path.join(dir, 'model.json'), 'utf8')).weightsManifest.flatMap((g) => g.paths)];
  const sizes = files.map((f) => `${path.basename(f)} ${readFileSync(path.join(dir, f)).length}`).join(', ');
  console.log(`  ${name}: tfjs reproduces the recorded output, max |diff| ${maxDiff} (${sizes})`);
}
for (const h of HOSTILE) if (!existsSync(path.join(outDir, 'hostile', h.name, 'model.json'))) throw new Error(`hostile/${h.name} missing`);
console.log(`hostile: ${HOSTILE.length} variants in ${path.join(outDir, 'hostile')}`);
