import { describe, expect, it } from "vitest";
import { messageParts, resolveMentions } from "./mentions";

const people = [
  { user_id: "u-alice", username: "alice", display_name: "Alice Host" },
  { user_id: "u-bob", username: "bob.smith", display_name: "Dr Bob" },
  { user_id: "u-eve", username: "eve" },
];

describe("resolveMentions", () => {
  it("turns @username and @DisplayName into member ids, in order, once each", () => {
    expect(resolveMentions("@bob.smith look here, @AliceHost and @alice again", people)).toEqual(["u-bob", "u-alice"]);
    expect(resolveMentions("@DrBob?", people)).toEqual(["u-bob"]);
    expect(resolveMentions("@Dr Bob", people)).toEqual([]);
    expect(resolveMentions("@drbob please", people)).toEqual(["u-bob"]);
  });

  it("ignores unknown names, e-mail addresses and a sentence's full stop", () => {
    expect(resolveMentions("mail eve@example.org or @mallory", people)).toEqual([]);
    expect(resolveMentions("thanks @eve.", people)).toEqual(["u-eve"]);
    expect(resolveMentions("@EVE, line 1\n@alice", people)).toEqual(["u-eve", "u-alice"]);
  });

  it("takes at most 20", () => {
    const many = Array.from({ length: 25 }, (_, i) => ({ user_id: `u${i}`, username: `user${i}` }));
    expect(resolveMentions(many.map((p) => `@${p.username}`).join(" "), many)).toHaveLength(20);
  });
});

describe("messageParts", () => {
  it("marks the names the message's mentions carry, and leaves the rest as typed", () => {
    expect(messageParts("@alice see the duct, thanks @eve.", ["u-alice", "u-eve"], people)).toEqual([
      { text: "@alice", user_id: "u-alice" },
      { text: " see the duct, thanks " },
      { text: "@eve", user_id: "u-eve" },
      { text: "." },
    ]);
    // A name the event does not list is not highlighted.
    expect(messageParts("@bob.smith hi", [], people)).toEqual([{ text: "@bob.smith hi" }]);
  });
});
