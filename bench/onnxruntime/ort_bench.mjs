// ONNX Runtime (CPU, through onnxruntime-node) peer of typeformer's attention benchmarks.
//
//   node ort_bench.mjs [--models DIR] [--threads 1,2] [--quick] [--only SUBSTRING] [--json FILE]
//                      [--atol 1e-3]
//   node ort_bench.mjs --serve [--models DIR] [--atol 1e-3]
//   node ort_bench.mjs --peak-memory-of NAME --threads N [--models DIR]
//
// For every model in DIR/manifest.json (written by tools/export_onnx_attention.py) and every
// thread count: create a session, check its outputs against the saved PyTorch outputs, then time
// session.run. A model whose answer is off by more than --atol is not timed: a fast wrong answer
// is not a result. Exits 1 if any model failed to load, run or match, after writing everything.
//
// Peak memory: with --peak-memory, each model and thread count is also measured in a fresh
// process (--peak-memory-of NAME): a new session and its inputs, then how far its first run
// raises the resident set (Linux's VmHWM, reset through /proc/self/clear_refs), the outputs
// aside, as record.peak_rise_mb. A fresh process because ORT's arenas and the allocator keep
// memory from one session to the next, so a later session's rise says little; its first run
// because that is where a session's arena grows (ours is measured with a fresh workspace).
//
// --serve: times blocks of runs on request, so that the C++ benchmarks can interleave ORT's
// blocks with their own (bench/onnxruntime_peer.hpp). One JSON request per line on stdin, one
// JSON answer per line on stdout, nothing else on stdout:
//   {"cmd":"open","name":"mha_b1_s128_d768_h12.fused","threads":2}  -> {"ok":true,"max_abs_diff":x}
//   {"cmd":"block","calls":40,"ms":400,"warm_ms":25}  -> {"ok":true,"times":[ms, ...]}
//   {"cmd":"close"}                                   -> {"ok":true}
// "open" checks the outputs as above (and releases the session open before); "block" runs
// untimed for warm_ms, then times at least one and at most `calls` runs, stopping once `ms` have
// passed. Errors answer {"ok":false,"error":"..."}; the process ends at the end of its input.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import * as ort from 'onnxruntime-node';

const here = path.dirname(fileURLToPath(import.meta.url));

// A bad command line: reported as one line, exit status 2.
class UsageError extends Error {}

function parseArgs(argv) {
  const opts = {
    models: path.resolve(here, '..', '..', 'build', 'onnx-models'),
    serve: false,
    threads: [1, 2],
    quick: false,
    only: null,
    json: null,
    atol: 1e-3,
    peakMemory: false,
    peakMemoryOf: null,
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const value = () => {
      if (i + 1 >= argv.length) throw new UsageError(`${arg} needs a value`);
      return argv[++i];
    };
    if (arg === '--models') opts.models = path.resolve(value());
    else if (arg === '--threads') opts.threads = value().split(',').map((t) => parseInt(t, 10));
    else if (arg === '--quick') opts.quick = true;
    else if (arg === '--serve') opts.serve = true;
    else if (arg === '--only') opts.only = value();
    else if (arg === '--json') opts.json = path.resolve(value());
    else if (arg === '--atol') opts.atol = parseFloat(value());
    else if (arg === '--peak-memory') opts.peakMemory = true;
    else if (arg === '--peak-memory-of') opts.peakMemoryOf = value();
    else if (arg === '--help' || arg === '-h') {
      console.log(fs.readFileSync(fileURLToPath(import.meta.url), 'utf8').split('\n\n')[0]);
      process.exit(0);
    } else throw new UsageError(`unknown argument: ${arg} (see --help)`);
  }
  if (opts.threads.some((t) => !(t >= 1))) throw new UsageError('--threads wants e.g. 1,2');
  return opts;
}

// Minimal .npy reader: only what the export script writes (little-endian float32, C order).
function readNpy(file) {
  const buf = fs.readFileSync(file);
  if (buf.readUInt8(0) !== 0x93 || buf.toString('latin1', 1, 6) !== 'NUMPY') {
    throw new Error(`${file}: not a .npy file`);
  }
  const major = buf.readUInt8(6);
  const headerLen = major === 1 ? buf.readUInt16LE(8) : buf.readUInt32LE(8);
  const start = (major === 1 ? 10 : 12) + headerLen;
  const header = buf.toString('latin1', major === 1 ? 10 : 12, start);
  if (!/'descr':\s*'<f4'/.test(header) || !/'fortran_order':\s*False/.test(header)) {
    throw new Error(`${file}: want little-endian float32 in C order, header ${header.trim()}`);
  }
  const shape = header
    .match(/'shape':\s*\(([^)]*)\)/)[1]
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0)
    .map(Number);
  // Copy out: a Buffer may sit at an offset that a Float32Array view cannot start at.
  const bytes = buf.subarray(start);
  const data = new Float32Array(bytes.length / 4);
  new Uint8Array(data.buffer).set(bytes);
  const count = shape.reduce((a, b) => a * b, 1);
  if (data.length !== count) throw new Error(`${file}: ${data.length} values for shape ${shape}`);
  return { shape, data };
}

function maxAbsDiff(a, b) {
  if (a.length !== b.length) return Infinity;
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    if (!(d <= m)) m = d; // NaN propagates: !(NaN <= m) is true
  }
  return m;
}

function median(sorted) {
  const n = sorted.length;
  return n % 2 ? sorted[(n - 1) / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
}

// Times `session.run` until both the run count and the elapsed time reach their minimum.
// The first runs are warm-up (arena growth, first-touch page faults) and are not counted.
async function time(session, feeds, { minRuns, minMs, warmup }) {
  const w0 = process.hrtime.bigint();
  for (let i = 0; i < warmup.runs || Number(process.hrtime.bigint() - w0) / 1e6 < warmup.ms; i++) {
    await session.run(feeds);
  }
  const samples = [];
  const t0 = process.hrtime.bigint();
  let elapsedMs = 0;
  while (samples.length < minRuns || elapsedMs < minMs) {
    const a = process.hrtime.bigint();
    await session.run(feeds);
    const b = process.hrtime.bigint();
    samples.push(Number(b - a) / 1e6);
    elapsedMs = Number(b - t0) / 1e6;
  }
  samples.sort((x, y) => x - y);
  return {
    median_ms: median(samples),
    min_ms: samples[0],
    max_ms: samples[samples.length - 1],
    runs: samples.length,
  };
}

function sessionOptions(threads) {
  return {
    executionProviders: ['cpu'],
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    graphOptimizationLevel: 'all',
    executionMode: 'sequential',
  };
}

// A session of one model with its inputs, after one run compared with PyTorch's outputs.
async function openChecked(entry, threads, dir) {
  const session = await ort.InferenceSession.create(
    path.join(dir, entry.file),
    sessionOptions(threads),
  );
  try {
    const feeds = {};
    for (const [name, file] of Object.entries(entry.inputs)) {
      const { shape, data } = readNpy(path.join(dir, file));
      feeds[name] = new ort.Tensor('float32', data, shape);
    }
    const outputs = await session.run(feeds);
    let diff = 0;
    for (const [name, file] of Object.entries(entry.expected)) {
      if (!(name in outputs)) throw new Error(`no output named ${name}`);
      const d = maxAbsDiff(outputs[name].data, readNpy(path.join(dir, file)).data);
      if (!(d <= diff)) diff = d;
    }
    return { session, feeds, diff };
  } catch (e) {
    await session.release();
    throw e;
  }
}

async function benchModel(entry, threads, dir, opts) {
  const record = {
    name: entry.file.replace(/\.onnx$/, ''),
    model: entry.model,
    variant: entry.variant,
    batch: entry.batch,
    seq: entry.seq,
    d_model: entry.d_model,
    heads: entry.heads,
    causal: entry.causal,
    threads,
    median_ms: null,
    min_ms: null,
    max_ms: null,
    runs: 0,
    max_abs_diff: null,
  };
  if (entry.kv_len !== undefined) record.kv_len = entry.kv_len;
  let session;
  try {
    let feeds, diff;
    ({ session, feeds, diff } = await openChecked(entry, threads, dir));
    record.max_abs_diff = diff;
    if (!(diff <= opts.atol)) {
      record.error = `output differs from PyTorch by ${diff} (> atol ${opts.atol}); not timed`;
      return record;
    }
    // The Identity call is microseconds: many more runs make its median stable.
    const isIdentity = entry.model === 'identity';
    const plan = opts.quick
      ? { minRuns: isIdentity ? 300 : 3, minMs: 300, warmup: { runs: 1, ms: 100 } }
      : { minRuns: isIdentity ? 3000 : 7, minMs: 2000, warmup: { runs: 2, ms: 500 } };
    Object.assign(record, await time(session, feeds, plan));
  } catch (e) {
    record.error = String(e.message ?? e).split('\n')[0];
  } finally {
    if (session) await session.release();
  }
  return record;
}

// kB fields of /proc/self/status.
function statusKb(field) {
  const m = fs.readFileSync('/proc/self/status', 'utf8').match(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm'));
  if (!m) throw new Error(`no ${field} in /proc/self/status`);
  return Number(m[1]);
}

// --peak-memory-of: this process's only job (see the header). Prints {"peak_rise_mb": x}.
async function peakMemoryOf(opts, manifest) {
  const entry = manifest.models.find((e) => e.file.replace(/\.onnx$/, '') === opts.peakMemoryOf);
  if (!entry) throw new UsageError(`no model named ${opts.peakMemoryOf} in the manifest`);
  const session = await ort.InferenceSession.create(
    path.join(opts.models, entry.file),
    sessionOptions(opts.threads[0]),
  );
  const feeds = {};
  for (const [name, file] of Object.entries(entry.inputs)) {
    const { shape, data } = readNpy(path.join(opts.models, file));
    feeds[name] = new ort.Tensor('float32', data, shape);
  }
  fs.writeFileSync('/proc/self/clear_refs', '5'); // VmHWM := VmRSS
  const before = statusKb('VmRSS');
  const outputs = await session.run(feeds);
  const peak = statusKb('VmHWM');
  let outputBytes = 0;
  for (const t of Object.values(outputs)) outputBytes += t.data.byteLength;
  await session.release();
  console.log(JSON.stringify({ peak_rise_mb: (peak - before) / 1024 - outputBytes / 2 ** 20 }));
}

// The peak memory of one model's first run, from a fresh process (null if it cannot be had).
function measurePeakMemory(name, threads, opts) {
  try {
    const out = execFileSync(
      process.execPath,
      [fileURLToPath(import.meta.url), '--peak-memory-of', name, '--threads', String(threads),
        '--models', opts.models],
      { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] },
    );
    return JSON.parse(out.trim().split('\n').pop()).peak_rise_mb;
  } catch (e) {
    return null;
  }
}

function fmt(v, digits = 3) {
  if (v === null || v === undefined) return '-';
  if (Math.abs(v) >= 1000) return v.toFixed(0);
  return v.toPrecision(digits);
}

function shapeLabel(r) {
  if (r.model === 'identity') return '(1,1)';
  const kv = r.kv_len !== undefined ? ` kv${r.kv_len}` : '';
  return `b${r.batch} s${r.seq} d${r.d_model} h${r.heads}${kv}`;
}

function printRow(r) {
  const cols = [
    r.model.padEnd(8),
    shapeLabel(r).padEnd(24),
    (r.causal ? 'causal' : '').padEnd(6),
    r.variant.padEnd(9),
    String(r.threads).padStart(2),
    fmt(r.median_ms).padStart(9),
    fmt(r.min_ms).padStart(9),
    fmt(r.max_ms).padStart(9),
    String(r.runs).padStart(6),
    (r.max_abs_diff === null ? '-' : r.max_abs_diff.toExponential(1)).padStart(8),
  ];
  if (r.peak_rise_mb !== undefined) cols.push(fmt(r.peak_rise_mb).padStart(8));
  console.log(cols.join(' | ') + (r.error ? `  ERROR: ${r.error}` : ''));
}

// --serve: one session at a time, timed in blocks on request (see the header).
async function serve(opts, manifest) {
  const byName = new Map(manifest.models.map((e) => [e.file.replace(/\.onnx$/, ''), e]));
  let open = null; // { session, feeds }
  const release = async () => {
    if (open) await open.session.release();
    open = null;
  };
  const answer = (obj) => process.stdout.write(JSON.stringify(obj) + '\n');
  const lines = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
  for await (const line of lines) {
    if (!line.trim()) continue;
    try {
      const req = JSON.parse(line);
      if (req.cmd === 'open') {
        await release();
        const entry = byName.get(req.name);
        if (!entry) throw new Error(`no model named ${req.name} in the manifest`);
        const { session, feeds, diff } = await openChecked(entry, req.threads, opts.models);
        open = { session, feeds };
        if (!(diff <= opts.atol)) {
          await release();
          throw new Error(`${req.name}: output differs from PyTorch by ${diff} (> atol ${opts.atol})`);
        }
        answer({ ok: true, max_abs_diff: diff });
      } else if (req.cmd === 'block') {
        if (!open) throw new Error('block: no model is open');
        const w0 = process.hrtime.bigint();
        while (Number(process.hrtime.bigint() - w0) / 1e6 < (req.warm_ms ?? 0)) {
          await open.session.run(open.feeds);
        }
        const times = [];
        const t0 = process.hrtime.bigint();
        do {
          const a = process.hrtime.bigint();
          await open.session.run(open.feeds);
          const b = process.hrtime.bigint();
          times.push(Number(b - a) / 1e6);
          if (Number(b - t0) / 1e6 >= req.ms) break;
        } while (times.length < req.calls);
        answer({ ok: true, times });
      } else if (req.cmd === 'close') {
        await release();
        answer({ ok: true });
      } else {
        throw new Error(`unknown command ${JSON.stringify(req.cmd)}`);
      }
    } catch (e) {
      answer({ ok: false, error: String(e.message ?? e).split('\n')[0] });
    }
  }
  await release();
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const manifest = JSON.parse(fs.readFileSync(path.join(opts.models, 'manifest.json'), 'utf8'));
  if (opts.serve) return serve(opts, manifest);
  if (opts.peakMemoryOf) return peakMemoryOf(opts, manifest);
  let entries = manifest.models;
  if (opts.only) entries = entries.filter((e) => e.file.includes(opts.only));
  // The Identity first: its number (the cost of one session.run through the binding) frames all
  // the others, and it should be measured on a quiet, not-yet-fragmented process.
  entries = [...entries].sort((a, b) => (b.model === 'identity') - (a.model === 'identity'));

  const cpu = os.cpus()[0]?.model ?? 'unknown';
  console.log(
    `onnxruntime-node ${ort.env.versions.node} (common ${ort.env.versions.common}), ` +
      `node ${process.version}, ${cpu}, ${os.cpus().length} CPUs`,
  );
  console.log(
    `models: ${opts.models} (torch ${manifest.torch}, opset ${manifest.opset}); threads ` +
      `${opts.threads.join(',')}; interOp 1, optimization 'all', sequential; ` +
      (opts.quick ? 'quick: >=3 runs and >=0.3 s' : '>=7 runs and >=2 s') + '; times in ms',
  );
  // The machine is shared (2 cores): a busy neighbour shows here before it shows in the numbers.
  const loadStart = os.loadavg();
  console.log(`load average at start: ${loadStart.map((l) => l.toFixed(2)).join(' ')}`);
  console.log(
    'model    | shape                    | mask   | variant   | th |    median |       min |' +
      '       max |   runs | max|diff|',
  );

  const records = [];
  for (const entry of entries) {
    for (const threads of opts.threads) {
      const r = await benchModel(entry, threads, opts.models, opts);
      if (opts.peakMemory && !r.error && entry.model !== 'identity')
        r.peak_rise_mb = measurePeakMemory(r.name, threads, opts);
      records.push(r);
      printRow(r);
    }
  }

  const overhead = {};
  for (const r of records) {
    if (r.model === 'identity' && r.median_ms !== null) overhead[r.threads] = r.median_ms * 1000;
  }
  if (Object.keys(overhead).length) {
    const text = Object.entries(overhead)
      .map(([t, us]) => `${us.toFixed(1)} us (${t} thread${t === '1' ? '' : 's'})`)
      .join(', ');
    console.log(`binding overhead, median session.run of a (1,1) Identity: ${text}`);
  }

  const loadEnd = os.loadavg();
  console.log(`load average at end: ${loadEnd.map((l) => l.toFixed(2)).join(' ')}`);

  const failed = records.filter((r) => r.error);
  if (opts.json) {
    fs.mkdirSync(path.dirname(opts.json), { recursive: true });
    const report = {
      onnxruntime_node: ort.env.versions.node,
      node: process.version,
      cpu,
      cpus: os.cpus().length,
      settings: {
        ...sessionOptions('N'),
        intraOpNumThreads: opts.threads,
        quick: opts.quick,
        atol: opts.atol,
      },
      models_dir: opts.models,
      torch: manifest.torch,
      opset: manifest.opset,
      binding_overhead_us: overhead,
      load_average: { start: loadStart, end: loadEnd },
      records,
    };
    fs.writeFileSync(opts.json, JSON.stringify(report, null, 1) + '\n');
    console.log(`wrote ${opts.json}`);
  }
  if (failed.length) {
    console.log(`${failed.length} model/thread runs failed`);
    process.exitCode = 1;
  }
}

main().catch((e) => {
  if (e instanceof UsageError) {
    console.error(`ort_bench: ${e.message}`);
    process.exit(2);
  }
  console.error(e.stack ?? e);
  process.exit(1);
});
