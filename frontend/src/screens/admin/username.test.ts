import { describe, expect, it } from "vitest";
import { usernameProblem } from "./username";

describe("usernameProblem", () => {
  it("accepts what the server accepts", () => {
    for (const ok of ["abc", "a.b-c_d", "0day", "a".repeat(64), ""]) expect(usernameProblem(ok)).toBeNull();
  });

  it("explains each refusal in words, never a pattern", () => {
    const cases: [string, RegExp][] = [
      ["ab", /at least 3 characters/i],
      ["Alice", /lowercase letters only/i],
      ["al ice", /not spaces/],
      ["élise", /not “é”/],
      ["-alice", /start with a letter or a digit/i],
      ["a".repeat(65), /at most 64 characters/i],
    ];
    for (const [bad, why] of cases) {
      const problem = usernameProblem(bad);
      expect(problem, bad).toMatch(why);
      expect(problem, bad).not.toMatch(/[[\]]/);
    }
  });
});
