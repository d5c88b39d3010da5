// The web-standard globals this package uses, typed structurally: the package compiles with lib
// ES2022 only (no DOM, no Node types), and these exist alike in Node 22, Workers and browsers.
// Declaring them globally instead would clash with the DOM lib in apps that include it.

interface WebGlobals {
  URL: new (input: string) => { href: string };
  TextEncoder: new () => { encode(input: string): Uint8Array };
  TextDecoder: new () => { decode(input: Uint8Array): string };
  crypto: { subtle: { digest(algorithm: 'SHA-256', data: Uint8Array): Promise<ArrayBuffer> } };
}

/** Web-standard globals (URL, TextEncoder, crypto.subtle); internal, not exported from index.ts. */
export const web = globalThis as unknown as WebGlobals;

/** A UTF-8 decoder. */
export function textDecoder(): { decode(input: Uint8Array): string } {
  return new web.TextDecoder();
}

/** Lowercase hex SHA-256 of a UTF-8 string. */
export async function sha256Hex(text: string): Promise<string> {
  const digest = await web.crypto.subtle.digest('SHA-256', new web.TextEncoder().encode(text));
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, '0')).join('');
}
