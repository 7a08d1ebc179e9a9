import { Codes, type SdrError } from './errors.js';
import { type Frame, type FrameType, frameSchemas } from './frames.js';

/** Result of decoding one received frame: the frame, or the catalogued error to answer with. */
export type DecodeResult =
  { ok: true; frame: Frame } | { ok: false; error: SdrError; inReplyTo?: string; requestId?: string };

/** The request id a refused frame names, when it names a usable one, so the answer can carry it. */
function requestIdOf(parsed: object): string | undefined {
  const candidate =
    (parsed as { requestId?: unknown }).requestId ??
    (parsed as { request?: { requestId?: unknown } }).request?.requestId;
  return typeof candidate === 'string' && candidate.length > 0 && candidate.length <= 200
    ? candidate
    : undefined;
}

/**
 * Parses and validates one received WebSocket message. Never throws: a peer's bad input is answered,
 * not crashed on.
 */
export function decodeFrame(
  raw: string | Buffer,
  accepted: ReadonlySet<FrameType>,
  maxBytes: number,
): DecodeResult {
  const bytes = typeof raw === 'string' ? Buffer.byteLength(raw) : raw.length;
  if (bytes > maxBytes) return { ok: false, error: new Codes.SDR_ERR_FRAME_TOO_LARGE(bytes, maxBytes) };
  let parsed: unknown;
  try {
    parsed = JSON.parse(typeof raw === 'string' ? raw : raw.toString('utf8'));
  } catch (cause) {
    return { ok: false, error: new Codes.SDR_ERR_FRAME_MALFORMED('not JSON', { cause }) };
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    return { ok: false, error: new Codes.SDR_ERR_FRAME_MALFORMED('not a JSON object') };
  }
  const type = (parsed as { type?: unknown }).type;
  if (typeof type !== 'string')
    return { ok: false, error: new Codes.SDR_ERR_FRAME_MALFORMED('no "type" field') };
  if (!Object.hasOwn(frameSchemas, type) || !accepted.has(type as FrameType)) {
    return {
      ok: false,
      error: new Codes.SDR_ERR_FRAME_UNKNOWN(type.slice(0, 64)),
      inReplyTo: type.slice(0, 64),
    };
  }
  const result = frameSchemas[type as FrameType].safeParse(parsed);
  if (!result.success) {
    const issue = result.error.issues[0];
    const where = issue && issue.path.length > 0 ? issue.path.join('.').slice(0, 200) : type;
    const requestId = requestIdOf(parsed);
    return {
      ok: false,
      error: new Codes.SDR_ERR_FRAME_MALFORMED(
        `${type}: ${where}: ${(issue?.message ?? 'invalid').slice(0, 300)}`,
      ),
      inReplyTo: type,
      ...(requestId ? { requestId } : {}),
    };
  }
  return { ok: true, frame: result.data };
}

/** Serialises a frame, refusing one the peer would refuse for its size. */
export function encodeFrame(frame: Frame, maxBytes: number): string {
  const text = JSON.stringify(frame);
  const bytes = Buffer.byteLength(text);
  if (bytes > maxBytes) throw new Codes.SDR_ERR_FRAME_TOO_LARGE(bytes, maxBytes);
  return text;
}
