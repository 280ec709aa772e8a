// The TensorFlow.js environment every Keras reference generator here shares: tfjs-core with the
// pure-JavaScript CPU backend, tfjs-layers loaded as ES modules (so that layers the public API
// leaves out, such as MultiHeadAttention, can be imported from their files), a seeded float32
// random source, and a safetensors writer.
//
// How the layers are reached: MultiHeadAttention is not exported by tfjs-layers' public API and the
// CommonJS bundle (dist/tf-layers.node.js) tree-shakes it away. Its ES-module file is loaded
// directly. tfjs ships its dist/*.js as ES modules without "type": "module" and with extensionless
// relative imports, so a small module-resolution hook (registered below with node:module register)
// (a) resolves bare '@tensorflow/tfjs-*' imports to the packages' ES-module entry dist/index.js
//     instead of the CommonJS "main" (one consistent module graph, as a bundler would build),
// (b) appends ".js" (or "/index.js") to extensionless imports inside those dist folders, and
// (c) loads those files as ES modules.
// Tensor chained ops (t.add(...), used by EinsumDense) are registered by importing
// tfjs-core/dist/public/chained_ops/register_all_chained_ops, as the @tensorflow/tfjs umbrella
// package does. tfjs-core's platform_node.js calls require(), so a CommonJS require is put on
// globalThis. seedrandom (CommonJS) does not expose `alea` through ESM interop, so tfjs random ops
// and the default glorotUniform initializer cannot run here: layers are built with 'zeros'
// initializers and every weight is then overwritten with our own seeded values (setWeights).

import { createRequire, register } from 'node:module';
import { readFileSync } from 'node:fs';

globalThis.require = createRequire(import.meta.url);

const HOOK = `
const TFJS_DIST = /\\/node_modules\\/@tensorflow\\/tfjs-[a-z-]+\\/dist\\//;
export async function resolve(specifier, context, next) {
  if (/^@tensorflow\\/tfjs-[a-z-]+$/.test(specifier)) {
    const r = await next(specifier, context);  // CommonJS "main": dist/tf-*.node.js
    return { ...r, url: r.url.replace(/\\/dist\\/[^/]+$/, '/dist/index.js'), format: 'module' };
  }
  const parent = context.parentURL || '';
  const relativeInDist = TFJS_DIST.test(parent) && (specifier.startsWith('./') || specifier.startsWith('../'));
  const deepImport = /^@tensorflow\\/tfjs-[a-z-]+\\/dist\\//.test(specifier);
  if ((relativeInDist || deepImport) && !specifier.endsWith('.js')) {
    try { return await next(specifier + '.js', context); }
    catch (e) { return next(specifier + '/index.js', context); }
  }
  return next(specifier, context);
}
export async function load(url, context, next) {
  if (TFJS_DIST.test(url) && url.endsWith('.js')) {
    const r = await next(url, { ...context, format: 'module' });
    return { ...r, format: 'module', shortCircuit: true };
  }
  return next(url, context);
}`;
register('data:text/javascript,' + encodeURIComponent(HOOK));

export const tf = await import('@tensorflow/tfjs-core');
await import('@tensorflow/tfjs-core/dist/public/chained_ops/register_all_chained_ops');
await import('@tensorflow/tfjs-backend-cpu');
export const { layers } = await import('@tensorflow/tfjs-layers');
export const { MultiHeadAttention } = await import('@tensorflow/tfjs-layers/dist/layers/nlp/multihead_attention');
export const LAYERS_VERSION = JSON.parse(readFileSync(new URL('./node_modules/@tensorflow/tfjs-layers/package.json', import.meta.url))).version;
await tf.setBackend('cpu');
tf.env().set('IS_TEST', true); // silences the "install tfjs-node" banner


// ---------------------------------------------------------------------------------------------
// deterministic float32 random numbers (xorshift128+ and Box-Muller)
export class Rng {
  constructor(seed) {
    this.s0 = BigInt.asUintN(64, 0x9E3779B97F4A7C15n * BigInt(seed + 1));
    this.s1 = BigInt.asUintN(64, 0xBF58476D1CE4E5B9n ^ BigInt(seed * 7919 + 13));
    for (let i = 0; i < 16; i++) this.nextU64();
  }
  nextU64() {
    let s1 = this.s0;
    const s0 = this.s1;
    this.s0 = s0;
    s1 = BigInt.asUintN(64, s1 ^ (s1 << 23n));
    this.s1 = s1 ^ s0 ^ (s1 >> 17n) ^ (s0 >> 26n);
    return BigInt.asUintN(64, this.s1 + s0);
  }
  uniform() { // (0, 1), 53 random bits
    return (Number(this.nextU64() >> 11n) + 0.5) / 9007199254740992;
  }
  normal() {
    const u = this.uniform();
    const v = this.uniform();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }
  f32(shape, scale = 1) {
    const n = shape.reduce((a, b) => a * b, 1);
    const a = new Float32Array(n);
    for (let i = 0; i < n; i++) a[i] = Math.fround(this.normal() * scale);
    return { shape, data: a };
  }
}

// ---------------------------------------------------------------------------------------------
// safetensors writer (same layout as tools/safetensors_io.py: metadata first, compact JSON,
// tensors ordered by element size (largest first) then name, header padded with spaces to 8)
const DTYPE = { F32: 4, I32: 4, U8: 1 };
export function safetensorsBytes(tensors, metadata) {
  const entries = Object.entries(tensors).map(([name, t]) => {
    const bytes = Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength);
    const n = t.shape.reduce((a, b) => a * b, 1);
    if (bytes.length !== n * DTYPE[t.dtype]) throw new Error(`${name}: size mismatch`);
    return { name, dtype: t.dtype, shape: t.shape, bytes };
  });
  entries.sort((a, b) => (DTYPE[b.dtype] - DTYPE[a.dtype]) || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const header = { __metadata__: metadata };
  let off = 0;
  for (const e of entries) {
    header[e.name] = { dtype: e.dtype, shape: e.shape, data_offsets: [off, off + e.bytes.length] };
    off += e.bytes.length;
  }
  let json = Buffer.from(JSON.stringify(header), 'utf8');
  const pad = (8 - ((8 + json.length) % 8)) % 8;
  json = Buffer.concat([json, Buffer.alloc(pad, 0x20)]);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  return Buffer.concat([len, json, ...entries.map((e) => e.bytes)]);
}

