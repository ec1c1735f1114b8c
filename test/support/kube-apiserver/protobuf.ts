/**
 * Decoding of the Kubernetes protobuf envelope for the few kinds that `kubectl create` sends as protobuf
 * (client-go's typed clients default to it): `k8s\0` + runtime.Unknown{typeMeta, raw}, raw being the
 * object's message. Field numbers are those of k8s.io/api's generated.proto. Responses stay JSON, which
 * those clients accept as well. Kinds not described here get 415 Unsupported Media Type.
 */
import { errors } from './status.js';

type FieldType =
  'string' | 'bytes' | 'int' | 'bool' | 'time' | 'map<string,string>' | 'map<string,bytes>' | Message;
interface Field {
  name: string;
  type: FieldType;
  repeated?: boolean;
}
interface Message {
  fields: Record<number, Field>;
}

const ownerReference: Message = {
  fields: {
    1: { name: 'kind', type: 'string' },
    3: { name: 'name', type: 'string' },
    4: { name: 'uid', type: 'string' },
    5: { name: 'apiVersion', type: 'string' },
    6: { name: 'controller', type: 'bool' },
    7: { name: 'blockOwnerDeletion', type: 'bool' },
  },
};
const objectMeta: Message = {
  fields: {
    1: { name: 'name', type: 'string' },
    2: { name: 'generateName', type: 'string' },
    3: { name: 'namespace', type: 'string' },
    5: { name: 'uid', type: 'string' },
    6: { name: 'resourceVersion', type: 'string' },
    7: { name: 'generation', type: 'int' },
    8: { name: 'creationTimestamp', type: 'time' },
    11: { name: 'labels', type: 'map<string,string>' },
    12: { name: 'annotations', type: 'map<string,string>' },
    13: { name: 'ownerReferences', type: ownerReference, repeated: true },
    14: { name: 'finalizers', type: 'string', repeated: true },
  },
};
const localObjectReference: Message = { fields: { 1: { name: 'name', type: 'string' } } };
const objectReference: Message = {
  fields: {
    1: { name: 'kind', type: 'string' },
    2: { name: 'namespace', type: 'string' },
    3: { name: 'name', type: 'string' },
  },
};

const kinds: Record<string, Message> = {
  'v1/Secret': {
    fields: {
      1: { name: 'metadata', type: objectMeta },
      2: { name: 'data', type: 'map<string,bytes>' },
      3: { name: 'type', type: 'string' },
      4: { name: 'stringData', type: 'map<string,string>' },
      5: { name: 'immutable', type: 'bool' },
    },
  },
  'v1/ConfigMap': {
    fields: {
      1: { name: 'metadata', type: objectMeta },
      2: { name: 'data', type: 'map<string,string>' },
      3: { name: 'binaryData', type: 'map<string,bytes>' },
      4: { name: 'immutable', type: 'bool' },
    },
  },
  'v1/Namespace': {
    fields: {
      1: { name: 'metadata', type: objectMeta },
      2: { name: 'spec', type: { fields: { 1: { name: 'finalizers', type: 'string', repeated: true } } } },
    },
  },
  'v1/ServiceAccount': {
    fields: {
      1: { name: 'metadata', type: objectMeta },
      2: { name: 'secrets', type: objectReference, repeated: true },
      3: { name: 'imagePullSecrets', type: localObjectReference, repeated: true },
      4: { name: 'automountServiceAccountToken', type: 'bool' },
    },
  },
};

class Reader {
  pos = 0;
  constructor(readonly buf: Buffer) {}
  varint(): bigint {
    let result = 0n;
    let shift = 0n;
    for (;;) {
      if (this.pos >= this.buf.length) throw errors.badRequest('truncated protobuf message');
      const b = this.buf[this.pos++]!;
      result |= BigInt(b & 0x7f) << shift;
      if ((b & 0x80) === 0) return result;
      shift += 7n;
    }
  }
  bytes(): Buffer {
    const len = Number(this.varint());
    const out = this.buf.subarray(this.pos, this.pos + len);
    this.pos += len;
    return out;
  }
  skip(wire: number): void {
    if (wire === 0) this.varint();
    else if (wire === 1) this.pos += 8;
    else if (wire === 2) this.bytes();
    else if (wire === 5) this.pos += 4;
    else throw errors.badRequest(`unsupported protobuf wire type ${wire}`);
  }
}

function decode(buf: Buffer, msg: Message): Record<string, unknown> {
  const r = new Reader(buf);
  const out: Record<string, unknown> = {};
  while (r.pos < buf.length) {
    const tag = Number(r.varint());
    const num = tag >>> 3;
    const wire = tag & 7;
    const f = msg.fields[num];
    if (!f) {
      r.skip(wire); // a field this schema does not know: step over its bytes, as protobuf decoders do
      continue;
    }
    let value: unknown;
    // Go's generated code writes zero values too; JSON omits them, so the decoder does as well.
    if (f.type === 'string') {
      value = r.bytes().toString('utf8');
      if (value === '' && !f.repeated) continue;
    } else if (f.type === 'bytes') value = r.bytes().toString('base64');
    else if (f.type === 'int') {
      value = Number(r.varint());
      if (value === 0) continue;
    } else if (f.type === 'bool') value = r.varint() !== 0n;
    else if (f.type === 'time') {
      const t = decode(r.bytes(), { fields: { 1: { name: 'seconds', type: 'int' } } });
      if (t.seconds) value = new Date(Number(t.seconds) * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
      else continue;
    } else if (f.type === 'map<string,string>' || f.type === 'map<string,bytes>') {
      const entry = decode(r.bytes(), {
        fields: {
          1: { name: 'k', type: 'string' },
          2: { name: 'v', type: f.type === 'map<string,string>' ? 'string' : 'bytes' },
        },
      });
      const map = (out[f.name] ??= {}) as Record<string, unknown>;
      map[String(entry.k ?? '')] = entry.v ?? '';
      continue;
    } else value = decode(r.bytes(), f.type);
    if (f.repeated) ((out[f.name] ??= []) as unknown[]).push(value);
    else out[f.name] = value;
  }
  return out;
}

const MAGIC = Buffer.from([0x6b, 0x38, 0x73, 0x00]);

export function decodeProtobufObject(body: Buffer): Record<string, unknown> {
  if (body.length < 4 || !body.subarray(0, 4).equals(MAGIC))
    throw errors.badRequest('protobuf body without the k8s envelope');
  const unknown = decode(body.subarray(4), {
    fields: {
      1: {
        name: 'typeMeta',
        type: { fields: { 1: { name: 'apiVersion', type: 'string' }, 2: { name: 'kind', type: 'string' } } },
      },
      2: { name: 'raw', type: 'bytes' },
    },
  });
  const typeMeta = (unknown.typeMeta ?? {}) as { apiVersion?: string; kind?: string };
  const msg = kinds[`${typeMeta.apiVersion}/${typeMeta.kind}`];
  if (!msg)
    throw errors.unsupportedMediaType(
      `application/vnd.kubernetes.protobuf (${typeMeta.apiVersion}/${typeMeta.kind})`,
      'application/json',
    );
  const obj = decode(Buffer.from(String(unknown.raw ?? ''), 'base64'), msg);
  return { apiVersion: typeMeta.apiVersion, kind: typeMeta.kind, ...obj };
}
