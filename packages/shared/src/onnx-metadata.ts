import { OftsrError } from './errors.ts';
import { textDecoder } from './web.ts';

/** Field number of `metadata_props` (repeated StringStringEntryProto) in ONNX's ModelProto. */
const MODEL_METADATA_PROPS = 14;

function readVarint(bytes: Uint8Array, pos: number): [value: number, next: number] {
  let value = 0;
  let factor = 1;
  for (let i = pos; i < bytes.length && i < pos + 10; i++) {
    const byte = bytes[i] as number;
    value += (byte & 0x7f) * factor;
    if (byte < 0x80) return [value, i + 1];
    factor *= 128;
  }
  throw new OftsrError('model_contract', `ONNX file is truncated or not protobuf (varint at byte ${pos})`);
}

/** Walks one protobuf message, calling `onField` for each length-delimited field; skips the rest. */
function forEachLengthField(
  bytes: Uint8Array,
  onField: (field: number, start: number, end: number) => void,
): void {
  let pos = 0;
  while (pos < bytes.length) {
    const [tag, afterTag] = readVarint(bytes, pos);
    const field = Math.floor(tag / 8);
    const wire = tag % 8;
    if (wire === 0) pos = readVarint(bytes, afterTag)[1];
    else if (wire === 1) pos = afterTag + 8;
    else if (wire === 5) pos = afterTag + 4;
    else if (wire === 2) {
      const [length, start] = readVarint(bytes, afterTag);
      const end = start + length;
      if (end > bytes.length) {
        throw new OftsrError('model_contract', `ONNX file is truncated (field ${field} ends past the file)`);
      }
      onField(field, start, end);
      pos = end;
    } else {
      throw new OftsrError('model_contract', `ONNX file is not protobuf (wire type ${wire} at byte ${pos})`);
    }
  }
}

/**
 * Reads an ONNX model's `metadata_props` (the key/value strings export writes: scale, margin, version…)
 * straight from the file's bytes. onnxruntime's JavaScript sessions do not expose them, and only the top
 * level of the protobuf is walked, so this costs microseconds even for large models.
 *
 * @example
 * validateModel(manifest, session, readOnnxMetadata(modelBytes));
 * @throws {OftsrError} `model_contract` when the bytes are not a well-formed protobuf message.
 */
export function readOnnxMetadata(model: Uint8Array): Record<string, string> {
  // Entries first, then `fromEntries`: a key such as `__proto__` becomes an own property instead
  // of replacing the record's prototype.
  const entries: [string, string][] = [];
  forEachLengthField(model, (field, start, end) => {
    if (field !== MODEL_METADATA_PROPS) return;
    let key = '';
    let value = '';
    const entry = model.subarray(start, end);
    const decoder = textDecoder();
    forEachLengthField(entry, (f, s, e) => {
      if (f === 1) key = decoder.decode(entry.subarray(s, e));
      else if (f === 2) value = decoder.decode(entry.subarray(s, e));
    });
    entries.push([key, value]);
  });
  return Object.fromEntries(entries);
}
