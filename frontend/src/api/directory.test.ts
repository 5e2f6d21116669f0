import { afterEach, describe, expect, it, vi } from "vitest";
import { json } from "../test/http";
import { auditNameOf, loadDirectoryWithDeactivated, nameOf, refreshDirectory } from "./directory";

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

  it("asks for deactivated users for the audit, and falls back to active users when refused", async () => {
    const asked: URL[] = [];
    vi.stubGlobal(
      "fetch",
      vi.fn(async (request: Request) => {
        const url = new URL(request.url);
        asked.push(url);
        if (url.searchParams.get("include_deactivated") === "true") {
          return json({ error: { code: "forbidden", message: "no", request_id: "x" } }, 403);
        }
        return json({ items: [entry(1)], next_cursor: null });
      }),
    );
    await refreshDirectory();
    const items = await loadDirectoryWithDeactivated();
    expect(asked.some((u) => u.searchParams.get("include_deactivated") === "true")).toBe(true);
    expect(items.map((u) => u.username)).toEqual(["user-1"]);
  });

  it("names users for the audit as 'Display Name (username)', marking the deactivated", () => {
    const gone = { ...entry(2), active: false };
    const map = new Map([
      [entry(1).id, { ...entry(1), active: true } as never],
      [gone.id, gone as never],
    ]);
    expect(auditNameOf(map, entry(1).id)).toBe("Dr 1 (user-1)");
    expect(auditNameOf(map, gone.id)).toBe("Dr 2 (user-2, deactivated)");
    expect(auditNameOf(map, "0193abcd-0000-7000-8000-000000000000")).toBe("user 0193abcd");
  });
});
