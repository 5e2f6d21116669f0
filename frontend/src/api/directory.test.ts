import { afterEach, describe, expect, it, vi } from "vitest";
import { json } from "../test/http";
import { nameOf, refreshDirectory } from "./directory";

afterEach(() => vi.unstubAllGlobals());

const entry = (n: number) => ({ id: `00000000-0000-7000-8000-00000000000${n}`, username: `user-${n}`, display_name: `Dr ${n}`, role: "surgeon" });

describe("the directory", () => {
  it("reads every page, following next_cursor", async () => {
    const pages: Record<string, unknown> = {
      "": { items: [entry(1), entry(2)], next_cursor: "user-2" },
      "user-2": { items: [entry(3)], next_cursor: null },
    };
    const fetch = vi.fn(async (request: Request) => {
      const cursor = new URL(request.url).searchParams.get("cursor") ?? "";
      return json(pages[cursor]);
    });
    vi.stubGlobal("fetch", fetch);
    const items = await refreshDirectory();
    expect(items.map((u) => u.username)).toEqual(["user-1", "user-2", "user-3"]);
    expect(fetch).toHaveBeenCalledTimes(2);
    const first = new URL((fetch.mock.calls[0]![0] as Request).url);
    expect(first.pathname).toBe("/v1/users/directory");
    expect(first.searchParams.get("limit")).toBe("1000");
  });

  it("names a user it knows, and shows an id prefix for one it does not", () => {
    const map = new Map([[entry(1).id, entry(1) as never]]);
    expect(nameOf(map, entry(1).id)).toBe("Dr 1");
    expect(nameOf(map, "0193abcd-0000-7000-8000-000000000000")).toBe("user 0193abcd");
  });
});
