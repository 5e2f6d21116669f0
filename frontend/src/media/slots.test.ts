import { describe, expect, it } from "vitest";
import { MAX_SLOTS, initialSlots, overflowOf, planSlots, sameSlots, uniqueWanted } from "./slots";

describe("initialSlots", () => {
  it("starts with four slots, the wanted sources first", () => {
    expect(initialSlots(["endoscope"])).toEqual(["endoscope", null, null, null]);
    expect(initialSlots([])).toEqual([null, null, null, null]);
  });
  it("makes room for more wanted sources, up to the server's limit", () => {
    const six = ["a", "b", "c", "d", "e", "f"];
    expect(initialSlots(six)).toEqual(six);
    expect(initialSlots(six, 8)).toEqual([...six, null, null]);
    const many = Array.from({ length: 20 }, (_, i) => `s${i}`);
    expect(initialSlots(many)).toHaveLength(MAX_SLOTS);
  });
  it("ignores duplicates and blanks", () => {
    expect(initialSlots(["a", "", "a", "b"])).toEqual(["a", "b", null, null]);
  });
});

describe("planSlots", () => {
  it("keeps a source that stays wanted in its slot", () => {
    const plan = planSlots(["endoscope", "room-cam", null, null], ["room-cam", "vitals"]);
    expect(plan).toEqual({ slots: ["vitals", "room-cam", null, null], renegotiate: false });
  });
  it("reuses freed slots first-come, in the order wanted", () => {
    const plan = planSlots(["a", "b", "c", "d"], ["d", "x", "b", "y"]);
    expect(plan.slots).toEqual(["x", "b", "y", "d"]);
    expect(plan.renegotiate).toBe(false);
  });
  it("changes nothing when the wanted set is what is shown, whatever its order", () => {
    const current = ["a", null, "b", null];
    const plan = planSlots(current, ["b", "a"]);
    expect(sameSlots(plan.slots, current)).toBe(true);
  });
  it("empties every slot when nothing is wanted", () => {
    expect(planSlots(["a", "b", null, null], []).slots).toEqual([null, null, null, null]);
  });
  it("asks for a bigger subscription (doubling) when the wanted sources do not fit", () => {
    const plan = planSlots(["a", "b", "c", "d"], ["a", "b", "c", "d", "e"]);
    expect(plan.renegotiate).toBe(true);
    expect(plan.slots).toEqual(["a", "b", "c", "d", "e", null, null, null]);
  });
  it("never plans more than the server's limit", () => {
    const wanted = Array.from({ length: 17 }, (_, i) => `s${i}`);
    const plan = planSlots(Array.from({ length: 12 }, (_, i) => `s${i}`), wanted);
    expect(plan.slots).toHaveLength(MAX_SLOTS);
    expect(plan.slots).not.toContain("s16");
  });
});

describe("uniqueWanted / overflowOf", () => {
  it("reports what does not fit in one subscription", () => {
    const wanted = Array.from({ length: 18 }, (_, i) => `s${i}`);
    expect(uniqueWanted(wanted)).toHaveLength(16);
    expect(overflowOf([...wanted, "s0"])).toEqual(["s16", "s17"]);
    expect(overflowOf(["a", "a"])).toEqual([]);
  });
});
