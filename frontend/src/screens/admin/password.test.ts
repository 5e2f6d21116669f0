import { describe, expect, it } from "vitest";
import { ALPHABET, MIN_PASSWORD, generatePassword } from "./password";

describe("generatePassword", () => {
  it("makes a long enough password from the alphabet", () => {
    const p = generatePassword();
    expect(p.length).toBeGreaterThanOrEqual(MIN_PASSWORD);
    expect([...p].every((c) => ALPHABET.includes(c))).toBe(true);
  });
  it("differs from call to call", () => {
    expect(generatePassword()).not.toBe(generatePassword());
  });
  it("redraws bytes that would bias the choice", () => {
    // 250 and up are past the last whole multiple of the alphabet size: skipped, not wrapped.
    const limit = 256 - (256 % ALPHABET.length);
    const source = (buffer: Uint8Array) => buffer.map((_, i) => (i % 2 ? limit : 0));
    expect(generatePassword(4, source)).toBe(ALPHABET[0]!.repeat(4));
  });
});
