/**
 * Worker-thread entry that owns the onnxruntime-node session. onnxruntime-node runs a session
 * synchronously on the calling thread, so the server keeps it here: the main thread's event loop
 * (health, metrics, admission, I/O) never waits behind a model call. Protocol: see worker-session.ts.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { runTileBatch } from './pipeline.ts';
import type { TileInput } from './pipeline.ts';
import { loadModel, warmUp } from './onnx-session.ts';
import type { WorkerInit, WorkerReply, WorkerRequest } from './worker-session.ts';

const port = parentPort;
if (!port) throw new Error('worker-thread.ts must run in a worker thread');
const init = workerData as WorkerInit;

function fail(id: number, err: unknown): WorkerReply {
  const e = err as { message?: string; code?: string };
  return { type: 'error', id, message: e?.message ?? String(err), ...(e?.code ? { code: e.code } : {}) };
}

try {
  const model = await loadModel(init.load);
  let report;
  try {
    report = await warmUp(model, init.shapes, init.maxBatch);
  } catch (err) {
    await model.session.release();
    throw err;
  }
  const { session: _session, ...info } = model;
  port.postMessage({ type: 'ready', id: 0, model: info, report } satisfies WorkerReply);
  port.on('message', (msg: WorkerRequest) => {
    if (msg.type === 'close') {
      void model.session.release().finally(() => port.close());
      return;
    }
    void runTileBatch(model, msg.tiles as TileInput[]).then(
      (outputs) => {
        // Copies out of onnxruntime's buffer so each output can be transferred, not cloned.
        const copies = outputs.map((o) => o.slice());
        port.postMessage(
          { type: 'result', id: msg.id, outputs: copies } satisfies WorkerReply,
          copies.map((c) => c.buffer),
        );
      },
      (err: unknown) => port.postMessage(fail(msg.id, err)),
    );
  });
} catch (err) {
  port.postMessage(fail(0, err));
}
