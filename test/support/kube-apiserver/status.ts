/**
 * Kubernetes `Status` objects for errors, shaped and worded like the real API server's, so that clients
 * (kubectl, @kubernetes/client-node) print and classify them the same way.
 */
export interface StatusCause {
  reason?: string;
  message: string;
  field?: string;
}

export interface StatusDetails {
  name?: string;
  group?: string;
  kind?: string;
  causes?: StatusCause[];
  retryAfterSeconds?: number;
}

export class ApiError extends Error {
  constructor(
    readonly code: number,
    readonly reason: string,
    message: string,
    readonly details: StatusDetails = {},
  ) {
    super(message);
  }

  toStatus(): Record<string, unknown> {
    return {
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message: this.message,
      reason: this.reason,
      details: this.details,
      code: this.code,
    };
  }
}

/** `deployments.apps` or `secrets`: how the real server names a resource in messages. */
export function qualified(plural: string, group: string): string {
  return group ? `${plural}.${group}` : plural;
}

export const errors = {
  notFound: (plural: string, group: string, name: string) =>
    new ApiError(404, 'NotFound', `${qualified(plural, group)} "${name}" not found`, {
      name,
      group,
      kind: plural,
    }),
  alreadyExists: (plural: string, group: string, name: string) =>
    new ApiError(409, 'AlreadyExists', `${qualified(plural, group)} "${name}" already exists`, {
      name,
      group,
      kind: plural,
    }),
  conflict: (plural: string, group: string, name: string) =>
    new ApiError(
      409,
      'Conflict',
      `Operation cannot be fulfilled on ${qualified(plural, group)} "${name}": the object has been modified; please apply your changes to the latest version and try again`,
      { name, group, kind: plural },
    ),
  invalid: (kind: string, group: string, name: string, causes: StatusCause[]) =>
    new ApiError(
      422,
      'Invalid',
      `${kind}${group ? `.${group}` : ''} "${name}" is invalid: ${causes.map((c) => `${c.field ? `${c.field}: ` : ''}${c.message}`).join(', ')}`,
      { name, group, kind, causes: causes.map((c) => ({ reason: c.reason ?? 'FieldValueInvalid', ...c })) },
    ),
  badRequest: (message: string) => new ApiError(400, 'BadRequest', message),
  forbidden: (message: string) => new ApiError(403, 'Forbidden', message),
  methodNotAllowed: (message: string) => new ApiError(405, 'MethodNotAllowed', message),
  unsupportedMediaType: (
    type: string,
    accepted = 'application/json, application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json',
  ) =>
    new ApiError(
      415,
      'UnsupportedMediaType',
      `the body of the request was in an unknown format - accepted media types include: ${accepted} (got ${type})`,
    ),
  gone: (message: string) => new ApiError(410, 'Expired', message),
  unprocessable: (message: string) => new ApiError(422, 'Invalid', message),
  pathNotFound: () => new ApiError(404, 'NotFound', 'the server could not find the requested resource'),
};
