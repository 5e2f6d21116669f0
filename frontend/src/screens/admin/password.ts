// Passwords for new accounts when the admin leaves the field empty. The API requires one
// (CreateUserRequest.password, 12-1024 characters) and never makes one up, so the app does:
// from the platform's CSPRNG, without modulo bias, in an alphabet without look-alikes (the
// person reads it off a screen once).

export const ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789-_.!";
export const MIN_PASSWORD = 12;

type Random = (buffer: Uint8Array) => Uint8Array;

const platform: Random = (buffer) => globalThis.crypto.getRandomValues(buffer);

export function generatePassword(length = 20, random: Random = platform): string {
  // The largest multiple of the alphabet size that fits a byte: bytes past it are redrawn.
  const limit = 256 - (256 % ALPHABET.length);
  let out = "";
  while (out.length < length) {
    for (const byte of random(new Uint8Array(length * 2))) {
      if (byte < limit) out += ALPHABET[byte % ALPHABET.length];
      if (out.length === length) break;
    }
  }
  return out;
}
