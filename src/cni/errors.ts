/**
 * CNI errors as typed classes carrying the spec's code (SPEC.md "Error"). Every failure a verb can report
 * is one of these; anything else that escapes a verb is wrapped as an internal error (code 999, as the
 * reference library's skel does), so the runtime always gets the error JSON on stdout.
 */

/** Well-known codes (SPEC.md) plus Palisade's own, which the spec reserves from 100 on. */
export const CniCode = {
  IncompatibleVersion: 1,
  UnsupportedField: 2,
  UnknownContainer: 3,
  InvalidEnvironment: 4,
  IoFailure: 5,
  DecodingFailure: 6,
  InvalidConfig: 7,
  TryAgainLater: 11,
  PluginNotAvailable: 50,
  LimitedConnectivity: 51,
  /** No free address in a range set. */
  AddressesExhausted: 100,
  /** An `ip`/`nsenter` command failed. */
  KernelCommandFailed: 101,
  /** The agent answered and refused the endpoint. */
  AgentRefused: 102,
  /** CHECK found the attachment not as ADD left it. */
  CheckFailed: 103,
  /** A delegated (IPAM) plugin failed. */
  DelegateFailed: 104,
  /** What the reference library reports for an error that is not a typed CNI error. */
  Internal: 999,
} as const;
export type CniCodeValue = (typeof CniCode)[keyof typeof CniCode];

export class CniError extends Error {
  override readonly name: string = 'CniError';
  constructor(
    readonly code: number,
    /** The short `msg` of the error JSON. */
    readonly msg: string,
    readonly details = '',
    options?: ErrorOptions,
  ) {
    super(details === '' ? msg : `${msg}; ${details}`, options);
  }
}

export class IncompatibleVersionError extends CniError {
  override readonly name = 'IncompatibleVersionError';
  constructor(msg: string, details = '') {
    super(CniCode.IncompatibleVersion, msg, details);
  }
}

export class UnsupportedFieldError extends CniError {
  override readonly name = 'UnsupportedFieldError';
  constructor(
    readonly field: string,
    value: unknown,
    reason: string,
  ) {
    // The spec: "The error message must contain the key and value of the unsupported field."
    super(CniCode.UnsupportedField, `unsupported field ${field}=${JSON.stringify(value)}`, reason);
  }
}

export class UnknownContainerError extends CniError {
  override readonly name = 'UnknownContainerError';
  constructor(msg: string, details = '') {
    super(CniCode.UnknownContainer, msg, details);
  }
}

export class InvalidEnvironmentError extends CniError {
  override readonly name = 'InvalidEnvironmentError';
  constructor(msg: string, details = '') {
    super(CniCode.InvalidEnvironment, msg, details);
  }
}

export class IoFailureError extends CniError {
  override readonly name = 'IoFailureError';
  constructor(msg: string, details = '', options?: ErrorOptions) {
    super(CniCode.IoFailure, msg, details, options);
  }
}

export class DecodingError extends CniError {
  override readonly name = 'DecodingError';
  constructor(msg: string, details = '') {
    super(CniCode.DecodingFailure, msg, details);
  }
}

export class InvalidConfigError extends CniError {
  override readonly name = 'InvalidConfigError';
  constructor(msg: string, details = '') {
    super(CniCode.InvalidConfig, msg, details);
  }
}

export class TryAgainLaterError extends CniError {
  override readonly name = 'TryAgainLaterError';
  constructor(msg: string, details = '', options?: ErrorOptions) {
    super(CniCode.TryAgainLater, msg, details, options);
  }
}

export class PluginNotAvailableError extends CniError {
  override readonly name = 'PluginNotAvailableError';
  constructor(msg: string, details = '', options?: ErrorOptions) {
    super(CniCode.PluginNotAvailable, msg, details, options);
  }
}

export class AddressesExhaustedError extends CniError {
  override readonly name = 'AddressesExhaustedError';
  constructor(msg: string, details = '') {
    super(CniCode.AddressesExhausted, msg, details);
  }
}

export class KernelCommandError extends CniError {
  override readonly name = 'KernelCommandError';
  constructor(
    readonly command: readonly string[],
    readonly stderr: string,
    /** 1-based line of an `-batch` script that failed, when `ip` said which. */
    readonly failedLine?: number,
    options?: ErrorOptions,
  ) {
    super(CniCode.KernelCommandFailed, `${command.join(' ')} failed`, stderr.trim(), options);
  }
}

export class AgentRefusedError extends CniError {
  override readonly name = 'AgentRefusedError';
  constructor(reason: string) {
    super(CniCode.AgentRefused, 'the palisade agent refused the endpoint', reason);
  }
}

export class CheckFailedError extends CniError {
  override readonly name = 'CheckFailedError';
  constructor(msg: string, details = '') {
    super(CniCode.CheckFailed, msg, details);
  }
}

export class DelegateError extends CniError {
  override readonly name = 'DelegateError';
  constructor(
    readonly plugin: string,
    /** The delegate's own error, passed on as the spec asks. */
    readonly delegateCode: number,
    msg: string,
    details = '',
  ) {
    super(CniCode.DelegateFailed, `${plugin}: ${msg}`, details);
  }
}

/** The error a verb reports: typed errors as they are, anything else as the reference's internal error. */
export function asCniError(err: unknown): CniError {
  if (err instanceof CniError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new CniError(CniCode.Internal, message, '', { cause: err });
}

/** The error JSON: `{cniVersion, code, msg, details}`; `details` omitted when empty, as the reference does. */
export function errorJson(err: CniError, cniVersion: string): Record<string, unknown> {
  const out: Record<string, unknown> = { cniVersion, code: err.code, msg: err.msg };
  if (err.details !== '') out['details'] = err.details;
  return out;
}
