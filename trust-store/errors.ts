// Programmer and operator errors from the trust store carry a stable code, because they cross
// the control socket to the CLI as plain data where `instanceof` does not survive.

export type TrustStoreErrorCode =
  | 'invalid-device-id'
  | 'invalid-peer'
  | 'unknown-peer'
  | 'known-peer'
  | 'store-full';

export type TrustStoreError = Error & { code: TrustStoreErrorCode };

export function trustStoreError(code: TrustStoreErrorCode, message: string): TrustStoreError {
  return Object.assign(new Error(message), { name: 'TrustStoreError', code });
}
